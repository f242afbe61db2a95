//! The plain text chat protocol: what a user types into `nc`, the seed's `client.py` or
//! `obrol connect`.
//!
//! A line that starts with `/` is a command; anything else is chat text for the current room.
//! `//text` sends `/text` literally. The hub's replies are plain lines too (see
//! `docs/PROTOCOL.md`); they are produced by the hub, which knows the wording, not here, except
//! for the one line a client must recognise: the farewell ([`FAREWELL`]).

/// How the hub's last line before it closes a connection starts (`! disconnected: bye`). A
/// connection that ends without it was lost, not closed by the hub.
pub const FAREWELL: &str = "! disconnected: ";

/// One parsed line from a plain client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// Chat text for the current room.
    Say(&'a str),
    /// `/me waves`.
    Me(&'a str),
    /// `/nick NAME`.
    Nick(&'a str),
    /// `/join ROOM`.
    Join(&'a str),
    /// `/part [ROOM]`: the current room when none is given.
    Part(Option<&'a str>),
    /// `/rooms`.
    Rooms,
    /// `/who [ROOM]`.
    Who(Option<&'a str>),
    /// `/msg NICK text`.
    Msg { to: &'a str, text: &'a str },
    /// `/quit [reason]`.
    Quit(Option<&'a str>),
    /// `/help`.
    Help,
    /// A command with a missing argument: the name, and how it is used.
    Usage(&'static str),
    /// `/something` that is not a command.
    Unknown(&'a str),
}

/// Parses one line (already stripped of its terminator).
pub fn parse(line: &str) -> Command<'_> {
    let Some(rest) = line.strip_prefix('/') else {
        return Command::Say(line);
    };
    if rest.starts_with('/') {
        return Command::Say(rest);
    }
    let (name, args) = match rest.split_once(char::is_whitespace) {
        Some((name, args)) => (name, args.trim()),
        None => (rest, ""),
    };
    let arg = (!args.is_empty()).then_some(args);
    let first_word = || args.split_whitespace().next();
    match name.to_ascii_lowercase().as_str() {
        "me" => Command::Me(args),
        "nick" => first_word().map_or(Command::Usage("/nick NAME"), Command::Nick),
        "join" => first_word().map_or(Command::Usage("/join ROOM"), Command::Join),
        "part" | "leave" => Command::Part(first_word()),
        "rooms" | "list" => Command::Rooms,
        "who" | "names" => Command::Who(first_word()),
        "msg" | "query" => match args.split_once(char::is_whitespace) {
            Some((to, text)) if !text.trim().is_empty() => Command::Msg {
                to,
                text: text.trim_start(),
            },
            _ => Command::Usage("/msg NICK text"),
        },
        "quit" | "exit" => Command::Quit(arg),
        "help" | "?" => Command::Help,
        _ => Command::Unknown(name),
    }
}

/// Longest nick, in bytes (the same limit IRC clients see in ISUPPORT `NICKLEN`).
pub const MAX_NICK: usize = 30;
/// Longest room name, in bytes, without IRC's `#`.
pub const MAX_ROOM: usize = 50;

/// Whether `nick` is acceptable to every protocol the hub speaks.
///
/// The rules are IRC's (letters, digits and `[]\`_^{|}-`, not starting with a digit or `-`),
/// so a plain client's nick is always addressable from an IRC client.
pub fn valid_nick(nick: &str) -> bool {
    let special = |c: char| "[]\\`_^{|}".contains(c);
    let mut chars = nick.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    nick.len() <= MAX_NICK
        && (first.is_ascii_alphabetic() || special(first))
        && chars.all(|c| c.is_ascii_alphanumeric() || special(c) || c == '-')
}

/// Whether `room` (without `#`) is an acceptable room name: printable, no spaces, commas or
/// control characters (they separate IRC parameters and lists).
pub fn valid_room(room: &str) -> bool {
    !room.is_empty()
        && room.len() <= MAX_ROOM
        && room
            .chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && c != ',' && c != ':' && c != '#')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_commands() {
        assert_eq!(parse("hello"), Command::Say("hello"));
        assert_eq!(parse("//etc"), Command::Say("/etc"));
        assert_eq!(parse("/nick budi"), Command::Nick("budi"));
        assert_eq!(parse("/NICK  budi "), Command::Nick("budi"));
        assert_eq!(parse("/nick"), Command::Usage("/nick NAME"));
        assert_eq!(parse("/join dev"), Command::Join("dev"));
        assert_eq!(parse("/part"), Command::Part(None));
        assert_eq!(parse("/part dev"), Command::Part(Some("dev")));
        assert_eq!(parse("/rooms"), Command::Rooms);
        assert_eq!(parse("/who"), Command::Who(None));
        assert_eq!(
            parse("/msg ani apa  kabar"),
            Command::Msg {
                to: "ani",
                text: "apa  kabar"
            }
        );
        assert_eq!(parse("/msg ani"), Command::Usage("/msg NICK text"));
        assert_eq!(parse("/me waves"), Command::Me("waves"));
        assert_eq!(parse("/quit"), Command::Quit(None));
        assert_eq!(parse("/quit bye all"), Command::Quit(Some("bye all")));
        assert_eq!(parse("/help"), Command::Help);
        assert_eq!(parse("/frob x"), Command::Unknown("frob"));
    }

    #[test]
    fn nick_rules() {
        for ok in ["budi", "A", "x[1]", "_bot", "ani-2", "`a^b{c}|d\\"] {
            assert!(valid_nick(ok), "{ok}");
        }
        for bad in ["", "1abc", "-x", "a b", "a,b", "ünï", &"n".repeat(31)] {
            assert!(!valid_nick(bad), "{bad}");
        }
    }

    #[test]
    fn room_rules() {
        assert!(valid_room("lobby"));
        assert!(valid_room("ruang-kelas"));
        assert!(!valid_room(""));
        assert!(!valid_room("a b"));
        assert!(!valid_room("a,b"));
        assert!(!valid_room("#x"));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = parse(&s);
        }
    }
}
