//! `obrol serve --bridge GROUP:PORT=ROOM`: a multicast group and a hub room as one
//! conversation.
//!
//! One multicast [`Peer`] on the group and, on the hub, one local client per multicast peer
//! (`ani|mc`, see `obrol_hub::local`) plus a listener (`mcast|mc`) that sits in the room and
//! reads it. What a multicast peer says reaches the room from its own member, through the
//! router's one delivery path like anything a connection says; what a hub member says is
//! multicast as a relayed frame naming its author (`bob@SERVER`), so multicast peers show it
//! as the author's, and the bridge's own presence stays its own.
//!
//! No loops and no duplicates, by construction: the listener relays nobody with a bridge nick
//! (no connection may have one), and the bridge's peer relays no relayed frame (from this or
//! any other bridge); repair numbers what the peer sends and drops what it has seen. Two
//! bridges on one room therefore do not join their groups, and two bridges on one group do
//! not join their rooms.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use obrol_hub::domain::names::{valid_nick, BRIDGE_SUFFIX};
use obrol_hub::event::Command;
use obrol_hub::limits::{Bucket, Rate};
use obrol_hub::local::{AttachError, LocalClient, LocalSpec};
use obrol_hub::HubHandle;
use obrol_mcast::{Event, Mode, Peer, PeerConfig, Presence, SocketConfig};
use obrol_wire::irc::Message;

use crate::UsageError;

/// One `--bridge GROUP:PORT=ROOM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSpec {
    pub group: SocketAddr,
    /// The room, without IRC's `#`.
    pub room: String,
}

/// Reads `GROUP:PORT=ROOM` (`[ff02::1]:5004=lobby` for IPv6; a leading `#` on the room is
/// dropped).
pub fn parse_spec(spec: &str) -> Result<BridgeSpec, UsageError> {
    let bad = |why: &str| {
        UsageError(format!(
            "not a bridge: {spec} ({why}; expected GROUP:PORT=ROOM, e.g. 224.1.1.1:5004=lobby)"
        ))
    };
    let (group, room) = spec.rsplit_once('=').ok_or_else(|| bad("no ="))?;
    let group: SocketAddr = group.parse().map_err(|_| bad("no GROUP:PORT"))?;
    obrol_mcast::check_group(group.ip()).map_err(|e| bad(&e.to_string()))?;
    if group.port() == 0 {
        return Err(bad("port 0"));
    }
    let room = room.strip_prefix('#').unwrap_or(room);
    if !obrol_hub::domain::names::valid_room(room) {
        return Err(bad("not a room name"));
    }
    Ok(BridgeSpec {
        group,
        room: room.to_owned(),
    })
}

/// What every bridge of a hub shares.
#[derive(Debug, Clone)]
pub struct BridgeOptions {
    pub iface: Option<String>,
    pub ttl: u32,
    pub key: Option<obrol_mcast::keys::GroupKey>,
    /// With a key: who signs what the bridges send (a new identity each start if `None`).
    pub identity: Option<obrol_mcast::keys::Identity>,
    /// Seconds between presence heartbeats (others time a peer out after 3.5 of them).
    pub heartbeat: Duration,
}

/// Most multicast peers one bridge gives a member on the hub; the rest are not heard there
/// (a flood of forged peers on a keyless group must not fill the hub with members).
const MAX_PUPPETS: usize = 256;

/// Longest a bridge waits before taking its place in the room again (after a kick, or after
/// the operator removed its listener).
const REJOIN_AFTER: Duration = Duration::from_secs(5);

