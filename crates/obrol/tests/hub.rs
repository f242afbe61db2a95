//! `obrol serve` and `obrol connect` as real processes over loopback TCP (127.0.0.1 only), with
//! raw TCP clients from the test itself (like `nc`), the seed's `client.py`, and the operator
//! console on serve's stdin.
//!
//! Every wait is for a line, with a generous timeout (`common::LINE_TIMEOUT`); nothing sleeps to
//! let something happen. Absence checks come after a later line that the same path must have
//! delivered first.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::{obrol_cmd, seed_cmd, Proc, Raw, EXIT_TIMEOUT, LINE_TIMEOUT};

/// The welcome line of a hub started with `--name testhub`.
const MOTD: &str = "Selamat datang di Server testhub...";

/// What the seed's `client.py` writes (without a newline) each time it waits for input.
const SEED_PROMPT: &str = "Masukkan Pesan: ";

/// How soon after SIGTERM/SIGINT the hub must have exited.
const SHUTDOWN_BOUND: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A running `obrol serve` and the port it listens on.
struct Hub {
    proc: Proc,
    port: u16,
}

/// Starts `obrol serve --listen 127.0.0.1:0 <extra...>` and reads its port from the log.
fn serve(extra: &[&str]) -> Hub {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let proc = Proc::spawn("serve", obrol_cmd(&args));
    let marker = "listening on 127.0.0.1:";
    let line = proc.expect_stderr_line(|l| l.contains(marker), LINE_TIMEOUT);
    let rest = &line[line.find(marker).expect("marker") + marker.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let port = digits
        .parse()
        .unwrap_or_else(|_| panic!("no port in the log line {line:?}\n{}", proc.dump()));
    assert_ne!(port, 0, "the hub says it listens on port 0: {line:?}");
    Hub { proc, port }
}

impl Hub {
    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Types a line on the operator console.
    #[track_caller]
    fn console(&mut self, line: &str) {
        self.proc.send_line(line);
    }

    /// Runs the console's `/stats` and returns its counters (`uptime` without its `s`).
    #[track_caller]
    fn stats(&mut self) -> BTreeMap<String, u64> {
        self.console("/stats");
        let line = self
            .proc
            .expect_line(|l| l.starts_with("* clients="), LINE_TIMEOUT);
        let stats: BTreeMap<String, u64> = line["* ".len()..]
            .split_whitespace()
            .map(|kv| {
                let (k, v) = kv
                    .split_once('=')
                    .unwrap_or_else(|| panic!("bad /stats item {kv:?} in {line:?}"));
                let v = v.strip_suffix('s').unwrap_or(v);
                let v = v
                    .parse()
                    .unwrap_or_else(|_| panic!("bad /stats value {kv:?} in {line:?}"));
                (k.to_owned(), v)
            })
            .collect();
        for key in [
            "clients",
            "rooms",
            "connects",
            "messages",
            "deliveries",
            "slow_consumers",
            "uptime",
        ] {
            assert!(stats.contains_key(key), "/stats lacks {key}: {line:?}");
        }
        stats
    }

    /// Sends `sig` and asserts the hub exits successfully within [`SHUTDOWN_BOUND`].
    #[track_caller]
    fn stop_with(&mut self, sig: libc::c_int) {
        let start = Instant::now();
        self.proc.signal(sig);
        let status = self.proc.wait_exit(EXIT_TIMEOUT);
        let took = start.elapsed();
        assert!(
            status.success(),
            "serve exited with {status} after signal {sig}\n{}",
            self.proc.dump()
        );
        assert!(
            took < SHUTDOWN_BOUND,
            "serve took {took:?} to exit after signal {sig} (bound {SHUTDOWN_BOUND:?})\n{}",
            self.proc.dump()
        );
    }
}

/// Starts `obrol connect` with `--nick nick` (and `--room room`) and waits until it is in the
/// lobby under that nick (it asks for it in its first line, so it is never a guest) and in
/// `room`.
fn connect(hub: &Hub, nick: &str, room: Option<&str>) -> Proc {
    let addr = hub.addr();
    let mut args = vec!["connect", addr.as_str(), "--nick", nick];
    if let Some(room) = room {
        args.extend(["--room", room]);
    }
    let mut p = Proc::spawn(nick, obrol_cmd(&args));
    p.expect(&format!(
        "* you are {nick} in lobby; type /help for commands"
    ));
    p.expect(&format!("* {nick} joined lobby"));
    if let Some(room) = room {
        p.expect(&format!("* {nick} joined {room}"));
        let who = p.expect_line(|l| l.starts_with(&format!("* in {room} (")), LINE_TIMEOUT);
        assert!(parse_who(&who).2.contains(nick), "{nick} not in {who:?}");
    }
    p
}

/// Waits until some stdout line of `p` (consumed or not) satisfies `pred`; returns it.
#[track_caller]
fn await_line(p: &Proc, pred: impl Fn(&str) -> bool, what: &str) -> String {
    let deadline = Instant::now() + LINE_TIMEOUT;
    loop {
        let seen = p.stdout_generation();
        if let Some(line) = p.find_line(&pred) {
            return line;
        }
        let now = Instant::now();
        if now >= deadline || p.stdout_closed() || !p.wait_stdout_change(seen, deadline - now) {
            panic!(
                "{}: never printed {what} within {LINE_TIMEOUT:?}\n{}",
                p.name(),
                p.dump()
            );
        }
    }
}

/// `* in ROOM (K): nick1 nick2 ...` as (room, K, nicks).
#[track_caller]
fn parse_who(line: &str) -> (String, usize, BTreeSet<String>) {
    let parsed = (|| {
        let rest = line.strip_prefix("* in ")?;
        let (room, rest) = rest.split_once(" (")?;
        let (count, rest) = rest.split_once("): ")?;
        // Status marks (`@` operator, `+` voice) are not part of the nick.
        let nicks: BTreeSet<String> = rest
            .split(' ')
            .map(|n| n.trim_start_matches(['@', '+']).to_owned())
            .collect();
        Some((room.to_owned(), count.parse().ok()?, nicks))
    })();
    let (room, count, nicks) =
        parsed.unwrap_or_else(|| panic!("not a `* in ROOM (K): nicks` line: {line:?}"));
    assert_eq!(count, nicks.len(), "count and nicks disagree: {line:?}");
    (room, count, nicks)
}

fn set(nicks: &[&str]) -> BTreeSet<String> {
    nicks.iter().map(|&n| n.to_owned()).collect()
}

/// Connects a raw client and reads its welcome (`motd`, `* you are ...`, its join notice and
/// the lobby's member list). Returns the client, its guest nick and the member list line.
#[track_caller]
fn raw_client(name: &str, hub: &Hub, motd: &str) -> (Raw, String, String) {
    let mut r = Raw::connect(name, hub.port);
    r.expect_next(motd);
    let you = r.expect_line(|_| true, LINE_TIMEOUT);
    let nick = you
        .strip_prefix("* you are ")
        .and_then(|s| s.strip_suffix(" in lobby; type /help for commands"))
        .unwrap_or_else(|| panic!("{name}: unexpected second line {you:?}\n{}", r.dump()))
        .to_owned();
    assert!(
        nick.strip_prefix("guest")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
        "{name}: not a guest nick: {nick:?}"
    );
    r.expect_next(&format!("* {nick} joined lobby"));
    let who = r.expect_line(|_| true, LINE_TIMEOUT);
    let (room, _, nicks) = parse_who(&who);
    assert_eq!(room, "lobby", "{name}: {who:?}");
    assert!(nicks.contains(&nick), "{name}: {nick} not in {who:?}");
    (r, nick, who)
}

/// The seed's `client.py` (one connection that, in lock-step, receives one chunk with
/// `recv(1024)`, prints it as `Server: ...`, reads one stdin line at its prompt and sends it
/// without a newline).
struct Seed {
    proc: Proc,
    /// Lines written to its stdin so far; it waits at a prompt when `prompts() > fed`.
    fed: usize,
    nick: String,
}

impl Seed {
    fn start(name: &str, hub: &Hub) -> Seed {
        let port = hub.port.to_string();
        let cmd = seed_cmd("client.py", &["127.0.0.1", &port]);
        let mut seed = Seed {
            proc: Proc::spawn_prompted(name, cmd, SEED_PROMPT),
            fed: 0,
            nick: String::new(),
        };
        seed.pump_until(|l| l.contains(MOTD), "the welcome");
        let you = seed.pump_until(|l| l.contains("* you are guest"), "its nick");
        let rest = &you[you.find("* you are ").expect("found") + "* you are ".len()..];
        seed.nick = rest.split(' ').next().unwrap_or_default().to_owned();
        seed
    }

    /// Waits for an output line satisfying `pred` (seen at any time), keeping the client
    /// receiving meanwhile: whenever it waits at its prompt it gets an empty line, for which it
    /// sends nothing and goes back to `recv`.
    #[track_caller]
    fn pump_until(&mut self, pred: impl Fn(&str) -> bool, what: &str) -> String {
        let deadline = Instant::now() + LINE_TIMEOUT;
        loop {
            let seen = self.proc.stdout_generation();
            if let Some(line) = self.proc.find_line(&pred) {
                return line;
            }
            if self.proc.prompts() > self.fed {
                self.proc.send_line("");
                self.fed += 1;
                continue;
            }
            let now = Instant::now();
            if now >= deadline
                || self.proc.stdout_closed()
                || !self.proc.wait_stdout_change(seen, deadline - now)
            {
                panic!(
                    "{}: never printed {what} within {LINE_TIMEOUT:?}\n{}",
                    self.proc.name(),
                    self.proc.dump()
                );
            }
        }
    }

    /// Types `text` at the client's prompt once it shows it; the client sends it.
    #[track_caller]
    fn say(&mut self, text: &str) {
        let deadline = Instant::now() + LINE_TIMEOUT;
        loop {
            let seen = self.proc.stdout_generation();
            if self.proc.prompts() > self.fed {
                break;
            }
            let now = Instant::now();
            if now >= deadline
                || self.proc.stdout_closed()
                || !self.proc.wait_stdout_change(seen, deadline - now)
            {
                panic!(
                    "{}: not waiting at its prompt, so it cannot send {text:?}\n{}",
                    self.proc.name(),
                    self.proc.dump()
                );
            }
        }
        self.proc.send_line(text);
        self.fed += 1;
    }

    fn has_line(&self, pred: impl Fn(&str) -> bool) -> bool {
        self.proc.has_line(pred)
    }
}

/// Makes sure this process may open at least `want` files (the 1,000-client test).
fn ensure_fd_limit(want: libc::rlim_t) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < want {
            lim.rlim_cur = lim.rlim_max.min(want);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        }
    }
    assert!(
        lim.rlim_cur >= want,
        "this test needs {want} open files, the limit is {}",
        lim.rlim_cur
    );
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// Three `obrol connect` clients send numbered messages at once: each message reaches the
/// other two exactly once and in order, and never comes back to its sender.
#[test]
fn connect_clients_get_each_others_messages_once_in_order() {
    const N: usize = 25;
    let hub = serve(&[]);
    let nicks = ["a", "b", "c"];
    let mut clients: Vec<Proc> = nicks.iter().map(|n| connect(&hub, n, None)).collect();
    let text = |nick: &str, i: usize| format!("pesan {i} dari {nick}");
    for i in 0..N {
        for (p, nick) in clients.iter_mut().zip(nicks) {
            p.send_line(&text(nick, i));
        }
    }
    for (p, me) in clients.iter().zip(nicks) {
        for from in nicks.iter().filter(|&&n| n != me) {
            let last = format!("<{from}> {}", text(from, N - 1));
            await_line(p, |l| l == last, &format!("{last:?}"));
        }
    }
    // Everything routed before the /quit is written before the farewell.
    for p in &mut clients {
        p.send_line("/quit selesai");
        p.expect("! disconnected: bye");
        p.wait_success();
    }
    for (p, me) in clients.iter().zip(nicks) {
        let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in p.lines() {
            if let Some((from, said)) = line
                .strip_prefix('<')
                .and_then(|rest| rest.split_once("> "))
            {
                got.entry(from.to_owned())
                    .or_default()
                    .push(said.to_owned());
            }
        }
        assert!(
            !got.contains_key(me),
            "{me} got its own messages back\n{}",
            p.dump()
        );
        for from in nicks.iter().filter(|&&n| n != me) {
            let want: Vec<String> = (0..N).map(|i| text(from, i)).collect();
            assert_eq!(
                got.get(*from),
                Some(&want),
                "{me} did not get {from}'s messages exactly once, in order\n{}",
                p.dump()
            );
        }
        assert_eq!(got.len(), 2, "{me} got chat from others\n{}", p.dump());
    }
}

