//! obrol's client core: one connection to a hub that sends and receives at the same time.
//!
//! The seed's `client.py` alternates between waiting for one message and sending one line, so
//! it misses nothing only if everyone takes turns. [`run`] instead waits on the socket and on the
//! user's input together. It knows nothing of terminals: lines come in over a channel and go out
//! through a callback, so the line-mode binary and a later TUI share it.

use std::collections::VecDeque;
use std::time::Duration;

use obrol_wire::plain;
use thiserror::Error;
use tokio::sync::mpsc;

pub mod chat;
mod conn;
pub mod irc;
mod tls;
pub use conn::{Backoff, Connection, Incoming};
pub use tls::config as tls_config;

/// Longest line accepted from the hub; longer ones are reported and skipped.
pub const MAX_LINE: usize = 64 * 1024;

/// How long making a connection (TCP, and TLS on it) may take before the attempt counts as
/// failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Most lines typed while the connection is down that wait to be sent when it is back.
pub const MAX_WAITING: usize = 100;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        addr: String,
        reason: std::io::Error,
    },
    #[error("TLS with {addr} failed: {reason}")]
    Tls {
        addr: String,
        reason: std::io::Error,
    },
    #[error("connection lost: {0}")]
    Io(#[from] std::io::Error),
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
    /// Join these rooms (`/join`), the last one current.
    pub rooms: Vec<String>,
    /// Speak TLS to the hub.
    pub tls: Option<TlsOptions>,
    /// After a lost connection, connect again (waiting as [`Backoff`] says) and take the same
    /// nick and rooms back, instead of returning [`ClientError::Lost`].
    pub reconnect: bool,
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

/// Who we are on the hub, as its plain lines tell: what to ask for again after reconnecting.
#[derive(Debug, Default)]
struct Resume {
    /// The nick the hub calls us.
    nick: Option<String>,
    /// The nick we chose (asked for at start or renamed to), as opposed to a guest nick.
    chosen: Option<String>,
    /// Rooms we are in, the current one last.
    rooms: Vec<String>,
}

impl Resume {
    fn new(options: &Options) -> Resume {
        Resume {
            nick: options.nick.clone(),
            chosen: options.nick.clone(),
            rooms: options.rooms.clone(),
        }
    }

    /// The first lines of a connection: the nick, then the rooms.
    fn hello(&self) -> String {
        let mut hello = String::new();
        if let Some(nick) = &self.chosen {
            hello.push_str(&format!("/nick {nick}\n"));
        }
        for room in &self.rooms {
            hello.push_str(&format!("/join {room}\n"));
        }
        hello
    }

    fn current(&mut self, room: &str) {
        self.rooms.retain(|r| r != room);
        self.rooms.push(room.to_owned());
    }

    /// Learns from one of the hub's lines.
    fn learn(&mut self, line: &str) {
        let Some(info) = line.strip_prefix("* ") else {
            return;
        };
        let words: Vec<&str> = info.split(' ').collect();
        let ours = |nick: &str| self.nick.as_deref() == Some(nick);
        match words.as_slice() {
            ["you", "are", nick, "in", room, ..] => {
                let room = room.trim_end_matches(';');
                self.nick = Some((*nick).to_owned());
                self.current(room);
            }
            [nick, "joined", room] if ours(nick) => self.current(room),
            [nick, "left", room, ..] if ours(nick) => self.rooms.retain(|r| r != room),
            [old, "is", "now", "known", "as", new] if ours(old) => {
                self.nick = Some((*new).to_owned());
                self.chosen = Some((*new).to_owned());
            }
            _ => {}
        }
    }
}

/// How one connection ended.
enum Ended {
    /// The user or the hub ended it on purpose.
    Clean,
    Lost(ClientError),
}

/// Connects to `addr`, then relays `input` lines to the hub and hub lines to `output` until the
/// hub closes the connection.
///
/// When `input` ends, what was typed has been sent; the write half is shut down so the hub sees
/// the end and closes, and the remaining output is still delivered. Returns `Ok(())` on a clean
/// close: after the end of `input`, or after the hub's farewell line (`! disconnected: ...`,
/// which says why: `/quit`, shutdown, a kick). A connection that ends without either was lost:
/// with [`Options::reconnect`] the client says so through `output` (`! connection lost: ...;
/// connecting again in 2 s`), keeps what is typed meanwhile (up to [`MAX_WAITING`] lines),
/// connects again, asks for its nick and rooms back and goes on; without it, it returns
/// [`ClientError::Lost`]. Failing to connect at first is an error either way.
pub async fn run(
    addr: &str,
    options: Options,
    mut input: mpsc::Receiver<String>,
    mut output: impl FnMut(&str),
) -> Result<(), ClientError> {
    let mut conn = Connection::open(addr, options.tls.as_ref()).await?;
    let mut resume = Resume::new(&options);
    let mut backoff = Backoff::new();
    let mut waiting: VecDeque<String> = VecDeque::new();
    let mut input_open = true;
    loop {
        let ended = session(
            &mut conn,
            &mut resume,
            &mut waiting,
            &mut input,
            &mut input_open,
            &mut backoff,
            &mut output,
        )
        .await;
        let err = match ended {
            Ended::Clean => return Ok(()),
            Ended::Lost(err) if !options.reconnect || !input_open => return Err(err),
            Ended::Lost(err) => err,
        };
        let mut reason = err.to_string();
        conn = loop {
            let delay = backoff.next_delay();
            output(&format!(
                "! {reason}; connecting again in {} s",
                delay.as_secs_f64().ceil()
            ));
            let until = tokio::time::Instant::now() + delay;
            // Lines typed meanwhile wait for the connection.
            while input_open {
                tokio::select! {
                    () = tokio::time::sleep_until(until) => break,
                    line = input.recv() => match line {
                        Some(line) => {
                            if waiting.len() == MAX_WAITING {
                                output("! not connected: too many lines waiting, this one was dropped");
                            } else {
                                if waiting.is_empty() {
                                    output("! not connected: what you type is sent when the connection is back");
                                }
                                waiting.push_back(line);
                            }
                        }
                        None => input_open = false,
                    },
                }
            }
            if !input_open {
                return Err(err);
            }
            match Connection::open(addr, options.tls.as_ref()).await {
                Ok(conn) => break conn,
                Err(e) => reason = e.to_string(),
            }
        };
        output("! connected again");
    }
}

/// One connection's life: the hello, then lines both ways until it ends.
async fn session(
    conn: &mut Connection,
    resume: &mut Resume,
    waiting: &mut VecDeque<String>,
    input: &mut mpsc::Receiver<String>,
    input_open: &mut bool,
    backoff: &mut Backoff,
    output: &mut impl FnMut(&str),
) -> Ended {
    let mut hello = resume.hello();
    for line in waiting.iter() {
        hello.push_str(line);
        hello.push('\n');
    }
    if !hello.is_empty() {
        if let Err(e) = conn.send(&hello).await {
            return Ended::Lost(e); // what waited still waits
        }
    }
    waiting.clear();
    let mut farewell = false;
    loop {
        tokio::select! {
            incoming = conn.next() => match incoming {
                Ok(Incoming::Line(line)) => {
                    // Admitted: the hub took us (a hub that greets and closes, throttling,
                    // keeps the back-off growing).
                    if line.starts_with("* you are ") {
                        backoff.reset();
                    }
                    farewell |= line.starts_with(plain::FAREWELL);
                    resume.learn(&line);
                    output(&line);
                }
                Ok(Incoming::TooLong(max)) => {
                    output(&format!("! (a line longer than {max} bytes was skipped)"))
                }
                Ok(Incoming::Closed) if farewell || !*input_open => return Ended::Clean,
                Ok(Incoming::Closed) => return Ended::Lost(ClientError::Lost),
                Err(e) if farewell || !*input_open => {
                    tracing::debug!(%e, "connection ended");
                    return Ended::Clean;
                }
                Err(e) => return Ended::Lost(e),
            },
            line = input.recv(), if *input_open => {
                let sent = match line {
                    Some(mut line) => {
                        line.push('\n');
                        conn.send(&line).await
                    }
                    None => {
                        *input_open = false;
                        conn.finish().await
                    }
                };
                if let Err(e) = sent {
                    return if *input_open { Ended::Lost(e) } else { Ended::Clean };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

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
            rooms: vec!["dev".into()],
            tls: None,
            reconnect: false,
        };
        let r = run(&addr, options, input, |_| {}).await;
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(got.await.expect("first line"), "/nick ani");
    }

    /// A lost connection is said, tried again after the back-off, and the new one asks for
    /// the same nick and rooms; what was typed meanwhile goes out then.
    #[tokio::test(start_paused = true)]
    async fn a_lost_connection_is_made_again_with_the_same_nick_and_rooms() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address").to_string();
        let (heard_tx, mut heard) = mpsc::channel::<String>(16);
        tokio::spawn(async move {
            // The first connection: the welcome, a rename and a join, then it dies.
            let (mut s, _) = listener.accept().await.expect("accept");
            s.write_all(b"* you are guest1 in lobby; type /help\n* guest1 is now known as ani\n* ani joined dev\n")
                .await
                .expect("write");
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(s);
            // The second one: reports what it hears.
            let (s, _) = listener.accept().await.expect("accept again");
            let mut lines = tokio::io::BufReader::new(s).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = heard_tx.send(line).await;
            }
        });
        let (typing, input) = mpsc::channel(4);
        let options = Options {
            reconnect: true,
            ..Options::default()
        };
        let (said_tx, mut said) = mpsc::unbounded_channel::<String>();
        let client = tokio::spawn(async move {
            run(&addr, options, input, move |l| {
                let _ = said_tx.send(l.to_owned());
            })
            .await
        });
        let mut lost = None;
        while let Some(line) = said.recv().await {
            if line.contains("connecting again in") {
                lost = Some(line);
                break;
            }
        }
        let lost = lost.expect("the loss is said");
        assert!(lost.starts_with("! connection lost"), "{lost}");
        typing.send("typed while away".into()).await.expect("type");
        let got: Vec<String> = [
            heard.recv().await,
            heard.recv().await,
            heard.recv().await,
            heard.recv().await,
        ]
        .into_iter()
        .map(|l| l.expect("a line"))
        .collect();
        assert_eq!(
            got,
            ["/nick ani", "/join lobby", "/join dev", "typed while away"]
        );
        drop(typing);
        client.abort();
    }
}