/// Opens the bridge's multicast peer: before the hub serves, so a bad group, interface or key
/// stops `obrol serve` at once with a clear error.
pub async fn open(spec: &BridgeSpec, opts: &BridgeOptions) -> anyhow::Result<Peer> {
    let cfg = PeerConfig {
        socket: SocketConfig {
            group: spec.group.ip(),
            port: spec.group.port(),
            ttl: opts.ttl,
            iface: opts.iface.clone(),
            // Peers on this host hear the bridge too.
            loopback: true,
            source: None,
        },
        mode: Mode::Both,
        nick: format!("#{}", spec.room)
            .chars()
            .take(obrol_wire::mcast::MAX_NICK)
            .collect(),
        raw: false,
        key: opts.key.clone(),
        identity: opts.identity.clone(),
    };
    Peer::start(cfg).await.map_err(|e| match e {
        obrol_mcast::McastError::Usage(msg) => {
            UsageError(format!("bridge {}: {msg}", spec.group)).into()
        }
        other => anyhow::anyhow!("bridge {}: {other}", spec.group),
    })
}

/// A multicast peer's member on the hub.
struct Puppet {
    client: LocalClient,
    /// How many peers on the group have this nick (a member leaves when the last does).
    peers: u32,
    /// In the room as far as the bridge knows (a kick takes it out; it joins again when its
    /// peer next speaks).
    joined: bool,
    /// Lines into the room, at the hub's line rate: a flood on the group is cut here, not
    /// in the room.
    bucket: Bucket,
}

struct Relay {
    hub: HubHandle,
    spec: BridgeSpec,
    /// `#room`, as IRC names it.
    target: String,
    /// Who the hub's authors are on the group: `nick@origin`.
    origin: String,
    rate: Option<Rate>,
    listener: Option<LocalClient>,
    /// Members for multicast peers, by multicast nick.
    puppets: HashMap<String, Puppet>,
    /// Lines from the group dropped: over the rate, or from peers past [`MAX_PUPPETS`].
    dropped: u64,
    drop_log: obrol_hub::limits::LogGate,
    stopping: bool,
}

/// Relays between `peer`'s group and the room until the hub shuts down, then says goodbye on
/// the group.
pub async fn run(
    mut peer: Peer,
    spec: BridgeSpec,
    opts: BridgeOptions,
    hub: HubHandle,
    origin: &str,
    rate: Option<Rate>,
) {
    let mut relay = Relay {
        hub,
        target: format!("#{}", spec.room),
        origin: origin_name(origin),
        spec,
        rate,
        listener: None,
        puppets: HashMap::new(),
        dropped: 0,
        drop_log: obrol_hub::limits::LogGate::new(Duration::from_secs(10)),
        stopping: false,
    };
    tracing::info!(group = %relay.spec.group, room = %relay.target, "bridge started");
    relay.attach_listener().await;
    let timeout = opts.heartbeat.mul_f64(3.5);
    let mut beat = tokio::time::interval(opts.heartbeat);
    beat.reset();
    let mut sweep = tokio::time::interval(opts.heartbeat.min(Duration::from_secs(1)));
    let mut rejoin = tokio::time::interval(REJOIN_AFTER);
    rejoin.reset();
    let mut lines = Vec::new();
    while !relay.stopping {
        tokio::select! {
            event = peer.next_event() => match event {
                Ok(event) => relay.group_event(event).await,
                Err(err) => tracing::warn!(%err, "bridge: receive failed"),
            },
            open = receive(&mut relay.listener, &mut lines) => {
                if open {
                    relay.room_lines(&mut peer, &mut lines).await;
                } else {
                    // Closed by the hub: it is shutting down (then the bridge stops), or the
                    // operator removed the listener (then it comes back).
                    lines.clear();
                    relay.listener = None;
                    relay.attach_listener().await;
                }
            }
            _ = rejoin.tick(), if relay.listener.is_none() => relay.attach_listener().await,
            _ = beat.tick() => {
                if let Err(err) = peer.heartbeat().await {
                    tracing::warn!(%err, "bridge: heartbeat failed");
                }
            }
            _ = sweep.tick() => {
                for event in peer.expire(timeout) {
                    relay.group_event(event).await;
                }
            }
        }
    }
    if let Err(err) = peer.leave().await {
        tracing::warn!(%err, "bridge: goodbye failed");
    }
}

/// What the listener was sent; pends while there is no listener.
async fn receive(listener: &mut Option<LocalClient>, lines: &mut Vec<String>) -> bool {
    match listener {
        Some(l) => l.receive(lines).await,
        None => std::future::pending().await,
    }
}

