//! The IRC session against scripted server lines.

use super::*;

fn session(password: Option<&str>) -> Session {
    Session::new(
        Config {
            nick: "ani".into(),
            password: password.map(Into::into),
            rooms: vec!["#lobby".into()],
        },
        "hub:6667",
    )
}

/// Registers with every capability offered, and joins #lobby with two others in it.
fn registered() -> Session {
    let mut s = session(None);
    s.connected();
    s.handle(":hub CAP * LS :batch server-time message-tags echo-message draft/chathistory multi-prefix sasl");
    s.handle(":hub CAP ani ACK :batch server-time message-tags echo-message draft/chathistory multi-prefix");
    s.handle(":hub 001 ani :Welcome to obrol, ani");
    s.handle(":hub 005 ani CHATHISTORY=100 :are supported by this server");
    s.take_output();
    s.handle(":ani!a@h JOIN #lobby");
    s.handle(":hub 353 ani = #lobby :@budi +cici ani");
    s.handle(":hub 366 ani #lobby :End of /NAMES list.");
    assert_eq!(s.take_output(), ["CHATHISTORY LATEST #lobby * 50"]);
    s
}

fn texts(s: &Session, name: &str) -> Vec<String> {
    let i = s.chat.find(name).expect("the buffer");
    s.chat.buffers[i]
        .lines
        .iter()
        .map(|l| l.text.clone())
        .collect()
}

#[test]
fn registration_asks_for_capabilities_then_joins_and_fetches_history() {
    let mut s = session(None);
    s.connected();
    assert_eq!(
        s.take_output(),
        ["CAP LS 302", "NICK ani", "USER ani 0 * :obrol"]
    );
    s.handle(":hub CAP * LS * :batch server-time sasl");
    assert!(
        s.take_output().is_empty(),
        "waits for the rest of a multi-line LS"
    );
    s.handle(":hub CAP * LS :draft/chathistory echo-message unknown/cap");
    assert_eq!(
        s.take_output(),
        ["CAP REQ :batch server-time echo-message draft/chathistory"]
    );
    s.handle(":hub CAP ani ACK :batch server-time echo-message draft/chathistory");
    assert_eq!(s.take_output(), ["CAP END"]);
    s.handle(":hub 433 * ani :Nickname is already in use");
    assert_eq!(s.take_output(), ["NICK ani_"]);
    s.handle(":hub 001 ani_ :Welcome");
    assert_eq!(s.take_output(), ["JOIN #lobby"]);
    assert_eq!(s.chat.nick, "ani_");
    s.handle(":ani_!a@h JOIN #lobby");
    assert_eq!(s.take_output(), ["CHATHISTORY LATEST #lobby * 50"]);
    assert_eq!(
        s.chat.active().name,
        "#lobby",
        "the room asked for is shown"
    );
}

#[test]
fn sasl_plain_logs_in_with_the_password() {
    let mut s = session(Some("rahasia123"));
    s.connected();
    s.take_output();
    s.handle(":hub CAP * LS :sasl batch");
    assert_eq!(s.take_output(), ["CAP REQ :batch sasl"]);
    s.handle(":hub CAP ani ACK :batch sasl");
    assert_eq!(s.take_output(), ["AUTHENTICATE PLAIN"]);
    s.handle("AUTHENTICATE +");
    // base64("ani\0ani\0rahasia123")
    assert_eq!(s.take_output(), ["AUTHENTICATE YW5pAGFuaQByYWhhc2lhMTIz"]);
    s.handle(":hub 903 ani :SASL authentication successful");
    assert_eq!(s.take_output(), ["CAP END"]);
    let mut bad = session(Some("salah"));
    bad.connected();
    bad.handle(":hub CAP * LS :sasl");
    bad.handle(":hub CAP ani ACK :sasl");
    bad.handle("AUTHENTICATE +");
    bad.take_output();
    bad.handle(":hub 904 ani :SASL authentication failed");
    assert_eq!(
        bad.take_output(),
        ["CAP END"],
        "registration goes on as a guest"
    );
    assert!(texts(&bad, "server")
        .iter()
        .any(|t| t.contains("login failed")));
}

