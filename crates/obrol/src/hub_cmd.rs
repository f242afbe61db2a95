//! `obrol serve` and `obrol connect`: the hub and its line-mode client.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use anyhow::Context;
use obrol_hub::{Hub, HubError, ListenerKind};

use crate::console::{print_message, shutdown_signal, stdin_lines};
use crate::UsageError;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Read settings from this TOML file (see obrol.example.toml); flags given on the command
    /// line win over it. SIGHUP reads it again and applies its limits and certificate.
    #[arg(long, value_name = "PATH")]
    pub config: Option<std::path::PathBuf>,
    /// Keep accounts (and, later, history) in a database in this folder; without it the hub has
    /// no accounts.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<std::path::PathBuf>,
    /// Only clients logged in to an account may join rooms and talk (IRC clients must log in
    /// with SASL; plain clients wait outside the lobby until they /login or /register). Needs
    /// --data-dir.
    #[arg(long)]
    pub accounts_required: bool,
    /// Keep no message history, even with --data-dir (which otherwise keeps it in
    /// DIR/history.db: every message stored before anyone receives it, replayed on join).
    #[arg(long)]
    pub no_history: bool,
    /// Messages of a room's history sent to a client when it joins; 0: none. [default: 50]
    #[arg(long, value_name = "N")]
    pub history_replay: Option<usize>,
    /// Forget history older than this many days (checked at start and every minute);
    /// 0: keep it. [default: 0]
    #[arg(long, value_name = "DAYS", default_value_t = 0.0)]
    pub history_days: f64,
    /// Keep at most this many messages of each room or private conversation (the oldest go
    /// first; checked at start and every minute); 0: no limit. [default: 0]
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub history_keep: usize,
    /// Seconds a client may use a registered nick without logging in to it before it is
    /// renamed. [default: 30]
    #[arg(long)]
    pub nick_grace_secs: Option<f64>,
    /// Serve Prometheus metrics at http://ADDR/metrics [default address: 127.0.0.1:9477;
    /// keep it on loopback or behind a firewall].
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:9477")]
    pub metrics: Option<String>,
    /// Address to listen on (repeatable): HOST:PORT serves plain and IRC clients and browsers
    /// (the web client at /, IRC over WebSocket at /ws), told apart by their first bytes, and
    /// TLS too when a certificate is set; irc://HOST:PORT or plain://HOST:PORT serves only one
    /// protocol; tls://HOST:PORT only TLS (any of them inside); http://HOST:PORT and
    /// https://HOST:PORT only the web client and WebSocket. [default: 0.0.0.0:8080,
    /// irc://0.0.0.0:6667, and tls://0.0.0.0:6697 with --tls-cert]
    #[arg(long = "listen")]
    pub listen: Vec<String>,
    /// Certificate chain (PEM) for TLS; with --tls-key. Reloaded on SIGHUP.
    #[arg(long)]
    pub tls_cert: Option<std::path::PathBuf>,
    /// Private key (PEM) for TLS; with --tls-cert. Reloaded on SIGHUP.
    #[arg(long)]
    pub tls_key: Option<std::path::PathBuf>,
    /// Refuse clients that do not use TLS.
    #[arg(long)]
    pub tls_only: bool,
    /// How long (seconds) IRC clients that support IRCv3 STS should keep to TLS after seeing
    /// the policy (advertised with a tls:// listener: its port to plaintext clients); 0: no
    /// policy. [default: 300]
    #[arg(long)]
    pub sts_duration: Option<u64>,
    /// Server name shown to clients [default: this host's name].
    #[arg(long)]
    pub name: Option<String>,
    /// First line each client gets [default: "Selamat datang di Server NAME..."].
    #[arg(long)]
    pub motd: Option<String>,
    /// What this server is, in a few words (shown by IRC's LINKS and WHOIS). [default: "obrol hub"]
    #[arg(long)]
    pub description: Option<String>,
    /// Most simultaneous clients. [default: 19000]
    #[arg(long)]
    pub max_clients: Option<usize>,
    /// Longest line a client may send, in bytes. [default: 4096]
    #[arg(long)]
    pub max_line: Option<usize>,
    /// Unread output (bytes) after which a client that does not read is disconnected. [default: 1048576]
    #[arg(long)]
    pub max_queue: Option<usize>,
    /// Worker threads [default: one per core].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Do not read operator console commands from stdin.
    #[arg(long)]
    pub no_console: bool,
    /// Writes go out in rounds: a client's writer is woken at once when the core is idle, and
    /// otherwise when the writers woken before have all written, so each write carries what
    /// arrived meanwhile. This is the longest (microseconds) a round may hold back the next one
    /// (0: no rounds, every writer is woken at once). [default: 50000]
    #[arg(long, alias = "coalesce-us")]
    pub round_limit_us: Option<u64>,
    /// Seconds of silence before an IRC client is pinged (and as many again before it is dropped). [default: 90]
    #[arg(long)]
    pub ping_secs: Option<f64>,
    /// Seconds an IRC client has to finish registering. [default: 30]
    #[arg(long)]
    pub register_secs: Option<f64>,
    /// An IRC operator, as NAME:HASH, for OPER (repeatable): HASH is the Argon2 hash of the
    /// password that `obrol hash-password` prints, never the password itself (a command line
    /// is readable by every local user). Operators by account: `[[oper]]` in the config file.
    #[arg(long = "oper", value_name = "NAME:HASH")]
    pub opers: Vec<String>,
    /// Most connections from one address (an IPv4 address, or an IPv6 /64); 0: no limit. [default: 64]
    #[arg(long)]
    pub max_per_address: Option<u32>,
    /// Most connections that have not registered (IRC) or been admitted (plain) at once (when
    /// full, a newcomer takes the place of the oldest from the address holding the most). [default: 4096]
    #[arg(long)]
    pub max_unregistered: Option<usize>,
    /// Connections one address (an IPv6 /64) may open a minute, all at once after a quiet
    /// minute; more are refused with one line; 0: no limit. [default: 60]
    #[arg(long)]
    pub connects_per_minute: Option<u32>,
    /// An address or block (ADDR or ADDR/BITS) exempt from the per-address limit, the
    /// connection rate, the unregistered cap and the line rate (repeatable), e.g. a benchmark's own address.
    #[arg(long = "exempt", value_name = "CIDR")]
    pub exempt: Vec<String>,
    /// An origin (`https://chat.example.org`) whose pages may open a WebSocket here, besides
    /// this host's own (repeatable): a web IRC client served from another site.
    #[arg(long = "web-origin", value_name = "ORIGIN")]
    pub web_origins: Vec<String>,
    /// Lines per second a client may send once its burst is spent (its reading is slowed to
    /// this rate; a client whose backlog would take --max-lag-secs is disconnected); 0: no limit. [default: 10]
    #[arg(long)]
    pub line_rate: Option<f64>,
    /// Lines a client may send at once after being quiet. [default: 40]
    #[arg(long)]
    pub line_burst: Option<u32>,
    /// Seconds of held-back lines after which a flooding client is disconnected. [default: 30]
    #[arg(long)]
    pub max_lag_secs: Option<f64>,
    /// Most unread output (bytes) queued for all clients together; past it, the clients with
    /// the largest backlogs (those that do not read first) are disconnected. [default: 268435456]
    #[arg(long)]
    pub max_queued_total: Option<usize>,
    /// Relay between a multicast group and a room, both ways (repeatable): GROUP:PORT=ROOM,
    /// e.g. 224.1.1.1:5004=lobby or [ff02::1:2]:5004=dev. Multicast peers appear in the room as
    /// NICK|mc (a suffix nobody else may take); the room's members appear on the group as
    /// NICK@SERVER.
    #[arg(long = "bridge", value_name = "GROUP:PORT=ROOM")]
    pub bridges: Vec<String>,
    /// Interface the bridges join on and send from, by name or address.
    #[arg(long, value_name = "IFACE")]
    pub bridge_iface: Option<String>,
    /// TTL (IPv4) or hop limit (IPv6) of what the bridges send.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=255))]
    pub bridge_ttl: u32,
    /// The bridges' group key, from a file `obrol mcast keygen` wrote (as `obrol mcast
    /// --key-file`).
    #[arg(long, value_name = "PATH", conflicts_with = "bridge_passphrase_file")]
    pub bridge_key_file: Option<std::path::PathBuf>,
    /// Derive the bridges' group key from the passphrase in this file (as `obrol mcast
    /// --passphrase-file`, without --room).
    #[arg(long, value_name = "PATH")]
    pub bridge_passphrase_file: Option<std::path::PathBuf>,
    /// With a key: the bridges sign with the identity in this file (created if missing), so
    /// their fingerprint stays the same across restarts (as `obrol mcast --identity`).
    #[arg(long, value_name = "PATH")]
    pub bridge_identity: Option<std::path::PathBuf>,
}

