//! The byte streams a connection runs over: the only code that names a socket type.
//!
//! A connection task drives its transport by readiness (poll until readable or writable, then
//! `try_read`/`try_write_vectored` until it would block), so one task per client holds no
//! buffers of its own while idle. Every transport offers that same shape: plain TCP directly; a
//! TLS session (the TLS issue) as the TCP socket plus the session state, decrypting in
//! `try_read` and encrypting in `try_write_vectored`; WebSocket as a framing layer the same way.
//! Rare variants are boxed so the common one keeps every connection's future small: the enum is
//! as large as its largest variant, and an idle client's memory is mostly that future.
//!
//! TLS is [`TlsStream`]: rustls driven the same way (records read from the socket when it is
//! readable, decrypted into the caller's buffer; plaintext encrypted and written until the
//! socket would block), so the connection task does not know which it has.

use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::net::TcpStream;

/// See the module documentation.
#[derive(Debug)]
pub enum Transport {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over TCP (boxed: the session state is large, and most connections are plain).
    Tls(Box<TlsStream>),
    /// Nothing: only for the moment [`Transport::start_tls`] moves the socket into its TLS
    /// session (so the connection task can upgrade its transport in place instead of holding
    /// a second one).
    Gone,
}

/// Most plaintext a TLS session buffers for writing before `try_write_vectored` reports the
/// socket full: the outbox, not the TLS layer, is where output waits.
const TLS_WRITE_BUFFER: usize = 64 * 1024;

impl Transport {
    pub fn tcp(stream: TcpStream) -> Self {
        Transport::Tcp(stream)
    }

    /// Starts a server-side TLS session on this connection (its ClientHello is still unread).
    /// On failure the connection is unusable ([`Transport::Gone`]).
    pub fn start_tls(&mut self, config: Arc<rustls::ServerConfig>) -> io::Result<()> {
        let tcp = match std::mem::replace(self, Transport::Gone) {
            Transport::Tcp(tcp) => tcp,
            _ => return Err(io::Error::new(io::ErrorKind::InvalidInput, "not plain TCP")),
        };
        let mut conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
        conn.set_buffer_limit(Some(TLS_WRITE_BUFFER));
        *self = Transport::Tls(Box::new(TlsStream {
            tcp,
            state: Mutex::new(TlsState {
                conn,
                peeked: Vec::new(),
            }),
        }));
        Ok(())
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }

    fn tcp_ref(&self) -> io::Result<&TcpStream> {
        match self {
            Transport::Tcp(s) => Ok(s),
            Transport::Tls(t) => Ok(&t.tcp),
            Transport::Gone => Err(gone()),
        }
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp_ref()?.peer_addr()
    }

    /// Ready once a read would not block (data, end of stream or an error).
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Transport::Tcp(s) => s.poll_read_ready(cx),
            Transport::Tls(t) => {
                if t.has_plaintext() {
                    return Poll::Ready(Ok(()));
                }
                t.tcp.poll_read_ready(cx)
            }
            Transport::Gone => Poll::Ready(Err(gone())),
        }
    }

    /// Ready once a write would not block.
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.tcp_ref() {
            Ok(tcp) => tcp.poll_write_ready(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Reads what is available without blocking; `Ok(0)` at end of stream, `WouldBlock` when
    /// nothing is.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.try_read(buf),
            Transport::Tls(t) => t.try_read(buf),
            Transport::Gone => Err(gone()),
        }
    }

    /// Writes as much of `bufs` as fits without blocking.
    pub fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.try_write_vectored(bufs),
            Transport::Tls(t) => t.try_write_vectored(bufs),
            Transport::Gone => Err(gone()),
        }
    }

    /// Sends what was accepted earlier and still waits (TLS records); `Ok(false)` while some
    /// still does (the socket is full).
    pub fn flush_pending(&self) -> io::Result<bool> {
        match self {
            Transport::Tls(t) => {
                let mut st = t.lock();
                t.flush(&mut st)?;
                Ok(!st.conn.wants_write())
            }
            _ => Ok(true),
        }
    }

    /// Whether bytes accepted earlier still wait to go out (TLS records the socket did not
    /// take): the writer must wait for the socket and call `try_write_vectored` again.
    pub fn has_pending_output(&self) -> bool {
        match self {
            Transport::Tcp(_) | Transport::Gone => false,
            Transport::Tls(t) => t.lock().conn.wants_write(),
        }
    }

    /// The first bytes the client sent, left in place for the reader (protocol sniffing).
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.peek(buf).await,
            Transport::Tls(t) => t.peek(buf).await,
            Transport::Gone => Err(gone()),
        }
    }

    /// Ends the session politely where there is one: a TLS close_notify, sent if the socket
    /// takes it now (it never waits).
    pub fn close(&self) {
        if let Transport::Tls(t) = self {
            let mut st = t.lock();
            st.conn.send_close_notify();
            let _ = t.flush(&mut st);
        }
    }

    /// Says goodbye without losing the last words: shuts the sending side, then reads and
    /// discards what the client still sends, for up to `linger`, until it closes too. Closing
    /// a socket with unread input resets the connection, and a reset can destroy the reply the
    /// client has not read yet.
    pub async fn linger_close(&self, linger: std::time::Duration) {
        let Ok(tcp) = self.tcp_ref() else {
            return;
        };
        let _ = socket2::SockRef::from(tcp).shutdown(std::net::Shutdown::Write);
        let deadline = tokio::time::Instant::now() + linger;
        let mut scratch = [0u8; 1024];
        loop {
            match tcp.try_read(&mut scratch) {
                Ok(0) => return,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
            if tokio::time::timeout_at(deadline, tcp.readable())
                .await
                .is_err()
            {
                return;
            }
        }
    }

    /// Completes a TLS handshake (nothing to do for plain TCP).
    pub async fn handshake(&self) -> io::Result<()> {
        match self {
            Transport::Tcp(_) => Ok(()),
            Transport::Tls(t) => t.handshake().await,
            Transport::Gone => Err(gone()),
        }
    }
}

