//! A client's outbound queue: the only thing the router and a connection share.
//!
//! The router pushes already-encoded, shared [`Bytes`] (one allocation per message per protocol,
//! however many recipients); the connection takes the whole queue at once and writes it with one
//! vectored write. The connection is woken only when the queue goes from empty to non-empty, so
//! a burst of messages costs one wake-up, not one per message.
//!
//! The queue is bounded in bytes. A push that would exceed the bound fails: the router then
//! disconnects the client as a slow consumer, so one client that stops reading costs at most the
//! bound in memory and never slows anyone else.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

use crate::router::Gate;

/// Why a push was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The client has more unread output queued than allowed.
    Full,
    /// The client is already being disconnected.
    Closed,
}

#[derive(Debug, Default)]
struct Inner {
    /// Messages not yet taken by the writer.
    queue: VecDeque<Bytes>,
    /// Total length of `queue`.
    bytes: u32,
    /// Set once the client is to be disconnected: the writer sends what is queued, then this
    /// reason if it still fits, then closes.
    /// Boxed: set once, at the end, and the outbox of every idle client carries the field.
    closed: Option<Box<Bytes>>,
    /// Set when the client is dropped without a goodbye (a slow consumer, whose socket is full).
    aborted: bool,
    /// A wake-up is pending: set by [`Outbox::wake`], consumed by [`Outbox::poll_ready`].
    signaled: bool,
    /// The connection task to wake. Kept here rather than in a `Notify` so the connection's
    /// future holds no waiter object of its own: an idle client costs less (see conn.rs).
    waker: Option<Waker>,
    /// The router's round that woke this writer and waits for it to take (see
    /// `router::deliver`); 0 if none.
    round: u32,
    /// The connection is gone: nobody will take from this outbox again, so no round may wait
    /// for it.
    retired: bool,
    /// Nobody reads this outbox (a bridge's member that only speaks): what is pushed is
    /// dropped, and no round waits for it.
    sink: bool,
    /// The writer waits for its socket to take more: it takes again only once the socket has,
    /// which may be never (a client that stopped reading), so no round may wait for it either.
    blocked: bool,
    /// When the writer last found the socket full ([`clock_ms`], wrapping at 32 bits: only
    /// differences of it are read), while `blocked`. 32 bits fit the padding of this struct,
    /// which every client has.
    blocked_at: u32,
}

/// See the module documentation.
#[derive(Debug)]
pub struct Outbox {
    inner: Mutex<Inner>,
    /// Most bytes that may wait in `queue`.
    limit: u32,
    /// The client's nick as the router last confirmed it. Replies a protocol adapter builds at
    /// the edge (IRC numerics) must name the client's real nick, which only the router decides.
    nick: Mutex<crate::event::Name>,
    /// When the client last sent anything ([`clock_ms`]): the router's idle sweep reads it.
    heard: AtomicU64,
    /// The router's round of wake-ups, told when this writer takes its queue.
    gate: Arc<Gate>,
}

/// Milliseconds on a process-wide monotonic clock (for [`Outbox::heard`]).
///
/// Read through tokio's clock, so a runtime with paused time (tests, with tokio's `test-util`
/// feature) controls the idle sweep as it controls timers; without that feature
/// `tokio::time::Instant::now()` is `std::time::Instant::now()`, so this costs what it did.
/// The base lies a day before the first reading (where the platform's clock allows): a paused
/// clock starts where the real one was when its runtime was built and then moves on its own,
/// so with several runtimes in one process (tests) a base taken at the first reading could lie
/// after another runtime's clock, whose readings would stick at 0 until it caught up.
pub fn clock_ms() -> u64 {
    clock_us() / 1000
}

/// Microseconds on the clock of [`clock_ms`].
pub fn clock_us() -> u64 {
    static BASE: OnceLock<std::time::Instant> = OnceLock::new();
    let base = *BASE.get_or_init(|| {
        let now = std::time::Instant::now();
        now.checked_sub(std::time::Duration::from_secs(86_400))
            .unwrap_or(now)
    });
    tokio::time::Instant::now()
        .into_std()
        .saturating_duration_since(base)
        .as_micros() as u64
}

/// What the writer took from the outbox.
#[derive(Debug, Default)]
pub struct Batch {
    /// Messages to write, in order.
    pub messages: VecDeque<Bytes>,
    /// `Some(farewell)` when the connection must close after writing `messages` and the farewell.
    pub close: Option<Bytes>,
}

