//! A connection's protocol state, whatever the protocol: what the connection task drives.
//!
//! The connection task (`conn`) knows bytes, lines, deadlines and the outbox; everything that
//! depends on the protocol (how long a line may be, what a line means, when a client counts as
//! admitted, what a timeout says) is asked of [`Session`].

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::link::{Flow, Link};
use super::{irc, plain, Protocol};
use crate::api::{Newcomer, Request};
use crate::event::{Command, Event, Refusal};
use crate::Settings;

/// See the module documentation.
#[derive(Debug)]
pub enum Session {
    /// A plain client. It may name itself in its first line (`/nick NAME`), so the others see
    /// it join under that nick; until it is admitted, `first_line_by` is when the hub stops
    /// waiting for that line and admits it under a guest nick. A client that says nothing
    /// (`nc`, the seed's `client.py`) waits no longer than the sniff window: on a sniffing
    /// listener the sniff has already waited it out, so it is admitted at once.
    Plain {
        first_line_by: Option<Instant>,
        /// It has sent a line (a first line that is an HTTP request closes the connection).
        heard: bool,
    },
    Irc(irc::Session),
}

impl Session {
    /// A new session; `first_line_by` is when a plain client stops being asked for its first
    /// line (the end of the sniff window, counted from the accept); `secure`: over TLS.
    pub fn new(proto: Protocol, first_line_by: Instant, secure: bool) -> Self {
        match proto {
            Protocol::Plain => Session::Plain {
                first_line_by: Some(first_line_by),
                heard: false,
            },
            Protocol::Irc => Session::Irc(irc::Session::new(secure)),
        }
    }

    pub fn protocol(&self) -> Protocol {
        match self {
            Session::Plain { .. } => Protocol::Plain,
            Session::Irc(_) => Protocol::Irc,
        }
    }

    /// Longest input line.
    pub fn max_line(&self, settings: &Settings) -> usize {
        match self {
            Session::Plain { .. } => settings.max_line,
            Session::Irc(_) => irc::MAX_INPUT,
        }
    }

    /// Whether the router has admitted this client (its replies then go through the router).
    pub fn admitted(&self) -> bool {
        match self {
            Session::Plain { first_line_by, .. } => first_line_by.is_none(),
            Session::Irc(s) => s.registered,
        }
    }

    /// Until when the client may stay silent before it is admitted anyway or closed (see
    /// [`Session::silence_limit_reached`]): a plain client waiting for its first line until
    /// the end of its window; an IRC client that has not registered until its registration
    /// deadline, counted from the accept (no trickle of input extends it). Registered clients
    /// are pinged by the router's sweep instead.
    pub fn silence_limit(&self, settings: &Settings, accepted: Instant) -> Option<Instant> {
        match self {
            Session::Plain {
                first_line_by: Some(by),
                ..
            } => Some(*by),
            Session::Irc(s) if !s.registered => Some(accepted + settings.registration_timeout),
            _ => None,
        }
    }

    /// The last line a client gets when the hub closes its connection for `why`.
    pub fn farewell(&self, why: &str) -> Bytes {
        match self {
            Session::Plain { .. } => Bytes::from(format!("! disconnected: {why}\n")),
            Session::Irc(_) => Bytes::from(format!("ERROR :Closing link: {why}\r\n")),
        }
    }

    /// A notice from the server to this client (`nick`: its nick as the router knows it).
    pub fn info(&self, text: &str, nick: &str, server: &str) -> Bytes {
        let nick = match self {
            Session::Irc(s) if nick.is_empty() => s.nick().unwrap_or("*"),
            _ if nick.is_empty() => "*",
            _ => nick,
        };
        let view = super::View {
            nick,
            current: None,
            caps: 0,
            server,
            info: "",
            user: "*",
            host: "*",
        };
        self.protocol().render(&Event::Info(text), &view)
    }

    /// How long a partial line may sit before it counts as a whole line, and whether a partial
    /// line at the end of the stream counts: the seed's `client.py` sends no newlines.
    pub fn partial_line_idle(&self) -> Option<Duration> {
        match self {
            Session::Plain { .. } => Some(plain::PARTIAL_LINE_IDLE),
            Session::Irc(_) => None,
        }
    }

    /// Whatever a new connection does before its first line: a plain client whose window for
    /// a first line is already over (it stayed silent through the sniff) is admitted at once.
    pub async fn start(&mut self, link: &Link<'_>) -> Flow {
        match self {
            Session::Plain {
                first_line_by: Some(by),
                ..
            } if *by <= Instant::now() => self.admit_plain(None, link).await,
            _ => Flow::Continue,
        }
    }

    /// Handles one complete input line.
    pub async fn on_line(&mut self, line: &[u8], link: &Link<'_>) -> Flow {
        let Ok(text) = std::str::from_utf8(line) else {
            return self.refuse(&Refusal::InvalidUtf8, link).await;
        };
        if let Session::Plain { heard, .. } = self {
            // A browser may open a connection and send its request after the sniff window
            // (a connection made ahead of need): it is no chat client, and its headers
            // (cookies among them) must not be said in a room.
            if !std::mem::replace(heard, true) && is_http_request_line(text) {
                return Flow::Close("an HTTP request came too late to be told apart".into());
            }
        }
        if self.awaits_first_line() {
            // A first line `/nick NAME` is the nick to be admitted under; any other first line
            // admits the client under a guest nick and then counts as usual.
            let nick = match plain::parse(text) {
                Ok(Command::Nick(nick)) => Some(nick),
                _ => None,
            };
            let named = nick.is_some();
            match self.admit_plain(nick, link).await {
                Flow::Continue if !named => {}
                flow => return flow,
            }
        }
        link.set_admitted(self.admitted());
        match self {
            Session::Plain { .. } => {
                if text.is_empty() {
                    return Flow::Continue;
                }
                if let Some(flow) = super::auth::plain_command(text, link).await {
                    return flow;
                }
                if let Some(flow) = super::recall::plain_command(text, link).await {
                    return flow;
                }
                let sent = match plain::parse(text) {
                    Ok(cmd) => link.command(cmd).await,
                    Err(refusal) => {
                        link.reply(String::from_utf8_lossy(&plain::render(
                            &Event::Refused(&refusal),
                            None,
                        )));
                        link.flush().await
                    }
                };
                if sent {
                    Flow::Continue
                } else {
                    Flow::Close("hub gone".into())
                }
            }
            Session::Irc(s) => s.on_line(text, link).await,
        }
    }

