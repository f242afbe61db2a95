//! Queries over IRC (LIST, WHO, WHOIS, WHOWAS, ISON, USERHOST, AWAY, LUSERS, VERSION, ...) and
//! server operators (OPER, KILL, WALLOPS).
//!
//! The hub and the IRC client these tests use are in `common/irc.rs`.

mod common;

use common::irc::{
    command_of, commands, joined, no_privileges, num, numeric_middle, parse_server_time, src,
    trailing, unix_now, Hub, Irc, OPER_ARGS, PLAIN_WELCOME,
};

#[test]
fn list_who_and_whois() {
    let hub = Hub::start();
    let mut a = Irc::register(hub.port(), "a");
    let mut b = Irc::register(hub.port(), "b");
    a.ask("JOIN #a");
    a.ask("TOPIC #a :about a");
    b.ask("JOIN #a");
    b.ask("JOIN #b");
    a.expect_next(&format!("{} JOIN #a", src("b")));
    assert_eq!(
        b.ask("LIST"),
        [
            num("321", "b", "Channel :Users  Name"),
            num("322", "b", "#a 2 :about a"),
            num("322", "b", "#b 1 :"),
            num("323", "b", ":End of /LIST"),
        ]
    );
    assert_eq!(
        b.ask("WHO #a"),
        [
            num("352", "b", "#a a 127.0.0.1 irc.test a H@ :0 Real a"),
            num("352", "b", "#a b 127.0.0.1 irc.test b H :0 Real b"),
            num("315", "b", "#a :End of WHO list"),
        ]
    );
    assert_eq!(
        b.ask("WHO a"),
        [
            num("352", "b", "* a 127.0.0.1 irc.test a H :0 Real a"),
            num("315", "b", "a :End of WHO list"),
        ]
    );
    assert_eq!(
        b.ask("WHO #nowhere"),
        [num("315", "b", "#nowhere :End of WHO list")]
    );

    let whois = a.ask("WHOIS b");
    assert_eq!(
        commands(&whois),
        ["311", "319", "312", "317", "318"],
        "{whois:?}"
    );
    assert_eq!(whois[0], num("311", "a", "b b 127.0.0.1 * :Real b"));
    assert_eq!(whois[1], num("319", "a", "b :#a @#b"));
    assert_eq!(whois[2], num("312", "a", "b irc.test :obrol hub"));
    let idle = numeric_middle(&whois[3]);
    assert_eq!(idle[0], "b");
    let signon: i64 = idle[2].parse().expect("signon");
    assert!(idle[1].parse::<u64>().is_ok() && (signon - unix_now()).abs() <= 60);
    assert!(whois[3].ends_with(" :seconds idle, signon time"));
    assert_eq!(whois[4], num("318", "a", "b :End of /WHOIS list"));
    // WHOIS server nick names the nick last.
    assert_eq!(commands(&a.ask("WHOIS irc.test b"))[0], "311");

    assert_eq!(
        a.ask("WHOIS ghost"),
        [
            num("401", "a", "ghost :No such nick/channel"),
            num("318", "a", "ghost :End of /WHOIS list"),
        ]
    );
    assert_eq!(a.ask("WHOIS"), [num("431", "a", ":No nickname given")]);
}

#[test]
fn ison_userhost_and_away() {
    let hub = Hub::start();
    let mut a = Irc::register(hub.port(), "a");
    let mut b = Irc::register(hub.port(), "b");
    assert_eq!(a.ask("ISON b ghost a"), [num("303", "a", ":b a")]);
    assert_eq!(a.ask("ISON ghost"), [num("303", "a", ":")]);
    assert_eq!(
        a.ask("USERHOST a b ghost"),
        [num("302", "a", ":a=+a@127.0.0.1 b=+b@127.0.0.1")]
    );

    assert_eq!(
        b.ask("AWAY :gone fishing"),
        [num("306", "b", ":You have been marked as being away")]
    );
    // Whoever messages an away user is told so; the message is still delivered.
    assert_eq!(
        a.ask("PRIVMSG b :are you there?"),
        [num("301", "a", "b :gone fishing")]
    );
    b.expect_next(&format!("{} PRIVMSG b :are you there?", src("a")));
    // NOTICE gets no automatic reply.
    assert!(a.ask("NOTICE b :fyi").is_empty());
    b.expect_next(&format!("{} NOTICE b :fyi", src("a")));
    assert_eq!(a.ask("USERHOST b"), [num("302", "a", ":b=-b@127.0.0.1")]);
    assert!(a
        .ask("WHOIS b")
        .contains(&num("301", "a", "b :gone fishing")));
    assert_eq!(
        a.ask("WHO b")[0],
        num("352", "a", "* b 127.0.0.1 irc.test b G :0 Real b")
    );

    assert_eq!(
        b.ask("AWAY"),
        [num("305", "b", ":You are no longer marked as being away")]
    );
    assert!(a.ask("PRIVMSG b :back?").is_empty());
    assert_eq!(a.ask("USERHOST b"), [num("302", "a", ":b=+b@127.0.0.1")]);
}

