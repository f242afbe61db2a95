//! Reading history on request: IRCv3 `draft/chathistory` (every subcommand, exact batches and
//! tags, limits, errors), `draft/event-playback`, private conversations seen only by their two
//! parties, soju's `SEARCH` and the plain `/history` and `/search`.

mod common;

use std::path::{Path, PathBuf};

use common::irc::{Hub, Irc};
use common::Raw;

fn data_dir(tag: &str) -> PathBuf {
    common::irc::data_dir("chathistory", tag)
}

fn hub(dir: &Path) -> Hub {
    common::irc::hub_with_data(dir, &[])
}

fn plain(port: u16, nick: &str) -> Raw {
    common::irc::plain_client(port, nick)
}

const CAPS: &str = "batch server-time message-tags draft/chathistory";

/// The tags of `line` (without the `@`) and the rest.
fn split_tags(line: &str) -> (&str, &str) {
    line.strip_prefix('@')
        .and_then(|l| l.split_once(' '))
        .unwrap_or(("", line))
}

fn tag<'a>(line: &'a str, key: &str) -> &'a str {
    split_tags(line)
        .0
        .split(';')
        .find_map(|t| t.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
}

/// Sends a CHATHISTORY request and returns the batch it answers with: its opening line, and
/// the lines in it (checked to carry its reference and nothing after the closing line).
fn batch(c: &mut Irc, request: &str) -> (String, Vec<String>) {
    let lines = c.ask(request);
    let open = lines
        .iter()
        .position(|l| l.contains(" BATCH +"))
        .unwrap_or_else(|| panic!("no batch for {request}: {lines:?}"));
    let reference = lines[open]
        .split(" BATCH +")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .expect("a reference")
        .to_owned();
    let close = lines
        .iter()
        .position(|l| l == &format!(":irc.test BATCH -{reference}"))
        .unwrap_or_else(|| panic!("batch {reference} not closed: {lines:?}"));
    assert_eq!(close, lines.len() - 1, "nothing after the batch: {lines:?}");
    let inside: Vec<String> = lines[open + 1..close].to_vec();
    for l in &inside {
        assert_eq!(tag(l, "batch"), reference, "{l}");
    }
    (lines[open].clone(), inside)
}

/// The messages' lines as the live ones were, each with the batch tag in front.
fn as_replayed(live: &[String], which: &[usize], inside: &[String]) -> Vec<String> {
    let reference = inside.first().map_or("", |l| tag(l, "batch"));
    which
        .iter()
        .map(|&i| format!("@batch={reference};{}", &live[i][1..]))
        .collect()
}

