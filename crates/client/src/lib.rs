//! obrol's client core: one connection to a hub that sends and receives at the same time.
//!
//! The seed's `client.py` alternates between waiting for one message and sending one line, so
//! it misses nothing only if everyone takes turns. [`run`] instead waits on the socket and on the
//! user's input together. It knows nothing of terminals: lines come in over a channel and go out
//! through a callback, so the line-mode binary and a later TUI share it.

use std::io;

use bytes::BytesMut;
use obrol_wire::line::{LineCodec, LineError};
use obrol_wire::plain;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

mod tls;
pub use tls::config as tls_config;

/// Longest line accepted from the hub; longer ones are reported and skipped.
pub const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: io::Error },
    #[error("TLS with {addr} failed: {reason}")]
    Tls { addr: String, reason: io::Error },
    #[error("connection lost: {0}")]
    Io(#[from] io::Error),
    /// The hub closed the connection without its farewell line while the user was still
    /// typing: it died, or something between it and us cut the connection.
    #[error("connection lost: the hub closed it without saying goodbye")]
    Lost,
}

/// What to do right after connecting.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Ask for this nick (`/nick`). It is the first line sent, so the hub admits the client
    /// under it and nobody sees a guest nick first.
    pub nick: Option<String>,
    /// Join this room (`/join`).
    pub room: Option<String>,
    /// Speak TLS to the hub.
    pub tls: Option<TlsOptions>,
}

/// How to check the hub's certificate.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Also trust the certificates in this PEM file (a self-signed hub's own, say); the
    /// system's trust store is always used.
    pub ca: Option<std::path::PathBuf>,
    /// Accept any certificate: the connection is encrypted, but nothing says who is at the
    /// other end. For trying things out only.
    pub insecure: bool,
}

/// Anything the client can talk over: plain TCP or TLS.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// Connects to `addr`, then relays `input` lines to the hub and hub lines to `output` until the
/// hub closes the connection.
///
/// When `input` ends, what was typed has been sent; the write half is shut down so the hub sees
/// the end and closes, and the remaining output is still delivered. Returns `Ok(())` on a clean
/// close: after the end of `input`, or after the hub's farewell line (`! disconnected: ...`,
/// which says why: `/quit`, shutdown, a kick). A connection that ends without either was lost
/// ([`ClientError::Lost`]).
pub async fn run(
    addr: &str,
    options: Options,
    mut input: mpsc::Receiver<String>,
    mut output: impl FnMut(&str),
) -> Result<(), ClientError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|reason| ClientError::Connect {
            addr: addr.to_owned(),
            reason,
        })?;
    let _ = stream.set_nodelay(true);
    let stream: Box<dyn Io> = match &options.tls {
        None => Box::new(stream),
        Some(tls) => Box::new(tls::connect(addr, stream, tls).await?),
    };
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut hello = String::new();
    if let Some(nick) = &options.nick {
        hello.push_str(&format!("/nick {nick}\n"));
    }
    if let Some(room) = &options.room {
        hello.push_str(&format!("/join {room}\n"));
    }
    if !hello.is_empty() {
        wr.write_all(hello.as_bytes()).await?;
    }
    let mut codec = LineCodec::new(MAX_LINE);
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut input_open = true;
    let mut farewell = false;
    loop {
        tokio::select! {
            n = rd.read_buf(&mut buf) => {
                // A TLS peer that closes without close_notify ends the stream all the same.
                let n = match n {
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
                    n => n?,
                };
                if n == 0 {
                    return if farewell || !input_open {
                        Ok(())
                    } else {
                        Err(ClientError::Lost)
                    };
                }
                loop {
                    match codec.decode(&mut buf) {
                        Ok(Some(line)) => {
                            let line = String::from_utf8_lossy(&line);
                            farewell |= line.starts_with(plain::FAREWELL);
                            output(&line);
                        }
                        Ok(None) => break,
                        Err(LineError::TooLong(max)) => {
                            output(&format!("! (a line longer than {max} bytes was skipped)"))
                        }
                    }
                }
            }
            line = input.recv(), if input_open => match line {
                Some(mut line) => {
                    line.push('\n');
                    wr.write_all(line.as_bytes()).await?;
                }
                None => {
                    input_open = false;
                    wr.shutdown().await?;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncBufReadExt;
    use tokio::net::TcpListener;

    /// A one-connection hub on 127.0.0.1 that runs `serve` on the accepted socket; returns its
    /// address.
    async fn hub<F, Fut>(serve: F) -> String
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address").to_string();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            serve(stream).await;
        });
        addr
    }

    #[tokio::test]
    async fn a_close_without_the_farewell_is_a_lost_connection() {
        let addr = hub(|mut s| async move {
            s.write_all(b"welcome\n").await.expect("write");
        })
        .await;
        let (_typing, input) = mpsc::channel(1);
        let mut seen = Vec::new();
        let r = run(&addr, Options::default(), input, |l| {
            seen.push(l.to_owned())
        })
        .await;
        assert!(matches!(r, Err(ClientError::Lost)), "{r:?}");
        assert_eq!(seen, ["welcome"]);
        assert!(ClientError::Lost.to_string().contains("connection lost"));
    }

    #[tokio::test]
    async fn a_close_after_the_farewell_is_clean() {
        let addr = hub(|mut s| async move {
            s.write_all(b"welcome\n! disconnected: kicked by the operator\n")
                .await
                .expect("write");
        })
        .await;
        let (_typing, input) = mpsc::channel(1);
        let r = run(&addr, Options::default(), input, |_| {}).await;
        assert!(r.is_ok(), "{r:?}");
    }

    #[tokio::test]
    async fn a_close_after_the_end_of_input_is_clean() {
        let addr = hub(|s| async move {
            let mut lines = tokio::io::BufReader::new(s).lines();
            while let Ok(Some(_)) = lines.next_line().await {}
        })
        .await;
        let (typing, input) = mpsc::channel(1);
        typing.send("hi".into()).await.expect("send");
        drop(typing);
        let r = run(&addr, Options::default(), input, |_| {}).await;
        assert!(r.is_ok(), "{r:?}");
    }

    #[tokio::test]
    async fn the_nick_is_asked_for_in_the_first_line() {
        let (first, got) = tokio::sync::oneshot::channel();
        let addr = hub(|s| async move {
            let mut lines = tokio::io::BufReader::new(s).lines();
            let line = lines.next_line().await.expect("read").unwrap_or_default();
            let _ = first.send(line);
            while let Ok(Some(_)) = lines.next_line().await {}
        })
        .await;
        let (typing, input) = mpsc::channel(1);
        drop(typing);
        let options = Options {
            nick: Some("ani".into()),
            room: Some("dev".into()),
            tls: None,
        };
        let r = run(&addr, options, input, |_| {}).await;
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(got.await.expect("first line"), "/nick ani");
    }
}
