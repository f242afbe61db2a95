//! Channel and user modes over IRC: operators and voice, bans, keys, limits, invite-only,
//! moderated and secret channels, and the MODE query.
//!
//! The hub and the IRC client these tests use are in `common/irc.rs`.

mod common;

use common::irc::{
    command_of, commands, joined, mode_line, num, numeric_middle, src, unix_now, Hub, Irc,
};

#[test]
fn channel_and_user_modes() {
    let hub = Hub::start();
    let mut a = Irc::register(hub.port(), "a");
    let mut b = Irc::register(hub.port(), "b");
    a.ask("JOIN #m");
    b.ask("JOIN #m");
    a.expect_next(&format!("{} JOIN #m", src("b")));

    let modes = b.ask("MODE #m");
    assert_eq!(modes.len(), 2, "{modes:?}");
    assert_eq!(modes[0], num("324", "b", "#m +nt"));
    assert_eq!(command_of(&modes[1]), "329");
    let created: i64 = numeric_middle(&modes[1])[1].parse().expect("329 time");
    assert!((created - unix_now()).abs() <= 60, "{modes:?}");

    // Only operators change channel modes.
    assert_eq!(
        b.ask("MODE #m +v b"),
        [num("482", "b", "#m :You're not channel operator")]
    );
    assert_eq!(
        a.ask("MODE #m +v b"),
        [format!("{} MODE #m +v b", src("a"))]
    );
    b.expect_next(&format!("{} MODE #m +v b", src("a")));
    assert_eq!(
        b.ask("NAMES #m"),
        [
            num("353", "b", "= #m :@a +b"),
            num("366", "b", "#m :End of /NAMES list"),
        ]
    );
    assert_eq!(
        a.ask("MODE #m +o b"),
        [format!("{} MODE #m +o b", src("a"))]
    );
    b.expect_next(&format!("{} MODE #m +o b", src("a")));
    // Without multi-prefix only the highest prefix shows; with it, both.
    assert_eq!(b.ask("NAMES #m")[0], num("353", "b", "= #m :@a @b"));
    b.ask("CAP REQ :multi-prefix");
    assert_eq!(b.ask("NAMES #m")[0], num("353", "b", "= #m :@a @+b"));
    b.ask("CAP REQ :userhost-in-names");
    assert_eq!(
        b.ask("NAMES #m")[0],
        num("353", "b", "= #m :@a!a@127.0.0.1 @+b!b@127.0.0.1")
    );
    // Now an operator, b may change modes.
    assert_eq!(b.ask("MODE #m -t"), [format!("{} MODE #m -t", src("b"))]);
    a.expect_next(&format!("{} MODE #m -t", src("b")));
    assert_eq!(a.ask("MODE #m")[0], num("324", "a", "#m +n"));
    assert_eq!(
        a.ask("MODE #m +x"),
        [num("472", "a", "x :is unknown mode char to me")]
    );
    // 441 is for a nick that exists but is not in the channel (a nick that does not exist at
    // all is 401: see mode_o_of_an_unknown_nick_is_401_and_of_a_non_member_441).
    let _outsider = Irc::register(hub.port(), "outsider");
    assert_eq!(
        a.ask("MODE #m +o outsider"),
        [num("441", "a", "outsider #m :They aren't on that channel")]
    );

    // User modes: only one's own.
    let set = a.ask("MODE a +i");
    assert_eq!(set.len(), 1, "{set:?}");
    assert!(
        set[0].starts_with(":a") && set[0].ends_with(" MODE a :+i"),
        "{set:?}"
    );
    assert_eq!(a.ask("MODE a"), [num("221", "a", "+i")]);
    let refused = a.ask("MODE b");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].starts_with(":irc.test 502 a :"), "{refused:?}");
    let refused = a.ask("MODE b +i");
    assert!(refused[0].starts_with(":irc.test 502 a :"), "{refused:?}");
}