/// How long history is kept (`--history-days`, `--history-keep`).
#[derive(Clone, Copy)]
struct Retention {
    max_age_ms: Option<i64>,
    keep: Option<usize>,
}

impl Retention {
    fn apply(&self, history: &obrol_store::history::History) {
        if self.max_age_ms.is_none() && self.keep.is_none() {
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        match history.prune(now, self.max_age_ms, self.keep) {
            Ok(0) => {}
            Ok(n) => tracing::info!("history: {n} old messages forgotten"),
            Err(err) => tracing::warn!(%err, "history not pruned"),
        }
    }
}

/// The key for a bridge on `group`, from the bridge flags.
fn bridge_key(
    args: &ServeArgs,
    group: SocketAddr,
) -> anyhow::Result<Option<obrol_mcast::keys::GroupKey>> {
    if let Some(path) = &args.bridge_key_file {
        return crate::mcast_cmd::read_key_file(path).map(Some);
    }
    let Some(path) = &args.bridge_passphrase_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        UsageError(format!(
            "cannot read the passphrase file {}: {e}",
            path.display()
        ))
    })?;
    let first = text.lines().next().unwrap_or("");
    obrol_mcast::keys::GroupKey::from_passphrase(first, group.ip(), group.port(), None)
        .map(Some)
        .map_err(|e| UsageError(e.to_string()).into())
}

