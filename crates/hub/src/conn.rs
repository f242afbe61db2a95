//! One client connection: bytes in, commands to the router; outbox out, bytes to the socket.
//!
//! Each connection is one task that waits for its socket becoming readable (or writable, while
//! output is pending), its outbox having something to send, and its one timer; it polls these
//! in place rather than through `select!`, so no waiter objects live in the task. Memory per idle client is kept
//! small on purpose: reads go into one scratch buffer per thread, and the connection keeps only
//! the leftover of a partial line; outgoing bytes wait in the outbox as shared [`Bytes`], so an
//! idle connection owns no buffer at all.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use obrol_wire::line::{LineCodec, LineError};
use tokio::time::Instant;

use crate::api::{ClientId, Request};
use crate::event::Refusal;
use crate::limits::{clock_us, Bucket, Claim, Rate};
use crate::outbox::{Batch, Outbox};
use crate::proto::{Flow, Link, Protocol, Session};
use crate::transport::Transport;

mod open;
use open::{open_unless_evicted, say_evicted, Evicted};

/// Size of the per-thread read buffer: large reads drain a busy sender in few syscalls.
const SCRATCH: usize = 64 * 1024;

/// Most slices handed to one `writev` (Linux accepts up to 1024).
const MAX_IOV: usize = 256;

thread_local! {
    static SCRATCH_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; SCRATCH]);
}

/// Reads whatever the socket has, without blocking, appending it to `pending`.
/// Returns `Ok(0)` on end of stream.
fn read_available(stream: &Transport, pending: &mut BytesMut) -> io::Result<usize> {
    SCRATCH_BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        let n = stream.try_read(&mut buf)?;
        pending.extend_from_slice(&buf[..n]);
        Ok(n)
    })
}

/// Which protocols a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// Sniff the first bytes: IRC registration means IRC, anything else (or silence) plain.
    Auto,
    Plain,
    Irc,
    /// TLS first, then sniffed like `Auto`.
    Tls,
    /// HTTP only: the browser client and WebSocket IRC (`http://`).
    Http,
    /// TLS, then HTTP only (`https://`).
    Https,
}

