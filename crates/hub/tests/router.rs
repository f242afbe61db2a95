//! The router in process: no binary, no ports (see `common`). Where time matters (rounds, the
//! idle sweep, slow consumers) the runtime's clock is paused, so waits are exact and cost no
//! real time. The end-to-end tests over TCP live in `crates/obrol/tests`.

mod common;

use std::time::Duration;

use obrol_hub::api::{caps, Request};
use obrol_hub::event::Command;
use obrol_hub::{Protocol, Settings};
use tokio::time::Instant;

use common::{Hub, C, HOST};

const SERVER: &str = "hub.test";

fn settings() -> Settings {
    Settings::new(SERVER)
}

/// `nick`'s message to `#room` as an IRC client sees it (no tags negotiated).
fn privmsg(nick: &str, room: &str, text: &str) -> String {
    format!(":{nick}!{nick}@{HOST} PRIVMSG #{room} :{text}")
}

fn strings(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|l| (*l).to_owned()).collect()
}

#[tokio::test]
async fn a_room_message_reaches_every_other_member_once_in_order_rendered_per_protocol() {
    let mut hub = Hub::start(settings());
    let pat = hub.connect(Protocol::Plain, "pat", 0).await;
    // A plain client may carry the echo bit too (set by its own means, see `api::caps`).
    let quinn = hub
        .connect(Protocol::Plain, "quinn", caps::ECHO_MESSAGE)
        .await;
    let ivy = hub.connect(Protocol::Irc, "ivy", 0).await;
    let jo = hub.connect(Protocol::Irc, "jo", caps::ECHO_MESSAGE).await;
    // In the lobby with the plain clients, not in the room.
    let lou = hub.connect(Protocol::Plain, "lou", 0).await;
    for c in [pat, quinn, ivy, jo] {
        hub.join(c, "den").await;
    }
    hub.settle().await;
    hub.clear();

    // Once within one router turn, once with every message in a turn of its own.
    for separate_turns in [false, true] {
        let said: [(C, &str, &str); 6] = [
            (pat, "pat", "one"),
            (ivy, "ivy", "two"),
            (jo, "jo", "three"),
            (quinn, "quinn", "four"),
            (pat, "pat", "five"),
            (jo, "jo", "six"),
        ];
        for (c, _, text) in said {
            match c {
                // Plain clients talk to their current room (the one joined last).
                c if c == pat || c == quinn => hub.say(c, text).await,
                c => hub.msg(c, "#den", text).await,
            }
            if separate_turns {
                hub.settle().await;
            }
        }
        hub.settle().await;
        let plain = |except: Option<&str>| -> Vec<String> {
            said.iter()
                .filter(|(_, nick, _)| Some(*nick) != except)
                .map(|(_, nick, text)| format!("<{nick}> {text}"))
                .collect()
        };
        let irc = |except: Option<&str>| -> Vec<String> {
            said.iter()
                .filter(|(_, nick, _)| Some(*nick) != except)
                .map(|(_, nick, text)| privmsg(nick, "den", text))
                .collect()
        };
        assert_eq!(hub.lines(pat), plain(Some("pat")), "pat (plain)");
        assert_eq!(hub.lines(quinn), plain(None), "quinn (plain, echo)");
        assert_eq!(hub.lines(ivy), irc(Some("ivy")), "ivy (IRC)");
        assert_eq!(hub.lines(jo), irc(None), "jo (IRC, echo-message)");
        assert_eq!(
            hub.lines(lou),
            Vec::<String>::new(),
            "lou is not in the room"
        );
    }
}

