//! `obrol bench`: a load generator for chat hubs — obrol's own and other IRC servers.
//!
//! The hub benchmark is *open loop*: every sender has a schedule (`rate / senders` messages per
//! second) and each message carries its scheduled send time, so latency is measured from when the
//! message *should* have left. A server that stalls cannot hide its backlog by slowing the
//! generator down (coordinated omission).
//!
//! Clients can be in several rooms (`rooms_per_client`, see [`Membership`]); a sender then
//! speaks in its rooms in turn. What a run owes is counted from the schedule, not from what
//! was sent: a message due in room R is owed to every other member of R, and a sender whose
//! connection fails still owes what it did not send.
//!
//! All clients live on one thread (a tokio `LocalSet`): reading many sockets with large reads from
//! one thread is cheap, and it leaves the other core to the server under test.

use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use hdrhistogram::Histogram;
use serde::Serialize;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

mod link;
mod workload;
pub use workload::Membership;
use workload::Schedule;

/// The protocols the generator speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Plain,
    Irc,
    /// No protocol at all: the seed's `server.py`, which greets each client and relays raw
    /// bytes to all others. A client counts as joined once the greeting arrives; there are no
    /// rooms, so `rooms` must be 1.
    Raw,
}

#[derive(Debug, Error)]
pub enum BenchError {
    #[error("connecting client {index}: {source}")]
    Connect { index: usize, source: io::Error },
    #[error("client {index} did not finish joining within {secs} s")]
    JoinTimeout { index: usize, secs: u64 },
    #[error("bad parameters: {0}")]
    Params(String),
}

/// What `obrol bench hub` runs.
#[derive(Debug, Clone)]
pub struct HubParams {
    pub addr: SocketAddr,
    pub proto: Proto,
    pub clients: usize,
    pub rooms: usize,
    /// Rooms each client joins (see [`Membership`]); 1 is one room per client.
    pub rooms_per_client: usize,
    pub senders: usize,
    /// Total messages per second over all senders.
    pub rate: f64,
    /// Payload bytes per message.
    pub size: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Server process to watch (CPU and RSS).
    pub pid: Option<u32>,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Speak TLS (any certificate is accepted).
    pub tls: bool,
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct Latency {
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

/// The result of `obrol bench hub`.
#[derive(Debug, Clone, Serialize)]
pub struct HubReport {
    pub addr: String,
    pub protocol: Proto,
    pub clients: usize,
    pub rooms: usize,
    pub rooms_per_client: usize,
    /// The smallest and largest room (members, senders included).
    pub room_members_min: u64,
    pub room_members_max: u64,
    pub senders: usize,
    pub size: usize,
    pub duration_secs: f64,
    pub connect_secs: f64,
    pub connects_per_sec: f64,
    pub offered_msgs_per_sec: f64,
    pub offered_deliveries_per_sec: f64,
    /// Messages scheduled inside the measurement window, over all senders.
    pub planned: u64,
    /// Of those, messages actually written. Less than `planned` only if a sender failed.
    pub sent: u64,
    /// Senders whose connection failed before the end of the run. Their unsent messages still
    /// count in `expected`: a failing sender must not make `delivered_pct` look better.
    pub failed_senders: usize,
    /// Deliveries owed by the `planned` messages: each message said in room R is owed to
    /// every other member of R.
    pub expected: u64,
    pub delivered: u64,
    pub delivered_pct: f64,
    pub deliveries_per_sec: f64,
    pub latency: Latency,
    pub server_cpu_pct: Option<f64>,
    pub server_rss_kib: Option<u64>,
    /// The server's peak resident size so far (VmHWM): a burst's cost even if it was freed.
    pub server_peak_rss_kib: Option<u64>,
    pub bench_cpu_pct: f64,
}

/// The result of `obrol bench idle`.
#[derive(Debug, Clone, Serialize)]
pub struct IdleReport {
    pub addr: String,
    pub protocol: Proto,
    pub clients: usize,
    pub connect_secs: f64,
    pub connects_per_sec: f64,
    pub server_rss_before_kib: Option<u64>,
    pub server_rss_after_kib: Option<u64>,
    pub server_kib_per_client: Option<f64>,
}

/// Shared measurement state (single-threaded).
struct Tally {
    /// When the load starts; `None` while clients are still connecting (what they receive
    /// then, other clients' joins, is read and discarded).
    epoch: Option<Instant>,
    /// When measurement starts and ends, as offsets from the bench epoch in nanoseconds.
    window: (u64, u64),
    hist: Histogram<u64>,
    delivered: u64,
}

/// One client connection, registered and joined.
struct Client {
    /// `None` once a reader task owns the read half.
    reader: Option<link::Reader>,
    writer: link::Writer,
    /// Bytes read during the handshake after the join confirmation.
    leftover: BytesMut,
}

fn source_addr(index: usize, target: IpAddr) -> Option<SocketAddr> {
    // Spread clients over 127.0.x.y so more than one address's ephemeral ports can be used.
    match target {
        IpAddr::V4(v4) if v4.is_loopback() => {
            // Each run starts at its own 127.0.x.0 block, so the previous run's TIME_WAIT
            // sockets never slow down (or exhaust) this run's choice of source ports.
            let run = (std::process::id() % 250) as u8;
            let x = (index / 20_000) as u8 + 1;
            Some(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(127, 0, run, x)),
                0,
            ))
        }
        _ => None,
    }
}