/// A raw TCP client (like nc) chats with `obrol connect` both ways; invalid UTF-8 and a 1 MiB
/// line are refused without costing it its connection, and the hub keeps serving.
#[test]
fn raw_client_chats_and_survives_bad_input() {
    let hub = serve(&["--name", "testhub"]);
    let mut c = connect(&hub, "conn", None);
    let (mut r, rnick, who) = raw_client("raw", &hub, MOTD);
    assert_eq!(parse_who(&who).2, set(&["conn", &rnick]), "{who:?}");
    c.expect(&format!("* {rnick} joined lobby"));

    r.send_line("halo dari nc");
    c.expect(&format!("<{rnick}> halo dari nc"));
    c.send_line("halo dari obrol connect");
    r.expect_next("<conn> halo dari obrol connect");

    r.send(b"\xff\xfe\n");
    r.expect_next("! line is not valid UTF-8; not sent");

    // 1 MiB without a newline; the reader thread keeps reading what the hub says meanwhile.
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..16 {
        r.send(&chunk);
    }
    r.expect_next("! line too long (limit 4096 bytes)");
    r.send(b"\n");
    r.send_line("masih bisa ngobrol");
    c.expect(&format!("<{rnick}> masih bisa ngobrol"));
    c.send_line("ya, masih");
    r.expect_next("<conn> ya, masih");

    // Another client, connecting afterwards, is served promptly.
    let start = Instant::now();
    let (mut late, late_nick, _) = raw_client("late", &hub, MOTD);
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "the welcome took {took:?} after a 1 MiB line"
    );
    r.expect_next(&format!("* {late_nick} joined lobby"));
    late.send_line("saya datang terlambat");
    c.expect(&format!("<{late_nick}> saya datang terlambat"));
    r.expect_next(&format!("<{late_nick}> saya datang terlambat"));
    r.send_line("selamat datang");
    late.expect_next(&format!("<{rnick}> selamat datang"));

    // Nothing of the bad lines reached anyone; the long line cost exactly one error.
    assert!(
        !c.has_line(|l| l.contains("xxxx") || l.contains('\u{fffd}')),
        "part of a refused line was relayed\n{}",
        c.dump()
    );
    assert!(!late.has_line(|l| l.contains("xxxx")), "{}", late.dump());
    let too_long = r
        .lines()
        .iter()
        .filter(|l| l.starts_with("! line too long"))
        .count();
    assert_eq!(too_long, 1, "{}", r.dump());
}

