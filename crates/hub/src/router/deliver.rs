//! How everything reaches clients: one emit path, gathered per router turn, written in rounds.
//!
//! Every event the router tells anyone (room chat, joins, parts, quits, renames, topics, modes,
//! private messages, replies) goes through [`Router::emit`]: that is where history and a
//! backplane hook in. An event is rendered at most once per protocol style; an event for a room
//! is appended to that room's buffer for this turn (one per style), and each recipient gets a
//! *piece* (a range of that buffer) appended to its own chain. Consecutive pieces of the same
//! buffer merge, so a member of one busy room gets one slice per turn however many messages the
//! room had. A recipient's chain holds everything for it in the order it was emitted, whatever
//! room it came from: ordering needs no rule of its own.
//!
//! At the end of a turn (a batch of requests) each chain moves into its client's [`Outbox`]
//! under one lock: the router takes no lock per message. Writers are woken in *rounds*
//! ([`Gate`]): a client whose outbox became non-empty is woken at once if no round is running,
//! and otherwise when the running round has finished (every writer it woke has taken its
//! queue), or when it has run for `Settings::round_limit`. Idle, a message goes out at once;
//! busy, a round lasts as long as the core needs to write everyone once, and each write carries
//! everything that arrived meanwhile: batching follows the load, and the core never idles while
//! queues grow.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use rustc_hash::FxHashMap;
use tokio::sync::Notify;

use super::{Member, Router};
use crate::api::ClientId;
use crate::event::Event;
use crate::outbox::{Outbox, PushError};
use crate::proto::Protocol;

/// Who an event is for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Audience<'a> {
    One(ClientId),
    /// Each of these once (the caller deduplicated them).
    Each(&'a [ClientId]),
    /// Every member of the room with this key, but `except`.
    Room {
        key: &'a str,
        except: Option<ClientId>,
    },
}

/// Tracks one round of writer wake-ups (see the module documentation). Shared by the router
/// and every outbox.
///
/// One atomic word holds the round's number (high 32 bits) and how many writers it still
/// waits for (low 32 bits). A round that ran past the limit is left behind: the next one has a
/// new number, so a writer that takes late (or never) counts against no later round.
#[derive(Debug, Default)]
pub struct Gate {
    state: AtomicU64,
    /// Told when the running round has nobody left to wait for.
    done: Notify,
    /// Unread output bytes queued in all outboxes together. Kept here because every outbox
    /// already holds the gate: the overall budget costs no pointer per client.
    queued: AtomicUsize,
    /// Most bytes `queued` may reach (0: no budget; see [`Gate::over_budget`]).
    budget: AtomicUsize,
}

const COUNT: u64 = 0xffff_ffff;

impl Gate {
    /// Sets the overall budget for queued output (0: none).
    pub fn set_budget(&self, bytes: usize) {
        self.budget.store(bytes, Ordering::Relaxed);
    }

    /// Unread output bytes queued in all outboxes, now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// How far `more` bytes would take the queued total past the budget (0: within it).
    pub(crate) fn over_budget(&self, more: usize) -> usize {
        let budget = self.budget.load(Ordering::Relaxed);
        if budget == 0 {
            return 0;
        }
        (self.queued() + more).saturating_sub(budget)
    }

    /// Whether `more` bytes would take the queued total past twice the budget.
    pub(crate) fn far_over_budget(&self, more: usize) -> bool {
        let budget = self.budget.load(Ordering::Relaxed);
        budget != 0 && self.queued() + more > budget.saturating_mul(2)
    }