#[test]
fn server_queries() {
    let hub = Hub::start();
    let mut a = Irc::register(hub.port(), "a");
    let lusers = a.ask("LUSERS");
    assert_eq!(
        lusers.first(),
        Some(&num(
            "251",
            "a",
            ":There are 1 users and 0 invisible on 1 servers"
        ))
    );
    assert_eq!(
        lusers.last(),
        Some(&num("255", "a", ":I have 1 clients and 0 servers"))
    );
    assert!(commands(&lusers)
        .iter()
        .all(|c| ("251"..="255").contains(c)));

    let version = a.ask("VERSION");
    let version_cmds = commands(&version);
    assert_eq!(version_cmds.first().copied(), Some("351"), "{version:?}");
    assert!(
        version_cmds.len() >= 2 && version_cmds[1..].iter().all(|c| *c == "005"),
        "{version:?}"
    );
    assert!(
        version[0].starts_with(":irc.test 351 a obrol-"),
        "{version:?}"
    );
    assert!(numeric_middle(&version[1]).contains(&"CASEMAPPING=ascii"));

    let time = a.ask("TIME");
    assert_eq!(commands(&time), ["391"], "{time:?}");
    assert_eq!(numeric_middle(&time[0]), ["irc.test"]);
    assert!(
        parse_server_time(trailing(&time[0])).is_some_and(|t| (t - unix_now()).abs() <= 60),
        "{time:?}"
    );

    assert_eq!(commands(&a.ask("ADMIN")), ["256", "257", "258", "259"]);
    assert_eq!(commands(&a.ask("INFO")), ["371", "374"]);
    assert_eq!(
        a.ask("LINKS"),
        [
            num("364", "a", "irc.test irc.test :0 obrol hub"),
            num("365", "a", "* :End of /LINKS list"),
        ]
    );
    assert_eq!(
        a.ask("STATS u"),
        [num("219", "a", "u :End of /STATS report")]
    );
    assert_eq!(commands(&a.ask("USERS")), ["446"]);
    let motd = a.ask("MOTD");
    assert_eq!(
        motd,
        [
            num("375", "a", ":- irc.test Message of the day - "),
            num("372", "a", &format!(":- {PLAIN_WELCOME}")),
            num("376", "a", ":End of /MOTD command."),
        ]
    );
    assert_eq!(
        a.ask("WHOWAS ghost"),
        [
            num("406", "a", "ghost :There was no such nickname"),
            num("369", "a", "ghost :End of WHOWAS"),
        ]
    );
}

/// Modern IRC (RPL_LUSEROP, 252): "`<ops>` is a positive integer and represents the number of
/// IRC operators connected to the server"; RFC 2812 3.4.2 (LUSERS) likewise. The hub's 252
/// was once a constant `0 :operator(s) online`, even with an operator connected.
#[test]
fn lusers_counts_connected_operators() {
    let hub = Hub::start_with(&OPER_ARGS);
    let mut op = Irc::register(hub.port(), "op");
    op.ask("OPER admin secret");
    let lusers = op.ask("LUSERS");
    assert!(
        lusers.contains(&num("252", "op", "1 :operator(s) online")),
        "{lusers:?}"
    );
}

