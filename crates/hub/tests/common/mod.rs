//! A hub in process for tests: the router runs as a task of the test's runtime, and each client
//! is an outbox that the test reads the way a connection's writer does. No binary, no sockets.
//!
//! The test is every client's writer. It takes an outbox only once the outbox has been woken
//! (as `conn` does), and then at once: taking is what ends a writer's part in the router's round
//! of wake-ups (see `router::deliver`), so a client that the test reads never holds up a round,
//! and one that it stops reading ([`Hub::stop_reading`]) is a client whose writer never takes.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use obrol_hub::api::{ClientId, Newcomer, Request};
use obrol_hub::event::Command;
use obrol_hub::outbox::{Batch, Outbox};
use obrol_hub::router::{Gate, Router};
use obrol_hub::{Protocol, Settings};
use tokio::sync::{mpsc, oneshot};

/// Every client's address: IRC lines name it as the host (`nick!user@127.0.0.1`).
pub const HOST: &str = "127.0.0.1";

/// A client of a [`Hub`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct C(usize);

struct Client {
    id: ClientId,
    proto: Protocol,
    outbox: Arc<Outbox>,
    batch: Batch,
    /// The start of a line not yet complete.
    partial: Vec<u8>,
    /// Complete lines taken and not yet looked at by the test (without line ends).
    lines: VecDeque<String>,
    /// The test takes this client's output (see [`Hub::stop_reading`]).
    reading: bool,
    /// The last sync marker seen (see [`Hub::settle`]).
    synced: u64,
    /// Set once the outbox was closed: the farewell (empty when aborted or closed without one).
    farewell: Option<Bytes>,
}

impl Client {
    /// Takes everything queued, as a writer does once woken.
    fn take(&mut self) {
        self.outbox.take(&mut self.batch);
        for msg in self.batch.messages.drain(..) {
            self.partial.extend_from_slice(&msg);
        }
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let line = String::from_utf8(line).expect("output is UTF-8");
            let line = line.trim_end_matches('\n').trim_end_matches('\r');
            match line
                .strip_prefix("~sync ")
                .and_then(|n| n.strip_suffix('~'))
            {
                Some(n) => self.synced = n.parse().expect("a sync marker"),
                None => self.lines.push_back(line.to_owned()),
            }
        }
        if let Some(farewell) = self.batch.close.take() {
            self.farewell = Some(farewell);
            // The connection writes the farewell and ends; its outbox retires with it.
            self.outbox.retire();
        }
    }

    fn line_end(&self) -> &'static str {
        match self.proto {
            Protocol::Irc => "\r\n",
            Protocol::Plain => "\n",
        }
    }
}

/// A router task and its clients.
pub struct Hub {
    requests: mpsc::Sender<Request>,
    gate: Arc<Gate>,
    settings: Arc<Settings>,
    clients: Vec<Client>,
    next_id: ClientId,
    syncs: u64,
    /// Longest a wait for output may take before the test fails (on the paused clock, virtual
    /// time).
    pub patience: Duration,
}