    pub(crate) fn count_queued(&self, bytes: usize) {
        self.queued.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn count_unqueued(&self, bytes: usize) {
        if bytes > 0 {
            self.queued.fetch_sub(bytes, Ordering::Relaxed);
        }
    }

    /// The running round's number (never 0 once a round has started).
    pub(crate) fn round(&self) -> u32 {
        (self.state.load(Ordering::Acquire) >> 32) as u32
    }

    /// A writer woken in round `round` took its queue (or is gone, or blocked). Ignored if that
    /// round has been left behind.
    pub fn finish(&self, round: u32) {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if (state >> 32) as u32 != round || state & COUNT == 0 {
                return;
            }
            match self.state.compare_exchange_weak(
                state,
                state - 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        if state & COUNT == 1 {
            self.done.notify_one();
        }
    }

    /// Counts one more writer in round `round`, if it is still the running one.
    fn add(&self, round: u32) {
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| {
                ((state >> 32) as u32 == round).then_some(state + 1)
            });
    }

    /// Starts a new round, leaving any unfinished one behind; it holds itself open (count 1)
    /// until [`Gate::finish`] is called for it once more than the writers it wakes.
    fn start(&self) -> u32 {
        let round = self.round().wrapping_add(1).max(1);
        self.state
            .store((u64::from(round) << 32) | 1, Ordering::Release);
        round
    }

    pub(crate) fn running(&self) -> bool {
        self.state.load(Ordering::Acquire) & COUNT > 0
    }

    pub(crate) async fn finished(&self) {
        self.done.notified().await;
    }
}

/// Pieces up to this size are copied together when a member has several (see
/// [`Router::end_turn`]); larger ones (member lists, long replies) travel as they are.
const COPY_MAX: usize = 2048;

/// Longest a turn gathers while a round runs: writers still to take in the running round
/// then get what arrived meanwhile (measured: see bench/RESULTS.md).
const TURN_MAX: std::time::Duration = std::time::Duration::from_millis(5);

/// No entry (end of a chain).
const NONE: u32 = u32::MAX;

/// What is queued for one recipient: a range of a room buffer, or bytes of its own.
#[derive(Debug)]
enum Piece {
    Chunk { chunk: u32, start: u32, end: u32 },
    Own(Bytes),
}

#[derive(Debug)]
struct Entry {
    piece: Piece,
    next: u32,
}

/// Output gathered during one router turn.
#[derive(Default)]
pub(super) struct Turn {
    /// Every recipient's pieces, chained per recipient through `next` (head and tail are in
    /// the member: [`Chain`]).
    entries: Vec<Entry>,
    /// Room buffers of this turn, one per room and style that had events.
    chunks: Vec<BytesMut>,
    /// Which chunk holds a room's events in a style: keyed by the room's address (stable while
    /// the room exists; a room freed and another made at the same address within one turn
    /// would only share a buffer, which holds bytes, not meaning).
    chunk_of: FxHashMap<(usize, u8), u32>,
    /// Recipients with a chain this turn, in the order they were first given something.
    dirty: Vec<ClientId>,
    /// When the turn's first piece was gathered.
    started: Option<tokio::time::Instant>,
    /// Members with a reply this turn (see [`Chain::urgent`]).
    urgent: Vec<ClientId>,
    /// Outboxes that became non-empty and whose writers wait for the next round.
    next_round: Vec<Arc<Outbox>>,
    /// When the running round started.
    round_started: Option<tokio::time::Instant>,
}

/// A member's chain of pieces in the current turn.
#[derive(Debug, Clone, Copy)]
pub(super) struct Chain {
    head: u32,
    tail: u32,
    /// Holds a reply to something this member asked (or a message only for it): its writer
    /// is woken at the end of the turn, not held for the next round. Bulk fan-out waits for
    /// rounds; answers do not wait behind it (a joiner's member list during a join storm, a
    /// welcome during a registration storm).
    urgent: bool,
}

impl Default for Chain {
    fn default() -> Self {
        Chain {
            head: NONE,
            tail: NONE,
            urgent: false,
        }
    }
}

impl Turn {
    /// Appends `piece` to `m`'s chain, merging it with the previous piece when they are
    /// adjacent ranges of one buffer. Returns true if `m` had nothing this turn.
    fn append(&mut self, m: &mut Member, piece: Piece) -> bool {
        if m.chain.tail != NONE {
            let tail = &mut self.entries[m.chain.tail as usize];
            if let (
                Piece::Chunk { chunk, end, .. },
                Piece::Chunk {
                    chunk: c,
                    start: s,
                    end: e,
                },
            ) = (&mut tail.piece, &piece)
            {
                if *chunk == *c && *end == *s {
                    *end = *e;
                    return false;
                }
            }
        }
        let at = self.entries.len() as u32;
        if at == 0 {
            self.started = Some(tokio::time::Instant::now());
        }
        self.entries.push(Entry { piece, next: NONE });
        if m.chain.tail == NONE {
            m.chain.head = at;
            m.chain.tail = at;
            true
        } else {
            self.entries[m.chain.tail as usize].next = at;
            m.chain.tail = at;
            false
        }
    }

