//! The byte streams a connection runs over: the only code that names a socket type.
//!
//! A connection task drives its transport by readiness (poll until readable or writable, then
//! `try_read`/`try_write_vectored` until it would block), so one task per client holds no
//! buffers of its own while idle. Every transport offers that same shape: plain TCP directly; a
//! TLS session (the TLS issue) as the TCP socket plus the session state, decrypting in
//! `try_read` and encrypting in `try_write_vectored`; WebSocket as a framing layer the same way.
//! Rare variants are boxed so the common one keeps every connection's future small: the enum is
//! as large as its largest variant, and an idle client's memory is mostly that future.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::task::{Context, Poll};

use tokio::net::TcpStream;

/// See the module documentation.
#[derive(Debug)]
pub enum Transport {
    /// Plain TCP.
    Tcp(TcpStream),
}

impl Transport {
    pub fn tcp(stream: TcpStream) -> Self {
        Transport::Tcp(stream)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Transport::Tcp(s) => s.peer_addr(),
        }
    }

    /// Ready once a read would not block (data, end of stream or an error).
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Transport::Tcp(s) => s.poll_read_ready(cx),
        }
    }

    /// Ready once a write would not block.
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Transport::Tcp(s) => s.poll_write_ready(cx),
        }
    }

    /// Reads what is available without blocking; `Ok(0)` at end of stream, `WouldBlock` when
    /// nothing is.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.try_read(buf),
        }
    }

    /// Writes as much of `bufs` as fits without blocking.
    pub fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.try_write_vectored(bufs),
        }
    }

    /// The first bytes the client sent, left in place for the reader (protocol sniffing).
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.peek(buf).await,
        }
    }
}