impl Hub {
    /// Starts a router with `settings` on the current runtime.
    pub fn start(settings: Settings) -> Hub {
        let settings = Arc::new(settings);
        let router = Router::new(settings.clone());
        let gate = router.gate();
        let (requests, inbox) = mpsc::channel(settings.router_queue);
        tokio::spawn(router.run(inbox));
        Hub {
            requests,
            gate,
            settings,
            clients: Vec::new(),
            next_id: 1,
            syncs: 0,
            patience: Duration::from_secs(10),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Admits a client under `nick` with an outbox of the default size, and reads its welcome.
    pub async fn connect(&mut self, proto: Protocol, nick: &str, caps: u32) -> C {
        let limit = self.settings.max_queue_bytes;
        self.connect_limited(proto, nick, caps, limit).await
    }

    /// Admits a client whose outbox holds at most `limit` bytes, and reads its welcome.
    pub async fn connect_limited(
        &mut self,
        proto: Protocol,
        nick: &str,
        caps: u32,
        limit: usize,
    ) -> C {
        let id = self.next_id;
        self.next_id += 1;
        let outbox = Arc::new(Outbox::new(limit, self.gate.clone()));
        let port = u16::try_from(40_000 + id).expect("a port");
        let addr: SocketAddr = format!("{HOST}:{port}").parse().expect("an address");
        let irc = proto == Protocol::Irc;
        let (reply, accepted) = oneshot::channel();
        self.request(Request::Connect {
            id,
            newcomer: Newcomer {
                proto,
                addr,
                outbox: outbox.clone(),
                nick: Some(nick.to_owned()),
                user: irc.then(|| nick.to_owned()),
                realname: irc.then(|| format!("{nick}'s real name")),
                caps,
                account: None,
                bridged: false,
            },
            reply: Some(reply),
        })
        .await;
        assert!(
            accepted.await.expect("the router answers"),
            "{nick} refused"
        );
        self.clients.push(Client {
            id,
            proto,
            outbox,
            batch: Batch::default(),
            partial: Vec::new(),
            lines: VecDeque::new(),
            reading: true,
            synced: 0,
            farewell: None,
        });
        let c = C(self.clients.len() - 1);
        self.settle().await;
        let welcome = self.lines(c);
        assert!(!welcome.is_empty(), "{nick} got no welcome");
        c
    }

    /// Asks the router to admit a bridge's member (sink outbox, never read) under `nick`;
    /// returns its id if the nick was accepted.
    pub async fn connect_bridged(&mut self, nick: &str) -> Option<ClientId> {
        let id = self.next_id;
        self.next_id += 1;
        let (reply, accepted) = oneshot::channel();
        self.request(Request::Connect {
            id,
            newcomer: Newcomer {
                proto: Protocol::Irc,
                addr: "224.1.1.1:5004".parse().expect("an address"),
                outbox: Arc::new(Outbox::sink(self.gate.clone())),
                nick: Some(nick.to_owned()),
                user: Some("mcast".into()),
                realname: Some("multicast".into()),
                caps: 0,
                account: None,
                bridged: true,
            },
            reply: Some(reply),
        })
        .await;
        accepted.await.expect("the router answers").then_some(id)
    }

    pub fn id(&self, c: C) -> ClientId {
        self.clients[c.0].id
    }

    pub fn outbox(&self, c: C) -> Arc<Outbox> {
        self.clients[c.0].outbox.clone()
    }

    pub async fn request(&self, req: Request) {
        self.requests.send(req).await.expect("the router runs");
    }

    pub async fn command(&self, c: C, cmd: Command) {
        let id = self.id(c);
        self.request(Request::Command { id, cmd }).await;
    }

    /// Text to the client's current room (a plain client's line).
    pub async fn say(&self, c: C, text: &str) {
        let text = text.to_owned();
        self.command(
            c,
            Command::Say {
                text,
                action: false,
            },
        )
        .await;
    }

    /// A PRIVMSG to `target` (`#room` or a nick).
    pub async fn msg(&self, c: C, target: &str, text: &str) {
        let cmd = Command::SayTo {
            target: target.to_owned(),
            text: text.to_owned(),
            action: false,
            notice: false,
            tags: Vec::new(),
        };
        self.command(c, cmd).await;
    }

    pub async fn join(&self, c: C, room: &str) {
        let room = room.to_owned();
        self.command(c, Command::Join { room, key: None }).await;
    }

    /// A line typed on the operator console, and the console's answer.
    pub async fn operator(&self, line: &str) -> String {
        let (reply, answer) = oneshot::channel();
        let line = line.to_owned();
        self.request(Request::Operator { line, reply }).await;
        answer.await.expect("the router answers")
    }

    /// From now on the test takes nothing from `c`: a writer that never takes again.
    pub fn stop_reading(&mut self, c: C) {
        self.clients[c.0].reading = false;
    }

    /// What `c` was sent since the last look, as lines without their line ends.
    pub fn lines(&mut self, c: C) -> Vec<String> {
        self.clients[c.0].lines.drain(..).collect()
    }

    /// Forgets what every client was sent so far.
    pub fn clear(&mut self) {
        for c in &mut self.clients {
            c.lines.clear();
        }
    }

    /// The farewell `c`'s outbox was closed with (lines), if it was closed.
    pub fn farewell(&self, c: C) -> Option<String> {
        let farewell = self.clients[c.0].farewell.as_ref()?;
        Some(String::from_utf8_lossy(farewell).trim_end().to_owned())
    }

    /// Waits until the router has handled every request sent so far and its output is in the
    /// lines of every client the test reads: a marker is queued for each (`Request::Deliver`,
    /// in order with everything else for it) and read up to.
    pub async fn settle(&mut self) {
        self.syncs += 1;
        let n = self.syncs;
        let mut marked = Vec::new();
        for c in &self.clients {
            if c.reading && c.farewell.is_none() {
                let bytes = Bytes::from(format!("~sync {n}~{}", c.line_end()));
                marked.push((c.id, bytes));
            }
        }
        for (id, bytes) in marked {
            self.request(Request::Deliver { id, bytes }).await;
        }
        self.pump_until("settled", |hub| {
            hub.clients
                .iter()
                .all(|c| !c.reading || c.farewell.is_some() || c.synced == n)
        })
        .await;
    }

    /// Waits until `c` has been sent something, and returns it.
    pub async fn wait_for(&mut self, c: C) -> Vec<String> {
        self.pump_until("output", |hub| !hub.clients[c.0].lines.is_empty())
            .await;
        self.lines(c)
    }

    /// Waits until `c`'s outbox has been closed, and returns its farewell.
    pub async fn wait_closed(&mut self, c: C) -> String {
        self.pump_until("a close", |hub| hub.clients[c.0].farewell.is_some())
            .await;
        self.farewell(c).unwrap_or_default()
    }

    /// Acts as every reading client's writer (take each outbox once it is woken) until `done`.
    async fn pump_until(&mut self, what: &str, done: impl Fn(&Hub) -> bool) {
        let patience = self.patience;
        let work = async {
            while !done(self) {
                std::future::poll_fn(|cx| {
                    let mut took = false;
                    for c in &mut self.clients {
                        if c.reading && c.farewell.is_none() && c.outbox.poll_ready(cx).is_ready() {
                            c.take();
                            took = true;
                        }
                    }
                    if took {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                })
                .await;
            }
        };
        if tokio::time::timeout(patience, work).await.is_err() {
            panic!("no {what} within {patience:?}");
        }
    }
}