#[test]
fn members_come_from_names_and_follow_joins_parts_quits_and_renames() {
    let mut s = registered();
    let lobby = s.chat.find("#lobby").expect("lobby");
    let members = |s: &Session| -> Vec<String> {
        s.chat.buffers[lobby]
            .members
            .iter()
            .map(|(n, p)| format!("{p}{n}"))
            .collect()
    };
    assert_eq!(members(&s), ["ani", "@budi", "+cici"]);
    s.handle(":dedi!d@h JOIN #lobby");
    s.handle(":budi!b@h PART #lobby :makan");
    s.handle(":cici!c@h NICK :cici2");
    s.handle(":dedi!d@h QUIT :Ping timeout");
    assert_eq!(members(&s), ["ani", "+cici2"]);
    let t = texts(&s, "#lobby");
    assert!(t.contains(&"budi left #lobby (makan)".to_string()), "{t:?}");
    assert!(
        t.contains(&"cici is now known as cici2".to_string()),
        "{t:?}"
    );
    assert!(t.contains(&"dedi quit (Ping timeout)".to_string()), "{t:?}");
    s.handle(":ani!a@h PART #lobby");
    assert!(s.chat.buffers[lobby].parted);
}

#[test]
fn messages_land_in_their_buffers_with_server_time_and_marks() {
    let mut s = registered();
    s.handle("@time=2026-12-01T09:30:00.000Z;msgid=m1 :budi!b@h PRIVMSG #lobby :halo ani");
    s.handle("@msgid=m2 :budi!b@h PRIVMSG ani :\x01ACTION waves\x01");
    s.handle(":budi!b@h PRIVMSG ani :\x01VERSION\x01");
    s.handle(":hub NOTICE ani :server notice");
    let lobby = s.chat.find("#lobby").expect("lobby");
    let line = s.chat.buffers[lobby].lines.back().expect("a line").clone();
    assert_eq!(
        (line.kind, line.nick.as_str(), line.time),
        (Kind::Message, "budi", 1_796_117_400_000)
    );
    assert!(line.mention);
    let pm = s.chat.find("budi").expect("a private buffer");
    assert_eq!(
        s.chat.buffers[pm].lines.len(),
        1,
        "the CTCP VERSION is not shown"
    );
    assert_eq!(s.chat.buffers[pm].lines[0].kind, Kind::Action);
    assert!(s.chat.buffers[pm].mention && s.chat.buffers[pm].unread == 1);
    assert_eq!(
        texts(&s, "server").last().map(String::as_str),
        Some("server notice")
    );
}

#[test]
fn a_history_batch_merges_before_live_lines_and_older_pages_are_asked_for() {
    let mut s = registered();
    s.handle("@time=2026-12-01T10:00:00.000Z;msgid=live :budi!b@h PRIVMSG #lobby :live");
    s.handle(":hub BATCH +h1 chathistory #lobby");
    for (i, t) in ["09:00", "09:01"].iter().enumerate() {
        s.handle(&format!(
            "@batch=h1;time=2026-12-01T{t}:00.000Z;msgid=old{i} :cici!c@h PRIVMSG #lobby :old {i}"
        ));
    }
    s.handle("@batch=h1;time=2026-12-01T10:00:00.000Z;msgid=live :budi!b@h PRIVMSG #lobby :live");
    assert!(
        texts(&s, "#lobby").iter().all(|t| !t.starts_with("old")),
        "held until the end"
    );
    s.handle(":hub BATCH -h1");
    let t = texts(&s, "#lobby");
    let pos = |x: &str| t.iter().position(|l| l == x).expect(x);
    assert!(
        pos("old 0") < pos("old 1") && pos("old 1") < pos("live"),
        "{t:?}"
    );
    assert_eq!(t.iter().filter(|l| *l == "live").count(), 1, "no copies");
    // Fewer than a page came back: nothing older to ask for.
    s.take_output();
    s.want_older();
    assert!(s.take_output().is_empty());
    let lobby = s.chat.find("#lobby").expect("lobby");
    s.chat.buffers[lobby].history_done = false;
    s.want_older();
    assert_eq!(s.take_output(), ["CHATHISTORY BEFORE #lobby msgid=old0 50"]);
    s.want_older();
    assert!(s.take_output().is_empty(), "one request at a time");
}