/// What a client sends right before it closes its sending side still reaches the room:
/// `obrol connect` at end of input (which must then exit 0), and a raw client that sends a
/// line and shuts down its write side (like `echo hi | nc -N`). Several clients, because the
/// line and the end of stream may or may not reach the hub in the same read.
#[test]
fn last_line_before_end_of_input_is_delivered() {
    const ROUNDS: usize = 4;
    let hub = serve(&["--name", "testhub"]);
    let (mut watcher, _, _) = raw_client("watcher", &hub, MOTD);
    for i in 0..ROUNDS {
        let nick = format!("akhir{i}");
        let mut c = connect(&hub, &nick, None);
        watcher.expect_next(&format!("* {nick} joined lobby"));
        c.send_line(&format!("pesan terakhir {i}"));
        c.close_stdin();
        c.wait_success();
        let got = watcher.expect_line(|l| l.contains(&nick), LINE_TIMEOUT);
        assert_eq!(
            got,
            format!("<{nick}> pesan terakhir {i}"),
            "{}",
            watcher.dump()
        );
        watcher.expect_next(&format!("* {nick} quit (connection closed)"));
    }
    for i in 0..ROUNDS {
        let (mut r, nick, _) = raw_client(&format!("raw{i}"), &hub, MOTD);
        watcher.expect_next(&format!("* {nick} joined lobby"));
        r.send_line(&format!("kata terakhir {i}"));
        r.shutdown_write();
        let got = watcher.expect_line(|_| true, LINE_TIMEOUT);
        assert_eq!(
            got,
            format!("<{nick}> kata terakhir {i}"),
            "{}",
            watcher.dump()
        );
        watcher.expect_next(&format!("* {nick} quit (connection closed)"));
        r.expect_closed(LINE_TIMEOUT);
    }
}

