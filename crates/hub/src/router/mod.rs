//! The router: the one task that owns every room, member and nick.
//!
//! Connections talk to it only through a bounded channel of [`Request`]s and hear back only
//! through their [`Outbox`]. Because it alone owns the state there are no locks around rooms and
//! no lock is ever held across a fan-out. A room message is rendered at most once per protocol
//! style and the same [`Bytes`] is queued for every recipient.
//!
//! Room fan-out goes through [`Router::fan_out`] and nowhere else: that is the seam where a
//! backplane (rooms shared by several hub nodes through a broker) will publish what local
//! members say and inject what remote members said.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use obrol_wire::plain::{valid_nick, valid_room};
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use tokio::sync::{mpsc, oneshot};

use crate::api::{caps, ClientId, Newcomer, Request};
use crate::domain::names::{fold, normalize_mask, Name};
use crate::domain::room::{IdSet, Room, MAX_BANS};
use crate::domain::whowas::Whowas;
use crate::domain::{unix_now, TOPICLEN};
use crate::event::{Command, Event, Identity, Refusal, RoomInfo, WhoRow, WhoisInfo};
use crate::outbox::{Outbox, PushError};
use crate::proto::{Protocol, View};
use crate::Settings;

/// Cheap counters for `/stats`.
#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    connects: u64,
    messages: u64,
    deliveries: u64,
    slow_consumers: u64,
}

/// A connected, registered client.
#[derive(Debug)]
struct Member {
    who: Identity,
    proto: Protocol,
    outbox: Arc<Outbox>,
    /// Keys of the rooms this member is in, in join order.
    rooms: SmallVec<[Name; 1]>,
    /// Key of the room plain text goes to (plain clients): the most recently joined.
    current: Option<Name>,
    realname: Name,
    /// IRCv3 capabilities (`irc::caps` bits).
    caps: u32,
    away: Option<String>,
    /// User mode `+i`.
    invisible: bool,
    /// Unix seconds at registration.
    signon: u64,
    /// Last time the member said something, for WHOIS idle time.
    last_spoke: Instant,
    /// Server operator (after `OPER`): user mode `+o`.
    oper: bool,
    /// When the idle sweep pinged this member ([`crate::outbox::clock_ms`]), 0 if it has
    /// not, or the member has spoken since.
    pinged_at: u64,
    /// User mode `+w`: receives WALLOPS.
    wallops: bool,
}

pub struct Router {
    settings: Arc<Settings>,
    /// Boxed, so the table's spare capacity (up to half of it) costs a pointer per slot rather
    /// than a whole member; keyed by server-assigned ids, so the fast non-keyed hash is safe.
    members: FxHashMap<ClientId, Box<Member>>,
    /// Case-folded nick to its owner.
    nicks: HashMap<Name, ClientId>,
    /// Case-folded room name to room.
    /// Boxed for the same reason as `members`.
    rooms: HashMap<Name, Box<Room>>,
    /// Members whose outbox overflowed during the current request; removed after it.
    doomed: Vec<ClientId>,
    /// Outboxes that received messages since the last flush and whose writers must be woken.
    dirty: Vec<Arc<Outbox>>,
    next_guest: u64,
    counters: Counters,
    started: Instant,
    /// Set by [`Request::Shutdown`]: late arrivals are turned away.
    shutting_down: bool,
    /// Nicks recently given up, for WHOWAS.
    whowas: Whowas,
    /// Open labeled-response scopes: label and the replies gathered so far.
    labeled: FxHashMap<ClientId, (String, Vec<Bytes>)>,
    /// The client whose own replies are being gathered while its request is handled.
    capturing: Option<ClientId>,
    /// Members with operator status (LUSERS and every welcome report it; counting them each
    /// time made a registration storm O(n^2)).
    oper_count: usize,
    /// Room chat gathered since the last flush, one batch per room (see [`RoomBatch`]).
    batches: Vec<RoomBatch>,
    /// Index into `batches` by room key.
    batch_of: HashMap<Name, usize>,
    /// Some open batch has a member who is also in another room, so batches must be sealed
    /// whenever chat moves to another room, or that member could see messages out of order.
    batches_overlap: bool,
}

/// Chat (and joins) for one room, gathered during one flush interval.
///
/// Each message is encoded once per style and appended to that style's buffer; at the flush
/// (or before anything else is sent, so every client still sees everything in order) each
/// member gets the whole buffer as one shared slice. A busy room so costs one queue entry and
/// one reference count per member per flush, instead of one per member per message: the
/// router's share of a delivery shrinks as load grows, and a join storm's O(n^2) join notices
/// leave as a few large writes instead of millions of small ones.
struct RoomBatch {
    key: Name,
    /// Encoded messages, by [`Protocol::style`]; `None` where no member has that style.
    chunks: [Option<BytesMut>; Protocol::STYLES],
    /// Where each message starts in its chunk (to count deliveries).
    starts: [Vec<usize>; Protocol::STYLES],
    /// A member of each style present, whose view renders for all of that style.
    viewers: [Option<ClientId>; Protocol::STYLES],
    /// Members that must not get the whole chunk: joined during the batch, already given part
    /// of it, or sent messages they must not hear back.
    marks: FxHashMap<ClientId, Mark>,
}

/// Which part of its style's chunk a member still has to get (see [`RoomBatch::marks`]).
#[derive(Default)]
struct Mark {
    /// Offset it starts at.
    from: usize,
    /// Ranges after `from` it must not get: its own messages, when it did not ask for echoes.
    skips: Vec<(usize, usize)>,
}

impl Mark {
    /// The ranges of `from..end` left once the skips are cut out.
    fn pieces(&self, end: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        let mut at = self.from;
        self.skips
            .iter()
            .map(Some)
            .chain(std::iter::once(None))
            .filter_map(move |skip| {
                let (stop, next) = skip.map_or((end, end), |&(a, b)| (a, b));
                let piece = (at < stop).then_some((at, stop));
                at = at.max(next);
                piece
            })
    }
}

impl Router {
    pub fn new(settings: Arc<Settings>) -> Self {
        Router {
            settings,
            members: FxHashMap::default(),
            nicks: HashMap::new(),
            rooms: HashMap::new(),
            doomed: Vec::new(),
            dirty: Vec::new(),
            next_guest: 1,
            counters: Counters::default(),
            started: Instant::now(),
            shutting_down: false,
            whowas: Whowas::default(),
            labeled: FxHashMap::default(),
            capturing: None,
            oper_count: 0,
            batches: Vec::new(),
            batch_of: HashMap::new(),
            batches_overlap: false,
        }
    }