    /// The buffer for `room`'s events in `style` this turn.
    fn chunk(&mut self, room: usize, style: usize) -> u32 {
        let next = self.chunks.len() as u32;
        let idx = *self.chunk_of.entry((room, style as u8)).or_insert(next);
        if idx == next {
            self.chunks.push(BytesMut::new());
        }
        idx
    }
}

/// Renders an event at most once per protocol style during one emit.
#[derive(Default)]
struct Rendered {
    /// Index: [`Protocol::style`]. For a room event, the chunk range; otherwise the bytes.
    ranges: [Option<(u32, u32, u32)>; Protocol::STYLES],
    own: [Option<Bytes>; Protocol::STYLES],
}

impl Router {
    /// Tells `to` about `event`: the one path every event takes to clients.
    pub(crate) fn emit(&mut self, to: Audience<'_>, event: &Event<'_>) {
        match to {
            Audience::One(id) => {
                let mut cache = Rendered::default();
                self.emit_cached(id, event, &mut cache, true);
            }
            Audience::Each(ids) => {
                let mut cache = Rendered::default();
                for &id in ids {
                    self.emit_cached(id, event, &mut cache, false);
                }
            }
            Audience::Room { key, except } => self.emit_room(key, except, event),
        }
    }

    /// Renders (or reuses the rendering of) `event` for `id`'s style and queues it.
    fn emit_cached(&mut self, id: ClientId, event: &Event<'_>, cache: &mut Rendered, urgent: bool) {
        let Some(m) = self.members.get(&id) else {
            return;
        };
        let style = m.proto.style(false, m.caps);
        let bytes = cache.own[style]
            .get_or_insert_with(|| m.proto.render(event, &m.view(&self.rooms, &self.settings)))
            .clone();
        self.push(id, bytes, 1, urgent);
    }

    /// Room events: rendered once per style into the room's buffer for this turn.
    fn emit_room(&mut self, key: &str, except: Option<ClientId>, event: &Event<'_>) {
        let Some(room) = self.rooms.get(key) else {
            return;
        };
        let room_addr = &**room as *const _ as usize;
        let mut cache = Rendered::default();
        let mut added = 0u64;
        for &id in &room.members {
            if Some(id) == except {
                continue;
            }
            let Some(m) = self.members.get_mut(&id) else {
                continue;
            };
            if self.capturing == Some(id) {
                // A labeled request gathers its own replies as bytes (see `labeled`).
                let bytes = m.proto.render(event, &m.view(&self.rooms, &self.settings));
                if let Some((_, replies)) = self.labeled.get_mut(&id) {
                    replies.push(bytes);
                    added += 1;
                }
                continue;
            }
            let style = m.style_in(key);
            let (chunk, start, end) = match cache.ranges[style] {
                Some(r) => r,
                None => {
                    let bytes = m.proto.render(event, &m.view(&self.rooms, &self.settings));
                    let chunk = self.turn.chunk(room_addr, style);
                    let buf = &mut self.turn.chunks[chunk as usize];
                    let start = buf.len() as u32;
                    buf.extend_from_slice(&bytes);
                    let r = (chunk, start, buf.len() as u32);
                    cache.ranges[style] = Some(r);
                    r
                }
            };
            if start == end {
                continue; // nothing to say to this style
            }
            if self.turn.append(m, Piece::Chunk { chunk, start, end }) {
                self.turn.dirty.push(id);
            }
            added += 1;
        }
        self.counters.deliveries += added;
    }