impl Relay {
    /// Puts the listener in the room (again); stops the bridge if the hub is gone.
    async fn attach_listener(&mut self) {
        let away = format!(
            "relays {} to the multicast group {}",
            self.target, self.spec.group
        );
        match self.attach("mcast", true, &away).await {
            Ok(client) => {
                tracing::debug!(nick = %client.nick(), "bridge: listener attached");
                if client.command(self.join()).await {
                    self.listener = Some(client);
                }
            }
            Err(AttachError::HubGone) => self.stopping = true,
            Err(AttachError::NickRefused) => {
                tracing::warn!("bridge {}: no free nick for its listener", self.spec.group);
            }
        }
    }

    /// Admits a member for `base` (made a bridge nick; numbered while taken), away with
    /// `away` so private messages to it are answered.
    async fn attach(
        &self,
        base: &str,
        listens: bool,
        away: &str,
    ) -> Result<LocalClient, AttachError> {
        let base = irc_base(base);
        for n in 1..=9 {
            let nick = match n {
                1 => format!("{base}{BRIDGE_SUFFIX}"),
                n => format!("{base}{n}{BRIDGE_SUFFIX}"),
            };
            let spec = LocalSpec {
                nick,
                user: "mcast".into(),
                realname: format!("multicast {}", self.spec.group),
                addr: self.spec.group,
                listens,
            };
            match self.hub.attach(spec).await {
                Ok(client) => {
                    client.command(Command::Away(Some(away.to_owned()))).await;
                    return Ok(client);
                }
                Err(AttachError::NickRefused) => continue,
                Err(AttachError::HubGone) => return Err(AttachError::HubGone),
            }
        }
        Err(AttachError::NickRefused)
    }

    fn join(&self) -> Command {
        Command::Join {
            room: self.spec.room.clone(),
            key: None,
        }
    }

    /// Carries one event of the group into the room.
    async fn group_event(&mut self, event: Event) {
        match event {
            Event::Presence(Presence::Joined(nick)) => {
                self.arrive(&nick).await;
            }
            Event::Presence(Presence::Left(nick)) => self.depart(&nick, "left the group").await,
            Event::Presence(Presence::TimedOut(nick)) => {
                self.depart(&nick, "timed out on the group").await;
            }
            Event::Presence(Presence::Renamed { old, new }) => self.rename(&old, &new).await,
            Event::Chat { nick, text } => self.say(&nick, text, false).await,
            Event::Action { nick, text } => self.say(&nick, text, true).await,
            Event::Legacy { from, text } => {
                // A seed sender has no nick: the listener says who sent it.
                let text = format!("<{from}> {text}");
                self.listener_says(text, false).await;
            }
            Event::Lost { nick, count } => {
                let s = if count == 1 { "" } else { "s" };
                let text = format!("lost {count} message{s} from {nick} on the multicast group");
                self.listener_says(text, true).await;
            }
            // Another bridge's room, or this one's echo: never relayed again.
            Event::Relayed { .. } => {}
        }
    }

    /// A peer with `nick` is on the group: its member joins the room (once per nick).
    async fn arrive(&mut self, nick: &str) -> Option<&mut Puppet> {
        if self.puppets.contains_key(nick) {
            let p = self.puppets.get_mut(nick)?;
            p.peers += 1;
            return Some(p);
        }
        if self.puppets.len() >= MAX_PUPPETS {
            self.count_dropped("too many peers on the group");
            return None;
        }
        let away = format!(
            "on the multicast group {} (private messages do not reach it)",
            self.spec.group
        );
        let client = match self.attach(nick, false, &away).await {
            Ok(c) => c,
            Err(AttachError::HubGone) => {
                self.stopping = true;
                return None;
            }
            Err(AttachError::NickRefused) => {
                self.count_dropped("no free nick");
                return None;
            }
        };
        let joined = client.command(self.join()).await;
        self.puppets.insert(
            nick.to_owned(),
            Puppet {
                client,
                peers: 1,
                joined,
                bucket: Bucket::default(),
            },
        );
        self.puppets.get_mut(nick)
    }

