//! What a hostile client can spend, and what it cannot: each attack on `obrol serve`, scaled
//! down, with well-behaved witnesses who must not notice it.
//!
//! 127.0.0.0/8 is all loopback, so a test plays clients at different addresses by binding the
//! source address (127.0.0.2, 127.0.0.3, ...): the attacker and the witnesses are told apart by
//! address, as they would be on a real network.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use common::irc::{connect_from, joined, num, src, Hub, Irc, PLAIN_WELCOME};
use common::LINE_TIMEOUT;

const ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const WITNESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
const WITNESS2: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);

/// How long a witness may take to connect, register and be heard while an attack runs.
const WITNESS_BOUND: Duration = Duration::from_secs(1);

/// Reads what the hub sends on `stream` until it closes the connection; panics if it does not
/// within [`LINE_TIMEOUT`].
#[track_caller]
fn read_to_close(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(LINE_TIMEOUT))
        .expect("a read timeout");
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return String::from_utf8_lossy(&all).into_owned(),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return String::from_utf8_lossy(&all).into_owned()
            }
            Err(e) => panic!(
                "the hub did not close the connection ({e}); got {:?}",
                String::from_utf8_lossy(&all)
            ),
        }
    }
}

/// A witness registers, joins `chan` and hears another witness there, all within
/// [`WITNESS_BOUND`]: the hub still serves well-behaved clients.
#[track_caller]
fn witnesses_chat(port: u16, chan: &str, tag: &str) {
    let start = Instant::now();
    let mut a = Irc::register_from(WITNESS, port, &format!("wa{tag}"));
    a.ask(&format!("JOIN {chan}"));
    let mut b = Irc::register_from(WITNESS2, port, &format!("wb{tag}"));
    b.ask(&format!("JOIN {chan}"));
    a.send(&format!("PRIVMSG {chan} :hello from {tag}"));
    b.expect_line(&format!(
        "{} PRIVMSG {chan} :hello from {tag}",
        src_at(&format!("wa{tag}"), WITNESS)
    ));
    let took = start.elapsed();
    assert!(
        took < WITNESS_BOUND,
        "witnesses took {took:?} to register, join and chat (bound {WITNESS_BOUND:?})"
    );
}

/// The hub's console `/stats`, as key=value counts.
#[track_caller]
fn stats(hub: &mut Hub) -> std::collections::BTreeMap<String, u64> {
    hub.proc.send_line("/stats");
    let line = hub
        .proc
        .expect_line(|l| l.starts_with("* clients="), LINE_TIMEOUT);
    let stats = line["* ".len()..]
        .split_whitespace()
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_owned(), v.trim_end_matches('s').parse().ok()?))
        })
        .collect();
    // Each `/stats` answer is read once: later calls must not find this one.
    stats
}

#[test]
fn connections_per_address_are_capped_and_others_still_get_in() {
    let hub = Hub::start_with(&["--max-per-address", "5"]);
    let port = hub.port();
    // Five idle connections from the attacker's address are let in (they become plain
    // clients after the sniff window)...
    let mut held: Vec<TcpStream> = (0..5).map(|_| connect_from(ATTACKER, port)).collect();
    for s in &mut held {
        let mut buf = [0u8; 64];
        s.set_read_timeout(Some(LINE_TIMEOUT)).unwrap();
        let n = s.read(&mut buf).expect("an admitted client is greeted");
        assert!(
            String::from_utf8_lossy(&buf[..n]).starts_with(PLAIN_WELCOME),
            "{:?}",
            String::from_utf8_lossy(&buf[..n])
        );
    }
    // ...the sixth is told why and closed...
    let mut sixth = connect_from(ATTACKER, port);
    let said = read_to_close(&mut sixth);
    assert_eq!(
        said,
        "ERROR :Closing link: too many connections from your address (at most 5)\r\n"
    );
    // ...while other addresses are served as before.
    witnesses_chat(port, "#w", "1");
    // A slot freed is a slot to be had again.
    drop(held.pop());
    let deadline = Instant::now() + LINE_TIMEOUT;
    loop {
        let mut again = Irc::connect_from("again", ATTACKER, port);
        again.send_bytes(b"NICK again\r\nUSER again 0 * :again\r\n");
        match again.read_line(Instant::now() + LINE_TIMEOUT) {
            Some(line) if line.starts_with("ERROR :Closing link: too many") => {
                assert!(Instant::now() < deadline, "the freed slot never came back");
                std::thread::sleep(Duration::from_millis(20));
            }
            Some(_) => {
                again.expect_line(&num("376", "again", ":End of /MOTD command."));
                break;
            }
            None => panic!("nothing from the hub\n{}", again.dump()),
        }
    }
}

