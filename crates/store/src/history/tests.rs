use super::*;
use std::sync::Arc;

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("obrol-history-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn ev(n: i64, target: &str, kind: Kind, text: &str) -> Event {
    Event {
        msgid: format!("m{n}"),
        time_ms: 1_000 + n * 10,
        target: target.into(),
        target_name: target.to_uppercase(),
        kind,
        nick: "ani".into(),
        source: "ani!ani@127.0.0.1".into(),
        account: (n % 2 == 0).then(|| "ani".into()),
        text: text.into(),
    }
}

/// Twenty messages in #a (m1..m20, a join as m5), five in #b (m21..m25).
fn filled(name: &str) -> (History, std::path::PathBuf) {
    let d = dir(name);
    let h = History::open(&d).unwrap();
    let mut events: Vec<Event> = (1..=20)
        .map(|n| {
            let kind = if n == 5 { Kind::Join } else { Kind::Privmsg };
            ev(n, "#a", kind, &format!("message {n}"))
        })
        .collect();
    events.extend((21..=25).map(|n| ev(n, "#b", Kind::Privmsg, &format!("other {n}"))));
    h.append(&events).unwrap();
    (h, d)
}

fn ids(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.msgid.clone()).collect()
}

fn m(list: &[i64]) -> Vec<String> {
    list.iter().map(|n| format!("m{n}")).collect()
}

