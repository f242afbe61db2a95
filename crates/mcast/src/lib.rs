//! The serverless multicast chat peer behind `obrol mcast`.
//!
//! A [`Peer`] sends lines to a multicast group and turns the group's datagrams into [`Event`]s.
//! It knows nothing of terminals: the binary reads stdin and prints events, a later TUI can do
//! the same. The wire format lives in `obrol_wire::mcast`; socket options and batched system
//! calls in [`socket`]; presence in [`roster`]; loss repair and ordering in [`repair`], parity
//! repairs in [`fec`]; sealing, signatures and replay windows in [`keys`]; what is done with
//! each received datagram in `receive`.

pub mod fec;
pub mod keys;
pub mod repair;
pub mod roster;
pub mod socket;

mod receive;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use obrol_wire::mcast::{self as wire, Frame, FrameError, Kind, Nak};
use thiserror::Error;
use tokio::net::UdpSocket;

pub use repair::RepairCounters;
pub use roster::{Presence, Roster};
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
    /// The group key: every datagram sealed and authenticated with it, and anything not
    /// sealed with it refused.
    pub key: Option<keys::GroupKey>,
    /// With a key: who signs this peer's frames (a new identity if `None`).
    pub identity: Option<keys::Identity>,
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
    /// A message a bridge relayed from elsewhere (a hub room): `nick` is `author@origin`.
    Relayed {
        nick: String,
        text: String,
        action: bool,
    },
    /// Bare text from a non-obrol sender (the seed's `sender.py`), named by its address.
    Legacy { from: SocketAddr, text: String },
    /// Messages of `nick` that were lost and could not be repaired.
    Lost { nick: String, count: u64 },
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
    /// Repairs this peer sent for others' NAKs (parity datagrams included).
    pub repairs_sent: u64,
    /// Of those, parity datagrams (see [`fec`]).
    pub parity_sent: u64,
    /// Messages rebuilt here from parity.
    pub recovered: u64,
    /// Newcomers not added to a full roster.
    pub refused: u64,
    /// With a key: datagrams not sealed (plain frames, legacy text), dropped.
    pub unauthenticated: u64,
    /// Sealed datagrams that did not open (another key, no key, altered), dropped.
    pub undecryptable: u64,
    /// Sealed datagrams seen before (a capture sent again), dropped.
    pub replayed: u64,
    /// Sealed frames whose time is too far from our clock, dropped.
    pub stale: u64,
    /// Sealed frames not signed by the key their sender id names (a member writing as
    /// another), dropped.
    pub impostors: u64,
    /// Loss, repair, duplicates, ordering.
    pub repair: RepairCounters,
}

/// Room for one datagram as [`Peer::accept`] reads it: a batch slot (longer datagrams are cut
/// to it, so a 64 KiB garbage datagram is counted as what its first bytes make it).
const RECV_BUF: usize = socket::RECV_SLOT;

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
    /// The datagram being accepted (copied from `batch`).
    buf: Vec<u8>,
    /// Datagrams received together (`recvmmsg`), handed out one at a time.
    batch: socket::RecvBatch,
    /// Shards of others' blocks with gaps, for rebuilding from parity.
    decoder: fec::Decoder,
    /// Datagrams rebuilt from parity, to be taken as if they had arrived (from that address).
    rebuilt: VecDeque<(bytes::Bytes, SocketAddr)>,
    /// Encode buffer, reused for every frame.
    out: BytesMut,
    /// Our recent messages, for repair.
    outbound: repair::Outbound,
    /// Others' messages: ordering, gaps, NAKs.
    inbound: repair::Inbound,
    /// Actions from `inbound`, reused.
    actions: Vec<repair::Action>,
    /// When `inbound` wants to be ticked.
    inbound_at: Option<Instant>,
    /// When to send a Hello after our last message, so a lost last message is noticed soon
    /// (then a second one, later).
    flush_at: Option<(Instant, u8)>,
    /// When a NAK for our messages last came.
    last_nak: Option<Instant>,
    /// With a key: our signing key's fingerprint, and others' (by sender id, as checked).
    fingerprint: Option<u64>,
    fingerprints: HashMap<u64, u64>,
    /// With a key: our sealing side, and the receiving side.
    sealer: Option<keys::Sealer>,
    opener: Option<keys::Opener>,
    /// Events decoded and not yet returned, in order.
    events: VecDeque<Event>,
}

