//! Registration over IRC: the welcome burst (001-005, LUSERS, MOTD), capability negotiation
//! holding registration, nick errors, PING/PONG, QUIT, nick changes and the hub's timers.
//!
//! The hub and the IRC client these tests use are in `common/irc.rs`.

mod common;

use common::irc::{
    command_of, commands, num, numeric_middle, src, Hub, Irc, ALL_CAPS, PLAIN_WELCOME, SERVER,
};

#[test]
fn registration_sends_welcome_isupport_lusers_and_motd() {
    let hub = Hub::start();
    let mut a = Irc::connect("a", hub.port());
    a.send("NICK a");
    a.send("USER a 0 * :Real A");
    let lines = a.until(|l| command_of(l) == "376", "end of MOTD");
    let codes = commands(&lines);
    assert_eq!(
        codes[..5],
        ["001", "002", "003", "004", "005"],
        "registration must open with 001-005\n{}",
        a.dump()
    );
    assert_eq!(
        lines[0],
        num("001", "a", ":Welcome to the obrol IRC network, a")
    );
    assert!(
        lines[1].starts_with(":irc.test 002 a :Your host is irc.test"),
        "{}",
        a.dump()
    );
    assert_eq!(numeric_middle(&lines[3])[0], SERVER, "004 names the server");
    let tokens: Vec<&str> = lines
        .iter()
        .filter(|l| command_of(l) == "005")
        .flat_map(|l| numeric_middle(l))
        .collect();
    for want in [
        "CASEMAPPING=ascii",
        "CHANTYPES=#",
        "PREFIX=(ov)@+",
        "NICKLEN=30",
    ] {
        assert!(
            tokens.contains(&want),
            "005 lacks {want}: {tokens:?}\n{}",
            a.dump()
        );
    }
    for l in lines.iter().filter(|l| command_of(l) == "005") {
        assert!(l.ends_with(" :are supported by this server"), "{l}");
    }
    // LUSERS: 251 first and 255 last (252-254 may be left out when zero), then the MOTD.
    let lusers: Vec<&str> = codes
        .iter()
        .copied()
        .filter(|c| ("251"..="255").contains(c))
        .collect();
    assert_eq!(lusers.first(), Some(&"251"), "{}", a.dump());
    assert_eq!(lusers.last(), Some(&"255"), "{}", a.dump());
    let pos = |code: &str| codes.iter().position(|c| *c == code).expect(code);
    assert!(pos("005") < pos("251") && pos("255") < pos("375"));
    assert_eq!(codes.last(), Some(&"376"));
    assert!(codes[pos("375") + 1..codes.len() - 1]
        .iter()
        .all(|c| *c == "372"));
    assert!(
        lines.contains(&num(
            "251",
            "a",
            ":There are 1 users and 0 invisible on 1 servers"
        )),
        "{}",
        a.dump()
    );
    assert!(lines.contains(&num("372", "a", &format!(":- {PLAIN_WELCOME}"))));
    // Registered: commands work now.
    assert_eq!(
        a.ask("JOIN #r"),
        [
            format!("{} JOIN #r", src("a")),
            num("353", "a", "= #r :@a"),
            num("366", "a", "#r :End of /NAMES list"),
        ]
    );
}

#[test]
fn registration_advertises_channel_modes_in_004_and_isupport() {
    let hub = Hub::start();
    let mut a = Irc::connect("a", hub.port());
    a.send("NICK a");
    a.send("USER a 0 * :Real A");
    let lines = a.until(|l| command_of(l) == "376", "end of MOTD");
    let version = concat!("obrol-", env!("CARGO_PKG_VERSION"));
    assert_eq!(
        lines.iter().find(|l| command_of(l) == "004"),
        Some(&num(
            "004",
            "a",
            &format!("irc.test {version} iow biklmnostv bklov")
        )),
        "{}",
        a.dump()
    );
    let tokens: Vec<&str> = lines
        .iter()
        .filter(|l| command_of(l) == "005")
        .flat_map(|l| numeric_middle(l))
        .collect();
    for want in ["CHANMODES=b,k,l,imnst", "MAXLIST=b:100", "PREFIX=(ov)@+"] {
        assert!(
            tokens.contains(&want),
            "005 lacks {want}: {tokens:?}\n{}",
            a.dump()
        );
    }
}