/// How long a client whose input has ended (or who was told to go) may take to read what is
/// still queued for it.
const DRAIN_AFTER_EOF: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs one connection to completion.
///
/// Not an `async fn`: an async fn keeps a copy of each argument next to the local it moves it
/// into, and this future's size is most of what an idle client costs. The `async move` block
/// captures each argument once.
#[allow(clippy::manual_async_fn)]
pub fn run(
    mut stream: Transport,
    id: ClientId,
    addr: SocketAddr,
    kind: ListenerKind,
    shared: Arc<crate::Shared>,
    mut claim: Claim,
) -> impl Future<Output = ()> {
    async move {
        // At debug level: a connect/close loop must not be able to fill the disk with logs.
        tracing::debug!(client = id, %addr, "client connected");
        // The registration deadline runs from here: a TLS handshake or a WebSocket upgrade
        // spends it, it does not start it again. (A `Moment`: one word in every client's task.)
        let accepted = moment_in(std::time::Duration::ZERO);
        let opening = open_unless_evicted(&mut stream, addr, kind, &shared, &mut claim, id);
        let (mut session, outbox) = match Box::pin(opening).await {
            Ok(Some(opened)) => opened,
            Ok(None) => return,
            Err(Evicted) => return say_evicted(&stream),
        };
        let m = &shared.metrics;
        crate::metrics::bump(match session.protocol() {
            Protocol::Plain => &m.sessions_plain,
            Protocol::Irc => &m.sessions_irc,
        });
        if stream.is_tls() {
            crate::metrics::bump(&m.sessions_tls);
        }
        // Boxed with the link it builds: nothing of it stays in the connection's task.
        if let Flow::Close(_) =
            Box::pin(start_session(&mut session, id, addr, &shared, &outbox)).await
        {
            return;
        }
        let mut pace = Pace::default();
        // Whether the client has been told it is being slowed down (once per episode).
        let mut told = false;
        let mut codec = LineCodec::new(session.max_line(&shared.settings));
        let mut pending = BytesMut::new();
        let mut writer = Writer::default();
        // Deadlines are `Moment`s, one word each: the task carries several.
        let mut partial_deadline: Option<Moment> = None;
        // Counted from the accept; input never moves it (see `Session::silence_limit`).
        let mut idle_deadline = session
            .silence_limit(&shared.settings, instant_of(accepted))
            .map(moment_of);
        // One timer serves every deadline, allocated only while one is set, and re-armed lazily:
        // a read moves `idle_deadline` without touching the timer; when the timer fires early it
        // is re-armed for the new deadline. An idle client so costs one timer wake per interval.
        let mut timer = Timer::default();
        // Set once input is over (the client closed its side, or the protocol asked to close):
        // stop reading, let the writer send what is queued, then close.
        let mut stop_reading = false;
        // The hub closed the connection for flooding.
        let mut flooded = false;
        let reason = loop {
            if session.admitted() {
                claim.admitted();
            }
            let next_deadline = [partial_deadline, idle_deadline, pace.until]
                .into_iter()
                .flatten()
                .min();
            timer.arm(next_deadline);
            let reading = !stop_reading && !writer.closing && pace.until.is_none();
            let has_unwritten = writer.has_unwritten() || stream.has_pending_output();
            // Poll every source in place instead of `select!`ing over futures: the futures
            // `readable()`, `writable()`, `Notified` and `Sleep` would all live inside this task
            // for as long as it waits, which is most of an idle client's memory. Every ready source
            // is handled in one turn, so a flooding reader cannot starve its own writes.
            let ready = std::future::poll_fn(|cx| {
                let mut ready = Ready::default();
                if reading {
                    match stream.poll_read_ready(cx) {
                        Poll::Ready(Ok(())) => ready.read = true,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => {}
                    }
                }
                ready.outbox = outbox.poll_ready(cx).is_ready();
                if has_unwritten {
                    match stream.poll_write_ready(cx) {
                        Poll::Ready(Ok(())) => ready.write = true,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => {}
                    }
                }
                ready.timer = timer.poll(cx);
                if ready.read || ready.outbox || ready.write || ready.timer {
                    Poll::Ready(Ok(ready))
                } else {
                    Poll::Pending
                }
            })
            .await;
            let ready = match ready {
                Ok(ready) => ready,
                Err(e) => break e.to_string(),
            };
            if ready.outbox && outbox.is_aborted() {
                // A slow consumer: its socket is full, so nothing more can be said to it.
                break "slow consumer".to_owned();
            }
            if ready.read {
                let eof = match drain_reads(&stream, &mut pending) {
                    Ok(more) => !more,
                    Err(e) => break e.to_string(),
                };
                outbox.heard();
                let input = Input::new(id, addr, &shared, &outbox, claim.exempt);
                // Boxed, and `input` moved in: the lines' futures (and the link they share) live
                // on the heap only while lines are handled, not in every idle connection's task.
                let lines = (&mut session, &mut codec, &mut pending);
                let after = Box::pin(input.lines(lines, eof, (&mut pace, &mut told))).await;
                if let Some(reason) = after.settle(&mut stop_reading, &mut flooded) {
                    break reason;
                }
                (idle_deadline, partial_deadline) =
                    deadlines_after_lines(stop_reading, &session, &pending, &pace, idle_deadline);
                if pending.is_empty() && pending.capacity() > 0 {
                    pending = BytesMut::new(); // an idle client keeps no buffer
                }
            }
            if ready.timer {
                let now = moment_in(std::time::Duration::ZERO);
                if pace.until.is_some_and(|d| d <= now) && stop_reading {
                    pace.until = None;
                }
                if pace.until.is_some_and(|d| d <= now) {
                    // The throttle is over: the lines it held back go on.
                    pace.until = None;
                    let input = Input::new(id, addr, &shared, &outbox, claim.exempt);
                    let lines = (&mut session, &mut codec, &mut pending);
                    let after = Box::pin(input.lines(lines, false, (&mut pace, &mut told))).await;
                    if let Some(reason) = after.settle(&mut stop_reading, &mut flooded) {
                        break reason;
                    }
                    (idle_deadline, partial_deadline) = deadlines_after_lines(
                        stop_reading,
                        &session,
                        &pending,
                        &pace,
                        idle_deadline,
                    );
                }
                if partial_deadline.is_some_and(|d| d <= now) {
                    partial_deadline = None;
                    if let Some(line) = codec.take_partial(&mut pending) {
                        let input = Input::new(id, addr, &shared, &outbox, claim.exempt);
                        if let AfterInput::StopReading =
                            Box::pin(input.one_line(&mut session, &line)).await
                        {
                            stop_reading = true;
                        }
                    }
                    pending = BytesMut::new();
                }
                if idle_deadline.is_some_and(|d| d <= now) {
                    idle_deadline = None;
                    if stop_reading {
                        break "did not read its last output in time".to_owned();
                    }
                    if !session.admitted() {
                        let input = Input::new(id, addr, &shared, &outbox, claim.exempt);
                        match Box::pin(input.silence_limit_reached(&mut session)).await {
                            Flow::Continue => {
                                idle_deadline = None;
                            }
                            Flow::Close(_) => {
                                crate::metrics::bump(&shared.metrics.registration_timeouts);
                                outbox.close(Bytes::new());
                                stop_reading = true;
                                idle_deadline = Some(moment_in(DRAIN_AFTER_EOF));
                            }
                        }
                    }
                }
            }
            if ready.outbox || ready.write {
                match writer.pump(&outbox, &stream) {
                    Ok(true) if flooded => break flood_reason(&shared.limits),
                    Ok(true) => break "closed by the hub".to_owned(),
                    Ok(false) => {}
                    Err(e) => break e.to_string(),
                }
            }
        };
        stream.close();
        if stream.is_websocket() {
            // The Close frame just written must reach the browser, not be lost to a reset
            // because of input left unread: it says why (1009 too big, 1002 bad framing).
            // A task of its own, so that nothing of it adds to every connection's task.
            tokio::spawn(async move {
                stream
                    .linger_close(std::time::Duration::from_millis(500))
                    .await
            });
        }
        tracing::debug!(client = id, %addr, %reason, "client disconnected");
        let _ = Box::pin(shared.requests.send(Request::Disconnect { id, reason })).await;
        drop(claim); // the connection's slots are free again
    }
}