    /// Runs until every sender of `requests` is gone.
    pub async fn run(mut self, mut requests: mpsc::Receiver<Request>) {
        let mut batch = Vec::with_capacity(256);
        let interval = self.settings.flush_interval;
        let mut last_flush = tokio::time::Instant::now();
        // One sweep for all clients' ping timeouts instead of a timer in every connection.
        let period = (self.settings.ping_interval / 4).clamp(
            std::time::Duration::from_millis(50),
            std::time::Duration::from_secs(1),
        );
        let mut sweep = tokio::time::interval(period);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Writers are woken at most once per flush interval: messages for one client that
            // arrive within it leave in one `writev` instead of one syscall each.
            let pending = !self.dirty.is_empty() || !self.batches.is_empty();
            let flush_at = pending.then_some(last_flush + interval);
            tokio::select! {
                n = requests.recv_many(&mut batch, 256) => {
                    if n == 0 {
                        break;
                    }
                    for req in batch.drain(..) {
                        self.handle(req);
                        self.bury_doomed();
                    }
                }
                _ = tokio::time::sleep_until(flush_at.unwrap_or_else(tokio::time::Instant::now)), if flush_at.is_some() => {}
                _ = sweep.tick() => {
                    self.sweep_idle();
                    self.bury_doomed();
                }
            }
            let now = tokio::time::Instant::now();
            if now >= last_flush + interval {
                self.seal_batches();
                self.bury_doomed();
                if !self.dirty.is_empty() {
                    for outbox in self.dirty.drain(..) {
                        outbox.wake();
                    }
                    last_flush = now;
                }
            }
        }
        self.seal_batches();
        self.dirty.drain(..).for_each(|o| o.wake());
    }

    fn handle(&mut self, req: Request) {
        // Most requests may change who is in a room or how a member's messages are written,
        // or speak to a room outside the batches: those seal the batches first. The exceptions
        // touch no existing member's rooms, and whatever they say to one client goes through
        // `push`, which first hands that client its share of the batches. Registrations among
        // them matter: in a join storm they arrive between the joins.
        let keeps_batches = matches!(
            &req,
            Request::Command {
                cmd: Command::Say { .. } | Command::SayTo { .. } | Command::Join { .. },
                ..
            } | Request::Connect { .. }
                | Request::Deliver { .. }
                | Request::LabelStart { .. }
                | Request::LabelEnd { .. }
        );
        if !keeps_batches {
            self.seal_batches();
        }
        // Replies to a client inside a labeled scope are gathered, but only those its own
        // requests cause: messages from others still go out at once.
        self.capturing = match &req {
            Request::Command { id, .. } | Request::Deliver { id, .. }
                if self.labeled.contains_key(id) =>
            {
                Some(*id)
            }
            _ => None,
        };
        self.dispatch(req);
        self.capturing = None;
    }

    fn dispatch(&mut self, req: Request) {
        match req {
            Request::Connect {
                id,
                newcomer,
                reply,
            } => self.connect(id, newcomer, reply),
            Request::Command { id, cmd } => self.command(id, cmd),
            Request::LabelStart { id, label } => {
                self.labeled.insert(id, (label, Vec::new()));
            }
            Request::LabelEnd { id } => {
                if let Some((label, replies)) = self.labeled.remove(&id) {
                    self.send_labeled(id, &label, replies);
                }
            }
            Request::Deliver { id, bytes } => {
                if let Some(outbox) = self.members.get(&id).map(|m| m.outbox.clone()) {
                    self.push(id, &outbox, bytes);
                }
            }
            Request::Disconnect { id, reason } => self.remove(id, &reason, None),
            // The client said all it will: it leaves now (others hear it quit), and its outbox
            // closes after what is queued, the answers to its last requests among them.
            Request::InputClosed { id } => self.remove(id, "connection closed", Some("")),
            Request::Operator { line, reply } => {
                let _ = reply.send(self.operator(&line));
            }
            Request::Shutdown => {
                // Everyone goes at once: no quit notices (that would be O(n^2) in a big room).
                self.shutting_down = true;
                for (_, m) in self.members.drain() {
                    let farewell = Event::Closing("server shutting down");
                    m.outbox
                        .close(m.proto.render(&farewell, &View::anonymous()));
                }
                self.nicks.clear();
                self.rooms.clear();
            }
        }
    }

    fn guest_nick(&mut self) -> String {
        loop {
            let nick = format!("guest{}", self.next_guest);
            self.next_guest += 1;
            if !self.nicks.contains_key(&fold(&nick)) {
                return nick;
            }
        }
    }

    fn connect(&mut self, id: ClientId, new: Newcomer, reply: Option<oneshot::Sender<bool>>) {
        if self.shutting_down {
            let farewell = Event::Closing("server shutting down");
            new.outbox
                .close(new.proto.render(&farewell, &View::anonymous()));
            if let Some(reply) = reply {
                let _ = reply.send(false);
            }
            return;
        }
        let wanted = new
            .nick
            .filter(|n| valid_nick(n) && !self.nicks.contains_key(&fold(n)));
        let nick = match (wanted, reply) {
            (Some(n), Some(reply)) => {
                let _ = reply.send(true);
                n
            }
            (None, Some(reply)) => {
                let _ = reply.send(false);
                return;
            }
            (Some(n), None) => n,
            (None, None) => self.guest_nick(),
        };
        let who = Identity {
            user: new.user.as_deref().unwrap_or(&nick).into(),
            nick: nick.as_str().into(),
            host: new.addr.ip().to_string().into(),
        };
        self.nicks.insert(fold(&nick), id);
        new.outbox.set_nick(&nick);
        self.members.insert(
            id,
            Box::new(Member {
                realname: new.realname.map_or_else(|| who.nick.clone(), Name::from),
                who,
                proto: new.proto,
                outbox: new.outbox,
                rooms: SmallVec::new(),
                current: None,
                caps: new.caps,
                away: None,
                invisible: false,
                signon: unix_now(),
                last_spoke: Instant::now(),
                oper: false,
                wallops: false,
                pinged_at: 0,
            }),
        );
        self.counters.connects += 1;
        let lobby = self.settings.default_room.clone();
        let motd = self.settings.motd.clone();
        self.tell(
            id,
            &Event::Welcome {
                motd: &motd,
                nick: &nick,
                room: &lobby,
                users: self.members.len(),
                rooms: self.rooms.len(),
                opers: self.opers(),
            },
        );
        // IRC clients choose their own channels; plain clients start in the lobby.
        if new.proto == Protocol::Plain {
            self.join(id, &lobby, None);
        }
    }

    fn command(&mut self, id: ClientId, cmd: Command) {
        if !self.members.contains_key(&id) {
            return;
        }
        match cmd {
            Command::Say { text, action } => {
                let current = self.members.get(&id).and_then(|m| m.current.clone());
                match current {
                    Some(room) => self.say_in_room(id, &room, &text, action, false),
                    None => self.refuse(id, Refusal::NoRoom),
                }
            }
            Command::SayTo {
                target,
                text,
                action,
                notice,
            } => {
                if let Some(room) = target.strip_prefix('#') {
                    let key = fold(room);
                    if self.is_member(id, &key) {
                        self.say_in_room(id, &key, &text, action, notice);
                    } else if notice {
                        // NOTICE never gets an error reply (RFC 2812 3.3.2): no loops between bots.
                    } else if self.rooms.contains_key(&key) {
                        // Rooms are +n: only members may send.
                        self.refuse(id, Refusal::CannotSend(room.to_owned()));
                    } else {
                        self.refuse(id, Refusal::NoSuchRoom(room.to_owned()));
                    }
                } else {
                    self.say_privately(id, &target, &text, action, notice);
                }
            }
            Command::Nick(new) => self.rename(id, &new),
            Command::Join { room, key } => {
                if !valid_room(&room) {
                    self.refuse(id, Refusal::BadRoom(room));
                } else {
                    self.join(id, &room, key.as_deref());
                }
            }
            Command::Oper { name, password } => {
                let ok = self
                    .settings
                    .opers
                    .iter()
                    .any(|(n, p)| *n == name && *p == password);
                if !ok {
                    return self.refuse(id, Refusal::PasswordMismatch);
                }
                if let Some(m) = self.members.get_mut(&id) {
                    if !m.oper {
                        self.oper_count += 1;
                    }
                    m.oper = true;
                    let nick = m.who.nick.clone();
                    self.tell(id, &Event::YoureOper);
                    self.tell(
                        id,
                        &Event::UserModeChanged {
                            nick: &nick,
                            change: "+o",
                        },
                    );
                }
            }
            Command::Kill { nick, reason } => {
                if !self.members.get(&id).is_some_and(|m| m.oper) {
                    return self.refuse(id, Refusal::NoPrivileges);
                }
                let Some(&target) = self.nicks.get(&fold(&nick)) else {
                    return self.refuse(id, Refusal::NoSuchNick(nick));
                };
                let by = self
                    .members
                    .get(&id)
                    .map_or_else(String::new, |m| m.who.nick.to_string());
                let why = format!("Killed ({by} ({reason}))");
                self.remove(target, &why, Some(&why));
            }
            Command::Wallops(text) => {
                let Some(from) = self
                    .members
                    .get(&id)
                    .filter(|m| m.oper)
                    .map(|m| m.who.clone())
                else {
                    return self.refuse(id, Refusal::NoPrivileges);
                };
                let ids: Vec<ClientId> = self
                    .members
                    .iter()
                    .filter(|(_, m)| m.wallops || m.oper)
                    .map(|(&k, _)| k)
                    .collect();
                self.tell_all(
                    &ids,
                    &Event::Wallops {
                        from: &from,
                        text: &text,
                    },
                );
            }
            Command::Whowas { nick, count } => {
                let entries = self.whowas.lookup(&nick, count);
                self.tell(
                    id,
                    &Event::Whowas {
                        nick: &nick,
                        entries: &entries,
                    },
                );
            }
            Command::SetName(realname) => {
                let Some(m) = self.members.get_mut(&id) else {
                    return;
                };
                m.realname = realname.as_str().into();
                let who = m.who.clone();
                let audience = self.audience(id, caps::SETNAME);
                self.tell_all(
                    &audience,
                    &Event::RealnameChanged {
                        who: &who,
                        realname: &realname,
                    },
                );
            }
            Command::Part { room, reason } => {
                let key = match room {
                    Some(r) => fold(&r),
                    None => match self.members.get(&id).and_then(|m| m.current.clone()) {
                        Some(k) => k,
                        None => return self.refuse(id, Refusal::NoRoom),
                    },
                };
                self.part(id, &key, reason.as_deref());
            }
            Command::Rooms => {
                let mut list: Vec<RoomInfo> = self
                    .rooms
                    .values()
                    .filter(|r| !r.secret || r.members.contains(&id))
                    .map(|r| RoomInfo {
                        name: r.name.to_string(),
                        members: r.members.len(),
                        topic: r
                            .extra()
                            .topic
                            .as_ref()
                            .map_or_else(String::new, |t| t.0.clone()),
                    })
                    .collect();
                list.sort_by(|a, b| a.name.cmp(&b.name));
                self.tell(id, &Event::Rooms(&list));
            }
            Command::Who(room) => {
                let key = match room {
                    Some(r) => fold(&r),
                    None => match self.members.get(&id).and_then(|m| m.current.clone()) {
                        Some(k) => k,
                        None => return self.refuse(id, Refusal::NoRoom),
                    },
                };
                let irc = self
                    .members
                    .get(&id)
                    .is_some_and(|m| m.proto == Protocol::Irc);
                match self.rooms.get(&key) {
                    Some(_) => self.names(id, &key),
                    // IRC NAMES of an unknown channel is just its end (RFC 2812 3.2.5).
                    None if irc => self.tell(
                        id,
                        &Event::Who {
                            room: &key,
                            nicks: "",
                            count: 0,
                            secret: false,
                        },
                    ),
                    None => self.refuse(id, Refusal::NoSuchRoom(key.to_string())),
                }
            }
            Command::PartAll => {
                let rooms = self
                    .members
                    .get(&id)
                    .map(|m| m.rooms.clone())
                    .unwrap_or_default();
                for key in rooms {
                    self.part(id, &key, None);
                }
            }
            Command::Topic { room, topic } => self.topic(id, &room, topic),
            Command::WhoQuery(mask) => self.who_query(id, &mask),
            Command::Whois(nick) => self.whois(id, &nick),
            Command::Ison(nicks) => {
                let online: Vec<String> = nicks
                    .iter()
                    .filter_map(|n| self.nicks.get(&fold(n)))
                    .filter_map(|t| self.members.get(t))
                    .map(|m| m.who.nick.to_string())
                    .collect();
                self.tell(id, &Event::Ison(&online));
            }
            Command::Userhost(nicks) => {
                let entries: Vec<String> = nicks
                    .iter()
                    .take(5)
                    .filter_map(|n| self.nicks.get(&fold(n)))
                    .filter_map(|t| self.members.get(t))
                    .map(|m| {
                        let away = if m.away.is_some() { '-' } else { '+' };
                        format!("{}={away}{}@{}", m.who.nick, m.who.user, m.who.host)
                    })
                    .collect();
                self.tell(id, &Event::Userhost(&entries));
            }
            Command::Away(message) => {
                let away = message.filter(|m| !m.is_empty());
                let now_away = away.is_some();
                let Some(m) = self.members.get_mut(&id) else {
                    return;
                };
                m.away = away.clone();
                let who = m.who.clone();
                self.tell(id, &Event::AwayStatus(now_away));
                let mut audience = self.audience(id, caps::AWAY_NOTIFY);
                audience.retain(|&a| a != id);
                let message = away.as_deref();
                self.tell_all(&audience, &Event::AwayChanged { who: &who, message });
            }
            Command::RoomMode { room, changes } => self.room_mode(id, &room, changes),
            Command::UserMode { nick, changes } => {
                let Some(m) = self.members.get_mut(&id) else {
                    return;
                };
                if fold(&nick) != fold(&m.who.nick) {
                    return self.refuse(id, Refusal::UsersDontMatch);
                }
                let mut applied = String::new();
                let mut unknown = None;
                for (adding, mode) in changes {
                    let flag = match mode {
                        'i' => &mut m.invisible,
                        'w' => &mut m.wallops,
                        // Operator status is granted by OPER only, but may be dropped.
                        'o' if !adding => &mut m.oper,
                        'o' => continue,
                        other => {
                            unknown = Some(other);
                            continue;
                        }
                    };
                    if *flag != adding {
                        *flag = adding;
                        applied.push(if adding { '+' } else { '-' });
                        applied.push(mode);
                        if mode == 'o' {
                            self.oper_count -= 1; // only ever dropped here
                        }
                    }
                }
                let nick = m.who.nick.clone();
                let mut modes = String::from("+");
                for (on, c) in [(m.invisible, 'i'), (m.oper, 'o'), (m.wallops, 'w')] {
                    if on {
                        modes.push(c);
                    }
                }
                if let Some(c) = unknown {
                    self.refuse(id, Refusal::UnknownUserMode(c));
                }
                let modes = modes.as_str();
                if applied.is_empty() {
                    self.tell(id, &Event::UserModes(modes));
                } else {
                    self.tell(
                        id,
                        &Event::UserModeChanged {
                            nick: &nick,
                            change: &applied,
                        },
                    );
                }
            }
            Command::Kick { room, nick, reason } => self.kick(id, &room, &nick, reason),
            Command::Invite { nick, room } => self.invite(id, &nick, &room),
            Command::Lusers => {
                let (users, rooms, opers) = (self.members.len(), self.rooms.len(), self.opers());
                self.tell(
                    id,
                    &Event::Lusers {
                        users,
                        rooms,
                        opers,
                    },
                );
            }
            Command::TagMsg { target, tags } => {
                let Some(from) = self.members.get(&id).map(|m| m.who.clone()) else {
                    return;
                };
                if let Some(room) = target.strip_prefix('#') {
                    let key = fold(room);
                    if self.is_member(id, &key) {
                        let name = self
                            .rooms
                            .get(&key)
                            .map_or(room.to_owned(), |r| r.name.to_string());
                        let ev = Event::TagMsg {
                            from: &from,
                            room: Some(&name),
                            tags: &tags,
                        };
                        let echo = self
                            .members
                            .get(&id)
                            .is_some_and(|m| m.caps & caps::ECHO_MESSAGE != 0);
                        self.fan_out(&key, &ev, (!echo).then_some(id));
                    } else {
                        self.refuse(id, Refusal::CannotSend(room.to_owned()));
                    }
                } else if let Some(&t) = self.nicks.get(&fold(&target)) {
                    self.tell(
                        t,
                        &Event::TagMsg {
                            from: &from,
                            room: None,
                            tags: &tags,
                        },
                    );
                } else {
                    self.refuse(id, Refusal::NoSuchNick(target));
                }
            }
            Command::SetCaps(caps) => {
                if let Some(m) = self.members.get_mut(&id) {
                    m.caps = caps;
                }
            }
            Command::Help => self.tell(id, &Event::Help),
            Command::Quit(reason) => {
                let reason = reason.unwrap_or_else(|| "quit".into());
                let irc = self
                    .members
                    .get(&id)
                    .is_some_and(|m| m.proto == Protocol::Irc);
                let farewell = if irc {
                    reason.clone()
                } else {
                    "bye".to_owned()
                };
                self.remove(id, &reason, Some(&farewell));
            }
        }
    }

    /// Whether `id` is in the room with key `key`.
    fn is_member(&self, id: ClientId, key: &str) -> bool {
        self.members
            .get(&id)
            .is_some_and(|m| m.rooms.iter().any(|r| r == key))
    }

    /// How many server operators are connected.
    fn opers(&self) -> usize {
        self.oper_count
    }

    /// `id` and everyone sharing a room with it who negotiated capability `cap`.
    fn audience(&self, id: ClientId, cap: u32) -> Vec<ClientId> {
        let mut ids = vec![id];
        if let Some(m) = self.members.get(&id) {
            for key in &m.rooms {
                if let Some(r) = self.rooms.get(key) {
                    ids.extend(&r.members);
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
        ids.retain(|i| self.members.get(i).is_some_and(|m| m.caps & cap != 0));
        ids
    }

    /// Sends a room's member list (IRC `NAMES`) to `id`, prefixed as its capabilities ask.
    fn names(&mut self, id: ClientId, key: &str) {
        let caps = self.members.get(&id).map_or(0, |m| m.caps);
        let Some(room) = self.rooms.get(key) else {
            return;
        };
        let multi = caps & caps::MULTI_PREFIX != 0;
        let full = caps & caps::USERHOST_IN_NAMES != 0;
        if room.secret && !room.members.contains(&id) {
            let name = room.name.clone();
            return self.tell(
                id,
                &Event::Who {
                    room: &name,
                    nicks: "",
                    count: 0,
                    secret: true,
                },
            );
        }
        // Plain clients have no room operator commands, so no prefixes either.
        let prefixed = self
            .members
            .get(&id)
            .is_some_and(|m| m.proto == Protocol::Irc);
        let mut nicks = String::with_capacity(room.members.len() * 12);
        let mut count = 0;
        for &mid in &room.members {
            let Some(m) = self.members.get(&mid) else {
                continue;
            };
            if count > 0 {
                nicks.push(' ');
            }
            count += 1;
            if prefixed {
                nicks.push_str(room.prefix(mid, multi));
            }
            nicks.push_str(&m.who.nick);
            if full {
                nicks.push('!');
                nicks.push_str(&m.who.user);
                nicks.push('@');
                nicks.push_str(&m.who.host);
            }
        }
        let name = room.name.clone();
        let secret = room.secret;
        self.tell(
            id,
            &Event::Who {
                room: &name,
                nicks: &nicks,
                count,
                secret,
            },
        );
    }

    fn topic(&mut self, id: ClientId, room: &str, topic: Option<String>) {
        let key = fold(room);
        let Some(r) = self.rooms.get_mut(&key) else {
            return self.refuse(id, Refusal::NoSuchRoom(room.to_owned()));
        };
        let name = r.name.clone();
        if r.secret && !r.members.contains(&id) {
            // A secret room does not exist for those outside it (RFC 2811 4.2.6).
            return self.refuse(id, Refusal::NoSuchRoom(room.to_owned()));
        }
        let Some(text) = topic else {
            let t = r.extra().topic.clone();
            let topic = t.as_ref().map(|(t, by, at)| (t.as_str(), by.as_str(), *at));
            return self.tell(id, &Event::Topic { room: &name, topic });
        };
        if !r.members.contains(&id) {
            return self.refuse(id, Refusal::NotInRoom(name.to_string()));
        }
        if r.topic_ops_only && !r.ops.contains(&id) {
            return self.refuse(id, Refusal::ChanOpNeeded(name.to_string()));
        }
        let Some(who) = self.members.get(&id).map(|m| m.who.clone()) else {
            return;
        };
        let text: String = text.chars().take(TOPICLEN).collect();
        r.extra_mut().topic =
            (!text.is_empty()).then(|| (text.clone(), who.nick.to_string(), unix_now()));
        self.fan_out(
            &key,
            &Event::TopicChanged {
                who: &who,
                room: &name,
                topic: &text,
            },
            None,
        );
    }

    fn who_query(&mut self, id: ClientId, mask: &str) {
        let mut rows = Vec::new();
        let row = |m: &Member, room: Option<String>, prefix: &'static str| WhoRow {
            room,
            who: m.who.clone(),
            away: m.away.is_some(),
            prefix,
            realname: m.realname.to_string(),
        };
        if let Some(room) = mask.strip_prefix('#') {
            let visible = |r: &&Room| !r.secret || r.members.contains(&id);
            if let Some(r) = self.rooms.get(&fold(room)).map(|r| &**r).filter(visible) {
                for &mid in &r.members {
                    if let Some(m) = self.members.get(&mid) {
                        rows.push(row(m, Some(r.name.to_string()), r.prefix(mid, false)));
                    }
                }
            }
        } else if let Some(m) = self
            .nicks
            .get(&fold(mask))
            .and_then(|t| self.members.get(t))
        {
            rows.push(row(m, None, ""));
        }
        self.tell(id, &Event::WhoReply { mask, rows: &rows });
    }

    fn whois(&mut self, id: ClientId, nick: &str) {
        let Some(&target) = self.nicks.get(&fold(nick)) else {
            self.refuse(id, Refusal::NoSuchNick(nick.to_owned()));
            return self.tell(id, &Event::WhoisEnd(nick));
        };
        let Some(m) = self.members.get(&target) else {
            return;
        };
        let rooms = m
            .rooms
            .iter()
            .filter_map(|k| self.rooms.get(k))
            // Secret rooms show only to those who are in them too.
            .filter(|r| !r.secret || r.members.contains(&id))
            .map(|r| format!("{}{}", r.prefix(target, false), r.name))
            .collect();
        let info = WhoisInfo {
            who: m.who.clone(),
            realname: m.realname.to_string(),
            rooms,
            away: m.away.clone(),
            idle_secs: m.last_spoke.elapsed().as_secs(),
            signon: m.signon,
            oper: m.oper,
        };
        self.tell(id, &Event::Whois(&info));
    }

    fn room_mode(&mut self, id: ClientId, room: &str, changes: Vec<(bool, char, Option<String>)>) {
        let key = fold(room);
        let Some(r) = self.rooms.get(&key) else {
            return self.refuse(id, Refusal::NoSuchRoom(room.to_owned()));
        };
        let name = r.name.clone();
        if changes.is_empty() {
            let modes = r.modes(r.members.contains(&id));
            let created = r.created;
            return self.tell(
                id,
                &Event::RoomModes {
                    room: &name,
                    modes: &modes,
                    created,
                },
            );
        }
        // `MODE #room b` (no mask) lists bans; anyone may ask.
        if changes.iter().all(|(_, c, arg)| *c == 'b' && arg.is_none()) {
            let masks = r.extra().bans.clone();
            return self.tell(
                id,
                &Event::BanList {
                    room: &name,
                    masks: &masks,
                },
            );
        }
        if !r.ops.contains(&id) {
            return self.refuse(id, Refusal::ChanOpNeeded(name.to_string()));
        }
        let mut applied: Vec<String> = Vec::new();
        for (adding, mode, arg) in changes {
            let sign = if adding { '+' } else { '-' };
            let target = match (mode, &arg) {
                ('o' | 'v', Some(nick)) => {
                    let t = self.nicks.get(&fold(nick)).copied();
                    match t.filter(|t| self.rooms.get(&key).is_some_and(|r| r.members.contains(t)))
                    {
                        Some(t) => Some(t),
                        None => {
                            let refusal = Refusal::UserNotInRoom {
                                nick: nick.clone(),
                                room: name.to_string(),
                            };
                            self.refuse(id, refusal);
                            continue;
                        }
                    }
                }
                _ => None,
            };
            let target_nick = target
                .and_then(|t| self.members.get(&t))
                .map(|m| m.who.nick.clone());
            let Some(r) = self.rooms.get_mut(&key) else {
                return;
            };
            let change = match (mode, arg) {
                ('o' | 'v', _) => {
                    let (Some(t), Some(nick)) = (target, target_nick) else {
                        continue;
                    };
                    let set = if mode == 'o' {
                        &mut r.ops
                    } else {
                        &mut r.extra_mut().voiced
                    };
                    let changed = if adding {
                        set.insert(t)
                    } else {
                        set.remove(&t)
                    };
                    changed.then(|| format!("{sign}{mode} {nick}"))
                }
                ('b', None) => {
                    let masks = r.extra().bans.clone();
                    self.tell(
                        id,
                        &Event::BanList {
                            room: &name,
                            masks: &masks,
                        },
                    );
                    continue;
                }
                ('b', Some(mask)) => {
                    let mask = normalize_mask(&mask);
                    let present = r
                        .extra()
                        .bans
                        .iter()
                        .position(|b| b.eq_ignore_ascii_case(&mask));
                    match (adding, present) {
                        (true, None) if r.extra().bans.len() < MAX_BANS => {
                            r.extra_mut().bans.push(mask.clone());
                            Some(format!("+b {mask}"))
                        }
                        (true, None) => {
                            self.refuse(id, Refusal::BanListFull(name.to_string()));
                            continue;
                        }
                        (false, Some(at)) => {
                            r.extra_mut().bans.remove(at);
                            Some(format!("-b {mask}"))
                        }
                        _ => None,
                    }
                }
                ('k', arg) => {
                    if adding {
                        let Some(k) = arg.filter(|k| !k.is_empty() && !k.contains(' ')) else {
                            continue;
                        };
                        if r.extra().key.is_some() {
                            self.refuse(id, Refusal::KeySet(name.to_string()));
                            continue;
                        }
                        r.extra_mut().key = Some(k.clone());
                        Some(format!("+k {k}"))
                    } else {
                        r.extra_mut().key.take().map(|_| "-k *".to_owned())
                    }
                }
                ('l', arg) => {
                    if adding {
                        let Some(l) = arg.and_then(|a| a.parse::<usize>().ok()).filter(|l| *l > 0)
                        else {
                            continue;
                        };
                        r.extra_mut().limit = Some(l);
                        Some(format!("+l {l}"))
                    } else {
                        r.extra_mut().limit.take().map(|_| "-l".to_owned())
                    }
                }
                ('i' | 'm' | 's' | 't' | 'n', _) => {
                    // +n is how the hub works (members only); it can be shown but not lifted.
                    if mode == 'n' && !adding {
                        continue;
                    }
                    let flag = match mode {
                        'i' => &mut r.invite_only,
                        'm' => &mut r.moderated,
                        's' => &mut r.secret,
                        't' => &mut r.topic_ops_only,
                        _ => &mut r.no_external,
                    };
                    (*flag != adding).then(|| {
                        *flag = adding;
                        format!("{sign}{mode}")
                    })
                }
                (other, _) => {
                    self.refuse(id, Refusal::UnknownMode(other));
                    continue;
                }
            };
            applied.extend(change);
        }
        let Some(who) = self.members.get(&id).map(|m| m.who.clone()) else {
            return;
        };
        for change in applied {
            let ev = Event::ModeChanged {
                who: &who,
                room: &name,
                change: &change,
            };
            self.fan_out(&key, &ev, None);
        }
    }

    fn kick(&mut self, id: ClientId, room: &str, nick: &str, reason: Option<String>) {
        let key = fold(room);
        let Some(r) = self.rooms.get(&key) else {
            return self.refuse(id, Refusal::NoSuchRoom(room.to_owned()));
        };
        let name = r.name.clone();
        if !r.members.contains(&id) {
            return self.refuse(id, Refusal::NotInRoom(name.to_string()));
        }
        if !r.ops.contains(&id) {
            return self.refuse(id, Refusal::ChanOpNeeded(name.to_string()));
        }
        let target = self.nicks.get(&fold(nick)).copied();
        let Some(target) = target.filter(|t| r.members.contains(t)) else {
            return self.refuse(
                id,
                Refusal::UserNotInRoom {
                    nick: nick.to_owned(),
                    room: name.to_string(),
                },
            );
        };
        let (Some(by), Some(kicked)) = (
            self.members.get(&id).map(|m| m.who.clone()),
            self.members.get(&target).map(|m| m.who.nick.clone()),
        ) else {
            return;
        };
        let reason = reason.unwrap_or_else(|| by.nick.to_string());
        self.fan_out(
            &key,
            &Event::Kicked {
                by: &by,
                room: &name,
                nick: &kicked,
                reason: &reason,
            },
            None,
        );
        self.drop_membership(target, &key);
    }

    fn invite(&mut self, id: ClientId, nick: &str, room: &str) {
        let Some(&target) = self.nicks.get(&fold(nick)) else {
            return self.refuse(id, Refusal::NoSuchNick(nick.to_owned()));
        };
        let key = fold(room);
        if let Some(r) = self.rooms.get(&key) {
            if !r.members.contains(&id) {
                return self.refuse(id, Refusal::NotInRoom(r.name.to_string()));
            }
            if r.members.contains(&target) {
                let name = r.name.clone();
                return self.refuse(
                    id,
                    Refusal::AlreadyInRoom {
                        nick: nick.to_owned(),
                        room: name.to_string(),
                    },
                );
            }
        }
        let name = self
            .rooms
            .get(&key)
            .map_or_else(|| room.to_owned(), |r| r.name.to_string());
        let (Some(by), Some(to)) = (
            self.members.get(&id).map(|m| m.who.clone()),
            self.members.get(&target).map(|m| m.who.nick.clone()),
        ) else {
            return;
        };
        if let Some(r) = self.rooms.get_mut(&key) {
            if r.invite_only && !r.ops.contains(&id) {
                return self.refuse(id, Refusal::ChanOpNeeded(name));
            }
            r.extra_mut().invited.insert(target);
        }
        self.tell(
            id,
            &Event::Inviting {
                nick: &to,
                room: &name,
            },
        );
        self.tell(
            target,
            &Event::Invited {
                by: &by,
                nick: &to,
                room: &name,
            },
        );
        // invite-notify: the room's other members who asked to hear about invitations.
        let audience: Vec<ClientId> = self.rooms.get(&key).map_or_else(Vec::new, |r| {
            r.members
                .iter()
                .copied()
                .filter(|&i| i != id && i != target)
                .filter(|i| {
                    self.members
                        .get(i)
                        .is_some_and(|m| m.caps & caps::INVITE_NOTIFY != 0)
                })
                .collect()
        });
        self.tell_all(
            &audience,
            &Event::InviteNotice {
                by: &by,
                nick: &to,
                room: &name,
            },
        );
    }

    fn say_in_room(&mut self, id: ClientId, key: &str, text: &str, action: bool, notice: bool) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        m.last_spoke = Instant::now();
        let echo = m.caps & caps::ECHO_MESSAGE != 0;
        let from = m.who.clone();
        let Some(room) = self.rooms.get(key) else {
            return;
        };
        let name = room.name.clone();
        if !room.may_speak(id, &from) {
            if !notice {
                self.refuse(id, Refusal::CannotSend(name.to_string()));
            }
            return;
        }
        self.counters.messages += 1;
        let event = Event::Chat {
            from: &from,
            room: Some(&name),
            text,
            action,
            notice,
        };
        self.fan_out_batched(key, &event, (!echo).then_some(id));
    }

    fn say_privately(&mut self, id: ClientId, to: &str, text: &str, action: bool, notice: bool) {
        let Some(&target) = self.nicks.get(&fold(to)) else {
            if !notice {
                self.refuse(id, Refusal::NoSuchNick(to.to_owned()));
            }
            return;
        };
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        m.last_spoke = Instant::now();
        let from = m.who.clone();
        self.counters.messages += 1;
        if let Some(away) = self.members.get(&target).and_then(|t| t.away.clone()) {
            if !notice {
                let nick = self
                    .members
                    .get(&target)
                    .map_or(to.to_owned(), |t| t.who.nick.to_string());
                self.tell(
                    id,
                    &Event::IsAway {
                        nick: &nick,
                        message: &away,
                    },
                );
            }
        }
        self.tell(
            target,
            &Event::Chat {
                from: &from,
                room: None,
                text,
                action,
                notice,
            },
        );
        let to = self
            .members
            .get(&target)
            .map_or_else(|| to.to_owned(), |m| m.who.nick.to_string());
        self.tell(
            id,
            &Event::SentPrivately {
                to: &to,
                text,
                action,
                notice,
            },
        );
    }

    fn rename(&mut self, id: ClientId, new: &str) {
        if !valid_nick(new) {
            return self.refuse(id, Refusal::BadNick(new.to_owned()));
        }
        let new_key = fold(new);
        match self.nicks.get(&new_key) {
            Some(&owner) if owner != id => {
                return self.refuse(id, Refusal::NickInUse(new.to_owned()));
            }
            _ => {}
        }
        let Some(m) = self.members.get(&id) else {
            return;
        };
        if m.who.nick == new {
            return;
        }
        let old = m.who.clone();
        let old_key = fold(&m.who.nick);
        let realname = m.realname.clone();
        // Everyone who shares a room hears it once, and so does the member itself.
        let mut audience: Vec<ClientId> = vec![id];
        for key in &m.rooms {
            if let Some(room) = self.rooms.get(key) {
                audience.extend(&room.members);
            }
        }
        audience.sort_unstable();
        audience.dedup();
        self.whowas.remember(&old, &realname);
        self.nicks.remove(&old_key);
        self.nicks.insert(new_key, id);
        if let Some(m) = self.members.get_mut(&id) {
            m.who.nick = new.into();
            m.outbox.set_nick(new);
        }
        self.tell_all(&audience, &Event::Renamed { who: &old, new });
    }

    fn join(&mut self, id: ClientId, room: &str, given_key: Option<&str>) {
        let key = fold(room);
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        if m.rooms.contains(&key) {
            if m.proto != Protocol::Plain {
                return; // IRC: joining a channel one is in is silently ignored
            }
            m.current = Some(key.clone());
            let name = self
                .rooms
                .get(&key)
                .map_or(room.to_owned(), |r| r.name.to_string());
            return self.tell(id, &Event::Info(&format!("you are now talking in {name}")));
        }
        if m.rooms.len() >= self.settings.max_rooms_per_client {
            let max = self.settings.max_rooms_per_client;
            return self.refuse(id, Refusal::TooManyRooms(max));
        }
        // A join goes into the room's batch (see `RoomBatch`) when it changes no style the
        // joiner already has elsewhere: an IRC client in no other room.
        if m.proto == Protocol::Plain || !m.rooms.is_empty() {
            self.seal_batches();
        }
        let Some(m) = self.members.get(&id) else {
            return;
        };
        if let Some(r) = self.rooms.get_mut(&key) {
            let name = r.name.clone();
            let invited = r.extras.as_mut().is_some_and(|e| e.invited.remove(&id));
            let refusal = if r.banned(&m.who) && !invited {
                Some(Refusal::BannedFromRoom(name.to_string()))
            } else if r.invite_only && !invited {
                Some(Refusal::InviteOnly(name.to_string()))
            } else if r.extra().key.is_some() && r.extra().key.as_deref() != given_key {
                Some(Refusal::BadKey(name.to_string()))
            } else if r.extra().limit.is_some_and(|l| r.members.len() >= l) {
                Some(Refusal::RoomFull(name.to_string()))
            } else {
                None
            };
            if let Some(refusal) = refusal {
                return self.refuse(id, refusal);
            }
        }
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        m.rooms.push(key.clone());
        m.current = Some(key.clone());
        let who = m.who.clone();
        let realname = m.realname.clone();
        let away = m.away.clone();
        let room = self.rooms.entry(key.clone()).or_insert_with(|| {
            Box::new(Room {
                name: room.into(),
                members: SmallVec::new(),
                // The first joiner creates the room and operates it.
                ops: IdSet(smallvec::smallvec![id]),
                topic_ops_only: true,
                no_external: true,
                created: unix_now(),
                invite_only: false,
                moderated: false,
                secret: false,
                extras: None,
            })
        });
        room.members.push(id);
        let name = room.name.clone();
        let topic = room.extra().topic.clone();
        self.mark_joined(id, &key);
        self.fan_out_batched(
            &key,
            &Event::Joined {
                who: &who,
                room: &name,
                realname: &realname,
            },
            None,
        );
        if let Some(message) = away.as_deref() {
            // away-notify: those who can know the newcomer is away learn it at once.
            let audience: Vec<ClientId> = self.rooms.get(&key).map_or_else(Vec::new, |r| {
                r.members
                    .iter()
                    .copied()
                    .filter(|&i| i != id)
                    .filter(|i| {
                        self.members
                            .get(i)
                            .is_some_and(|m| m.caps & caps::AWAY_NOTIFY != 0)
                    })
                    .collect()
            });
            let message = Some(message);
            self.tell_all(&audience, &Event::AwayChanged { who: &who, message });
        }
        if let Some((text, by, at)) = &topic {
            let topic = Some((text.as_str(), by.as_str(), *at));
            self.tell(id, &Event::Topic { room: &name, topic });
        }
        self.names(id, &key);
    }

    fn part(&mut self, id: ClientId, key: &str, reason: Option<&str>) {
        let Some(m) = self.members.get(&id) else {
            return;
        };
        let Some(name) = self.rooms.get(key).map(|r| r.name.clone()) else {
            return self.refuse(id, Refusal::NoSuchRoom(key.to_owned()));
        };
        if !m.rooms.iter().any(|r| r == key) {
            return self.refuse(id, Refusal::NotInRoom(name.to_string()));
        }
        let who = m.who.clone();
        // The leaver hears its own part, as IRC clients expect.
        self.fan_out(
            key,
            &Event::Parted {
                who: &who,
                room: &name,
                reason,
            },
            None,
        );
        self.drop_membership(id, key);
    }

    /// Takes `id` out of room `key` on both sides (after the notices were sent).
    fn drop_membership(&mut self, id: ClientId, key: &str) {
        self.leave_room(id, key);
        if let Some(m) = self.members.get_mut(&id) {
            m.rooms.retain(|r| r != key);
            if m.current.as_deref() == Some(key) {
                m.current = m.rooms.last().cloned();
            }
        }
    }

    /// Removes `id` from a room's member list, dropping the room when it empties.
    fn leave_room(&mut self, id: ClientId, key: &str) {
        if let Some(room) = self.rooms.get_mut(key) {
            room.members.retain(|m| *m != id);
            room.ops.remove(&id);
            if let Some(e) = room.extras.as_mut() {
                e.voiced.remove(&id);
            }
            if room.members.is_empty() {
                self.rooms.remove(key);
            }
        }
    }

    /// Removes a member: tells those who shared a room, frees its nick, and (when the router
    /// initiates it) closes its connection with `farewell`.
    fn remove(&mut self, id: ClientId, reason: &str, farewell: Option<&str>) {
        let Some(m) = self.members.remove(&id) else {
            return;
        };
        self.oper_count -= usize::from(m.oper);
        self.nicks.remove(&fold(&m.who.nick));
        self.whowas.remember(&m.who, &m.realname);
        let mut audience = Vec::new();
        for key in &m.rooms {
            self.leave_room(id, key);
            if let Some(room) = self.rooms.get(key) {
                audience.extend(&room.members);
            }
        }
        audience.sort_unstable();
        audience.dedup();
        self.tell_all(
            &audience,
            &Event::Quit {
                who: &m.who,
                reason,
            },
        );
        if let Some(farewell) = farewell {
            m.outbox.close(
                m.proto
                    .render(&Event::Closing(farewell), &View::anonymous()),
            );
        }
    }

    /// Sends the replies gathered for a labeled request: `ACK` for none, the label on the line
    /// for one, a `labeled-response` batch for several (IRCv3 labeled-response).
    fn send_labeled(&mut self, id: ClientId, label: &str, replies: Vec<Bytes>) {
        let Some(m) = self.members.get(&id) else {
            return;
        };
        let outbox = m.outbox.clone();
        let server = &self.settings.name;
        let text: String = replies
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect();
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        let tagged = |tags: &str, line: &str| match line.strip_prefix('@') {
            Some(rest) => format!("@{tags};{rest}\r\n"),
            None => format!("@{tags} {line}\r\n"),
        };
        let out = match lines.as_slice() {
            [] => format!("@label={label} :{server} ACK\r\n"),
            [one] => tagged(&format!("label={label}"), one),
            many if m.caps & caps::BATCH != 0 => {
                let reference = format!("l{id}");
                let mut out =
                    format!("@label={label} :{server} BATCH +{reference} labeled-response\r\n");
                for line in many {
                    out.push_str(&tagged(&format!("batch={reference}"), line));
                }
                out.push_str(&format!(":{server} BATCH -{reference}\r\n"));
                out
            }
            // Without `batch` several lines cannot be grouped: send them unlabeled.
            _ => text.clone(),
        };
        self.push(id, &outbox, Bytes::from(out));
    }

    fn bury_doomed(&mut self) {
        while let Some(id) = self.doomed.pop() {
            if self.members.contains_key(&id) {
                self.counters.slow_consumers += 1;
                tracing::info!(client = id, "disconnecting slow consumer");
                let reason = "slow consumer: too much unread output";
                if let Some(m) = self.members.get(&id) {
                    m.outbox.abort();
                }
                self.remove(id, reason, None);
            }
        }
    }

    fn push(&mut self, id: ClientId, outbox: &Arc<Outbox>, bytes: Bytes) {
        if bytes.is_empty() {
            return; // nothing to say to this protocol
        }
        self.seal_for(id); // gathered chat goes first
        if self.capturing == Some(id) {
            if let Some((_, replies)) = self.labeled.get_mut(&id) {
                replies.push(bytes);
                return;
            }
        }
        let (c, d) = (&mut self.counters, &mut self.dirty);
        deliver(outbox, bytes, 1, c, d, &mut self.doomed, id);
    }

    /// Sends one event to one member.
    fn tell(&mut self, id: ClientId, event: &Event<'_>) {
        let Some(m) = self.members.get(&id) else {
            return;
        };
        let bytes = m
            .proto
            .render(event, &m.view(&self.rooms, &self.settings.name));
        let outbox = m.outbox.clone();
        self.push(id, &outbox, bytes);
    }

    fn refuse(&mut self, id: ClientId, refusal: Refusal) {
        self.tell(id, &Event::Refused(&refusal));
    }

    /// Sends one event to each of `ids`, rendered once per protocol style.
    fn tell_all(&mut self, ids: &[ClientId], event: &Event<'_>) {
        let mut cache = RenderCache::default();
        for &id in ids {
            let Some(m) = self.members.get(&id) else {
                continue;
            };
            let bytes = cache.get(m, event, None, &self.rooms, &self.settings.name);
            let outbox = m.outbox.clone();
            self.push(id, &outbox, bytes);
        }
    }

    /// Delivers `event` to every member of room `key` except `except`. The one place rooms fan
    /// out (see the module documentation).
    fn fan_out(&mut self, key: &str, event: &Event<'_>, except: Option<ClientId>) {
        self.seal_batches(); // gathered chat goes first
        let Some(room) = self.rooms.get(key) else {
            return;
        };
        let mut cache = RenderCache::default();
        for &id in &room.members {
            if Some(id) == except {
                continue;
            }
            let Some(m) = self.members.get(&id) else {
                continue;
            };
            let bytes = cache.get(m, event, Some(key), &self.rooms, &self.settings.name);
            if bytes.is_empty() {
                continue;
            }
            if self.capturing == Some(id) {
                if let Some((_, replies)) = self.labeled.get_mut(&id) {
                    replies.push(bytes);
                    continue;
                }
            }
            // Not `self.push`: this loop is the hot path, and `room` borrows `self.rooms`.
            let (c, d) = (&mut self.counters, &mut self.dirty);
            deliver(&m.outbox, bytes, 1, c, d, &mut self.doomed, id);
        }
    }

    /// Pings IRC clients silent for `ping_interval`, and drops those still silent as long
    /// after their ping (the connection's reads stamp [`Outbox::heard`]).
    fn sweep_idle(&mut self) {
        let now = crate::outbox::clock_ms();
        let limit = self.settings.ping_interval.as_millis() as u64;
        let mut ping = Vec::new();
        let mut dead = Vec::new();
        for (&id, m) in self.members.iter_mut() {
            if m.proto != Protocol::Irc {
                continue;
            }
            let heard = m.outbox.last_heard();
            // `>=`: an answer within the millisecond of the ping counts (the ping was only sent
            // because nothing had been heard for `limit`, so nothing at `pinged_at` predates it).
            if m.pinged_at != 0 && heard >= m.pinged_at {
                m.pinged_at = 0; // it answered, or said something
            }
            if m.pinged_at == 0 {
                if now.saturating_sub(heard) >= limit {
                    m.pinged_at = now.max(1);
                    ping.push((id, m.outbox.clone()));
                }
            } else if now.saturating_sub(m.pinged_at) >= limit {
                dead.push(id);
            }
        }
        if ping.is_empty() && dead.is_empty() {
            return;
        }
        let line = Bytes::from(format!("PING :{}\r\n", self.settings.name));
        for (id, outbox) in ping {
            self.push(id, &outbox, line.clone());
        }
        if !dead.is_empty() {
            self.seal_batches(); // leaving changes who is in a room
        }
        for id in dead {
            self.command(id, Command::Quit(Some("Ping timeout".into())));
        }
    }

    /// Like [`Router::fan_out`], for chat: the event joins the room's batch, delivered at the
    /// next flush (see [`RoomBatch`]).
    fn fan_out_batched(&mut self, key: &str, event: &Event<'_>, except: Option<ClientId>) {
        if self.capturing.is_some() {
            // A labeled request gathers its own replies; keep that path simple.
            return self.fan_out(key, event, except);
        }
        let idx = match self.batch_of.get(key) {
            Some(&idx) if !self.batches_overlap || idx + 1 == self.batches.len() => idx,
            found => {
                if found.is_some() || self.batches_overlap {
                    // Chat moved between rooms that share a member: keep its order.
                    self.seal_batches();
                }
                let Some(room) = self.rooms.get(key) else {
                    return;
                };
                let mut batch = RoomBatch {
                    key: key.into(),
                    chunks: Default::default(),
                    starts: Default::default(),
                    viewers: [None; Protocol::STYLES],
                    marks: FxHashMap::default(),
                };
                for &id in &room.members {
                    if let Some(m) = self.members.get(&id) {
                        batch.viewers[m.style_in(key)].get_or_insert(id);
                        self.batches_overlap |= m.rooms.len() > 1;
                    }
                }
                self.batch_of.insert(key.into(), self.batches.len());
                self.batches.push(batch);
                self.batches.len() - 1
            }
        };
        let except_style = except
            .and_then(|e| self.members.get(&e))
            .map(|m| m.style_in(key));
        let batch = &mut self.batches[idx];
        for style in 0..Protocol::STYLES {
            let Some(viewer) = batch.viewers[style].and_then(|v| self.members.get(&v)) else {
                continue;
            };
            let bytes = viewer
                .proto
                .render(event, &viewer.view(&self.rooms, &self.settings.name));
            if bytes.is_empty() {
                continue;
            }
            let chunk = batch.chunks[style].get_or_insert_with(BytesMut::new);
            let start = chunk.len();
            chunk.extend_from_slice(&bytes);
            batch.starts[style].push(start);
            if let (Some(e), Some(s)) = (except, except_style) {
                if s == style {
                    let end = chunk.len();
                    batch.marks.entry(e).or_default().skips.push((start, end));
                }
            }
        }
    }

    /// Hands every gathered batch to its room's members.
    fn seal_batches(&mut self) {
        if self.batches.is_empty() {
            return;
        }
        self.batch_of.clear();
        self.batches_overlap = false;
        for batch in std::mem::take(&mut self.batches) {
            let Some(room) = self.rooms.get(&batch.key) else {
                continue;
            };
            let chunks = batch.chunks.map(|c| c.map(BytesMut::freeze));
            for &id in &room.members {
                let Some(m) = self.members.get(&id) else {
                    continue;
                };
                let style = m.style_in(&batch.key);
                let Some(all) = &chunks[style] else {
                    continue;
                };
                let starts = &batch.starts[style];
                let Some(mark) = batch.marks.get(&id) else {
                    let (c, d) = (&mut self.counters, &mut self.dirty);
                    deliver(
                        &m.outbox,
                        all.clone(),
                        starts.len(),
                        c,
                        d,
                        &mut self.doomed,
                        id,
                    );
                    continue;
                };
                let count = starts.len() - starts.partition_point(|&s| s < mark.from);
                self.counters.deliveries += (count - mark.skips.len()) as u64;
                for (a, b) in mark.pieces(all.len()) {
                    let (c, d) = (&mut self.counters, &mut self.dirty);
                    deliver(&m.outbox, all.slice(a..b), 0, c, d, &mut self.doomed, id);
                }
            }
        }
    }

    /// Before something is said to `id` alone: hands it what its rooms' open batches hold for
    /// it (a copy, as the batch is still growing), so it hears everything in order.
    fn seal_for(&mut self, id: ClientId) {
        if self.batches.is_empty() {
            return;
        }
        let Some(m) = self.members.get(&id) else {
            return;
        };
        for key in &m.rooms {
            let Some(&idx) = self.batch_of.get(key) else {
                continue;
            };
            let batch = &mut self.batches[idx];
            let style = m.style_in(key);
            let Some(chunk) = &batch.chunks[style] else {
                continue;
            };
            let starts = &batch.starts[style];
            let mark = batch.marks.entry(id).or_default();
            let count = starts.len() - starts.partition_point(|&s| s < mark.from);
            self.counters.deliveries += (count - mark.skips.len()) as u64;
            let end = chunk.len();
            for (a, b) in mark.pieces(end) {
                let bytes = Bytes::copy_from_slice(&chunk[a..b]);
                let (c, d) = (&mut self.counters, &mut self.dirty);
                deliver(&m.outbox, bytes, 0, c, d, &mut self.doomed, id);
            }
            mark.from = end;
            mark.skips.clear();
        }
    }

    /// Records that `id` just joined room `key`: of an open batch it gets only what follows.
    fn mark_joined(&mut self, id: ClientId, key: &str) {
        let Some(&idx) = self.batch_of.get(key) else {
            return;
        };
        let Some(m) = self.members.get(&id) else {
            return;
        };
        let batch = &mut self.batches[idx];
        let style = m.style_in(key);
        batch.viewers[style].get_or_insert(id);
        let from = batch.chunks[style].as_ref().map_or(0, BytesMut::len);
        batch.marks.entry(id).or_default().from = from;
        self.batches_overlap |= m.rooms.len() > 1;
    }

    fn operator(&mut self, line: &str) -> String {
        let line = line.trim();
        let Some(cmd) = line.strip_prefix('/') else {
            if line.is_empty() {
                return String::new();
            }
            let ids: Vec<ClientId> = self.members.keys().copied().collect();
            self.tell_all(&ids, &Event::ServerNotice(line));
            return format!("sent to {} clients", ids.len());
        };
        let (name, arg) = cmd.split_once(' ').unwrap_or((cmd, ""));
        let arg = arg.trim();
        match name {
            "stats" => {
                let c = self.counters;
                format!(
                    "clients={} rooms={} connects={} messages={} deliveries={} slow_consumers={} uptime={}s",
                    self.members.len(),
                    self.rooms.len(),
                    c.connects,
                    c.messages,
                    c.deliveries,
                    c.slow_consumers,
                    self.started.elapsed().as_secs()
                )
            }
            "rooms" => {
                let mut list: Vec<String> = self
                    .rooms
                    .values()
                    .map(|r| format!("{} ({})", r.name, r.members.len()))
                    .collect();
                list.sort();
                format!("{} rooms: {}", list.len(), list.join(", "))
            }
            "kick" => {
                let (nick, reason) = arg.split_once(' ').unwrap_or((arg, ""));
                let reason = if reason.trim().is_empty() {
                    "kicked by the operator".to_owned()
                } else {
                    format!("kicked by the operator: {}", reason.trim())
                };
                match self.nicks.get(&fold(nick)).copied() {
                    Some(id) if !nick.is_empty() => {
                        self.remove(id, &reason, Some(&reason));
                        format!("kicked {nick}")
                    }
                    _ => format!("no such nick: {nick}"),
                }
            }
            "help" => {
                "console: type text to send it to everyone; /stats, /rooms, /kick NICK [reason]"
                    .to_owned()
            }
            other => format!("unknown console command: /{other} (try /help)"),
        }
    }
}