#[test]
fn whowas_remembers_quits_and_nick_changes() {
    let hub = Hub::start();
    let port = hub.port();
    let mut a = Irc::register(port, "a");
    let mut b = Irc::register_as(port, "b", "bee", "Bee Real");
    let mut c = Irc::register(port, "c");
    b.send("QUIT :later");
    b.expect_closed();
    assert_eq!(
        a.ask("WHOWAS b"),
        [
            num("314", "a", "b bee 127.0.0.1 * :Bee Real"),
            num("312", "a", "b irc.test :obrol hub"),
            num("369", "a", "b :End of WHOWAS"),
        ]
    );
    // Nicks fold case; the end names the nick as asked.
    assert_eq!(
        a.ask("WHOWAS B"),
        [
            num("314", "a", "b bee 127.0.0.1 * :Bee Real"),
            num("312", "a", "b irc.test :obrol hub"),
            num("369", "a", "B :End of WHOWAS"),
        ]
    );

    assert_eq!(c.ask("NICK cc"), [format!("{} NICK cc", src("c"))]);
    assert_eq!(
        a.ask("WHOWAS c"),
        [
            num("314", "a", "c c 127.0.0.1 * :Real c"),
            num("312", "a", "c irc.test :obrol hub"),
            num("369", "a", "c :End of WHOWAS"),
        ]
    );
    // A nick in use that never left has no history.
    for nick in ["cc", "nobody"] {
        assert_eq!(
            a.ask(&format!("WHOWAS {nick}")),
            [
                num("406", "a", &format!("{nick} :There was no such nickname")),
                num("369", "a", &format!("{nick} :End of WHOWAS")),
            ]
        );
    }
    assert_eq!(
        a.ask("WHOWAS"),
        [num("461", "a", "WHOWAS :Not enough parameters")]
    );
}

/// Modern IRC (WHOWAS): "If there are multiple entries, up to `<count>` replies will be
/// returned (or all of them if no `<count>` parameter is given)." The hub once ignored
/// `<count>`.
#[test]
fn whowas_count_limits_the_entries() {
    let hub = Hub::start();
    let port = hub.port();
    let mut a = Irc::register(port, "a");
    for realname in ["First", "Second"] {
        let mut b = Irc::register_as(port, "b", "b", realname);
        b.send("QUIT");
        b.expect_closed();
    }
    assert_eq!(
        commands(&a.ask("WHOWAS b")),
        ["314", "312", "314", "312", "369"]
    );
    assert_eq!(
        a.ask("WHOWAS b 1"),
        [
            num("314", "a", "b b 127.0.0.1 * :Second"),
            num("312", "a", "b irc.test :obrol hub"),
            num("369", "a", "b :End of WHOWAS"),
        ]
    );
}

#[test]
fn oper_needs_the_right_password_and_shows_in_whois() {
    let hub = Hub::start_with(&OPER_ARGS);
    let mut op = Irc::register(hub.port(), "op");
    let mut u = Irc::register(hub.port(), "u");
    let mismatch = num("464", "op", ":Password incorrect");
    assert_eq!(op.ask("OPER admin wrong"), [mismatch.as_str()]);
    assert_eq!(op.ask("OPER nobody secret"), [mismatch.as_str()]);
    assert!(!u.ask("WHOIS op").iter().any(|l| command_of(l) == "313"));

    assert_eq!(
        op.ask("OPER admin secret"),
        [
            num("381", "op", ":You are now an IRC operator"),
            ":op MODE op :+o".to_owned(),
        ]
    );
    assert_eq!(op.ask("MODE op"), [num("221", "op", "+o")]);
    let whois = u.ask("WHOIS op");
    assert_eq!(
        commands(&whois),
        ["311", "312", "313", "317", "318"],
        "{whois:?}"
    );
    assert_eq!(whois[2], num("313", "u", "op :is an IRC operator"));

    // +o comes from OPER only: asking for it changes nothing.
    let reply = u.ask("MODE u +o");
    assert!(!reply.iter().any(|l| command_of(l) == "MODE"), "{reply:?}");
    assert!(!u.ask("WHOIS u").iter().any(|l| command_of(l) == "313"));
    assert_eq!(u.ask("KILL op :mutiny"), [no_privileges("u")]);

    // -o drops it, and +o does not bring it back.
    assert_eq!(op.ask("MODE op -o"), [":op MODE op :-o"]);
    assert!(!u.ask("WHOIS op").iter().any(|l| command_of(l) == "313"));
    let reply = op.ask("MODE op +o");
    assert!(!reply.iter().any(|l| command_of(l) == "MODE"), "{reply:?}");
    assert_eq!(op.ask("KILL u :bye"), [no_privileges("op")]);
    assert_eq!(op.ask("WALLOPS :hello"), [no_privileges("op")]);
}