/// Two of the seed's `client.py` chat through the hub (they send without newlines).
#[test]
fn seed_clients_chat_through_the_hub() {
    let hub = serve(&["--name", "testhub"]);
    let mut a = Seed::start("seed-a", &hub);
    a.pump_until(|l| l.contains("* in lobby (1): "), "the lobby's members");
    let mut b = Seed::start("seed-b", &hub);
    b.pump_until(|l| l.contains("* in lobby (2): "), "the lobby's members");
    let joined = format!("* {} joined lobby", b.nick);
    a.pump_until(|l| l.contains(&joined), &joined);

    a.say("halo dari A");
    let from_a = format!("<{}> halo dari A", a.nick);
    b.pump_until(|l| l.contains(&from_a), &from_a);
    b.say("halo juga dari B");
    let from_b = format!("<{}> halo juga dari B", b.nick);
    a.pump_until(|l| l.contains(&from_b), &from_b);

    // The first message reached the hub before b's reply was even typed: an echo would be here.
    assert!(!a.has_line(|l| l.contains(&from_a)), "{}", a.proc.dump());
    assert!(!b.has_line(|l| l.contains(&from_b)), "{}", b.proc.dump());
}

/// The seed's extra task with obrol serve: four `client.py` clients; a line on the operator
/// console reaches all four, and each one's reply reaches the other three.
#[test]
fn operator_line_reaches_four_seed_clients_and_replies_reach_the_others() {
    let mut hub = serve(&["--name", "testhub"]);
    let mut clients: Vec<Seed> = Vec::new();
    for i in 0..4 {
        let mut s = Seed::start(&format!("seed-{i}"), &hub);
        let members = format!("* in lobby ({}): ", i + 1);
        s.pump_until(|l| l.contains(&members), &members);
        clients.push(s);
    }
    let nicks: Vec<String> = clients.iter().map(|s| s.nick.clone()).collect();
    for (i, s) in clients.iter_mut().enumerate() {
        for later in &nicks[i + 1..] {
            let joined = format!("* {later} joined lobby");
            s.pump_until(|l| l.contains(&joined), &joined);
        }
    }

    hub.console("Halo semua, ini operator");
    for s in &mut clients {
        s.pump_until(
            |l| l.contains("[server] Halo semua, ini operator"),
            "the operator's line",
        );
    }
    for (i, s) in clients.iter_mut().enumerate() {
        s.say(&format!("balasan dari klien {i}"));
    }
    for (i, s) in clients.iter_mut().enumerate() {
        for (j, nick) in nicks.iter().enumerate().filter(|&(j, _)| j != i) {
            let reply = format!("<{nick}> balasan dari klien {j}");
            s.pump_until(|l| l.contains(&reply), &reply);
        }
    }
    for (i, s) in clients.iter().enumerate() {
        let own = format!("<{}> balasan dari klien {i}", nicks[i]);
        assert!(!s.has_line(|l| l.contains(&own)), "{}", s.proc.dump());
    }
}

