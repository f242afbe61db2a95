//! IRCv3 capabilities: CAP LS, echo-message, server-time, away-notify, extended-join, setname,
//! invite-notify, account-tag, message-tags (TAGMSG) and labeled-response.
//!
//! The hub and the IRC client these tests use are in `common/irc.rs`.

mod common;

use common::irc::{
    command_of, commands, joined, num, src, strip_time_tag, tag, trailing, Hub, Irc, ALL_CAPS,
};

#[test]
fn cap_ls_lists_the_new_capabilities() {
    let hub = Hub::start();
    let mut a = Irc::connect("a", hub.port());
    a.send("CAP LS 302");
    let ls = a.expect(|l| l.starts_with(":irc.test CAP * LS :"), "CAP LS reply");
    let offered: Vec<&str> = trailing(&ls).split(' ').collect();
    for cap in ALL_CAPS.split(' ') {
        assert!(offered.contains(&cap), "{cap} not offered: {ls}");
    }
    let wanted = "account-tag away-notify extended-join invite-notify setname";
    a.send(&format!("CAP REQ :{wanted}"));
    a.expect_next(&format!(":irc.test CAP * ACK :{wanted}"));
}

#[test]
fn echo_message_and_server_time() {
    let hub = Hub::start();
    let mut a = Irc::register_with_caps(hub.port(), "a", "echo-message server-time");
    let mut b = Irc::register(hub.port(), "b");
    assert_eq!(
        a.ask("CAP LIST"),
        [":irc.test CAP a LIST :cap-notify echo-message server-time"]
    );
    let joined = a.ask("JOIN #a");
    assert_eq!(strip_time_tag(&joined[0]), format!("{} JOIN #a", src("a")));
    b.ask("JOIN #a");
    let line = a.expect(|l| l.contains(" JOIN "), "b's JOIN");
    assert_eq!(strip_time_tag(&line), format!("{} JOIN #a", src("b")));

    // The sender gets its own message back, time-tagged; the other member gets it untagged.
    let echoed = a.ask("PRIVMSG #a :echo me");
    assert_eq!(echoed.len(), 1, "{echoed:?}");
    assert_eq!(
        strip_time_tag(&echoed[0]),
        format!("{} PRIVMSG #a :echo me", src("a"))
    );
    b.expect_next(&format!("{} PRIVMSG #a :echo me", src("a")));
    let echoed = a.ask("NOTICE #a :noted");
    assert_eq!(
        strip_time_tag(&echoed[0]),
        format!("{} NOTICE #a :noted", src("a"))
    );
    b.expect_next(&format!("{} NOTICE #a :noted", src("a")));
    // Private messages are echoed too.
    let echoed = a.ask("PRIVMSG b :just you");
    assert_eq!(echoed.len(), 1, "{echoed:?}");
    assert!(
        strip_time_tag(&echoed[0]).ends_with(" PRIVMSG b :just you"),
        "{echoed:?}"
    );
    b.expect_next(&format!("{} PRIVMSG b :just you", src("a")));

    // Messages from others carry the tag for a, not for b (who did not ask for it).
    assert!(b.ask("PRIVMSG #a :from b").is_empty());
    let line = a.expect(|l| l.contains(" PRIVMSG "), "b's message");
    assert_eq!(
        strip_time_tag(&line),
        format!("{} PRIVMSG #a :from b", src("b"))
    );

    // Capabilities can be dropped after registration.
    assert_eq!(
        a.ask("CAP REQ :-server-time -echo-message"),
        [":irc.test CAP a ACK :-server-time -echo-message"]
    );
    assert!(a.ask("PRIVMSG #a :no more echo").is_empty());
    b.expect_next(&format!("{} PRIVMSG #a :no more echo", src("a")));
    b.send("PRIVMSG #a :plain again");
    a.expect_next(&format!("{} PRIVMSG #a :plain again", src("b")));
}