/// The connection's deadlines after a batch of lines: once input is over, a while for what
/// is queued to go out (and no partial line); otherwise the silence limit, which only an
/// admission ends (input never moves it), and the partial line's.
fn deadlines_after_lines(
    stop_reading: bool,
    session: &Session,
    pending: &BytesMut,
    pace: &Pace,
    idle: Option<Moment>,
) -> (Option<Moment>, Option<Moment>) {
    if stop_reading {
        return (Some(moment_in(DRAIN_AFTER_EOF)), None);
    }
    (
        idle.filter(|_| !session.admitted()),
        partial_line_deadline(session, pending, pace),
    )
}

/// When the partial line left in `pending` counts as a line (plain clients), if there is one.
/// None while the client is throttled: `pending` then holds whole lines waiting their turn, and
/// the deadline is set again once they have gone through.
fn partial_line_deadline(session: &Session, pending: &BytesMut, pace: &Pace) -> Option<Moment> {
    if pending.is_empty() || pace.until.is_some() {
        return None;
    }
    session.partial_line_idle().map(moment_in)
}

/// A point in time on the microsecond clock [`clock_us`]: one word, and `Option<Moment>` is
/// one word too (an `Instant` is two), which counts in a task every client has.
type Moment = std::num::NonZeroU64;