#[test]
fn typed_lines_become_irc_and_long_ones_are_split() {
    let mut s = registered();
    s.command("halo semua");
    s.command("/me tersenyum");
    s.command("//etc/passwd is a path");
    s.command("/msg budi psst");
    s.command("/join dapur,#kebun");
    s.command("/topic kopi");
    s.command("/nick ani2");
    s.command("/part");
    s.command("/quote MODE #lobby");
    assert_eq!(
        s.take_output(),
        [
            "PRIVMSG #lobby :halo semua",
            "PRIVMSG #lobby :\x01ACTION tersenyum\x01",
            "PRIVMSG #lobby :/etc/passwd is a path",
            "PRIVMSG budi :psst",
            "JOIN #dapur,#kebun",
            "TOPIC #lobby :kopi",
            "NICK ani2",
            "PART #lobby",
            "MODE #lobby",
        ]
    );
    let long = "kata ".repeat(200);
    s.command(&long);
    let out = s.take_output();
    assert!(
        out.len() >= 3 && out.iter().all(|l| l.len() <= MAX_TEXT + 20),
        "{out:?}"
    );
    s.command("/bogus");
    assert!(texts(&s, "#lobby")
        .last()
        .is_some_and(|t| t.contains("unknown command /bogus")));
    assert_eq!(s.command("/quit sampai jumpa"), Flow::Quit);
    assert_eq!(s.take_output(), ["QUIT :sampai jumpa"]);
}

#[test]
fn without_echo_message_our_lines_are_shown_at_once() {
    let mut s = session(None);
    s.connected();
    s.handle(":hub CAP * LS :batch");
    s.handle(":hub CAP ani ACK :batch");
    s.handle(":hub 001 ani :hi");
    s.handle(":ani!a@h JOIN #lobby");
    s.command("halo");
    assert_eq!(texts(&s, "#lobby").last().map(String::as_str), Some("halo"));
}

#[test]
fn after_a_reconnect_the_rooms_are_joined_again_and_lag_is_measured() {
    let mut s = registered();
    s.handle(":ani!a@h JOIN #dapur");
    s.handle(":ani!a@h PART #dapur");
    assert_eq!(s.take_output(), ["CHATHISTORY LATEST #dapur * 50"]);
    s.disconnected("connection reset", Some(now_ms() + 2000));
    assert!(matches!(s.chat.link, Link::Waiting { .. }));
    assert!(s.chat.buffers.iter().all(|b| b.members.is_empty()));
    s.command("not sent");
    assert!(s.take_output().is_empty());
    s.connected();
    s.take_output();
    s.handle(":hub CAP * LS :batch");
    s.handle(":hub CAP ani ACK :batch");
    s.handle(":hub 001 ani :again");
    assert_eq!(
        s.take_output(),
        ["CAP REQ :batch", "CAP END", "JOIN #lobby"],
        "not the room we left"
    );
    s.tick(now_ms());
    let ping = s.take_output();
    assert_eq!(ping.len(), 1);
    let token = ping[0].strip_prefix("PING :").expect("a PING");
    s.handle(&format!(":hub PONG hub :{token}"));
    assert!(s.chat.lag.is_some());
}

#[test]
fn hostile_text_is_cleaned_before_it_is_kept() {
    let mut s = registered();
    s.handle(":budi!b@h PRIVMSG #lobby :\x1b[2J\x1b]0;title\x07\x02bold\x02");
    assert_eq!(
        texts(&s, "#lobby").last().map(String::as_str),
        Some("�[2J�]0;title�bold")
    );
}

#[test]
fn text_splits_at_spaces_and_never_inside_a_character() {
    assert_eq!(split_text("abc def", 400), ["abc def"]);
    assert_eq!(split_text("", 400), [""]);
    let long = "é".repeat(300);
    let pieces = split_text(&long, 401);
    assert!(pieces.iter().all(|p| p.len() <= 401));
    assert_eq!(pieces.concat(), "é".repeat(300));
    assert_eq!(split_text("aaaa bbbb cccc", 9), ["aaaa bbbb", "cccc"]);
}

#[test]
fn utc_minutes_are_right() {
    assert_eq!(utc_minute(1_764_581_400_000), "2025-12-01 09:30");
    assert_eq!(utc_minute(0), "1970-01-01 00:00");
}