#[test]
fn kill_by_an_operator_closes_the_victim() {
    let hub = Hub::start_with(&OPER_ARGS);
    let port = hub.port();
    let mut op = Irc::register(port, "op");
    let mut victim = joined(port, "victim", "#k");
    let mut w = joined(port, "w", "#k");
    assert_eq!(w.ask("KILL victim :no"), [no_privileges("w")]);
    assert_eq!(op.ask("KILL victim :no"), [no_privileges("op")]);

    op.ask("OPER admin secret");
    assert_eq!(
        op.ask("KILL ghost :who?"),
        [num("401", "op", "ghost :No such nick/channel")]
    );
    // The killer shares no channel with the victim: it hears nothing back.
    assert!(op.ask("KILL victim :flooding").is_empty(), "{}", op.dump());
    let last = victim.expect_closed();
    assert_eq!(
        last.last().map(String::as_str),
        Some("ERROR :Closing link: Killed (op (flooding))"),
        "{}",
        victim.dump()
    );
    w.expect_next(&format!("{} QUIT :Killed (op (flooding))", src("victim")));
    // The victim is gone: its nick is free and the channel forgot it.
    assert_eq!(op.ask("ISON victim w"), [num("303", "op", ":w")]);
    assert_eq!(w.ask("NAMES #k")[0], num("353", "w", "= #k :w"));
}

#[test]
fn wallops_reach_operators_and_plus_w_users_only() {
    let hub = Hub::start_with(&OPER_ARGS);
    let port = hub.port();
    let mut op = Irc::register(port, "op");
    let mut w = Irc::register(port, "w");
    let mut n = Irc::register(port, "n");
    assert_eq!(n.ask("WALLOPS :hi all"), [no_privileges("n")]);
    assert_eq!(w.ask("MODE w +w"), [":w MODE w :+w"]);
    assert_eq!(w.ask("MODE w"), [num("221", "w", "+w")]);

    op.ask("OPER admin secret");
    let wall = format!("{} WALLOPS :going down soon", src("op"));
    // Operators receive WALLOPS too, so op gets its own.
    assert_eq!(op.ask("WALLOPS :going down soon"), [wall.as_str()]);
    w.expect_next(&wall);
    assert!(n.sync().is_empty(), "{}", n.dump());

    assert_eq!(w.ask("MODE w -w"), [":w MODE w :-w"]);
    let wall = format!("{} WALLOPS :second", src("op"));
    assert_eq!(op.ask("WALLOPS :second"), [wall.as_str()]);
    assert!(w.sync().is_empty(), "{}", w.dump());
    assert!(n.sync().is_empty(), "{}", n.dump());
}

// ---------------------------------------------------------------------------------------------
// Conformance (issue 9): what the specs say, checked line by line. Each test's comment names
// the deviation the hub once had.
// ---------------------------------------------------------------------------------------------

/// The fields of a 352 line after its target, `[channel, user, host, server, nick, flags]`, and
/// its trailing `hopcount realname`.
#[track_caller]
fn who_fields(line: &str) -> (Vec<&str>, &str) {
    assert_eq!(command_of(line), "352", "not a WHO reply: {line:?}");
    let fields = numeric_middle(line);
    assert_eq!(fields.len(), 6, "{line:?}");
    (fields, trailing(line))
}