#[test]
fn server_time_is_rendered_per_recipient() {
    let hub = Hub::start();
    let port = hub.port();
    let mut timed = Irc::register_with_caps(port, "timed", "server-time");
    let mut plain = Irc::register(port, "plain");
    let mut speaker = Irc::register(port, "speaker");
    // #x lists the cap holder first, #y last.
    timed.ask("JOIN #x");
    plain.ask("JOIN #x");
    plain.ask("JOIN #y");
    timed.ask("JOIN #y");
    speaker.ask("JOIN #x");
    speaker.ask("JOIN #y");
    timed.sync();
    plain.sync();

    for chan in ["#x", "#y"] {
        assert!(speaker.ask(&format!("PRIVMSG {chan} :tick")).is_empty());
        let want = format!("{} PRIVMSG {chan} :tick", src("speaker"));
        let got = timed.expect(|_| true, "the PRIVMSG");
        assert_eq!(strip_time_tag(&got), want);
        plain.expect_next(&want);
    }
}

#[test]
fn away_notify_tells_cap_holders_in_shared_channels() {
    let hub = Hub::start();
    let port = hub.port();
    let mut an = Irc::register_with_caps(port, "an", "away-notify");
    let mut plain = Irc::register(port, "plain");
    let mut aw = Irc::register(port, "aw");
    let mut far = Irc::register_with_caps(port, "far", "away-notify");
    for x in [&mut an, &mut plain, &mut aw] {
        x.ask("JOIN #c");
    }
    an.sync();
    plain.sync();
    far.ask("JOIN #elsewhere");

    assert_eq!(
        aw.ask("AWAY :lunch"),
        [num("306", "aw", ":You have been marked as being away")]
    );
    an.expect_next(&format!("{} AWAY :lunch", src("aw")));
    assert!(plain.sync().is_empty(), "{}", plain.dump());
    assert!(far.sync().is_empty(), "{}", far.dump());

    assert_eq!(
        aw.ask("AWAY"),
        [num("305", "aw", ":You are no longer marked as being away")]
    );
    an.expect_next(&format!("{} AWAY", src("aw")));
    assert!(plain.sync().is_empty(), "{}", plain.dump());
    assert!(far.sync().is_empty(), "{}", far.dump());

    // Joining while away: cap holders learn it right after the JOIN.
    let mut late = Irc::register(port, "late");
    late.ask("AWAY :brb");
    late.ask("JOIN #c");
    an.expect_next(&format!("{} JOIN #c", src("late")));
    an.expect_next(&format!("{} AWAY :brb", src("late")));
    plain.expect_next(&format!("{} JOIN #c", src("late")));
    assert!(plain.sync().is_empty(), "{}", plain.dump());
    assert!(an.sync().is_empty(), "{}", an.dump());
}

#[test]
fn extended_join_is_rendered_per_recipient() {
    let hub = Hub::start();
    let port = hub.port();
    let mut ext = Irc::register_with_caps(port, "ext", "extended-join");
    let mut std = Irc::register(port, "std");
    // In #x the cap holder is first in the member list, in #y last: whichever is rendered
    // first, the other must still get its own form.
    assert_eq!(
        ext.ask("JOIN #x")[0],
        format!("{} JOIN #x * :Real ext", src("ext"))
    );
    assert_eq!(std.ask("JOIN #x")[0], format!("{} JOIN #x", src("std")));
    ext.expect_next(&format!("{} JOIN #x * :Real std", src("std")));
    std.ask("JOIN #y");
    ext.ask("JOIN #y");
    std.expect_next(&format!("{} JOIN #y", src("ext")));

    let mut third = Irc::register_as(port, "third", "t3", "The Third One");
    third.ask("JOIN #x");
    third.ask("JOIN #y");
    for chan in ["#x", "#y"] {
        ext.expect_next(&format!(":third!t3@127.0.0.1 JOIN {chan} * :The Third One"));
        std.expect_next(&format!(":third!t3@127.0.0.1 JOIN {chan}"));
    }
}