/// RFC 2812 3.1.5 (user MODE) lists ERR_UMODEUNKNOWNFLAG (501) for an unknown user mode flag;
/// Modern IRC (MODE, user mode): "If one or more modes sent are not implemented on the server,
/// the server MUST apply the modes that are implemented, and then send the
/// ERR_UMODEUNKNOWNFLAG (501) in reply along with the MODE message." The hub once answered
/// the unknown one with 472 ERR_UNKNOWNMODE, the channel-mode numeric.
#[test]
fn unknown_user_mode_gets_501() {
    let hub = Hub::start();
    let mut a = Irc::register(hub.port(), "a");
    let reply = a.ask("MODE a +wz");
    assert!(reply.contains(&":a MODE a :+w".to_owned()), "{reply:?}");
    assert!(
        reply.iter().any(|l| command_of(l) == "501"),
        "no 501 in {reply:?}"
    );
    assert!(!reply.iter().any(|l| command_of(l) == "472"), "{reply:?}");
}

#[test]
fn ban_masks_are_completed_listed_and_removed() {
    let hub = Hub::start();
    let mut op = joined(hub.port(), "op", "#c");
    let mut m = joined(hub.port(), "m", "#c");
    op.expect_next(&format!("{} JOIN #c", src("m")));

    // A bare nick becomes nick!*@*, user@host becomes *!user@host, nick!user gets @*.
    for (given, stored) in [
        ("bad", "bad!*@*"),
        ("*@1.2.3.4", "*!*@1.2.3.4"),
        ("x!y", "x!y@*"),
    ] {
        let line = mode_line("op", "#c", &format!("+b {stored}"));
        assert_eq!(op.ask(&format!("MODE #c +b {given}")), [line.as_str()]);
        m.expect_next(&line);
    }
    // The same mask again (in any case) changes nothing.
    assert!(op.ask("MODE #c +b BAD!*@*").is_empty(), "{}", op.dump());
    assert!(m.sync().is_empty(), "{}", m.dump());

    // Any member may list the bans, with or without the +.
    let list = [
        num("367", "m", "#c bad!*@*"),
        num("367", "m", "#c *!*@1.2.3.4"),
        num("367", "m", "#c x!y@*"),
        num("368", "m", "#c :End of channel ban list"),
    ];
    assert_eq!(m.ask("MODE #c b"), list);
    assert_eq!(m.ask("MODE #c +b"), list);
    // Only operators change them.
    assert_eq!(
        m.ask("MODE #c +b evil"),
        [num("482", "m", "#c :You're not channel operator")]
    );
    assert_eq!(
        m.ask("MODE #c -b bad"),
        [num("482", "m", "#c :You're not channel operator")]
    );
    assert!(op.sync().is_empty(), "{}", op.dump());

    // -b takes the same short forms.
    let unban = mode_line("op", "#c", "-b bad!*@*");
    assert_eq!(op.ask("MODE #c -b bad"), [unban.as_str()]);
    m.expect_next(&unban);
    // Removing a mask that is not there changes nothing.
    assert!(op.ask("MODE #c -b nobody").is_empty(), "{}", op.dump());
    assert_eq!(
        op.ask("MODE #c b"),
        [
            num("367", "op", "#c *!*@1.2.3.4"),
            num("367", "op", "#c x!y@*"),
            num("368", "op", "#c :End of channel ban list"),
        ]
    );
}