async fn open(addr: SocketAddr, index: usize) -> io::Result<TcpStream> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if let Some(src) = source_addr(index, addr.ip()) {
        socket.bind(src)?;
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// A nick unique to this run, so a previous run's clients that the server has not yet
/// finished removing cannot collide with this one's.
fn nick(index: usize) -> String {
    format!("b{}x{index}", std::process::id() % 100_000)
}

fn room(index: usize) -> String {
    format!("r{index}")
}

/// Connects, registers and joins `rooms` in order; returns once the last join is confirmed
/// (the server handles a client's commands in order, so the others are done by then).
async fn join(
    addr: SocketAddr,
    proto: Proto,
    index: usize,
    rooms: &[String],
    tls: Option<&tokio_rustls::TlsConnector>,
) -> Result<Client, BenchError> {
    let stream = open(addr, index)
        .await
        .map_err(|source| BenchError::Connect { index, source })?;
    let (mut reader, mut writer) = link::split(stream, tls)
        .await
        .map_err(|source| BenchError::Connect { index, source })?;
    let nick = nick(index);
    let mut hello = match proto {
        Proto::Irc => format!("NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n"),
        Proto::Plain => format!("/nick {nick}\n"),
        Proto::Raw => String::new(),
    };
    for room in rooms {
        match proto {
            Proto::Irc => hello.push_str(&format!("JOIN #{room}\r\n")),
            Proto::Plain => hello.push_str(&format!("/join {room}\n")),
            Proto::Raw => {}
        }
    }
    let connect_err = |source| BenchError::Connect { index, source };
    writer
        .write_all(hello.as_bytes())
        .await
        .map_err(connect_err)?;
    // IRC: RPL_ENDOFNAMES for the last room; plain: the member list of the last room; raw:
    // any greeting.
    let last = rooms.last().map_or("", String::as_str);
    let done = match proto {
        Proto::Irc => format!(" 366 {nick} #{last} "),
        Proto::Plain => format!("* in {last} ("),
        Proto::Raw => String::new(),
    };
    let mut buf = BytesMut::with_capacity(4096);
    let deadline = Duration::from_secs(60);
    let done_finder = memchr::memmem::Finder::new(done.as_bytes());
    // Bytes already searched: each read is searched once (a join storm sends every client
    // thousands of other clients' joins before its own end of NAMES).
    let mut scanned = 0;
    let found = tokio::time::timeout(deadline, async {
        loop {
            if proto == Proto::Raw && !buf.is_empty() {
                return Ok(()); // the greeting stays in the buffer; it ends no line
            }
            // Search from the start of the last line scanned, so a line split across reads
            // is still found.
            let from = buf[..scanned]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            let confirmed = if done.is_empty() {
                None
            } else {
                done_finder.find(&buf[from..]).map(|at| from + at)
            };
            if let Some(at) = confirmed {
                // Keep what follows the confirming line.
                let end = memchr::memchr(b'\n', &buf[at..]).map_or(buf.len(), |p| at + p + 1);
                buf.advance(end);
                return Ok(());
            }
            // Answer the server's PING during registration.
            if let Some(at) = memchr::memmem::find(&buf[from..], b"PING ").map(|at| from + at) {
                if let Some(end) = memchr::memchr(b'\n', &buf[at..]) {
                    let token = String::from_utf8_lossy(&buf[at + 5..at + end])
                        .trim()
                        .to_owned();
                    writer
                        .write_all(format!("PONG {token}\r\n").as_bytes())
                        .await?;
                    buf[at] = b'p';
                }
            }
            // Only the last partial line matters for what comes next.
            if buf.len() > 1 << 16 {
                let keep = memchr::memrchr(b'\n', &buf).map_or(0, |p| p + 1);
                buf.advance(keep);
            }
            scanned = buf.len();
            if reader.read_buf(&mut buf).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed while joining",
                ));
            }
        }
    })
    .await;
    match found {
        Ok(Ok(())) => Ok(Client {
            reader: Some(reader),
            writer,
            leftover: buf,
        }),
        Ok(Err(source)) => Err(BenchError::Connect { index, source }),
        Err(_) => Err(BenchError::JoinTimeout {
            index,
            secs: deadline.as_secs(),
        }),
    }
}

