//! One client connection: bytes in, commands to the router; outbox out, bytes to the socket.
//!
//! Each connection is one task that `select!`s between its socket becoming readable, its outbox
//! having something to send, the partial-line timer and shutdown. Memory per idle client is kept
//! small on purpose: reads go into one scratch buffer per thread, and the connection keeps only
//! the leftover of a partial line; outgoing bytes wait in the outbox as shared [`Bytes`], so an
//! idle connection owns no buffer at all.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use obrol_wire::line::{LineCodec, LineError};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::event::{Command, Event, Refusal};
use crate::outbox::{Batch, Outbox};
use crate::router::{ClientId, Request};
use crate::{plain, Protocol, Settings};

/// Size of the per-thread read buffer: large reads drain a busy sender in few syscalls.
const SCRATCH: usize = 64 * 1024;

/// Most slices handed to one `writev` (Linux accepts up to 1024).
const MAX_IOV: usize = 256;

thread_local! {
    static SCRATCH_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; SCRATCH]);
}

/// Reads whatever the socket has, without blocking, appending it to `pending`.
/// Returns `Ok(0)` on end of stream.
fn read_available(stream: &TcpStream, pending: &mut BytesMut) -> io::Result<usize> {
    SCRATCH_BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        let n = stream.try_read(&mut buf)?;
        pending.extend_from_slice(&buf[..n]);
        Ok(n)
    })
}

/// Runs one plain-protocol connection to completion.
pub async fn run_plain(
    stream: TcpStream,
    id: ClientId,
    addr: SocketAddr,
    hub: mpsc::Sender<Request>,
    settings: Arc<Settings>,
) {
    let outbox = Arc::new(Outbox::new(settings.max_queue_bytes));
    let connect = Request::Connect {
        id,
        proto: Protocol::Plain,
        addr,
        outbox: outbox.clone(),
        nick: None,
        user: None,
    };
    if hub.send(connect).await.is_err() {
        return;
    }
    let mut codec = LineCodec::new(settings.max_line);
    let mut pending = BytesMut::new();
    let mut writer = Writer::default();
    let mut partial_deadline: Option<Instant> = None;
    let reason = loop {
        let has_unwritten = writer.has_unwritten();
        tokio::select! {
            ready = stream.readable(), if !writer.closing => {
                if let Err(e) = ready {
                    break e.to_string();
                }
                match drain_reads(&stream, &mut pending) {
                    Ok(true) => {}
                    Ok(false) => break "connection closed".to_owned(),
                    Err(e) => break e.to_string(),
                }
                loop {
                    match codec.decode(&mut pending) {
                        Ok(Some(line)) => {
                            if !dispatch(&line, id, &hub, &outbox).await {
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(LineError::TooLong(max)) => {
                            refuse(&outbox, Refusal::LineTooLong(max));
                        }
                    }
                }
                partial_deadline = (!pending.is_empty()).then(|| Instant::now() + plain::PARTIAL_LINE_IDLE);
                if pending.is_empty() && pending.capacity() > 0 {
                    pending = BytesMut::new(); // an idle client keeps no buffer
                }
            }
            _ = tokio::time::sleep_until(partial_deadline.unwrap_or_else(Instant::now)), if partial_deadline.is_some() => {
                partial_deadline = None;
                if let Some(line) = codec.take_partial(&mut pending) {
                    dispatch(&line, id, &hub, &outbox).await;
                }
                pending = BytesMut::new();
            }
            _ = outbox.ready(), if !has_unwritten => {
                outbox.take(&mut writer.batch);
                writer.closing = writer.batch.close.is_some();
                match writer.flush(&stream) {
                    Ok(true) if writer.closing => break "closed by the hub".to_owned(),
                    Ok(_) => {}
                    Err(e) => break e.to_string(),
                }
            }
            ready = stream.writable(), if has_unwritten => {
                if let Err(e) = ready {
                    break e.to_string();
                }
                match writer.flush(&stream) {
                    Ok(true) if writer.closing => break "closed by the hub".to_owned(),
                    Ok(_) => {}
                    Err(e) => break e.to_string(),
                }
            }
        }
    };
    tracing::debug!(client = id, %reason, "connection ending");
    let _ = hub.send(Request::Disconnect { id, reason }).await;
}

/// Reads until the socket would block. Returns `Ok(false)` at end of stream.
///
/// Draining before going back to the poller matters under load: a server that reads a little
/// from each busy socket per wake-up falls behind and stalls (see PERF-NOTES).
fn drain_reads(stream: &TcpStream, pending: &mut BytesMut) -> io::Result<bool> {
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

fn refuse(outbox: &Outbox, refusal: Refusal) {
    // An edge error goes straight to the client's own outbox: the router has nothing to decide.
    let _ = outbox.push(plain::render(&Event::Refused(&refusal), None));
}

/// Handles one complete plain line. Returns false if the hub is gone.
async fn dispatch(line: &[u8], id: ClientId, hub: &mpsc::Sender<Request>, outbox: &Outbox) -> bool {
    let Ok(text) = std::str::from_utf8(line) else {
        refuse(outbox, Refusal::InvalidUtf8);
        return true;
    };
    if text.is_empty() {
        return true;
    }
    match plain::parse(text) {
        Ok(cmd) => send(hub, id, cmd).await,
        Err(refusal) => {
            refuse(outbox, refusal);
            true
        }
    }
}

async fn send(hub: &mpsc::Sender<Request>, id: ClientId, cmd: Command) -> bool {
    hub.send(Request::Command { id, cmd }).await.is_ok()
}

/// The write half's state: the batch taken from the outbox and not yet fully written.
#[derive(Default)]
pub(crate) struct Writer {
    pub(crate) batch: Batch,
    /// Set when the outbox was closed: write what is left, then end the connection.
    pub(crate) closing: bool,
}

impl Writer {
    pub(crate) fn has_unwritten(&self) -> bool {
        !self.batch.messages.is_empty()
    }

    /// Writes as much of the batch as the socket takes. Returns `Ok(true)` when all of it
    /// (and, when closing, the farewell) has been written.
    pub(crate) fn flush(&mut self, stream: &TcpStream) -> io::Result<bool> {
        if self.closing {
            if let Some(farewell) = self.batch.close.take() {
                self.batch.messages.push_back(farewell);
            }
        }
        write_vectored(stream, &mut self.batch.messages)?;
        if self.batch.messages.is_empty() {
            // Release the queue's allocation when it was large; an idle client keeps none.
            if self.batch.messages.capacity() > 64 {
                self.batch.messages = VecDeque::new();
            }
            return Ok(true);
        }
        Ok(false)
    }
}

/// Writes queued messages with as few `writev` calls as the socket allows, removing what was
/// written. Stops without error when the socket would block.
pub(crate) fn write_vectored(stream: &TcpStream, queue: &mut VecDeque<Bytes>) -> io::Result<()> {
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