#[test]
fn banned_users_cannot_join_and_masks_match_case_insensitively() {
    let hub = Hub::start();
    let port = hub.port();
    let mut op = joined(port, "op", "#c");
    op.ask("MODE #c +b BAD*");
    op.ask("MODE #c +b *!EV?L@127.0.0.*");
    assert_eq!(op.ask("MODE #c b").len(), 3, "{}", op.dump());

    // `BAD*!*@*` matches the nick badger, whatever the case of either.
    let mut badger = Irc::register(port, "badger");
    assert_eq!(
        badger.ask("JOIN #c"),
        [num("474", "badger", "#c :Cannot join channel (+b)")]
    );
    // `*!EV?L@127.0.0.*` matches the user name `evil` (and the room keeps its spelling).
    let mut nice = Irc::register_as(port, "nice", "evil", "Nice Person");
    assert_eq!(
        nice.ask("JOIN #C"),
        [num("474", "nice", "#c :Cannot join channel (+b)")]
    );
    // Masks are anchored, and `?` is exactly one character.
    let mut abad = Irc::register(port, "abad");
    assert_eq!(commands(&abad.ask("JOIN #c")), ["JOIN", "353", "366"]);
    op.expect_next(&format!("{} JOIN #c", src("abad")));
    let mut evl = Irc::register_as(port, "evl", "evl", "Evl");
    assert_eq!(commands(&evl.ask("JOIN #c")), ["JOIN", "353", "366"]);
    op.expect_next(":evl!evl@127.0.0.1 JOIN #c");
    // Nothing of the banned two reached the channel.
    assert!(op.sync().is_empty(), "{}", op.dump());

    // Once the ban is lifted, badger gets in.
    let unban = mode_line("op", "#c", "-b BAD*!*@*");
    assert_eq!(op.ask("MODE #c -b BAD*!*@*"), [unban.as_str()]);
    assert_eq!(commands(&badger.ask("JOIN #c")), ["JOIN", "353", "366"]);
    op.expect_next(&format!("{} JOIN #c", src("badger")));
    // The other ban still holds.
    assert_eq!(
        nice.ask("JOIN #c"),
        [num("474", "nice", "#c :Cannot join channel (+b)")]
    );
}

#[test]
fn banned_members_cannot_speak_unless_voiced_or_op() {
    let hub = Hub::start();
    let mut op = joined(hub.port(), "op", "#c");
    let mut b = joined(hub.port(), "b", "#c");
    op.expect_next(&format!("{} JOIN #c", src("b")));

    let ban = mode_line("op", "#c", "+b b!*@*");
    assert_eq!(op.ask("MODE #c +b b"), [ban.as_str()]);
    b.expect_next(&ban);
    assert_eq!(
        b.ask("PRIVMSG #c :let me talk"),
        [num("404", "b", "#c :Cannot send to channel")]
    );
    // NOTICE is dropped without an error.
    assert!(b.ask("NOTICE #c :quietly").is_empty(), "{}", b.dump());
    assert!(op.sync().is_empty(), "{}", op.dump());

    // Voice lets a banned member speak.
    let voice = mode_line("op", "#c", "+v b");
    assert_eq!(op.ask("MODE #c +v b"), [voice.as_str()]);
    b.expect_next(&voice);
    assert!(b.ask("PRIVMSG #c :voiced now").is_empty(), "{}", b.dump());
    op.expect_next(&format!("{} PRIVMSG #c :voiced now", src("b")));
    let devoice = mode_line("op", "#c", "-v b");
    op.ask("MODE #c -v b");
    b.expect_next(&devoice);
    assert_eq!(
        b.ask("PRIVMSG #c :again"),
        [num("404", "b", "#c :Cannot send to channel")]
    );

    // An operator who matches a ban still speaks.
    op.ask("MODE #c +b *!*@*");
    b.expect_next(&mode_line("op", "#c", "+b *!*@*"));
    assert!(op.ask("PRIVMSG #c :ops talk").is_empty(), "{}", op.dump());
    b.expect_next(&format!("{} PRIVMSG #c :ops talk", src("op")));

    // With the bans lifted, b speaks again.
    op.ask("MODE #c -b *!*@*");
    op.ask("MODE #c -b b!*@*");
    b.expect_next(&mode_line("op", "#c", "-b *!*@*"));
    b.expect_next(&mode_line("op", "#c", "-b b!*@*"));
    assert!(b.ask("PRIVMSG #c :free").is_empty(), "{}", b.dump());
    op.expect_next(&format!("{} PRIVMSG #c :free", src("b")));
}