/// A client that never reads is disconnected once its unread output passes --max-queue, and
/// it never delays anyone else's messages.
#[test]
fn slow_consumer_is_disconnected_without_delaying_others() {
    /// Messages per sender per batch; the test waits for each batch to arrive before the next,
    /// so the readers never have much unread output themselves.
    const BATCH: usize = 100;
    /// At least this many messages per sender...
    const MIN: usize = 2000;
    /// ...and more until the stalled client is gone (what socket buffers absorb depends on the
    /// kernel: several MB of small messages on some), but never more than this.
    const MAX: usize = 60_000;
    /// Every message must arrive within this of being typed.
    const PROMPT_BOUND: Duration = Duration::from_secs(5);

    // The talkers send as fast as they can: no line rate here (the rate has its own tests).
    let mut hub = serve(&["--max-queue", "65536", "--line-rate", "0"]);
    let mut a = connect(&hub, "a", None);
    let mut b = connect(&hub, "b", None);
    let mut stall = TcpStream::connect((Ipv4Addr::LOCALHOST, hub.port)).expect("connect");
    stall.write_all(b"/nick stall\n").expect("send /nick");
    for p in [&mut a, &mut b] {
        p.expect("* stall joined lobby");
    }

    let quit = "* stall quit (slow consumer: too much unread output)";
    let pad = "x".repeat(88);
    let text = |who: &str, i: usize| format!("{who}-{i:06} {pad}");
    let mut sent_a: Vec<Instant> = Vec::new();
    let mut sent_b: Vec<Instant> = Vec::new();
    while sent_a.len() < MAX
        && (sent_a.len() < MIN || !(a.has_line(|l| l == quit) && b.has_line(|l| l == quit)))
    {
        let first = sent_a.len();
        for i in first..first + BATCH {
            a.send_line(&text("a", i));
            sent_a.push(Instant::now());
            b.send_line(&text("b", i));
            sent_b.push(Instant::now());
        }
        let last = first + BATCH - 1;
        let (last_a, last_b) = (
            format!("<a> {}", text("a", last)),
            format!("<b> {}", text("b", last)),
        );
        b.expect_line(|l| l == last_a, LINE_TIMEOUT);
        a.expect_line(|l| l == last_b, LINE_TIMEOUT);
    }
    await_line(&a, |l| l == quit, quit);
    await_line(&b, |l| l == quit, quit);

    for (recv, from, sent) in [(&b, "a", &sent_a), (&a, "b", &sent_b)] {
        let prefix = format!("<{from}> {from}-");
        let mut next = 0;
        let mut worst = Duration::ZERO;
        for (at, line) in recv.timed_lines() {
            let Some(rest) = line.strip_prefix(&prefix) else {
                continue;
            };
            let i: usize = rest[..6].parse().expect("message number");
            assert_eq!(
                i,
                next,
                "{}: {from}'s messages lost, repeated or out of order",
                recv.name()
            );
            worst = worst.max(at.saturating_duration_since(sent[i]));
            next += 1;
        }
        assert_eq!(
            next,
            sent.len(),
            "{}: {from}'s messages missing",
            recv.name()
        );
        assert!(
            worst < PROMPT_BOUND,
            "{}: a message from {from} took {worst:?} to arrive (bound {PROMPT_BOUND:?}; {} sent)",
            recv.name(),
            sent.len()
        );
    }

    let stats = hub.stats();
    assert_eq!(stats["slow_consumers"], 1, "{stats:?}");
    assert_eq!(stats["clients"], 2, "{stats:?}");

    // Disconnected means the connection is closed, not just forgotten by the router: the hub
    // logs the cut...
    hub.proc
        .expect_stderr_line(|l| l.contains("disconnecting slow consumer"), LINE_TIMEOUT);
    // ...and reading what the hub had sent ends at end of stream.
    stall
        .set_read_timeout(Some(LINE_TIMEOUT))
        .expect("read timeout");
    let mut buf = vec![0; 64 * 1024];
    loop {
        match stall.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("the stalled client's connection did not end: {e}"),
        }
    }
}