/// Modern IRC (RPL_ISUPPORT): "As the maximum number of message parameters to any reply is 15,
/// the maximum number of RPL_ISUPPORT tokens that can be advertised is 13." RFC 2812 2.3.1
/// allows at most 15 parameters. The hub once sent 14 tokens in one 005 (16 parameters).
#[test]
fn isupport_lines_carry_at_most_13_tokens() {
    let hub = Hub::start();
    let mut a = Irc::connect("a", hub.port());
    a.send("NICK a");
    a.send("USER a 0 * :Real A");
    let lines = a.until(|l| command_of(l) == "376", "end of MOTD");
    for l in lines.iter().filter(|l| command_of(l) == "005") {
        let tokens = numeric_middle(l);
        assert!(tokens.len() <= 13, "{} tokens in {l}", tokens.len());
    }
}

#[test]
fn cap_negotiation_holds_registration_until_cap_end() {
    let hub = Hub::start();
    let mut a = Irc::connect("a", hub.port());
    a.send("CAP LS 302");
    a.send("NICK a");
    a.send("USER a 0 * :Real A");
    a.expect_next(&format!(":irc.test CAP * LS :{ALL_CAPS}"));
    // NICK and USER are in, but registration waits for CAP END.
    let before = a.sync();
    assert!(
        !before.iter().any(|l| command_of(l) == "001"),
        "registered before CAP END\n{}",
        a.dump()
    );
    assert_eq!(
        a.ask("CAP REQ :multi-prefix"),
        [":irc.test CAP a ACK :multi-prefix"]
    );
    assert_eq!(a.ask("CAP REQ :bogus"), [":irc.test CAP a NAK :bogus"]);
    // All or nothing: one unknown capability refuses the whole request.
    assert_eq!(
        a.ask("CAP REQ :server-time bogus"),
        [":irc.test CAP a NAK :server-time bogus"]
    );
    // 302 implies cap-notify.
    assert_eq!(
        a.ask("CAP LIST"),
        [":irc.test CAP a LIST :cap-notify multi-prefix"]
    );
    assert!(
        !a.received.iter().any(|l| command_of(l) == "001"),
        "registered before CAP END\n{}",
        a.dump()
    );
    a.send("CAP END");
    a.expect_next(&num("001", "a", ":Welcome to the obrol IRC network, a"));
    a.expect_line(&num("376", "a", ":End of /MOTD command."));
    // The negotiated multi-prefix is in force: NAMES shows both prefixes.
    a.ask("JOIN #c");
    a.ask("MODE #c +v a");
    assert_eq!(
        a.ask("NAMES #c"),
        [
            num("353", "a", "= #c :@+a"),
            num("366", "a", "#c :End of /NAMES list"),
        ]
    );
    // Without 302, LS is still answered.
    let mut b = Irc::connect("b", hub.port());
    b.send("CAP LS");
    b.expect_next(&format!(":irc.test CAP * LS :{ALL_CAPS}"));
}

#[test]
fn nick_in_use_gets_433_and_registration_proceeds_after_a_new_nick() {
    let hub = Hub::start();
    let _a = Irc::register(hub.port(), "a");
    let mut b = Irc::connect("b", hub.port());
    b.send("NICK a");
    b.send("USER b 0 * :Real b");
    b.expect_next(&num("433", "*", "a :Nickname is already in use"));
    assert!(!b.sync().iter().any(|l| command_of(l) == "001"));
    // Case-insensitively taken too (CASEMAPPING=ascii).
    b.send("NICK A");
    b.expect_next(&num("433", "*", "A :Nickname is already in use"));
    b.send("NICK b");
    b.expect_next(&num("001", "b", ":Welcome to the obrol IRC network, b"));
    b.expect_line(&num("376", "b", ":End of /MOTD command."));
}

#[test]
fn erroneous_nicks_get_432() {
    let hub = Hub::start();
    let mut a = Irc::connect("a", hub.port());
    let long = "n".repeat(31);
    for bad in ["1abc", "-dash", "a.b", long.as_str()] {
        a.send(&format!("NICK {bad}"));
        a.expect_next(&num("432", "*", &format!("{bad} :Erroneous nickname")));
    }
    a.send("NICK");
    a.expect_next(&num("431", "*", ":No nickname given"));
    // 30 bytes is the limit (NICKLEN=30), and is fine.
    let ok = "n".repeat(30);
    a.send(&format!("NICK {ok}"));
    a.send("USER a 0 * :Real A");
    a.expect_next(&num(
        "001",
        &ok,
        &format!(":Welcome to the obrol IRC network, {ok}"),
    ));
    a.expect_line(&num("376", &ok, ":End of /MOTD command."));
    // After registration too.
    assert_eq!(
        a.ask("NICK 9lives"),
        [num("432", &ok, "9lives :Erroneous nickname")]
    );
}