/// Modern IRC (RPL_WHOREPLY, 352): "`<flags>` contains the following characters, in this
/// order: Away status: the letter H ('H', 0x48) to indicate that the user is here, or the letter
/// G ('G', 0x47) to indicate that the user is gone. Optionally, a literal asterisk character
/// ('*', 0x2A) to indicate that the user is a server operator. Optionally, the highest channel
/// membership prefix that the client has in `<channel>`, if the client has one." IRCv3
/// multi-prefix: the capability "will cause the IRC server to send all possible prefixes which
/// apply to a user in NAMES and WHO output. These prefixes MUST be in order of 'rank', from
/// highest to lowest" (its example: `H@%+`). The hub once left out the `*` of server operators
/// and shows only the highest prefix even with multi-prefix.
#[test]
fn who_flags_are_away_then_operator_then_prefixes() {
    let hub = Hub::start_with(&OPER_ARGS);
    let port = hub.port();
    let mut o = joined(port, "o", "#w");
    o.ask("OPER admin secret");
    let mut v = joined(port, "v", "#w");
    let mut g = joined(port, "g", "#w");
    let mut q = joined(port, "q", "#w");
    o.ask("MODE #w +v o");
    o.ask("MODE #w +v v");
    g.ask("AWAY :gone");
    v.sync();
    q.sync();
    let who_w = |me: &str, o_flags: &str| {
        vec![
            num(
                "352",
                me,
                &format!("#w o 127.0.0.1 irc.test o {o_flags} :0 Real o"),
            ),
            num("352", me, "#w v 127.0.0.1 irc.test v H+ :0 Real v"),
            num("352", me, "#w g 127.0.0.1 irc.test g G :0 Real g"),
            num("352", me, "#w q 127.0.0.1 irc.test q H :0 Real q"),
            num("315", me, "#w :End of WHO list"),
        ]
    };
    // o is an operator of the server (`*`), of the channel (`@`) and voiced (`+`).
    assert_eq!(q.ask("WHO #w"), who_w("q", "H*@"));
    // Asked by nick, the reply names no channel, so no channel prefix.
    assert_eq!(
        q.ask("WHO o"),
        [
            num("352", "q", "* o 127.0.0.1 irc.test o H* :0 Real o"),
            num("315", "q", "o :End of WHO list"),
        ]
    );
    // With multi-prefix, every prefix, highest first.
    q.ask("CAP REQ :multi-prefix");
    assert_eq!(q.ask("WHO #w"), who_w("q", "H*@+"));
}

/// Modern IRC (WHO message): the mask can be "A mask pattern, in which case all visible users
/// whose nickname matches are listed", and "Visible users are users who either aren't invisible
/// (user mode +i) or have a common channel with the requesting client." Invisible User Mode:
/// invisible users "will not show up in commands such as WHO or NAMES unless they share a
/// channel with the user that submitted the command". RPL_WHOREPLY: "If the WHO command was
/// given a channel as the `<mask>` parameter, then the same channel MUST be returned in
/// `<channel>`. Otherwise `<channel>` is an arbitrary channel the client is joined to or a
/// literal asterisk". RFC 2812 3.6.1 (WHO): a mask "0" "or any wildcard which will end up
/// matching every visible user" lists all visible users. The hub once answered `WHO *` with an empty
/// list and shows invisible users to everyone.
#[test]
fn who_star_lists_the_visible_users_and_never_unshared_invisible_ones() {
    let hub = Hub::start();
    let port = hub.port();
    let mut a = joined(port, "a", "#s");
    let mut b = Irc::register(port, "b");
    let mut c = Irc::register(port, "c");
    let mut d = Irc::register(port, "d");
    for x in [&mut c, &mut d] {
        let me = x.name.clone();
        assert_eq!(
            x.ask(&format!("MODE {me} +i")),
            [format!(":{me} MODE {me} :+i")]
        );
    }
    d.ask("JOIN #s");
    a.sync();
    let _ = b.sync();

    // a sees itself, b (visible) and d (invisible, but in #s with a); not c.
    let reply = a.ask("WHO *");
    assert_eq!(
        reply.last(),
        Some(&num("315", "a", "* :End of WHO list")),
        "{reply:?}"
    );
    let mut nicks: Vec<&str> = Vec::new();
    for line in &reply[..reply.len() - 1] {
        let (f, rest) = who_fields(line);
        let nick = f[4];
        nicks.push(nick);
        assert_eq!(
            (f[1], f[2], f[3], rest),
            (
                nick,
                "127.0.0.1",
                "irc.test",
                format!("0 Real {nick}").as_str()
            ),
            "{line:?}"
        );
        match nick {
            // In no channel: `*` and no prefix.
            "b" => assert_eq!(
                line,
                &num("352", "a", "* b 127.0.0.1 irc.test b H :0 Real b")
            ),
            // a and d share #s (a is its operator).
            _ => assert!(
                [("*", "H"), ("#s", if nick == "a" { "H@" } else { "H" })].contains(&(f[0], f[5])),
                "{line:?}"
            ),
        }
    }
    nicks.sort_unstable();
    assert_eq!(nicks, ["a", "b", "d"], "{reply:?}");

    // b shares no channel with c or d: they are invisible to it, a is not.
    let reply = b.ask("WHO *");
    let seen: Vec<&str> = reply
        .iter()
        .filter(|l| command_of(l) == "352")
        .map(|l| who_fields(l).0[4])
        .collect();
    assert!(seen.contains(&"a") && seen.contains(&"b"), "{reply:?}");
    assert!(!seen.contains(&"c") && !seen.contains(&"d"), "{reply:?}");
    // Asked for #s from outside, the channel's invisible member is left out.
    assert_eq!(
        b.ask("WHO #s"),
        [
            num("352", "b", "#s a 127.0.0.1 irc.test a H@ :0 Real a"),
            num("315", "b", "#s :End of WHO list"),
        ]
    );
}

