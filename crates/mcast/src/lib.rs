//! The serverless multicast chat peer behind `obrol mcast`.
//!
//! A [`Peer`] sends lines to a multicast group and turns the group's datagrams into [`Event`]s.
//! It knows nothing of terminals: the binary reads stdin and prints events, a later TUI can do
//! the same. The wire format lives in `obrol_wire::mcast`; socket options in [`socket`];
//! presence and loss accounting in [`roster`].

pub mod roster;
pub mod socket;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use obrol_wire::mcast::{self as wire, Datagram, Frame, FrameError, Kind};
use thiserror::Error;
use tokio::net::UdpSocket;

pub use roster::{Counters, Presence, Roster};
pub use socket::{check_group, SocketConfig};

/// Errors of the multicast peer.
#[derive(Debug, Error)]
pub enum McastError {
    /// Something the user can fix: a bad address, a missing interface or route, a busy port.
    #[error("{0}")]
    Usage(String),
    /// A message that cannot be sent as given (too long, bad nick).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Anything else the operating system refused.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Which directions a peer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Join the group and send to it.
    Both,
    /// Join and listen only, like the seed's `receiver.py`.
    ListenOnly,
    /// Send only, never join, like the seed's `sender.py`.
    SendOnly,
}

/// Everything a peer needs to start.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    pub socket: SocketConfig,
    pub mode: Mode,
    /// The nick shown to others.
    pub nick: String,
    /// Send each line as bare UTF-8 (what `sender.py` sends) instead of a frame, and send no
    /// presence frames, which the seed's receivers would print as garbage.
    pub raw: bool,
}

/// Where a received message came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A chat line from an obrol peer.
    Chat { nick: String, text: String },
    /// An action (`/me`) from an obrol peer.
    Action { nick: String, text: String },
    /// A membership change.
    Presence(Presence),
    /// Bare text from a non-obrol sender (the seed's `sender.py`), named by its address.
    Legacy { from: SocketAddr, text: String },
}

/// Counts a peer keeps for `--stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages this peer sent (chat, actions and raw lines; not presence).
    pub sent: u64,
    /// Datagrams received from others (echoes of our own excluded).
    pub received: u64,
    /// Datagrams that started with the magic but were not valid frames.
    pub malformed: u64,
    /// Plain-text datagrams from non-obrol senders.
    pub legacy: u64,
    /// Loss, duplicates, reordering.
    pub roster: Counters,
}

/// The biggest UDP payload there can be: a receive buffer this size never truncates a datagram,
/// so a 64 KiB garbage datagram is seen whole and counted, not silently cut.
const RECV_BUF: usize = 65_536;

/// A multicast chat peer.
pub struct Peer {
    /// Joined socket; `None` in send-only mode.
    recv: Option<UdpSocket>,
    /// Connected sending socket; `None` in listen-only mode.
    send: Option<UdpSocket>,
    /// Our sending socket's port, to recognise our own raw datagrams when they loop back.
    send_port: Option<u16>,
    /// Random id that marks our frames, so our own echoes are ignored.
    id: u64,
    nick: String,
    raw: bool,
    /// Last sequence number used for a numbered frame.
    seq: u64,
    roster: Roster,
    stats: Stats,
    /// Source addresses already checked for being this host's own (see [`socket::is_local`]).
    local_cache: HashMap<IpAddr, bool>,
    /// Receive buffer, allocated once.
    buf: Vec<u8>,
    /// Encode buffer, reused for every frame.
    out: BytesMut,
    /// An event decoded together with a presence change and shown right after it.
    pending: Option<Event>,
}