/// RFC 2812 5.2 and Modern IRC: ERR_BANLISTFULL (478) `<channel> <char> :Channel list is
/// full`, "Returned when a channel access list (i.e. ban list etc) is full and cannot be added
/// to". The hub advertises MAXLIST=b:100; it once ignored the 101st `MODE #c +b mask` without
/// a reply.
#[test]
fn ban_beyond_maxlist_gets_478() {
    // 101 MODE lines at once: no line rate here, or its notice would be among the replies.
    let hub = Hub::start_with(&["--line-rate", "0"]);
    let mut op = joined(hub.port(), "op", "#c");
    for i in 0..100 {
        op.send(&format!("MODE #c +b ban{i}"));
    }
    let added = op.sync();
    assert_eq!(added.len(), 100, "{}", op.dump());
    let reply = op.ask("MODE #c +b onetoomany");
    assert_eq!(reply.len(), 1, "{reply:?}");
    assert!(reply[0].starts_with(":irc.test 478 op #c b "), "{reply:?}");
}

#[test]
fn channel_key_is_required_shown_to_members_and_removed() {
    let hub = Hub::start();
    let port = hub.port();
    let mut op = joined(port, "op", "#c");
    let mut m = joined(port, "m", "#c");
    op.expect_next(&format!("{} JOIN #c", src("m")));

    let set = mode_line("op", "#c", "+k sesame");
    assert_eq!(op.ask("MODE #c +k sesame"), [set.as_str()]);
    m.expect_next(&set);

    let mut out = Irc::register(port, "out");
    let bad_key = num("475", "out", "#c :Cannot join channel (+k)");
    assert_eq!(out.ask("JOIN #c"), [bad_key.as_str()]);
    assert_eq!(out.ask("JOIN #c wrong"), [bad_key.as_str()]);
    assert!(op.sync().is_empty(), "{}", op.dump());

    // Members see the key in 324, others see `*`.
    assert_eq!(m.ask("MODE #c")[0], num("324", "m", "#c +knt sesame"));
    assert_eq!(out.ask("MODE #c")[0], num("324", "out", "#c +knt *"));
    // A second key cannot replace the first.
    assert_eq!(
        op.ask("MODE #c +k other"),
        [num("467", "op", "#c :Channel key already set")]
    );
    assert!(m.sync().is_empty(), "{}", m.dump());
    assert_eq!(m.ask("MODE #c")[0], num("324", "m", "#c +knt sesame"));

    // The right key lets one in.
    let joined = out.ask("JOIN #c sesame");
    assert_eq!(commands(&joined), ["JOIN", "353", "366"], "{joined:?}");
    op.expect_next(&format!("{} JOIN #c", src("out")));
    m.expect_next(&format!("{} JOIN #c", src("out")));
    assert_eq!(out.ask("MODE #c")[0], num("324", "out", "#c +knt sesame"));

    // `-k *` lifts it.
    let unset = mode_line("op", "#c", "-k *");
    assert_eq!(op.ask("MODE #c -k *"), [unset.as_str()]);
    m.expect_next(&unset);
    out.expect_next(&unset);
    let mut late = Irc::register(port, "late");
    assert_eq!(commands(&late.ask("JOIN #c")), ["JOIN", "353", "366"]);
    assert_eq!(late.ask("MODE #c")[0], num("324", "late", "#c +nt"));
}

#[test]
fn join_keys_go_to_channels_by_position() {
    let hub = Hub::start();
    let port = hub.port();
    let mut op = Irc::register(port, "op");
    op.ask("JOIN #a");
    op.ask("JOIN #b");
    op.ask("MODE #a +k one");
    op.ask("MODE #b +k two");
    assert_eq!(op.ask("MODE #b")[0], num("324", "op", "#b +knt two"));

    let mut u = Irc::register(port, "u");
    // Swapped keys open neither.
    assert_eq!(
        u.ask("JOIN #a,#b two,one"),
        [
            num("475", "u", "#a :Cannot join channel (+k)"),
            num("475", "u", "#b :Cannot join channel (+k)"),
        ]
    );
    // One key is for the first channel only.
    let lines = u.ask("JOIN #a,#b one");
    assert_eq!(commands(&lines), ["JOIN", "353", "366", "475"], "{lines:?}");
    assert_eq!(lines[0], format!("{} JOIN #a", src("u")));
    assert_eq!(lines[3], num("475", "u", "#b :Cannot join channel (+k)"));
    u.ask("PART #a");
    // The keys in order open both.
    let lines = u.ask("JOIN #a,#b one,two");
    assert_eq!(
        commands(&lines),
        ["JOIN", "353", "366", "JOIN", "353", "366"],
        "{lines:?}"
    );
    assert_eq!(lines[0], format!("{} JOIN #a", src("u")));
    assert_eq!(lines[3], format!("{} JOIN #b", src("u")));
}