fn gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the connection's socket is gone",
    )
}

/// A server-side TLS session driven by readiness, like the plain socket: `try_read` decrypts
/// what has arrived, `try_write_vectored` encrypts and sends what the socket takes. The lock
/// is never contended (one connection task uses it); it makes the stream `Sync`.
#[derive(Debug)]
pub struct TlsStream {
    tcp: TcpStream,
    state: Mutex<TlsState>,
}

#[derive(Debug)]
struct TlsState {
    conn: rustls::ServerConnection,
    /// Plaintext read by `peek` and not yet by `try_read`.
    peeked: Vec<u8>,
}

/// The socket as `Read`/`Write` that never block, for rustls.
struct NonBlocking<'a>(&'a TcpStream);

impl Read for NonBlocking<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for NonBlocking<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TlsStream {
    fn lock(&self) -> std::sync::MutexGuard<'_, TlsState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn has_plaintext(&self) -> bool {
        let mut st = self.lock();
        !st.peeked.is_empty()
            || st
                .conn
                .process_new_packets()
                .map_or(true, |io| io.plaintext_bytes_to_read() > 0)
    }

    /// Sends the TLS records rustls has ready, until the socket would block.
    fn flush(&self, st: &mut TlsState) -> io::Result<()> {
        while st.conn.wants_write() {
            match st.conn.write_tls(&mut NonBlocking(&self.tcp)) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads TLS records from the socket into the session and processes them. `Ok(false)` at
    /// the end of the stream; `WouldBlock` when the socket had nothing.
    fn pull(&self, st: &mut TlsState) -> io::Result<bool> {
        let n = st.conn.read_tls(&mut NonBlocking(&self.tcp))?;
        let processed = st.conn.process_new_packets();
        // Handshake replies, or the alert that says why the session failed.
        let flushed = self.flush(st);
        processed.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        flushed?;
        Ok(n > 0)
    }

    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut st = self.lock();
        if !st.peeked.is_empty() {
            let n = buf.len().min(st.peeked.len());
            buf[..n].copy_from_slice(&st.peeked[..n]);
            st.peeked.drain(..n);
            if st.peeked.is_empty() {
                st.peeked = Vec::new();
            }
            return Ok(n);
        }
        loop {
            match st.conn.reader().read(buf) {
                Ok(n) => return Ok(n), // 0: the client closed the session (close_notify)
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if !self.pull(&mut st)? {
                return Ok(0); // end of the TCP stream
            }
        }
    }

    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut st = self.lock();
        self.flush(&mut st)?;
        if st.conn.wants_write() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut n = 0;
        for b in bufs {
            let w = st.conn.writer().write(b)?;
            n += w;
            if w < b.len() {
                break;
            }
        }
        self.flush(&mut st)?;
        if n == 0 && bufs.iter().any(|b| !b.is_empty()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    async fn handshake(&self) -> io::Result<()> {
        loop {
            {
                let mut st = self.lock();
                if !st.conn.is_handshaking() {
                    return Ok(());
                }
                match self.pull(&mut st) {
                    Ok(true) => continue,
                    Ok(false) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            self.tcp.readable().await?;
        }
    }

    async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            {
                let mut st = self.lock();
                if st.peeked.is_empty() {
                    let mut chunk = [0u8; 512];
                    match st.conn.reader().read(&mut chunk) {
                        Ok(n) => st.peeked.extend_from_slice(&chunk[..n]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
                if !st.peeked.is_empty() {
                    let n = buf.len().min(st.peeked.len());
                    buf[..n].copy_from_slice(&st.peeked[..n]);
                    return Ok(n);
                }
                match self.pull(&mut st) {
                    Ok(true) => continue,
                    Ok(false) => return Ok(0),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            self.tcp.readable().await?;
        }
    }
}