/// Connects `n` clients, `concurrency` at a time, client `i` joining `rooms_of(i)`.
///
/// With a `tally`, each client's reader starts as soon as it has joined, as a real client's
/// would: otherwise the joins of later clients pile up, unread, in the server's queues for the
/// earlier ones, and the join storm measures the generator's absence.
async fn connect_all(
    addr: SocketAddr,
    proto: Proto,
    n: usize,
    rooms_of: impl Fn(usize) -> Vec<String>,
    bar: &indicatif::ProgressBar,
    tally: Option<&Rc<RefCell<Tally>>>,
    tls: bool,
) -> Result<Vec<Client>, BenchError> {
    let tls = match tls {
        true => Some(link::connector().map_err(|source| BenchError::Connect { index: 0, source })?),
        false => None,
    };
    // The seed's server listens with a backlog of 2: connect its clients one at a time.
    let concurrency = if proto == Proto::Raw { 1 } else { 200 };
    // A sliding window, not lock-step batches: a new client starts whenever one has joined,
    // so the slowest of a batch never holds the others back (that capped registrations/s).
    let window = Rc::new(tokio::sync::Semaphore::new(concurrency));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let rooms = rooms_of(i);
            let window = window.clone();
            let tally = tally.cloned();
            let tls = tls.clone();
            tokio::task::spawn_local(async move {
                let Ok(permit) = window.acquire().await else {
                    // Another client failed; this one never starts.
                    let source = io::Error::new(io::ErrorKind::Interrupted, "cancelled");
                    return Err(BenchError::Connect { index: i, source });
                };
                let mut c = join(addr, proto, i, &rooms, tls.as_ref()).await?;
                drop(permit);
                if let (Some(tally), Some(reader)) = (tally, c.reader.take()) {
                    let leftover = std::mem::take(&mut c.leftover);
                    tokio::task::spawn_local(read_loop(reader, leftover, tally));
                }
                Ok::<_, BenchError>(c)
            })
        })
        .collect();
    let mut clients = Vec::with_capacity(n);
    let mut failed = None;
    for h in handles {
        match h.await {
            Ok(Ok(c)) => {
                clients.push(c);
                bar.inc(1);
            }
            Ok(Err(e)) => {
                // Stop the others: no new client starts, those connecting give up with it.
                window.close();
                failed.get_or_insert(e);
            }
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {}
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(clients),
    }
}

/// CPU time (user + system) of a process in clock ticks, from `/proc/PID/stat`.
fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Resident set size of a process in KiB.
pub fn proc_rss_kib(pid: u32) -> Option<u64> {
    proc_status_kib(pid, "VmRSS:")
}

/// A `kB` field of `/proc/PID/status`, such as `VmRSS:` or `VmHWM:`.
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions and only reads a constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn own_cpu_secs() -> f64 {
    proc_cpu_ticks(std::process::id()).map_or(0.0, |t| t as f64 / ticks_per_sec())
}

fn progress(show: bool, len: u64, what: &str) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg:>10} [{elapsed_precise}] {bar:40} {pos}/{len}",
    ) {
        bar.set_style(style);
    }
    bar.set_message(what.to_owned());
    bar
}