impl Outbox {
    pub fn new(limit: usize, gate: Arc<Gate>) -> Self {
        Outbox {
            gate,
            inner: Mutex::new(Inner::default()),
            // u32 keeps the outbox small (every client has one); 4 GiB is no real limit.
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
            nick: Mutex::new(crate::event::Name::default()),
            heard: AtomicU64::new(clock_ms()),
        }
    }

    /// An outbox for a member that speaks and never reads (a multicast bridge's member for a
    /// peer on the group): everything pushed to it is dropped at once.
    pub fn sink(gate: Arc<Gate>) -> Self {
        let outbox = Outbox::new(0, gate);
        {
            let mut inner = outbox.lock();
            inner.sink = true;
            inner.retired = true;
        }
        outbox
    }

    /// Records that the client just sent something.
    pub fn heard(&self) {
        self.heard.store(clock_ms(), Ordering::Relaxed);
    }

    /// When the client last sent something ([`clock_ms`]).
    pub fn last_heard(&self) -> u64 {
        self.heard.load(Ordering::Relaxed)
    }

    /// Records the nick the router confirmed for this client.
    pub fn set_nick(&self, nick: &str) {
        *self.nick.lock().unwrap_or_else(|p| p.into_inner()) = nick.into();
    }

    /// The nick the router last confirmed (empty before registration).
    pub fn nick(&self) -> String {
        self.nick
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .to_string()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the queue inconsistent (every critical
        // section is a few field updates), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues one message and wakes the writer if it was idle. For replies the edge sends
    /// before the router knows the client; the router queues through [`Outbox::push_all`].
    pub fn push(&self, msg: Bytes) -> Result<(), PushError> {
        let mut inner = self.lock();
        if inner.sink {
            return match inner.closed {
                Some(_) => Err(PushError::Closed),
                None => Ok(()),
            };
        }
        let was_empty = self.admit(&mut inner, msg.len())?;
        inner.queue.push_back(msg);
        if was_empty {
            Self::signal(inner);
        }
        Ok(())
    }

    /// Counts `len` more bytes into the queue if it is open and they fit. Returns whether the
    /// queue was empty.
    fn admit(&self, inner: &mut Inner, len: usize) -> Result<bool, PushError> {
        if inner.closed.is_some() {
            return Err(PushError::Closed);
        }
        let len32 = u32::try_from(len).unwrap_or(u32::MAX);
        if inner.bytes.saturating_add(len32) > self.limit {
            return Err(PushError::Full);
        }
        // The router keeps the total under the overall budget between turns, cutting the
        // largest backlogs of clients that do not read first (`Router::shed`). Within a turn,
        // past twice the budget, the queue of a client that is not reading (its writer waits
        // for the socket) takes no more once it has grown beyond a little, nor any queue past
        // 16 times that: a hard bound that no burst gets past, which spares clients that read.
        let after = inner.bytes as usize + len;
        if after > SHED_FLOOR
            && (inner.blocked || after > 16 * SHED_FLOOR)
            && self.gate.far_over_budget(len)
        {
            return Err(PushError::Full);
        }
        inner.bytes += len32;
        self.gate.count_queued(len);
        Ok(inner.queue.is_empty())
    }

    /// Queues several messages at once (one lock), emptying `msgs`. Returns true if the queue
    /// was empty, in which case the caller must wake the writer. All or nothing: if they do
    /// not fit, none is queued.
    ///
    /// Messages are usually slices of buffers shared with other recipients, which stay alive
    /// as long as any slice of them does. For a client that does not read (its writer waits
    /// for the socket) they are copied into one buffer of its own instead: a crowd of
    /// non-readers then holds only what is queued for them, which is what the queue limits
    /// count, not every shared buffer they were once given a piece of.
    pub fn push_all(&self, msgs: &mut Vec<Bytes>) -> Result<bool, PushError> {
        let len: usize = msgs.iter().map(Bytes::len).sum();
        let mut inner = self.lock();
        if inner.sink {
            msgs.clear();
            return match inner.closed {
                Some(_) => Err(PushError::Closed),
                None => Ok(false),
            };
        }
        let was_empty = self.admit(&mut inner, len)?;
        if inner.blocked {
            // Merged with the previous copy if that is small: few buffers, and no slice of a
            // shared one. Sized exactly: the budget counts bytes queued, so a copy must not
            // hold spare capacity it does not count.
            let carried = match inner.queue.back() {
                Some(last) if last.len() < MERGE_MAX => inner.queue.pop_back(),
                _ => None,
            };
            let extra = carried.as_ref().map_or(0, Bytes::len);
            let mut own = bytes::BytesMut::with_capacity(len + extra);
            if let Some(last) = carried {
                own.extend_from_slice(&last);
            }
            for m in msgs.drain(..) {
                own.extend_from_slice(&m);
            }
            inner.queue.push_back(own.freeze());
        } else {
            inner.queue.extend(msgs.drain(..));
        }
        Ok(was_empty)
    }

    /// Marks this writer as part of the router's round `round`; false if it is in one already,
    /// or can not be waited for (see `Inner`).
    pub(crate) fn join_round(&self, round: u32) -> bool {
        let mut inner = self.lock();
        // Still holding an earlier round (woken, never took): that round was left behind at
        // its limit, and counting the writer again would make every round wait as long.
        if inner.retired || inner.blocked || inner.round != 0 {
            return false;
        }
        inner.round = round;
        true
    }

    /// This writer is done with the round that woke it, if any.
    fn leave_round(&self, mut inner: std::sync::MutexGuard<'_, Inner>) {
        let round = std::mem::take(&mut inner.round);
        drop(inner);
        if round != 0 {
            self.gate.finish(round);
        }
    }

    /// Whether the writer waits for its socket (see `Inner::blocked`). A writer that blocks
    /// while a round counts it (woken between taking its last batch and finding the socket
    /// full) leaves that round: it will not take again until the socket drains.
    pub fn set_blocked(&self, blocked: bool) {
        let mut inner = self.lock();
        inner.blocked = blocked;
        inner.blocked_at = if blocked { clock_ms() as u32 } else { 0 };
        if blocked {
            self.leave_round(inner);
        }
    }

    /// The connection is ending: if the router's round waits for this writer, it waits no more.
    pub fn retire(&self) {
        let mut inner = self.lock();
        inner.retired = true;
        self.leave_round(inner);
    }

    /// Wakes the writer. A wake-up with nobody waiting is remembered, like a `Notify` permit.
    pub fn wake(&self) {
        Self::signal(self.lock());
    }

    fn signal(mut inner: std::sync::MutexGuard<'_, Inner>) {
        inner.signaled = true;
        let waker = inner.waker.take();
        drop(inner);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Marks the client for disconnection; `farewell` is written after what is already queued.
    /// Later pushes fail. Closing twice keeps the first farewell.
    pub fn close(&self, farewell: Bytes) {
        let mut inner = self.lock();
        if inner.closed.is_none() {
            inner.closed = Some(Box::new(farewell));
            Self::signal(inner);
        }
    }

    /// Drops the client at once: nothing queued is written. For slow consumers, whose sockets
    /// are full, so waiting to write a goodbye would hold the connection open indefinitely.
    pub fn abort(&self) {
        let mut inner = self.lock();
        inner.aborted = true;
        inner.queue.clear();
        self.gate
            .count_unqueued(std::mem::take(&mut inner.bytes) as usize);
        if inner.closed.is_none() {
            inner.closed = Some(Box::default());
        }
        Self::signal(inner);
    }

    /// Bytes queued and not yet taken, and for how long (ms) the writer has been waiting for
    /// its socket to take more (0 if it is not): a client that does not read waits long, one
    /// that reads slowly only now and then.
    pub fn backlog(&self) -> (usize, u64) {
        let inner = self.lock();
        let waiting = match inner.blocked {
            true => u64::from((clock_ms() as u32).wrapping_sub(inner.blocked_at)).max(1),
            false => 0,
        };
        (inner.bytes as usize, waiting)
    }

    /// Whether the connection has been told to close.
    pub fn is_closed(&self) -> bool {
        self.lock().closed.is_some()
    }

    pub fn is_aborted(&self) -> bool {
        self.lock().aborted
    }

    /// Ready once [`Outbox::wake`] (or a close) has been called since the last time this
    /// returned ready; otherwise remembers `cx`'s waker.
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.lock();
        if inner.signaled {
            inner.signaled = false;
            return Poll::Ready(());
        }
        match &mut inner.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Waits until there is something to take.
    pub async fn ready(&self) {
        std::future::poll_fn(|cx| self.poll_ready(cx)).await
    }

    /// Takes everything queued, reusing `into`'s allocation.
    pub fn take(&self, into: &mut Batch) {
        let mut inner = self.lock();
        std::mem::swap(&mut inner.queue, &mut into.messages);
        self.gate
            .count_unqueued(std::mem::take(&mut inner.bytes) as usize);
        into.close = inner.closed.as_deref().cloned();
        self.leave_round(inner);
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let bytes = self.lock().bytes as usize;
        self.gate.count_unqueued(bytes);
    }
}

/// Copies for a client that does not read are merged into buffers up to this size.
const MERGE_MAX: usize = 16 * 1024;

/// A queue this small is never refused for the overall budget: a client that reads keeps its
/// queue below it, and welcome lines and replies still reach newcomers while the hub sheds.
pub const SHED_FLOOR: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_by_bytes() {
        let o = Outbox::new(10, Arc::default());
        assert_eq!(o.push(Bytes::from_static(b"12345")), Ok(()));
        assert_eq!(o.push(Bytes::from_static(b"12345")), Ok(()));
        assert_eq!(o.push(Bytes::from_static(b"1")), Err(PushError::Full));
        let mut b = Batch::default();
        o.take(&mut b);
        assert_eq!(b.messages.len(), 2);
        assert_eq!(o.push(Bytes::from_static(b"1")), Ok(()));
    }

    #[test]
    fn a_retired_outbox_never_holds_a_round_open() {
        let gate = Arc::new(Gate::default());
        let o = Outbox::new(100, gate.clone());
        assert!(o.join_round(1));
        assert!(!o.join_round(1), "already in the round");
        assert!(
            !o.join_round(2),
            "still holding round 1: not waited for again"
        );
        o.retire();
        assert!(!o.join_round(2), "nobody will take from it");
        let o2 = Outbox::new(100, gate);
        assert!(o2.join_round(2));
        let mut b = Batch::default();
        o2.take(&mut b);
        assert!(o2.join_round(3), "taken: it may join the next round");
    }

    #[test]
    fn close_keeps_queue_and_refuses_more() {
        let o = Outbox::new(100, Arc::default());
        o.push(Bytes::from_static(b"a")).unwrap();
        o.close(Bytes::from_static(b"bye"));
        o.close(Bytes::from_static(b"other"));
        assert_eq!(o.push(Bytes::from_static(b"b")), Err(PushError::Closed));
        let mut b = Batch::default();
        o.take(&mut b);
        assert_eq!(b.messages, vec![Bytes::from_static(b"a")]);
        assert_eq!(b.close, Some(Bytes::from_static(b"bye")));
    }

    #[test]
    fn twice_the_overall_budget_refuses_big_queues_only() {
        let gate = Arc::new(Gate::default());
        gate.set_budget((SHED_FLOOR + 100) / 2);
        let big = Outbox::new(1 << 20, gate.clone());
        let small = Outbox::new(1 << 20, gate.clone());
        big.push(Bytes::from(vec![b'x'; SHED_FLOOR])).unwrap();
        assert_eq!(gate.queued(), SHED_FLOOR);
        small.push(Bytes::from(vec![b'y'; 200])).unwrap();
        big.push(Bytes::from_static(b"r")).unwrap();
        assert_eq!(
            gate.queued(),
            SHED_FLOOR + 201,
            "a client that reads is spared"
        );
        big.set_blocked(true);
        assert_eq!(
            big.push(Bytes::from_static(b"z")),
            Err(PushError::Full),
            "over the budget, the big queue of a client that does not read takes no more"
        );
        big.set_blocked(false);
        small.push(Bytes::from_static(b"z")).unwrap();
        let mut b = Batch::default();
        big.take(&mut b);
        assert_eq!(gate.queued(), 201);
        drop(small);
        assert_eq!(gate.queued(), 0, "a dropped outbox gives its bytes back");
        big.push(Bytes::from_static(b"a")).unwrap();
        big.abort();
        assert_eq!(gate.queued(), 0);
    }

    #[test]
    fn a_sink_drops_everything_and_never_joins_a_round() {
        let gate = Arc::new(Gate::default());
        let o = Outbox::sink(gate.clone());
        assert_eq!(o.push(Bytes::from(vec![b'x'; 4096])), Ok(()));
        let mut msgs = vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")];
        assert_eq!(o.push_all(&mut msgs), Ok(false), "nobody to wake");
        assert!(msgs.is_empty());
        assert_eq!(gate.queued(), 0);
        assert!(!o.join_round(1));
        o.close(Bytes::new());
        assert_eq!(o.push(Bytes::from_static(b"c")), Err(PushError::Closed));
    }

    #[tokio::test]
    async fn wakes_once_per_burst() {
        let o = Arc::new(Outbox::new(100, Arc::default()));
        o.push(Bytes::from_static(b"a")).unwrap();
        o.push(Bytes::from_static(b"b")).unwrap();
        o.ready().await; // the permit stored by the first push
        let mut b = Batch::default();
        o.take(&mut b);
        assert_eq!(b.messages.len(), 2);
        let waiter = {
            let o = o.clone();
            tokio::spawn(async move { o.ready().await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        o.push(Bytes::from_static(b"c")).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
    }
}
