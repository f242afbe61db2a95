//! Signed multicast chat: with a group key every frame is signed by its sender, and peers show
//! each nick with its key's fingerprint, so members cannot pass for each other. Inside a
//! network namespace of the test's own (see `common`).

mod common;

use common::{sync, Netns, Proc, EXIT_TIMEOUT, LINE_TIMEOUT};

/// The fingerprint a peer announces on stderr at start.
fn own_fingerprint(p: &Proc) -> String {
    let line = p.expect_stderr_line(
        |l| l.starts_with("obrol: your key's fingerprint is "),
        LINE_TIMEOUT,
    );
    line["obrol: your key's fingerprint is ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn nicks_come_with_fingerprints_that_an_identity_keeps_and_impostors_are_pointed_out() {
    let Some(ns) = Netns::with_lo_multicast() else {
        return;
    };
    let dir = common::fresh_dir("identity");
    let key = dir.join("group.key");
    ns.keygen(&key);
    let k = key.to_str().unwrap();
    let id_file = dir.join("ani.id");
    let id = id_file.to_str().unwrap();

    let mut budi = Proc::spawn(
        "budi",
        ns.obrol(&["mcast", "--nick", "budi", "--key-file", k]),
    );
    let mut ani = Proc::spawn(
        "ani",
        ns.obrol(&["mcast", "--nick", "ani", "--key-file", k, "--identity", id]),
    );
    let first = own_fingerprint(&ani);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&id_file).unwrap().permissions(),
    );
    assert_eq!(
        mode & 0o777,
        0o600,
        "an identity is readable by its owner only"
    );
    sync(&mut ani, &[&budi], "p");
    budi.expect(&format!("* ani (key {first}) joined"));
    ani.close_stdin();
    ani.wait_success();
    budi.expect("* ani left");

    // The same identity next time: the same fingerprint (under a new sender id).
    let mut ani = Proc::spawn(
        "ani again",
        ns.obrol(&["mcast", "--nick", "ani", "--key-file", k, "--identity", id]),
    );
    assert_eq!(own_fingerprint(&ani), first);
    sync(&mut ani, &[&budi], "q");
    assert_eq!(
        budi.lines()
            .iter()
            .filter(|l| **l == format!("* ani (key {first}) joined"))
            .count(),
        2,
        "{}",
        budi.dump()
    );

    // Another member takes the nick: its key is not ani's, and budi is told.
    let mut fake = Proc::spawn(
        "fake ani",
        ns.obrol(&["mcast", "--nick", "ani", "--key-file", k]),
    );
    let other = own_fingerprint(&fake);
    assert_ne!(other, first);
    sync(&mut fake, &[&budi], "r");
    let warning = budi.expect_line(
        |l| l.starts_with("! 2 peers with different keys"),
        LINE_TIMEOUT,
    );
    assert!(
        warning.contains(&first)
            && warning.contains(&other)
            && warning.ends_with(&format!("call themselves ani: {}", {
                let mut both = [first.clone(), other.clone()];
                both.sort();
                both.join(", ")
            })),
        "{warning}"
    );
    budi.send_line("/who");
    let who = budi.expect_line(|l| l.contains("here besides you"), LINE_TIMEOUT);
    assert!(who.starts_with("* 2 here besides you: ani (keys "), "{who}");

    for p in [&mut ani, &mut fake, &mut budi] {
        p.close_stdin();
        p.wait_success();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_identity_needs_a_group_key_and_a_bad_one_is_a_usage_error() {
    let Some(ns) = Netns::with_lo_multicast() else {
        return;
    };
    let dir = common::fresh_dir("identity-bad");
    let key = dir.join("group.key");
    ns.keygen(&key);
    let bad = dir.join("bad.id");
    std::fs::write(&bad, "not hex\n").unwrap();
    for (args, needle) in [
        (
            vec!["mcast", "--nick", "a", "--identity", bad.to_str().unwrap()],
            "needs a group key",
        ),
        (
            vec![
                "mcast",
                "--nick",
                "a",
                "--key-file",
                key.to_str().unwrap(),
                "--identity",
                bad.to_str().unwrap(),
            ],
            "an identity is 64 hex digits",
        ),
    ] {
        let mut p = Proc::spawn("obrol mcast", ns.obrol(&args));
        assert_eq!(p.wait_exit(EXIT_TIMEOUT).code(), Some(2), "{}", p.dump());
        assert!(
            p.stderr_lines().iter().any(|l| l.contains(needle)),
            "want {needle:?}\n{}",
            p.dump()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