/// Parses one delivered line and returns the scheduled send time it carries, in nanoseconds
/// since the bench epoch.
fn scheduled_ns(line: &[u8]) -> Option<u64> {
    // The marker starts with \x02, a byte no other line the server sends here contains.
    let at = memchr::memchr(0x02, line)?;
    let rest = line.get(at + 1..)?.strip_prefix(b"b ")?;
    let mut n: u64 = 0;
    let mut digits = 0;
    for &b in rest {
        if !b.is_ascii_digit() {
            break;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        digits += 1;
    }
    (digits > 0).then_some(n)
}

/// Runs the hub benchmark.
pub async fn hub(params: HubParams) -> Result<HubReport, BenchError> {
    let HubParams {
        addr,
        proto,
        clients: n,
        rooms,
        rooms_per_client: per_client,
        senders,
        rate,
        size,
        warmup,
        duration,
        pid,
        progress: show,
        tls,
    } = params;
    if n < 2 || rooms == 0 || senders == 0 || senders > n || rooms > n || rate <= 0.0 {
        return Err(BenchError::Params(
            "need clients >= 2, 1 <= rooms <= clients, 1 <= senders <= clients, rate > 0".into(),
        ));
    }
    // A sender's schedule is walked message by message (and counted ahead): keep it finite.
    if !rate.is_finite() || rate / senders as f64 > 1e7 {
        return Err(BenchError::Params(
            "rate must be finite and at most 10,000,000 msgs/s per sender".into(),
        ));
    }
    let Some(membership) = Membership::new(rooms, per_client) else {
        return Err(BenchError::Params(
            "need 1 <= rooms-per-client <= rooms".into(),
        ));
    };
    if size < 32 {
        return Err(BenchError::Params("size must be at least 32 bytes".into()));
    }
    if proto == Proto::Raw && rooms != 1 {
        return Err(BenchError::Params(
            "--protocol raw has no rooms: use --rooms 1".into(),
        ));
    }
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async move {
            let bar = progress(show, n as u64, "connect");
            let started = Instant::now();
            let tally = Rc::new(RefCell::new(Tally {
                epoch: None,
                window: (u64::MAX, u64::MAX),
                hist: Histogram::new_with_bounds(1, 600_000_000, 3)
                    .map_err(|e| BenchError::Params(e.to_string()))?,
                delivered: 0,
            }));
            let rooms_of = |i: usize| membership.rooms_of(i).map(room).collect::<Vec<_>>();
            let clients = connect_all(addr, proto, n, rooms_of, &bar, Some(&tally), tls).await?;
            let connect_secs = started.elapsed().as_secs_f64();
            bar.finish_and_clear();

            let epoch = Instant::now();
            let start_ns = warmup.as_nanos() as u64;
            let end_ns = start_ns + duration.as_nanos() as u64;
            let window = (start_ns, end_ns);
            {
                let mut t = tally.borrow_mut();
                t.epoch = Some(epoch);
                t.window = window;
            }
            // Members per room, to know how many deliveries each message owes: a message said
            // in room R is owed to every member of R but its sender (the hub does not echo).
            let members = membership.members(n);
            let owed = |s: usize, j: usize| members[membership.room(s, j)].saturating_sub(1);
            let per_sender = rate / senders as f64;
            // What each sender is due to say inside the window, per room: the basis of
            // `expected`, whether or not the sender manages to say it.
            let mut planned = 0u64;
            let mut expected = 0u64;
            for s in 0..senders {
                let per_slot = Schedule::new(s, per_sender).planned(window, per_client);
                for (j, msgs) in per_slot.into_iter().enumerate() {
                    planned += msgs;
                    expected += msgs * owed(s, j);
                }
            }
            let mut writers = Vec::new();
            // Non-senders' write halves stay open until the end: dropping one would shut the
            // socket's sending side and the server would hang up.
            let mut quiet = Vec::new();
            for (i, c) in clients.into_iter().enumerate() {
                // Readers were started as each client joined.
                if i < senders {
                    writers.push((i, c.writer));
                } else {
                    quiet.push(c.writer);
                }
            }
            let total = warmup + duration;
            let bar = progress(show, total.as_secs().max(1), "load");
            let mut tasks = Vec::new();
            for (i, writer) in writers {
                // What goes before each message, per room the sender speaks in. A plain client
                // talks in its current room, so with several rooms it switches first.
                let targets: Vec<Vec<u8>> = membership
                    .rooms_of(i)
                    .map(|r| match proto {
                        Proto::Irc => format!("PRIVMSG #{} :", room(r)).into_bytes(),
                        Proto::Plain if per_client > 1 => {
                            format!("/join {}\n", room(r)).into_bytes()
                        }
                        Proto::Plain | Proto::Raw => Vec::new(),
                    })
                    .collect();
                tasks.push(tokio::task::spawn_local(send_loop(
                    writer,
                    targets,
                    size,
                    Schedule::new(i, per_sender),
                    epoch,
                    window,
                    i,
                )));
            }
            let cpu0 = pid.and_then(proc_cpu_ticks);
            let own0 = own_cpu_secs();
            let ticker = {
                let bar = bar.clone();
                tokio::task::spawn_local(async move {
                    loop {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        bar.inc(1);
                    }
                })
            };
            // Server CPU over the measurement window only.
            tokio::time::sleep_until((epoch + warmup).into()).await;
            let cpu_start = pid.and_then(proc_cpu_ticks).or(cpu0);
            let own_start = own_cpu_secs().max(own0);
            tokio::time::sleep_until((epoch + total).into()).await;
            let cpu_end = pid.and_then(proc_cpu_ticks);
            let own_end = own_cpu_secs();
            let rss = pid.and_then(proc_rss_kib);
            let peak_rss = pid.and_then(|p| proc_status_kib(p, "VmHWM:"));
            let mut sent_in_window = 0u64;
            let mut failed_senders = 0;
            for t in tasks {
                match t.await {
                    Ok(done) => {
                        sent_in_window += done.in_window;
                        if done.failed {
                            failed_senders += 1;
                        }
                        quiet.push(done.writer);
                    }
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(_) => failed_senders += 1,
                }
            }
            // Let messages in flight arrive.
            let drain = Instant::now();
            while tally.borrow().delivered < expected && drain.elapsed() < Duration::from_secs(3) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            ticker.abort();
            bar.finish_and_clear();
            drop(quiet);
            let t = tally.borrow();
            let secs = duration.as_secs_f64();
            let offered = rate;
            // Deliveries a message owes on average: each sender's messages go to its rooms in
            // turn, and every sender has the same rate.
            let fanout: f64 = (0..senders)
                .map(|s| {
                    (0..per_client).map(|j| owed(s, j) as f64).sum::<f64>() / per_client as f64
                })
                .sum::<f64>()
                / senders as f64;
            let h = &t.hist;
            Ok(HubReport {
                addr: addr.to_string(),
                protocol: proto,
                clients: n,
                rooms,
                rooms_per_client: per_client,
                room_members_min: members.iter().copied().min().unwrap_or(0),
                room_members_max: members.iter().copied().max().unwrap_or(0),
                senders,
                size,
                duration_secs: secs,
                connect_secs,
                connects_per_sec: n as f64 / connect_secs.max(1e-9),
                offered_msgs_per_sec: offered,
                offered_deliveries_per_sec: offered * fanout,
                planned,
                sent: sent_in_window,
                failed_senders,
                expected,
                delivered: t.delivered,
                delivered_pct: if expected == 0 {
                    0.0
                } else {
                    100.0 * t.delivered as f64 / expected as f64
                },
                deliveries_per_sec: t.delivered as f64 / secs,
                latency: Latency {
                    p50_us: h.value_at_quantile(0.5),
                    p99_us: h.value_at_quantile(0.99),
                    p999_us: h.value_at_quantile(0.999),
                    max_us: h.max(),
                },
                server_cpu_pct: match (cpu_start, cpu_end) {
                    (Some(a), Some(b)) => Some(100.0 * (b - a) as f64 / ticks_per_sec() / secs),
                    _ => None,
                },
                server_rss_kib: rss,
                server_peak_rss_kib: peak_rss,
                bench_cpu_pct: 100.0 * (own_end - own_start) / secs,
            })
        })
        .await
}

