//! One connection to a hub as lines in and lines out, and the back-off between attempts to
//! make one. Both clients (line mode and the terminal UI) drive a [`Connection`] from their own
//! loop, so that waiting for a line can sit in a `select!` beside the keyboard and timers.

use std::io;
use std::time::Duration;

use bytes::BytesMut;
use obrol_wire::line::{LineCodec, LineError};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;

use crate::{tls, ClientError, TlsOptions, CONNECT_TIMEOUT, MAX_LINE};

/// Anything the client can talk over: plain TCP or TLS.
pub(crate) trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// What [`Connection::next`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A line, without its ending (invalid UTF-8 replaced).
    Line(String),
    /// A line longer than [`MAX_LINE`] was skipped.
    TooLong(usize),
    /// The hub closed the connection.
    Closed,
}

/// A connection to a hub, plain or TLS.
pub struct Connection {
    rd: ReadHalf<Box<dyn Io>>,
    wr: WriteHalf<Box<dyn Io>>,
    codec: LineCodec,
    buf: BytesMut,
}

impl Connection {
    /// Connects to `addr` (HOST:PORT), speaking TLS when `tls` says so.
    pub async fn open(addr: &str, tls: Option<&TlsOptions>) -> Result<Connection, ClientError> {
        let failed = |reason| ClientError::Connect {
            addr: addr.to_owned(),
            reason,
        };
        let timed_out = || failed(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| timed_out())?
            .map_err(failed)?;
        let _ = stream.set_nodelay(true);
        let stream: Box<dyn Io> = match tls {
            None => Box::new(stream),
            Some(tls) => Box::new(
                tokio::time::timeout(CONNECT_TIMEOUT, tls::connect(addr, stream, tls))
                    .await
                    .map_err(|_| timed_out())??,
            ),
        };
        let (rd, wr) = tokio::io::split(stream);
        Ok(Connection {
            rd,
            wr,
            codec: LineCodec::new(MAX_LINE),
            buf: BytesMut::with_capacity(8 * 1024),
        })
    }

    /// The next line from the hub. Cancel-safe: a `select!` may drop it half-way and call it
    /// again without losing anything.
    pub async fn next(&mut self) -> Result<Incoming, ClientError> {
        loop {
            match self.codec.decode(&mut self.buf) {
                Ok(Some(line)) => return Ok(Incoming::Line(String::from_utf8_lossy(&line).into())),
                Ok(None) => {}
                Err(LineError::TooLong(max)) => return Ok(Incoming::TooLong(max)),
            }
            // A TLS peer that closes without close_notify ends the stream all the same.
            let n = match self.rd.read_buf(&mut self.buf).await {
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
                n => n?,
            };
            if n == 0 {
                return Ok(Incoming::Closed);
            }
        }
    }

    /// Sends `text`, which holds whole lines with their endings.
    pub async fn send(&mut self, text: &str) -> Result<(), ClientError> {
        self.wr.write_all(text.as_bytes()).await?;
        Ok(())
    }

    /// Sends one line, adding its ending.
    pub async fn send_line(&mut self, line: &str) -> Result<(), ClientError> {
        let mut text = String::with_capacity(line.len() + 2);
        text.push_str(line);
        text.push_str("\r\n");
        self.send(&text).await
    }

    /// Ends what we send: the hub sees the end of input and closes in turn.
    pub async fn finish(&mut self) -> Result<(), ClientError> {
        self.wr.shutdown().await?;
        Ok(())
    }
}

/// Waits between attempts to reconnect: 1 s, then twice as long each time up to 30 s, each
/// wait shortened by up to a fifth at random so that the clients of a hub that restarts do not
/// all come back in the same instant.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    pub const FIRST: Duration = Duration::from_secs(1);
    pub const MAX: Duration = Duration::from_secs(30);

    pub fn new() -> Backoff {
        Backoff { next: Self::FIRST }
    }

    /// The wait before the next attempt (the nominal one, without the random part).
    pub fn peek(&self) -> Duration {
        self.next
    }

    /// The wait before the next attempt; the one after it is longer.
    pub fn next_delay(&mut self) -> Duration {
        let nominal = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        // Up to 20% off, from the clock's low bits (no need for a random generator here).
        nominal - nominal.mul_f64(f64::from(nanos % 1000) / 5000.0)
    }

    /// A connection worked: the next failure waits the shortest time again.
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_up_to_thirty_seconds_and_resets() {
        let mut b = Backoff::new();
        let mut nominal = Vec::new();
        for _ in 0..8 {
            nominal.push(b.peek().as_secs());
            let d = b.next_delay();
            assert!(d <= Duration::from_secs(nominal[nominal.len() - 1]));
            assert!(d >= Duration::from_secs(nominal[nominal.len() - 1]).mul_f64(0.8));
        }
        assert_eq!(nominal, [1, 2, 4, 8, 16, 30, 30, 30]);
        b.reset();
        assert_eq!(b.peek(), Duration::from_secs(1));
    }
}
