//! Protocol adapters: the only code that knows wire syntax.
//!
//! Each protocol turns its client's bytes into [`Command`](crate::event::Command)s at the edge
//! and renders [`Event`]s into bytes. Where protocols differ in *policy* (does a newcomer start
//! in the default room? are idle clients pinged?), the router asks [`Protocol`] instead of
//! branching on it, so adding a protocol (WebSocket) touches this module and not the router.

pub mod auth;
pub mod irc;
mod link;
pub mod plain;
pub mod recall;
mod session;

pub use link::{Flow, Link};
pub use session::Session;

use bytes::Bytes;

use crate::api::caps;
use crate::event::Event;

/// The wire protocols the hub speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Human-readable lines (`nc`, the seed's `client.py`, `obrol connect`).
    Plain,
    /// IRC (irssi, weechat, HexChat, ...).
    Irc,
}

/// What rendering needs to know about the recipient.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// The recipient's nick (IRC numerics and private messages name it).
    pub nick: &'a str,
    /// The recipient's current room (plain clients).
    pub current: Option<&'a str>,
    /// The recipient's IRCv3 capabilities.
    pub caps: u32,
    /// This server's name.
    pub server: &'a str,
    /// This server's description (IRC WHOIS and LINKS).
    pub info: &'a str,
    /// The recipient's user and host, for echoes of its own messages.
    pub user: &'a str,
    pub host: &'a str,
}

impl View<'static> {
    /// For messages that name nobody (the farewell line).
    pub fn anonymous() -> Self {
        View {
            nick: "*",
            current: None,
            caps: 0,
            server: "obrol",
            info: "obrol hub",
            user: "*",
            host: "*",
        }
    }
}

impl Protocol {
    /// Number of distinct renderings of one room event across all protocols (see
    /// [`Protocol::style`]).
    pub const STYLES: usize = 18;

    /// Which cached rendering of a room event a member gets: the same index means the same
    /// bytes. Plain clients see chat from rooms other than their current one prefixed with the
    /// room name; IRC clients with `server-time` get a time tag.
    pub fn style(self, in_current_room: bool, caps: u32) -> usize {
        match self {
            Protocol::Plain => usize::from(!in_current_room),
            // Every capability that changes how a room event is written gets a bit here.
            Protocol::Irc => {
                2 + usize::from(caps & caps::SERVER_TIME != 0)
                    + 2 * usize::from(caps & caps::MESSAGE_TAGS != 0)
                    + 4 * usize::from(caps & caps::EXTENDED_JOIN != 0)
                    + 8 * usize::from(caps & caps::ACCOUNT_TAG != 0)
            }
        }
    }

    /// Renders an event for one recipient.
    pub fn render(self, event: &Event<'_>, view: &View<'_>) -> Bytes {
        match self {
            Protocol::Plain => plain::render(event, view.current),
            Protocol::Irc => irc::render(event, view),
        }
    }
}

/// Where protocols differ in what the hub does (not only in bytes). The router asks these
/// instead of naming a protocol.
impl Protocol {
    /// A newcomer starts in the default room (plain clients) instead of choosing its own.
    pub fn starts_in_default_room(self) -> bool {
        self == Protocol::Plain
    }

    /// Joining a room one is already in makes it the current room (plain clients, who talk to
    /// one room at a time); IRC ignores it silently.
    pub fn rejoin_switches_room(self) -> bool {
        self == Protocol::Plain
    }

    /// Member lists carry membership prefixes (`@`, `+`): only protocols with room operator
    /// commands show them.
    pub fn shows_prefixes(self) -> bool {
        self == Protocol::Irc
    }

    /// A member list of a room that does not exist is an empty list (IRC `NAMES`, RFC 2812
    /// 3.2.5), not a refusal.
    pub fn empty_list_for_unknown_room(self) -> bool {
        self == Protocol::Irc
    }

    /// Silent clients are pinged and dropped if they stay silent (IRC has PING; a plain client
    /// such as `nc` could not answer one).
    pub fn pings_idle(self) -> bool {
        self == Protocol::Irc
    }

