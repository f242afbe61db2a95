//! `obrol serve --bridge`: a multicast group and a hub room as one conversation, tested with
//! real processes inside a network namespace of the test's own (no multicast leaves it; the
//! hub listens on the namespace's loopback).

mod common;

use std::time::Duration;

use common::{sync, Netns, Proc, EXIT_TIMEOUT, LINE_TIMEOUT};

/// A small IRC client in Python: registers as `irene`, joins #lobby, prints every line it
/// receives (answering PINGs) and sends each stdin line.
const PY_IRC: &str = r#"
import socket, sys, threading
nick = 'irene'
s = socket.create_connection(('127.0.0.1', 7000))
s.sendall(('NICK %s\r\nUSER %s 0 * :%s\r\nJOIN #lobby\r\n' % (nick, nick, nick)).encode())
def pump():
    for line in sys.stdin:
        s.sendall((line.rstrip('\n') + '\r\n').encode())
threading.Thread(target=pump, daemon=True).start()
buf = b''
while True:
    data = s.recv(65536)
    if not data:
        break
    buf += data
    while b'\r\n' in buf:
        line, buf = buf.split(b'\r\n', 1)
        text = line.decode('utf-8', 'replace')
        if text.startswith('PING '):
            s.sendall(('PONG ' + text[5:] + '\r\n').encode())
        print(text, flush=True)
"#;

fn count(p: &Proc, line: &str) -> usize {
    p.lines().iter().filter(|l| *l == line).count()
}