impl Peer {
    /// Opens the sockets and, unless raw or listen-only, announces us with a hello.
    pub async fn start(cfg: PeerConfig) -> Result<Peer, McastError> {
        check_group(cfg.socket.group)?;
        let nick_len = cfg.nick.len();
        if nick_len == 0 || nick_len > wire::MAX_NICK {
            return Err(McastError::Usage(format!(
                "nick must be 1 to {} bytes",
                wire::MAX_NICK
            )));
        }
        let iface = cfg
            .socket
            .iface
            .as_deref()
            .map(socket::resolve_iface)
            .transpose()?;
        let recv = match cfg.mode {
            Mode::SendOnly => None,
            _ => Some(UdpSocket::from_std(socket::open_receiver(
                &cfg.socket,
                iface,
            )?)?),
        };
        let send = match cfg.mode {
            Mode::ListenOnly => None,
            _ => Some(UdpSocket::from_std(socket::open_sender(
                &cfg.socket,
                iface,
            )?)?),
        };
        let send_port = match &send {
            Some(s) => Some(s.local_addr()?.port()),
            None => None,
        };
        let mut peer = Peer {
            recv,
            send,
            send_port,
            id: rand::random(),
            nick: cfg.nick,
            raw: cfg.raw,
            seq: 0,
            roster: Roster::new(),
            stats: Stats::default(),
            local_cache: HashMap::new(),
            buf: vec![0; RECV_BUF],
            out: BytesMut::with_capacity(wire::MAX_DATAGRAM),
            pending: None,
        };
        peer.presence(Kind::Hello).await?;
        Ok(peer)
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn nick(&self) -> &str {
        &self.nick
    }

    pub fn stats(&self) -> Stats {
        Stats {
            roster: self.roster.counters(),
            ..self.stats
        }
    }

    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// Whether this peer can send.
    pub fn can_send(&self) -> bool {
        self.send.is_some()
    }

    /// Sends one chat line (or, with `action`, a `/me` line).
    ///
    /// A line too long for one datagram is refused with [`FrameError::TooLong`] and nothing is
    /// sent: splitting would interleave with other senders' lines, and IP fragmentation loses
    /// the whole message when any fragment is lost.
    pub async fn say(&mut self, text: &str, action: bool) -> Result<(), McastError> {
        let Some(send) = &self.send else {
            return Err(McastError::Usage("this peer is listen-only".into()));
        };
        if self.raw {
            let text = if action {
                format!("* {} {text}", self.nick)
            } else {
                text.to_owned()
            };
            if text.len() > wire::MAX_DATAGRAM {
                return Err(FrameError::TooLong {
                    len: text.len(),
                    max: wire::MAX_DATAGRAM,
                }
                .into());
            }
            send.send(text.as_bytes()).await?;
        } else {
            let kind = if action { Kind::Action } else { Kind::Chat };
            self.out.clear();
            self.frame(kind, self.seq + 1, text).encode(&mut self.out)?;
            send.send(&self.out).await?;
            self.seq += 1;
        }
        self.stats.sent += 1;
        Ok(())
    }

    /// Changes our nick; others see it with our next frame.
    pub async fn set_nick(&mut self, nick: &str) -> Result<(), McastError> {
        if nick.is_empty() || nick.len() > wire::MAX_NICK {
            return Err(FrameError::BadNick.into());
        }
        nick.clone_into(&mut self.nick);
        self.presence(Kind::Hello).await
    }

    /// Sends a heartbeat hello, so others know we are still here.
    pub async fn heartbeat(&mut self) -> Result<(), McastError> {
        self.presence(Kind::Hello).await
    }

    /// Says goodbye; others show that we left.
    pub async fn leave(&mut self) -> Result<(), McastError> {
        self.presence(Kind::Bye).await
    }

    async fn presence(&mut self, kind: Kind) -> Result<(), McastError> {
        if self.raw {
            return Ok(());
        }
        let Some(send) = &self.send else {
            return Ok(());
        };
        self.out.clear();
        self.frame(kind, self.seq, "").encode(&mut self.out)?;
        send.send(&self.out).await?;
        Ok(())
    }

    fn frame(&self, kind: Kind, seq: u64, text: &str) -> Frame {
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Frame {
            kind,
            sender: self.id,
            seq,
            timestamp_ms,
            nick: self.nick.clone(),
            text: text.to_owned(),
        }
    }

    /// Forgets members not heard from within `timeout`.
    pub fn expire(&mut self, timeout: Duration) -> Vec<Event> {
        self.roster
            .expire(Instant::now(), timeout)
            .into_iter()
            .map(Event::Presence)
            .collect()
    }

    /// Waits for the next event worth showing. Own echoes, duplicates and malformed datagrams
    /// are consumed (and counted) here. Pends forever on a send-only peer.
    pub async fn next_event(&mut self) -> Result<Event, McastError> {
        if let Some(event) = self.pending.take() {
            return Ok(event);
        }
        loop {
            let Some(recv) = &self.recv else {
                return std::future::pending().await;
            };
            let (len, from) = recv.recv_from(&mut self.buf).await?;
            if let Some(event) = self.accept(len, from) {
                return Ok(event);
            }
        }
    }

    /// Whether a datagram from `from` is one of our own raw lines looped back.
    fn is_own(&mut self, from: SocketAddr) -> bool {
        if self.send_port != Some(from.port()) {
            return false;
        }
        *self
            .local_cache
            .entry(from.ip())
            .or_insert_with(|| socket::is_local(from.ip()))
    }

    fn accept(&mut self, len: usize, from: SocketAddr) -> Option<Event> {
        let datagram = match wire::decode(&self.buf[..len]) {
            Ok(d) => d,
            Err(err) => {
                self.stats.received += 1;
                self.stats.malformed += 1;
                tracing::debug!(%from, %err, "dropped malformed frame");
                return None;
            }
        };
        let frame = match datagram {
            Datagram::Legacy(text) => {
                if self.is_own(from) {
                    return None;
                }
                self.stats.received += 1;
                self.stats.legacy += 1;
                return Some(Event::Legacy { from, text });
            }
            Datagram::Frame(f) if f.sender == self.id => return None,
            Datagram::Frame(f) => f,
        };
        self.stats.received += 1;
        let now = Instant::now();
        let change = match frame.kind {
            // A goodbye from someone we never saw is not news.
            Kind::Bye => {
                self.roster.last_sent(frame.sender, frame.seq);
                return self.roster.left(frame.sender).map(Event::Presence);
            }
            _ => self.roster.heard(frame.sender, &frame.nick, now)?,
        };
        let event = match frame.kind {
            Kind::Hello => {
                self.roster.last_sent(frame.sender, frame.seq);
                None
            }
            Kind::Chat | Kind::Action => {
                if self.roster.numbered(frame.sender, frame.seq) == roster::Seen::Duplicate {
                    None
                } else if frame.kind == Kind::Chat {
                    Some(Event::Chat {
                        nick: frame.nick,
                        text: frame.text,
                    })
                } else {
                    Some(Event::Action {
                        nick: frame.nick,
                        text: frame.text,
                    })
                }
            }
            Kind::Bye => None,
        };
        // A newcomer's join notice comes before its first message; a rename likewise.
        match (change, event) {
            (Some(p), Some(e)) => {
                self.pending = Some(e);
                Some(Event::Presence(p))
            }
            (Some(p), None) => Some(Event::Presence(p)),
            (None, e) => e,
        }
    }
}