/// 1,000 clients at once all get into the lobby, and all get a line from the console.
#[test]
fn thousand_clients_all_get_a_console_broadcast() {
    const CLIENTS: usize = 1000;
    const WANT: &str = "[server] pengumuman untuk seribu klien";
    ensure_fd_limit((CLIENTS * 2 + 512) as libc::rlim_t);
    // A thousand clients from one address: past the per-address limit unless exempt.
    let mut hub = serve(&["--exempt", "127.0.0.1"]);
    let port = hub.port;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..CLIENTS {
            tasks.spawn(thousand_client(i, port, ready_tx.clone(), WANT));
        }
        drop(ready_tx);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut ready = 0;
        while ready < CLIENTS {
            match tokio::time::timeout_at(deadline, ready_rx.recv()).await {
                Ok(Some(())) => ready += 1,
                Ok(None) | Err(_) => {
                    let mut errors = Vec::new();
                    while let Some(done) = tasks.try_join_next() {
                        if let Ok(Err(e)) = done {
                            errors.push(e);
                        }
                    }
                    let accepted = hub
                        .proc
                        .stderr_lines()
                        .iter()
                        .filter(|l| l.contains("client connected"))
                        .count();
                    panic!(
                        "only {ready} of {CLIENTS} clients got their `* in lobby` line (the hub \
                         logged {accepted} connections); errors: {errors:?}"
                    );
                }
            }
        }
        hub.console("pengumuman untuk seribu klien");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut got = 0;
        let mut errors = Vec::new();
        while let Ok(Some(done)) = tokio::time::timeout_at(deadline, tasks.join_next()).await {
            match done {
                Ok(Ok(())) => got += 1,
                Ok(Err(e)) => errors.push(e),
                Err(e) => errors.push(e.to_string()),
            }
        }
        assert_eq!(
            got,
            CLIENTS,
            "not every client got {WANT:?}; first errors: {:?}",
            errors.iter().take(10).collect::<Vec<_>>()
        );
    });
}

/// One of the 1,000: reads until its `* in lobby` line, says so, then reads until `want`.
async fn thousand_client(
    i: usize,
    port: u16,
    ready: tokio::sync::mpsc::UnboundedSender<()>,
    want: &'static str,
) -> Result<(), String> {
    use tokio::io::AsyncBufReadExt;
    let stream = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .await
        .map_err(|e| format!("client {i}: cannot connect: {e}"))?;
    let mut lines = tokio::io::BufReader::new(stream).lines();
    let mut in_lobby = false;
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => return Err(format!("client {i}: connection closed")),
            Err(e) => return Err(format!("client {i}: {e}")),
        };
        if !in_lobby && line.starts_with("* in lobby (") {
            in_lobby = true;
            let _ = ready.send(());
        } else if in_lobby && line == want {
            break;
        }
    }
    Ok(())
}

/// SIGTERM with three clients connected: each is told, the hub exits 0 within 2 s, and
/// `obrol connect` exits 0.
#[test]
fn sigterm_tells_every_client_and_exits_promptly() {
    let mut hub = serve(&["--name", "testhub"]);
    let mut a = connect(&hub, "a", None);
    let mut b = connect(&hub, "b", Some("dev"));
    let (mut r, rnick, _) = raw_client("raw", &hub, MOTD);
    a.expect(&format!("* {rnick} joined lobby"));
    a.send_line("siap?");
    r.expect_next("<a> siap?");

    hub.stop_with(libc::SIGTERM);
    let farewell = "! disconnected: server shutting down";
    r.expect_next(farewell);
    r.expect_closed(LINE_TIMEOUT);
    for p in [&mut a, &mut b] {
        p.expect(farewell);
        p.wait_success();
    }
}