#[test]
fn the_registration_deadline_is_not_extended_by_a_trickle_of_input() {
    let hub = Hub::start_full(&["irc://127.0.0.1:0"], &["--register-secs", "1.5"]);
    let port = hub.port_of("Irc");
    let mut slow = Irc::connect_from("slow", ATTACKER, port);
    let start = Instant::now();
    // A PING every 300 ms: input, but never a registration.
    let mut said = Vec::new();
    while !slow.is_closed() && start.elapsed() < Duration::from_secs(5) {
        // Writing may fail once the hub has closed: that is the point.
        let _ = slow_ping(&mut slow);
        while let Some(line) = slow.read_line(Instant::now() + Duration::from_millis(300)) {
            said.push(line);
        }
    }
    let took = start.elapsed();
    assert!(slow.is_closed(), "still open after {took:?}: {said:?}");
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_millis(3000),
        "closed after {took:?}, the deadline was 1.5 s from the accept"
    );
    assert!(
        said.iter()
            .any(|l| l == "ERROR :Closing link: registration timed out"),
        "{said:?}"
    );
    // A client that registers in time is unaffected.
    let mut ok = Irc::register_from(WITNESS, port, "intime");
    std::thread::sleep(Duration::from_millis(1800));
    ok.sync();
}

fn slow_ping(c: &mut Irc) -> std::io::Result<()> {
    // `Irc::send` panics on a write error; a closed connection is expected here.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.send("PING :trickle")))
        .map_err(|_| std::io::Error::other("closed"))
}