    /// Queues bytes of its own for `id` (holding `messages` deliveries), after everything
    /// queued for it before; `urgent` for a reply (see [`Chain::urgent`]).
    pub(super) fn push(&mut self, id: ClientId, bytes: Bytes, messages: u64, urgent: bool) {
        if bytes.is_empty() {
            return; // nothing to say to this protocol
        }
        if self.capturing == Some(id) {
            if let Some((_, replies)) = self.labeled.get_mut(&id) {
                replies.push(bytes);
                return;
            }
        }
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        self.counters.deliveries += messages;
        if self.turn.append(m, Piece::Own(bytes)) {
            self.turn.dirty.push(id);
        }
        if urgent && !m.chain.urgent {
            m.chain.urgent = true;
            self.turn.urgent.push(id);
        }
    }

    /// Moves every chain of this turn into its outbox (one lock each) and collects the writers
    /// to wake; starts a round if none is running or the running one is overdue.
    pub(super) fn end_turn(&mut self) {
        // What this turn said is stored before any of it reaches anyone.
        self.write_history();
        if !self.turn.dirty.is_empty() {
            let frozen: Vec<Bytes> = self.turn.chunks.drain(..).map(BytesMut::freeze).collect();
            self.turn.chunk_of.clear();
            let mut queue = Vec::new();
            // Several small pieces for one member (a member of several busy rooms gets their
            // messages interleaved) are copied into one buffer, carved out of a shared arena:
            // the writer then hands the kernel one slice instead of one per message, which costs
            // less than the copy (measured: see bench/RESULTS.md).
            let mut arena = BytesMut::new();
            for id in std::mem::take(&mut self.turn.dirty) {
                let Some(m) = self.members.get_mut(&id) else {
                    continue;
                };
                let chain = std::mem::take(&mut m.chain);
                if chain.head == NONE {
                    continue; // handed over already (an urgent reply, a leaving member)
                }
                let mut at = chain.head;
                let single = at != NONE && self.turn.entries[at as usize].next == NONE;
                while at != NONE {
                    let entry = &mut self.turn.entries[at as usize];
                    let piece = std::mem::replace(&mut entry.piece, Piece::Own(Bytes::new()));
                    at = entry.next;
                    let bytes = match piece {
                        Piece::Chunk { chunk, start, end } => {
                            let (start, end) = (start as usize, end as usize);
                            if !single && end - start <= COPY_MAX {
                                arena.extend_from_slice(&frozen[chunk as usize][start..end]);
                                continue;
                            }
                            frozen[chunk as usize].slice(start..end)
                        }
                        Piece::Own(b) if !single && b.len() <= COPY_MAX => {
                            arena.extend_from_slice(&b);
                            continue;
                        }
                        Piece::Own(b) => b,
                    };
                    if !arena.is_empty() {
                        queue.push(arena.split().freeze());
                    }
                    queue.push(bytes);
                }
                if !arena.is_empty() {
                    queue.push(arena.split().freeze());
                }
                match m.outbox.push_all(&mut queue) {
                    Ok(_) if chain.urgent => m.outbox.wake(),
                    Ok(true) => self.turn.next_round.push(m.outbox.clone()),
                    Ok(false) => {}
                    Err(PushError::Full) => self.doomed.push(id),
                    Err(PushError::Closed) => {}
                }
                queue.clear();
            }
            self.turn.entries.clear();
            self.turn.started = None;
        }
        self.maybe_start_round();
    }

    /// Hands `id` what this turn holds for it now (before its outbox closes): copies, since
    /// the room buffers are still growing.
    pub(super) fn settle(&mut self, id: ClientId) {
        if let Some(outbox) = self.hand_over(id) {
            self.turn.next_round.push(outbox);
        }
    }