fn moment_in(after: std::time::Duration) -> Moment {
    Moment::new(clock_us().saturating_add(after.as_micros() as u64)).unwrap_or(Moment::MIN)
}

fn moment_of(at: Instant) -> Moment {
    moment_in(at.saturating_duration_since(Instant::now()))
}

/// The `Instant` of `at`, which may be past.
fn instant_of(at: Moment) -> Instant {
    let (now, now_us) = (Instant::now(), clock_us());
    match at.get().checked_sub(now_us) {
        Some(ahead) => now + std::time::Duration::from_micros(ahead),
        None => {
            let ago = std::time::Duration::from_micros(now_us - at.get());
            now.checked_sub(ago).unwrap_or(now)
        }
    }
}

/// Whatever a new session does before its first line (see [`Session::start`]).
async fn start_session(
    session: &mut Session,
    id: ClientId,
    addr: SocketAddr,
    shared: &crate::Shared,
    outbox: &Arc<Outbox>,
) -> Flow {
    let link = Link::new(id, addr, &shared.requests, outbox, &shared.settings, false)
        .with_accounts(shared.accounts.as_deref())
        .with_history(shared.history.as_ref())
        .with_limits(&shared.limits);
    session.start(&link).await
}

/// What handling a connection's input needs besides its session: built on the stack for each
/// batch of lines, so no idle connection carries it.
#[derive(Clone, Copy)]
struct Input<'a> {
    id: ClientId,
    addr: SocketAddr,
    shared: &'a crate::Shared,
    outbox: &'a Arc<Outbox>,
    /// The client's line rate; `None` when it has none (exempt, or no limit set).
    rate: Option<Rate>,
}

/// A client's line pacing (see [`Rate`]), in microseconds of [`clock_us`]: every connection
/// carries it, so it is kept to two words.
#[derive(Default)]
struct Pace {
    bucket: Bucket,
    /// Reading is paused until then: the client sent faster than its rate.
    until: Option<Moment>,
}

/// Why a flooding client was disconnected (its QUIT reason, and the last line it gets).
fn flood_reason(limits: &crate::limits::Limits) -> String {
    let per_sec = limits.line_rate().map_or(0.0, |r| r.per_sec());
    format!("Excess flood (more than {per_sec} lines/s)")
}

/// What the connection does after its input was handled.
enum AfterInput {
    Continue,
    /// Stop reading: the protocol asked to close, or the client closed its side; the writer
    /// sends what is queued, then the connection ends.
    StopReading,
    /// The hub closed the connection for flooding (a farewell is queued): stop reading,
    /// write what is queued, and end.
    Flooded,
    /// End the connection now, for this reason.
    End(String),
}

impl<'a> Input<'a> {
    fn new(
        id: ClientId,
        addr: SocketAddr,
        shared: &'a crate::Shared,
        outbox: &'a Arc<Outbox>,
        exempt: bool,
    ) -> Self {
        Input {
            id,
            addr,
            shared,
            outbox,
            rate: if exempt {
                None
            } else {
                shared.limits.line_rate()
            },
        }
    }

    /// Whether the next line may be handled now. When it may not, reading pauses until it
    /// may (`pace.until`), and the client is told once; a client whose waiting lines would take
    /// longer than the rate's `max_lag` to get through is disconnected for flooding.
    fn pace(
        &self,
        session: &Session,
        pending: &BytesMut,
        (pace, told): (&mut Pace, &mut bool),
    ) -> Option<AfterInput> {
        let rate = self.rate.as_ref()?;
        memchr::memchr(b'\n', pending)?;
        let now = clock_us();
        if pace.bucket.is_full(now) {
            *told = false;
        }
        let until = pace.bucket.take(rate, now).err()?;
        let waiting = memchr::memchr_iter(b'\n', pending).count();
        // The notice comes first, even when the cut follows at once.
        if !std::mem::replace(told, true) {
            crate::metrics::bump(&self.shared.metrics.throttled);
            let text = format!(
                "You are sending too fast: your lines now go through at {} a second",
                rate.per_sec()
            );
            let nick = self.outbox.nick();
            let _ = (self.outbox).push(session.info(&text, &nick, &self.shared.settings.name));
        }
        if pace.bucket.lag(rate, waiting, now) > rate.max_lag {
            crate::metrics::bump(&self.shared.metrics.flood_cuts);
            let why = flood_reason(&self.shared.limits);
            self.outbox.close(session.farewell(&why));
            return Some(AfterInput::Flooded);
        }
        pace.until = Some(Moment::new(until).unwrap_or(Moment::MIN));
        Some(AfterInput::Continue)
    }