/// SIGINT works the same, with the console at end of input from the start (which must not
/// disturb anything), and --motd replaces the welcome.
#[test]
fn sigint_with_console_at_eof_and_custom_motd() {
    let motd = "Halo dari tes: selamat datang!";
    let mut hub = serve(&["--motd", motd]);
    hub.proc.close_stdin();
    let (mut r1, n1, _) = raw_client("r1", &hub, motd);
    let (mut r2, n2, who) = raw_client("r2", &hub, motd);
    assert_eq!(parse_who(&who).2, set(&[&n1, &n2]), "{who:?}");
    r1.expect_next(&format!("* {n2} joined lobby"));
    r1.send_line("masih jalan");
    r2.expect_next(&format!("<{n1}> masih jalan"));
    r2.send_line("/me mengangguk\r");
    r1.expect_next(&format!("* {n2} mengangguk"));

    hub.stop_with(libc::SIGINT);
    for r in [&mut r1, &mut r2] {
        r.expect_next("! disconnected: server shutting down");
        r.expect_closed(LINE_TIMEOUT);
    }
}

/// Nicks, private messages, errors, rooms, /who, the `[room]` prefix, /quit, a closed socket,
/// and the console's /rooms, /kick and /stats.
#[test]
fn protocol_details_and_console_commands() {
    let mut hub = serve(&["--name", "testhub"]);
    let (mut r1, g1, who) = raw_client("r1", &hub, MOTD);
    assert_eq!(parse_who(&who), ("lobby".into(), 1, set(&[&g1])), "{who:?}");
    r1.send_line("/nick ani");
    r1.expect_next(&format!("* {g1} is now known as ani"));

    let (mut r2, g2, who) = raw_client("r2", &hub, MOTD);
    assert_eq!(parse_who(&who).2, set(&["ani", &g2]), "{who:?}");
    r1.expect_next(&format!("* {g2} joined lobby"));

    // Nicks.
    r2.send_line("/nick ani");
    r2.expect_next("! nick taken: ani");
    r2.send_line("/nick 9lives");
    let invalid = r2.expect_line(|_| true, LINE_TIMEOUT);
    assert!(invalid.starts_with("! invalid nick: 9lives"), "{invalid:?}");
    r2.send_line("/nick budi");
    r2.expect_next(&format!("* {g2} is now known as budi"));
    r1.expect_next(&format!("* {g2} is now known as budi"));

    // Private messages, unknown commands, actions, chat.
    r2.send_line("/msg nobody halo");
    r2.expect_next("! no such nick: nobody");
    r2.send_line("/msg ani psst");
    r1.expect_next("*private* <budi> psst");
    r2.expect_next("-> *ani* psst");
    r2.send_line("/frob");
    r2.expect_next("! unknown command: /frob (try /help)");
    r2.send_line("/me melambai");
    r1.expect_next("* budi melambai");
    r1.send_line("hai budi");
    r2.expect_next("<ani> hai budi");

    // Rooms: budi goes to dev; ani hears nothing of it.
    r2.send_line("/join dev");
    r2.expect_next("* budi joined dev");
    let who = r2.expect_line(|_| true, LINE_TIMEOUT);
    assert_eq!(
        parse_who(&who),
        ("dev".into(), 1, set(&["budi"])),
        "{who:?}"
    );
    r2.send_line("/rooms");
    r2.expect_next("* rooms: dev (1), lobby (2)");
    r1.send("/rooms\r\n".as_bytes());
    r1.expect_next("* rooms: dev (1), lobby (2)");
    r1.send_line("/join dev");
    r1.expect_next("* ani joined dev");
    r2.expect_next("* ani joined dev");
    let who = r1.expect_line(|_| true, LINE_TIMEOUT);
    assert_eq!(
        parse_who(&who),
        ("dev".into(), 2, set(&["ani", "budi"])),
        "{who:?}"
    );
    r1.send_line("/who lobby");
    let who = r1.expect_line(|_| true, LINE_TIMEOUT);
    assert_eq!(
        parse_who(&who),
        ("lobby".into(), 2, set(&["ani", "budi"])),
        "{who:?}"
    );

    // Chat from a room that is not one's current room is prefixed with the room.
    let (mut r3, g3, who) = raw_client("r3", &hub, MOTD);
    assert_eq!(parse_who(&who).2, set(&["ani", "budi", &g3]), "{who:?}");
    r1.expect_next(&format!("* {g3} joined lobby"));
    r2.expect_next(&format!("* {g3} joined lobby"));
    r3.send_line("halo lobby");
    r1.expect_next(&format!("[lobby] <{g3}> halo lobby"));
    r2.expect_next(&format!("[lobby] <{g3}> halo lobby"));
    r2.send_line("ini di dev");
    r1.expect_next("<budi> ini di dev");
    r1.send_line("/part dev");
    r1.expect_next("* ani left dev");
    r2.expect_next("* ani left dev");
    r3.send_line("lagi");
    r1.expect_next(&format!("<{g3}> lagi"));
    r2.expect_next(&format!("[lobby] <{g3}> lagi"));
    r1.send_line("/who");
    let who = r1.expect_line(|_| true, LINE_TIMEOUT);
    assert_eq!(
        parse_who(&who),
        ("lobby".into(), 3, set(&["ani", "budi", &g3])),
        "{who:?}"
    );
    // r3 is not in dev: had "ini di dev" reached it, it would have come before this answer.
    r3.send_line("/who");
    let who = r3.expect_line(|_| true, LINE_TIMEOUT);
    assert_eq!(
        parse_who(&who),
        ("lobby".into(), 3, set(&["ani", "budi", &g3])),
        "{who:?}\n{}",
        r3.dump()
    );

    // /quit with a reason.
    r3.send_line("/quit sampai jumpa");
    r3.expect_next("! disconnected: bye");
    r3.expect_closed(LINE_TIMEOUT);
    r1.expect_next(&format!("* {g3} quit (sampai jumpa)"));
    r2.expect_next(&format!("* {g3} quit (sampai jumpa)"));

    // A client that just closes its socket.
    let (r4, g4, _) = raw_client("r4", &hub, MOTD);
    r1.expect_next(&format!("* {g4} joined lobby"));
    r2.expect_next(&format!("* {g4} joined lobby"));
    drop(r4);
    r1.expect_next(&format!("* {g4} quit (connection closed)"));
    r2.expect_next(&format!("* {g4} quit (connection closed)"));

    // The console.
    hub.console("/rooms");
    let rooms = hub
        .proc
        .expect_line(|l| l.contains(" rooms: "), LINE_TIMEOUT);
    let (count, list) = rooms
        .strip_prefix("* ")
        .and_then(|r| r.split_once(" rooms: "))
        .unwrap_or_else(|| panic!("bad /rooms answer {rooms:?}"));
    assert_eq!(count, "2", "{rooms:?}");
    let list: BTreeSet<&str> = list.split(", ").collect();
    assert_eq!(list, BTreeSet::from(["dev (1)", "lobby (2)"]), "{rooms:?}");
    hub.console("/kick nobody");
    hub.proc.expect("* no such nick: nobody");
    hub.console("/kick budi");
    hub.proc.expect("* kicked budi");
    let farewell = r2.expect_line(|_| true, LINE_TIMEOUT);
    assert!(
        farewell.starts_with("! disconnected: kicked by the operator"),
        "{farewell:?}"
    );
    r2.expect_closed(LINE_TIMEOUT);
    let quit = r1.expect_line(|_| true, LINE_TIMEOUT);
    assert!(
        quit.starts_with("* budi quit (kicked by the operator") && quit.ends_with(')'),
        "{quit:?}"
    );
    let stats = hub.stats();
    assert_eq!(stats["clients"], 1, "{stats:?}");
    assert_eq!(stats["rooms"], 1, "{stats:?}");
    assert_eq!(stats["connects"], 4, "{stats:?}");
    assert_eq!(stats["slow_consumers"], 0, "{stats:?}");
    assert!(stats["messages"] >= 5, "{stats:?}");
    assert!(stats["deliveries"] >= stats["messages"], "{stats:?}");

    // A sender never gets its own chat back.
    assert!(!r1.has_line(|l| l.contains("<ani>")), "{}", r1.dump());
    assert!(!r2.has_line(|l| l.contains("<budi>")), "{}", r2.dump());
}

/// `obrol connect` to a port nobody listens on exits with code 1.
#[test]
fn connect_to_a_closed_port_exits_1() {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .expect("bind")
        .local_addr()
        .expect("address")
        .port();
    // The listener is closed again: nothing listens on `port`.
    let addr = format!("127.0.0.1:{port}");
    let mut p = Proc::spawn("connect", obrol_cmd(&["connect", &addr, "--nick", "x"]));
    let status = p.wait_exit(EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(1), "{status}\n{}", p.dump());
}