#[test]
fn commands_before_registration_get_451() {
    let hub = Hub::start();
    let mut a = Irc::connect("a", hub.port());
    a.send("NICK a");
    for cmd in ["JOIN #a", "PRIVMSG #a :hi", "LIST", "WHOIS a"] {
        let lines = a.ask(cmd);
        assert_eq!(lines.len(), 1, "{cmd}: {lines:?}");
        assert!(
            lines[0].starts_with(":irc.test 451 ")
                && lines[0].ends_with(" :You have not registered"),
            "{cmd}: {lines:?}"
        );
    }
    a.send("USER a 0 * :Real A");
    a.expect_next(&num("001", "a", ":Welcome to the obrol IRC network, a"));
    a.expect_line(&num("376", "a", ":End of /MOTD command."));
    // Nothing of what was refused happened.
    assert_eq!(
        a.ask("LIST"),
        [
            num("321", "a", "Channel :Users  Name"),
            num("323", "a", ":End of /LIST"),
        ]
    );
}

#[test]
fn ping_is_answered_before_and_after_registration() {
    let hub = Hub::start();
    let mut a = Irc::connect("a", hub.port());
    a.send("NICK a");
    a.send("PING :before-reg");
    a.expect_next(":irc.test PONG irc.test :before-reg");
    a.send("PING token2");
    a.expect_next(":irc.test PONG irc.test :token2");
    a.send("USER a 0 * :Real A");
    a.expect_line(&num("376", "a", ":End of /MOTD command."));
    a.send("PING :after reg");
    a.expect_next(":irc.test PONG irc.test :after reg");
    a.send("PING");
    a.expect_next(&num("461", "a", "PING :Not enough parameters"));
    // A PONG from the client is accepted silently.
    assert_eq!(a.ask("PONG :irc.test"), Vec::<String>::new());
}

#[test]
fn quit_before_registration_gets_error_and_close() {
    let hub = Hub::start();
    let mut a = Irc::connect("a", hub.port());
    a.send("NICK a");
    a.send("QUIT :not staying");
    let lines = a.expect_closed();
    assert_eq!(lines, ["ERROR :Closing link: not staying"], "{}", a.dump());
}

/// RFC 2812 3.1.7 and Modern IRC (QUIT): "The server acknowledges this by replying with an
/// ERROR message and closing the connection". A registered client's QUIT closes the connection
/// with no ERROR line: the connection closes its outbox at once, before the router has
/// delivered the ERROR (or any other reply still on its way through the router).
#[test]
fn quit_after_registration_gets_error_line() {
    let hub = Hub::start();
    let mut a = Irc::register(hub.port(), "a");
    a.send("QUIT :bye now");
    let lines = a.expect_closed();
    assert!(
        lines.iter().any(|l| l.starts_with("ERROR ")),
        "no ERROR before the close\n{}",
        a.dump()
    );
}

#[test]
fn quit_closes_the_connection_and_others_see_quit() {
    let hub = Hub::start();
    let mut a = Irc::register(hub.port(), "a");
    let mut b = Irc::register(hub.port(), "b");
    a.ask("JOIN #q");
    b.ask("JOIN #q");
    a.expect_next(&format!("{} JOIN #q", src("b")));
    b.send("QUIT :see you");
    b.expect_closed();
    a.expect_next(&format!("{} QUIT :Quit: see you", src("b")));
    // The nick is free again.
    let _b2 = Irc::register(hub.port(), "b");
    assert_eq!(a.ask("NAMES #q")[0], num("353", "a", "= #q :@a"));
}

#[test]
fn nick_change_after_registration_is_seen_by_channel_members() {
    let hub = Hub::start();
    let mut a = Irc::register(hub.port(), "a");
    let mut b = Irc::register(hub.port(), "b");
    a.ask("JOIN #n");
    b.ask("JOIN #n");
    a.sync();
    assert_eq!(
        a.ask("NICK b"),
        [num("433", "a", "b :Nickname is already in use")]
    );
    assert_eq!(a.ask("NICK alpha"), [format!("{} NICK alpha", src("a"))]);
    b.expect_next(&format!("{} NICK alpha", src("a")));
    // The old nick is free, and the new one answers.
    assert_eq!(a.ask("ISON a alpha"), [num("303", "alpha", ":alpha")]);
    assert!(b.ask("PRIVMSG alpha :hi").is_empty());
    a.expect_next(":b!b@127.0.0.1 PRIVMSG alpha :hi");
}

