//! obrol's chat hub: the server behind `obrol serve`.
//!
//! Shape (see ARCHITECTURE.md): an accept loop per listener takes a connection permit *before*
//! accepting, then spawns one task per connection ([`conn`]). Connections turn their protocol's
//! lines into [`event::Command`]s for the single [`router::Router`] task, which owns all rooms
//! and nicks, and which answers through each connection's bounded [`outbox::Outbox`]. Protocol
//! adapters ([`plain`]) are the only code that knows wire syntax.

pub mod accounts;
pub mod api;
pub mod conn;
pub mod domain;
pub mod event;
pub mod limits;
pub mod local;
pub mod metrics;
pub mod outbox;
pub mod proto;
pub mod router;
pub mod tls;
pub mod transport;
pub mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Semaphore};

use api::Request;
pub use conn::ListenerKind;
pub use proto::Protocol;
use router::Router;

/// What proves an `OPER NAME PASSWORD`: a password matching an Argon2 hash (PHC string), or
/// being logged in to an account (the password is then not looked at). Never a password in
/// clear: configuration files and command lines are read by more than the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperSecret {
    Hash(String),
    Account(String),
}

/// Tunables of a hub, with defaults for a real deployment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Server name, shown in the welcome.
    pub name: String,
    /// What this server is, in a few words (IRC LINKS and WHOIS).
    pub description: String,
    /// First line every client gets.
    pub motd: String,
    /// Room every client starts in.
    pub default_room: String,
    /// Longest plain line, bytes.
    pub max_line: usize,
    /// Most unread output bytes queued per client before it is disconnected as a slow consumer.
    pub max_queue_bytes: usize,
    /// Most simultaneous connections.
    pub max_clients: usize,
    /// Most rooms one client may be in.
    pub max_rooms_per_client: usize,
    /// Capacity of the channel into the router.
    pub router_queue: usize,
    /// How long shutdown waits for connections to say goodbye.
    pub shutdown_grace: Duration,
    /// How long a sniffing listener waits for a client's first bytes before assuming plain.
    pub sniff_wait: Duration,
    /// Longest a round of writes holds back the next (see `router::deliver`): a safety net, as
    /// rounds end by themselves once every writer they woke has written.
    pub round_limit: Duration,
    /// Server operators for IRC `OPER`: a name, and what proves it.
    pub opers: Vec<(String, OperSecret)>,
    /// Silence after which an IRC client is pinged, and then disconnected if it stays silent
    /// as long again.
    pub ping_interval: Duration,
    /// Time an IRC client has to finish registering, counted from the accept: no trickle of
    /// input extends it.
    pub registration_timeout: Duration,
    /// Most connections from one address (an IPv4 address or an IPv6 /64); 0: no limit.
    pub max_per_address: u32,
    /// Most connections not yet registered (IRC) or admitted (plain) at once.
    pub max_unregistered: usize,
    /// Connections an address (an IPv4 address or an IPv6 /64) may open a minute, all at once
    /// after a quiet minute; 0: no limit.
    pub connects_per_minute: u32,
    /// Addresses exempt from the per-address limit, the unregistered cap and the line rate.
    pub exempt: Vec<limits::Cidr>,
    /// Lines per second a client may send after a burst; `None`: no limit.
    pub line_rate: Option<limits::Rate>,
    /// Most unread output bytes queued for all clients together; past it, the largest queues
    /// of clients that do not read are cut first.
    pub max_queued_total: usize,
    /// Refuse clients that do not use TLS.
    pub tls_only: bool,
    /// Only clients logged in to an account may join rooms and talk (IRC clients must log in
    /// with SASL to register; plain clients wait outside the lobby until they log in).
    pub accounts_required: bool,
    /// How long a client may use a registered nick without logging in to it before it is
    /// renamed.
    pub nick_grace: Duration,
    /// The IRCv3 `sts` policy to advertise when TLS is served: (TLS port, duration in
    /// seconds); `None`: no policy. [`Hub::bind`] sets the port to that of the first `tls://`
    /// listener (and drops the policy if there is none).
    pub sts: Option<(u16, u64)>,
    /// Messages of a room's history a client is sent when it joins (with a history store).
    pub history_replay: usize,
    /// Origins (`https://chat.example.org`) besides this host's whose pages may open a
    /// WebSocket here (see [`web`]).
    pub web_origins: Vec<String>,
}