    fn link(&self, session: &Session) -> Link<'a> {
        Link::new(
            self.id,
            self.addr,
            &self.shared.requests,
            self.outbox,
            &self.shared.settings,
            session.admitted(),
        )
        .with_accounts(self.shared.accounts.as_deref())
        .with_history(self.shared.history.as_ref())
        .with_limits(&self.shared.limits)
    }

    /// Handles every whole line in `pending`; at the end of the stream (`eof`) a partial one
    /// too, where the protocol counts it, and then the client's leaving.
    async fn lines(
        self,
        (session, codec, pending): (&mut Session, &mut LineCodec, &mut BytesMut),
        eof: bool,
        (pace, told): (&mut Pace, &mut bool),
    ) -> AfterInput {
        let link = self.link(session);
        // Lines that arrived together with the end of the stream still count.
        loop {
            if let Some(after) = self.pace(session, pending, (&mut *pace, &mut *told)) {
                return after;
            }
            let line = match codec.decode(pending) {
                Ok(Some(line)) => line,
                Ok(None) if eof && session.partial_line_idle().is_some() => {
                    match codec.take_partial(pending) {
                        Some(line) => line,
                        None => break,
                    }
                }
                Ok(None) => break,
                Err(LineError::TooLong(max)) => {
                    let refusal = Refusal::LineTooLong(max);
                    if let Flow::Close(_) = session.refuse(&refusal, &link).await {
                        return AfterInput::StopReading;
                    }
                    continue;
                }
            };
            crate::metrics::bump(&self.shared.metrics.lines_in);
            if let Flow::Close(_) = session.on_line(&line, &link).await {
                self.outbox.close(Bytes::new());
                return AfterInput::StopReading;
            }
        }
        if !eof {
            return AfterInput::Continue;
        }
        // The client closed its side: what is queued for it (the answers to its last lines
        // among them) still goes out. An admitted client leaves through the router, after the
        // requests it sent before, which closes the outbox.
        if let Flow::Close(_) = session.input_ended(&link).await {
            return AfterInput::End("hub gone".to_owned());
        }
        if session.admitted() {
            let end = Request::InputClosed { id: self.id };
            if self.shared.requests.send(end).await.is_err() {
                return AfterInput::End("hub gone".to_owned());
            }
        } else {
            self.outbox.close(Bytes::new());
        }
        AfterInput::StopReading
    }

    /// Handles one line (a partial line that sat idle long enough to count).
    async fn one_line(self, session: &mut Session, line: &[u8]) -> AfterInput {
        // A partial line is not paced: it is the last of the input until more arrives.
        let link = self.link(session);
        if let Flow::Close(_) = session.on_line(line, &link).await {
            self.outbox.close(Bytes::new());
            return AfterInput::StopReading;
        }
        AfterInput::Continue
    }

    async fn silence_limit_reached(self, session: &mut Session) -> Flow {
        let link = self.link(session);
        session.silence_limit_reached(&link).await
    }
}

impl AfterInput {
    /// Applies this to the connection's state: whether to stop reading, whether the hub cut
    /// the client for flooding; `Some(reason)` when the connection ends now.
    fn settle(self, stop_reading: &mut bool, flooded: &mut bool) -> Option<String> {
        match self {
            AfterInput::Continue => {}
            AfterInput::StopReading => *stop_reading = true,
            AfterInput::Flooded => {
                *stop_reading = true;
                *flooded = true;
            }
            AfterInput::End(reason) => return Some(reason),
        }
        None
    }
}