impl Member {
    /// This member's rendering style for events of room `key`.
    fn style_in(&self, key: &str) -> usize {
        let in_current = self.proto == Protocol::Plain && self.current.as_deref() == Some(key);
        self.proto.style(in_current, self.caps)
    }

    fn view<'a>(&'a self, rooms: &'a HashMap<Name, Box<Room>>, server: &'a str) -> View<'a> {
        View {
            nick: &self.who.nick,
            current: self
                .current
                .as_ref()
                .and_then(|k| rooms.get(k))
                .map(|r| r.name.as_str()),
            caps: self.caps,
            server,
            user: &self.who.user,
            host: &self.who.host,
        }
    }
}

/// Queues `bytes` (holding `messages` deliveries) in `outbox`, member `id`'s: the one push of
/// every path, taking the router's fields one by one so hot loops can call it while they
/// borrow a room.
fn deliver(
    outbox: &Arc<Outbox>,
    bytes: Bytes,
    messages: usize,
    counters: &mut Counters,
    dirty: &mut Vec<Arc<Outbox>>,
    doomed: &mut Vec<ClientId>,
    id: ClientId,
) {
    match outbox.push_deferred(bytes) {
        Ok(became_busy) => {
            counters.deliveries += messages as u64;
            if became_busy {
                dirty.push(outbox.clone());
            }
        }
        Err(PushError::Full) => doomed.push(id),
        Err(PushError::Closed) => {}
    }
}