#[test]
fn setname_changes_the_real_name_for_cap_holders() {
    let hub = Hub::start();
    let port = hub.port();
    let mut nocap = Irc::register(port, "nocap");
    assert_eq!(
        nocap.ask("SETNAME :Someone Else"),
        [num("421", "nocap", "SETNAME :Unknown command")]
    );
    assert_eq!(
        nocap.ask("WHOIS nocap")[0],
        num("311", "nocap", "nocap nocap 127.0.0.1 * :Real nocap")
    );

    let mut s = Irc::register_with_caps(port, "s", "setname");
    let mut peer = Irc::register_with_caps(port, "peer", "setname");
    let mut far = Irc::register_with_caps(port, "far", "setname");
    for x in [&mut s, &mut peer, &mut nocap] {
        x.ask("JOIN #c");
    }
    s.sync();
    peer.sync();
    far.ask("JOIN #elsewhere");

    let line = format!("{} SETNAME :New Name", src("s"));
    assert_eq!(s.ask("SETNAME :New Name"), [line.as_str()]);
    peer.expect_next(&line);
    assert!(nocap.sync().is_empty(), "{}", nocap.dump());
    assert!(far.sync().is_empty(), "{}", far.dump());
    assert_eq!(
        nocap.ask("WHOIS s")[0],
        num("311", "nocap", "s s 127.0.0.1 * :New Name")
    );
    assert_eq!(
        nocap.ask("WHO s")[0],
        num("352", "nocap", "* s 127.0.0.1 irc.test s H :0 New Name")
    );
}

#[test]
fn invite_notify_tells_other_members_with_the_cap() {
    let hub = Hub::start();
    let port = hub.port();
    let mut op = Irc::register_with_caps(port, "op", "invite-notify");
    let mut watcher = Irc::register_with_caps(port, "watcher", "invite-notify");
    let mut blind = Irc::register(port, "blind");
    let mut target = Irc::register_with_caps(port, "target", "invite-notify");
    for x in [&mut op, &mut watcher, &mut blind] {
        x.ask("JOIN #c");
    }
    op.sync();
    watcher.sync();

    // The inviter gets 341 and the target one INVITE, cap or not; other members with the cap
    // get the INVITE too.
    let invite = format!("{} INVITE target #c", src("op"));
    assert_eq!(op.ask("INVITE target #c"), [num("341", "op", "target #c")]);
    assert_eq!(target.sync(), [invite.as_str()]);
    assert_eq!(watcher.sync(), [invite.as_str()]);
    assert!(blind.sync().is_empty(), "{}", blind.dump());
}

#[test]
fn account_tag_is_acknowledged_but_no_account_is_ever_tagged() {
    let hub = Hub::start();
    let port = hub.port();
    let caps = "account-tag away-notify extended-join message-tags server-time";
    let mut a = Irc::register_with_caps(port, "a", caps);
    let mut b = Irc::register_with_caps(port, "b", "account-tag");
    assert_eq!(
        b.ask("CAP LIST"),
        [":irc.test CAP b LIST :account-tag cap-notify"]
    );
    a.ask("JOIN #c");
    b.ask("JOIN #c");
    b.ask("PRIVMSG #c :hello");
    b.ask("PRIVMSG a :psst");
    b.ask("NOTICE #c :note");
    b.ask("AWAY :away");
    b.ask("TOPIC #c :t");
    b.ask("NICK bb");
    b.ask("PART #c :bye");
    let seen = a.sync();
    assert!(seen.len() >= 6, "{}", a.dump());
    assert!(
        !a.received.iter().any(|l| l.contains("account=")),
        "{}",
        a.dump()
    );
    assert!(
        !b.received.iter().any(|l| l.contains("account=")),
        "{}",
        b.dump()
    );
}