#[test]
fn channel_limit_refuses_joins_beyond_it() {
    let hub = Hub::start();
    let port = hub.port();
    let mut op = joined(port, "op", "#c");
    let set = mode_line("op", "#c", "+l 2");
    assert_eq!(op.ask("MODE #c +l 2"), [set.as_str()]);
    assert_eq!(op.ask("MODE #c")[0], num("324", "op", "#c +lnt 2"));

    let mut b = joined(port, "b", "#c");
    op.expect_next(&format!("{} JOIN #c", src("b")));
    let mut c = Irc::register(port, "c");
    assert_eq!(
        c.ask("JOIN #c"),
        [num("471", "c", "#c :Cannot join channel (+l)")]
    );
    assert!(op.sync().is_empty(), "{}", op.dump());

    let unset = mode_line("op", "#c", "-l");
    assert_eq!(op.ask("MODE #c -l"), [unset.as_str()]);
    b.expect_next(&unset);
    assert_eq!(commands(&c.ask("JOIN #c")), ["JOIN", "353", "366"]);
    op.expect_next(&format!("{} JOIN #c", src("c")));
    assert_eq!(op.ask("MODE #c")[0], num("324", "op", "#c +nt"));
}

#[test]
fn invite_only_channel_admits_the_invited_once() {
    let hub = Hub::start();
    let port = hub.port();
    let mut op = joined(port, "op", "#c");
    let mut mem = joined(port, "mem", "#c");
    op.expect_next(&format!("{} JOIN #c", src("mem")));
    let set = mode_line("op", "#c", "+i");
    assert_eq!(op.ask("MODE #c +i"), [set.as_str()]);
    mem.expect_next(&set);
    assert_eq!(mem.ask("MODE #c")[0], num("324", "mem", "#c +int"));

    let mut guest = Irc::register(port, "guest");
    let refused = num("473", "guest", "#c :Cannot join channel (+i)");
    assert_eq!(guest.ask("JOIN #c"), [refused.as_str()]);
    // Only operators invite to a +i channel.
    assert_eq!(
        mem.ask("INVITE guest #c"),
        [num("482", "mem", "#c :You're not channel operator")]
    );
    assert!(guest.sync().is_empty(), "{}", guest.dump());
    assert_eq!(guest.ask("JOIN #c"), [refused.as_str()]);

    assert_eq!(op.ask("INVITE guest #c"), [num("341", "op", "guest #c")]);
    guest.expect_next(&format!("{} INVITE guest #c", src("op")));
    let lines = guest.ask("JOIN #c");
    assert_eq!(commands(&lines), ["JOIN", "353", "366"], "{lines:?}");
    op.expect_next(&format!("{} JOIN #c", src("guest")));
    mem.expect_next(&format!("{} JOIN #c", src("guest")));

    // The invitation is used up by the join.
    guest.ask("PART #c");
    assert_eq!(guest.ask("JOIN #c"), [refused.as_str()]);
    // Lifting +i opens the channel to all.
    op.ask("MODE #c -i");
    assert_eq!(commands(&guest.ask("JOIN #c")), ["JOIN", "353", "366"]);
}

