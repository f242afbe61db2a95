//! Hub events as IRC lines and numerics.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use obrol_wire::irc::Message;

use super::MAX_TARGETS;
use super::{caps, numeric, VERSION};
use crate::domain::{
    AWAYLEN, CHANNELLEN, KICKLEN, MODES_PER_LINE, NICKLEN, REALNAMELEN, TOPICLEN, USERLEN,
};
use crate::event::{Event, Identity, Refusal};
use crate::proto::View;

pub(super) fn motd_lines(srv: &str, nick: &str, motd: &str) -> Vec<String> {
    let mut out = vec![numeric(
        srv,
        "375",
        nick,
        &format!(":- {srv} Message of the day - "),
    )];
    for line in motd.lines() {
        out.push(numeric(srv, "372", nick, &format!(":- {line}")));
    }
    out.push(numeric(srv, "376", nick, ":End of /MOTD command."));
    out
}

/// The ISUPPORT tokens; with `history`, the chathistory ones (the most one request returns,
/// and how messages may be named).
pub(super) fn isupport(srv: &str, nick: &str, history: bool) -> Vec<String> {
    let mut tokens = format!(
        "AWAYLEN={AWAYLEN} CASEMAPPING=ascii CHANLIMIT=#:50 CHANMODES=b,k,l,imnst CHANNELLEN={CHANNELLEN} \
         CHANTYPES=# KICKLEN={KICKLEN} MAXLIST=b:100 MODES={MODES_PER_LINE} NETWORK=obrol NICKLEN={NICKLEN} PREFIX=(ov)@+ \
         TARGMAX=PRIVMSG:{MAX_TARGETS},NOTICE:{MAX_TARGETS},JOIN:,PART:,NAMES:,KICK:,WHOIS:1 \
         TOPICLEN={TOPICLEN} USERLEN={USERLEN} NAMELEN={REALNAMELEN} WHOX"
    );
    if history {
        let _ = write!(
            tokens,
            " CHATHISTORY={} MSGREFTYPES=msgid,timestamp",
            crate::proto::recall::MAX_LIMIT
        );
    }
    // At most 13 tokens per line (RFC 2812 allows 15 parameters: nick, tokens, trailing).
    let tokens: Vec<&str> = tokens.split_whitespace().collect();
    tokens
        .chunks(13)
        .map(|chunk| {
            let rest = format!("{} :are supported by this server", chunk.join(" "));
            numeric(srv, "005", nick, &rest)
        })
        .collect()
}

fn now_rfc3339() -> String {
    rfc3339(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
    )
}

pub use obrol_wire::irc::format_time as rfc3339;

fn source(who: &Identity) -> String {
    format!("{}!{}@{}", who.nick, who.user, who.host)
}

/// The tags a message carries to a client: `time` with server-time; `account` with
/// account-tag when the sender is logged in; `msgid` and the sender's client-only tags with
/// message-tags. Nothing for a client that asked for none of these.
fn message_tags(
    view: &View<'_>,
    msgid: &str,
    client: &[obrol_wire::irc::Tag],
    account: Option<&str>,
    time_ms: u64,
) -> Vec<obrol_wire::irc::Tag> {
    use obrol_wire::irc::Tag;
    let mut tags = Vec::new();
    if let Some(account) = account.filter(|_| view.caps & caps::ACCOUNT_TAG != 0) {
        tags.push(Tag::new("account", Some(account.to_owned())));
    }
    if view.caps & caps::SERVER_TIME != 0 {
        let time = match time_ms {
            0 => now_rfc3339(),
            t => rfc3339(t),
        };
        tags.push(Tag::new("time", Some(time)));
    }
    if view.caps & caps::MESSAGE_TAGS != 0 {
        if !msgid.is_empty() {
            tags.push(Tag::new("msgid", Some(msgid.to_owned())));
        }
        tags.extend(client.iter().cloned());
    }
    tags
}