impl Peer {
    /// Opens the sockets and, unless raw or listen-only, announces us with a hello.
    pub async fn start(cfg: PeerConfig) -> Result<Peer, McastError> {
        check_group(cfg.socket.group)?;
        if wire::check_nick(&cfg.nick).is_err() {
            return Err(McastError::Usage(format!(
                "nick must be 1 to {} bytes, without spaces or control characters",
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
        // With a key the sender id is made from the signing key (and a fresh salt): others
        // check every frame against it (see `keys`).
        let identity = cfg.key.as_ref().map(|_| {
            cfg.identity
                .clone()
                .unwrap_or_else(keys::Identity::generate)
        });
        let salt: u64 = rand::random();
        let id: u64 = match &identity {
            Some(i) => i.sender_id(salt),
            None => rand::random(),
        };
        let mut peer = Peer {
            recv,
            send,
            send_port,
            id,
            nick: cfg.nick,
            raw: cfg.raw,
            seq: 0,
            roster: Roster::new(),
            stats: Stats::default(),
            local_cache: HashMap::new(),
            buf: vec![0; RECV_BUF],
            batch: socket::RecvBatch::default(),
            decoder: fec::Decoder::default(),
            rebuilt: VecDeque::new(),
            out: BytesMut::with_capacity(wire::MAX_DATAGRAM),
            outbound: repair::Outbound::default(),
            inbound: repair::Inbound::new(id ^ 0x9e37_79b9_7f4a_7c15),
            actions: Vec::new(),
            inbound_at: None,
            flush_at: None,
            last_nak: None,
            fingerprint: identity.as_ref().map(keys::Identity::fingerprint),
            fingerprints: HashMap::new(),
            sealer: match (&cfg.key, identity) {
                (Some(k), Some(i)) => Some(keys::Sealer::new(k, i, salt)),
                _ => None,
            },
            opener: cfg.key.map(keys::Opener::new),
            events: VecDeque::new(),
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
            refused: self.roster.refused(),
            recovered: self.decoder.recovered,
            repair: self.inbound.counters(),
            ..self.stats
        }
    }

    /// Our signing key's fingerprint (with a key).
    pub fn fingerprint(&self) -> Option<u64> {
        self.fingerprint
    }

    /// The fingerprints of the members calling themselves `nick` (with a key; each as its
    /// frames proved it), sorted.
    pub fn fingerprints_of(&self, nick: &str) -> Vec<u64> {
        let mut fps: Vec<u64> = self
            .roster
            .ids_of(nick)
            .into_iter()
            .filter_map(|id| self.fingerprints.get(&id).copied())
            .collect();
        fps.sort_unstable();
        fps.dedup();
        fps
    }

    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// The longest text one message under a nick of `nick_len` bytes can hold (less with a
    /// key: sealed text is longer on the wire).
    pub fn max_text(&self, nick_len: usize) -> usize {
        match self.sealer {
            Some(_) => wire::max_sealed_text(nick_len),
            None => wire::max_text(nick_len),
        }
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
            self.stats.sent += 1;
            return Ok(());
        }
        let kind = if action { Kind::Action } else { Kind::Chat };
        let frame = self.frame(kind, self.seq + 1, text);
        self.send_numbered(frame).await
    }

    /// Sends a message someone said elsewhere (a bridge relaying a hub room): `author` is
    /// `nick@origin` (see [`wire::check_relayed_nick`]). Numbered, repaired and sealed like
    /// our own messages; receivers show it as the author's and leave our presence alone.
    pub async fn relay(
        &mut self,
        author: &str,
        text: &str,
        action: bool,
    ) -> Result<(), McastError> {
        if self.send.is_none() || self.raw {
            return Err(McastError::Usage(
                "a relaying peer must send framed messages".into(),
            ));
        }
        let kind = if action {
            Kind::RelayAction
        } else {
            Kind::Relay
        };
        let mut frame = self.frame(kind, self.seq + 1, text);
        frame.nick = author.to_owned();
        self.send_numbered(frame).await
    }

    /// Sends a numbered frame (its `seq` the next one) and keeps it for repair.
    async fn send_numbered(&mut self, frame: Frame) -> Result<(), McastError> {
        if self.send.is_none() {
            return Err(McastError::Usage("this peer is listen-only".into()));
        }
        let datagram = self.numbered(frame)?;
        if let Some(send) = &self.send {
            send.send(&datagram).await?;
        }
        Ok(())
    }

    /// Sends several chat lines (or actions) at once: each numbered and kept for repair as by
    /// [`Peer::say`], all handed to the kernel in batches (see [`socket::send_all`]), which
    /// costs the sender and the receivers much less than one at a time. Lines that cannot be
    /// sent (too long) are skipped and returned with their index; an I/O error is the error.
    pub async fn say_many<'a>(
        &mut self,
        texts: impl IntoIterator<Item = &'a str>,
        action: bool,
    ) -> Result<Vec<(usize, McastError)>, McastError> {
        if self.send.is_none() {
            return Err(McastError::Usage("this peer is listen-only".into()));
        }
        let mut refused = Vec::new();
        if self.raw {
            for (i, text) in texts.into_iter().enumerate() {
                match self.say(text, action).await {
                    Err(McastError::Io(e)) => return Err(McastError::Io(e)),
                    Err(e) => refused.push((i, e)),
                    Ok(()) => {}
                }
            }
            return Ok(refused);
        }
        let kind = if action { Kind::Action } else { Kind::Chat };
        let mut datagrams = Vec::new();
        for (i, text) in texts.into_iter().enumerate() {
            let frame = self.frame(kind, self.seq + 1, text);
            match self.numbered(frame) {
                Ok(d) => datagrams.push(d),
                Err(e) => refused.push((i, e)),
            }
        }
        if let Some(send) = &self.send {
            socket::send_all(send, &datagrams).await?;
        }
        Ok(refused)
    }

    /// Numbers `frame` (its `seq` must be the next one), encodes (and seals) it, keeps its
    /// repair copy, and returns the datagram to send.
    fn numbered(&mut self, mut frame: Frame) -> Result<bytes::Bytes, McastError> {
        self.out.clear();
        self.out.reserve(wire::MAX_DATAGRAM);
        let datagram = match &mut self.sealer {
            Some(sealer) => {
                sealer.frame(&frame, &mut self.out)?;
                // A repair is the sealed datagram again, byte for byte: one buffer for both.
                let d = self.out.split().freeze();
                self.outbound.sent(self.seq + 1, d.clone(), Instant::now());
                d
            }
            None => {
                frame.encode(&mut self.out)?;
                let d = self.out.split().freeze();
                frame.repair = true;
                frame.encode(&mut self.out)?;
                self.outbound
                    .sent(self.seq + 1, self.out.split().freeze(), Instant::now());
                d
            }
        };
        self.seq += 1;
        self.flush_at = Some((Instant::now() + FLUSH_FIRST, 0));
        self.stats.sent += 1;
        Ok(datagram)
    }

    /// Changes our nick; others see it with our next frame.
    pub async fn set_nick(&mut self, nick: &str) -> Result<(), McastError> {
        wire::check_nick(nick)?;
        nick.clone_into(&mut self.nick);
        self.presence(Kind::Hello).await
    }

    /// Sends a heartbeat hello, so others know we are still here.
    pub async fn heartbeat(&mut self) -> Result<(), McastError> {
        self.presence(Kind::Hello).await
    }

    /// Says goodbye; others show that we left.
    pub async fn leave(&mut self) -> Result<(), McastError> {
        // Twice: a lost goodbye leaves others waiting for a time-out.
        self.presence(Kind::Bye).await?;
        self.presence(Kind::Bye).await
    }

    async fn presence(&mut self, kind: Kind) -> Result<(), McastError> {
        if self.raw {
            return Ok(());
        }
        let Some(send) = &self.send else {
            return Ok(());
        };
        let frame = self.frame(kind, self.seq, "");
        self.out.clear();
        match &mut self.sealer {
            Some(sealer) => sealer.frame(&frame, &mut self.out)?,
            None => frame.encode(&mut self.out)?,
        }
        send.send(&self.out).await?;
        Ok(())
    }

    fn frame(&self, kind: Kind, seq: u64, text: &str) -> Frame {
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Frame {
            kind,
            repair: false,
            sender: self.id,
            seq,
            timestamp_ms,
            nick: self.nick.clone(),
            text: text.to_owned(),
        }
    }

    /// Forgets members not heard from within `timeout`.
    pub fn expire(&mut self, timeout: Duration) -> Vec<Event> {
        let gone = self.roster.expire(Instant::now(), timeout);
        let mut events = Vec::new();
        for (sender, p) in gone {
            // Its gaps will not be repaired now: reported lost, and what waited is shown.
            self.inbound.left(sender, 0, &mut self.actions);
            // Giving up asks nothing of anyone: only events come of it.
            events.extend(self.actions.drain(..).filter_map(shown));
            events.push(Event::Presence(p));
        }
        events
    }

    /// Waits for the next event worth showing. Own echoes, duplicates and malformed datagrams
    /// are consumed (and counted) here, NAKs answered and sent, repairs waited for. Pends
    /// forever on a send-only peer.
    pub async fn next_event(&mut self) -> Result<Event, McastError> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Ok(event);
            }
            // What parity rebuilt, then what the last batch brought, one datagram at a time
            // (copied: at most a slot).
            if let Some((data, from)) = self.rebuilt.pop_front() {
                let len = data.len().min(self.buf.len());
                self.buf[..len].copy_from_slice(&data[..len]);
                self.accept(len, from).await?;
                continue;
            }
            if let Some((data, from, _cut)) = self.batch.take_next() {
                let len = data.len();
                self.buf[..len].copy_from_slice(data);
                self.accept(len, from).await?;
                continue;
            }
            let deadline = [self.inbound_at, self.flush_at.map(|(t, _)| t)]
                .into_iter()
                .flatten()
                .min();
            let woke = {
                let recv = self.recv.as_ref();
                let batch = &mut self.batch;
                let datagrams = async move {
                    match recv {
                        Some(r) => batch.fill(r).await,
                        None => std::future::pending().await,
                    }
                };
                let timer = async move {
                    match deadline {
                        Some(t) => tokio::time::sleep_until(t.into()).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    r = datagrams => { r?; true }
                    () = timer => false,
                }
            };
            if !woke {
                self.timers().await?;
            }
        }
    }