/// Reads a client's deliveries until the connection ends, recording each message's latency.
///
/// This loop is the generator's hot path: it must stay well below the server's cost per
/// delivery, or the generator, not the server, is what gets measured. So it reads into one
/// reused buffer, scans lines in place (no per-line allocation), takes the clock once per read
/// and touches the shared tally once per read.
async fn read_loop(mut reader: link::Reader, leftover: BytesMut, tally: Rc<RefCell<Tally>>) {
    const BUF: usize = 32 * 1024;
    let mut buf = vec![0u8; BUF];
    let mut filled = leftover.len().min(BUF);
    buf[..filled].copy_from_slice(&leftover[..filled]);
    let mut clock: Option<(Instant, (u64, u64))> = None;
    let mut latencies: Vec<u64> = Vec::with_capacity(256);
    loop {
        if clock.is_none() {
            let t = tally.borrow();
            clock = t.epoch.map(|e| (e, t.window));
        }
        let Some((epoch, window)) = clock else {
            // Still connecting: what arrives now (other clients' joins) is not measured; only
            // a trailing partial line is kept.
            match reader.read(&mut buf[filled..]).await {
                Ok(0) | Err(_) => return,
                Ok(n) => filled += n,
            }
            if let Some(nl) = buf[..filled].iter().rposition(|&b| b == b'\n') {
                buf.copy_within(nl + 1..filled, 0);
                filled -= nl + 1;
            }
            if filled == BUF {
                filled = 0;
            }
            continue;
        };
        let now = epoch.elapsed().as_nanos() as u64;
        // This loop is the generator's hot path (millions of lines a second): SIMD searches
        // for line ends and markers, no per-byte loop over the line.
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', &buf[..filled]) {
            let line = &buf[start..nl];
            start = nl + 1;
            if let Some(sched) = scheduled_ns(line) {
                if sched >= window.0 && sched < window.1 {
                    latencies.push(now.saturating_sub(sched) / 1000);
                }
            }
        }
        if !latencies.is_empty() {
            let mut t = tally.borrow_mut();
            t.delivered += latencies.len() as u64;
            for us in latencies.drain(..) {
                let _ = t.hist.record(us.max(1));
            }
        }
        // Keep the partial line at the front; a line longer than the buffer is dropped.
        buf.copy_within(start..filled, 0);
        filled -= start;
        if filled == BUF {
            filled = 0;
        }
        match reader.read(&mut buf[filled..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => filled += n,
        }
    }
}