/// The unregistered cap cannot be used to shut the door: when it is full, a newcomer from an
/// address with nothing waiting takes the place of the oldest unregistered connection of the
/// address holding the most, once that one has waited 5 s. The attacker's own surplus is
/// turned away (it would only evict itself), and witnesses register and chat as usual.
#[test]
fn unregistered_connections_are_capped_and_cannot_shut_the_door() {
    let mut hub = Hub::start_full(
        &["irc://127.0.0.1:0"],
        &["--max-unregistered", "6", "--max-per-address", "0"],
    );
    let port = hub.port_of("Irc");
    // Six silent connections fill the cap: five from the attacker, one from elsewhere.
    let mut silent: Vec<TcpStream> = (0..5).map(|_| connect_from(ATTACKER, port)).collect();
    let mut bystander = connect_from(Ipv4Addr::new(127, 0, 0, 9), port);
    // The hub counts a connection once it has accepted it.
    let deadline = Instant::now() + LINE_TIMEOUT;
    while stats(&mut hub)["connections"] < 6 {
        assert!(Instant::now() < deadline, "the hub never accepted all six");
        std::thread::sleep(Duration::from_millis(20));
    }
    let filled = Instant::now();
    // More from the attacker are turned away: it would only take its own places. So is a
    // newcomer while nobody has waited long enough to be evicted.
    let mut early = connect_from(Ipv4Addr::new(127, 0, 0, 10), port);
    assert_eq!(
        read_to_close(&mut early),
        "ERROR :Closing link: the server is busy with new connections; try again shortly\r\n"
    );
    for _ in 0..3 {
        let mut more = connect_from(ATTACKER, port);
        assert_eq!(
            read_to_close(&mut more),
            "ERROR :Closing link: the server is busy with new connections; try again shortly\r\n"
        );
    }
    std::thread::sleep(Duration::from_millis(5200).saturating_sub(filled.elapsed()));
    // Witnesses get in, register and chat: the first takes the place of the attacker's
    // oldest, the second finds room (the place the first left when it registered, or the
    // attacker's next oldest if that one has not closed yet).
    witnesses_chat(port, "#door", "door");
    assert_eq!(
        read_to_close(&mut silent[0]),
        "ERROR :Closing link: too many connections are waiting to register and yours waited longest; try again\r\n",
    );
    let s = stats(&mut hub);
    assert!((1..=2).contains(&s["evicted_unregistered"]), "{s:?}");
    assert_eq!(s["refused_unregistered"], 4, "{s:?}");
    // The bystander, alone at its address, was not the one to go.
    bystander
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(
        matches!(bystander.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the bystander was closed"
    );
}

/// An address that reconnects in a loop is refused at the door once its burst is spent, and
/// others are not: witnesses register and chat meanwhile.
#[test]
fn an_address_that_reconnects_in_a_loop_is_refused_at_the_door() {
    let mut hub = Hub::start_full(&["irc://127.0.0.1:0"], &["--connects-per-minute", "5"]);
    let port = hub.port_of("Irc");
    for i in 0..5 {
        let mut c = Irc::register_from(ATTACKER, port, &format!("loop{i}"));
        c.send("QUIT :again");
        c.expect_closed();
    }
    let mut sixth = connect_from(ATTACKER, port);
    assert_eq!(
        read_to_close(&mut sixth),
        "ERROR :Closing link: your address connects too often; wait a minute\r\n"
    );
    // Told once: from then on it is closed without a word (a reset), which costs the hub
    // least, until it may connect again.
    for _ in 0..20 {
        let mut again = connect_from(ATTACKER, port);
        assert_eq!(read_to_close(&mut again), "");
    }
    witnesses_chat(port, "#loop", "loop");
    let s = stats(&mut hub);
    assert_eq!(s["refused_connect_rate"], 21, "{s:?}");
}

#[test]
fn a_paste_is_slowed_down_not_lost() {
    let hub = Hub::start_with(&["--line-rate", "20", "--line-burst", "10"]);
    let port = hub.port();
    let mut reader = joined(port, "reader", "#paste");
    let mut paster = joined(port, "paster", "#paste");
    reader.sync();
    let mut paste = String::new();
    for i in 0..30 {
        paste.push_str(&format!("PRIVMSG #paste :line {i}\r\n"));
    }
    let start = Instant::now();
    paster.send_bytes(paste.as_bytes());
    for i in 0..30 {
        reader.expect_line(&format!("{} PRIVMSG #paste :line {i}", src("paster")));
    }
    let took = start.elapsed();
    // 10 at once, then 20 at 20 a second (the JOIN and the sync spent two of the burst).
    assert!(
        took >= Duration::from_millis(900),
        "30 lines went through in {took:?}: not slowed"
    );
    paster.expect_line(
        ":irc.test NOTICE paster :You are sending too fast: your lines now go through at 20 a second",
    );
    // Said once per episode, not once per line.
    let notices = paster
        .sync()
        .iter()
        .chain(paster.received.iter())
        .filter(|l| l.contains("sending too fast"))
        .count();
    assert_eq!(notices, 1, "{}", paster.dump());
}

#[test]
fn a_flood_is_cut_and_witnesses_chat_on() {
    let hub = Hub::start_with(&[
        "--line-rate",
        "20",
        "--line-burst",
        "10",
        "--max-lag-secs",
        "2",
    ]);
    let port = hub.port();
    let mut watcher = Irc::register_from(WITNESS, port, "watcher");
    watcher.ask("JOIN #flood");
    let mut flooder = Irc::register_from(ATTACKER, port, "flooder");
    flooder.ask("JOIN #flood");
    watcher.sync();
    let start = Instant::now();
    let mut flood = Vec::new();
    for i in 0..5000 {
        flood.extend_from_slice(format!("PRIVMSG #flood :spam {i}\r\n").as_bytes());
    }
    // The hub stops reading a throttled client, so this write may block until it is cut.
    let mut raw = flooder.try_clone_stream();
    let writer = std::thread::spawn(move || {
        let _ = raw.write_all(&flood);
    });
    flooder.expect_line(
        ":irc.test NOTICE flooder :You are sending too fast: your lines now go through at 20 a second",
    );
    witnesses_chat(port, "#flood", "2");
    let closing = flooder.expect_closed();
    assert!(
        closing
            .iter()
            .any(|l| l == "ERROR :Closing link: Excess flood (more than 20 lines/s)"),
        "{}",
        flooder.dump()
    );
    let _ = writer.join();
    // The watcher saw the flooder leave, and no more of its lines than its rate let through.
    let quit = format!(
        "{} QUIT :Excess flood (more than 20 lines/s)",
        src_at("flooder", ATTACKER)
    );
    let lines = watcher.until(|l| l == quit, "the flooder's QUIT");
    let spam = lines.iter().filter(|l| l.contains(" :spam ")).count();
    let allowed = 10 + (start.elapsed().as_secs_f64() * 20.0).ceil() as usize;
    assert!(
        spam <= allowed,
        "{spam} flood lines got through (at most {allowed})"
    );
    // The flooder is gone; the watcher is still served.
    let lines = watcher.ask("WHOIS flooder");
    assert!(
        lines.contains(&num("401", "watcher", "flooder :No such nick/channel")),
        "{}",
        watcher.dump()
    );
}

/// The IRC source of `nick` connected from `addr` (the test hub shows the IP as host).
fn src_at(nick: &str, addr: Ipv4Addr) -> String {
    format!(":{nick}!{nick}@{addr}")
}

#[test]
fn clients_that_do_not_read_are_shed_at_the_overall_budget() {
    // Each client may queue 8 MiB; all together only 4 MiB. Without the overall budget,
    // twelve non-readers would each hold what the talker says (~8 MiB, of which the kernel's
    // socket buffers take up to 4 MiB).
    let mut hub = Hub::start_with(&[
        "--max-queue",
        "8388608",
        "--max-queued-total",
        "4194304",
        "--line-rate",
        "0",
    ]);
    let port = hub.port();
    let mut sleepers = Vec::new();
    for i in 0..12 {
        let nick = format!("sleeper{i}");
        let stream = common::irc::connect_from_with(ATTACKER, port, Some(4096));
        let mut c = Irc::over(&nick, stream);
        c.send(&format!("NICK {nick}"));
        c.send(&format!("USER {nick} 0 * :{nick}"));
        c.expect_line(&num("376", &nick, ":End of /MOTD command."));
        c.ask("JOIN #big");
        sleepers.push(c);
    }
    let mut reader = Irc::register_from(WITNESS, port, "reader");
    reader.ask("JOIN #big");
    let mut talker = Irc::register_from(WITNESS2, port, "talker");
    talker.ask("JOIN #big");
    let text = "x".repeat(400);
    let mut burst = String::new();
    for i in 0..20_000 {
        burst.push_str(&format!("PRIVMSG #big :{i} {text}\r\n"));
    }
    // The reader drains its socket on a thread of its own, in large reads: it keeps up with
    // the hub however busy the machine running the tests is (parsing lines one by one on the
    // test's thread let it fall megabytes behind under load, and the hub then rightly shed it).
    let mut drain = reader.try_clone_stream();
    let last = format!("PRIVMSG #big :19999 {text}\r\n");
    let drained = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let _ = drain.set_read_timeout(Some(std::time::Duration::from_millis(200)));
        let mut got = Vec::with_capacity(10 << 20);
        let mut buf = vec![0u8; 1 << 16];
        while std::time::Instant::now() < deadline {
            match std::io::Read::read(&mut drain, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if got.ends_with(last.as_bytes()) {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
        got
    });
    let mut raw = talker.try_clone_stream();
    let writer = std::thread::spawn(move || raw.write_all(burst.as_bytes()));
    // The reader, which reads, gets every line in order.
    let got = drained.join().expect("the reader's drain");
    let got = String::from_utf8_lossy(&got);
    let lines: Vec<&str> = got
        .split("\r\n")
        .filter(|l| l.contains(" PRIVMSG #big :"))
        .collect();
    assert_eq!(lines.len(), 20_000, "the reader got {} lines", lines.len());
    for (i, line) in lines.iter().enumerate() {
        let want = format!("{} PRIVMSG #big :{i} {text}", src_at("talker", WITNESS2));
        assert_eq!(*line, want);
    }
    writer
        .join()
        .expect("writer")
        .expect("the talker's lines went out");
    let s = stats(&mut hub);
    assert!(s["shed"] >= 1, "nobody shed: {s:?}");
    assert!(
        s["queued_bytes"] <= 2 * 4194304,
        "queued {} bytes: {s:?}",
        s["queued_bytes"]
    );
    witnesses_chat(port, "#other", "3");
    drop(sleepers);
}

#[test]
fn guessing_the_oper_password_locks_the_address_out() {
    let hub = Hub::start_with(&common::irc::OPER_ARGS);
    let port = hub.port();
    let mut guesser = Irc::register_from(ATTACKER, port, "guesser");
    for i in 0..4 {
        let lines = guesser.ask(&format!("OPER admin guess{i}"));
        assert_eq!(
            lines,
            vec![num("464", "guesser", ":Password incorrect")],
            "{}",
            guesser.dump()
        );
    }
    guesser.send("OPER admin guess4");
    let closing = guesser.expect_closed();
    assert!(
        closing
            .iter()
            .any(|l| l == "ERROR :Closing link: Too many failed OPER attempts"),
        "{closing:?}"
    );
    // Locked out: from that address even the right password is refused, unchecked, and the
    // connection closed.
    let mut again = Irc::register_from(ATTACKER, port, "guesser2");
    again.send("OPER admin secret");
    let closing = again.expect_closed();
    assert_eq!(
        closing.first(),
        Some(&num("464", "guesser2", ":Password incorrect")),
        "{closing:?}"
    );
    // Elsewhere the operator gets in.
    let mut admin = Irc::register_from(WITNESS, port, "admin");
    let lines = admin.ask("OPER admin secret");
    assert!(
        lines.contains(&num("381", "admin", ":You are now an IRC operator")),
        "{lines:?}"
    );
    // Failures are logged, but not one line per guess.
    let logged = hub
        .proc
        .stderr_lines()
        .iter()
        .filter(|l| l.contains("failed OPER attempt"))
        .count();
    assert!(
        (1..=3).contains(&logged),
        "{logged} log lines for 6 failures"
    );
}

#[test]
fn service_and_server_names_cannot_be_taken() {
    let hub = Hub::start();
    let port = hub.port();
    let mut c = Irc::connect("c", port);
    c.send("NICK NickServ");
    c.expect_line(&num("432", "*", "NickServ :Nickname is reserved"));
    c.send("NICK [server]");
    c.expect_line(&num("432", "*", "[server] :Nickname is reserved"));
    c.send("NICK fine");
    c.send("USER fine 0 * :Fine");
    c.expect_line(&num("376", "fine", ":End of /MOTD command."));
    let lines = c.ask("NICK chanserv");
    assert_eq!(
        lines,
        vec![num("432", "fine", "chanserv :Nickname is reserved")]
    );
    // A plain client asking for one is told so, in its own words.
    let mut plain = common::Raw::connect("plain", port);
    plain.send_line("/nick [server]");
    plain.expect(PLAIN_WELCOME);
    plain.expect_line(|l| l == "! nick reserved: [server]", LINE_TIMEOUT);
}

#[test]
fn nobody_operates_the_servers_own_room() {
    let hub = Hub::start();
    let port = hub.port();
    // The first IRC client into the room plain clients are put in does not get to run it.
    let mut first = joined(port, "first", "#lobby");
    let lines = first.ask("NAMES #lobby");
    assert!(
        lines.iter().any(|l| l.ends_with(":first")),
        "no operator prefix expected: {lines:?}"
    );
    let lines = first.ask("MODE #lobby +b *!*@*");
    assert_eq!(
        lines,
        vec![num("482", "first", "#lobby :You're not channel operator")]
    );
    // Any other room is its first joiner's, as before.
    let mut other = joined(port, "other", "#mine");
    let lines = other.ask("NAMES #mine");
    assert!(lines.iter().any(|l| l.ends_with(":@other")), "{lines:?}");
}

#[test]
fn a_connect_and_close_loop_does_not_fill_the_log() {
    let hub = Hub::start_with(&["--max-per-address", "2"]);
    let port = hub.port();
    let before = hub.proc.stderr_lines().len();
    // Registered clients coming and going, and connections refused at the door.
    let mut held: Vec<TcpStream> = (0..2).map(|_| connect_from(ATTACKER, port)).collect();
    for _ in 0..200 {
        let mut s = connect_from(ATTACKER, port);
        let _ = read_to_close(&mut s);
    }
    for i in 0..50 {
        let mut c = Irc::register_from(WITNESS, port, &format!("n{i}"));
        c.send("QUIT :bye");
        c.expect_closed();
    }
    held.clear();
    let logged = hub.proc.stderr_lines().len() - before;
    assert!(logged <= 5, "{logged} log lines for 250 connections");
}

#[test]
fn a_room_list_larger_than_the_output_queue_arrives_whole() {
    // 400 rooms make a LIST of ~16 KB, twice what a client may have queued.
    let hub = Hub::start_with(&["--max-queue", "8192", "--exempt", "127.0.0.1"]);
    let port = hub.port();
    let mut owners = Vec::new();
    for c in 0..8 {
        let nick = format!("owner{c}");
        let mut o = Irc::register(port, &nick);
        let rooms: Vec<String> = (0..50).map(|r| format!("#room{}", c * 50 + r)).collect();
        o.send(&format!("JOIN {}", rooms.join(",")));
        o.sync();
        owners.push(o);
    }
    let mut lister = Irc::register_from(WITNESS, port, "lister");
    lister.send("LIST");
    let lines = lister.until(|l| l.contains(" 323 lister "), "the end of the list");
    let rooms = lines.iter().filter(|l| l.contains(" 322 lister ")).count();
    assert_eq!(rooms, 400, "{}", lister.dump());
    assert_eq!(
        lines.iter().filter(|l| l.contains(" 321 lister ")).count(),
        1
    );
    // The lister is still connected, and its list did not hold up anyone else.
    lister.sync();
    witnesses_chat(port, "#room0", "4");
    // A plain client's /rooms comes a page at a time, every room in it.
    let mut plain = common::Raw::connect("plain", port);
    plain.expect(PLAIN_WELCOME);
    plain.send_line("/rooms");
    let mut seen = 0;
    while seen < 401 {
        let line = plain.expect_line(|l| l.starts_with("* rooms: "), LINE_TIMEOUT);
        seen += line.matches(" (").count();
    }
    assert_eq!(seen, 401, "400 rooms and the lobby");
}

#[test]
fn operators_are_configured_by_hash_or_account_never_by_password() {
    // A password on the command line is refused, with what to do instead.
    let mut serve = common::Proc::spawn(
        "serve",
        common::obrol_cmd(&["serve", "--oper", "admin:secret", "--no-console"]),
    );
    assert_eq!(serve.wait_exit(common::EXIT_TIMEOUT).code(), Some(2));
    assert!(
        serve.stderr_lines().iter().any(|l| l.contains(
            "--oper admin: give the password's hash (`obrol hash-password`), not the password"
        )),
        "{}",
        serve.dump()
    );
    // By account: whoever is logged in to `boss` may OPER as `chief`, with any password.
    let dir = std::env::temp_dir().join(format!("obrol-oper-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = dir.with_extension("toml");
    std::fs::write(&config, "[[oper]]\nname = \"chief\"\naccount = \"boss\"\n").unwrap();
    let hub = Hub::start_with(&[
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    let mut plain = common::Raw::connect("boss", hub.port());
    plain.send_line("/nick boss");
    plain.expect(PLAIN_WELCOME);
    plain.send_line("/register boss-password");
    plain.expect("* you are logged in as boss");
    plain.send_line("/quit");
    plain.expect_closed(LINE_TIMEOUT);
    let mut other = Irc::register(hub.port(), "other");
    assert_eq!(
        other.ask("OPER chief whatever").first(),
        Some(&num("464", "other", ":Password incorrect"))
    );
    // Logged in to `boss` (SASL PLAIN after registering), OPER chief succeeds.
    let mut boss = Irc::register(hub.port(), "boss2");
    boss.send("CAP REQ :sasl");
    boss.send("AUTHENTICATE PLAIN");
    boss.expect_line("AUTHENTICATE +");
    // base64("\0boss\0boss-password")
    boss.send("AUTHENTICATE AGJvc3MAYm9zcy1wYXNzd29yZA==");
    boss.expect_line(&num("903", "boss2", ":SASL authentication successful"));
    let lines = boss.ask("OPER chief whatever");
    assert!(
        lines.contains(&num("381", "boss2", ":You are now an IRC operator")),
        "{lines:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&config);
}

#[test]
fn a_nick_toggler_among_clients_that_do_not_read_is_slowed_and_memory_stays_bounded() {
    // Every rename goes to everyone sharing a room, and these clients never read: the line
    // rate (default 10/s after a burst of 40) slows the toggler, and the output budget bounds
    // what the non-readers hold.
    let mut hub = Hub::start_with(&["--max-queued-total", "2097152", "--max-per-address", "0"]);
    let port = hub.port();
    let mut sleepers = Vec::new();
    for i in 0..40 {
        let nick = format!("zz{i}");
        let stream = common::irc::connect_from_with(ATTACKER, port, Some(4096));
        let mut c = Irc::over(&nick, stream);
        c.send(&format!("NICK {nick}"));
        c.send(&format!("USER {nick} 0 * :{nick}"));
        c.expect_line(&num("376", &nick, ":End of /MOTD command."));
        c.ask("JOIN #busy");
        sleepers.push(c);
    }
    let mut toggler = Irc::register_from(WITNESS2, port, "toggle0");
    toggler.ask("JOIN #busy");
    let mut burst = String::new();
    for i in 0..2000 {
        burst.push_str(&format!("NICK toggle{}\r\n", (i + 1) % 2));
    }
    let mut raw = toggler.try_clone_stream();
    let writer = std::thread::spawn(move || {
        let _ = raw.write_all(burst.as_bytes());
    });
    toggler.expect_line(
        ":irc.test NOTICE toggle0 :You are sending too fast: your lines now go through at 10 a second",
    );
    witnesses_chat(port, "#busy", "5");
    let s = stats(&mut hub);
    assert!(
        s["queued_bytes"] <= 2 * 2097152,
        "queued {} bytes: {s:?}",
        s["queued_bytes"]
    );
    // 2,000 renames at 10 a second is 200 s of lag: the toggler is cut as a flood.
    let closing = toggler.expect_closed();
    assert!(
        closing
            .iter()
            .any(|l| l == "ERROR :Closing link: Excess flood (more than 10 lines/s)"),
        "{}",
        toggler.dump()
    );
    let _ = writer.join();
    drop(sleepers);
}