#[test]
fn every_chathistory_subcommand_answers_with_exact_batches() {
    let dir = data_dir("subcommands");
    let h = hub(&dir);
    let mut ani = Irc::connect("ani", h.port());
    ani.send("CAP LS 302");
    let ls = ani.expect(|l| l.contains(" CAP * LS "), "CAP LS");
    for cap in [
        "draft/chathistory",
        "draft/event-playback",
        "soju.im/search",
    ] {
        assert!(ls.contains(cap), "{ls}");
    }
    ani.send(&format!("CAP REQ :{CAPS}"));
    ani.send("NICK ani");
    ani.send("USER ani 0 * :Ani");
    ani.send("CAP END");
    let isupport = ani.expect(|l| l.contains("CHATHISTORY="), "ISUPPORT CHATHISTORY");
    assert!(
        isupport.contains(" CHATHISTORY=200 ")
            && isupport.contains(" MSGREFTYPES=msgid,timestamp "),
        "{isupport}"
    );
    ani.send("JOIN #room");
    ani.expect(|l| l.contains(" 366 ani #room "), "NAMES end");
    let mut budi = Irc::register(h.port(), "budi");
    budi.send("JOIN #room");
    budi.expect(|l| l.contains(" 366 budi #room "), "NAMES end");
    // Six messages, each in its own millisecond, as ani saw them live.
    let mut live = Vec::new();
    for n in 1..=6 {
        budi.send(&format!("PRIVMSG #room :m{n}"));
        live.push(ani.expect(
            |l| l.ends_with(&format!("PRIVMSG #room :m{n}")),
            "a message",
        ));
        std::thread::sleep(std::time::Duration::from_millis(3));
    }
    let id = |n: usize| tag(&live[n - 1], "msgid").to_owned();
    let time = |n: usize| tag(&live[n - 1], "time").to_owned();

    let (open, inside) = batch(&mut ani, "CHATHISTORY LATEST #room * 3");
    assert!(open.ends_with(" chathistory #room"), "{open}");
    assert_eq!(inside, as_replayed(&live, &[3, 4, 5], &inside));
    let cases: Vec<(String, Vec<usize>)> = vec![
        (format!("LATEST #room msgid={} 10", id(4)), vec![4, 5]),
        (format!("LATEST #room timestamp={} 10", time(4)), vec![4, 5]),
        (format!("BEFORE #room msgid={} 2", id(4)), vec![1, 2]),
        (format!("BEFORE #room timestamp={} 10", time(3)), vec![0, 1]),
        (format!("AFTER #room msgid={} 2", id(2)), vec![2, 3]),
        (format!("AFTER #room timestamp={} 1", time(5)), vec![5]),
        (format!("AROUND #room msgid={} 3", id(3)), vec![1, 2, 3]),
        (
            format!("BETWEEN #room msgid={} msgid={} 10", id(1), id(6)),
            vec![1, 2, 3, 4],
        ),
        (
            format!("BETWEEN #room msgid={} msgid={} 2", id(6), id(1)),
            vec![3, 4],
        ),
        (
            format!(
                "BETWEEN #room timestamp={} timestamp={} 10",
                time(2),
                time(4)
            ),
            vec![2],
        ),
        // More than the limit is cut to it (and there are only six).
        ("LATEST #room * 100000".to_owned(), vec![0, 1, 2, 3, 4, 5]),
        // Names are case-insensitive.
        ("LATEST #ROOM * 1".to_owned(), vec![5]),
        // Nothing after the newest.
        (format!("AFTER #room msgid={} 5", id(6)), vec![]),
        // An unknown msgid: nothing, not an error.
        ("BEFORE #room msgid=nope 5".to_owned(), vec![]),
    ];
    for (request, want) in cases {
        let (_, inside) = batch(&mut ani, &format!("CHATHISTORY {request}"));
        assert_eq!(inside, as_replayed(&live, &want, &inside), "{request}");
    }

    // TARGETS: the room, with the time of its latest message.
    let (open, inside) = batch(
        &mut ani,
        "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 10",
    );
    assert!(open.ends_with(" draft/chathistory-targets"), "{open}");
    let reference = tag(&inside[0], "batch").to_owned();
    assert_eq!(
        inside,
        vec![format!(
            "@batch={reference} :irc.test CHATHISTORY TARGETS #room {}",
            time(6)
        )]
    );

    // Errors, as standard replies.
    let fails = [
        (
            "CHATHISTORY LATEST #room * 0",
            "FAIL CHATHISTORY INVALID_PARAMS LATEST :",
        ),
        (
            "CHATHISTORY BEFORE #room yesterday 5",
            "FAIL CHATHISTORY INVALID_PARAMS BEFORE :",
        ),
        (
            "CHATHISTORY FETCH #room * 5",
            "FAIL CHATHISTORY UNKNOWN_COMMAND FETCH :",
        ),
        (
            "CHATHISTORY BEFORE #room",
            "FAIL CHATHISTORY NEED_MORE_PARAMS BEFORE :",
        ),
        ("CHATHISTORY", "FAIL CHATHISTORY NEED_MORE_PARAMS * :"),
        // A room ani is not in (existing or not): nothing to read, the same answer either way.
        (
            "CHATHISTORY LATEST #elsewhere * 5",
            "FAIL CHATHISTORY INVALID_TARGET LATEST #elsewhere :",
        ),
    ];
    budi.send("JOIN #elsewhere");
    budi.send("PRIVMSG #elsewhere :secret");
    budi.sync();
    for (request, want) in fails {
        let mut lines = ani.ask(request);
        lines.retain(|l| !l.contains(" NOTICE ani :You are sending too fast"));
        assert!(
            lines.len() == 1 && lines[0].starts_with(&format!(":irc.test {want}")),
            "{request}: {lines:?}"
        );
    }

    // A client that asks for history itself gets none when it joins.
    let mut cara = Irc::register_with_caps(h.port(), "cara", CAPS);
    let joined = cara.ask("JOIN #room");
    assert!(!joined.iter().any(|l| l.contains("BATCH")), "{joined:?}");
    // One without the capability does.
    let mut dodi = Irc::register_with_caps(h.port(), "dodi", "batch");
    let joined = dodi.ask("JOIN #room");
    assert!(
        joined.iter().any(|l| l.contains(" chathistory #room")),
        "{joined:?}"
    );

    // labeled-response: the chathistory batch inside the labeled one, each line in one batch.
    let mut lab = Irc::register_with_caps(h.port(), "lab", &format!("{CAPS} labeled-response"));
    lab.ask("JOIN #room");
    let lines = lab.ask("@label=q1 CHATHISTORY LATEST #room * 2");
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert!(
        lines[0].starts_with("@label=q1 :irc.test BATCH +")
            && lines[0].ends_with(" labeled-response"),
        "{lines:?}"
    );
    let outer = lines[0]
        .split(" BATCH +")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert!(
        lines[1].starts_with(&format!("@batch={outer} :irc.test BATCH +"))
            && lines[1].ends_with(" chathistory #room"),
        "{lines:?}"
    );
    let inner = lines[1]
        .split(" BATCH +")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    for l in &lines[2..4] {
        assert!(l.starts_with(&format!("@batch={inner};time=")), "{l}");
    }
    assert_eq!(lines[4], format!("@batch={outer} :irc.test BATCH -{inner}"));
    assert_eq!(lines[5], format!(":irc.test BATCH -{outer}"));
    drop((ani, budi, cara, dodi, lab));
    drop(h);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn event_playback_shows_joins_parts_topics_and_renames() {
    let dir = data_dir("playback");
    let h = hub(&dir);
    let mut ani = Irc::register_with_caps(h.port(), "ani", &format!("{CAPS} draft/event-playback"));
    let joined = ani.ask("JOIN #room");
    let mut budi = Irc::register(h.port(), "budi");
    budi.ask("JOIN #room");
    let topic = ani.ask("TOPIC #room :kopi pagi");
    // Live room events carry the msgid their record has: a client that sees one live and
    // again in a replay knows it for the same.
    let live_id = |lines: &[String], what: &str| -> String {
        let line = lines
            .iter()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what} in {lines:?}"));
        tag(line, "msgid").to_owned()
    };
    let join_id = live_id(&joined, " JOIN #room");
    let topic_id = live_id(&topic, " TOPIC #room");
    budi.ask("PRIVMSG #room :halo");
    budi.ask("NICK budiman");
    let renamed = ani.expect(|l| l.contains(" NICK budiman"), "the rename");
    budi.ask("PART #room :dah");
    let (_, inside) = batch(&mut ani, "CHATHISTORY LATEST #room * 10");
    let shown: Vec<&str> = inside.iter().map(|l| split_tags(l).1).collect();
    assert_eq!(
        shown,
        vec![
            ":ani!ani@127.0.0.1 JOIN #room",
            ":budi!budi@127.0.0.1 JOIN #room",
            ":ani!ani@127.0.0.1 TOPIC #room :kopi pagi",
            ":budi!budi@127.0.0.1 PRIVMSG #room :halo",
            ":budi!budi@127.0.0.1 NICK budiman",
            ":budiman!budi@127.0.0.1 PART #room :dah",
        ]
    );
    assert_eq!(tag(&inside[0], "msgid"), join_id);
    assert_eq!(tag(&inside[2], "msgid"), topic_id);
    assert_eq!(tag(&inside[4], "msgid"), tag(&renamed, "msgid"));
    // Without event-playback: what was said only.
    let mut cara = Irc::register_with_caps(h.port(), "cara", CAPS);
    cara.ask("JOIN #room");
    let (_, inside) = batch(&mut cara, "CHATHISTORY LATEST #room * 10");
    let shown: Vec<&str> = inside.iter().map(|l| split_tags(l).1).collect();
    assert_eq!(shown, vec![":budi!budi@127.0.0.1 PRIVMSG #room :halo"]);
    // A QUIT is one message with one msgid, live and in every room's history.
    cara.send("QUIT :pulang");
    let quit = ani.expect(|l| l.contains(" QUIT :Quit: pulang"), "the quit");
    let (_, inside) = batch(&mut ani, "CHATHISTORY LATEST #room * 1");
    assert_eq!(
        split_tags(&inside[0]).1,
        ":cara!cara@127.0.0.1 QUIT :Quit: pulang"
    );
    assert_eq!(tag(&inside[0], "msgid"), tag(&quit, "msgid"));
    drop((ani, budi, cara));
    drop(h);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_private_conversation_is_visible_only_to_its_two_parties() {
    let dir = data_dir("private");
    let h = hub(&dir);
    let mut ani = Irc::register_with_caps(h.port(), "ani", CAPS);
    let mut budi = Irc::register_with_caps(h.port(), "budi", CAPS);
    let mut eve = Irc::register_with_caps(h.port(), "eve", CAPS);
    ani.send("PRIVMSG budi :rahasia");
    budi.expect(|l| l.ends_with("PRIVMSG budi :rahasia"), "the message");
    budi.send("PRIVMSG ani :aman");
    ani.expect(|l| l.ends_with("PRIVMSG ani :aman"), "the reply");
    let texts = |inside: &[String]| -> Vec<String> {
        inside.iter().map(|l| split_tags(l).1.to_owned()).collect()
    };
    let both = vec![
        ":ani!ani@127.0.0.1 PRIVMSG budi :rahasia".to_owned(),
        ":budi!budi@127.0.0.1 PRIVMSG ani :aman".to_owned(),
    ];
    let (open, inside) = batch(&mut ani, "CHATHISTORY LATEST budi * 10");
    assert!(open.ends_with(" chathistory budi"), "{open}");
    assert_eq!(texts(&inside), both);
    let (_, inside) = batch(&mut budi, "CHATHISTORY LATEST ANI * 10");
    assert_eq!(texts(&inside), both);
    // A third client sees nothing of it, by either name, nor in its targets.
    for request in [
        "CHATHISTORY LATEST ani * 10",
        "CHATHISTORY LATEST budi * 10",
        "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00Z timestamp=2100-01-01T00:00:00Z 10",
    ] {
        let (_, inside) = batch(&mut eve, request);
        assert!(inside.is_empty(), "{request}: {inside:?}");
    }
    let (_, inside) = batch(
        &mut ani,
        "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00Z timestamp=2100-01-01T00:00:00Z 10",
    );
    assert_eq!(inside.len(), 1, "{inside:?}");
    assert!(
        inside[0].contains(" CHATHISTORY TARGETS budi "),
        "{inside:?}"
    );
    // Nor does whoever takes ani's nick once ani is gone: a guest's private history is its
    // connection's.
    ani.send("QUIT");
    ani.expect_closed();
    eve.ask("NICK ani");
    let (_, inside) = batch(&mut eve, "CHATHISTORY LATEST budi * 10");
    assert!(inside.is_empty(), "{inside:?}");
    // budi still finds it.
    let (_, inside) = batch(
        &mut budi,
        "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00Z timestamp=2100-01-01T00:00:00Z 10",
    );
    assert!(
        inside[0].contains(" CHATHISTORY TARGETS ani "),
        "{inside:?}"
    );
    drop((budi, eve));
    drop(h);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_accounts_private_history_follows_it_across_connections() {
    let dir = data_dir("accounts");
    let h = hub(&dir);
    let mut ani = plain(h.port(), "ani");
    ani.send_line("/register kopi-tubruk");
    ani.expect("* you are logged in as ani");
    let mut budi = plain(h.port(), "budi");
    ani.send_line("/msg budi sampai besok");
    budi.expect("*private* <ani> sampai besok");
    drop(ani);
    // Back on a new connection, under another nick: logged in, it is ani's again.
    let mut back = plain(h.port(), "anita");
    back.send_line("/history budi");
    back.expect("* nothing said in budi yet");
    back.send_line("/login ani kopi-tubruk");
    back.expect("* you are logged in as ani");
    back.send_line("/history budi");
    back.expect("* the last 1 message with budi:");
    back.expect_line(|l| l.ends_with("<ani> sampai besok"), common::LINE_TIMEOUT);
    drop((back, budi));
    drop(h);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn search_finds_only_what_the_asker_may_read() {
    let dir = data_dir("search");
    let h = hub(&dir);
    let mut ani = plain(h.port(), "ani");
    let mut budi = Irc::register_with_caps(h.port(), "budi", CAPS);
    let mut cara = plain(h.port(), "cara");
    budi.ask("JOIN #lobby");
    budi.ask("JOIN #dapur");
    budi.ask("PRIVMSG #lobby :kopi panas di lobby");
    std::thread::sleep(std::time::Duration::from_millis(3));
    budi.ask("PRIVMSG #dapur :kopi dingin di dapur");
    std::thread::sleep(std::time::Duration::from_millis(3));
    budi.ask("PRIVMSG cara :kopi rahasia untukmu");
    budi.ask("PRIVMSG #lobby :teh saja");
    cara.expect("*private* <budi> kopi rahasia untukmu");

    // ani is in the lobby only.
    ani.send_line("/search KOPI");
    ani.expect("* 1 message with \"KOPI\" (oldest first):");
    ani.expect_line(
        |l| l.ends_with("[lobby] <budi> kopi panas di lobby"),
        common::LINE_TIMEOUT,
    );
    ani.send_line("/search kopi in dapur");
    ani.expect("! no conversation with dapur");
    ani.send_line("/search kopi in #dapur");
    ani.expect("! you are not in dapur");
    ani.send_line("/search kopi in budi");
    ani.expect("* no messages with \"kopi\" where you can read");
    // cara: the lobby and her private conversation.
    cara.send_line("/search kopi");
    cara.expect("* 2 messages with \"kopi\" (oldest first):");
    cara.expect_line(
        |l| l.ends_with("[lobby] <budi> kopi panas di lobby"),
        common::LINE_TIMEOUT,
    );
    cara.expect_line(
        |l| l.ends_with("[private with budi] <budi> kopi rahasia untukmu"),
        common::LINE_TIMEOUT,
    );
    cara.send_line("/search sirup");
    cara.expect("* no messages with \"sirup\" where you can read");

    // IRC SEARCH (soju.im/search): everything budi may read, narrowed as asked.
    let texts = |inside: &[String]| -> Vec<String> {
        inside
            .iter()
            .map(|l| l.rsplit(" :").next().unwrap_or("").to_owned())
            .collect()
    };
    let (open, inside) = batch(&mut budi, "SEARCH text=kopi");
    assert!(open.ends_with(" soju.im/search"), "{open}");
    assert_eq!(
        texts(&inside),
        vec![
            "kopi panas di lobby",
            "kopi dingin di dapur",
            "kopi rahasia untukmu"
        ]
    );
    assert!(inside[2].ends_with(":budi!budi@127.0.0.1 PRIVMSG cara :kopi rahasia untukmu"));
    let (_, inside) = batch(&mut budi, "SEARCH text=kopi;in=#dapur");
    assert_eq!(texts(&inside), vec!["kopi dingin di dapur"]);
    let (_, inside) = batch(&mut budi, "SEARCH text=kopi;limit=1");
    assert_eq!(texts(&inside), vec!["kopi rahasia untukmu"], "the newest");
    let (_, inside) = batch(&mut budi, "SEARCH text=kopi;from=ani");
    assert!(inside.is_empty());
    let (_, inside) = batch(&mut budi, "SEARCH text=kopi\\sdingin");
    assert_eq!(
        texts(&inside),
        vec!["kopi dingin di dapur"],
        "escaped space"
    );
    for (request, want) in [
        ("SEARCH", "FAIL SEARCH NEED_MORE_PARAMS :"),
        ("SEARCH in=#lobby", "FAIL SEARCH INVALID_PARAMS :"),
        ("SEARCH text=kopi;limit=0", "FAIL SEARCH INVALID_PARAMS :"),
        (
            "SEARCH text=kopi;colour=blue",
            "FAIL SEARCH INVALID_PARAMS :",
        ),
        (
            "SEARCH text=kopi;after=yesterday",
            "FAIL SEARCH INVALID_PARAMS :",
        ),
    ] {
        let mut lines = budi.ask(request);
        lines.retain(|l| !l.contains(" NOTICE budi :You are sending too fast"));
        assert!(
            lines.len() == 1 && lines[0].starts_with(&format!(":irc.test {want}")),
            "{request}: {lines:?}"
        );
    }
    // Hostile words are words, not query syntax.
    for hostile in [
        "text=\"",
        "text=*",
        "text=NEAR(kopi",
        "text=kopi\\sOR\\steh",
    ] {
        let (_, inside) = batch(&mut budi, &format!("SEARCH {hostile}"));
        assert!(inside.len() <= 3, "{hostile}: {inside:?}");
    }
    // Plain /history of the current room.
    ani.send_line("/history 2");
    ani.expect("* the last 2 messages in lobby:");
    ani.expect_line(
        |l| l.ends_with("<budi> kopi panas di lobby"),
        common::LINE_TIMEOUT,
    );
    ani.expect_line(|l| l.ends_with("<budi> teh saja"), common::LINE_TIMEOUT);
    drop((ani, budi, cara));
    drop(h);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_flood_of_history_requests_holds_up_nobody_else() {
    use std::io::Write;
    let dir = data_dir("flood");
    let h = hub(&dir);
    let mut flooder = Irc::register_with_caps(h.port(), "flooder", CAPS);
    flooder.ask("JOIN #lobby");
    let mut a = Irc::register_with_caps(h.port(), "saksi", CAPS);
    let mut b = Irc::register(h.port(), "teman");
    a.ask("JOIN #w");
    b.ask("JOIN #w");
    for i in 0..20 {
        flooder.send(&format!("PRIVMSG #lobby :kopi nomor {i}"));
    }
    // Thousands of the heaviest requests, all at once, and never read.
    let mut flood = String::new();
    for i in 0..3000 {
        flood.push_str(&format!("SEARCH text=kopi\\snomor\\s{}\r\n", i % 20));
        flood.push_str("CHATHISTORY LATEST #lobby * 200\r\n");
    }
    let mut raw = flooder.try_clone_stream();
    let writer = std::thread::spawn(move || {
        let _ = raw.write_all(flood.as_bytes());
    });
    // The witnesses chat, and read their own history, as usual meanwhile.
    for i in 0..5 {
        a.send(&format!("PRIVMSG #w :masih di sini {i}"));
        b.expect_line(&format!(
            ":saksi!saksi@127.0.0.1 PRIVMSG #w :masih di sini {i}"
        ));
    }
    let (_, inside) = batch(&mut a, "CHATHISTORY LATEST #w * 5");
    assert_eq!(inside.len(), 5, "{inside:?}");
    drop(writer);
    drop((flooder, a, b));
    drop(h);
    let _ = std::fs::remove_dir_all(&dir);
}
