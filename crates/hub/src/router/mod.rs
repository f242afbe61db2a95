//! The router: the one task that owns every room, member and nick.
//!
//! Connections talk to it only through a bounded channel of [`Request`]s and hear back only
//! through their [`Outbox`]. Because it alone owns the state there are no locks around rooms and
//! no lock is ever held across a fan-out.
//!
//! Split by concern: what each command does ([`commands`]), rooms as members see them
//! ([`channels`]), the one path by which anything reaches clients and the rounds in which
//! writers are woken ([`deliver`]), the idle sweep ([`sweep`]) and the operator console
//! ([`console`]). The rules (names, rooms, modes, WHOWAS) live in [`crate::domain`]; wire syntax
//! lives in [`crate::proto`] only.
//!
//! [`Router::emit`] is the seam: every event for clients passes through it, so message history
//! records there and a backplane (rooms shared by several hub nodes through a broker) publishes
//! what local members say there and injects what remote members said.

mod channels;
mod commands;
mod console;
mod deliver;
mod history;
mod listing;
mod services;
mod sweep;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use tokio::sync::{mpsc, oneshot};

use crate::api::{ClientId, Newcomer, Request};
use crate::domain::names::{nick_allowed, Name};
use crate::domain::nicks::Nicks;
use crate::domain::room::Room;
use crate::domain::unix_now;
use crate::domain::whowas::Whowas;
use crate::event::{Census, Event, Identity, Refusal};
use crate::outbox::Outbox;
use crate::proto::{Protocol, View};
use crate::Settings;
pub use deliver::Gate;
use deliver::{Audience, Chain, Turn};

/// Cheap counters for `/stats`.
#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    connects: u64,
    messages: u64,
    deliveries: u64,
    slow_consumers: u64,
    /// Of the slow consumers, those cut because all queues together passed the budget.
    shed: u64,
    /// Failed OPER attempts.
    oper_failures: u64,
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
    /// The away message (boxed: two words, not three, in every member).
    away: Option<Box<str>>,
    /// User mode `+i`.
    invisible: bool,
    /// Unix seconds at registration (32 bits last until 2106, and pack with the flags).
    signon: u32,
    /// Last time the member said something, for WHOIS idle time.
    last_spoke: Instant,
    /// Server operator (after `OPER`): user mode `+o`.
    oper: bool,
    /// When the idle sweep pinged this member ([`crate::outbox::clock_ms`]), 0 if it has
    /// not, or the member has spoken since.
    pinged_at: u64,
    /// User mode `+w`: receives WALLOPS.
    wallops: bool,
    /// A multicast bridge's member: has a bridge nick (and may rename to bridge nicks only).
    bridged: bool,
    /// When a member using a registered nick without being logged in to it is renamed, in
    /// seconds of [`crate::outbox::clock_ms`]; 0 if it is not.
    rename_at: u32,
    /// What this turn holds for the member (see [`deliver`]).
    chain: Chain,
}