#[test]
fn search_and_history_ask_the_server_and_show_the_answer() {
    let mut s = registered();
    s.command("/search kopi panas; dingin");
    assert_eq!(s.take_output(), ["SEARCH text=kopi\\spanas\\:\\sdingin"]);
    s.handle(":hub BATCH +s1 soju.im/search");
    s.handle(
        "@batch=s1;time=2026-12-01T09:30:00.000Z;msgid=k1 :budi!b@h PRIVMSG #dapur :kopi panas",
    );
    s.handle(":hub BATCH -s1");
    let t = texts(&s, "#lobby");
    assert!(
        t.iter().any(|l| l == "1 messages found (oldest first):"),
        "{t:?}"
    );
    assert!(
        t.iter()
            .any(|l| l == "[2026-12-01 09:30] [#dapur] <budi> kopi panas"),
        "{t:?}"
    );
    assert!(
        s.chat.find("#dapur").is_none(),
        "a search result opens no buffer"
    );
    s.command("/history 10");
    assert_eq!(s.take_output(), ["CHATHISTORY LATEST #lobby * 10"]);
}

#[test]
fn short_and_odd_lines_from_the_server_are_survived() {
    let mut s = registered();
    for line in [
        ":srv 005 ani",
        ":srv 005",
        ":srv 421 :Unknown command",
        ":srv 400",
        ":srv 433",
        "PRIVMSG",
        ":x!y@z PRIVMSG",
        ":x!y@z JOIN",
        ":x!y@z KICK #lobby",
        ":srv 353",
        ":srv 353 ani = #lobby",
        ":srv BATCH",
        ":srv BATCH -nope",
        ":srv CAP",
        "@batch=zz :x!y@z PRIVMSG #lobby :in a batch never opened",
        ":srv NOTICE * :*** Looking up your hostname",
        "NOTICE AUTH :no prefix at all",
    ] {
        s.handle(line);
    }
    assert!(texts(&s, "#lobby")
        .iter()
        .any(|t| t == "in a batch never opened"));
}

#[test]
fn the_wanted_nick_and_the_account_survive_a_reconnect_under_another_nick() {
    let mut s = session(Some("rahasia123"));
    s.connected();
    s.handle(":hub CAP * LS :sasl");
    s.handle(":hub CAP ani ACK :sasl");
    s.handle("AUTHENTICATE +");
    s.handle(":hub 903 ani :ok");
    s.handle(":hub 433 * ani :Nickname is already in use");
    s.handle(":hub 001 ani_ :Welcome");
    s.take_output();
    // Later the old connection's nick is free: asked for again.
    s.tick(now_ms() + 61_000);
    assert!(s.take_output().contains(&"NICK ani".to_string()));
    s.disconnected("reset", None);
    s.connected();
    assert_eq!(
        s.take_output(),
        ["CAP LS 302", "NICK ani", "USER ani 0 * :obrol"]
    );
    s.handle(":hub CAP * LS :sasl");
    s.handle(":hub CAP ani ACK :sasl");
    s.handle("AUTHENTICATE +");
    assert_eq!(
        s.take_output(),
        [
            "CAP REQ :sasl",
            "AUTHENTICATE PLAIN",
            "AUTHENTICATE YW5pAGFuaQByYWhhc2lhMTIz"
        ]
    );
}

#[test]
fn a_server_that_stops_answering_is_stale() {
    let mut s = registered();
    let t = now_ms();
    s.tick(t);
    assert_eq!(s.take_output().len(), 1, "a lag PING");
    assert!(!s.stale(t + 60_000));
    assert!(s.stale(t + STALE_AFTER_MS));
}

#[test]
fn a_burst_of_modes_asks_for_names_once() {
    let mut s = registered();
    for n in 0..20 {
        s.handle(&format!(":budi!b@h MODE #lobby +v u{n}"));
    }
    let names: Vec<String> = s
        .take_output()
        .into_iter()
        .filter(|l| l.starts_with("NAMES"))
        .collect();
    assert_eq!(names, ["NAMES #lobby"]);
    s.handle(":hub 353 ani = #lobby :@budi ani");
    s.handle(":hub 366 ani #lobby :End");
    s.handle(":budi!b@h MODE #lobby +o ani");
    assert_eq!(s.take_output(), ["NAMES #lobby"]);
}