#[test]
fn events_come_back_as_written_and_survive_a_reopen() {
    let (h, d) = filled("reopen");
    let latest = h.latest("#a", None, 3, Events::Messages).unwrap();
    assert_eq!(ids(&latest), m(&[18, 19, 20]), "the newest, oldest first");
    assert_eq!(latest[2], ev(20, "#a", Kind::Privmsg, "message 20"));
    drop(h);
    let h = History::open(&d).unwrap();
    assert_eq!(h.count().unwrap(), 25);
    assert!(h.size_bytes() > 0);
    let all = h.latest("#a", None, 100, Events::All).unwrap();
    assert_eq!(all.len(), 20);
    assert_eq!(all[4].kind, Kind::Join);
    assert_eq!(
        h.latest("#a", None, 100, Events::Messages).unwrap().len(),
        19
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn before_after_around_and_between_by_msgid_and_time() {
    let (h, d) = filled("ranges");
    let id = |s: &str| Anchor::MsgId(s.into());
    let t = |n: i64| Anchor::TimeMs(1_000 + n * 10);
    let w = Events::Messages;
    assert_eq!(
        ids(&h.before("#a", &id("m10"), 3, w).unwrap()),
        m(&[7, 8, 9])
    );
    assert_eq!(ids(&h.before("#a", &t(10), 3, w).unwrap()), m(&[7, 8, 9]));
    assert_eq!(
        ids(&h.before("#a", &id("m7"), 3, w).unwrap()),
        m(&[3, 4, 6]),
        "the join is skipped"
    );
    assert_eq!(
        ids(&h.after("#a", &id("m10"), 3, w).unwrap()),
        m(&[11, 12, 13])
    );
    assert_eq!(ids(&h.after("#a", &t(10), 3, w).unwrap()), m(&[11, 12, 13]));
    assert_eq!(
        ids(&h.around("#a", &id("m10"), 4, w).unwrap()),
        m(&[8, 9, 10, 11])
    );
    assert_eq!(
        ids(&h.around("#a", &t(10), 5, w).unwrap()),
        m(&[8, 9, 10, 11, 12])
    );
    assert_eq!(
        ids(&h.between("#a", &id("m10"), &id("m15"), 10, w).unwrap()),
        m(&[11, 12, 13, 14])
    );
    assert_eq!(
        ids(&h.between("#a", &id("m10"), &id("m15"), 2, w).unwrap()),
        m(&[11, 12]),
        "nearest the first"
    );
    assert_eq!(
        ids(&h.between("#a", &id("m15"), &id("m10"), 2, w).unwrap()),
        m(&[13, 14]),
        "backwards: nearest the first, still oldest first"
    );
    assert_eq!(
        ids(&h.between("#a", &t(10), &t(15), 10, w).unwrap()),
        m(&[11, 12, 13, 14])
    );
    assert_eq!(
        ids(&h.latest("#a", Some(&id("m17")), 10, w).unwrap()),
        m(&[18, 19, 20])
    );
    // Unknown ids, other targets' ids: nothing.
    assert!(h.before("#a", &id("nope"), 3, w).unwrap().is_empty());
    assert!(h.before("#a", &id("m22"), 3, w).unwrap().is_empty());
    assert_eq!(ids(&h.latest("#b", None, 2, w).unwrap()), m(&[24, 25]));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn targets_lists_the_allowed_conversations_latest_first() {
    let (h, d) = filled("targets");
    let allowed = vec!["#a".to_string(), "#b".to_string(), "#c".to_string()];
    let t = h.targets(&allowed, 0, 10_000, 10).unwrap();
    assert_eq!(
        t,
        vec![
            ("#b".to_string(), "#B".to_string(), 1_250),
            ("#a".to_string(), "#A".to_string(), 1_200),
        ]
    );
    assert_eq!(
        h.targets(&allowed, 10_000, 0, 1).unwrap().len(),
        1,
        "either order"
    );
    assert!(h
        .targets(&["#a".to_string()], 1_200, 5_000, 10)
        .unwrap()
        .is_empty());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn search_finds_words_only_where_allowed_and_reads_no_syntax() {
    let (h, d) = filled("search");
    let a = vec!["#a".to_string()];
    let both = vec!["#a".to_string(), "#b".to_string()];
    assert_eq!(ids(&h.search("message 12", &a, 10).unwrap()), m(&[12]));
    assert_eq!(
        h.search("MESSAGE", &a, 100).unwrap().len(),
        19,
        "case-insensitive"
    );
    assert!(
        h.search("other", &a, 10).unwrap().is_empty(),
        "#b is not allowed"
    );
    assert_eq!(
        ids(&h.search("other", &both, 2).unwrap()),
        m(&[25, 24]),
        "newest first"
    );
    for hostile in ["\"", "*", "OR", "NEAR(", "a:b", "-x", "' OR 1=1 --"] {
        assert!(h.search(hostile, &both, 10).is_ok(), "{hostile}");
    }
    assert!(h.search("   ", &both, 10).unwrap().is_empty());
    assert!(h.search("message", &[], 10).unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn pruning_by_age_and_count_keeps_search_in_step() {
    let (h, d) = filled("prune");
    // Older than 1,100 ms at 1,150: m1..m9 go (times 1,010..1,090).
    assert_eq!(h.prune(1_150, Some(50), None).unwrap(), 9);
    assert!(h
        .search("message 3", &["#a".into()], 10)
        .unwrap()
        .is_empty());
    // The newest 4 of each conversation stay.
    h.prune(1_150, None, Some(4)).unwrap();
    assert_eq!(
        ids(&h.latest("#a", None, 100, Events::All).unwrap()),
        m(&[17, 18, 19, 20])
    );
    assert_eq!(h.latest("#b", None, 100, Events::All).unwrap().len(), 4);
    assert_eq!(h.search("message", &["#a".into()], 100).unwrap().len(), 4);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_newer_or_unwritable_store_is_refused_at_open() {
    let d = dir("refused");
    drop(History::open(&d).unwrap());
    let db = Connection::open(d.join("history.db")).unwrap();
    db.pragma_update(None, "user_version", 99).unwrap();
    drop(db);
    let err = History::open(&d).err().unwrap().to_string();
    assert!(err.contains("newer than this obrol knows"), "{err}");
    std::fs::write(d.join("history.db"), b"not a database at all, just text").unwrap();
    let _ = std::fs::remove_file(d.join("history.db-wal"));
    let _ = std::fs::remove_file(d.join("history.db-shm"));
    let err = History::open(&d).err().unwrap().to_string();
    assert!(err.contains("history.db"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn private_parties_are_kept_with_their_latest_peer_name() {
    let d = dir("parties");
    let h = History::open(&d).unwrap();
    let key = "@!1-1 ~ani";
    let said = ev(1, key, Kind::Privmsg, "hello there");
    let sides = |peer_of_guest: &str| {
        vec![
            Party {
                party: "~ani".into(),
                target: key.into(),
                peer: peer_of_guest.into(),
            },
            Party {
                party: "!1-1".into(),
                target: key.into(),
                peer: "ani".into(),
            },
        ]
    };
    h.append_with(&[said], &sides("guest")).unwrap();
    h.append_with(&[ev(2, key, Kind::Privmsg, "renamed")], &sides("Bima"))
        .unwrap();
    assert_eq!(
        h.conversations("~ani").unwrap(),
        vec![(key.to_string(), "Bima".to_string())],
        "one row per party and conversation, the latest name"
    );
    assert_eq!(h.conversations("!1-1").unwrap().len(), 1);
    assert!(h.conversations("~someone").unwrap().is_empty());
    assert_eq!(h.latest(key, None, 10, Events::Messages).unwrap().len(), 2);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn search_narrows_by_sender_and_time() {
    let (h, d) = filled("narrow");
    let a = vec!["#a".to_string()];
    let by = |from: Option<&str>, after: Option<i64>, before: Option<i64>| {
        let narrow = Narrow {
            from: from.map(str::to_owned),
            after_ms: after,
            before_ms: before,
        };
        ids(&h.search_narrowed("message", &a, &narrow, 100).unwrap())
    };
    assert_eq!(
        by(Some("ANI"), None, None).len(),
        19,
        "nick case-insensitive"
    );
    assert!(by(Some("bima"), None, None).is_empty());
    // m12 is at 1_120, m14 at 1_140: strictly between.
    assert_eq!(by(None, Some(1_110), Some(1_140)), m(&[13, 12]));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_version_one_store_gains_the_parties_table() {
    let d = dir("upgrade");
    std::fs::create_dir_all(&d).unwrap();
    {
        let db = Connection::open(d.join("history.db")).unwrap();
        db.execute_batch(&format!("{} PRAGMA user_version = 1;", SCHEMA[0]))
            .unwrap();
    }
    let h = History::open(&d).unwrap();
    h.append_with(
        &[],
        &[Party {
            party: "~a".into(),
            target: "@~a ~b".into(),
            peer: "b".into(),
        }],
    )
    .unwrap();
    assert_eq!(h.conversations("~a").unwrap().len(), 1);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn pruning_by_count_counts_messages_and_takes_the_events_before_them() {
    let d = dir("prune-events");
    let h = History::open(&d).unwrap();
    let kinds = [
        Kind::Join,
        Kind::Privmsg,
        Kind::Quit,
        Kind::Privmsg,
        Kind::Join,
        Kind::Privmsg,
        Kind::Part,
        Kind::Quit,
    ];
    let events: Vec<Event> = kinds
        .iter()
        .enumerate()
        .map(|(i, &k)| ev(i as i64 + 1, "#a", k, "x"))
        .collect();
    h.append(&events).unwrap();
    // Two messages kept (m4, m6): what came between and after them stays, m1..m3 go.
    assert_eq!(h.prune(0, None, Some(2)).unwrap(), 3);
    assert_eq!(
        ids(&h.latest("#a", None, 100, Events::All).unwrap()),
        m(&[4, 5, 6, 7, 8])
    );
    // Fewer messages than the limit: nothing goes.
    assert_eq!(h.prune(0, None, Some(5)).unwrap(), 0);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn logged_events_are_read_at_once_and_survive_a_crash_exactly_once() {
    let d = dir("journal");
    let h = Arc::new(History::open(&d).unwrap());
    h.start_mover().unwrap();
    h.log(vec![ev(1, "#a", Kind::Privmsg, "satu")], vec![])
        .unwrap();
    // A reader waits for the mover: what was logged is there.
    assert_eq!(
        ids(&h.latest("#a", None, 10, Events::All).unwrap()),
        m(&[1])
    );
    h.log(vec![ev(2, "#a", Kind::Privmsg, "dua")], vec![])
        .unwrap();
    assert_eq!(h.search("dua", &["#a".into()], 10).unwrap().len(), 1);
    drop(h);
    // Logged but never moved (the process was killed): a record in the journal beyond the
    // mark, and a torn one after it.
    let h = History::open(&d).unwrap();
    assert_eq!(h.count().unwrap(), 2, "moved at close, the journal emptied");
    h.log(vec![ev(3, "#a", Kind::Privmsg, "tiga")], vec![])
        .unwrap();
    std::mem::forget(h);
    let mut journal = std::fs::OpenOptions::new()
        .append(true)
        .open(d.join("history.journal"))
        .unwrap();
    let unmoved = journal::encode(&[ev(4, "#a", Kind::Privmsg, "empat")], &[]);
    std::io::Write::write_all(&mut journal, &unmoved).unwrap();
    std::io::Write::write_all(&mut journal, &unmoved[..unmoved.len() - 5]).unwrap();
    drop(journal);
    let h = History::open(&d).unwrap();
    assert_eq!(
        ids(&h.latest("#a", None, 10, Events::All).unwrap()),
        m(&[1, 2, 3, 4]),
        "each once, the torn tail dropped"
    );
    assert_eq!(
        std::fs::metadata(d.join("history.journal")).unwrap().len(),
        0
    );
    drop(h);
    let h = History::open(&d).unwrap();
    assert_eq!(h.count().unwrap(), 4, "nothing moved twice");
    let _ = std::fs::remove_dir_all(&d);
}