#[tokio::test]
async fn a_member_of_two_busy_rooms_hears_both_in_emit_order() {
    let mut hub = Hub::start(settings());
    let ana = hub.connect(Protocol::Irc, "ana", 0).await;
    let ben = hub.connect(Protocol::Irc, "ben", 0).await;
    let mia = hub.connect(Protocol::Irc, "mia", 0).await;
    let pia = hub.connect(Protocol::Plain, "pia", 0).await;
    let only_a = hub.connect(Protocol::Irc, "oza", 0).await;
    let only_b = hub.connect(Protocol::Irc, "ozb", 0).await;
    hub.join(ana, "alpha").await;
    hub.join(only_a, "alpha").await;
    hub.join(ben, "beta").await;
    hub.join(only_b, "beta").await;
    for c in [mia, pia] {
        hub.join(c, "alpha").await;
        hub.join(c, "beta").await; // pia's current room
    }
    hub.settle().await;
    hub.clear();

    let mut said = Vec::new();
    for i in 0..120 {
        // An irregular interleaving: runs of either room, of different lengths.
        let in_alpha = (i * 7 / 3) % 2 == 0;
        let text = format!("message {i}");
        if in_alpha {
            hub.msg(ana, "#alpha", &text).await;
        } else {
            hub.msg(ben, "#beta", &text).await;
        }
        said.push((in_alpha, text));
        // The first half in as few turns as the router makes of it, then turns of 1 to 6.
        if i >= 60 && i % 6 < i % 4 {
            hub.settle().await;
        }
    }
    hub.settle().await;

    let mia_expected: Vec<String> = said
        .iter()
        .map(|(a, text)| match a {
            true => privmsg("ana", "alpha", text),
            false => privmsg("ben", "beta", text),
        })
        .collect();
    let pia_expected: Vec<String> = said
        .iter()
        .map(|(a, text)| match a {
            true => format!("[alpha] <ana> {text}"),
            false => format!("<ben> {text}"),
        })
        .collect();
    let alpha_only: Vec<String> = said
        .iter()
        .filter(|(a, _)| *a)
        .map(|(_, text)| privmsg("ana", "alpha", text))
        .collect();
    let beta_only: Vec<String> = said
        .iter()
        .filter(|(a, _)| !*a)
        .map(|(_, text)| privmsg("ben", "beta", text))
        .collect();
    assert_eq!(hub.lines(mia), mia_expected);
    assert_eq!(hub.lines(pia), pia_expected);
    assert_eq!(hub.lines(only_a), alpha_only);
    assert_eq!(hub.lines(only_b), beta_only);
    // The senders, without echo-message, hear nothing of their own.
    assert_eq!(hub.lines(ana), Vec::<String>::new());
    assert_eq!(hub.lines(ben), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn the_idle_sweep_pings_the_silent_and_drops_those_that_stay_silent() {
    let mut settings = settings();
    settings.ping_interval = Duration::from_secs(90);
    let mut hub = Hub::start(settings);
    hub.patience = Duration::from_secs(3600);
    let start = Instant::now();
    let quiet = hub.connect(Protocol::Irc, "quiet", 0).await;
    let lively = hub.connect(Protocol::Irc, "lively", 0).await;
    let watcher = hub.connect(Protocol::Plain, "watcher", 0).await;
    for c in [quiet, lively, watcher] {
        hub.join(c, "den").await;
    }
    hub.settle().await;
    hub.clear();
    assert_eq!(start.elapsed(), Duration::ZERO, "setting up took no time");
    let ping = strings(&[&format!("PING :{SERVER}")]);

    // Silent for the interval: pinged, not a moment earlier.
    assert_eq!(hub.wait_for(quiet).await, ping);
    assert_eq!(start.elapsed(), Duration::from_secs(90));
    hub.settle().await;
    assert_eq!(hub.lines(lively), ping);
    // The lively one answers at once (a connection stamps every read: `Outbox::heard`).
    hub.outbox(lively).heard();
    assert_eq!(
        hub.lines(watcher),
        Vec::<String>::new(),
        "plain clients are not pinged"
    );

    // Silent as long again after the ping: dropped, and the room hears why.
    let farewell = hub.wait_closed(quiet).await;
    assert_eq!(start.elapsed(), Duration::from_secs(180));
    assert_eq!(farewell, "ERROR :Closing link: Ping timeout");
    hub.settle().await;
    assert_eq!(hub.lines(quiet), Vec::<String>::new());
    // Silent for an interval since its answer, the lively one is pinged again.
    assert_eq!(
        hub.lines(lively),
        strings(&[
            &format!("PING :{SERVER}"),
            &format!(":quiet!quiet@{HOST} QUIT :Ping timeout"),
        ])
    );
    assert_eq!(
        hub.lines(watcher),
        strings(&["* quiet quit (Ping timeout)"])
    );

    // A client that keeps answering stays, however long.
    hub.outbox(lively).heard();
    for round in 3..=6u64 {
        assert_eq!(hub.wait_for(lively).await, ping);
        assert_eq!(start.elapsed(), Duration::from_secs(90 * round));
        hub.outbox(lively).heard();
    }
    hub.say(watcher, "still there?").await;
    hub.settle().await;
    assert_eq!(
        hub.lines(lively),
        strings(&[&privmsg("watcher", "den", "still there?")])
    );
    assert!(hub.farewell(lively).is_none());
    assert!(hub
        .operator("/stats")
        .await
        .starts_with("clients=2 rooms=2 "));
}

#[tokio::test(start_paused = true)]
async fn a_bridges_members_speak_in_rooms_keep_their_nicks_to_themselves_and_are_never_pinged() {
    let mut settings = settings();
    settings.ping_interval = Duration::from_secs(90);
    let mut hub = Hub::start(settings);
    hub.patience = Duration::from_secs(3600);
    let ivy = hub.connect(Protocol::Irc, "ivy", 0).await;
    hub.join(ivy, "lobby").await;
    hub.settle().await;
    hub.clear();
    // Only a bridge's member may have a bridge nick, and it may have no other.
    assert_eq!(hub.connect_bridged("ani").await, None);
    let ani = hub.connect_bridged("ani|mc").await.expect("a bridge nick");
    assert_eq!(
        hub.connect_bridged("ANI|MC").await,
        None,
        "taken, case-folded"
    );
    let join = Command::Join {
        room: "lobby".into(),
        key: None,
    };
    hub.request(Request::Command { id: ani, cmd: join }).await;
    let say = Command::SayTo {
        target: "#lobby".into(),
        text: "halo".into(),
        action: false,
        notice: false,
        tags: Vec::new(),
    };
    hub.request(Request::Command { id: ani, cmd: say }).await;
    hub.settle().await;
    assert_eq!(
        hub.lines(ivy),
        strings(&[
            ":ani|mc!mcast@224.1.1.1 JOIN #lobby",
            ":ani|mc!mcast@224.1.1.1 PRIVMSG #lobby :halo",
        ])
    );
    hub.command(ivy, Command::Nick("bob|mc".into())).await;
    hub.request(Request::Command {
        id: ani,
        cmd: Command::Nick("bob".into()),
    })
    .await;
    hub.settle().await;
    assert_eq!(
        hub.lines(ivy),
        strings(&[&format!(":{SERVER} 432 ivy bob|mc :Nickname is reserved")])
    );
    hub.msg(ivy, "#lobby", "still ivy").await;
    hub.settle().await;
    hub.clear();
    // Hours of silence: ivy is pinged (and answers), the bridge's member never.
    for _ in 0..3 {
        assert_eq!(
            hub.wait_for(ivy).await,
            strings(&[&format!("PING :{SERVER}")])
        );
        hub.outbox(ivy).heard();
    }
    hub.request(Request::Command {
        id: ani,
        cmd: Command::SayTo {
            target: "#lobby".into(),
            text: "masih di sini".into(),
            action: false,
            notice: false,
            tags: Vec::new(),
        },
    })
    .await;
    assert_eq!(
        hub.wait_for(ivy).await,
        strings(&[":ani|mc!mcast@224.1.1.1 PRIVMSG #lobby :masih di sini"])
    );
}

/// Three plain clients in the lobby: a sender, a reader and one more, all read up to now.
async fn three_in_the_lobby(settings: Settings) -> (Hub, C, C, C) {
    let mut hub = Hub::start(settings);
    let xavier = hub.connect(Protocol::Plain, "xavier", 0).await;
    let rita = hub.connect(Protocol::Plain, "rita", 0).await;
    let third = hub.connect(Protocol::Plain, "sam", 0).await;
    hub.settle().await;
    hub.clear();
    (hub, xavier, rita, third)
}

#[tokio::test(start_paused = true)]
async fn a_blocked_writer_holds_up_nobody() {
    let (mut hub, xavier, rita, sam) = three_in_the_lobby(settings()).await;
    // Sam stopped reading: its writer took its last batch and waits for a full socket.
    hub.outbox(sam).set_blocked(true);
    hub.stop_reading(sam);
    let start = Instant::now();
    for i in 0..5 {
        let text = format!("hello {i}");
        hub.say(xavier, &text).await;
        assert_eq!(hub.wait_for(rita).await, [format!("<xavier> {text}")]);
        assert_eq!(start.elapsed(), Duration::ZERO, "message {i} waited");
    }
    // The router queued everything for Sam all the same.
    let mut batch = obrol_hub::outbox::Batch::default();
    hub.outbox(sam).take(&mut batch);
    let queued: Vec<u8> = batch.messages.iter().flatten().copied().collect();
    let expected: String = (0..5).map(|i| format!("<xavier> hello {i}\n")).collect();
    assert_eq!(String::from_utf8(queued).unwrap(), expected);
}

#[tokio::test(start_paused = true)]
async fn a_retired_outbox_never_holds_a_round_open() {
    let (mut hub, xavier, rita, sam) = three_in_the_lobby(settings()).await;
    hub.stop_reading(sam);
    let start = Instant::now();
    // Woken in the round, Sam's connection ends before it takes: the round ends without it.
    hub.say(xavier, "one").await;
    assert_eq!(hub.wait_for(rita).await, ["<xavier> one"]);
    hub.outbox(sam).retire();
    hub.say(xavier, "two").await;
    assert_eq!(hub.wait_for(rita).await, ["<xavier> two"]);
    // Retired, it joins no later round either.
    hub.say(xavier, "three").await;
    assert_eq!(hub.wait_for(rita).await, ["<xavier> three"]);
    assert_eq!(start.elapsed(), Duration::ZERO, "no round waited for Sam");
    // Its connection then says it is gone, and the others hear it.
    let id = hub.id(sam);
    let reason = "connection reset".to_owned();
    hub.request(Request::Disconnect { id, reason }).await;
    hub.settle().await;
    assert_eq!(hub.lines(rita), ["* sam quit (connection reset)"]);
    assert_eq!(hub.lines(xavier), ["* sam quit (connection reset)"]);
}

#[tokio::test(start_paused = true)]
async fn the_round_limit_bounds_how_long_a_round_waits_for_a_writer() {
    let mut settings = settings();
    settings.round_limit = Duration::from_millis(200);
    let (mut hub, xavier, rita, sam) = three_in_the_lobby(settings).await;
    // Sam's writer is woken but never takes (its task never gets to run, say).
    hub.stop_reading(sam);
    let start = Instant::now();
    hub.say(xavier, "one").await;
    assert_eq!(hub.wait_for(rita).await, ["<xavier> one"]);
    assert_eq!(start.elapsed(), Duration::ZERO, "no round ran: out at once");
    // The round that woke Sam runs until Sam takes or the limit: Rita waits for it.
    hub.say(xavier, "two").await;
    assert_eq!(hub.wait_for(rita).await, ["<xavier> two"]);
    assert_eq!(start.elapsed(), hub.settings().round_limit);
    // That round is left behind: no later round waits for Sam again.
    for text in ["three", "four", "five"] {
        hub.say(xavier, text).await;
        assert_eq!(hub.wait_for(rita).await, [format!("<xavier> {text}")]);
        assert_eq!(
            start.elapsed(),
            hub.settings().round_limit,
            "{text} waited for a writer left behind"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_writer_blocked_while_its_round_runs_holds_up_nobody() {
    let (mut hub, xavier, rita, sam) = three_in_the_lobby(settings()).await;
    hub.stop_reading(sam);
    let start = Instant::now();
    hub.say(xavier, "one").await;
    assert_eq!(hub.wait_for(rita).await, ["<xavier> one"]);
    // Woken in this round just after it took its last batch, Sam's writer finds its socket
    // full (`conn::Writer::pump` takes, fails to write, then sets blocked): it will not take
    // again until the socket drains, which may be never.
    hub.outbox(sam).set_blocked(true);
    // Nor does any later round wait for it.
    for text in ["two", "three", "four"] {
        hub.say(xavier, text).await;
        assert_eq!(hub.wait_for(rita).await, [format!("<xavier> {text}")]);
        assert_eq!(start.elapsed(), Duration::ZERO, "{text} waited");
    }
}

const SLOW_LIMIT: usize = 1000;
const SLOW_REASON: &str = "slow consumer: too much unread output";

/// A lobby with a sender, a plain and an IRC reader, and a client with a small outbox that
/// has stopped reading (its writer waits for a full socket, as a real slow client's does).
async fn lobby_with_a_slow_client() -> (Hub, C, C, C, C) {
    let mut hub = Hub::start(settings());
    let xavier = hub.connect(Protocol::Plain, "xavier", 0).await;
    let rita = hub.connect(Protocol::Plain, "rita", 0).await;
    let ivy = hub.connect(Protocol::Irc, "ivy", 0).await;
    hub.join(ivy, "lobby").await;
    let slow = hub
        .connect_limited(Protocol::Plain, "slow", 0, SLOW_LIMIT)
        .await;
    hub.settle().await;
    hub.clear();
    hub.outbox(slow).set_blocked(true);
    hub.stop_reading(slow);
    (hub, xavier, rita, ivy, slow)
}

/// The `i`th message of the slow-consumer tests: all of one length.
fn filler(i: usize) -> String {
    format!("m{i:02} {}", "x".repeat(90))
}

#[tokio::test(start_paused = true)]
async fn a_slow_consumer_is_dropped_and_nobody_else_is_affected() {
    let (mut hub, xavier, rita, ivy, slow) = lobby_with_a_slow_client().await;
    let start = Instant::now();
    let line = |i| format!("<xavier> {}", filler(i));
    // How many messages the slow client's outbox holds; the next one does not fit.
    let fits = SLOW_LIMIT / (line(0).len() + 1);
    let total = fits + 5;
    for i in 0..total {
        hub.say(xavier, &filler(i)).await;
        hub.settle().await; // one message per turn
    }
    let mut expected: Vec<String> = (0..=fits).map(line).collect();
    expected.push(format!("* slow quit ({SLOW_REASON})"));
    expected.extend((fits + 1..total).map(line));
    assert_eq!(hub.lines(rita), expected);
    let mut expected: Vec<String> = (0..=fits)
        .map(|i| format!(":xavier!xavier@{HOST} PRIVMSG #lobby :{}", filler(i)))
        .collect();
    expected.push(format!(":slow!slow@{HOST} QUIT :{SLOW_REASON}"));
    expected.extend(
        (fits + 1..total).map(|i| format!(":xavier!xavier@{HOST} PRIVMSG #lobby :{}", filler(i))),
    );
    assert_eq!(hub.lines(ivy), expected);
    assert_eq!(
        hub.lines(xavier),
        [format!("* slow quit ({SLOW_REASON})")],
        "the sender hears the quit and nothing of its own"
    );
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "nobody waited for the slow client"
    );

    // Its connection is dropped without a goodbye: nothing queued is written.
    let outbox = hub.outbox(slow);
    assert!(outbox.is_aborted());
    let mut batch = obrol_hub::outbox::Batch::default();
    outbox.take(&mut batch);
    assert!(batch.messages.is_empty());
    assert_eq!(batch.close.as_deref(), Some(&b""[..]));
    let stats = hub.operator("/stats").await;
    assert!(stats.starts_with("clients=3 rooms=1 "), "{stats}");
    assert!(stats.contains(" slow_consumers=1 "), "{stats}");
}

#[tokio::test(start_paused = true)]
async fn a_slow_consumers_quit_goes_out_with_the_turn_that_found_it() {
    let (mut hub, xavier, rita, _ivy, _slow) = lobby_with_a_slow_client().await;
    let line = |i| format!("<xavier> {}", filler(i));
    let fits = SLOW_LIMIT / (line(0).len() + 1);
    for i in 0..fits {
        hub.say(xavier, &filler(i)).await;
        hub.settle().await;
    }
    hub.clear();
    let start = Instant::now();
    // The message that does not fit, and nothing after it: no later request flushes the quit.
    hub.say(xavier, &filler(fits)).await;
    let mut heard = Vec::new();
    while heard.len() < 2 {
        heard.extend(hub.wait_for(rita).await);
    }
    assert_eq!(heard, [line(fits), format!("* slow quit ({SLOW_REASON})")]);
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "the quit waited for a later turn"
    );
}

#[tokio::test]
async fn labeled_requests_get_labeled_replies_through_the_router() {
    let mut hub = Hub::start(settings());
    let lab = hub
        .connect(Protocol::Irc, "lab", caps::LABELED_RESPONSE | caps::BATCH)
        .await;
    let eko = hub
        .connect(
            Protocol::Irc,
            "eko",
            caps::LABELED_RESPONSE | caps::ECHO_MESSAGE,
        )
        .await;
    let wit = hub.connect(Protocol::Irc, "wit", 0).await;
    for c in [lab, eko, wit] {
        hub.join(c, "den").await;
    }
    hub.settle().await;
    hub.clear();
    let labeled = |hub: &Hub, c: C, label: &str| {
        let (id, label) = (hub.id(c), label.to_owned());
        (Request::LabelStart { id, label }, Request::LabelEnd { id })
    };

    // A message without echo-message: nothing to say but that it was done.
    let (start, end) = labeled(&hub, lab, "a1");
    hub.request(start).await;
    hub.msg(lab, "#den", "hi").await;
    hub.request(end).await;
    hub.settle().await;
    assert_eq!(hub.lines(lab), [format!("@label=a1 :{SERVER} ACK")]);
    assert_eq!(hub.lines(eko), [privmsg("lab", "den", "hi")]);
    assert_eq!(hub.lines(wit), [privmsg("lab", "den", "hi")]);

    // With echo-message the echo is the reply, and carries the label; others get it plain.
    let (start, end) = labeled(&hub, eko, "b2");
    hub.request(start).await;
    hub.msg(eko, "#den", "yo").await;
    hub.request(end).await;
    hub.settle().await;
    assert_eq!(
        hub.lines(eko),
        [format!("@label=b2 {}", privmsg("eko", "den", "yo"))]
    );
    assert_eq!(hub.lines(lab), [privmsg("eko", "den", "yo")]);
    assert_eq!(hub.lines(wit), [privmsg("eko", "den", "yo")]);

    // One reply line: labeled on the line.
    let (start, end) = labeled(&hub, lab, "c3");
    hub.request(start).await;
    let room = "den".to_owned();
    hub.command(lab, Command::Topic { room, topic: None }).await;
    hub.request(end).await;
    hub.settle().await;
    assert_eq!(
        hub.lines(lab),
        [format!("@label=c3 :{SERVER} 331 lab #den :No topic is set")]
    );

    // Several reply lines: a labeled-response batch. What others say meanwhile is not part of
    // the reply and goes out at once, before it.
    let (start, end) = labeled(&hub, lab, "d4");
    hub.request(start).await;
    hub.command(lab, Command::Lusers).await;
    hub.msg(wit, "#den", "meanwhile").await;
    hub.request(end).await;
    hub.settle().await;
    let batch = format!("l{}", hub.id(lab));
    let inner = |rest: &str| format!("@batch={batch} :{SERVER} {rest}");
    assert_eq!(
        hub.lines(lab),
        [
            privmsg("wit", "den", "meanwhile"),
            format!("@label=d4 :{SERVER} BATCH +{batch} labeled-response"),
            inner("251 lab :There are 3 users and 0 invisible on 1 servers"),
            inner("252 lab 0 :operator(s) online"),
            inner("254 lab 1 :channels formed"),
            inner("255 lab :I have 3 clients and 0 servers"),
            format!(":{SERVER} BATCH -{batch}"),
        ]
    );
    assert_eq!(hub.lines(eko), [privmsg("wit", "den", "meanwhile")]);
    assert_eq!(hub.lines(wit), Vec::<String>::new());
}