/// A PRIVMSG or NOTICE line, through the wire's message type (which escapes tag values and
/// keeps the grammar): the text was made fit to pass at the edge, and split there to fit 512
/// bytes.
#[allow(clippy::too_many_arguments)]
fn chat_line(
    s: &mut String,
    view: &View<'_>,
    source: &str,
    target: &str,
    text: &str,
    action: bool,
    notice: bool,
    msgid: &str,
    client_tags: &[obrol_wire::irc::Tag],
    account: Option<&str>,
    time_ms: u64,
) {
    let verb = if notice { "NOTICE" } else { "PRIVMSG" };
    let text = if action {
        format!("\u{1}ACTION {text}\u{1}")
    } else {
        text.to_owned()
    };
    let mut msg = Message::new(verb, [target.to_owned()])
        .with_prefix(source)
        .with_param(text);
    msg.tags = message_tags(view, msgid, client_tags, account, time_ms);
    s.push_str(&msg.to_string_trailing());
    s.push_str("\r\n");
}

/// Renders an event as IRC lines for a client described by `view`.
pub fn render(event: &Event<'_>, view: &View<'_>) -> Bytes {
    let srv = view.server;
    let me = view.nick;
    let mut s = String::new();
    // The tags of a line whose source is `who`: its account (account-tag), the time
    // (server-time) and, for a room event with a history record, its msgid (message-tags), for
    // clients that asked for them.
    let tag_id = |s: &mut String, who: &Identity, msgid: Option<&str>| {
        let account = who
            .account
            .as_deref()
            .filter(|_| view.caps & caps::ACCOUNT_TAG != 0);
        let time = view.caps & caps::SERVER_TIME != 0;
        let id = msgid.filter(|_| view.caps & caps::MESSAGE_TAGS != 0);
        let mut sep = '@';
        if let Some(a) = account {
            let _ = write!(s, "{sep}account={a}");
            sep = ';';
        }
        if time {
            let _ = write!(s, "{sep}time={}", now_rfc3339());
            sep = ';';
        }
        if let Some(id) = id {
            let _ = write!(s, "{sep}msgid={id}");
            sep = ';';
        }
        if sep == ';' {
            s.push(' ');
        }
    };
    let tag = |s: &mut String, who: &Identity| tag_id(s, who, None);
    let num = |s: &mut String, code: &str, rest: &str| {
        s.push_str(&numeric(srv, code, me, rest));
    };
    match *event {
        Event::History { room, events } => {
            let reference = events
                .first()
                .map_or("h".to_owned(), |e| format!("h{}", e.msgid));
            let kind = format!("chathistory #{room}");
            super::replay::batch(&mut s, view, &reference, &kind, events, false);
        }
        Event::Welcome {
            motd,
            census,
            history,
            ..
        } => {
            num(
                &mut s,
                "001",
                &format!(":Welcome to the obrol IRC network, {me}"),
            );
            num(
                &mut s,
                "002",
                &format!(":Your host is {srv}, running version {VERSION}"),
            );
            num(&mut s, "003", ":This server was created when it started");
            num(
                &mut s,
                "004",
                &format!("{srv} {VERSION} iow biklmnostv bklov"),
            );
            for line in isupport(srv, me, history) {
                s.push_str(&line);
            }
            lusers(&mut s, srv, me, &census);
            for line in motd_lines(srv, me, motd) {
                s.push_str(&line);
            }
        }
        Event::Chat {
            from,
            room,
            text,
            action,
            notice,
            msgid,
            tags,
            time_ms,
        } => {
            let target = match room {
                Some(r) => format!("#{r}"),
                None => me.to_owned(),
            };
            chat_line(
                &mut s,
                view,
                &source(from),
                &target,
                text,
                action,
                notice,
                msgid,
                tags,
                from.account.as_deref(),
                time_ms,
            );
        }
        Event::SentPrivately {
            to,
            text,
            action,
            notice,
            msgid,
            tags,
        } => {
            if view.caps & caps::ECHO_MESSAGE != 0 {
                let src = format!("{me}!{}@{}", view.user, view.host);
                chat_line(
                    &mut s, view, &src, to, text, action, notice, msgid, tags, None, 0,
                );
            }
        }
        Event::Joined {
            who,
            room,
            realname,
            msgid,
        } => {
            tag_id(&mut s, who, msgid);
            let _ = if view.caps & caps::EXTENDED_JOIN != 0 {
                // `*` for a client not logged in.
                let account = who.account.as_deref().unwrap_or("*");
                write!(s, ":{} JOIN #{room} {account} :{realname}\r\n", source(who))
            } else {
                write!(s, ":{} JOIN #{room}\r\n", source(who))
            };
        }
        Event::BanList { room, masks } => {
            for m in masks {
                num(&mut s, "367", &format!("#{room} {m}"));
            }
            num(&mut s, "368", &format!("#{room} :End of channel ban list"));
        }
        Event::YoureOper => num(&mut s, "381", ":You are now an IRC operator"),
        Event::Wallops { from, text } => {
            let _ = write!(s, ":{} WALLOPS :{text}\r\n", source(from));
        }
        Event::Whowas { nick, entries } => {
            if entries.is_empty() {
                num(
                    &mut s,
                    "406",
                    &format!("{nick} :There was no such nickname"),
                );
            }
            for w in entries.iter() {
                let n = &w.nick;
                num(
                    &mut s,
                    "314",
                    &format!("{n} {} {} * :{}", w.user, w.host, w.realname),
                );
                num(&mut s, "312", &format!("{n} {srv} :{}", view.info));
            }
            num(&mut s, "369", &format!("{nick} :End of WHOWAS"));
        }
        Event::AwayChanged { who, message } => {
            if view.caps & caps::AWAY_NOTIFY != 0 {
                tag(&mut s, who);
                let _ = match message {
                    Some(m) => write!(s, ":{} AWAY :{m}\r\n", source(who)),
                    None => write!(s, ":{} AWAY\r\n", source(who)),
                };
            }
        }
        Event::RealnameChanged { who, realname } => {
            if view.caps & caps::SETNAME != 0 {
                tag(&mut s, who);
                let _ = write!(s, ":{} SETNAME :{realname}\r\n", source(who));
            }
        }
        Event::InviteNotice { by, nick, room } => {
            if view.caps & caps::INVITE_NOTIFY != 0 {
                tag(&mut s, by);
                let _ = write!(s, ":{} INVITE {nick} #{room}\r\n", source(by));
            }
        }
        Event::Parted {
            who,
            room,
            reason,
            msgid,
        } => {
            tag_id(&mut s, who, msgid);
            let _ = match reason {
                Some(r) => write!(s, ":{} PART #{room} :{r}\r\n", source(who)),
                None => write!(s, ":{} PART #{room}\r\n", source(who)),
            };
        }
        Event::Quit { who, reason, msgid } => {
            tag_id(&mut s, who, msgid);
            let _ = write!(s, ":{} QUIT :{reason}\r\n", source(who));
        }
        Event::Renamed { who, new, msgid } => {
            tag_id(&mut s, who, msgid);
            let _ = write!(s, ":{} NICK {new}\r\n", source(who));
        }
        Event::Rooms { rooms, first, last } => {
            if first {
                num(&mut s, "321", "Channel :Users  Name");
            }
            for r in rooms {
                num(
                    &mut s,
                    "322",
                    &format!("#{} {} :{}", r.name, r.members, r.topic),
                );
            }
            if last {
                num(&mut s, "323", ":End of /LIST");
            }
        }
        Event::Who {
            room,
            nicks,
            secret,
            ..
        } => {
            let symbol = if secret { '@' } else { '=' };
            // Keep each 353 line well under 512 bytes: cut the list at spaces.
            let mut rest = nicks.trim();
            while !rest.is_empty() {
                let cut = if rest.len() <= 350 {
                    rest.len()
                } else {
                    // At a space (always a char boundary), or for one overlong entry at the
                    // last char boundary within the limit.
                    let bytes = rest.as_bytes();
                    bytes[..350]
                        .iter()
                        .rposition(|&b| b == b' ')
                        .unwrap_or_else(|| {
                            (1..=350)
                                .rev()
                                .find(|&i| rest.is_char_boundary(i))
                                .unwrap_or(rest.len())
                        })
                };
                let (chunk, tail) = rest.split_at(cut);
                let _ = write!(s, ":{srv} 353 {me} {symbol} #{room} :{chunk}\r\n");
                rest = tail.trim_start();
            }
            num(&mut s, "366", &format!("#{room} :End of /NAMES list"));
        }
        Event::Topic { room, topic } => match topic {
            Some((text, by, at)) => {
                num(&mut s, "332", &format!("#{room} :{text}"));
                num(&mut s, "333", &format!("#{room} {by} {at}"));
            }
            None => num(&mut s, "331", &format!("#{room} :No topic is set")),
        },
        Event::TopicChanged {
            who,
            room,
            topic,
            msgid,
        } => {
            tag_id(&mut s, who, msgid);
            let _ = write!(s, ":{} TOPIC #{room} :{topic}\r\n", source(who));
        }
        Event::WhoReply {
            mask,
            rows,
            whox: Some(spec),
        } => {
            // IRCv3 WHOX: the fields asked for, in the standard order, as 354.
            let (fields, token) = spec
                .trim_start_matches('%')
                .split_once(',')
                .map_or((spec.trim_start_matches('%'), None), |(f, t)| (f, Some(t)));
            for r in rows {
                let mut out: Vec<String> = Vec::new();
                for f in "tcuihsnfdlaor".chars().filter(|c| fields.contains(*c)) {
                    let here = if r.away { 'G' } else { 'H' };
                    let star = if r.oper { "*" } else { "" };
                    out.push(match f {
                        't' => token.unwrap_or("0").to_owned(),
                        'c' => r.room.as_ref().map_or("*".to_owned(), |c| format!("#{c}")),
                        'u' => r.who.user.to_string(),
                        'i' => r.who.host.to_string(),
                        'h' => r.who.host.to_string(),
                        's' => srv.to_owned(),
                        'n' => r.who.nick.to_string(),
                        'f' => format!("{here}{star}{}", r.prefix),
                        'd' => "0".to_owned(),
                        'l' => "0".to_owned(),
                        'a' => r.who.account.as_deref().unwrap_or("0").to_owned(),
                        'o' => "n/a".to_owned(),
                        _ => format!(":{}", r.realname),
                    });
                }
                num(&mut s, "354", &out.join(" "));
            }
            num(&mut s, "315", &format!("{mask} :End of WHO list"));
        }
        Event::WhoReply { mask, rows, .. } => {
            for r in rows {
                let chan = r.room.as_ref().map_or("*".to_owned(), |c| format!("#{c}"));
                let here = if r.away { 'G' } else { 'H' };
                let star = if r.oper { "*" } else { "" };
                num(
                    &mut s,
                    "352",
                    &format!(
                        "{chan} {} {} {srv} {} {here}{star}{} :0 {}",
                        r.who.user, r.who.host, r.who.nick, r.prefix, r.realname
                    ),
                );
            }
            num(&mut s, "315", &format!("{mask} :End of WHO list"));
        }
        Event::Whois(w) => {
            let n = &w.who.nick;
            num(
                &mut s,
                "311",
                &format!("{n} {} {} * :{}", w.who.user, w.who.host, w.realname),
            );
            if !w.rooms.is_empty() {
                let chans: Vec<String> = w
                    .rooms
                    .iter()
                    .map(|r| {
                        let bare = r.trim_start_matches(['@', '+']);
                        format!("{}#{bare}", &r[..r.len() - bare.len()])
                    })
                    .collect();
                num(&mut s, "319", &format!("{n} :{}", chans.join(" ")));
            }
            num(&mut s, "312", &format!("{n} {srv} :{}", view.info));
            if w.oper {
                num(&mut s, "313", &format!("{n} :is an IRC operator"));
            }
            if let Some(account) = &w.account {
                num(&mut s, "330", &format!("{n} {account} :is logged in as"));
            }
            if let Some(a) = &w.away {
                num(&mut s, "301", &format!("{n} :{a}"));
            }
            num(
                &mut s,
                "317",
                &format!(
                    "{n} {} {} :seconds idle, signon time",
                    w.idle_secs, w.signon
                ),
            );
            num(&mut s, "318", &format!("{n} :End of /WHOIS list"));
        }
        Event::WhoisEnd(n) => num(&mut s, "318", &format!("{n} :End of /WHOIS list")),
        Event::Ison(nicks) => num(&mut s, "303", &format!(":{}", nicks.join(" "))),
        Event::Userhost(entries) => num(&mut s, "302", &format!(":{}", entries.join(" "))),
        Event::AwayStatus(true) => num(&mut s, "306", ":You have been marked as being away"),
        Event::AwayStatus(false) => num(&mut s, "305", ":You are no longer marked as being away"),
        Event::IsAway { nick, message } => num(&mut s, "301", &format!("{nick} :{message}")),
        Event::RoomModes {
            room,
            modes,
            created,
        } => {
            num(&mut s, "324", &format!("#{room} {modes}"));
            num(&mut s, "329", &format!("#{room} {created}"));
        }
        Event::ModeChanged { who, room, change } => {
            tag(&mut s, who);
            let _ = write!(s, ":{} MODE #{room} {change}\r\n", source(who));
        }
        Event::UserModes(modes) => num(&mut s, "221", modes),
        Event::UserModeChanged { nick, change } => {
            let _ = write!(s, ":{nick} MODE {nick} :{change}\r\n");
        }
        Event::Kicked {
            by,
            room,
            nick,
            reason,
            msgid,
        } => {
            tag_id(&mut s, by, msgid);
            let _ = write!(s, ":{} KICK #{room} {nick} :{reason}\r\n", source(by));
        }
        Event::Invited { by, nick, room } => {
            let _ = write!(s, ":{} INVITE {nick} #{room}\r\n", source(by));
        }
        Event::Inviting { nick, room } => num(&mut s, "341", &format!("{nick} #{room}")),
        Event::Lusers(census) => lusers(&mut s, srv, me, &census),
        Event::ServerNotice(text) => {
            let _ = write!(s, ":{srv} NOTICE * :{text}\r\n");
        }
        Event::LoggedIn { who, account } => num(
            &mut s,
            "900",
            &format!(
                "{} {account} :You are now logged in as {account}",
                source(who)
            ),
        ),
        Event::Account { who, account } => {
            let _ = write!(s, ":{} ACCOUNT {account}\r\n", source(who));
        }
        Event::Info(text) => {
            let _ = write!(s, ":{srv} NOTICE {me} :{text}\r\n");
        }
        Event::Ping => {
            let _ = write!(s, "PING :{srv}\r\n");
        }
        Event::Help => {
            let _ = write!(
                s,
                ":{srv} NOTICE {me} :Commands: JOIN PART PRIVMSG NOTICE NICK TOPIC NAMES LIST WHO \
                 WHOIS WHOWAS MODE KICK INVITE AWAY QUIT (see your client's /help)\r\n"
            );
        }
        Event::Refused(r) => refusal(&mut s, srv, me, r),
        Event::Closing(reason) => {
            let _ = write!(s, "ERROR :Closing link: {reason}\r\n");
        }
        Event::TagMsg {
            from,
            room,
            to,
            tags,
            msgid,
        } => {
            if view.caps & caps::MESSAGE_TAGS != 0 {
                let target = room.map_or_else(|| to.to_owned(), |r| format!("#{r}"));
                let mut msg = Message::new("TAGMSG", [target]).with_prefix(source(from));
                msg.tags = message_tags(view, msgid, tags, from.account.as_deref(), 0);
                let _ = write!(s, "{msg}\r\n");
            }
        }
    }
    Bytes::from(s)
}