#[test]
fn moderated_channel_lets_only_voiced_members_and_ops_speak() {
    let hub = Hub::start();
    let port = hub.port();
    let mut op = joined(port, "op", "#c");
    let mut v = joined(port, "v", "#c");
    let mut q = joined(port, "q", "#c");
    op.sync();
    v.sync();
    let set = mode_line("op", "#c", "+m");
    assert_eq!(op.ask("MODE #c +m"), [set.as_str()]);
    v.expect_next(&set);
    q.expect_next(&set);

    for x in [&mut v, &mut q] {
        let me = x.name.clone();
        assert_eq!(
            x.ask("PRIVMSG #c :may I?"),
            [num("404", &me, "#c :Cannot send to channel")]
        );
        // NOTICE is silently dropped: no error, and nobody gets it.
        assert!(x.ask("NOTICE #c :fyi").is_empty(), "{}", x.dump());
    }
    assert!(op.sync().is_empty(), "{}", op.dump());
    assert!(v.sync().is_empty(), "{}", v.dump());

    let voice = mode_line("op", "#c", "+v v");
    op.ask("MODE #c +v v");
    v.expect_next(&voice);
    q.expect_next(&voice);
    assert!(v.ask("PRIVMSG #c :voiced").is_empty(), "{}", v.dump());
    op.expect_next(&format!("{} PRIVMSG #c :voiced", src("v")));
    q.expect_next(&format!("{} PRIVMSG #c :voiced", src("v")));
    assert!(v.ask("NOTICE #c :voiced notice").is_empty());
    op.expect_next(&format!("{} NOTICE #c :voiced notice", src("v")));
    q.expect_next(&format!("{} NOTICE #c :voiced notice", src("v")));
    assert!(op.ask("PRIVMSG #c :op speaks").is_empty());
    v.expect_next(&format!("{} PRIVMSG #c :op speaks", src("op")));
    q.expect_next(&format!("{} PRIVMSG #c :op speaks", src("op")));
    assert_eq!(
        q.ask("PRIVMSG #c :still me?"),
        [num("404", "q", "#c :Cannot send to channel")]
    );

    op.ask("MODE #c -m");
    q.expect_next(&mode_line("op", "#c", "-m"));
    assert!(q.ask("PRIVMSG #c :finally").is_empty(), "{}", q.dump());
    op.expect_next(&format!("{} PRIVMSG #c :finally", src("q")));
}

#[test]
fn secret_channel_is_hidden_from_non_members() {
    let hub = Hub::start();
    let port = hub.port();
    let mut op = joined(port, "op", "#s");
    op.ask("TOPIC #s :hush");
    op.ask("JOIN #pub");
    let set = mode_line("op", "#s", "+s");
    assert_eq!(op.ask("MODE #s +s"), [set.as_str()]);
    let mut mem = joined(port, "mem", "#s");
    let mut out = Irc::register(port, "out");

    // LIST
    assert_eq!(
        out.ask("LIST"),
        [
            num("321", "out", "Channel :Users  Name"),
            num("322", "out", "#pub 1 :"),
            num("323", "out", ":End of /LIST"),
        ]
    );
    assert_eq!(
        mem.ask("LIST"),
        [
            num("321", "mem", "Channel :Users  Name"),
            num("322", "mem", "#pub 1 :"),
            num("322", "mem", "#s 2 :hush"),
            num("323", "mem", ":End of /LIST"),
        ]
    );
    // NAMES: only the end for a non-member.
    assert_eq!(
        out.ask("NAMES #s"),
        [num("366", "out", "#s :End of /NAMES list")]
    );
    let names = mem.ask("NAMES #s");
    assert_eq!(commands(&names), ["353", "366"], "{names:?}");
    assert!(names[0].ends_with(" #s :@op mem"), "{names:?}");
    // WHOIS: the channel is left out of 319 for a non-member.
    let whois = out.ask("WHOIS op");
    assert!(whois.contains(&num("319", "out", "op :@#pub")), "{whois:?}");
    assert!(!whois.iter().any(|l| l.contains("#s")), "{whois:?}");
    let whois = mem.ask("WHOIS op");
    assert!(
        whois.contains(&num("319", "mem", "op :@#s @#pub")),
        "{whois:?}"
    );
    // A member in only the secret channel has no 319 at all for outsiders.
    let whois = out.ask("WHOIS mem");
    assert_eq!(commands(&whois), ["311", "312", "317", "318"], "{whois:?}");

    // Once -s, all is visible again.
    op.ask("MODE #s -s");
    assert!(out.ask("LIST").contains(&num("322", "out", "#s 2 :hush")));
    assert_eq!(commands(&out.ask("NAMES #s")), ["353", "366"]);
}