/// The connection's outbox, retired when the task ends however it ends (see
/// [`Outbox::retire`]): a wrapper rather than a guard beside it, one pointer less per client.
struct Retiring(Arc<Outbox>);

impl std::ops::Deref for Retiring {
    type Target = Arc<Outbox>;
    fn deref(&self) -> &Arc<Outbox> {
        &self.0
    }
}

impl Drop for Retiring {
    fn drop(&mut self) {
        self.0.retire();
    }
}

/// Which of a connection's sources are ready (see the loop in [`run`]).
#[derive(Default)]
struct Ready {
    read: bool,
    outbox: bool,
    write: bool,
    timer: bool,
}

/// A connection's one timer, on the heap and only while a deadline is set.
#[derive(Default)]
struct Timer {
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    /// When `sleep` fires (it may be earlier than the deadline, never later).
    armed_for: Option<Moment>,
}

impl Timer {
    /// Makes sure the timer fires no later than `deadline`; `None` frees it.
    fn arm(&mut self, deadline: Option<Moment>) {
        let Some(deadline) = deadline else {
            self.sleep = None;
            self.armed_for = None;
            return;
        };
        match (&mut self.sleep, self.armed_for) {
            // Armed for earlier (or now): it fires, and the caller re-arms then.
            (Some(_), Some(at)) if at <= deadline => {}
            (Some(sleep), _) => {
                sleep.as_mut().reset(instant_of(deadline));
                self.armed_for = Some(deadline);
            }
            (None, _) => {
                self.sleep = Some(Box::pin(tokio::time::sleep_until(instant_of(deadline))));
                self.armed_for = Some(deadline);
            }
        }
    }

    /// True once the armed time has passed (then it must be re-armed to fire again; the
    /// allocation is kept for that).
    fn poll(&mut self, cx: &mut Context<'_>) -> bool {
        let (Some(sleep), Some(_)) = (&mut self.sleep, self.armed_for) else {
            return false;
        };
        if sleep.as_mut().poll(cx).is_ready() {
            self.armed_for = None;
            return true;
        }
        false
    }
}