#[test]
fn a_bridge_carries_a_group_and_a_room_both_ways_without_echoes_or_impostors() {
    let Some(ns) = Netns::with_lo_multicast() else {
        return;
    };
    let dir = common::fresh_dir("bridge");
    let key = dir.join("group.key");
    ns.keygen(&key);
    let k = key.to_str().unwrap();
    let bridge_id = dir.join("bridge.id");

    let hub = Proc::spawn(
        "hub",
        ns.obrol(&[
            "serve",
            "--listen",
            "127.0.0.1:7000",
            "--no-console",
            "--name",
            "hub",
            "--bridge",
            "224.1.1.1:5004=lobby",
            "--bridge-key-file",
            k,
            "--bridge-identity",
            bridge_id.to_str().unwrap(),
        ]),
    );
    hub.expect_stderr_line(|l| l.contains("listening on"), LINE_TIMEOUT);
    let mut bob = Proc::spawn(
        "bob",
        ns.obrol(&["connect", "127.0.0.1:7000", "--nick", "bob"]),
    );
    bob.expect("* you are bob in lobby; type /help for commands");
    let mut irene = Proc::spawn("irene", ns.python(PY_IRC));
    irene.expect_line(|l| l.contains(" 366 irene #lobby "), LINE_TIMEOUT);
    // The room is there before the group's peers come: it sees them join.
    let mut ani = Proc::spawn(
        "ani",
        ns.obrol(&["mcast", "--nick", "ani", "--key-file", k, "--stats"]),
    );
    let mut citra = Proc::spawn(
        "citra",
        ns.obrol(&["mcast", "--nick", "citra", "--key-file", k, "--stats"]),
    );

    // Both ways, once every receiver listens (irene is in the room already: she had her
    // NAMES reply).
    sync(&mut ani, &[&bob, &citra], "p");
    sync(&mut bob, &[&ani, &citra], "q");
    assert!(
        bob.has_line(|l| l == "* ani|mc joined lobby"),
        "{}",
        bob.dump()
    );
    irene.expect_line(
        |l| l.starts_with(":ani|mc!mcast@224.1.1.1 JOIN #lobby"),
        LINE_TIMEOUT,
    );

    ani.send_line("halo dari multicast");
    bob.expect("<ani|mc> halo dari multicast");
    irene.expect(":ani|mc!mcast@224.1.1.1 PRIVMSG #lobby :halo dari multicast");
    citra.expect("<ani> halo dari multicast");
    bob.send_line("halo dari hub");
    ani.expect("<bob@hub> halo dari hub");
    citra.expect("<bob@hub> halo dari hub");
    irene.send_line("PRIVMSG #lobby :dari irc");
    ani.expect("<irene@hub> dari irc");
    ani.send_line("/me waves");
    bob.expect("* ani|mc waves");
    irene.send_line("PRIVMSG #lobby :\u{1}ACTION bows\u{1}");
    citra.expect("* irene@hub bows");

    // A hub line longer than a datagram arrives whole, in pieces, in order.
    let long: String = (0..300)
        .map(|i| format!("{i:04}"))
        .collect::<Vec<_>>()
        .join("");
    bob.send_line(&long);
    let mut got = String::new();
    while got.len() < long.len() {
        let line = ani.expect_line(|l| l.starts_with("<bob@hub> "), LINE_TIMEOUT);
        got.push_str(&line["<bob@hub> ".len()..]);
    }
    assert_eq!(got, long, "{}", ani.dump());

    // Nobody poses as the other side: the hub refuses bridge nicks, a peer refuses `@`.
    bob.send_line("/nick ani|mc");
    bob.expect("! nick reserved: ani|mc");
    let mut poser = Proc::spawn(
        "poser",
        ns.obrol(&["mcast", "--nick", "bob@hub", "--key-file", k]),
    );
    assert_eq!(
        poser.wait_exit(EXIT_TIMEOUT).code(),
        Some(2),
        "{}",
        poser.dump()
    );

    // A stranger without the key is not heard in the room. Control: a member's line after it.
    let mut eve = Proc::spawn("eve", ns.obrol(&["mcast", "--nick", "eve"]));
    std::thread::sleep(Duration::from_millis(300));
    eve.send_line("forged into the room");
    std::thread::sleep(Duration::from_millis(300));
    ani.send_line("after eve");
    bob.expect("<ani|mc> after eve");
    assert!(!bob.has_line(|l| l.contains("forged")), "{}", bob.dump());
    eve.close_stdin();
    eve.wait_success();

    // A rename on the group is a rename in the room.
    ani.send_line("/nick anita");
    bob.expect_line(
        |l| l.contains("ani|mc") && l.contains("anita|mc"),
        LINE_TIMEOUT,
    );
    ani.send_line("renamed");
    bob.expect("<anita|mc> renamed");

    // Exactly once everywhere, and nothing came back to where it was said.
    assert_eq!(
        count(&bob, "<ani|mc> halo dari multicast"),
        1,
        "{}",
        bob.dump()
    );
    assert_eq!(
        count(
            &irene,
            ":ani|mc!mcast@224.1.1.1 PRIVMSG #lobby :halo dari multicast"
        ),
        1,
        "{}",
        irene.dump()
    );
    assert_eq!(
        count(&citra, "<ani> halo dari multicast"),
        1,
        "{}",
        citra.dump()
    );
    assert_eq!(count(&ani, "<bob@hub> halo dari hub"), 1, "{}", ani.dump());
    assert_eq!(
        count(&citra, "<bob@hub> halo dari hub"),
        1,
        "{}",
        citra.dump()
    );
    for p in [&ani, &citra] {
        assert!(
            !p.has_line(|l| l.contains("|mc@")),
            "a group's own message came back from the room\n{}",
            p.dump()
        );
    }
    assert!(
        !bob.has_line(|l| l.starts_with("<bob")),
        "the room's own message came back from the group\n{}",
        bob.dump()
    );

    // Leaving the group leaves the room; stopping the hub leaves the group.
    ani.close_stdin();
    ani.wait_success();
    bob.expect("* anita|mc quit (left the group)");
    let mut hub = hub;
    hub.signal(libc::SIGTERM);
    hub.wait_success();
    citra.expect("* #lobby left");
    // The bridge signs with its identity, whose fingerprint the group sees with its nick.
    assert!(bridge_id.exists(), "--bridge-identity writes the identity");
    assert!(
        citra.has_line(|l| l.starts_with("* #lobby (key ") && l.ends_with(") joined")),
        "{}",
        citra.dump()
    );
    citra.close_stdin();
    citra.wait_success();
    let stats = citra.stats();
    assert_eq!(
        (stats["lost"], stats["duplicates"]),
        (0, 0),
        "{}",
        citra.dump()
    );
    drop(bob);
    drop(irene);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_bridges_are_usage_errors() {
    let Some(ns) = Netns::with_lo_multicast() else {
        return;
    };
    for (extra, needle) in [
        (
            &["--bridge", "224.1.1.1=lobby"][..],
            "expected GROUP:PORT=ROOM",
        ),
        (
            &["--bridge", "10.0.0.1:5004=lobby"],
            "expected GROUP:PORT=ROOM",
        ),
        (&["--bridge", "224.1.1.1:5004=a,b"], "not a room name"),
        // A missing interface is found before the hub serves.
        (
            &[
                "--bridge",
                "224.1.1.1:5004=lobby",
                "--bridge-iface",
                "nosuch0",
            ],
            "nosuch0",
        ),
    ] {
        let mut args = vec!["serve", "--listen", "127.0.0.1:7001", "--no-console"];
        args.extend_from_slice(extra);
        let mut p = Proc::spawn("serve", ns.obrol(&args));
        assert_eq!(p.wait_exit(EXIT_TIMEOUT).code(), Some(2), "{}", p.dump());
        assert!(
            p.stderr_lines().iter().any(|l| l.contains(needle)),
            "{extra:?}: want {needle:?}\n{}",
            p.dump()
        );
    }
}

#[test]
fn a_restarted_bridge_does_not_relay_the_rooms_history_again() {
    let Some(ns) = Netns::with_lo_multicast() else {
        return;
    };
    let dir = common::fresh_dir("bridge-history");
    let data = dir.join("data");
    let serve = |ns: &Netns| {
        let hub = Proc::spawn(
            "hub",
            ns.obrol(&[
                "serve",
                "--listen",
                "127.0.0.1:7000",
                "--no-console",
                "--name",
                "hub",
                "--data-dir",
                data.to_str().unwrap(),
                "--bridge",
                "224.1.1.1:5004=lobby",
            ]),
        );
        hub.expect_stderr_line(|l| l.contains("listening on"), LINE_TIMEOUT);
        hub
    };
    let mut hub = serve(&ns);
    let mut ani = Proc::spawn("ani", ns.obrol(&["mcast", "--nick", "ani"]));
    let mut bob = Proc::spawn(
        "bob",
        ns.obrol(&["connect", "127.0.0.1:7000", "--nick", "bob"]),
    );
    bob.expect("* you are bob in lobby; type /help for commands");
    sync(&mut bob, &[&ani], "q");
    bob.send_line("sebelum restart");
    ani.expect("<bob@hub> sebelum restart");
    drop(bob);
    hub.signal(libc::SIGTERM);
    hub.wait_success();

    // The room's history is replayed to people who join, not to the bridge.
    let mut hub = serve(&ns);
    let mut carol = Proc::spawn(
        "carol",
        ns.obrol(&["connect", "127.0.0.1:7000", "--nick", "carol"]),
    );
    carol.expect_line(|l| l.ends_with("<bob> sebelum restart"), LINE_TIMEOUT);
    sync(&mut carol, &[&ani], "r");
    assert_eq!(
        ani.lines()
            .iter()
            .filter(|l| l.contains("sebelum restart"))
            .count(),
        1,
        "{}",
        ani.dump()
    );
    drop(carol);
    hub.signal(libc::SIGTERM);
    hub.wait_success();
    ani.close_stdin();
    ani.wait_success();
    let _ = std::fs::remove_dir_all(&dir);
}
