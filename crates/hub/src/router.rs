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
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use obrol_wire::plain::{valid_nick, valid_room};
use tokio::sync::{mpsc, oneshot};

use crate::event::{Command, Event, Identity, Refusal};
use crate::outbox::{Outbox, PushError};
use crate::{Protocol, Settings};

/// Identifies one connection for its whole life (never reused).
pub type ClientId = u64;

/// What connections and the operator console ask of the router.
#[derive(Debug)]
pub enum Request {
    /// A connection finished its protocol handshake and wants in.
    Connect {
        id: ClientId,
        proto: Protocol,
        addr: SocketAddr,
        outbox: Arc<Outbox>,
        /// The nick the client asked for during its handshake, if any (IRC `NICK`).
        nick: Option<String>,
        /// IRC user name, if the protocol has one.
        user: Option<String>,
    },
    /// A command from a connected client.
    Command { id: ClientId, cmd: Command },
    /// The connection is gone (closed by the peer, an I/O error, or after the router closed it).
    Disconnect { id: ClientId, reason: String },
    /// A line typed on the operator console.
    Operator {
        line: String,
        reply: oneshot::Sender<String>,
    },
    /// Tell everyone the server is going away and close every connection.
    Shutdown,
}

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
    /// `who.nick` case-folded: the key in [`Router::nicks`].
    nick_key: String,
    proto: Protocol,
    outbox: Arc<Outbox>,
    /// Keys of the rooms this member is in, in join order.
    rooms: Vec<String>,
    /// Key of the room plain text goes to (plain clients): the most recently joined.
    current: Option<String>,
}

/// A room and its members.
#[derive(Debug)]
struct Room {
    /// The name as first spelled.
    name: String,
    /// Members in join order; a `Vec` because fan-out iterates it far more often than members
    /// come and go.
    members: Vec<ClientId>,
}

/// Case-folds a nick or room name (ASCII, as ISUPPORT `CASEMAPPING=ascii` says).
pub fn fold(name: &str) -> String {
    name.to_ascii_lowercase()
}

pub struct Router {
    settings: Arc<Settings>,
    members: HashMap<ClientId, Member>,
    /// Case-folded nick to its owner.
    nicks: HashMap<String, ClientId>,
    /// Case-folded room name to room.
    rooms: HashMap<String, Room>,
    /// Members whose outbox overflowed during the current request; removed after it.
    doomed: Vec<ClientId>,
    next_guest: u64,
    counters: Counters,
    started: Instant,
    /// Set by [`Request::Shutdown`]: late arrivals are turned away.
    shutting_down: bool,
}

impl Router {
    pub fn new(settings: Arc<Settings>) -> Self {
        Router {
            settings,
            members: HashMap::new(),
            nicks: HashMap::new(),
            rooms: HashMap::new(),
            doomed: Vec::new(),
            next_guest: 1,
            counters: Counters::default(),
            started: Instant::now(),
            shutting_down: false,
        }
    }

    /// Runs until every sender of `requests` is gone.
    pub async fn run(mut self, mut requests: mpsc::Receiver<Request>) {
        let mut batch = Vec::with_capacity(256);
        while requests.recv_many(&mut batch, 256).await > 0 {
            for req in batch.drain(..) {
                self.handle(req);
                self.bury_doomed();
            }
        }
    }

