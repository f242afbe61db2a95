//! Edge cases of the plain protocol and the binary: half-closed clients, bytes that could forge
//! or garble what others see, lines too long for IRC, reply order, things that are not chat
//! clients at all (a browser, a TLS client) on the hub port, and `obrol connect`'s exits.
//!
//! Every test starts its own hub on 127.0.0.1 (see `common/irc.rs`). An absence is checked
//! after a later line that the same path must have delivered first: a marker client in the
//! lobby says something, and a witness's very next line must be that.
//!
//! Each test pinned down a fault the hub or the binary once had (issue 9); all pass now.

mod common;

use std::process::Command;

use common::irc::{num, plain_nick, silent_plain, src, Hub, Irc, PLAIN_WELCOME};
use common::{obrol_cmd, Proc, Raw, EXIT_TIMEOUT, LINE_TIMEOUT};

/// A plain client in the lobby with its whole welcome read: the next line it gets is news.
#[track_caller]
fn lobby_client(name: &str, port: u16) -> (Raw, String) {
    let (mut raw, nick) = silent_plain(name, port);
    raw.expect_next(&format!("* {nick} joined lobby"));
    raw.expect_line(|l| l.starts_with("* in lobby ("), LINE_TIMEOUT);
    (raw, nick)
}

/// An IRC client in `#lobby` with its join replies read.
#[track_caller]
fn irc_in_lobby(port: u16, nick: &str) -> Irc {
    let mut irc = Irc::register(port, nick);
    let joined = irc.ask("JOIN #lobby");
    assert_eq!(
        joined.first(),
        Some(&format!("{} JOIN #lobby", src(nick))),
        "{}",
        irc.dump()
    );
    irc
}

/// Control characters that must never reach a client: every C0 and C1 control and DEL, except
/// IRC's formatting codes (bold, color, reset, reverse, italics, underline), which clients
/// interpret.
fn is_forbidden_control(c: char) -> bool {
    c.is_control() && !['\x02', '\x03', '\x0f', '\x16', '\x1d', '\x1f'].contains(&c)
}

/// Panics with `dump` if `nc` (netcat-openbsd, which has `-N`) cannot be run.
#[track_caller]
fn require_nc() {
    let ok = Command::new("nc")
        .arg("-h")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stderr).contains("-N"));
    assert!(
        ok,
        "this test needs OpenBSD netcat (`nc -N`): apt-get install netcat-openbsd (.ci/run does)"
    );
}

// ---------------------------------------------------------------------------------------------
// Clients that close their sending side
// ---------------------------------------------------------------------------------------------

/// `printf '/rooms\n' | nc -N 127.0.0.1 PORT`: nc sends the line, shuts down its sending side
/// at the end of its input and prints what comes back until the hub closes. What the hub
/// queued for the client before it read the end of the stream must still be written: the
/// welcome and the room list.
#[test]
fn nc_with_half_close_prints_the_room_list() {
    require_nc();
    let hub = Hub::start();
    let port = hub.port();
    let (_witness, _) = lobby_client("witness", port);
    let mut nc = Proc::spawn("nc", {
        let mut cmd = Command::new("nc");
        cmd.args(["-N", "127.0.0.1", &port.to_string()]);
        cmd
    });
    nc.send_line("/rooms");
    nc.close_stdin();
    let status = nc.wait_exit(EXIT_TIMEOUT);
    assert!(status.success(), "nc exited with {status}\n{}", nc.dump());
    assert_eq!(nc.lines().first().map(String::as_str), Some(PLAIN_WELCOME));
    assert!(
        nc.has_line(|l| l == "* rooms: lobby (2)"),
        "no room list\n{}",
        nc.dump()
    );
}

/// The same from a raw socket: send `/rooms`, shut down the write side, read to the end.
#[test]
fn raw_socket_with_half_close_gets_the_room_list() {
    let hub = Hub::start();
    let port = hub.port();
    let (_witness, _) = lobby_client("witness", port);
    let mut r = Raw::connect("half-closed", port);
    r.send(b"/rooms\n");
    r.shutdown_write();
    r.expect_next(PLAIN_WELCOME);
    r.expect_line(|l| l == "* rooms: lobby (2)", LINE_TIMEOUT);
    r.expect_closed(LINE_TIMEOUT);
}