    /// Refuses input the connection could not make a line of (too long, not UTF-8), in order
    /// with the replies to the lines before it. A plain client's first line admits it even so:
    /// the refusal comes after its welcome.
    pub async fn refuse(&mut self, refusal: &Refusal, link: &Link<'_>) -> Flow {
        if self.awaits_first_line() {
            if let Flow::Close(reason) = self.admit_plain(None, link).await {
                return Flow::Close(reason);
            }
        }
        link.set_admitted(self.admitted());
        let bytes = self.render(&Event::Refused(refusal), link);
        link.reply(String::from_utf8_lossy(&bytes));
        if link.flush().await {
            Flow::Continue
        } else {
            Flow::Close("hub gone".into())
        }
    }

    /// The client's input ended. A plain client that ends it before its first line (`nc -N`
    /// with nothing to send) is admitted all the same, so it still gets the welcome.
    pub async fn input_ended(&mut self, link: &Link<'_>) -> Flow {
        if self.awaits_first_line() {
            return self.admit_plain(None, link).await;
        }
        Flow::Continue
    }

    /// The client stayed silent for its [`Session::silence_limit`] before being admitted: a
    /// plain client is admitted under a guest nick; an IRC client is told it did not register
    /// in time and closed.
    pub async fn silence_limit_reached(&mut self, link: &Link<'_>) -> Flow {
        match self {
            Session::Plain { .. } => self.admit_plain(None, link).await,
            Session::Irc(_) => {
                let _ = link.outbox.push(Bytes::from_static(
                    b"ERROR :Closing link: registration timed out\r\n",
                ));
                Flow::Close("registration timed out".into())
            }
        }
    }

    /// Whether this is a plain client not yet admitted, still waiting for its first line.
    fn awaits_first_line(&self) -> bool {
        matches!(
            self,
            Session::Plain {
                first_line_by: Some(_),
                ..
            }
        )
    }

    /// Admits a plain client that is still waiting for its first line: under `nick` when it
    /// asked for one that is valid and free, else under a guest nick. A refused nick is then
    /// asked for as a `/nick` would be, so the client hears why (`! nick taken: NAME`) after
    /// its welcome, and the others only ever see the guest nick it has.
    async fn admit_plain(&mut self, nick: Option<String>, link: &Link<'_>) -> Flow {
        let Session::Plain { first_line_by, .. } = self else {
            return Flow::Continue;
        };
        if first_line_by.take().is_none() {
            return Flow::Continue;
        }
        let connect = |nick: Option<String>, reply| Request::Connect {
            id: link.id,
            newcomer: Newcomer {
                proto: Protocol::Plain,
                addr: link.addr,
                outbox: link.outbox.clone(),
                nick,
                user: None,
                realname: None,
                caps: 0,
                account: None,
                bridged: false,
            },
            reply,
        };
        let gone = || Flow::Close("hub gone".into());
        let refused = match nick {
            Some(nick) => {
                let (reply, accepted) = oneshot::channel();
                if link
                    .hub
                    .send(connect(Some(nick.clone()), Some(reply)))
                    .await
                    .is_err()
                {
                    return gone();
                }
                match accepted.await {
                    Ok(true) => {
                        link.set_admitted(true);
                        return Flow::Continue;
                    }
                    Ok(false) => Some(nick),
                    Err(_) => return gone(),
                }
            }
            None => None,
        };
        if link.hub.send(connect(None, None)).await.is_err() {
            return gone();
        }
        link.set_admitted(true);
        if let Some(nick) = refused {
            if !link.command(Command::Nick(nick)).await {
                return gone();
            }
        }
        Flow::Continue
    }

    fn render(&self, event: &Event<'_>, link: &Link<'_>) -> Bytes {
        let nick = match self {
            Session::Irc(s) => s.nick().unwrap_or("*").to_owned(),
            Session::Plain { .. } => link.outbox.nick(),
        };
        let view = super::View {
            nick: &nick,
            current: None,
            caps: 0,
            server: link.server,
            info: link.info,
            user: "*",
            host: "*",
        };
        self.protocol().render(event, &view)
    }
}

/// Whether `line` reads as an HTTP/1 request line (`GET /ws HTTP/1.1`).
fn is_http_request_line(line: &str) -> bool {
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    const METHODS: &[&str] = &[
        "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
    ];
    METHODS.contains(&method)
        && !target.is_empty()
        && (version == "HTTP/1.1" || version == "HTTP/1.0")
}

#[cfg(test)]
mod http_tests {
    use super::is_http_request_line;

    #[test]
    fn http_request_lines_are_recognised_and_chat_is_not() {
        assert!(is_http_request_line("GET /ws HTTP/1.1"));
        assert!(is_http_request_line("HEAD / HTTP/1.0\r"));
        assert!(!is_http_request_line("GET me a coffee HTTP/1.1"));
        assert!(!is_http_request_line("get / HTTP/1.1"));
        assert!(!is_http_request_line("halo semua"));
        assert!(!is_http_request_line("GET / HTTP/2"));
    }
}