/// IRCv3 message-tags: the capability brings the TAGMSG command, which "MUST be delivered to
/// targets in the same way as PRIVMSG and NOTICE" to clients that negotiated message-tags. The
/// hub advertises message-tags but answers TAGMSG with 421.
#[test]
fn tagmsg_is_relayed_with_message_tags() {
    let hub = Hub::start();
    let mut a = Irc::register_with_caps(hub.port(), "a", "message-tags");
    let mut b = Irc::register_with_caps(hub.port(), "b", "message-tags");
    a.ask("JOIN #tags");
    b.ask("JOIN #tags");
    assert!(a
        .ask("@+typing=active TAGMSG #tags")
        .iter()
        .all(|l| command_of(l) == "JOIN"));
    let got = b.expect(|l| command_of(l) == "TAGMSG", "TAGMSG");
    assert!(
        got.starts_with("@+typing=active") || got.contains(";+typing=active"),
        "{got}"
    );
}

/// IRCv3 labeled-response: a labeled command's replies come back as one labeled line, a
/// `labeled-response` batch, or an `ACK`; replies to unlabeled commands and other clients'
/// messages carry no label.
#[test]
fn labeled_responses_come_as_one_line_a_batch_or_an_ack() {
    let hub = Hub::start();
    let mut a = Irc::register_with_caps(hub.port(), "a", "labeled-response batch message-tags");
    // One reply line: the label goes on it.
    a.send("@label=p1 PING :tok");
    a.expect_next("@label=p1 :irc.test PONG irc.test :tok");
    // No reply (NOTICE never gets errors): an ACK.
    a.send("@label=n1 NOTICE nobody :hi");
    a.expect_next("@label=n1 :irc.test ACK");
    // Several lines: a batch carrying the label, each line tagged with the batch.
    a.send("@label=j1 JOIN #lab");
    let open = a.expect(|_| true, "labeled batch start");
    let reference = open
        .split_whitespace()
        .nth(3)
        .and_then(|r| r.strip_prefix('+'))
        .expect("batch reference")
        .to_owned();
    assert_eq!(
        open,
        format!("@label=j1 :irc.test BATCH +{reference} labeled-response")
    );
    let in_batch = format!("@batch={reference} ");
    a.expect_next(&format!("{in_batch}:a!a@127.0.0.1 JOIN #lab"));
    a.expect_next(&format!("{in_batch}{}", num("353", "a", "= #lab :@a")));
    a.expect_next(&format!(
        "{in_batch}{}",
        num("366", "a", "#lab :End of /NAMES list")
    ));
    a.expect_next(&format!(":irc.test BATCH -{reference}"));
    // An unlabeled command's reply is plain: its one line carries no label.
    let time = a.ask("TIME");
    assert_eq!(commands(&time), ["391"], "{time:?}");
    assert!(
        time.iter().all(|l| tag(l, "label").is_none()),
        "label on an unlabeled reply: {time:?}"
    );
    // Another client's message in between is not part of the labeled reply.
    let mut b = joined(hub.port(), "b", "#lab");
    a.expect_next(":b!b@127.0.0.1 JOIN #lab");
    b.send("PRIVMSG #lab :hello");
    a.expect_next(":b!b@127.0.0.1 PRIVMSG #lab :hello");
    // The only labels a ever got are the three it asked for, each on its one reply.
    let labels: Vec<&str> = a.received.iter().filter_map(|l| tag(l, "label")).collect();
    assert_eq!(labels, ["p1", "n1", "j1"], "{}", a.dump());
    // Without the capability, a label is ignored.
    let mut c = Irc::register(hub.port(), "c");
    c.send("@label=x PING :t");
    c.expect_next(":irc.test PONG irc.test :t");
    assert!(
        c.received.iter().all(|l| tag(l, "label").is_none()),
        "{}",
        c.dump()
    );
}