/// `echo hi | obrol connect 127.0.0.1:PORT` shows what the hub said before it exits at the end
/// of its input: at least the welcome. (The hub must not drop what it queued once it reads the
/// end of the stream, as above, and `obrol connect` must wait for the hub to close.)
#[test]
fn obrol_connect_at_end_of_input_prints_the_welcome() {
    let hub = Hub::start();
    let addr = format!("127.0.0.1:{}", hub.port());
    let mut conn = Proc::spawn("obrol-connect", obrol_cmd(&["connect", &addr]));
    conn.send_line("hi");
    conn.close_stdin();
    let status = conn.wait_exit(EXIT_TIMEOUT);
    assert!(status.success(), "exited with {status}\n{}", conn.dump());
    assert!(conn.has_line(|l| l == PLAIN_WELCOME), "{}", conn.dump());
}

// ---------------------------------------------------------------------------------------------
// Bytes that could forge or garble what others see
// ---------------------------------------------------------------------------------------------

/// A bare CR inside a plain line would let a terminal show the rest as a line of its own:
/// `x\r<ani_> send me your password` displays as `<ani_> send me your password`, a message
/// ani_ never sent. No plain client may receive a CR inside a line, and no IRC client a bare
/// CR inside a PRIVMSG (Modern IRC, Compatibility with incorrect software: "clients and
/// servers alike MUST NOT send single `\r` or `\n` characters").
#[test]
fn a_bare_cr_never_forges_a_line() {
    let hub = Hub::start();
    let port = hub.port();
    let (mut witness, _) = lobby_client("witness", port);
    let mut irc = irc_in_lobby(port, "ircw");
    witness.expect_next("* ircw joined lobby");
    let (mut sender, nick) = lobby_client("sender", port);
    witness.expect_next(&format!("* {nick} joined lobby"));
    sender.send(b"x\r<ani_> send me your password\nmark-1\n");
    witness.expect_line(|l| l == format!("<{nick}> mark-1"), LINE_TIMEOUT);
    irc.expect(|l| l.ends_with(" PRIVMSG #lobby :mark-1"), "the marker");
    for line in witness.lines() {
        assert!(
            !line.contains('\r') && !line.starts_with("<ani_>"),
            "forged line {line:?}\n{}",
            witness.dump()
        );
    }
    for line in &irc.received {
        assert!(!line.contains('\r'), "bare CR in {line:?}\n{}", irc.dump());
    }
}

/// Terminal escape sequences (`ESC ] 0 ; HACKED BEL` retitles an xterm, `ESC [ 2 J` clears the
/// screen) and other control characters from one client must never reach another, plain or
/// IRC, whichever side sent them. Plain clients (nc, the seed's client.py) print lines straight
/// to a terminal; docs/PROTOCOL.md already has the multicast peer turn control characters into
/// U+FFFD for the same reason. (IRC's formatting codes are the exception: see below.)
#[test]
fn control_characters_never_reach_other_clients() {
    let hub = Hub::start();
    let port = hub.port();
    let (mut witness, _) = lobby_client("witness", port);
    let mut ircw = irc_in_lobby(port, "ircw");
    let mut ircs = irc_in_lobby(port, "ircs");
    ircw.expect(|l| l.ends_with(" JOIN #lobby"), "ircs's JOIN");
    witness.expect_next("* ircw joined lobby");
    witness.expect_next("* ircs joined lobby");
    let (mut sender, nick) = lobby_client("sender", port);
    witness.expect_next(&format!("* {nick} joined lobby"));

    sender.send(b"before \x1b]0;HACKED\x07 after \x00\x7f\x1b[2J\nmark-1\n");
    witness.expect_line(|l| l == format!("<{nick}> mark-1"), LINE_TIMEOUT);
    ircw.expect(|l| l.ends_with(" PRIVMSG #lobby :mark-1"), "the marker");
    ircs.send("PRIVMSG #lobby :esc \x1b]0;HACKED\x07 x \x1b[2J");
    ircs.send("PRIVMSG #lobby :mark-2");
    witness.expect_line(|l| l == "<ircs> mark-2", LINE_TIMEOUT);
    ircw.expect(|l| l.ends_with(" PRIVMSG #lobby :mark-2"), "the marker");
    for line in witness.lines() {
        assert!(
            !line.chars().any(is_forbidden_control),
            "control character in {line:?}\n{}",
            witness.dump()
        );
    }
    for line in &ircw.received {
        assert!(
            !line.chars().any(is_forbidden_control),
            "control character in {line:?}\n{}",
            ircw.dump()
        );
    }
}