/// Modern IRC (RPL_LUSERCLIENT, 251): `"<client> :There are <u> users and <i> invisible on <s>
/// servers"`, "<u>, <i>, and <s> are non-negative integers, and represent the number of total
/// users, invisible users, and other servers"; RPL_LUSERUNKNOWN (253): `"<client> <connections>
/// :unknown connection(s)"`, "the number of connections to this server that are currently in
/// an unknown state"; LUSERS: "Servers MUST reply with RPL_LUSERCLIENT and RPL_LUSERME, and
/// SHOULD also include all those defined below." As in ircd-ratbox, InspIRCd and Ergo, `<u>`
/// counts the users who are not invisible. The hub once counted no invisible users and sent no 253.
#[test]
fn lusers_counts_invisible_users_and_unknown_connections() {
    let hub = Hub::start();
    let port = hub.port();
    let mut a = Irc::register(port, "a");
    let mut b = Irc::register(port, "b");
    b.ask("MODE b +i");
    // An IRC connection that has not finished registering; its PONG proves the hub has it.
    let mut half = Irc::connect("half", port);
    half.send("NICK half");
    half.send("PING :here");
    half.expect_next(":irc.test PONG irc.test :here");

    let lusers = a.ask("LUSERS");
    assert!(
        lusers.contains(&num(
            "251",
            "a",
            ":There are 1 users and 1 invisible on 1 servers"
        )),
        "{lusers:?}"
    );
    assert!(
        lusers.contains(&num("253", "a", "1 :unknown connection(s)")),
        "{lusers:?}"
    );
    let codes = commands(&lusers);
    let mut sorted = codes.clone();
    sorted.sort_unstable();
    assert_eq!(codes, sorted, "LUSERS numerics in order: {lusers:?}");
    assert_eq!(
        (codes.first(), codes.last()),
        (Some(&"251"), Some(&"255")),
        "{lusers:?}"
    );

    // Once it registers, there is no unknown connection left, and no 253.
    half.send("USER half 0 * :Half");
    half.expect_line(&num("376", "half", ":End of /MOTD command."));
    let lusers = a.ask("LUSERS");
    assert!(
        lusers.contains(&num(
            "251",
            "a",
            ":There are 2 users and 1 invisible on 1 servers"
        )),
        "{lusers:?}"
    );
    assert!(!commands(&lusers).contains(&"253"), "{lusers:?}");
}

/// Modern IRC (RPL_LINKS, 364): `"<client> * <server> :<hopcount> <server info>"`, where
/// "`<server info>` is a string containing a description of that server"; RFC 2812 5.1 (364):
/// `"<mask> <server> :<hopcount> <server info>"`. `obrol serve --help` has no option for the
/// description (it is always `obrol hub`); this test names it `--description`.
#[test]
fn links_shows_the_configured_server_description() {
    let hub = Hub::start_with(&["--description", "Hub for the tests"]);
    let mut a = Irc::register(hub.port(), "a");
    assert_eq!(
        a.ask("LINKS"),
        [
            num("364", "a", "irc.test irc.test :0 Hub for the tests"),
            num("365", "a", "* :End of /LINKS list"),
        ]
    );
}
