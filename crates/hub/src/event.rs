//! The hub's protocol-independent vocabulary: what clients ask for ([`Command`]) and what the
//! router tells them ([`Event`]).
//!
//! Protocol adapters (plain text, IRC, later WebSocket) translate their wire syntax into
//! [`Command`]s and render [`Event`]s into bytes. The router never sees wire syntax, so adding
//! a protocol means adding an adapter, not touching the router's rules.

pub use crate::domain::names::Name;

/// Who did something, as every protocol needs to name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Current nick, as the user spelled it.
    pub nick: Name,
    /// IRC user name (plain clients: the nick).
    pub user: Name,
    /// Host part shown to others (the client's IP address).
    pub host: Name,
    /// The account the client is logged in to (IRCv3 `account-tag`, `extended-join`). Boxed:
    /// two words where a `Name` takes three, in every member, and most have none.
    pub account: Option<Box<str>>,
}

/// What the edge found of an `OPER` attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperVerdict {
    /// The password matched.
    Granted,
    /// Granted if the client is logged in to this account.
    IfAccount(String),
    /// Wrong name or password; `locked` when this failure locked the address out.
    Denied { locked: bool },
    /// The address is locked out: not checked.
    Locked,
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
        /// Client-only tags (IRCv3 `+key=value`), relayed to recipients who can take them.
        tags: Vec<obrol_wire::irc::Tag>,
    },
    Nick(String),
    /// Join a room; `key` for rooms with `+k`.
    Join {
        room: String,
        key: Option<String>,
    },
    /// Leave a room, or the current room when `None`.
    Part {
        room: Option<String>,
        reason: Option<String>,
    },
    Rooms,
    Who(Option<String>),
    Help,
    Quit(Option<String>),
    /// Leave every room (IRC `JOIN 0`).
    PartAll,
    /// Show (`None`) or set a room's topic.
    Topic {
        room: String,
        topic: Option<String>,
    },
    /// IRC `WHO mask`: a room (`#name`) or a nick.
    /// `WHO mask [%fields[,token]]` (the second part: IRCv3 WHOX).
    WhoQuery(String, Option<String>),
    Whois(String),
    Ison(Vec<String>),
    Userhost(Vec<String>),
    /// Set (`Some`) or clear the away message.
    Away(Option<String>),
    /// Show a room's modes (`changes` empty) or change them: `(adding, mode, argument)`.
    RoomMode {
        room: String,
        changes: Vec<(bool, char, Option<String>)>,
    },
    /// Show or change one's own user modes.
    UserMode {
        nick: String,
        changes: Vec<(bool, char)>,
    },
    Kick {
        room: String,
        nick: String,
        reason: Option<String>,
    },
    Invite {
        nick: String,
        room: String,
    },
    Lusers,
    /// `OPER name password`, checked at the edge (see [`OperVerdict`]).
    Oper {
        name: String,
        verdict: OperVerdict,
    },
    /// `KILL nick reason` (operators only).
    Kill {
        nick: String,
        reason: String,
    },
    /// `WALLOPS text` (operators only).
    Wallops(String),
    /// `WHOWAS nick [count]`.
    Whowas {
        nick: String,
        count: Option<usize>,
    },
    /// IRCv3 `SETNAME`: change one's real name.
    SetName(String),
    /// The client logged in to this account (checked at the edge).
    LoggedIn(String),
    /// IRCv3 capabilities changed after registration (bit set, see `irc::caps`).
    SetCaps(u32),
    /// IRCv3 `TAGMSG`: client-only tags (`+typing` and the like) for a room or nick.
    TagMsg {
        target: String,
        tags: Vec<obrol_wire::irc::Tag>,
    },
}