    async fn depart(&mut self, nick: &str, why: &str) {
        let Some(p) = self.puppets.get_mut(nick) else {
            return;
        };
        p.peers = p.peers.saturating_sub(1);
        if p.peers == 0 {
            if let Some(p) = self.puppets.remove(nick) {
                p.client.leave(why).await;
            }
        }
    }

    async fn rename(&mut self, old: &str, new: &str) {
        let alone = self.puppets.get(old).is_some_and(|p| p.peers == 1);
        if alone && !self.puppets.contains_key(new) {
            // The same member, renamed (the hub tells the room as for anyone's NICK).
            if let Some(p) = self.puppets.remove(old) {
                let nick = format!("{}{BRIDGE_SUFFIX}", irc_base(new));
                p.client.command(Command::Nick(nick)).await;
                self.puppets.insert(new.to_owned(), p);
            }
            return;
        }
        self.depart(old, "renamed on the group").await;
        self.arrive(new).await;
    }

    /// `nick` said `text` on the group: its member says it in the room.
    async fn say(&mut self, nick: &str, text: String, action: bool) {
        let target = self.target.clone();
        let rate = self.rate;
        let join = self.join();
        // A peer heard before the bridge started is known by its first message.
        let puppet = match self.puppets.contains_key(nick) {
            true => self.puppets.get_mut(nick),
            false => self.arrive(nick).await,
        };
        let Some(puppet) = puppet else {
            return;
        };
        if puppet.client.is_closed() {
            // The operator removed it: it comes back with the peer's next message.
            self.puppets.remove(nick);
            return;
        }
        if let Some(rate) = &rate {
            if puppet
                .bucket
                .take(rate, obrol_hub::limits::clock_us())
                .is_err()
            {
                self.count_dropped("over the line rate");
                return;
            }
        }
        if !puppet.joined {
            puppet.joined = puppet.client.command(join).await;
        }
        let cmd = Command::SayTo {
            target,
            text,
            action,
            notice: false,
            tags: Vec::new(),
        };
        puppet.client.command(cmd).await;
    }

    async fn listener_says(&mut self, text: String, notice: bool) {
        let Some(listener) = &self.listener else {
            return;
        };
        let cmd = Command::SayTo {
            target: self.target.clone(),
            text,
            action: false,
            notice,
            tags: Vec::new(),
        };
        listener.command(cmd).await;
    }

    fn count_dropped(&mut self, why: &str) {
        self.dropped += 1;
        if let Some(held) = self.drop_log.pass() {
            tracing::warn!(
                group = %self.spec.group,
                "bridge: a line from the group was not relayed: {why} ({held} more since the last report, {} in all)",
                self.dropped
            );
        }
    }

    /// Carries what the listener heard in the room onto the group.
    async fn room_lines(&mut self, peer: &mut Peer, lines: &mut Vec<String>) {
        for line in lines.drain(..) {
            let Ok(msg) = Message::parse(&line) else {
                continue;
            };
            let nick = msg
                .prefix
                .as_deref()
                .and_then(|p| p.split('!').next())
                .unwrap_or("");
            match msg.command.as_str() {
                "PRIVMSG" => {}
                "KICK"
                    if msg
                        .param(0)
                        .is_some_and(|r| r.eq_ignore_ascii_case(&self.target)) =>
                {
                    let kicked = msg.param(1).unwrap_or("");
                    for p in self.puppets.values_mut() {
                        if p.client.nick().eq_ignore_ascii_case(kicked) {
                            p.joined = false;
                        }
                    }
                    if self
                        .listener
                        .as_ref()
                        .is_some_and(|l| l.nick().eq_ignore_ascii_case(kicked))
                    {
                        // Out of the room: it takes its place again after a while.
                        self.listener = None;
                    }
                    continue;
                }
                _ => continue,
            }
            // Only the room's messages, and nobody's that came from a multicast group.
            let to_room = msg
                .param(0)
                .is_some_and(|t| t.eq_ignore_ascii_case(&self.target));
            if !to_room || nick.is_empty() || obrol_hub::domain::names::bridge_nick(nick) {
                continue;
            }
            let text = msg.param(1).unwrap_or("");
            let (text, action) = match text.strip_prefix("\u{1}ACTION ") {
                Some(rest) => (rest.strip_suffix('\u{1}').unwrap_or(rest), true),
                None if text.starts_with('\u{1}') => continue, // other CTCP: not chat
                None => (text, false),
            };
            let author = format!("{nick}@{}", self.origin);
            // A hub line may be longer than a datagram: sent in pieces, in order (at spaces
            // where it can, as the hub splits for its own clients).
            let max = peer.max_text(author.len()).max(1);
            for piece in obrol_hub::domain::text::split(text, max) {
                if let Err(err) = peer.relay(&author, piece, action).await {
                    tracing::warn!(%err, "bridge: relay to the group failed");
                }
            }
        }
    }
}