impl Settings {
    pub fn new(name: &str) -> Self {
        Settings {
            name: name.to_owned(),
            description: "obrol hub".into(),
            motd: format!("Selamat datang di Server {name}..."),
            default_room: "lobby".into(),
            max_line: proto::plain::DEFAULT_MAX_LINE,
            max_queue_bytes: 1024 * 1024,
            max_clients: 19_000,
            max_rooms_per_client: 50,
            router_queue: 4096,
            shutdown_grace: Duration::from_millis(1500),
            sniff_wait: Duration::from_millis(300),
            round_limit: Duration::from_millis(50),
            opers: Vec::new(),
            ping_interval: Duration::from_secs(90),
            registration_timeout: Duration::from_secs(30),
            max_per_address: 64,
            connects_per_minute: 60,
            max_unregistered: 4096,
            exempt: Vec::new(),
            line_rate: limits::Rate::new(10.0, 40, Duration::from_secs(30)),
            max_queued_total: 256 << 20,
            tls_only: false,
            accounts_required: false,
            nick_grace: Duration::from_secs(30),
            web_origins: Vec::new(),
            sts: None,
            history_replay: 50,
        }
    }
}

#[derive(Debug, Error)]
pub enum HubError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Backlog of not-yet-accepted connections. The default of `TcpListener::bind` (128) makes the
/// kernel drop connections in a burst of a few hundred clients; the kernel caps this at
/// `net.core.somaxconn` (4096 by default).
const LISTEN_BACKLOG: u32 = 4096;

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// A handle for talking to a running hub from outside (the operator console).
#[derive(Clone)]
pub struct HubHandle {
    requests: mpsc::Sender<Request>,
    /// Client ids, shared with the accept loops (local clients take theirs here too).
    next_id: Arc<AtomicU64>,
    settings: Arc<Settings>,
    limits: Arc<limits::Limits>,
    gate: Arc<router::Gate>,
}

impl HubHandle {
    /// Applies the limits of `settings` to the running hub (the per-address limit, the
    /// connection rate, the unregistered cap, the exemptions, the line rate and the overall
    /// output budget): new
    /// values count from the next connection, line or turn.
    pub fn set_limits(&self, settings: &Settings) {
        self.limits.set(settings);
        self.gate.set_budget(settings.max_queued_total);
    }

    /// The hub's figures in Prometheus text format.
    pub async fn metrics(&self) -> Option<String> {
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request::Metrics { reply }).await.ok()?;
        answer.await.ok()
    }

    /// Runs one operator console line; returns what to show the operator.
    pub async fn operator(&self, line: String) -> Option<String> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Operator { line, reply })
            .await
            .ok()?;
        answer.await.ok()
    }
}

/// A hub with its listeners bound, ready to [`Hub::run`].
pub struct Hub {
    listeners: Vec<(TcpListener, ListenerKind)>,
    settings: Arc<Settings>,
    requests: mpsc::Sender<Request>,
    router: Option<Router>,
    /// The router's round of writer wake-ups, which every connection's outbox reports to.
    gate: Arc<router::Gate>,
    /// One permit per connection (taken before `accept`); the router counts open connections
    /// from what is taken.
    permits: Arc<Semaphore>,
    /// Accept loops waiting with a permit (see [`Shared::accepting`]).
    accepting: Arc<AtomicUsize>,
    /// The next client id (connections and local clients alike).
    next_id: Arc<AtomicU64>,
    inbox: Option<mpsc::Receiver<Request>>,
    limits: Arc<limits::Limits>,
    tls: Option<Arc<tls::Tls>>,
    metrics: Arc<metrics::Metrics>,
    accounts: Option<Arc<accounts::Accounts>>,
    history: Option<Arc<obrol_store::history::History>>,
}

