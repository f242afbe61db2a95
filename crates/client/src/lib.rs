//! obrol's client core: one connection to a hub that sends and receives at the same time.
//!
//! The seed's `client.py` alternates between waiting for one message and sending one line, so
//! it misses nothing only if everyone takes turns. [`run`] instead waits on the socket and on the
//! user's input together. It knows nothing of terminals: lines come in over a channel and go out
//! through a callback, so the line-mode binary and a later TUI share it.

use std::io;

use bytes::BytesMut;
use obrol_wire::line::{LineCodec, LineError};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Longest line accepted from the hub; longer ones are reported and skipped.
pub const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: String, source: io::Error },
    #[error("connection lost: {0}")]
    Io(#[from] io::Error),
}

/// What to do right after connecting.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Ask for this nick (`/nick`).
    pub nick: Option<String>,
    /// Join this room (`/join`).
    pub room: Option<String>,
}

/// Connects to `addr`, then relays `input` lines to the hub and hub lines to `output` until the
/// hub closes the connection.
///
/// When `input` ends, what was typed has been sent; the write half is shut down so the hub sees
/// the end and closes, and the remaining output is still delivered. Returns `Ok(())` on a clean
/// close by the hub.
pub async fn run(
    addr: &str,
    options: Options,
    mut input: mpsc::Receiver<String>,
    mut output: impl FnMut(&str),
) -> Result<(), ClientError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|source| ClientError::Connect {
            addr: addr.to_owned(),
            source,
        })?;
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
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
    loop {
        tokio::select! {
            n = rd.read_buf(&mut buf) => {
                if n? == 0 {
                    return Ok(());
                }
                loop {
                    match codec.decode(&mut buf) {
                        Ok(Some(line)) => output(&String::from_utf8_lossy(&line)),
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
