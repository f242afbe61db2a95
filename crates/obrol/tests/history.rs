//! History: `obrol serve --data-dir DIR` keeps every message in DIR/history.db before anyone
//! receives it, and replays a room's latest to whoever joins: across a restart, and across a
//! `kill -9` in the middle of a burst.

mod common;

use std::path::{Path, PathBuf};

use common::irc::{Hub, Irc};
use common::{obrol_cmd, Proc, Raw, EXIT_TIMEOUT, LINE_TIMEOUT};

fn data_dir(tag: &str) -> PathBuf {
    common::irc::data_dir("history", tag)
}

fn hub(dir: &Path, extra: &[&str]) -> Hub {
    common::irc::hub_with_data(dir, extra)
}

fn plain(port: u16, nick: &str) -> Raw {
    common::irc::plain_client(port, nick)
}

fn stop(mut hub: Hub) {
    hub.proc.signal(libc::SIGTERM);
    hub.proc.wait_success();
}

#[test]
fn messages_survive_a_restart_and_are_replayed_in_order_with_their_times() {
    let dir = data_dir("restart");
    let first = hub(&dir, &[]);
    let mut ani = plain(first.port(), "ani");
    let mut irc = Irc::register_with_caps(first.port(), "watcher", "server-time");
    irc.send("JOIN #lobby");
    irc.expect(|l| l.contains(" 366 watcher #lobby "), "NAMES end");
    ani.send_line("satu");
    ani.send_line("/me dua");
    ani.send_line("tiga");
    // The times the watcher saw, live.
    let mut times = Vec::new();
    for text in ["satu", "\u{1}ACTION dua\u{1}", "tiga"] {
        let line = irc.expect(|l| l.ends_with(&format!("PRIVMSG #lobby :{text}")), text);
        let time = line
            .strip_prefix("@time=")
            .and_then(|l| l.split(' ').next())
            .expect("a time tag")
            .to_owned();
        times.push(time);
    }
    drop(ani);
    drop(irc);
    stop(first);

    let again = hub(&dir, &[]);
    // A plain client: dated lines, in order.
    let mut budi = plain(again.port(), "budi");
    budi.expect("* the last 3 messages in lobby:");
    let minute = |t: &str| t[..16].replace('T', " ");
    budi.expect(&format!("[{}] <ani> satu", minute(&times[0])));
    budi.expect(&format!("[{}] * ani dua", minute(&times[1])));
    budi.expect(&format!("[{}] <ani> tiga", minute(&times[2])));
    // An IRC client with batch, server-time and message-tags: a chathistory batch, each message
    // with the time it had live and a msgid.
    let mut b = Irc::register_with_caps(again.port(), "batcher", "batch server-time message-tags");
    b.send("JOIN #lobby");
    let start = b.expect(|l| l.contains(" BATCH +"), "the batch start");
    assert!(start.ends_with(" chathistory #lobby"), "{start}");
    let reference = start
        .split(" BATCH +")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .expect("a reference")
        .to_owned();
    for (time, text) in times.iter().zip(["satu", "\u{1}ACTION dua\u{1}", "tiga"]) {
        let line = b.expect(|l| l.contains("PRIVMSG #lobby"), text);
        assert!(
            line.starts_with(&format!("@batch={reference};time={time};msgid="))
                && line.ends_with(&format!(":ani!ani@127.0.0.1 PRIVMSG #lobby :{text}")),
            "{line}"
        );
    }
    b.expect_line(&format!(":irc.test BATCH -{reference}"));
    // An IRC client without those: plain PRIVMSGs, the time in the text.
    let mut p = Irc::register(again.port(), "plainirc");
    p.send("JOIN #lobby");
    p.expect_line(&format!(
        ":ani!ani@127.0.0.1 PRIVMSG #lobby :[{}] satu",
        minute(&times[0])
    ));
    drop((budi, b, p));
    stop(again);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_history_nothing_is_kept_or_replayed() {
    let dir = data_dir("off");
    let h = hub(&dir, &["--no-history"]);
    let mut ani = plain(h.port(), "ani");
    let mut carol = plain(h.port(), "carol");
    ani.send_line("lupakan");
    // Delivered before budi comes: budi could only have it from history.
    carol.expect("<ani> lupakan");
    let mut budi = plain(h.port(), "budi");
    ani.send_line("sync");
    budi.expect("<ani> sync");
    assert!(!budi.has_line(|l| l.contains("lupakan")), "{}", budi.dump());
    assert!(!dir.join("history.db").exists());
    drop((ani, budi, carol));
    stop(h);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corrupt_history_is_a_clear_error_at_start() {
    let dir = data_dir("corrupt");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("history.db"),
        b"this is not a database, it is a note\n",
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    let mut p = Proc::spawn(
        "serve",
        obrol_cmd(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-console",
            "--data-dir",
            d,
        ]),
    );
    assert_eq!(p.wait_exit(EXIT_TIMEOUT).code(), Some(2), "{}", p.dump());
    assert!(
        p.stderr_lines().iter().any(|l| l.contains("history.db")),
        "{}",
        p.dump()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_message_a_client_received_before_a_kill_9_is_in_history_once_in_order() {
    let dir = data_dir("kill9");
    let mut first = hub(&dir, &["--history-replay", "100000"]);
    let port = first.port();
    let mut watcher = plain(port, "watcher");
    let mut senders: Vec<Raw> = (0..3).map(|i| plain(port, &format!("s{i}"))).collect();
    for s in &mut senders {
        s.expect_line(|l| l.starts_with("* in lobby"), LINE_TIMEOUT);
    }
    // A burst from three clients, and the server killed while it runs.
    for round in 0..200 {
        for (i, s) in senders.iter_mut().enumerate() {
            s.send_line(&format!("m {i} {round}"));
        }
        if round == 120 {
            watcher.expect_line(|l| l.starts_with("<s2> m 2 10"), LINE_TIMEOUT);
            first.proc.signal(libc::SIGKILL);
            break;
        }
    }
    let _ = first.proc.wait_exit(EXIT_TIMEOUT);
    // What the watcher received before the connection died.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let received: Vec<String> = watcher
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("<s"))
        .collect();
    assert!(received.len() >= 30, "{}", watcher.dump());
    drop((watcher, senders));

    let again = hub(&dir, &["--history-replay", "100000"]);
    let mut reader = plain(again.port(), "reader");
    let header = reader.expect_line(|l| l.starts_with("* the last "), LINE_TIMEOUT);
    let n: usize = header
        .split(' ')
        .nth(3)
        .and_then(|n| n.parse().ok())
        .expect("a count");
    let mut stored = Vec::new();
    for _ in 0..n {
        let line = reader.expect_line(|l| l.starts_with('['), LINE_TIMEOUT);
        stored.push(
            line.split_once("] ")
                .map(|(_, m)| m.to_owned())
                .unwrap_or(line),
        );
    }
    // Every message received is stored, once, and in the order the watcher got them.
    let mut at = 0;
    for r in &received {
        let found = stored[at..].iter().position(|s| s == r);
        assert!(
            found.is_some(),
            "{r:?} was received but is not in history (after position {at})\nstored: {stored:?}"
        );
        at += found.unwrap_or(0) + 1;
    }
    let mut unique = stored.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), stored.len(), "stored twice: {stored:?}");
    drop(reader);
    stop(again);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn retention_keeps_the_newest_and_stats_show_the_store() {
    let dir = data_dir("retention");
    let mut first = hub(&dir, &[]);
    let mut ani = plain(first.port(), "ani");
    let mut witness = plain(first.port(), "witness");
    for i in 1..=5 {
        ani.send_line(&format!("pesan {i}"));
    }
    witness.expect("<ani> pesan 5");
    // The console's /stats: the store's size and its writes.
    first.proc.send_line("/stats");
    let stats = first
        .proc
        .expect_line(|l| l.contains("history_bytes="), LINE_TIMEOUT);
    let figure = |name: &str| -> u64 {
        stats
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {stats}"))
    };
    assert!(figure("history_bytes") > 0, "{stats}");
    assert!(figure("history_writes") >= 1, "{stats}");
    drop((ani, witness));
    stop(first);
    // Kept: the newest two of the room.
    let again = hub(&dir, &["--history-keep", "2"]);
    let mut budi = plain(again.port(), "budi");
    budi.expect("* the last 2 messages in lobby:");
    budi.expect_line(|l| l.ends_with("<ani> pesan 4"), LINE_TIMEOUT);
    budi.expect_line(|l| l.ends_with("<ani> pesan 5"), LINE_TIMEOUT);
    drop(budi);
    stop(again);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_journal_that_cannot_be_opened_is_a_clear_error_at_start() {
    let dir = data_dir("journal");
    // Where the journal goes, something that is not a file.
    std::fs::create_dir_all(dir.join("history.journal")).unwrap();
    let d = dir.to_str().unwrap();
    let mut p = Proc::spawn(
        "serve",
        obrol_cmd(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-console",
            "--data-dir",
            d,
        ]),
    );
    assert_eq!(p.wait_exit(EXIT_TIMEOUT).code(), Some(2), "{}", p.dump());
    assert!(
        p.stderr_lines()
            .iter()
            .any(|l| l.contains("history.journal")),
        "{}",
        p.dump()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