pub struct Router {
    settings: Arc<Settings>,
    /// Boxed, so the table's spare capacity (up to half of it) costs a pointer per slot rather
    /// than a whole member; keyed by server-assigned ids, so the fast non-keyed hash is safe.
    members: FxHashMap<ClientId, Box<Member>>,
    /// Who owns which nick.
    nicks: Nicks,
    /// Case-folded room name to room.
    /// Boxed for the same reason as `members`.
    rooms: HashMap<Name, Box<Room>>,
    /// Members whose outbox overflowed during the current request; removed after it.
    doomed: Vec<ClientId>,
    /// Output gathered in this turn, and the writers waiting for the next round.
    turn: Turn,
    /// The running round of writer wake-ups (shared with every outbox).
    gate: Arc<Gate>,
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
    /// Messages given an id so far.
    msgids: u64,
    /// This hub's start, in microseconds since 1970 and base 36: the first half of each msgid.
    epoch: String,
    /// Members with user mode `+i` (LUSERS reports them).
    invisible_count: usize,
    /// One permit per open connection (see [`Router::permits`]).
    permits: Arc<tokio::sync::Semaphore>,
    /// Accept loops holding a permit while they wait (see [`Router::accepting`]).
    accepting: Arc<std::sync::atomic::AtomicUsize>,
    /// Slow-consumer log lines, at most one a second.
    slow_log: crate::limits::LogGate,
    /// Failed authentication log lines, at most one a second.
    auth_log: crate::limits::LogGate,
    /// Room lists being sent a page at a time (see [`listing`]).
    listings: FxHashMap<ClientId, listing::Listing>,
    /// The edge's counters, which `/stats` and the metrics endpoint show with the router's.
    metrics: Arc<crate::metrics::Metrics>,
    /// Registered accounts, when the hub has a store.
    accounts: Option<Arc<crate::accounts::Accounts>>,
    /// Registered rooms, by folded name (see [`services`]).
    registered: FxHashMap<Name, services::Registered>,
    /// The history store, if the hub keeps history, and what this turn adds to it (written
    /// before the turn's output reaches anyone: see [`history`]).
    history: Option<Arc<obrol_store::history::History>>,
    unwritten: Vec<obrol_store::history::Event>,
    unwritten_parties: Vec<obrol_store::history::Party>,
    /// The latest messages of rooms replayed lately, by conversation (see [`history`]).
    replay_cache: FxHashMap<String, history::Latest>,
    history_log: crate::limits::LogGate,
    /// History transactions written, their total and longest time (µs), for `/stats`.
    history_timing: (u64, u64, u64),
}