#[test]
fn mode_query_lists_modes_in_order_with_arguments() {
    let hub = Hub::start();
    let port = hub.port();
    let mut op = joined(port, "op", "#c");
    let mut mem = joined(port, "mem", "#c");
    op.expect_next(&format!("{} JOIN #c", src("mem")));

    let applied = [
        mode_line("op", "#c", "+i"),
        mode_line("op", "#c", "+l 5"),
        mode_line("op", "#c", "+m"),
        mode_line("op", "#c", "+s"),
        mode_line("op", "#c", "+k key"),
    ];
    assert_eq!(op.ask("MODE #c +ilmsk 5 key"), applied);
    for line in &applied {
        mem.expect_next(line);
    }
    let modes = mem.ask("MODE #c");
    assert_eq!(commands(&modes), ["324", "329"], "{modes:?}");
    assert_eq!(modes[0], num("324", "mem", "#c +iklmnst key 5"));
    let created = numeric_middle(&modes[1]);
    assert_eq!(created[0], "#c", "{modes:?}");
    let created: i64 = created[1].parse().expect("329 time");
    assert!((created - unix_now()).abs() <= 60, "{modes:?}");

    // Only operators change modes; unknown letters are refused.
    assert_eq!(
        mem.ask("MODE #c -m"),
        [num("482", "mem", "#c :You're not channel operator")]
    );
    assert_eq!(
        op.ask("MODE #c +z"),
        [num("472", "op", "z :is unknown mode char to me")]
    );
    assert!(mem.sync().is_empty(), "{}", mem.dump());

    let removed = [
        mode_line("op", "#c", "-i"),
        mode_line("op", "#c", "-k *"),
        mode_line("op", "#c", "-l"),
        mode_line("op", "#c", "-m"),
        mode_line("op", "#c", "-s"),
    ];
    assert_eq!(op.ask("MODE #c -iklms *"), removed);
    for line in &removed {
        mem.expect_next(line);
    }
    assert_eq!(mem.ask("MODE #c")[0], num("324", "mem", "#c +nt"));
}

// ---------------------------------------------------------------------------------------------
// Conformance (issue 9): what the specs say, checked line by line. Each test's comment names
// the deviation the hub once had.
// ---------------------------------------------------------------------------------------------

/// Modern IRC (No External Messages Mode): "This channel mode controls whether users who are
/// not joined to the channel can send messages to it"; it is a type D mode (CHANMODES=...,imnst)
/// and MODE (channel mode): "If the user has permission to change modes on the target, the
/// supplied modes will be applied ... When the server is done processing the modes, a MODE
/// command is sent to all members of the channel containing the mode changes." Regular
/// Channels: newly-created channels have "protected topic +t and no external messages +n modes
/// enabled"; RPL_CHANNELMODEIS (324) informs "of the currently-set modes of a channel". The hub
/// keeps `n` always on and ignores `-n`.
#[test]
fn no_external_messages_can_be_turned_off_and_on_again() {
    let hub = Hub::start();
    let port = hub.port();
    let mut op = joined(port, "op", "#c");
    let mut m = joined(port, "m", "#c");
    let mut out = Irc::register(port, "out");
    op.expect_next(&format!("{} JOIN #c", src("m")));
    assert_eq!(op.ask("MODE #c")[0], num("324", "op", "#c +nt"));

    let off = mode_line("op", "#c", "-n");
    assert_eq!(op.ask("MODE #c -n"), [off.as_str()]);
    m.expect_next(&off);
    assert_eq!(m.ask("MODE #c")[0], num("324", "m", "#c +t"));
    // Without +n, a non-member's message reaches the members.
    assert!(
        out.ask("PRIVMSG #c :from outside").is_empty(),
        "{}",
        out.dump()
    );
    let outside = format!("{} PRIVMSG #c :from outside", src("out"));
    op.expect_next(&outside);
    m.expect_next(&outside);

    let on = mode_line("op", "#c", "+n");
    assert_eq!(op.ask("MODE #c +n"), [on.as_str()]);
    m.expect_next(&on);
    assert_eq!(m.ask("MODE #c")[0], num("324", "m", "#c +nt"));
    assert_eq!(
        out.ask("PRIVMSG #c :again"),
        [num("404", "out", "#c :Cannot send to channel")]
    );
    assert!(m.sync().is_empty(), "{}", m.dump());
}

