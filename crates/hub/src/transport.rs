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
//! TLS is [`TlsStream`]: rustls (its unbuffered API) driven the same way (records read from the socket when it is
//! readable, decrypted into the caller's buffer; plaintext encrypted and written until the
//! socket would block), so the connection task does not know which it has.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{
    ConnectionState, EncodeError, InsufficientSizeError, UnbufferedStatus, WriteTraffic,
};
use tokio::net::TcpStream;

pub mod ws;

/// See the module documentation.
#[derive(Debug)]
pub enum Transport {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over TCP (boxed: the session state is large, and most connections are plain).
    Tls(Box<TlsStream>),
    /// WebSocket over TCP or TLS (the browser client, web IRC clients): see [`ws`].
    Ws(Box<ws::WsStream>),
    /// Nothing: only for the moment [`Transport::start_tls`] moves the socket into its TLS
    /// session (so the connection task can upgrade its transport in place instead of holding
    /// a second one).
    Gone,
}

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
        let conn = UnbufferedServerConnection::new(config).map_err(io::Error::other)?;
        *self = Transport::Tls(Box::new(TlsStream {
            tcp,
            state: Mutex::new(TlsState {
                conn,
                incoming: Vec::new(),
                io: Pending::default(),
            }),
        }));
        Ok(())
    }

    /// Speaks WebSocket from now on (the HTTP upgrade has been answered): lines in frames,
    /// binary ones for `binary.ircv3.net`.
    /// `read` is what the client sent after its request head (frames already).
    pub fn start_websocket(&mut self, binary: bool, read: Vec<u8>) {
        let inner = std::mem::replace(self, Transport::Gone);
        *self = Transport::Ws(Box::new(ws::WsStream::new(inner, binary, read)));
    }

    pub fn is_tls(&self) -> bool {
        match self {
            Transport::Tls(_) => true,
            Transport::Ws(w) => w.inner().is_tls(),
            _ => false,
        }
    }

    pub fn is_websocket(&self) -> bool {
        matches!(self, Transport::Ws(_))
    }

    fn tcp_ref(&self) -> io::Result<&TcpStream> {
        match self {
            Transport::Tcp(s) => Ok(s),
            Transport::Tls(t) => Ok(&t.tcp),
            Transport::Ws(w) => w.inner().tcp_ref(),
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
            Transport::Ws(w) => w.poll_read_ready(cx),
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
            Transport::Ws(w) => w.try_read(buf),
            Transport::Gone => Err(gone()),
        }
    }

    /// Writes as much of `bufs` as fits without blocking.
    pub fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.try_write_vectored(bufs),
            Transport::Tls(t) => t.try_write_vectored(bufs),
            Transport::Ws(w) => w.try_write_vectored(bufs),
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
                Ok(st.io.outgoing.is_empty())
            }
            Transport::Ws(w) => w.flush_pending(),
            _ => Ok(true),
        }
    }

    /// Whether bytes accepted earlier still wait to go out (TLS records the socket did not
    /// take): the writer must wait for the socket and call `try_write_vectored` again.
    pub fn has_pending_output(&self) -> bool {
        match self {
            Transport::Tcp(_) | Transport::Gone => false,
            Transport::Tls(t) => t.has_pending_output(),
            Transport::Ws(w) => w.has_pending_output(),
        }
    }

    /// The first bytes the client sent, left in place for the reader (protocol sniffing).
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.peek(buf).await,
            Transport::Tls(t) => t.peek(buf).await,
            // Nothing is sniffed inside a WebSocket: it is IRC.
            Transport::Ws(_) => Ok(0),
            Transport::Gone => Err(gone()),
        }
    }

    /// Ends the session politely where there is one: a TLS close_notify, sent if the socket
    /// takes it now (it never waits).
    pub fn close(&self) {
        match self {
            Transport::Tls(t) => t.close(),
            Transport::Ws(w) => w.close(),
            _ => {}
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
            Transport::Tcp(_) | Transport::Ws(_) => Ok(()),
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
///
/// It uses rustls' unbuffered API so that the buffers are ours: records are read into and
/// encrypted in a per-thread scratch area, and a session keeps bytes of its own only while
/// they are in flight (a partial record, records the socket did not take, plaintext not yet
/// read). An idle TLS client holds the session's keys and nothing else.
#[derive(Debug)]
pub struct TlsStream {
    tcp: TcpStream,
    state: Mutex<TlsState>,
}

struct TlsState {
    conn: UnbufferedServerConnection,
    /// Received bytes not yet processed: a partial record, or the records of a handshake
    /// message not yet complete. Empty (no allocation) between messages.
    incoming: Vec<u8>,
    io: Pending,
}

/// What a session holds between calls, each empty (no allocation) when nothing waits.
#[derive(Debug, Default)]
struct Pending {
    /// Records made but not yet taken by the socket: they leave before anything new.
    outgoing: Vec<u8>,
    /// Plaintext decrypted but not yet read (what `peek` saw is here too).
    plaintext: Vec<u8>,
    /// The client sent close_notify: nothing more will come.
    peer_closed: bool,
}

impl std::fmt::Debug for TlsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsState")
            .field("handshaking", &self.conn.is_handshaking())
            .field("incoming", &self.incoming.len())
            .field("outgoing", &self.io.outgoing.len())
            .field("plaintext", &self.io.plaintext.len())
            .field("peer_closed", &self.io.peer_closed)
            .finish()
    }
}