/// Reads until the socket would block. Returns `Ok(false)` at end of stream.
///
/// Draining before going back to the poller matters under load: a server that reads a little
/// from each busy socket per wake-up falls behind and stalls (see PERF-NOTES).
fn drain_reads(stream: &Transport, pending: &mut BytesMut) -> io::Result<bool> {
    let mut total = 0;
    loop {
        match read_available(stream, pending) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                total += n;
                // Bound one connection's turn so a flood cannot monopolise the thread; the
                // socket stays readable and we come back to it.
                if total >= 4 * SCRATCH {
                    return Ok(true);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The write half's state: the batch taken from the outbox and not yet fully written.
#[derive(Default)]
pub(crate) struct Writer {
    /// On the heap and only while it holds something: most of the time a connection has
    /// nothing to write, and its task should not carry an empty batch.
    batch: Option<Box<Batch>>,
    /// Set when the outbox was closed: write what is left, then end the connection.
    pub(crate) closing: bool,
    /// The socket did not take all of the batch: the outbox has been told (see
    /// `Outbox::set_blocked`).
    blocked: bool,
}

impl Writer {
    pub(crate) fn has_unwritten(&self) -> bool {
        self.batch.as_ref().is_some_and(|b| !b.messages.is_empty())
    }

    /// Moves queued messages to the socket until it would block or the queue is empty. Returns
    /// `Ok(true)` once a closed outbox has been written out completely (farewell included).
    pub(crate) fn pump(&mut self, outbox: &Outbox, stream: &Transport) -> io::Result<bool> {
        // What the transport accepted earlier and still holds (TLS records the socket did not
        // take) goes first; until it has, nothing new is written.
        if !stream.flush_pending()? {
            if !self.blocked {
                self.blocked = true;
                outbox.set_blocked(true);
            }
            return Ok(false);
        }
        loop {
            if !self.has_unwritten() {
                if self.closing {
                    return Ok(true);
                }
                let batch = self.batch.get_or_insert_with(Box::default);
                outbox.take(batch);
                self.closing = batch.close.is_some();
                if batch.messages.is_empty() && !self.closing {
                    self.batch = None;
                    return Ok(false);
                }
            }
            if !self.flush(stream)? {
                // The socket is full; wait until it is writable. Meanwhile no round of the
                // router waits for this writer (a client that stops reading holds up nobody).
                if !self.blocked {
                    self.blocked = true;
                    outbox.set_blocked(true);
                    self.own_what_is_left();
                }
                return Ok(false);
            }
            if self.blocked {
                self.blocked = false;
                outbox.set_blocked(false);
            }
        }
    }

    /// Copies what is left of the batch into one buffer of the connection's own: its messages
    /// are slices of buffers shared with other recipients, which a client that stopped reading
    /// would otherwise keep alive whole (see `Outbox::push_all`).
    fn own_what_is_left(&mut self) {
        let Some(batch) = &mut self.batch else {
            return;
        };
        if batch.messages.len() < 2 {
            return;
        }
        let len = batch.messages.iter().map(Bytes::len).sum();
        let mut own = BytesMut::with_capacity(len);
        for m in batch.messages.drain(..) {
            own.extend_from_slice(&m);
        }
        batch.messages.push_back(own.freeze());
    }

    /// Writes as much of the batch as the socket takes. Returns `Ok(true)` when all of it
    /// (and, when closing, the farewell) has been written.
    fn flush(&mut self, stream: &Transport) -> io::Result<bool> {
        let Some(batch) = &mut self.batch else {
            return Ok(true);
        };
        if self.closing {
            if let Some(farewell) = batch.close.take().filter(|f| !f.is_empty()) {
                batch.messages.push_back(farewell);
            }
        }
        write_vectored(stream, &mut batch.messages)?;
        Ok(batch.messages.is_empty())
    }
}

/// Writes queued messages with as few `writev` calls as the socket allows, removing what was
/// written. Stops without error when the socket would block.
pub(crate) fn write_vectored(stream: &Transport, queue: &mut VecDeque<Bytes>) -> io::Result<()> {
    while !queue.is_empty() {
        let mut slices = [IoSlice::new(&[]); MAX_IOV];
        let mut n = 0;
        for b in queue.iter().take(MAX_IOV) {
            slices[n] = IoSlice::new(b);
            n += 1;
        }
        match stream.try_write_vectored(&slices[..n]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(mut written) => {
                while written > 0 {
                    let Some(front) = queue.front_mut() else {
                        break;
                    };
                    if written >= front.len() {
                        written -= front.len();
                        queue.pop_front();
                    } else {
                        front.advance(written);
                        written = 0;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An idle client's memory is mostly this future: keep an eye on its size.
    #[tokio::test]
    async fn connection_future_stays_small() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        let (requests, _inbox) = tokio::sync::mpsc::channel(1);
        let slots = Arc::new(tokio::sync::Semaphore::new(1));
        let shared = Arc::new(crate::Shared {
            requests,
            settings: Arc::new(crate::Settings::new("t")),
            gate: Arc::default(),
            accepting: Arc::default(),
            limits: Arc::new(crate::limits::Limits::new(1, 1, Vec::new(), slots.clone())),
            tls: None,
            metrics: Arc::default(),
            accounts: None,
            history: None,
        });
        let permit = slots.acquire_owned().await.unwrap();
        let (claim, _) = shared.limits.admit(peer.ip(), permit).unwrap();
        let fut = run(
            Transport::tcp(server),
            1,
            peer,
            ListenerKind::Irc,
            shared,
            claim,
        );
        let size = std::mem::size_of_val(&fut);
        println!("connection future: {size} bytes");
        assert!(size <= 448, "connection future is {size} bytes");
        drop(client);
    }
}