    fn handle(&mut self, req: Request) {
        match req {
            Request::Connect {
                id,
                proto,
                addr,
                outbox,
                nick,
                user,
            } => self.connect(id, proto, addr, outbox, nick, user),
            Request::Command { id, cmd } => self.command(id, cmd),
            Request::Disconnect { id, reason } => self.remove(id, &reason, None),
            Request::Operator { line, reply } => {
                let _ = reply.send(self.operator(&line));
            }
            Request::Shutdown => {
                // Everyone goes at once: no quit notices (that would be O(n^2) in a big room).
                self.shutting_down = true;
                for (_, m) in self.members.drain() {
                    let farewell = Event::Closing("server shutting down");
                    m.outbox.close(m.proto.render(&farewell, None));
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

    fn connect(
        &mut self,
        id: ClientId,
        proto: Protocol,
        addr: SocketAddr,
        outbox: Arc<Outbox>,
        nick: Option<String>,
        user: Option<String>,
    ) {
        if self.shutting_down {
            outbox.close(proto.render(&Event::Closing("server shutting down"), None));
            return;
        }
        let nick = match nick {
            Some(n) if valid_nick(&n) && !self.nicks.contains_key(&fold(&n)) => n,
            _ => self.guest_nick(),
        };
        let who = Identity {
            user: user.unwrap_or_else(|| nick.clone()),
            nick: nick.clone(),
            host: addr.ip().to_string(),
        };
        let nick_key = fold(&nick);
        self.nicks.insert(nick_key.clone(), id);
        self.members.insert(
            id,
            Member {
                who,
                nick_key,
                proto,
                outbox,
                rooms: Vec::new(),
                current: None,
            },
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
            },
        );
        self.join(id, &lobby);
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
                    if self
                        .members
                        .get(&id)
                        .is_some_and(|m| m.rooms.contains(&key))
                    {
                        self.say_in_room(id, &key, &text, action, notice);
                    } else if self.rooms.contains_key(&key) {
                        self.refuse(id, Refusal::NotInRoom(room.to_owned()));
                    } else {
                        self.refuse(id, Refusal::NoSuchRoom(room.to_owned()));
                    }
                } else {
                    self.say_privately(id, &target, &text, action, notice);
                }
            }
            Command::Nick(new) => self.rename(id, &new),
            Command::Join(room) => {
                if !valid_room(&room) {
                    self.refuse(id, Refusal::BadRoom(room));
                } else {
                    self.join(id, &room);
                }
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
                let mut list: Vec<(String, usize)> = self
                    .rooms
                    .values()
                    .map(|r| (r.name.clone(), r.members.len()))
                    .collect();
                list.sort();
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
                match self.rooms.get(&key) {
                    Some(r) => {
                        let name = r.name.clone();
                        let nicks = self.nicks_in(&key);
                        self.tell(
                            id,
                            &Event::Who {
                                room: &name,
                                nicks: &nicks,
                            },
                        );
                    }
                    None => self.refuse(id, Refusal::NoSuchRoom(key)),
                }
            }
            Command::Help => self.tell(id, &Event::Info(crate::plain::HELP)),
            Command::Quit(reason) => {
                let reason = reason.unwrap_or_else(|| "quit".into());
                self.remove(id, &reason, Some("bye"));
            }
        }
    }

    fn nicks_in(&self, key: &str) -> Vec<String> {
        self.rooms.get(key).map_or_else(Vec::new, |r| {
            r.members
                .iter()
                .filter_map(|m| self.members.get(m))
                .map(|m| m.who.nick.clone())
                .collect()
        })
    }

    fn say_in_room(&mut self, id: ClientId, key: &str, text: &str, action: bool, notice: bool) {
        let Some(from) = self.members.get(&id).map(|m| m.who.clone()) else {
            return;
        };
        let Some(name) = self.rooms.get(key).map(|r| r.name.clone()) else {
            return;
        };
        self.counters.messages += 1;
        self.fan_out(
            key,
            &Event::Chat {
                from: &from,
                room: Some(&name),
                text,
                action,
                notice,
            },
            Some(id),
        );
    }