/// Renders an event at most once per protocol style during one fan-out.
#[derive(Default)]
struct RenderCache {
    /// Index: [`Protocol::style`].
    slots: [Option<Bytes>; Protocol::STYLES],
}

impl RenderCache {
    fn get(
        &mut self,
        m: &Member,
        event: &Event<'_>,
        room_key: Option<&str>,
        rooms: &HashMap<Name, Box<Room>>,
        server: &str,
    ) -> Bytes {
        let slot = match room_key {
            Some(key) => m.style_in(key),
            None => m.proto.style(false, m.caps),
        };
        self.slots[slot]
            .get_or_insert_with(|| m.proto.render(event, &m.view(rooms, server)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mark_pieces_cut_out_skips() {
        let pieces = |from, skips: &[(usize, usize)], end| {
            let mark = Mark {
                from,
                skips: skips.to_vec(),
            };
            mark.pieces(end).collect::<Vec<_>>()
        };
        assert_eq!(pieces(0, &[], 10), [(0, 10)]);
        assert_eq!(pieces(4, &[], 10), [(4, 10)]);
        assert_eq!(pieces(0, &[(0, 3)], 10), [(3, 10)]);
        assert_eq!(pieces(0, &[(2, 4), (6, 10)], 10), [(0, 2), (4, 6)]);
        assert_eq!(pieces(2, &[(2, 4), (4, 6)], 8), [(6, 8)]);
        assert!(pieces(10, &[], 10).is_empty());
    }
}
