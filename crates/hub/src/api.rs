//! The router's inbox: what connections and the operator console may ask of it.
//!
//! Everything that crosses from a connection task (or the console) into the router is named
//! here, so neither side imports the other: the router knows no protocol, the protocol adapters
//! know no router internals.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::event::Command;
use crate::outbox::Outbox;
use crate::proto::Protocol;

/// Identifies one connection for its whole life (never reused).
pub type ClientId = u64;

/// What connections and the operator console ask of the router.
#[derive(Debug)]
pub enum Request {
    /// A connection finished its protocol handshake and wants in.
    Connect {
        id: ClientId,
        newcomer: Newcomer,
        /// Told whether the nick was accepted. Without a reply channel a taken or missing nick
        /// is replaced by a guest nick; with one, the connection is refused and may try another
        /// nick (IRC registration) or come in without one (a plain client's first-line `/nick`).
        reply: Option<oneshot::Sender<bool>>,
    },
    /// A command from a connected client.
    Command {
        id: ClientId,
        cmd: Command,
    },
    /// Bytes a protocol adapter produced for its own client, queued in order with the router's
    /// own replies to it.
    Deliver {
        id: ClientId,
        bytes: Bytes,
    },
    /// IRCv3 `labeled-response`: what this client's next requests cause for it, up to
    /// [`Request::LabelEnd`], is gathered and sent as one labeled reply.
    LabelStart {
        id: ClientId,
        label: String,
    },
    LabelEnd {
        id: ClientId,
    },
    /// The connection is gone (closed by the peer, an I/O error, or after the router closed it).
    Disconnect {
        id: ClientId,
        reason: String,
    },
    /// The client closed its side of the connection: it leaves once everything it asked for
    /// before has been answered, and its connection closes once that is written.
    InputClosed {
        id: ClientId,
    },
    /// A line typed on the operator console.
    Operator {
        line: String,
        reply: oneshot::Sender<String>,
    },
    /// The hub's figures in Prometheus text format (the metrics endpoint).
    Metrics {
        reply: oneshot::Sender<String>,
    },
    /// What `id` may read of history (asked before reading it at the edge: the router knows
    /// who is where; the store is read off its task). `target`: a room (`#name`) or nick the
    /// client asks about, if any.
    HistoryAccess {
        id: ClientId,
        target: Option<String>,
        reply: oneshot::Sender<Access>,
    },
    /// Tell everyone the server is going away and close every connection.
    Shutdown,
}

/// What a client may read of history (see [`Request::HistoryAccess`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Access {
    /// Its own name as a party to private conversations (see docs/PROTOCOL.md).
    pub party: String,
    /// Its nick now.
    pub nick: String,
    /// The rooms it is in: (the store's key, the name as shown, `#Name`).
    pub rooms: Vec<(String, String)>,
    /// Its current room (plain clients), as in `rooms`.
    pub current: Option<(String, String)>,
    /// The target asked about, resolved: a room it is in, or a connected nick it can talk
    /// with (the store's key and the name as shown).
    pub target: Option<(String, String)>,
    /// The target is a room the client is not in (or no valid name): nothing to read.
    pub refused: bool,
}

/// What the router needs to admit a client (see [`Request::Connect`]).
#[derive(Debug)]
pub struct Newcomer {
    pub proto: Protocol,
    pub addr: SocketAddr,
    pub outbox: Arc<Outbox>,
    /// The nick the client asked for during its handshake, if any (IRC `NICK`, or a plain
    /// client's first line `/nick NAME`).
    pub nick: Option<String>,
    /// IRC user name, if the protocol has one.
    pub user: Option<String>,
    /// IRC real name, if the protocol has one.
    pub realname: Option<String>,
    /// IRCv3 capabilities negotiated before registration.
    pub caps: u32,
    /// The account the client logged in to before registering (IRC SASL).
    pub account: Option<String>,
    /// A multicast bridge's member (see `crate::local`): its nick must be a bridge nick
    /// (`domain::names::BRIDGE_SUFFIX`), which nobody else may have.
    pub bridged: bool,
}