    fn say_privately(&mut self, id: ClientId, to: &str, text: &str, action: bool, notice: bool) {
        let Some(&target) = self.nicks.get(&fold(to)) else {
            return self.refuse(id, Refusal::NoSuchNick(to.to_owned()));
        };
        let Some(from) = self.members.get(&id).map(|m| m.who.clone()) else {
            return;
        };
        self.counters.messages += 1;
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
            .map_or_else(|| to.to_owned(), |m| m.who.nick.clone());
        self.tell(
            id,
            &Event::SentPrivately {
                to: &to,
                text,
                action,
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
        let old_key = m.nick_key.clone();
        // Everyone who shares a room hears it once, and so does the member itself.
        let mut audience: Vec<ClientId> = vec![id];
        for key in &m.rooms {
            if let Some(room) = self.rooms.get(key) {
                audience.extend(&room.members);
            }
        }
        audience.sort_unstable();
        audience.dedup();
        self.nicks.remove(&old_key);
        self.nicks.insert(new_key.clone(), id);
        if let Some(m) = self.members.get_mut(&id) {
            m.who.nick = new.to_owned();
            m.nick_key = new_key;
        }
        self.tell_all(&audience, &Event::Renamed { who: &old, new });
    }

    fn join(&mut self, id: ClientId, room: &str) {
        let key = fold(room);
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        if m.rooms.contains(&key) {
            m.current = Some(key.clone());
            let name = self
                .rooms
                .get(&key)
                .map_or(room.to_owned(), |r| r.name.clone());
            return self.tell(id, &Event::Info(&format!("you are now talking in {name}")));
        }
        if m.rooms.len() >= self.settings.max_rooms_per_client {
            let max = self.settings.max_rooms_per_client;
            return self.refuse(id, Refusal::TooManyRooms(max));
        }
        m.rooms.push(key.clone());
        m.current = Some(key.clone());
        let who = m.who.clone();
        let room = self.rooms.entry(key.clone()).or_insert_with(|| Room {
            name: room.to_owned(),
            members: Vec::new(),
        });
        room.members.push(id);
        let name = room.name.clone();
        self.fan_out(
            &key,
            &Event::Joined {
                who: &who,
                room: &name,
            },
            None,
        );
        let nicks = self.nicks_in(&key);
        self.tell(
            id,
            &Event::Who {
                room: &name,
                nicks: &nicks,
            },
        );
    }

    fn part(&mut self, id: ClientId, key: &str, reason: Option<&str>) {
        let Some(m) = self.members.get(&id) else {
            return;
        };
        let Some(name) = self.rooms.get(key).map(|r| r.name.clone()) else {
            return self.refuse(id, Refusal::NoSuchRoom(key.to_owned()));
        };
        if !m.rooms.iter().any(|r| r == key) {
            return self.refuse(id, Refusal::NotInRoom(name));
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
            room.members.retain(|&m| m != id);
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
        self.nicks.remove(&m.nick_key);
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
            m.outbox
                .close(m.proto.render(&Event::Closing(farewell), None));
        }
    }

    fn bury_doomed(&mut self) {
        while let Some(id) = self.doomed.pop() {
            if self.members.contains_key(&id) {
                self.counters.slow_consumers += 1;
                tracing::info!(client = id, "disconnecting slow consumer");
                let reason = "slow consumer: too much unread output";
                self.remove(id, reason, Some(reason));
            }
        }
    }

    fn push(&mut self, id: ClientId, outbox: &Outbox, bytes: Bytes) {
        match outbox.push(bytes) {
            Ok(()) => self.counters.deliveries += 1,
            Err(PushError::Full) => self.doomed.push(id),
            Err(PushError::Closed) => {}
        }
    }

    /// Sends one event to one member.
    fn tell(&mut self, id: ClientId, event: &Event<'_>) {
        let Some(m) = self.members.get(&id) else {
            return;
        };
        let bytes = m.proto.render(event, m.current_name(&self.rooms));
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
            let bytes = cache.get(m, event, None, &self.rooms);
            match m.outbox.push(bytes) {
                Ok(()) => self.counters.deliveries += 1,
                Err(PushError::Full) => self.doomed.push(id),
                Err(PushError::Closed) => {}
            }
        }
    }

    /// Delivers `event` to every member of room `key` except `except`. The one place rooms fan
    /// out (see the module documentation).
    fn fan_out(&mut self, key: &str, event: &Event<'_>, except: Option<ClientId>) {
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
            let bytes = cache.get(m, event, Some(key), &self.rooms);
            match m.outbox.push(bytes) {
                Ok(()) => self.counters.deliveries += 1,
                Err(PushError::Full) => self.doomed.push(id),
                Err(PushError::Closed) => {}
            }
        }
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
    fn current_name<'r>(&self, rooms: &'r HashMap<String, Room>) -> Option<&'r str> {
        self.current
            .as_ref()
            .and_then(|k| rooms.get(k))
            .map(|r| r.name.as_str())
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
        rooms: &HashMap<String, Room>,
    ) -> Bytes {
        let in_current = room_key.is_some() && m.current.as_deref() == room_key;
        let slot = m.proto.style(in_current);
        self.slots[slot]
            .get_or_insert_with(|| m.proto.render(event, m.current_name(rooms)))
            .clone()
    }
}