impl Hub {
    /// Binds every listen address; fails on the first that cannot be bound.
    pub async fn bind(
        addrs: &[(SocketAddr, ListenerKind)],
        settings: Settings,
    ) -> Result<Hub, HubError> {
        let mut listeners = Vec::new();
        for &(addr, kind) in addrs {
            let l = listen(addr).map_err(|source| HubError::Listen { addr, source })?;
            listeners.push((l, kind));
        }
        let mut settings = settings;
        // The sts policy names the TLS port: that of the first tls:// listener, as bound.
        let tls_port = listeners
            .iter()
            .find(|(_, kind)| *kind == ListenerKind::Tls)
            .and_then(|(l, _)| l.local_addr().ok())
            .map(|a| a.port());
        settings.sts = match (settings.sts, tls_port) {
            (Some((_, duration)), Some(port)) if duration > 0 => Some((port, duration)),
            _ => None,
        };
        let settings = Arc::new(settings);
        let (requests, inbox) = mpsc::channel(settings.router_queue);
        let router = Router::new(settings.clone());
        let limits = Arc::new(limits::Limits::new(
            settings.max_per_address,
            settings.max_unregistered,
            settings.exempt.clone(),
            router.permits(),
        ));
        limits.set(&settings);
        Ok(Hub {
            accounts: None,
            history: None,
            tls: None,
            metrics: router.metrics(),
            limits,
            listeners,
            gate: router.gate(),
            permits: router.permits(),
            accepting: router.accepting(),
            next_id: Arc::new(AtomicU64::new(1)),
            router: Some(router),
            settings,
            requests,
            inbox: Some(inbox),
        })
    }

    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|(l, _)| l.local_addr().ok())
            .collect()
    }

    /// Gives the hub accounts (registration, login, SASL, registered nicks).
    pub fn set_accounts(&mut self, accounts: Arc<accounts::Accounts>) {
        if let Some(router) = self.router.as_mut() {
            router.set_accounts(accounts.clone());
        }
        self.accounts = Some(accounts);
    }

    /// Keeps history in `history`: every message is stored before anyone receives it, and
    /// joining clients are sent a room's latest.
    pub fn set_history(&mut self, history: Arc<obrol_store::history::History>) {
        if let Some(router) = self.router.as_mut() {
            router.set_history(history.clone());
        }
        self.history = Some(history);
    }

    /// Serves TLS with this certificate: on `tls://` listeners, and on sniffing ones to
    /// clients that open with a TLS ClientHello.
    pub fn set_tls(&mut self, tls: Arc<tls::Tls>) {
        self.tls = Some(tls);
    }

    pub fn handle(&self) -> HubHandle {
        HubHandle {
            requests: self.requests.clone(),
            next_id: self.next_id.clone(),
            settings: self.settings.clone(),
            limits: self.limits.clone(),
            gate: self.gate.clone(),
        }
    }

    /// Serves until `shutdown` resolves, then tells every client, closes their connections and
    /// returns within [`Settings::shutdown_grace`].
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        if let (Some(router), Some(inbox)) = (self.router.take(), self.inbox.take()) {
            tokio::spawn(router.run(inbox));
        }
        let permits = self.permits.clone();
        let next_id = self.next_id.clone();
        let mut accepting = tokio::task::JoinSet::new();
        for (listener, kind) in std::mem::take(&mut self.listeners) {
            accepting.spawn(accept_loop(
                listener,
                kind,
                permits.clone(),
                next_id.clone(),
                Arc::new(Shared {
                    requests: self.requests.clone(),
                    settings: self.settings.clone(),
                    gate: self.gate.clone(),
                    accepting: self.accepting.clone(),
                    limits: self.limits.clone(),
                    tls: self.tls.clone(),
                    metrics: self.metrics.clone(),
                    accounts: self.accounts.clone(),
                    history: self.history.clone(),
                }),
            ));
        }
        shutdown.await;
        tracing::info!("shutting down");
        accepting.abort_all();
        let _ = self.requests.send(Request::Shutdown).await;
        // Every connection holds a permit until its task ends: getting all of them back means
        // every client has been told and closed.
        let all = u32::try_from(self.settings.max_clients).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(self.settings.shutdown_grace, permits.acquire_many(all)).await;
    }
}

/// What every connection of a hub shares: the way to the router, the settings, and the round
/// its outbox reports to. One `Arc` per connection instead of three.
pub struct Shared {
    pub requests: mpsc::Sender<Request>,
    pub settings: Arc<Settings>,
    pub gate: Arc<router::Gate>,
    /// Accept loops holding a permit while they wait for a connection: the router counts open
    /// connections as permits taken minus these.
    pub accepting: Arc<AtomicUsize>,
    /// Connections per address and unregistered connections.
    pub limits: Arc<limits::Limits>,
    /// The certificate, when the hub serves TLS.
    pub tls: Option<Arc<tls::Tls>>,
    /// The edge's counters.
    pub metrics: Arc<metrics::Metrics>,
    /// Accounts, when the hub has a store.
    pub accounts: Option<Arc<accounts::Accounts>>,
    /// History, when the hub keeps it (read at the edge: `CHATHISTORY`, searches).
    pub history: Option<Arc<obrol_store::history::History>>,
}