pub(crate) fn resolve(spec: &str) -> anyhow::Result<(SocketAddr, ListenerKind)> {
    let (kind, addr) = if let Some(a) = spec.strip_prefix("irc://") {
        (ListenerKind::Irc, a)
    } else if let Some(a) = spec.strip_prefix("plain://") {
        (ListenerKind::Plain, a)
    } else if let Some(a) = spec.strip_prefix("tls://") {
        (ListenerKind::Tls, a)
    } else if let Some(a) = spec.strip_prefix("http://") {
        (ListenerKind::Http, a)
    } else if let Some(a) = spec.strip_prefix("https://") {
        (ListenerKind::Https, a)
    } else {
        (ListenerKind::Auto, spec)
    };
    let addr = addr.to_socket_addrs().ok().and_then(|mut a| a.next()).ok_or_else(|| {
        UsageError(format!(
            "not a listen address: {spec} (expected HOST:PORT, irc://HOST:PORT, plain://HOST:PORT, tls://HOST:PORT, http://HOST:PORT or https://HOST:PORT)"
        ))
    })?;
    Ok((addr, kind))
}

pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "obrol".into())
}

pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => crate::serve_config::load(path)?,
        None => crate::serve_config::ServeConfig::default(),
    };
    let resolved = crate::serve_config::resolve(&args, &file)?;
    let bridges = args
        .bridges
        .iter()
        .map(|s| crate::bridge::parse_spec(s))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = resolved.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = rt.enable_all().build().context("starting the runtime")?;
    rt.block_on(async move {
        let tls = match &resolved.tls_files {
            Some((cert, key)) => Some(Arc::new(
                obrol_hub::tls::Tls::load(cert, key).map_err(|e| UsageError(e.to_string()))?,
            )),
            None => None,
        };
        let mut addrs = Vec::new();
        for spec in &resolved.listen {
            addrs.push(resolve(spec)?);
        }
        if tls.is_none()
            && addrs
                .iter()
                .any(|(_, k)| matches!(k, ListenerKind::Tls | ListenerKind::Https))
        {
            return Err(UsageError(
                "a tls:// or https:// listener needs a certificate and key (--tls-cert, --tls-key)"
                    .into(),
            )
            .into());
        }
        let mut settings = resolved.settings;
        settings.web_origins = args.web_origins.clone();
        if let Some(n) = args.history_replay {
            settings.history_replay = n;
        }
        let (bridge_origin, bridge_rate) = (settings.name.clone(), settings.line_rate);
        let mut hub = Hub::bind(&addrs, settings).await.map_err(|e| match e {
            HubError::Listen { .. } => anyhow::Error::from(UsageError(e.to_string())),
        })?;
        if let Some(tls) = &tls {
            hub.set_tls(tls.clone());
        }
        let mut store = None;
        if let Some(dir) = &resolved.data_dir {
            let accounts =
                obrol_hub::accounts::Accounts::open(dir).map_err(|e| UsageError(e.to_string()))?;
            tracing::info!("accounts in {}", dir.join("obrol.db").display());
            let accounts = Arc::new(accounts);
            hub.set_accounts(accounts.clone());
            store = Some(accounts);
            if !args.no_history {
                let history = obrol_store::history::History::open(dir)
                    .map_err(|e| UsageError(e.to_string()))?;
                tracing::info!("history in {}", dir.join("history.db").display());
                let history = Arc::new(history);
                history
                    .start_mover()
                    .context("starting the history writer")?;
                let retention = Retention {
                    max_age_ms: (args.history_days > 0.0)
                        .then_some((args.history_days * 86_400_000.0) as i64),
                    keep: (args.history_keep > 0).then_some(args.history_keep),
                };
                retention.apply(&history);
                // The search index and retention follow on a thread of their own (see
                // obrol_store::history).
                let indexed = Arc::downgrade(&history);
                std::thread::Builder::new()
                    .name("search-index".into())
                    .spawn(move || {
                        obrol_store::history::background_priority();
                        let mut pruned = std::time::Instant::now();
                        while let Some(history) = indexed.upgrade() {
                            if pruned.elapsed() >= std::time::Duration::from_secs(60) {
                                retention.apply(&history);
                                pruned = std::time::Instant::now();
                            }
                            if let Err(err) = history.index() {
                                tracing::warn!(%err, "search index not updated");
                            }
                            drop(history);
                            std::thread::sleep(std::time::Duration::from_millis(500));
                        }
                    })
                    .context("starting the search indexer")?;
                hub.set_history(history);
            }
        }
        if let Some(spec) = &resolved.metrics {
            let addr: SocketAddr = spec.parse().map_err(|_| {
                UsageError(format!(
                    "not a metrics address: {spec} (expected HOST:PORT)"
                ))
            })?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| UsageError(format!("cannot listen for metrics on {addr}: {e}")))?;
            if let Ok(bound) = listener.local_addr() {
                tracing::info!("metrics on http://{bound}/metrics");
            }
            tokio::spawn(crate::metrics_http::serve(listener, hub.handle()));
        }
        let mut relays = tokio::task::JoinSet::new();
        for spec in bridges {
            let options = crate::bridge::BridgeOptions {
                iface: args.bridge_iface.clone(),
                ttl: args.bridge_ttl,
                key: bridge_key(&args, spec.group)?,
                identity: match &args.bridge_identity {
                    Some(path) => Some(crate::mcast_cmd::load_identity(path)?),
                    None => None,
                },
                heartbeat: std::time::Duration::from_secs(10),
            };
            let peer = crate::bridge::open(&spec, &options).await?;
            let (handle, name, rate) = (hub.handle(), bridge_origin.clone(), bridge_rate);
            relays.spawn(async move {
                crate::bridge::run(peer, spec, options, handle, &name, rate).await;
            });
        }
        // Registered here, before anything listens: a SIGHUP that arrived before the handler
        // would end the process (its default action).
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let hangups = signal(SignalKind::hangup()).context("handling SIGHUP")?;
            tokio::spawn(reload_on_hangup(hangups, args, tls, hub.handle()));
        }
        if resolved.console {
            let handle = hub.handle();
            tokio::spawn(async move {
                let mut lines = stdin_lines();
                while let Some(line) = lines.recv().await {
                    match handle.operator(line).await {
                        Some(reply) if !reply.is_empty() => print_message("*", &reply),
                        Some(_) => {}
                        None => return,
                    }
                }
            });
        }
        tokio::spawn(give_back_memory());
        hub.run(shutdown_signal()).await;
        // The bridges say goodbye on their groups (they stop once the hub is gone).
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
            while relays.join_next().await.is_some() {}
        })
        .await;
        // Room changes made just before the end are written before the process goes.
        if let Some(accounts) = store {
            if !accounts.flush(std::time::Duration::from_secs(10)) {
                tracing::warn!("some room changes could not be written before exiting");
            }
        }
        Ok(())
    })
}