/// How much is read from the socket at a time.
const TLS_READ: usize = 17 * 1024;
/// Most received bytes a session may hold unprocessed: a handshake message of up to 64 KiB
/// (rustls' own cap) spread over records, plus one record. More is a protocol error.
const TLS_MAX_INCOMING: usize = 64 * 1024 + 17 * 1024;
/// Most plaintext encrypted by one `try_write_vectored` (rustls cuts it into records of 16 KiB).
const TLS_WRITE: usize = 64 * 1024;
/// Room for the records `TLS_WRITE` bytes make, with a key update in front.
const TLS_WRITE_RECORDS: usize = TLS_WRITE + 1024;

/// The per-thread scratch areas every TLS session of the thread uses in turn.
struct Scratch {
    /// Received records: a session's leftover, then what the socket gave.
    records: Vec<u8>,
    /// Plaintext gathered from the caller's slices, to encrypt in one go.
    plain: Vec<u8>,
    /// The records made of `plain`.
    sealed: Vec<u8>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch {
        records: vec![0; TLS_MAX_INCOMING + TLS_READ],
        plain: Vec::with_capacity(TLS_WRITE),
        sealed: vec![0; TLS_WRITE_RECORDS],
    });
}

fn tls_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// Writes `out`'s head to the socket until it is empty or the socket would block; frees it
/// once empty.
fn send_pending(tcp: &TcpStream, out: &mut Vec<u8>) -> io::Result<()> {
    let mut sent = 0;
    while sent < out.len() {
        match tcp.try_write(&out[sent..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    if sent == out.len() {
        *out = Vec::new();
    } else {
        out.drain(..sent);
    }
    Ok(())
}

/// Runs the session over the received bytes `buf` until it needs more input or may send
/// application data; then, if it may, calls `on_write` with the means to. Handshake records
/// it makes are sent (or kept in `io.outgoing`), application data goes to `io.plaintext`.
/// Returns how many bytes at the front of `buf` are still unprocessed.
fn process(
    conn: &mut UnbufferedServerConnection,
    io: &mut Pending,
    tcp: &TcpStream,
    buf: &mut [u8],
    mut on_write: impl FnMut(&mut WriteTraffic<'_, ServerConnectionData>, &mut Vec<u8>),
) -> io::Result<usize> {
    let mut used = buf.len();
    loop {
        let UnbufferedStatus { mut discard, state } = conn.process_tls_records(&mut buf[..used]);
        let mut done = false;
        match state.map_err(tls_error)? {
            ConnectionState::ReadTraffic(mut traffic) => {
                while let Some(record) = traffic.next_record() {
                    let record = record.map_err(tls_error)?;
                    discard += record.discard;
                    io.plaintext.extend_from_slice(record.payload);
                }
            }
            ConnectionState::EncodeTlsData(mut encode) => {
                let start = io.outgoing.len();
                let mut room = 4096;
                loop {
                    io.outgoing.resize(start + room, 0);
                    match encode.encode(&mut io.outgoing[start..]) {
                        Ok(n) => {
                            io.outgoing.truncate(start + n);
                            break;
                        }
                        Err(EncodeError::InsufficientSize(InsufficientSizeError {
                            required_size,
                        })) if required_size > room => room = required_size,
                        Err(e) => {
                            io.outgoing.truncate(start);
                            return Err(tls_error(e));
                        }
                    }
                }
            }
            ConnectionState::TransmitTlsData(transmit) => {
                send_pending(tcp, &mut io.outgoing)?;
                // What the socket did not take stays in `outgoing`, sent before anything new.
                transmit.done();
            }
            ConnectionState::BlockedHandshake => done = true,
            ConnectionState::WriteTraffic(mut write) => {
                on_write(&mut write, &mut io.outgoing);
                done = true;
            }
            ConnectionState::PeerClosed | ConnectionState::Closed => {
                io.peer_closed = true;
                done = true;
            }
            _ => {
                return Err(tls_error(
                    "early data or a TLS state this server does not use",
                ))
            }
        }
        if discard > 0 {
            buf.copy_within(discard..used, 0);
            used -= discard;
        }
        if done {
            return Ok(used);
        }
    }
}

impl TlsStream {
    fn lock(&self) -> std::sync::MutexGuard<'_, TlsState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn has_plaintext(&self) -> bool {
        let st = self.lock();
        !st.io.plaintext.is_empty() || st.io.peer_closed
    }

    /// Sends the records waiting, until the socket would block.
    fn flush(&self, st: &mut TlsState) -> io::Result<()> {
        send_pending(&self.tcp, &mut st.io.outgoing)
    }

    /// Reads what the socket has and runs the session over it. `Ok(false)` at the end of the
    /// stream; `WouldBlock` when the socket had nothing.
    fn pull(&self, st: &mut TlsState) -> io::Result<bool> {
        let have = st.incoming.len();
        if have > TLS_MAX_INCOMING {
            return Err(tls_error("a TLS message larger than the server accepts"));
        }
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let area = &mut scratch.records;
            area[..have].copy_from_slice(&st.incoming);
            let n = self.tcp.try_read(&mut area[have..have + TLS_READ])?;
            if n == 0 {
                return Ok(false);
            }
            let TlsState { conn, incoming, io } = &mut *st;
            let left = process(conn, io, &self.tcp, &mut area[..have + n], |_, _| {})?;
            incoming.clear();
            if left == 0 {
                *incoming = Vec::new();
            } else {
                incoming.extend_from_slice(&area[..left]);
            }
            Ok(true)
        })
    }

    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut st = self.lock();
        loop {
            if !st.io.plaintext.is_empty() {
                let plain = &mut st.io.plaintext;
                let n = buf.len().min(plain.len());
                buf[..n].copy_from_slice(&plain[..n]);
                if n == plain.len() {
                    *plain = Vec::new();
                } else {
                    plain.drain(..n);
                }
                return Ok(n);
            }
            if st.io.peer_closed {
                return Ok(0); // the client closed the session (close_notify)
            }
            if !self.pull(&mut st)? {
                return Ok(0); // end of the TCP stream
            }
        }
    }

    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut st = self.lock();
        self.flush(&mut st)?;
        if !st.io.outgoing.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Ok(0);
        }
        let take = total.min(TLS_WRITE);
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let Scratch { plain, sealed, .. } = &mut *scratch;
            plain.clear();
            for b in bufs {
                let k = b.len().min(take - plain.len());
                plain.extend_from_slice(&b[..k]);
                if plain.len() == take {
                    break;
                }
            }
            let mut made = None;
            let TlsState { conn, incoming, io } = &mut *st;
            let left = process(conn, io, &self.tcp, &mut incoming[..], |write, _| {
                made = Some(write.encrypt(plain, &mut sealed[..]));
            })?;
            incoming.truncate(left);
            let n = match made {
                Some(sealed_len) => sealed_len.map_err(tls_error)?,
                None => return Err(io::ErrorKind::NotConnected.into()),
            };
            // Records the session made on the way (a key update) go first.
            if io.outgoing.is_empty() {
                let mut sent = 0;
                while sent < n {
                    match self.tcp.try_write(&sealed[sent..n]) {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(k) => sent += k,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                io.outgoing.extend_from_slice(&sealed[sent..n]);
            } else {
                io.outgoing.extend_from_slice(&sealed[..n]);
                send_pending(&self.tcp, &mut io.outgoing)?;
            }
            Ok(take)
        })
    }

    fn has_pending_output(&self) -> bool {
        !self.lock().io.outgoing.is_empty()
    }

    /// Queues a close_notify and sends it if the socket takes it now.
    fn close(&self) {
        let mut st = self.lock();
        if st.conn.is_handshaking() {
            return;
        }
        let TlsState { conn, incoming, io } = &mut *st;
        let _ = process(conn, io, &self.tcp, &mut incoming[..], |write, outgoing| {
            let start = outgoing.len();
            outgoing.resize(start + 64, 0);
            let n = write
                .queue_close_notify(&mut outgoing[start..])
                .unwrap_or(0);
            outgoing.truncate(start + n);
        });
        let _ = self.flush(&mut st);
    }

    async fn handshake(&self) -> io::Result<()> {
        loop {
            let waiting_to_send = {
                let mut st = self.lock();
                self.flush(&mut st)?;
                if !st.conn.is_handshaking() {
                    return Ok(()); // records still waiting go out with the first write
                }
                match self.pull(&mut st) {
                    Ok(true) => continue,
                    Ok(false) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                !st.io.outgoing.is_empty()
            };
            if waiting_to_send {
                self.tcp
                    .ready(tokio::io::Interest::READABLE | tokio::io::Interest::WRITABLE)
                    .await?;
            } else {
                self.tcp.readable().await?;
            }
        }
    }

    async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            {
                let mut st = self.lock();
                if !st.io.plaintext.is_empty() {
                    let n = buf.len().min(st.io.plaintext.len());
                    buf[..n].copy_from_slice(&st.io.plaintext[..n]);
                    return Ok(n);
                }
                if st.io.peer_closed {
                    return Ok(0);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn configs() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
        let pair = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        let cert = pair.cert.der().clone();
        let key =
            rustls::pki_types::PrivateKeyDer::try_from(pair.key_pair.serialize_der()).expect("key");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .expect("server config");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).expect("root");
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        (Arc::new(server), Arc::new(client))
    }

    async fn read_exactly(t: &Transport, want: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 8192];
        while got.len() < want {
            std::future::poll_fn(|cx| t.poll_read_ready(cx))
                .await
                .expect("readable");
            match t.try_read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("read: {e}"),
            }
        }
        got
    }

    /// Records spanning reads, large writes the socket takes in parts, and an idle session
    /// that holds no buffers afterwards; then the client's close_notify reads as the end.
    #[tokio::test]
    async fn tls_session_moves_large_data_both_ways_and_holds_nothing_when_idle() {
        let (server_config, client_config) = configs();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let upload: Vec<u8> = (0..50_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let download: Vec<u8> = (0..300_000u32).map(|i| b'A' + (i % 26) as u8).collect();
        let (up, down) = (upload.clone(), download.len());
        let client = std::thread::spawn(move || {
            let mut conn =
                rustls::ClientConnection::new(client_config, "localhost".try_into().expect("name"))
                    .expect("client");
            let mut sock = std::net::TcpStream::connect(addr).expect("connect");
            let mut tls = rustls::Stream::new(&mut conn, &mut sock);
            tls.write_all(&up).expect("upload");
            tls.flush().expect("flush");
            let mut got = vec![0u8; down];
            tls.read_exact(&mut got).expect("download");
            conn.send_close_notify();
            conn.complete_io(&mut sock).expect("close_notify");
            got
        });
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut t = Transport::tcp(tcp);
        t.start_tls(server_config).expect("start");
        t.handshake().await.expect("handshake");
        assert_eq!(read_exactly(&t, upload.len()).await, upload);
        // Many small slices, as an outbox hands them over.
        let mut sent = 0;
        while sent < download.len() {
            let slices: Vec<IoSlice<'_>> = download[sent..]
                .chunks(100)
                .take(1000)
                .map(IoSlice::new)
                .collect();
            match t.try_write_vectored(&slices) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::future::poll_fn(|cx| t.poll_write_ready(cx))
                        .await
                        .expect("writable");
                }
                Err(e) => panic!("write: {e}"),
            }
        }
        while !t.flush_pending().expect("flush") {
            std::future::poll_fn(|cx| t.poll_write_ready(cx))
                .await
                .expect("writable");
        }
        // The client closes after reading: its close_notify is the end of the stream.
        assert!(read_exactly(&t, 1).await.is_empty());
        let Transport::Tls(tls) = &t else {
            panic!("not TLS")
        };
        let st = tls.lock();
        assert_eq!(
            (
                st.incoming.capacity(),
                st.io.outgoing.capacity(),
                st.io.plaintext.capacity()
            ),
            (0, 0, 0),
            "an idle session keeps no buffers"
        );
        drop(st);
        assert_eq!(client.join().expect("client thread"), download);
    }
}