/// IRC formatting codes (Modern IRC formatting: `\x02` bold, `\x03` color, `\x0f` reset,
/// `\x16` reverse, `\x1d` italics, `\x1f` underline) are part of the text and reach IRC
/// clients unchanged, from IRC and from plain senders.
#[test]
fn irc_formatting_codes_pass_unchanged() {
    let hub = Hub::start();
    let port = hub.port();
    let mut ircw = irc_in_lobby(port, "ircw");
    let mut ircs = irc_in_lobby(port, "ircs");
    ircw.expect_next(&format!("{} JOIN #lobby", src("ircs")));
    let text = "\x02bold\x02 \x0304red\x03 \x1ditalic\x1d \x1funder\x1f \x16rev\x16 \x0freset";
    assert!(ircs.ask(&format!("PRIVMSG #lobby :{text}")).is_empty());
    ircw.expect_next(&format!("{} PRIVMSG #lobby :{text}", src("ircs")));

    let (mut plain, nick) = lobby_client("plain", port);
    ircw.expect_next(&format!(":{nick}!{nick}@127.0.0.1 JOIN #lobby"));
    plain.send_line(text);
    ircw.expect_next(&format!(":{nick}!{nick}@127.0.0.1 PRIVMSG #lobby :{text}"));
}

/// U+202E RIGHT-TO-LEFT OVERRIDE in a name makes everything after it display reversed (a nick
/// `ab\u{202E}dc` shows as `abcd`): names with it are refused, by plain and IRC clients alike.
/// The hub always refused such nicks but once accepted such room names.
#[test]
fn names_with_a_right_to_left_override_are_refused() {
    let hub = Hub::start();
    let port = hub.port();
    let (mut plain, nick) = lobby_client("plain", port);
    plain.send_line("/nick ab\u{202E}cd");
    let reply = plain.expect_line(|_| true, LINE_TIMEOUT);
    assert!(reply.starts_with("! invalid nick: "), "{reply:?}");
    plain.send_line("/join r\u{202E}m");
    let reply = plain.expect_line(|_| true, LINE_TIMEOUT);
    assert!(reply.starts_with("! "), "{reply:?}\n{}", plain.dump());
    plain.send_line("/rooms");
    plain.expect_next("* rooms: lobby (1)");
    plain.send_line("/who");
    plain.expect_next(&format!("* in lobby (1): {nick}"));

    let mut irc = Irc::register(port, "ircy");
    assert_eq!(
        irc.ask("NICK a\u{202E}b"),
        [num("432", "ircy", "a\u{202E}b :Erroneous nickname")]
    );
    let reply = irc.ask("JOIN #r\u{202E}m");
    assert_eq!(reply.len(), 1, "{reply:?}");
    let refused = ["403", "476", "479"]
        .iter()
        .any(|code| reply[0].starts_with(&format!(":irc.test {code} ircy #r\u{202E}m :")));
    assert!(refused, "{reply:?}");
}

// ---------------------------------------------------------------------------------------------
// Lines too long for IRC
// ---------------------------------------------------------------------------------------------