    /// Hands the members with a reply what the turn holds for them, and wakes their writers
    /// now: answers do not wait for the round that bulk fan-out waits for.
    pub(super) fn flush_urgent(&mut self) {
        for id in std::mem::take(&mut self.turn.urgent) {
            if let Some(m) = self.members.get(&id) {
                let outbox = m.outbox.clone();
                self.hand_over(id);
                outbox.wake();
            }
        }
    }

    /// Ends the turn when it is due: at once while no round runs (idle, a message goes out at
    /// once), otherwise when the running round has ended or is overdue. Until then the turn
    /// goes on gathering: a busy room's messages to one member keep merging into one piece,
    /// and each member's outbox takes one push per round instead of one per request (a join
    /// storm of 5,000 made 5,000 pushes per member otherwise). Replies go out meanwhile.
    pub(super) fn turn_due(&self) -> bool {
        let overdue = self
            .turn
            .round_started
            .is_some_and(|t| tokio::time::Instant::now() >= t + self.settings.round_limit);
        let gathered_long = self
            .turn
            .started
            .is_some_and(|t| tokio::time::Instant::now() >= t + TURN_MAX);
        !self.gate.running() || overdue || gathered_long
    }

    /// Moves `id`'s chain into its outbox (copies of room pieces: their buffers may still
    /// grow). Returns the outbox if it became non-empty.
    fn hand_over(&mut self, id: ClientId) -> Option<Arc<Outbox>> {
        // Whatever it holds may be something said this turn (a private message goes out at
        // once): stored first, like the turn's room messages (see `end_turn`).
        self.write_history();
        let m = self.members.get_mut(&id)?;
        let mut at = std::mem::take(&mut m.chain).head;
        let mut queue = Vec::new();
        while at != NONE {
            let entry = &mut self.turn.entries[at as usize];
            let piece = std::mem::replace(&mut entry.piece, Piece::Own(Bytes::new()));
            queue.push(match piece {
                Piece::Chunk { chunk, start, end } => Bytes::copy_from_slice(
                    &self.turn.chunks[chunk as usize][start as usize..end as usize],
                ),
                Piece::Own(b) => b,
            });
            at = entry.next;
        }
        if queue.is_empty() {
            return None;
        }
        match m.outbox.push_all(&mut queue) {
            Ok(true) => Some(m.outbox.clone()),
            Ok(false) | Err(PushError::Closed) => None,
            Err(PushError::Full) => {
                self.doomed.push(id);
                None
            }
        }
    }

    /// Wakes the writers waiting for a round, if no round runs or the running one is overdue.
    pub(super) fn maybe_start_round(&mut self) {
        if self.turn.next_round.is_empty() {
            return;
        }
        let now = tokio::time::Instant::now();
        let overdue = self
            .turn
            .round_started
            .is_some_and(|t| now >= t + self.settings.round_limit);
        if self.gate.running() && !overdue {
            return;
        }
        self.turn.round_started = Some(now);
        // The round holds itself open while waking, so a writer that finishes at once cannot
        // end it before the others are counted.
        let round = self.gate.start();
        for outbox in self.turn.next_round.drain(..) {
            if outbox.join_round(round) {
                self.gate.add(round);
            }
            outbox.wake();
        }
        self.gate.finish(round);
    }

    /// When the router must look at the round again: writers wait and a round runs.
    pub(super) fn round_deadline(&self) -> Option<tokio::time::Instant> {
        if !self.waiting_for_round() {
            return None;
        }
        Some(
            self.turn
                .round_started
                .map_or_else(tokio::time::Instant::now, |t| t + self.settings.round_limit),
        )
    }

    pub(super) fn waiting_for_round(&self) -> bool {
        !self.turn.next_round.is_empty() || !self.turn.dirty.is_empty()
    }
}

impl Member {
    /// This member's rendering style for events of room `key`.
    pub(super) fn style_in(&self, key: &str) -> usize {
        let in_current = self.proto.has_current_room() && self.current.as_deref() == Some(key);
        self.proto.style(in_current, self.caps)
    }
}