/// The hub's name as the origin of relayed authors: what a multicast nick may hold, short
/// enough for `nick@origin`.
fn origin_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control() && *c != '@')
        .take(obrol_wire::mcast::MAX_NICK)
        .collect();
    if clean.is_empty() {
        "hub".into()
    } else {
        clean
    }
}

/// A multicast nick made an IRC nick (before the bridge suffix and any number): characters IRC
/// does not allow become `_`, a leading digit or `-` gets a `_` before it, and it is cut to
/// leave room for the suffix and a digit.
pub fn irc_base(nick: &str) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "[]\\`_^{}-".contains(c);
    let mut base: String = nick
        .chars()
        .map(|c| if allowed(c) { c } else { '_' })
        .collect();
    if base.is_empty() || base.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
        base.insert(0, '_');
    }
    let room = obrol_hub::domain::NICKLEN - BRIDGE_SUFFIX.len() - 1;
    base.truncate(room);
    debug_assert!(valid_nick(&format!("{base}9{BRIDGE_SUFFIX}")));
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_specs() {
        let s = parse_spec("224.1.1.1:5004=lobby").unwrap();
        assert_eq!(s.group, "224.1.1.1:5004".parse().unwrap());
        assert_eq!(s.room, "lobby");
        assert_eq!(parse_spec("[ff02::1:2]:6000=#dev").unwrap().room, "dev");
        for bad in [
            "224.1.1.1=lobby",
            "224.1.1.1:5004",
            "10.0.0.1:5004=lobby",
            "224.1.1.1:0=lobby",
            "224.1.1.1:5004=",
            "224.1.1.1:5004=a,b",
        ] {
            let err = parse_spec(bad).expect_err(bad).to_string();
            assert!(err.contains("expected GROUP:PORT=ROOM"), "{err}");
        }
    }

    #[test]
    fn multicast_nicks_become_bridge_nicks() {
        assert_eq!(irc_base("ani"), "ani");
        assert_eq!(irc_base("Ütz"), "_tz");
        assert_eq!(irc_base("9lives"), "_9lives");
        assert_eq!(irc_base("-x"), "_-x");
        assert_eq!(irc_base("a|b"), "a_b", "a | would read as a bridge suffix");
        assert_eq!(irc_base("#lobby"), "_lobby");
        let long = irc_base(&"n".repeat(40));
        assert!(valid_nick(&format!("{long}9{BRIDGE_SUFFIX}")));
        assert!(obrol_hub::domain::names::bridge_nick(&format!(
            "{long}{BRIDGE_SUFFIX}"
        )));
    }

    #[test]
    fn origins_fit_in_a_relayed_nick() {
        assert_eq!(origin_name("irc.example.net"), "irc.example.net");
        assert_eq!(origin_name("a b@c"), "abc");
        assert_eq!(origin_name(""), "hub");
        let author = format!("{}@{}", "n".repeat(30), origin_name(&"h".repeat(99)));
        assert!(obrol_wire::mcast::check_relayed_nick(&author).is_ok());
    }
}