impl Command {
    /// Makes the command's text fit to pass to others: control characters replaced (see
    /// [`crate::domain::text`]), reasons, topics and names cut to their limits. Applied once, at
    /// the edge, to every command of every protocol ([`crate::proto::Link::command`]).
    pub fn clean(&mut self) {
        use crate::domain::text::{clean_in_place, truncate};
        use crate::domain::{AWAYLEN, KICKLEN, REALNAMELEN, TOPICLEN};
        let (text, max) = match self {
            Command::Say { text, .. } | Command::SayTo { text, .. } => (text, usize::MAX),
            Command::Wallops(text) => (text, TOPICLEN),
            Command::Part {
                reason: Some(text), ..
            }
            | Command::Quit(Some(text))
            | Command::Kick {
                reason: Some(text), ..
            } => (text, KICKLEN),
            Command::Kill { reason: text, .. } => (text, KICKLEN),
            Command::Topic {
                topic: Some(text), ..
            } => (text, TOPICLEN),
            Command::Away(Some(text)) => (text, AWAYLEN),
            Command::SetName(text) => (text, REALNAMELEN),
            _ => return,
        };
        clean_in_place(text);
        truncate(text, max);
    }
}

/// A room as listed by `/rooms` and IRC `LIST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomInfo {
    pub name: String,
    pub members: usize,
    pub topic: String,
}

/// How many of what the hub has (IRC `LUSERS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Census {
    /// Registered clients, invisible ones (user mode `+i`) included.
    pub users: usize,
    pub invisible: usize,
    /// Connections that have not registered (yet).
    pub unknown: usize,
    pub rooms: usize,
    pub opers: usize,
}

/// One line of a `WHO` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhoRow {
    /// The room the row is about, if the query named one.
    pub room: Option<String>,
    pub who: Identity,
    pub away: bool,
    /// Membership prefix in that room (`@`, `+` or empty).
    pub prefix: &'static str,
    /// A server operator.
    pub oper: bool,
    pub realname: String,
}

/// Everything `WHOIS` tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhoisInfo {
    pub who: Identity,
    pub realname: String,
    /// Rooms with membership prefix, e.g. `@lobby`.
    pub rooms: Vec<String>,
    pub away: Option<String>,
    pub idle_secs: u64,
    pub signon: u64,
    /// A server operator.
    pub oper: bool,
    /// The account the client is logged in to.
    pub account: Option<String>,
}

/// Errors a client is told about; the connection stays open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NickInUse(String),
    /// The hub requires an account, and the client has not logged in.
    AccountRequired,
    BadNick(String),
    ReservedNick(String),
    BadRoom(String),
    NoSuchNick(String),
    NoSuchRoom(String),
    NotInRoom(String),
    NoRoom,
    TooManyRooms {
        room: String,
        max: usize,
    },
    Usage(&'static str),
    UnknownCommand(String),
    ChanOpNeeded(String),
    CannotSend(String),
    UserNotInRoom {
        nick: String,
        room: String,
    },
    AlreadyInRoom {
        nick: String,
        room: String,
    },
    UnknownMode(char),
    UsersDontMatch,
    BannedFromRoom(String),
    InviteOnly(String),
    BadKey(String),
    RoomFull(String),
    NoPrivileges,
    PasswordMismatch,
    KeySet(String),
    UnknownUserMode(char),
    BanListFull(String),
    LineTooLong(usize),
    InvalidUtf8,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NickInUse(n) => write!(f, "nick taken: {n}"),
            Refusal::AccountRequired => write!(
                f,
                "this hub requires an account: /login [ACCOUNT] PASSWORD, or /register PASSWORD"
            ),
            Refusal::BadNick(n) => write!(
                f,
                "invalid nick: {n} (letters, digits, []\\`_^{{|}}-, at most {} bytes)",
                obrol_wire::plain::MAX_NICK
            ),
            Refusal::ReservedNick(n) => write!(f, "nick reserved: {n}"),
            Refusal::BadRoom(r) => write!(f, "invalid room name: {r}"),
            Refusal::NoSuchNick(n) => write!(f, "no such nick: {n}"),
            Refusal::NoSuchRoom(r) => write!(f, "no such room: {r}"),
            Refusal::NotInRoom(r) => write!(f, "you are not in {r}"),
            Refusal::NoRoom => write!(f, "you are not in a room; /join ROOM"),
            Refusal::TooManyRooms { room, max } => {
                write!(f, "cannot join {room}: you may be in at most {max} rooms")
            }
            Refusal::Usage(how) => write!(f, "usage: {how}"),
            Refusal::UnknownCommand(c) => write!(f, "unknown command: /{c} (try /help)"),
            Refusal::LineTooLong(n) => write!(f, "line too long (limit {n} bytes)"),
            Refusal::InvalidUtf8 => write!(f, "line is not valid UTF-8; not sent"),
            Refusal::ChanOpNeeded(r) => write!(f, "you are not a room operator of {r}"),
            Refusal::CannotSend(r) => write!(f, "cannot send to {r}"),
            Refusal::UserNotInRoom { nick, room } => write!(f, "{nick} is not in {room}"),
            Refusal::AlreadyInRoom { nick, room } => write!(f, "{nick} is already in {room}"),
            Refusal::UnknownMode(c) => write!(f, "unknown mode: {c}"),
            Refusal::UsersDontMatch => write!(f, "you cannot change another user's modes"),
            Refusal::BannedFromRoom(r) => write!(f, "you are banned from {r}"),
            Refusal::InviteOnly(r) => write!(f, "{r} is invite-only"),
            Refusal::BadKey(r) => write!(f, "{r} needs the right key"),
            Refusal::RoomFull(r) => write!(f, "{r} is full"),
            Refusal::NoPrivileges => write!(f, "you are not a server operator"),
            Refusal::PasswordMismatch => write!(f, "wrong operator name or password"),
            Refusal::KeySet(r) => write!(f, "{r} already has a key"),
            Refusal::UnknownUserMode(c) => write!(f, "unknown user mode: {c}"),
            Refusal::BanListFull(r) => write!(f, "the ban list of {r} is full"),
        }
    }
}