/// What a sender did.
struct Sent {
    /// Messages scheduled inside the measurement window and written.
    in_window: u64,
    /// The connection failed before the end of the schedule.
    failed: bool,
    /// Closed only after the last deliveries have arrived.
    writer: link::Writer,
}

/// Sends on `schedule`, message `k` in room slot `k % targets.len()` (`targets[j]` goes before
/// each message for that slot). When the loop falls behind it sends everything due in one
/// write.
async fn send_loop(
    mut writer: link::Writer,
    targets: Vec<Vec<u8>>,
    size: usize,
    schedule: Schedule,
    epoch: Instant,
    window: (u64, u64),
    sender: usize,
) -> Sent {
    use std::io::Write as _;
    let end_ns = window.1;
    let slots = targets.len().max(1) as u64;
    let mut in_window = 0u64;
    let mut k: u64 = 0;
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        let due = schedule.due(k);
        if due >= end_ns {
            break;
        }
        let now = epoch.elapsed().as_nanos() as u64;
        if due > now {
            tokio::time::sleep(Duration::from_nanos(due - now)).await;
            continue;
        }
        // Everything due by now goes out in one write.
        out.clear();
        let mut batch_in_window = 0u64;
        while out.len() < 60 * 1024 {
            let due = schedule.due(k);
            if due > now || due >= end_ns {
                break;
            }
            if let Some(target) = targets.get((k % slots) as usize) {
                out.extend_from_slice(target);
            }
            let at = out.len();
            // Writing into a Vec cannot fail.
            let _ = write!(out, "\x02b {due} {sender} {k} ");
            let pad = size.saturating_sub(out.len() - at);
            out.resize(out.len() + pad, b'x');
            out.extend_from_slice(b"\r\n");
            if due >= window.0 {
                batch_in_window += 1;
            }
            k += 1;
        }
        if writer.write_all(&out).await.is_err() {
            return Sent {
                in_window,
                failed: true,
                writer,
            };
        }
        in_window += batch_in_window;
    }
    Sent {
        in_window,
        failed: false,
        writer,
    }
}

/// Runs the idle benchmark: `clients` registered clients, each in a room of its own.
pub async fn idle(
    addr: SocketAddr,
    proto: Proto,
    clients: usize,
    pid: Option<u32>,
    show: bool,
    tls: bool,
) -> Result<IdleReport, BenchError> {
    let before = pid.and_then(proc_rss_kib);
    let local = tokio::task::LocalSet::new();
    let bar = progress(show, clients as u64, "connect");
    let started = Instant::now();
    let held = local
        .run_until(connect_all(
            addr,
            proto,
            clients,
            |i| vec![format!("idle{i}")],
            &bar,
            None,
            tls,
        ))
        .await?;
    let connect_secs = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    // Give the server a moment to settle (flush joins, free transient buffers).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = pid.and_then(proc_rss_kib);
    let per = match (before, after) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b) as f64 / clients.max(1) as f64),
        _ => None,
    };
    drop(held);
    Ok(IdleReport {
        addr: addr.to_string(),
        protocol: proto,
        clients,
        connect_secs,
        connects_per_sec: clients as f64 / connect_secs.max(1e-9),
        server_rss_before_kib: before,
        server_rss_after_kib: after,
        server_kib_per_client: per,
    })
}