impl Router {
    pub fn new(settings: Arc<Settings>) -> Self {
        let permits = Arc::new(tokio::sync::Semaphore::new(settings.max_clients));
        let gate = Arc::new(Gate::default());
        gate.set_budget(settings.max_queued_total);
        Router {
            settings,
            members: FxHashMap::default(),
            nicks: Nicks::default(),
            rooms: HashMap::new(),
            doomed: Vec::new(),
            turn: Turn::default(),
            gate,
            counters: Counters::default(),
            started: Instant::now(),
            shutting_down: false,
            whowas: Whowas::default(),
            labeled: FxHashMap::default(),
            capturing: None,
            oper_count: 0,
            invisible_count: 0,
            msgids: 0,
            epoch: base36(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_micros() as u64),
            ),
            permits,
            accepting: Arc::default(),
            slow_log: crate::limits::LogGate::new(std::time::Duration::from_secs(1)),
            auth_log: crate::limits::LogGate::new(std::time::Duration::from_secs(1)),
            listings: FxHashMap::default(),
            metrics: Arc::default(),
            accounts: None,
            registered: FxHashMap::default(),
            history: None,
            unwritten: Vec::new(),
            unwritten_parties: Vec::new(),
            replay_cache: FxHashMap::default(),
            history_log: crate::limits::LogGate::new(std::time::Duration::from_secs(10)),
            history_timing: (0, 0, 0),
        }
    }

    /// The round of writer wake-ups, which every outbox must know (see [`deliver`]).
    pub fn gate(&self) -> Arc<Gate> {
        self.gate.clone()
    }

    /// Runs until every sender of `requests` is gone.
    ///
    /// Each turn handles what has arrived (up to 256 requests), then moves the output into the
    /// outboxes and wakes writers in rounds (see [`deliver`]).
    pub async fn run(mut self, mut requests: mpsc::Receiver<Request>) {
        let mut batch = Vec::with_capacity(256);
        // One sweep for all clients' ping timeouts instead of a timer in every connection.
        let period = (self.settings.ping_interval / 4).clamp(
            std::time::Duration::from_millis(50),
            std::time::Duration::from_secs(1),
        );
        let mut sweep = tokio::time::interval(period);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let gate = self.gate.clone();
        // While room lists are being sent, a short tick looks for requesters that have read
        // their last page even when nothing else happens.
        let mut listing_tick = tokio::time::interval(std::time::Duration::from_millis(10));
        listing_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let waiting = self.waiting_for_round();
            let overdue_at = self.round_deadline();
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
                _ = gate.finished(), if waiting => {}
                _ = tokio::time::sleep_until(overdue_at.unwrap_or_else(tokio::time::Instant::now)), if overdue_at.is_some() => {}
                _ = sweep.tick() => {
                    self.sweep_idle();
                    self.bury_doomed();
                }
                _ = listing_tick.tick(), if !self.listings.is_empty() => {}
            }
            self.flush_urgent();
            // After the flush: a requester's backlog then counts the page it was just sent.
            if self.continue_listings() {
                self.flush_urgent();
            }
            if self.turn_due() {
                self.finish_turn();
            }
            self.bury_doomed();
        }
        self.finish_turn();
    }

    /// Ends the turn, and buries the slow consumers that moving its output found: what that
    /// tells the others (their quits) goes out now, not with the next turn. That may find more.
    fn finish_turn(&mut self) {
        self.end_turn();
        self.shed();
        while !self.doomed.is_empty() {
            self.bury_doomed();
            self.end_turn();
        }
    }

    fn handle(&mut self, req: Request) {
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
            Request::Deliver { id, bytes } => self.push(id, bytes, 0, true),
            Request::Disconnect { id, reason } => self.remove(id, &reason, None),
            // The client said all it will: it leaves now (others hear it quit), and its outbox
            // closes after what is queued, the answers to its last requests among them.
            Request::InputClosed { id } => self.remove(id, "connection closed", Some("")),
            Request::Operator { line, reply } => {
                let _ = reply.send(self.operator(&line));
            }
            Request::HistoryAccess { id, target, reply } => {
                let _ = reply.send(self.history_access(id, target.as_deref()));
            }
            Request::Metrics { reply } => {
                let _ = reply.send(self.metrics.prometheus(&self.figures()));
            }
            Request::Shutdown => {
                // Everyone goes at once: no quit notices (that would be O(n^2) in a big room).
                self.shutting_down = true;
                self.end_turn();
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
            .filter(|n| nick_allowed(n, new.bridged) && !self.nicks.is_taken(n));
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
            (None, None) => self.nicks.guest(),
        };
        let new_account_missing = new.account.is_none();
        let who = Identity {
            user: new.user.as_deref().unwrap_or(&nick).into(),
            nick: nick.as_str().into(),
            host: new.addr.ip().to_string().into(),
            account: new.account.map(String::into_boxed_str),
        };
        self.nicks.claim(&nick, id);
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
                signon: unix_now() as u32,
                last_spoke: Instant::now(),
                oper: false,
                wallops: false,
                bridged: new.bridged,
                pinged_at: 0,
                rename_at: 0,
                chain: Chain::default(),
            }),
        );
        self.counters.connects += 1;
        let lobby = self.settings.default_room.clone();
        let motd = self.settings.motd.clone();
        let waiting = self.settings.accounts_required && new_account_missing;
        self.tell(
            id,
            &Event::Welcome {
                motd: &motd,
                nick: &nick,
                room: if waiting { "" } else { &lobby },
                census: self.census(),
                history: self.history.is_some(),
            },
        );
        // IRC clients choose their own channels; plain clients start in the lobby.
        if new.proto.starts_in_default_room() {
            if waiting {
                // Into the lobby once logged in (see `logged_in`).
                self.refuse(id, Refusal::AccountRequired);
            } else {
                self.join(id, &lobby, None);
            }
        }
        self.check_registered_nick(id);
    }

    /// Removes a member: tells those who shared a room, frees its nick, and (when the router
    /// initiates it) closes its connection with `farewell`.
    fn remove(&mut self, id: ClientId, reason: &str, farewell: Option<&str>) {
        // What this turn holds for it goes out before any farewell.
        self.settle(id);
        let Some(m) = self.members.remove(&id) else {
            return;
        };
        self.oper_count -= usize::from(m.oper);
        self.invisible_count -= usize::from(m.invisible);
        self.nicks.release(&m.who.nick);
        self.whowas.remember(&m.who, &m.realname);
        let mut audience = Vec::new();
        let msgid = self.shared_msgid();
        for key in &m.rooms {
            if let Some(id) = &msgid {
                self.note_as(
                    key,
                    obrol_store::history::Kind::Quit,
                    &m.who,
                    reason,
                    id.clone(),
                );
            }
            self.leave_room(id, key);
            if let Some(room) = self.rooms.get(key) {
                audience.extend(&room.members);
            }
        }
        audience.sort_unstable();
        audience.dedup();
        self.emit_each(
            &audience,
            &Event::Quit {
                who: &m.who,
                reason,
                msgid: msgid.as_deref(),
            },
        );
        match farewell {
            Some("") => m.outbox.close(Bytes::new()),
            Some(farewell) => m.outbox.close(
                m.proto
                    .render(&Event::Closing(farewell), &View::anonymous()),
            ),
            None => {}
        }
    }

    /// Sends the replies gathered for a labeled request, labeled as its protocol does it.
    fn send_labeled(&mut self, id: ClientId, label: &str, replies: Vec<Bytes>) {
        let Some(m) = self.members.get(&id) else {
            return;
        };
        let out = m
            .proto
            .labeled(label, &replies, m.caps, &self.settings.name, id);
        self.push(id, out, 0, true);
    }

    /// Past the overall budget for queued output, cuts clients with backlogs until the total
    /// is back under three quarters of it: those that have not read for longest first (a
    /// client that stopped reading has waited since then; one that reads slowly only briefly),
    /// then the largest.
    fn shed(&mut self) {
        let over = self.gate.over_budget(0);
        if over == 0 {
            return;
        }
        let budget = self.gate.queued() - over;
        let mut excess = self.gate.queued().saturating_sub(budget / 4 * 3);
        let mut backlogs: Vec<(u64, usize, ClientId)> = self
            .members
            .iter()
            .filter_map(|(&id, m)| {
                let (bytes, waiting_ms) = m.outbox.backlog();
                // Waits compared in 100 ms steps, so that among clients that all stopped
                // reading the largest backlog goes first.
                (bytes > crate::outbox::SHED_FLOOR).then_some((waiting_ms / 100, bytes, id))
            })
            .collect();
        backlogs.sort_unstable_by(|a, b| b.cmp(a));
        for (_, bytes, id) in backlogs {
            if excess == 0 {
                break;
            }
            excess = excess.saturating_sub(bytes);
            self.counters.shed += 1;
            self.doomed.push(id);
        }
    }

    fn bury_doomed(&mut self) {
        while let Some(id) = self.doomed.pop() {
            if self.members.contains_key(&id) {
                self.counters.slow_consumers += 1;
                // Rate-limited: a crowd of clients that stop reading must not flood the log.
                if let Some(held) = self.slow_log.pass() {
                    tracing::info!(
                        client = id,
                        "disconnecting slow consumer ({held} more since the last report)"
                    );
                }
                let reason = "slow consumer: too much unread output";
                if let Some(m) = self.members.get(&id) {
                    m.outbox.abort();
                }
                self.remove(id, reason, None);
            }
        }
    }

    /// Sends one event to one member.
    fn tell(&mut self, id: ClientId, event: &Event<'_>) {
        let Some(m) = self.members.get(&id) else {
            return;
        };
        let _ = m;
        self.emit(Audience::One(id), event);
    }

    fn refuse(&mut self, id: ClientId, refusal: Refusal) {
        self.tell(id, &Event::Refused(&refusal));
    }

    /// Whether `id` is in the room with key `key`.
    fn is_member(&self, id: ClientId, key: &str) -> bool {
        self.members
            .get(&id)
            .is_some_and(|m| m.rooms.iter().any(|r| r == key))
    }

    /// How many of what the hub has, as LUSERS tells it.
    fn census(&self) -> Census {
        let connections = self
            .settings
            .max_clients
            .saturating_sub(self.permits.available_permits())
            .saturating_sub(self.accepting.load(std::sync::atomic::Ordering::Relaxed));
        Census {
            users: self.members.len(),
            invisible: self.invisible_count,
            unknown: connections.saturating_sub(self.members.len()),
            rooms: self.rooms.len(),
            opers: self.oper_count,
        }
    }

    /// Keep history (see [`history`]).
    pub fn set_history(&mut self, history: Arc<obrol_store::history::History>) {
        self.history = Some(history);
    }

    /// Protect registered nicks (see `commands::check_registered_nick`).
    pub fn set_accounts(&mut self, accounts: Arc<crate::accounts::Accounts>) {
        self.registered = accounts
            .rooms()
            .iter()
            .map(|r| {
                (
                    crate::domain::names::fold(&r.name),
                    services::Registered::from_record(r),
                )
            })
            .collect();
        self.accounts = Some(accounts);
    }

    /// The edge's counters (every connection bumps them).
    pub fn metrics(&self) -> Arc<crate::metrics::Metrics> {
        self.metrics.clone()
    }

    /// The router's figures, for `/stats` and the metrics endpoint.
    pub(super) fn figures(&self) -> crate::metrics::RouterFigures {
        let c = self.counters;
        let census = self.census();
        crate::metrics::RouterFigures {
            connections_open: (census.users + census.unknown) as u64,
            clients: self.members.len() as u64,
            rooms: self.rooms.len() as u64,
            connects: c.connects,
            messages: c.messages,
            deliveries: c.deliveries,
            slow_consumers: c.slow_consumers,
            shed: c.shed,
            oper_failures: c.oper_failures,
            queued_bytes: self.gate.queued() as u64,
            uptime_secs: self.started.elapsed().as_secs(),
            history_bytes: self.history.as_ref().map_or(0, |h| h.size_bytes()),
            history_writes: self.history_timing.0,
            history_write_us: self.history_timing.1,
            history_write_us_max: self.history_timing.2,
        }
    }

    /// The connection permits: the accept loops take one per connection (before accepting),
    /// and the router counts open connections, registered or not, from what is taken.
    pub fn permits(&self) -> Arc<tokio::sync::Semaphore> {
        self.permits.clone()
    }

    /// How many accept loops hold a permit while they wait for a connection: not connections.
    pub fn accepting(&self) -> Arc<std::sync::atomic::AtomicUsize> {
        self.accepting.clone()
    }

    /// The keys of the rooms `id` is in (a copy: the caller changes them).
    fn rooms_of(&self, id: ClientId) -> SmallVec<[Name; 1]> {
        self.members
            .get(&id)
            .map(|m| m.rooms.clone())
            .unwrap_or_default()
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

    /// Delivers a message to `id` as something someone sent it, not as a reply to whatever it
    /// asked: outside any labeled-response scope, even when `id` sent it itself.
    fn deliver_to(&mut self, id: ClientId, event: &Event<'_>) {
        let capturing = self.capturing.take();
        self.emit(Audience::One(id), event);
        self.capturing = capturing;
    }

    /// A new message id, unique on the network (IRCv3 `msgid`): this hub's start time and a
    /// counter.
    fn next_msgid(&mut self) -> String {
        self.msgids += 1;
        format!("{}-{}", self.epoch, self.msgids)
    }

    /// Sends one event to each of `ids` (see [`Router::emit`]).
    fn emit_each(&mut self, ids: &[ClientId], event: &Event<'_>) {
        self.emit(Audience::Each(ids), event);
    }

    /// Sends one event to the members of room `key` but `except` (see [`Router::emit`]).
    fn emit_room_event(&mut self, key: &str, event: &Event<'_>, except: Option<ClientId>) {
        self.emit(Audience::Room { key, except }, event);
    }
}

impl Member {
    fn view<'a>(&'a self, rooms: &'a HashMap<Name, Box<Room>>, settings: &'a Settings) -> View<'a> {
        View {
            nick: &self.who.nick,
            current: self
                .current
                .as_ref()
                .and_then(|k| rooms.get(k))
                .map(|r| r.name.as_str()),
            caps: self.caps,
            server: &settings.name,
            info: &settings.description,
            user: &self.who.user,
            host: &self.who.host,
        }
    }
}

/// `n` in base 36 (digits and lower-case letters).
fn base36(mut n: u64) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

#[cfg(test)]
mod size_tests {
    /// Every registered client has a `Member` (boxed): keep an eye on its size.
    #[test]
    fn a_member_stays_small() {
        let size = std::mem::size_of::<super::Member>();
        println!(
            "Member: {size} bytes, Identity: {} bytes",
            std::mem::size_of::<crate::event::Identity>()
        );
        assert!(size <= 248, "Member is {size} bytes");
    }
}