/// Modern IRC (Numerics): the first parameter of a numeric is the client's nick. After a NICK
/// change the router refuses (433), the IRC session keeps the refused nick, so every numeric
/// made at the connection's edge (421, 461, 417, VERSION, MOTD, ...) is addressed to a nick the
/// client does not have.
#[test]
fn refused_nick_change_keeps_numerics_addressed_to_the_real_nick() {
    let hub = Hub::start();
    let mut a = Irc::register(hub.port(), "a");
    let _b = Irc::register(hub.port(), "b");
    assert_eq!(
        a.ask("NICK b"),
        [num("433", "a", "b :Nickname is already in use")]
    );
    assert_eq!(a.ask("FROB"), [num("421", "a", "FROB :Unknown command")]);
}

/// A registered client that stops answering is pinged after `--ping-secs` of silence and
/// dropped after as long again; one that answers PING stays.
#[test]
fn silent_clients_are_pinged_and_dropped() {
    let hub = Hub::start_with(&["--ping-secs", "1"]);
    let mut quiet = Irc::register(hub.port(), "quiet");
    let mut alive = Irc::register(hub.port(), "alive");
    alive.ask("JOIN #p");
    quiet.ask("JOIN #p");
    alive.expect_next(":quiet!quiet@127.0.0.1 JOIN #p");
    // `alive` answers the hub's PING; `quiet` never does.
    let ping = alive.expect(|l| l == "PING :irc.test", "PING from the hub");
    assert_eq!(ping, "PING :irc.test");
    alive.send("PONG :irc.test");
    quiet.expect(|l| l == "PING :irc.test", "PING from the hub");
    let last = quiet.expect_closed();
    assert!(
        last.iter()
            .any(|l| l.starts_with("ERROR :Closing link: Ping timeout")),
        "{last:?}"
    );
    alive.expect(
        |l| l == ":quiet!quiet@127.0.0.1 QUIT :Ping timeout",
        "QUIT of the silent client",
    );
    alive.send("PONG :irc.test");
    assert!(alive.ask("TIME").len() == 1, "the answering client stays");
}

/// A connection that never finishes registering is closed after `--register-secs`.
#[test]
fn unregistered_connections_time_out() {
    let hub = Hub::start_with(&["--register-secs", "1"]);
    let mut half = Irc::connect("half", hub.port());
    half.send("NICK half");
    let last = half.expect_closed();
    assert!(
        last.iter()
            .any(|l| l == "ERROR :Closing link: registration timed out"),
        "{last:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Conformance (issue 9): what the specs say, checked line by line. Each test's comment names
// the deviation the hub once had.
// ---------------------------------------------------------------------------------------------

/// Modern IRC (USER message): `<username> 0 * <realname>`, and "The minimum length of
/// `<username>` is 1, ie. it MUST NOT be empty. If it is empty, the server SHOULD reject the
/// command with ERR_NEEDMOREPARAMS (even if an empty parameter is provided)"; ERR_NEEDMOREPARAMS
/// (461): `"<client> <command> :Not enough parameters"`. irctest's `testEmptyRealname` (citing
/// modern-irc issue 85) applies the same to an empty `<realname>`: `USER username * * :` is
/// 461 with the client `*` or the nick. The hub once registered the client with an empty real name.
#[test]
fn user_with_an_empty_realname_gets_461() {
    let hub = Hub::start();
    let mut c = Irc::connect("foo", hub.port());
    c.send("NICK foo");
    c.send("USER foo 0 * :");
    let reply = c.sync();
    assert_eq!(reply.len(), 1, "{}", c.dump());
    assert!(
        [
            num("461", "*", "USER :Not enough parameters"),
            num("461", "foo", "USER :Not enough parameters"),
        ]
        .contains(&reply[0]),
        "{}",
        c.dump()
    );
    // Not registered by it: a proper USER registers.
    c.send("USER foo 0 * :Real Foo");
    c.expect_next(&num("001", "foo", ":Welcome to the obrol IRC network, foo"));
    c.expect_line(&num("376", "foo", ":End of /MOTD command."));
}