fn lusers(s: &mut String, srv: &str, me: &str, c: &crate::event::Census) {
    // As ratbox, InspIRCd and Ergo count: `users` in 251 are those who are not invisible.
    let visible = c.users.saturating_sub(c.invisible);
    let line = format!(
        ":There are {visible} users and {} invisible on 1 servers",
        c.invisible
    );
    s.push_str(&numeric(srv, "251", me, &line));
    let opers = format!("{} :operator(s) online", c.opers);
    s.push_str(&numeric(srv, "252", me, &opers));
    if c.unknown > 0 {
        let unknown = format!("{} :unknown connection(s)", c.unknown);
        s.push_str(&numeric(srv, "253", me, &unknown));
    }
    let rooms = format!("{} :channels formed", c.rooms);
    s.push_str(&numeric(srv, "254", me, &rooms));
    let clients = format!(":I have {} clients and 0 servers", c.users);
    s.push_str(&numeric(srv, "255", me, &clients));
}

fn refusal(s: &mut String, srv: &str, me: &str, r: &Refusal) {
    let (code, rest) = match r {
        Refusal::NickInUse(n) => ("433", format!("{n} :Nickname is already in use")),
        Refusal::BadNick(n) => ("432", format!("{n} :Erroneous nickname")),
        Refusal::AccountRequired => {
            let _ = write!(
                s,
                ":{srv} FAIL * ACCOUNT_REQUIRED :This server requires logging in with SASL\r\n"
            );
            return;
        }
        Refusal::ReservedNick(n) => ("432", format!("{n} :Nickname is reserved")),
        Refusal::BadRoom(r) | Refusal::NoSuchRoom(r) => ("403", format!("#{r} :No such channel")),
        Refusal::NoSuchNick(n) => ("401", format!("{n} :No such nick/channel")),
        Refusal::NotInRoom(r) => ("442", format!("#{r} :You're not on that channel")),
        Refusal::NoRoom => ("442", "* :You're not on that channel".to_owned()),
        Refusal::TooManyRooms { room, .. } => {
            ("405", format!("#{room} :You have joined too many channels"))
        }
        Refusal::Usage(how) => ("461", format!("* :Not enough parameters ({how})")),
        Refusal::UnknownCommand(c) => ("421", format!("{c} :Unknown command")),
        Refusal::LineTooLong(_) => ("417", ":Input line was too long".to_owned()),
        Refusal::InvalidUtf8 => {
            let _ = write!(s, ":{srv} NOTICE {me} :{r}\r\n");
            return;
        }
        Refusal::ChanOpNeeded(r) => ("482", format!("#{r} :You're not channel operator")),
        Refusal::CannotSend(r) => ("404", format!("#{r} :Cannot send to channel")),
        Refusal::UserNotInRoom { nick, room } => (
            "441",
            format!("{nick} #{room} :They aren't on that channel"),
        ),
        Refusal::AlreadyInRoom { nick, room } => {
            ("443", format!("{nick} #{room} :is already on channel"))
        }
        Refusal::UnknownMode(c) => ("472", format!("{c} :is unknown mode char to me")),
        Refusal::UnknownUserMode(_) => ("501", ":Unknown MODE flag".to_owned()),
        Refusal::BanListFull(r) => ("478", format!("#{r} b :Channel list is full")),
        Refusal::UsersDontMatch => ("502", ":Cant change mode for other users".to_owned()),
        Refusal::BannedFromRoom(r) => ("474", format!("#{r} :Cannot join channel (+b)")),
        Refusal::InviteOnly(r) => ("473", format!("#{r} :Cannot join channel (+i)")),
        Refusal::BadKey(r) => ("475", format!("#{r} :Cannot join channel (+k)")),
        Refusal::RoomFull(r) => ("471", format!("#{r} :Cannot join channel (+l)")),
        Refusal::NoPrivileges => (
            "481",
            ":Permission Denied- You're not an IRC operator".to_owned(),
        ),
        Refusal::PasswordMismatch => ("464", ":Password incorrect".to_owned()),
        Refusal::KeySet(r) => ("467", format!("#{r} :Channel key already set")),
    };
    s.push_str(&numeric(srv, code, me, &rest));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_time_format() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn long_names_lists_are_split_at_spaces() {
        let nicks: Vec<String> = (0..200).map(|i| format!("@nick{i}")).collect();
        let joined = nicks.join(" ");
        let view = View {
            nick: "me",
            current: None,
            caps: 0,
            server: "srv",
            info: "hub",
            user: "u",
            host: "h",
        };
        let ev = Event::Who {
            room: "big",
            nicks: &joined,
            count: nicks.len(),
            secret: false,
        };
        let out = render(&ev, &view);
        let text = std::str::from_utf8(&out).unwrap();
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        assert!(lines.len() > 3, "{lines:?}");
        let mut seen = Vec::new();
        for line in &lines[..lines.len() - 1] {
            assert!(line.len() + 2 <= obrol_wire::irc::MAX_LINE, "{line}");
            let list = line.strip_prefix(":srv 353 me = #big :").unwrap();
            seen.extend(list.split(' ').map(str::to_owned));
        }
        assert_eq!(seen, nicks);
        assert_eq!(
            lines[lines.len() - 1],
            ":srv 366 me #big :End of /NAMES list"
        );
    }

    #[test]
    fn caps_by_name() {
        assert_eq!(caps::by_name("ECHO-MESSAGE"), Some(caps::ECHO_MESSAGE));
        assert_eq!(caps::by_name("sasl"), None);
        assert_eq!(
            caps::names(caps::SERVER_TIME | caps::MULTI_PREFIX),
            "multi-prefix server-time"
        );
    }
}