    /// Whether others can have everything we sent: the Hellos that follow our last message
    /// have gone out and nobody has asked for a repair for `quiet`. A peer that is leaving
    /// waits for this (a little while at most) before its goodbye, so its last messages are
    /// repaired too: receivers give up a sender's gaps when it says goodbye.
    pub fn settled(&self, quiet: Duration) -> bool {
        let now = Instant::now();
        self.flush_at.is_none() && self.last_nak.is_none_or(|t| now >= t + quiet)
    }

    /// Runs what is due: NAKs, gaps given up, the Hellos after our last message.
    async fn timers(&mut self) -> Result<(), McastError> {
        let now = Instant::now();
        if let Some((at, stage)) = self.flush_at {
            if now >= at {
                self.flush_at = (stage == 0).then(|| (now + FLUSH_SECOND, 1));
                self.presence(Kind::Hello).await?;
            }
        }
        self.inbound_at = self.inbound.tick(now, &mut self.actions);
        self.act().await
    }

    /// Carries out what `inbound` asked for.
    async fn act(&mut self) -> Result<(), McastError> {
        let mut actions = std::mem::take(&mut self.actions);
        for action in actions.drain(..) {
            match action {
                repair::Action::Nak { target, ranges } => {
                    // A listen-only peer never sends: it cannot ask, and gets what others
                    // asked for.
                    if let Some(send) = &self.send {
                        self.out.clear();
                        let nak = Nak {
                            sender: self.id,
                            target,
                            ranges,
                        };
                        match &mut self.sealer {
                            Some(sealer) => sealer.nak(&nak, &mut self.out),
                            None => nak.encode(&mut self.out),
                        }
                        send.send(&self.out).await?;
                    }
                }
                shown_or_not => self.events.extend(shown(shown_or_not)),
            }
        }
        self.actions = actions;
        Ok(())
    }
}

/// The event an action of [`repair::Inbound`] shows, if it shows one (a NAK does not).
fn shown(action: repair::Action) -> Option<Event> {
    match action {
        repair::Action::Show(f) => Some(match f.kind {
            Kind::Relay | Kind::RelayAction => Event::Relayed {
                action: f.kind == Kind::RelayAction,
                nick: f.nick,
                text: f.text,
            },
            Kind::Action => Event::Action {
                nick: f.nick,
                text: f.text,
            },
            _ => Event::Chat {
                nick: f.nick,
                text: f.text,
            },
        }),
        repair::Action::Lost { nick, count, .. } => Some(Event::Lost { nick, count }),
        repair::Action::Nak { .. } => None,
    }
}

/// When the first Hello after a sender's last message goes, and the second after that.
const FLUSH_FIRST: Duration = Duration::from_millis(50);
const FLUSH_SECOND: Duration = Duration::from_millis(250);