    /// Replies gathered for one labeled request, labeled (IRCv3 `labeled-response`; other
    /// protocols have no labels and get the replies as they are).
    pub fn labeled(
        self,
        label: &str,
        replies: &[Bytes],
        caps: u32,
        server: &str,
        id: u64,
    ) -> Bytes {
        match self {
            Protocol::Irc => irc::labeled(label, replies, caps, server, id),
            Protocol::Plain => replies.concat().into(),
        }
    }

    /// Whether the client talks to one current room (plain clients: chat from other rooms is
    /// shown with the room's name).
    pub fn has_current_room(self) -> bool {
        self == Protocol::Plain
    }

    /// What a client that quits hears last: IRC clients their own reason, plain clients a
    /// goodbye.
    pub fn quit_farewell(self, reason: &str) -> String {
        match self {
            Protocol::Irc => reason.to_owned(),
            Protocol::Plain => "bye".to_owned(),
        }
    }
}

/// What a connection on a sniffing listener turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// A chat client of this protocol.
    Chat(Protocol),
    /// A web browser or HTTP client (`GET / HTTP/1.1`).
    Http,
    /// A TLS ClientHello (the record header of a handshake).
    Tls,
}

/// Decides what a connection is from its first bytes, without consuming them.
///
/// IRC clients open with `CAP`, `NICK`, `USER` or `PASS` and a space; HTTP clients with a
/// method and a space; TLS clients with a handshake record (0x16 0x03). Anything else is plain,
/// and so is a client that says nothing within `wait`: the seed's `client.py` waits for the
/// welcome before it sends anything.
pub async fn sniff(stream: &crate::transport::Transport, wait: std::time::Duration) -> Sniffed {
    let deadline = tokio::time::Instant::now() + wait;
    let mut peek = [0u8; 8];
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut peek)).await {
            Ok(Ok(n)) => n,
            _ => return Sniffed::Chat(Protocol::Plain),
        };
        let first = &peek[..n];
        if first.len() >= 2 && first[0] == 0x16 && first[1] == 0x03 {
            return Sniffed::Tls;
        }
        let word_done = first.iter().any(|b| b" \r\n".contains(b));
        if n == 0 || word_done || n == peek.len() {
            return classify(first);
        }
        // A first word still arriving: look again shortly.
        if tokio::time::timeout_at(
            deadline,
            tokio::time::sleep(std::time::Duration::from_millis(2)),
        )
        .await
        .is_err()
        {
            return classify(first);
        }
    }
}

/// What a connection's first bytes say, as [`sniff`] decides once they have arrived (the
/// decoder the fuzz targets exercise).
pub fn classify_first_bytes(first: &[u8]) -> Sniffed {
    if first.len() >= 2 && first[0] == 0x16 && first[1] == 0x03 {
        return Sniffed::Tls;
    }
    classify(first)
}

/// What a complete first word (or what arrived of it) says.
fn classify(first: &[u8]) -> Sniffed {
    let word_len = first.iter().position(|b| *b == b' ').unwrap_or(first.len());
    if word_len == first.len() {
        return Sniffed::Chat(Protocol::Plain);
    }
    match &first[..word_len].to_ascii_uppercase()[..] {
        b"CAP" | b"NICK" | b"USER" | b"PASS" => Sniffed::Chat(Protocol::Irc),
        // Methods as sent (upper case): "get a coffee" typed into nc stays chat.
        _ if matches!(
            &first[..word_len],
            b"GET" | b"HEAD" | b"POST" | b"PUT" | b"OPTIONS" | b"DELETE" | b"PATCH"
        ) =>
        {
            Sniffed::Http
        }
        _ => Sniffed::Chat(Protocol::Plain),
    }
}

/// Answers a connection that is not a chat client and closes it: a TLS ClientHello on a hub
/// without a certificate gets a closed connection and a log line. (HTTP never comes here: the
/// web module answers it.)
pub async fn answer_stranger(
    _stream: &crate::transport::Transport,
    what: Sniffed,
    addr: std::net::SocketAddr,
) {
    match what {
        Sniffed::Http | Sniffed::Chat(_) => {}
        Sniffed::Tls => {
            tracing::debug!(%addr, "TLS handshake on a plain-text port; closed (TLS is not configured)");
        }
    }
}