/// A plain line may be 4096 bytes, an IRC line at most 512 with its CRLF (Modern IRC, Message
/// Format). A 1,500-byte plain message reaches an IRC member split into lines that each fit,
/// carrying the whole text in order, or is refused with an error to its sender; never as one
/// oversize line.
#[test]
fn a_long_plain_message_reaches_irc_in_lines_of_at_most_512_bytes() {
    let hub = Hub::start();
    let port = hub.port();
    let mut irc = irc_in_lobby(port, "ircw");
    let (mut sender, nick) = lobby_client("sender", port);
    irc.expect_next(&format!(":{nick}!{nick}@127.0.0.1 JOIN #lobby"));
    let long: String = (0..1500)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    sender.send_line(&long);
    sender.send_line("mark-1");
    let lines = irc.until(|l| l.ends_with(" PRIVMSG #lobby :mark-1"), "the marker");
    for line in &lines {
        assert!(line.len() + 2 <= 512, "{} bytes: {line:?}", line.len() + 2);
    }
    let prefix = format!(":{nick}!{nick}@127.0.0.1 PRIVMSG #lobby :");
    let parts: Vec<&str> = lines[..lines.len() - 1]
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix))
        .collect();
    if parts.is_empty() {
        // Refused: the sender was told.
        let said = sender.lines();
        assert!(
            said.iter().any(|l| l.starts_with("! ")),
            "neither delivered nor refused\n{}",
            sender.dump()
        );
    } else {
        assert_eq!(parts.concat(), long, "{lines:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Reply order
// ---------------------------------------------------------------------------------------------

/// Replies come in the order of the requests: `/who lobby` then `/frobnicate` answers the who
/// first.
#[test]
fn plain_replies_keep_request_order() {
    let hub = Hub::start();
    let (mut c, nick) = lobby_client("c", hub.port());
    c.send(b"/who lobby\n/frobnicate\n");
    c.expect_next(&format!("* in lobby (1): {nick}"));
    c.expect_next("! unknown command: /frobnicate (try /help)");
}

/// A burst sent right after connecting (before the welcome arrived) is answered after the
/// welcome, in order.
#[test]
fn a_burst_right_after_connecting_gets_the_welcome_first() {
    let hub = Hub::start();
    let mut c = Raw::connect("burst", hub.port());
    c.send(b"/frobnicate\n/who\n");
    c.expect_next(PLAIN_WELCOME);
    let you = c.expect_line(|_| true, LINE_TIMEOUT);
    let nick = you
        .strip_prefix("* you are ")
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("not the welcome's second line: {you:?}\n{}", c.dump()))
        .to_owned();
    c.expect_next(&format!("* {nick} joined lobby"));
    c.expect_next(&format!("* in lobby (1): {nick}"));
    c.expect_next("! unknown command: /frobnicate (try /help)");
    c.expect_next(&format!("* in lobby (1): {nick}"));
}

// ---------------------------------------------------------------------------------------------
// Not chat clients at all
// ---------------------------------------------------------------------------------------------

/// A browser (or curl) pointed at the hub port gets an HTTP answer, not a chat session: its
/// request lines are never posted to the lobby, and it never joins it.
#[test]
fn an_http_request_gets_an_http_response_and_posts_nothing() {
    let hub = Hub::start();
    let port = hub.port();
    let (mut witness, _) = lobby_client("witness", port);
    let (mut marker, mnick) = lobby_client("marker", port);
    witness.expect_next(&format!("* {mnick} joined lobby"));

    let mut http = Raw::connect("http", port);
    http.send(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: edge-test\r\nConnection: close\r\n\r\n",
    );
    let status = http.expect_line(|_| true, LINE_TIMEOUT);
    assert!(
        status.starts_with("HTTP/1.1 "),
        "{status:?}\n{}",
        http.dump()
    );
    http.expect_closed(LINE_TIMEOUT);
    // Whatever the request caused in the lobby would come before this.
    marker.send_line("mark-1");
    witness.expect_next(&format!("<{mnick}> mark-1"));
}

/// A TLS client (its ClientHello starts 0x16 0x03 0x01) is closed without a session: nothing
/// of its binary handshake is posted to the lobby, and it never joins it.
#[test]
fn a_tls_client_hello_is_closed_and_posts_nothing() {
    let hub = Hub::start();
    let port = hub.port();
    let (mut witness, _) = lobby_client("witness", port);
    let (mut marker, mnick) = lobby_client("marker", port);
    witness.expect_next(&format!("* {mnick} joined lobby"));

    let mut tls = Raw::connect("tls", port);
    // A TLS 1.0 record header, then the start of a ClientHello: version 3.3, 32 random bytes,
    // no session id, one cipher suite, no compression.
    let mut hello = vec![
        0x16, 0x03, 0x01, 0x00, 0x2f, 0x01, 0x00, 0x00, 0x2b, 0x03, 0x03,
    ];
    hello.extend(0u8..32);
    hello.extend([0x00, 0x00, 0x02, 0x00, 0x2f, 0x01, 0x00]);
    tls.send(&hello);
    tls.expect_closed(LINE_TIMEOUT);
    marker.send_line("mark-1");
    witness.expect_next(&format!("<{mnick}> mark-1"));
}

// ---------------------------------------------------------------------------------------------
// A plain client that names itself in its first line
// ---------------------------------------------------------------------------------------------

/// A plain client whose first line is `/nick NAME` is admitted under that nick: its welcome
/// names it, and the others see NAME join, never a guest nick. Its next lines count as usual.
#[test]
fn a_first_line_nick_names_a_plain_client_as_it_joins() {
    let hub = Hub::start();
    let port = hub.port();
    let (mut witness, wnick) = lobby_client("witness", port);
    let mut ani = Raw::connect("ani", port);
    ani.send(b"/nick ani\n/who\n");
    ani.expect_next(PLAIN_WELCOME);
    ani.expect_next("* you are ani in lobby; type /help for commands");
    ani.expect_next("* ani joined lobby");
    for _ in 0..2 {
        // The welcome's member list, then the answer to /who.
        let who = ani.expect_line(|_| true, LINE_TIMEOUT);
        let listed = who.strip_prefix("* in lobby (2): ").map(|n| {
            let mut nicks: Vec<&str> = n.split(' ').collect();
            nicks.sort_unstable();
            nicks
        });
        let mut want = vec!["ani", wnick.as_str()];
        want.sort_unstable();
        assert_eq!(listed, Some(want), "{who:?}\n{}", ani.dump());
    }
    witness.expect_next("* ani joined lobby");
    ani.send_line("halo");
    witness.expect_next("<ani> halo");
}

/// A first-line nick that is taken (case-insensitively) leaves the client with a guest nick,
/// and it hears why after its welcome, as a `/nick` would; the others see only the guest join.
#[test]
fn a_taken_first_line_nick_leaves_a_guest_nick_and_says_why() {
    let hub = Hub::start();
    let port = hub.port();
    let mut budi = Raw::connect("budi", port);
    budi.send(b"/nick budi\n");
    budi.expect_next(PLAIN_WELCOME);
    budi.expect_next("* you are budi in lobby; type /help for commands");
    budi.expect_next("* budi joined lobby");
    budi.expect_line(|l| l.starts_with("* in lobby (1): "), LINE_TIMEOUT);

    let mut late = Raw::connect("late", port);
    late.send(b"/nick BUDI\n");
    late.expect_next(PLAIN_WELCOME);
    let you = late.expect_line(|_| true, LINE_TIMEOUT);
    let guest = plain_nick(&you);
    assert!(guest.starts_with("guest"), "{you:?}\n{}", late.dump());
    late.expect_next(&format!("* {guest} joined lobby"));
    late.expect_line(|l| l.starts_with("* in lobby (2): "), LINE_TIMEOUT);
    late.expect_next("! nick taken: BUDI");

    budi.expect_next(&format!("* {guest} joined lobby"));
    late.send_line("mark-1");
    budi.expect_next(&format!("<{guest}> mark-1"));
}

/// A client that ends its input before sending anything (`nc -N` with no input) still gets
/// the welcome before the hub closes.
#[test]
fn a_client_that_ends_its_input_at_once_still_gets_the_welcome() {
    let hub = Hub::start();
    let mut r = Raw::connect("mute", hub.port());
    r.shutdown_write();
    r.expect_next(PLAIN_WELCOME);
    r.expect_closed(LINE_TIMEOUT);
}

/// A listener pinned to the plain protocol takes a first-line nick too, and still welcomes a
/// client that says nothing.
#[test]
fn a_plain_listener_takes_a_first_line_nick_and_welcomes_the_silent() {
    let hub = Hub::start_on(&["plain://127.0.0.1:0"]);
    let port = hub.port_of("Plain");
    let (mut witness, _) = lobby_client("witness", port);
    let mut ani = Raw::connect("ani", port);
    ani.send(b"/nick ani\n");
    ani.expect_next(PLAIN_WELCOME);
    ani.expect_next("* you are ani in lobby; type /help for commands");
    witness.expect_next("* ani joined lobby");
}

// ---------------------------------------------------------------------------------------------
// obrol connect
// ---------------------------------------------------------------------------------------------

/// `obrol connect --nick ani` asks for the nick as it joins: the others see `ani` join, never a
/// `guestN` that is renamed a moment later.
#[test]
fn obrol_connect_with_a_nick_appears_under_it_directly() {
    let hub = Hub::start();
    let (mut witness, _) = lobby_client("witness", hub.port());
    let addr = format!("127.0.0.1:{}", hub.port());
    let mut conn = Proc::spawn(
        "obrol-connect",
        obrol_cmd(&["connect", &addr, "--nick", "ani"]),
    );
    witness.expect_next("* ani joined lobby");
    conn.send_line("halo");
    witness.expect_next("<ani> halo");
}

/// A user mistake on the command line exits with code 2 (ARCHITECTURE.md: "Maps user mistakes
/// to exit code 2") and says what is wrong in one line.
#[test]
fn obrol_connect_without_a_port_exits_2_with_one_line() {
    let mut conn = Proc::spawn("obrol-connect", obrol_cmd(&["connect", "127.0.0.1"]));
    let status = conn.wait_exit(EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(2), "{status}\n{}", conn.dump());
    let said: Vec<String> = conn
        .stderr_lines()
        .into_iter()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(said.len(), 1, "{}", conn.dump());
    assert!(conn.lines().is_empty(), "{}", conn.dump());
}

/// When the hub goes away, `obrol connect --no-reconnect` does not exit as if the user had
/// quit: it exits non-zero and says the connection was lost.
#[test]
fn obrol_connect_says_when_the_connection_is_lost() {
    let mut hub = Hub::start();
    let (mut witness, _) = lobby_client("witness", hub.port());
    let addr = format!("127.0.0.1:{}", hub.port());
    let mut conn = Proc::spawn(
        "obrol-connect",
        obrol_cmd(&["connect", &addr, "--no-reconnect"]),
    );
    witness.expect_line(|l| l.ends_with(" joined lobby"), LINE_TIMEOUT);
    hub.proc.signal(libc::SIGKILL);
    hub.proc.wait_exit(EXIT_TIMEOUT);
    let status = conn.wait_exit(EXIT_TIMEOUT);
    assert!(!status.success(), "exited with {status}\n{}", conn.dump());
    let lost = |l: &str| {
        let l = l.to_lowercase();
        l.contains("connection") && l.contains("lost")
    };
    assert!(
        conn.has_line(lost) || conn.stderr_lines().iter().any(|l| lost(l)),
        "nothing says the connection was lost\n{}",
        conn.dump()
    );
}

/// Line mode connects again after the hub dies and comes back on the same port: it says so,
/// takes its nick and rooms back, and what was typed while it was away is said then.
#[test]
fn obrol_connect_reconnects_with_its_nick_and_rooms() {
    let mut hub = Hub::start();
    let port = hub.port();
    let addr = format!("127.0.0.1:{port}");
    let mut conn = Proc::spawn(
        "obrol-connect",
        obrol_cmd(&["connect", &addr, "--nick", "ani", "--room", "dapur"]),
    );
    conn.expect_line(|l| l.starts_with("* you are ani in "), LINE_TIMEOUT);
    conn.expect_line(|l| l.starts_with("* ani joined dapur"), LINE_TIMEOUT);
    conn.send_line("/join kebun");
    conn.expect_line(|l| l.starts_with("* ani joined kebun"), LINE_TIMEOUT);
    hub.proc.signal(libc::SIGKILL);
    hub.proc.wait_exit(EXIT_TIMEOUT);
    let lost = conn.expect_line(|l| l.contains("connecting again in"), LINE_TIMEOUT);
    assert!(lost.starts_with("! connection lost"), "{lost}");
    conn.send_line("tadi terputus");
    conn.expect_line(|l| l.starts_with("! not connected"), LINE_TIMEOUT);
    let dir = common::irc::data_dir("edge", "reconnect");
    let _hub = Hub::start_full(&[&addr], &["--data-dir", dir.to_str().expect("UTF-8")]);
    let long = std::time::Duration::from_secs(40);
    conn.expect_line(|l| l == "! connected again", long);
    conn.expect_line(|l| l.starts_with("* you are ani in "), LINE_TIMEOUT);
    let mut witness = common::irc::plain_client(port, "budi");
    witness.send_line("/who dapur");
    let who = witness.expect_line(|l| l.starts_with("* in dapur ("), LINE_TIMEOUT);
    assert!(who.contains("ani"), "{who}");
    witness.send_line("/join kebun");
    witness.expect_line(|l| l.starts_with("* in kebun ("), LINE_TIMEOUT);
    // The waiting line went out after the rejoins, in kebun (the current room again).
    witness.send_line("/history kebun");
    witness.expect_line(|l| l.ends_with("<ani> tadi terputus"), LINE_TIMEOUT);
    assert!(conn.is_running(), "{}", conn.dump());
    drop(conn);
    let _ = std::fs::remove_dir_all(&dir);
}