/// What a client asked to hear beyond the basics, as bits. IRC clients negotiate these as IRCv3
/// capabilities (the names below are theirs); other protocols may set them by their own means.
/// The router reads them to decide who hears what (echoes, away and name changes, invitations,
/// prefixes in member lists); how a capability changes the bytes is the adapter's business.
pub mod caps {
    pub const CAP_NOTIFY: u32 = 1 << 0;
    pub const MULTI_PREFIX: u32 = 1 << 1;
    pub const ECHO_MESSAGE: u32 = 1 << 2;
    pub const SERVER_TIME: u32 = 1 << 3;
    pub const MESSAGE_TAGS: u32 = 1 << 4;
    pub const USERHOST_IN_NAMES: u32 = 1 << 5;
    pub const AWAY_NOTIFY: u32 = 1 << 6;
    pub const EXTENDED_JOIN: u32 = 1 << 7;
    /// Messages from a logged-in client carry `account=NAME`.
    pub const ACCOUNT_TAG: u32 = 1 << 8;
    pub const SETNAME: u32 = 1 << 9;
    pub const INVITE_NOTIFY: u32 = 1 << 10;
    pub const BATCH: u32 = 1 << 11;
    pub const LABELED_RESPONSE: u32 = 1 << 12;
    pub const ACCOUNT_NOTIFY: u32 = 1 << 13;
    /// SASL: negotiated like the others, but listed only when the hub has accounts.
    pub const SASL: u32 = 1 << 14;
    /// IRCv3 `draft/chathistory`, listed only when the hub keeps history: the client asks for
    /// history itself, so it gets none when it joins.
    pub const CHATHISTORY: u32 = 1 << 15;
    /// IRCv3 `draft/event-playback`: history shows joins, parts and the like too.
    pub const EVENT_PLAYBACK: u32 = 1 << 16;
    /// soju's `soju.im/search` (the `SEARCH` command), listed only when the hub keeps history.
    pub const SEARCH: u32 = 1 << 17;

    /// The capabilities listed only when the hub has what they need (accounts, history).
    pub const OPTIONAL: u32 = SASL | CHATHISTORY | EVENT_PLAYBACK | SEARCH;

    /// The capabilities that need history, by name.
    pub const HISTORY: [(&str, u32); 3] = [
        ("draft/chathistory", CHATHISTORY),
        ("draft/event-playback", EVENT_PLAYBACK),
        ("soju.im/search", SEARCH),
    ];

    /// Name and bit of every capability the hub supports.
    pub const ALL: [(&str, u32); 14] = [
        ("account-notify", ACCOUNT_NOTIFY),
        ("account-tag", ACCOUNT_TAG),
        ("away-notify", AWAY_NOTIFY),
        ("batch", BATCH),
        ("cap-notify", CAP_NOTIFY),
        ("echo-message", ECHO_MESSAGE),
        ("extended-join", EXTENDED_JOIN),
        ("invite-notify", INVITE_NOTIFY),
        ("labeled-response", LABELED_RESPONSE),
        ("message-tags", MESSAGE_TAGS),
        ("multi-prefix", MULTI_PREFIX),
        ("server-time", SERVER_TIME),
        ("setname", SETNAME),
        ("userhost-in-names", USERHOST_IN_NAMES),
    ];

    pub fn by_name(name: &str) -> Option<u32> {
        ALL.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, b)| b)
    }

    /// The names of the capabilities in `set` (those needing history and accounts included).
    pub fn names(set: u32) -> String {
        ALL.iter()
            .chain(HISTORY.iter())
            .chain([("sasl", SASL)].iter())
            .filter(|(_, b)| set & b != 0)
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(" ")
    }
}
