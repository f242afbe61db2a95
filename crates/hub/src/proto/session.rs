//! A connection's protocol state, whatever the protocol: what the connection task drives.
//!
//! The connection task (`conn`) knows bytes, lines, deadlines and the outbox; everything that
//! depends on the protocol (how long a line may be, what a line means, when a client counts as
//! admitted, what a timeout says) is asked of [`Session`].

use std::time::Duration;

use bytes::Bytes;

use super::link::{Flow, Link};
use super::{irc, plain, Protocol};
use crate::api::{Newcomer, Request};
use crate::event::{Event, Refusal};
use crate::Settings;

/// See the module documentation.
#[derive(Debug)]
pub enum Session {
    /// Plain clients have no state of their own at the edge: they are admitted at once.
    Plain,
    Irc(irc::Session),
}

impl Session {
    pub fn new(proto: Protocol) -> Self {
        match proto {
            Protocol::Plain => Session::Plain,
            Protocol::Irc => Session::Irc(irc::Session::new()),
        }
    }

    pub fn protocol(&self) -> Protocol {
        match self {
            Session::Plain => Protocol::Plain,
            Session::Irc(_) => Protocol::Irc,
        }
    }

    /// Longest input line.
    pub fn max_line(&self, settings: &Settings) -> usize {
        match self {
            Session::Plain => settings.max_line,
            Session::Irc(_) => irc::MAX_INPUT,
        }
    }

    /// Whether the router has admitted this client (its replies then go through the router).
    pub fn admitted(&self) -> bool {
        match self {
            Session::Plain => true,
            Session::Irc(s) => s.registered,
        }
    }

    /// How long the client may stay silent before it is closed: an IRC client that has not
    /// registered (a handshake deadline; registered clients are pinged by the router's sweep).
    pub fn silence_limit(&self, settings: &Settings) -> Option<Duration> {
        match self {
            Session::Irc(s) if !s.registered => Some(settings.registration_timeout),
            _ => None,
        }
    }

    /// How long a partial line may sit before it counts as a whole line, and whether a partial
    /// line at the end of the stream counts: the seed's `client.py` sends no newlines.
    pub fn partial_line_idle(&self) -> Option<Duration> {
        match self {
            Session::Plain => Some(plain::PARTIAL_LINE_IDLE),
            Session::Irc(_) => None,
        }
    }

    /// Whatever a new connection does before its first line: plain clients are admitted at once.
    pub async fn start(&mut self, link: &Link<'_>) -> Flow {
        match self {
            Session::Plain => {
                let newcomer = Newcomer {
                    proto: Protocol::Plain,
                    addr: link.addr,
                    outbox: link.outbox.clone(),
                    nick: None,
                    user: None,
                    realname: None,
                    caps: 0,
                };
                let connect = Request::Connect {
                    id: link.id,
                    newcomer,
                    reply: None,
                };
                if link.hub.send(connect).await.is_err() {
                    return Flow::Close("hub gone".into());
                }
                Flow::Continue
            }
            Session::Irc(_) => Flow::Continue,
        }
    }

    /// Handles one complete input line.
    pub async fn on_line(&mut self, line: &[u8], link: &Link<'_>) -> Flow {
        link.set_admitted(self.admitted());
        let Ok(text) = std::str::from_utf8(line) else {
            return self.refuse(&Refusal::InvalidUtf8, link).await;
        };
        match self {
            Session::Plain => {
                if text.is_empty() {
                    return Flow::Continue;
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
    /// with the replies to the lines before it.
    pub async fn refuse(&mut self, refusal: &Refusal, link: &Link<'_>) -> Flow {
        link.set_admitted(self.admitted());
        let bytes = self.render(&Event::Refused(refusal), link);
        link.reply(String::from_utf8_lossy(&bytes));
        if link.flush().await {
            Flow::Continue
        } else {
            Flow::Close("hub gone".into())
        }
    }

    /// What a client that did not register in time hears before it is closed.
    pub fn registration_timed_out(&self) -> Bytes {
        match self {
            Session::Irc(_) => {
                Bytes::from_static(b"ERROR :Closing link: registration timed out\r\n")
            }
            Session::Plain => Bytes::from_static(b"! disconnected: registration timed out\n"),
        }
    }

    fn render(&self, event: &Event<'_>, link: &Link<'_>) -> Bytes {
        let nick = match self {
            Session::Irc(s) => s.nick().unwrap_or("*").to_owned(),
            Session::Plain => link.outbox.nick(),
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
