//! The hub's protocol-independent vocabulary: what clients ask for ([`Command`]) and what the
//! router tells them ([`Event`]).
//!
//! Protocol adapters (plain text, IRC, later WebSocket) translate their wire syntax into
//! [`Command`]s and render [`Event`]s into bytes. The router never sees wire syntax, so adding
//! a protocol means adding an adapter, not touching the router's rules.

/// Who did something, as every protocol needs to name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Current nick, as the user spelled it.
    pub nick: String,
    /// IRC user name (plain clients: the nick).
    pub user: String,
    /// Host part shown to others (the client's IP address).
    pub host: String,
}

/// What a client asks the hub to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Chat text to the client's current room (plain clients).
    Say {
        text: String,
        action: bool,
    },
    /// Chat text to a named room or nick (IRC `PRIVMSG`/`NOTICE`, plain `/msg`).
    SayTo {
        target: String,
        text: String,
        action: bool,
        notice: bool,
    },
    Nick(String),
    Join(String),
    /// Leave a room, or the current room when `None`.
    Part {
        room: Option<String>,
        reason: Option<String>,
    },
    Rooms,
    Who(Option<String>),
    Help,
    Quit(Option<String>),
}

/// Errors a client is told about; the connection stays open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NickInUse(String),
    BadNick(String),
    BadRoom(String),
    NoSuchNick(String),
    NoSuchRoom(String),
    NotInRoom(String),
    NoRoom,
    TooManyRooms(usize),
    Usage(&'static str),
    UnknownCommand(String),
    LineTooLong(usize),
    InvalidUtf8,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NickInUse(n) => write!(f, "nick taken: {n}"),
            Refusal::BadNick(n) => write!(
                f,
                "invalid nick: {n} (letters, digits, []\\`_^{{|}}-, at most {} bytes)",
                obrol_wire::plain::MAX_NICK
            ),
            Refusal::BadRoom(r) => write!(f, "invalid room name: {r}"),
            Refusal::NoSuchNick(n) => write!(f, "no such nick: {n}"),
            Refusal::NoSuchRoom(r) => write!(f, "no such room: {r}"),
            Refusal::NotInRoom(r) => write!(f, "you are not in {r}"),
            Refusal::NoRoom => write!(f, "you are not in a room; /join ROOM"),
            Refusal::TooManyRooms(n) => write!(f, "you may be in at most {n} rooms"),
            Refusal::Usage(how) => write!(f, "usage: {how}"),
            Refusal::UnknownCommand(c) => write!(f, "unknown command: /{c} (try /help)"),
            Refusal::LineTooLong(n) => write!(f, "line too long (limit {n} bytes)"),
            Refusal::InvalidUtf8 => write!(f, "line is not valid UTF-8; not sent"),
        }
    }
}

/// Something the router tells one or many clients.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// Sent once after connecting.
    Welcome {
        motd: &'a str,
        nick: &'a str,
        room: &'a str,
    },
    /// Chat in a room (`room: Some`) or privately to the recipient (`room: None`).
    Chat {
        from: &'a Identity,
        room: Option<&'a str>,
        text: &'a str,
        action: bool,
        notice: bool,
    },
    /// Confirms a private message to its sender (IRC clients get nothing: their client shows it).
    SentPrivately {
        to: &'a str,
        text: &'a str,
        action: bool,
    },
    Joined {
        who: &'a Identity,
        room: &'a str,
    },
    Parted {
        who: &'a Identity,
        room: &'a str,
        reason: Option<&'a str>,
    },
    Quit {
        who: &'a Identity,
        reason: &'a str,
    },
    Renamed {
        who: &'a Identity,
        new: &'a str,
    },
    /// Room list: name and member count.
    Rooms(&'a [(String, usize)]),
    /// Members of a room.
    Who {
        room: &'a str,
        nicks: &'a [String],
    },
    /// A message from the server or its operator.
    ServerNotice(&'a str),
    /// Informational text (help and the like).
    Info(&'a str),
    Refused(&'a Refusal),
    /// The last thing a client hears before the hub closes its connection.
    Closing(&'a str),
}