/// Modern IRC (ERR_NOSUCHNICK, 401): "Indicates that no client can be found for the supplied
/// nickname"; ERR_USERNOTINCHANNEL (441): "Returned when a client tries to perform a
/// channel+nick affecting command, when the nick isn't joined to the channel (for example,
/// `MODE #channel +o nick`)". RFC 2812 3.2.3 (channel MODE) lists both. The hub once answered 441
/// for a nick that does not exist at all.
#[test]
fn mode_o_of_an_unknown_nick_is_401_and_of_a_non_member_441() {
    let hub = Hub::start();
    let port = hub.port();
    let mut op = joined(port, "op", "#c");
    let _other = Irc::register(port, "other");
    assert_eq!(
        op.ask("MODE #c +o nobody"),
        [num("401", "op", "nobody :No such nick/channel")]
    );
    assert_eq!(
        op.ask("MODE #c +v nobody"),
        [num("401", "op", "nobody :No such nick/channel")]
    );
    assert_eq!(
        op.ask("MODE #c +o other"),
        [num("441", "op", "other #c :They aren't on that channel")]
    );
}

/// Modern IRC (RPL_ISUPPORT `MODES`): "The MODES parameter specifies how many 'variable' modes
/// may be set on a channel by a single MODE command from a client. A 'variable' mode is defined
/// as being a type A, B or C mode"; RFC 2812 3.2.3 (channel MODE): "Note that there is a
/// maximum limit of three (3) changes per command for modes that take a parameter." The hub
/// advertises MODES=4 but applies all 25 bans of one line.
#[test]
fn one_mode_line_applies_at_most_the_advertised_modes() {
    let hub = Hub::start();
    let port = hub.port();
    let mut op = joined(port, "op", "#c");
    let mut m = joined(port, "m", "#c");
    op.expect_next(&format!("{} JOIN #c", src("m")));
    let limit: usize = op
        .received
        .iter()
        .filter(|l| command_of(l) == "005")
        .flat_map(|l| numeric_middle(l))
        .find_map(|t| t.strip_prefix("MODES="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no MODES=N in 005\n{}", op.dump()));
    assert!(limit < 25, "MODES={limit}");

    let masks: Vec<String> = (0..25).map(|i| format!("m{i}")).collect();
    let line = format!("MODE #c +{} {}", "b".repeat(25), masks.join(" "));
    let applied: Vec<String> = masks[..limit]
        .iter()
        .map(|mask| mode_line("op", "#c", &format!("+b {mask}!*@*")))
        .collect();
    assert_eq!(op.ask(&line), applied);
    for l in &applied {
        m.expect_next(l);
    }
    assert!(m.sync().is_empty(), "{}", m.dump());
    let mut list: Vec<String> = masks[..limit]
        .iter()
        .map(|mask| num("367", "op", &format!("#c {mask}!*@*")))
        .collect();
    list.push(num("368", "op", "#c :End of channel ban list"));
    assert_eq!(op.ask("MODE #c b"), list);
}
