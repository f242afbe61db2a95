//! Names: nicks and room names, how they compare (case folding), which are valid, and masks.
//!
//! One authority for names: every nick and room name the hub stores went through here.

/// A short name (nick, user, host, room): stored inline up to 24 bytes, so the usual name costs
/// no allocation of its own. Idle clients are mostly names, so this is most of their memory.
pub type Name = compact_str::CompactString;

/// Whether `nick` is acceptable to every protocol the hub speaks (IRC's rules: ASCII letters,
/// digits and `[]\`_^{|}-`, not starting with a digit or `-`, at most [`super::NICKLEN`]).
pub fn valid_nick(nick: &str) -> bool {
    obrol_wire::plain::valid_nick(nick)
}

/// Nicks nobody may take: what the hub's own lines are signed with (`[server]` on plain
/// clients' screens), and the usual names of IRC services, which clients trust (a user called
/// `NickServ` asking for passwords is an old trick).
const RESERVED_NICKS: &[&str] = &[
    "server", "[server]", "obrol", "nickserv", "chanserv", "operserv", "memoserv", "hostserv",
    "botserv", "saslserv", "global", "services",
];

/// What the nicks of a multicast bridge's members end with (`ani|mc`): nobody else may take
/// one, so nobody on the hub can pose as someone on a multicast group.
pub const BRIDGE_SUFFIX: &str = "|mc";

/// Whether `nick` is a bridge member's (see [`BRIDGE_SUFFIX`]), compared case-folded.
pub fn bridge_nick(nick: &str) -> bool {
    let n = BRIDGE_SUFFIX.len();
    nick.len() > n
        && nick.is_char_boundary(nick.len() - n)
        && nick[nick.len() - n..].eq_ignore_ascii_case(BRIDGE_SUFFIX)
}

/// Whether `nick` is reserved (see [`RESERVED_NICKS`]) or a bridge member's, compared
/// case-folded.
pub fn reserved_nick(nick: &str) -> bool {
    RESERVED_NICKS.iter().any(|r| r.eq_ignore_ascii_case(nick)) || bridge_nick(nick)
}

/// Whether a member may have `nick`: a valid nick that is not reserved; a bridge's members
/// (`bridged`) may have bridge nicks only.
pub fn nick_allowed(nick: &str, bridged: bool) -> bool {
    valid_nick(nick)
        && match bridged {
            true => {
                bridge_nick(nick) && !RESERVED_NICKS.iter().any(|r| r.eq_ignore_ascii_case(nick))
            }
            false => !reserved_nick(nick),
        }
}

/// Whether `room` (without IRC's `#`) is an acceptable room name: printable, no spaces, commas,
/// colons or `#` (they separate IRC parameters and lists), and none of the invisible characters
/// that change how text around them is shown (bidirectional overrides such as U+202E, zero-width
/// characters): a room name must read as what it is.
pub fn valid_room(room: &str) -> bool {
    obrol_wire::plain::valid_room(room) && !room.chars().any(super::text::is_invisible_format)
}

/// Case-folds a nick or room name (ASCII, as ISUPPORT `CASEMAPPING=ascii` says).
pub fn fold(name: &str) -> Name {
    let mut folded = Name::from(name);
    folded.make_ascii_lowercase();
    folded
}

/// Whether `text` matches an IRC mask with `*` and `?` wildcards, ASCII case-insensitively.
pub fn mask_matches(mask: &str, text: &str) -> bool {
    let (m, t): (Vec<u8>, Vec<u8>) = (
        mask.bytes().map(|b| b.to_ascii_lowercase()).collect(),
        text.bytes().map(|b| b.to_ascii_lowercase()).collect(),
    );
    // Iterative wildcard match with backtracking to the last `*`.
    let (mut mi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if mi < m.len() && (m[mi] == b'?' || m[mi] == t[ti]) {
            mi += 1;
            ti += 1;
        } else if mi < m.len() && m[mi] == b'*' {
            star = Some(mi);
            mark = ti;
            mi += 1;
        } else if let Some(s) = star {
            mi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while mi < m.len() && m[mi] == b'*' {
        mi += 1;
    }
    mi == m.len()
}

/// Completes a ban mask: `nick` becomes `nick!*@*`, `user@host` becomes `*!user@host`.
pub fn normalize_mask(mask: &str) -> String {
    match (mask.contains('!'), mask.contains('@')) {
        (true, true) => mask.to_owned(),
        (false, true) => format!("*!{mask}"),
        (true, false) => format!("{mask}@*"),
        (false, false) => format!("{mask}!*@*"),
    }
}