/// On SIGHUP (after a certificate renewal, or an edit of the config file): reads the config
/// file again and applies its limits, and reloads the TLS certificate and key. What cannot
/// change while the hub runs (listeners, threads, the server's name) keeps its first value.
/// A config file that no longer reads keeps everything as it was and says why.
#[cfg(unix)]
async fn reload_on_hangup(
    mut hangups: tokio::signal::unix::Signal,
    args: ServeArgs,
    tls: Option<Arc<obrol_hub::tls::Tls>>,
    handle: obrol_hub::HubHandle,
) {
    {
        while hangups.recv().await.is_some() {
            if let Some(path) = &args.config {
                let reloaded = crate::serve_config::load(path)
                    .and_then(|file| crate::serve_config::resolve(&args, &file));
                match reloaded {
                    Ok(resolved) => {
                        handle.set_limits(&resolved.settings);
                        tracing::info!("SIGHUP: limits reloaded from {}", path.display());
                    }
                    Err(e) => tracing::warn!("SIGHUP: {e}; keeping the current settings"),
                }
            }
            if let Some(tls) = &tls {
                match tls.reload() {
                    Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded"),
                    Err(e) => tracing::warn!("SIGHUP: {e}; still using the previous certificate"),
                }
            }
        }
    }
}

/// Once a second, hands free heap memory back to the system after a burst.
///
/// A burst (a join storm, a mass reconnect) allocates and frees tens of megabytes of short-lived
/// buffers; glibc keeps freed memory in its heaps (one per worker thread), so without this a
/// hub's resident size stays at its peak for good: 5,000 clients joining one room left ~40 MB
/// resident, ~13 MB after a trim. The check is one read of /proc/self/statm; a trim happens
/// once a burst is over: after a second in which the resident size grew by 4 MiB or more, the
/// first second in which it did not.
async fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        fn resident_bytes() -> Option<u64> {
            let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
            let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
            // SAFETY: sysconf only reads a system constant.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            Some(pages * u64::try_from(page).ok()?)
        }
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = resident_bytes().unwrap_or(0);
        let mut grown = false;
        loop {
            tick.tick().await;
            let Some(mut now) = resident_bytes() else {
                return;
            };
            if now > last + (4 << 20) {
                grown = true; // a burst is under way
            } else if grown {
                // It is over: give back what it freed.
                // SAFETY: malloc_trim only returns the allocator's free pages to the system;
                // it is thread-safe in glibc.
                unsafe { libc::malloc_trim(0) };
                grown = false;
                now = resident_bytes().unwrap_or(now);
            }
            last = now;
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct ConnectArgs {
    /// The hub, as HOST:PORT (e.g. 127.0.0.1:8080; IPv6 as [::1]:8080).
    addr: String,
    /// Nick to ask for [default: your user name in the terminal UI; a guest nick in line
    /// mode].
    #[arg(long)]
    nick: Option<String>,
    /// Room to join (again for more rooms).
    #[arg(long = "room", value_name = "ROOM")]
    rooms: Vec<String>,
    /// Line mode even on a terminal: lines in on stdin, out on stdout (pipes always get it).
    #[arg(long)]
    plain: bool,
    /// Exit (with code 1) when the connection is lost, instead of connecting again.
    #[arg(long)]
    no_reconnect: bool,
    /// Log in to the account named like --nick: ask for its password on the terminal (the
    /// environment variable OBROL_PASSWORD works too). Terminal UI only; in line mode,
    /// /login.
    #[arg(long)]
    ask_password: bool,
    /// Speak TLS to the hub (its port 6697, or its shared port).
    #[arg(long)]
    tls: bool,
    /// With --tls: also trust the certificates in this PEM file (a self-signed hub's).
    #[arg(long, requires = "tls")]
    ca: Option<std::path::PathBuf>,
    /// With --tls: accept any certificate (encrypted, but anyone could be at the other end).
    #[arg(long, requires = "tls")]
    insecure: bool,
}

/// Checks that `addr` reads as HOST:PORT (a hostname, an IPv4 address or a bracketed IPv6
/// address, and a port from 1 to 65535) before anything is resolved or connected.
fn check_hub_addr(addr: &str) -> Result<(), UsageError> {
    let ok = addr.rsplit_once(':').is_some_and(|(host, port)| {
        let bracketed = host.len() > 2 && host.starts_with('[') && host.ends_with(']');
        let bare = !host.is_empty() && !host.contains([':', '[', ']']);
        (bracketed || bare) && port.parse::<u16>().is_ok_and(|p| p != 0)
    });
    if ok {
        Ok(())
    } else {
        Err(UsageError(format!(
            "not a hub address: {addr} (expected HOST:PORT, e.g. 127.0.0.1:8080)"
        )))
    }
}

/// Whether `obrol connect` shows the terminal UI: stdin and stdout are a terminal and
/// --plain was not given.
pub fn connect_uses_tui(args: &ConnectArgs) -> bool {
    crate::console::wants_tui(args.plain)
}

pub fn connect(args: ConnectArgs) -> anyhow::Result<()> {
    check_hub_addr(&args.addr)?;
    let tui = connect_uses_tui(&args);
    let password = if args.ask_password {
        if !tui {
            return Err(UsageError(
                "--ask-password is for the terminal UI; in line mode type /login PASSWORD".into(),
            )
            .into());
        }
        Some(crate::mcast_cmd::ask_secret(
            "password: ",
            "--ask-password",
        )?)
    } else {
        std::env::var("OBROL_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty())
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let tls = args.tls.then_some(obrol_client::TlsOptions {
        ca: args.ca,
        insecure: args.insecure,
    });
    if tui {
        let rooms = if args.rooms.is_empty() {
            vec!["#lobby".to_owned()]
        } else {
            args.rooms
                .iter()
                .map(|r| {
                    if r.starts_with('#') {
                        r.clone()
                    } else {
                        format!("#{r}")
                    }
                })
                .collect()
        };
        let target = crate::connect_tui::Target {
            addr: args.addr,
            tls,
            nick: args.nick.unwrap_or_else(crate::console::user_name),
            rooms,
            password: password.map(|p| p.trim_end_matches(['\r', '\n']).to_owned()),
        };
        return rt.block_on(crate::connect_tui::run(target));
    }
    rt.block_on(async move {
        let options = obrol_client::Options {
            nick: args.nick,
            rooms: args.rooms,
            tls,
            reconnect: !args.no_reconnect,
        };
        let input = stdin_lines();
        tokio::select! {
            // Failing to connect and losing the connection (with --no-reconnect, or once
            // input has ended) are exit code 1, with one line saying which
            // (`obrol: connection lost: ...`).
            r = obrol_client::run(&args.addr, options, input, |line| print_message("", line)) => {
                r.map_err(anyhow::Error::from)
            }
            _ = shutdown_signal() => Ok(()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::check_hub_addr;

    #[test]
    fn hub_addresses_need_a_port() {
        for ok in [
            "127.0.0.1:8080",
            "localhost:1",
            "[::1]:8080",
            "hub.example:65535",
        ] {
            assert!(check_hub_addr(ok).is_ok(), "{ok}");
        }
        for bad in [
            "127.0.0.1",
            "127.0.0.1:",
            ":8080",
            "::1",
            "[]:80",
            "h:0",
            "h:65536",
            "h:x",
        ] {
            let err = check_hub_addr(bad).expect_err(bad).to_string();
            assert!(
                err.contains("expected HOST:PORT, e.g. 127.0.0.1:8080"),
                "{err}"
            );
        }
    }
}