/// Accepts connections on one listener until aborted.
///
/// The permit is taken *before* `accept`, so at the connection limit the hub stops accepting
/// (clients wait in the kernel's backlog) instead of accepting and dropping. Accept errors
/// (such as running out of file descriptors) back off and retry; they never end the loop.
async fn accept_loop(
    listener: TcpListener,
    kind: ListenerKind,
    permits: Arc<Semaphore>,
    next_id: Arc<AtomicU64>,
    shared: Arc<Shared>,
) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("listening on {addr} ({kind:?})");
    }
    let mut backoff = Duration::from_millis(5);
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        shared.accepting.fetch_add(1, Ordering::Relaxed);
        let accepted = listener.accept().await;
        shared.accepting.fetch_sub(1, Ordering::Relaxed);
        let (stream, addr) = match accepted {
            Ok(accepted) => {
                backoff = Duration::from_millis(5);
                accepted
            }
            Err(err) => {
                drop(permit);
                tracing::warn!(%err, "accept failed; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        // The permit travels with the connection, inside its claim, and is given back when
        // the connection ends.
        let claim = match shared.limits.admit(addr.ip(), permit) {
            Ok((claim, evicted)) => {
                if evicted {
                    metrics::bump(&shared.metrics.evicted_unregistered);
                }
                claim
            }
            Err(refused) => {
                metrics::bump(match refused {
                    limits::Refused::TooManyFromAddress(_) => &shared.metrics.refused_per_address,
                    limits::Refused::TooManyUnregistered => &shared.metrics.refused_unregistered,
                    limits::Refused::ConnectingTooFast
                    | limits::Refused::StillConnectingTooFast => {
                        &shared.metrics.refused_connect_rate
                    }
                });
                turn_away(stream, addr, refused, &shared.limits);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        keep_alive(&stream);
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        // No wrapping `async` block: it would hold the connection's future twice (see
        // `conn::run`).
        let stream = transport::Transport::tcp(stream);
        let conn = conn::run(stream, id, addr, kind, shared.clone(), claim);
        tokio::spawn(conn);
    }
}

/// Tells a connection refused at the door why, in one line, and closes it. The line is written
/// without waiting: a client whose socket cannot take one line at once gets none. Logged at
/// most once a second, with how many refusals that held back.
fn turn_away(
    stream: tokio::net::TcpStream,
    addr: SocketAddr,
    refused: limits::Refused,
    limits: &limits::Limits,
) {
    if refused == limits::Refused::StillConnectingTooFast {
        // Told already: closed at once with a reset, no line, no log, no lingering.
        let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
        return;
    }
    let _ = stream.try_write(refused.farewell().as_bytes());
    if let Some(held) = limits.refusal_log.pass() {
        tracing::warn!(%addr, "refused a connection: {refused} ({held} more refused since the last report)");
    }
    // Closed gracefully (its input read and dropped for up to a second, so the reset that
    // closing over unread input causes cannot destroy the line it was just sent), but only a
    // few at a time: under a flood of connections they are simply dropped.
    static LINGERING: AtomicUsize = AtomicUsize::new(0);
    if LINGERING.fetch_add(1, Ordering::Relaxed) < 64 {
        tokio::spawn(async move {
            transport::Transport::tcp(stream)
                .linger_close(Duration::from_secs(1))
                .await;
            LINGERING.fetch_sub(1, Ordering::Relaxed);
        });
    } else {
        LINGERING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Keep-alive probes find peers that vanished without closing (a laptop that went to sleep,
/// a NAT that forgot the flow): after 2 minutes of silence, then every 30 s, 4 times.
fn keep_alive(stream: &tokio::net::TcpStream) {
    let ka = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(120))
        .with_interval(Duration::from_secs(30))
        .with_retries(4);
    let _ = socket2::SockRef::from(stream).set_tcp_keepalive(&ka);
}