#[test]
fn lines_of_other_batches_act_at_once() {
    let mut s = registered();
    s.handle(":hub BATCH +ns netsplit irc.a irc.b");
    s.handle("@batch=ns :budi!b@h QUIT :irc.a irc.b");
    let lobby = s.chat.find("#lobby").expect("lobby");
    assert!(!s.chat.buffers[lobby].members.contains_key("budi"));
    s.handle(":hub BATCH -ns");
    assert!(
        s.chat.find("irc.a irc.b").is_none(),
        "no buffer named after a quit reason"
    );
}

#[test]
fn only_a_short_answer_to_before_ends_history() {
    let mut s = registered();
    s.command("/history 5");
    s.take_output();
    s.handle(":hub BATCH +h chathistory #lobby");
    for i in 0..5 {
        s.handle(&format!(
            "@batch=h;msgid=m{i};time=2026-12-01T09:0{i}:00.000Z :cici!c@h PRIVMSG #lobby :{i}"
        ));
    }
    s.handle(":hub BATCH -h");
    let lobby = s.chat.find("#lobby").expect("lobby");
    assert!(
        !s.chat.buffers[lobby].history_done,
        "five of five asked: maybe more"
    );
    s.want_older();
    assert_eq!(s.take_output(), ["CHATHISTORY BEFORE #lobby msgid=m0 50"]);
    s.handle(":hub BATCH +b chathistory #lobby");
    s.handle("@batch=b;msgid=old;time=2026-12-01T08:00:00.000Z :cici!c@h PRIVMSG #lobby :old");
    s.handle(":hub BATCH -b");
    assert!(
        s.chat.buffers[lobby].history_done,
        "one of fifty: the start"
    );
}

#[test]
fn a_room_only_written_to_is_not_joined_after_a_reconnect() {
    let mut s = registered();
    s.command("/msg #luar halo");
    s.handle(":hub TOPIC #lain :x");
    s.handle(":budi!b@h PRIVMSG @#lobby :ops only");
    assert_eq!(
        texts(&s, "#lobby").last().map(String::as_str),
        Some("ops only")
    );
    assert!(s.chat.find("@#lobby").is_none());
    s.disconnected("reset", None);
    s.connected();
    s.handle(":hub CAP * LS :batch");
    s.handle(":hub CAP ani ACK :batch");
    s.take_output();
    s.handle(":hub 001 ani :again");
    assert_eq!(s.take_output(), ["JOIN #lobby"]);
}

#[test]
fn a_long_list_of_rooms_is_joined_in_several_lines() {
    let rooms: Vec<String> = (0..60).map(|i| format!("#ruang-nomor-{i:03}")).collect();
    let mut s = Session::new(
        Config {
            nick: "ani".into(),
            password: None,
            rooms,
        },
        "hub",
    );
    s.connected();
    s.handle(":hub CAP * LS :batch");
    s.handle(":hub CAP ani ACK :batch");
    s.take_output();
    s.handle(":hub 001 ani :hi");
    let joins = s.take_output();
    assert!(
        joins.len() > 1 && joins.iter().all(|l| l.len() < 510),
        "{joins:?}"
    );
    assert_eq!(
        joins.iter().map(|l| l.matches('#').count()).sum::<usize>(),
        60
    );
}

#[test]
fn cap_del_and_new_are_followed() {
    let mut s = registered();
    s.handle(":hub CAP ani DEL :draft/chathistory");
    s.want_older();
    assert!(s.take_output().is_empty());
    s.handle(":hub CAP ani NEW :draft/chathistory unknown");
    assert_eq!(s.take_output(), ["CAP REQ :draft/chathistory"]);
}

#[test]
fn a_registered_account_is_logged_in_to_after_a_reconnect() {
    let mut s = registered();
    s.command("/register rahasia123");
    assert_eq!(s.take_output(), ["REGISTER * * :rahasia123"]);
    s.handle(":hub REGISTER SUCCESS ani :Account created");
    assert!(texts(&s, "#lobby")
        .iter()
        .any(|t| t.contains("account ani registered")));
    s.disconnected("reset", None);
    s.connected();
    s.handle(":hub CAP * LS :sasl");
    s.take_output();
    s.handle(":hub CAP ani ACK :sasl");
    assert_eq!(s.take_output(), ["AUTHENTICATE PLAIN"]);
}