/// Something the router tells one or many clients.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A room's latest messages, from history, for one who just joined it.
    History {
        room: &'a str,
        events: &'a [obrol_store::history::Event],
    },
    /// Sent once after connecting (registering, for IRC).
    Welcome {
        motd: &'a str,
        nick: &'a str,
        room: &'a str,
        census: Census,
        /// The hub keeps history (IRC lists its chathistory limits).
        history: bool,
    },
    /// Chat in a room (`room: Some`) or privately to the recipient (`room: None`).
    Chat {
        from: &'a Identity,
        room: Option<&'a str>,
        text: &'a str,
        action: bool,
        notice: bool,
        /// Unique id of this message on the network (IRCv3 `msgid`).
        msgid: &'a str,
        /// Client-only tags the sender attached.
        tags: &'a [obrol_wire::irc::Tag],
        /// When it was said (Unix ms; 0: now): the time history keeps, and IRCv3 server-time
        /// shows, alike live and replayed.
        time_ms: u64,
    },
    /// Confirms a private message to its sender (IRC clients get it only with echo-message).
    SentPrivately {
        to: &'a str,
        text: &'a str,
        action: bool,
        notice: bool,
        msgid: &'a str,
        tags: &'a [obrol_wire::irc::Tag],
    },
    /// Room events carry the `msgid` their history record has (with history on), so that a
    /// client that sees one live and again in a replay knows it for the same.
    Joined {
        who: &'a Identity,
        room: &'a str,
        /// For IRCv3 `extended-join`.
        realname: &'a str,
        msgid: Option<&'a str>,
    },
    Parted {
        who: &'a Identity,
        room: &'a str,
        reason: Option<&'a str>,
        msgid: Option<&'a str>,
    },
    /// A QUIT and a rename carry one msgid, the one each room's record of them has.
    Quit {
        who: &'a Identity,
        reason: &'a str,
        msgid: Option<&'a str>,
    },
    Renamed {
        who: &'a Identity,
        new: &'a str,
        msgid: Option<&'a str>,
    },
    /// Room list.
    /// One page of the room list (`/rooms`, IRC `LIST`): the first page opens the list, the
    /// last closes it (one page can be both). Long lists go out a page at a time as the
    /// requester reads them.
    Rooms {
        rooms: &'a [RoomInfo],
        first: bool,
        last: bool,
    },
    /// Members of a room, each with its membership prefix (`@` operator, `+` voice).
    Who {
        room: &'a str,
        /// The members, separated by single spaces: built without a `String` per member,
        /// because a join storm sends this list to every joiner.
        nicks: &'a str,
        count: usize,
        /// A `+s` room (IRC marks it `@` in NAMES).
        secret: bool,
    },
    /// A room's topic: text, who set it, when (Unix seconds); `None` if unset.
    Topic {
        room: &'a str,
        topic: Option<(&'a str, &'a str, u64)>,
    },
    TopicChanged {
        who: &'a Identity,
        room: &'a str,
        topic: &'a str,
        msgid: Option<&'a str>,
    },
    WhoReply {
        mask: &'a str,
        rows: &'a [WhoRow],
        /// WHOX fields and token (`%tcuhnfar,42`), if asked for.
        whox: Option<&'a str>,
    },
    Whois(&'a WhoisInfo),
    /// End of a WHOIS reply for a nick that does not exist (after the refusal).
    WhoisEnd(&'a str),
    Ison(&'a [String]),
    /// `USERHOST` entries, already as `nick=+user@host`.
    Userhost(&'a [String]),
    /// The recipient's own away state changed.
    AwayStatus(bool),
    /// The nick a private message went to is away.
    IsAway {
        nick: &'a str,
        message: &'a str,
    },
    RoomModes {
        room: &'a str,
        modes: &'a str,
        created: u64,
    },
    ModeChanged {
        who: &'a Identity,
        room: &'a str,
        change: &'a str,
    },
    UserModes(&'a str),
    UserModeChanged {
        nick: &'a str,
        change: &'a str,
    },
    Kicked {
        by: &'a Identity,
        room: &'a str,
        nick: &'a str,
        reason: &'a str,
        msgid: Option<&'a str>,
    },
    Invited {
        by: &'a Identity,
        nick: &'a str,
        room: &'a str,
    },
    /// Confirms an invitation to its sender.
    Inviting {
        nick: &'a str,
        room: &'a str,
    },
    Lusers(Census),
    /// Ban list of a room (`MODE #room b`).
    BanList {
        room: &'a str,
        masks: &'a [String],
    },
    /// OPER succeeded.
    YoureOper,
    /// A WALLOPS message.
    Wallops {
        from: &'a Identity,
        text: &'a str,
    },
    /// `WHOWAS` answer: (nick, user, host, realname) entries, newest first.
    Whowas {
        nick: &'a str,
        entries: &'a [crate::domain::whowas::Was],
    },
    /// Someone's away state changed (IRCv3 `away-notify`).
    AwayChanged {
        who: &'a Identity,
        message: Option<&'a str>,
    },
    /// Someone's real name changed (IRCv3 `setname`).
    RealnameChanged {
        who: &'a Identity,
        realname: &'a str,
    },
    /// Someone in a room was invited (IRCv3 `invite-notify`).
    InviteNotice {
        by: &'a Identity,
        nick: &'a str,
        room: &'a str,
    },
    /// A message from the server or its operator.
    ServerNotice(&'a str),
    /// To a client that has just logged in.
    LoggedIn {
        who: &'a Identity,
        account: &'a str,
    },
    /// IRCv3 account-notify: `who` logged in to `account`.
    Account {
        who: &'a Identity,
        account: &'a str,
    },
    /// Are you still there? (The client answers with anything.)
    Ping,
    /// What commands there are (the recipient's protocol knows which).
    Help,
    /// Informational text.
    Info(&'a str),
    Refused(&'a Refusal),
    /// The last thing a client hears before the hub closes its connection.
    Closing(&'a str),
    /// Client-only tags relayed to a room (`room: Some`) or to the nick `to`.
    TagMsg {
        from: &'a Identity,
        room: Option<&'a str>,
        to: &'a str,
        tags: &'a [obrol_wire::irc::Tag],
        msgid: &'a str,
    },
}
