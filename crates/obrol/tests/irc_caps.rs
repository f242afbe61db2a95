//! IRCv3 capabilities: CAP LS, echo-message, server-time, away-notify, extended-join, setname,
//! invite-notify, account-tag, message-tags (TAGMSG) and labeled-response.
//!
//! The hub and the IRC client these tests use are in `common/irc.rs`.

mod common;

use std::collections::BTreeMap;

use common::irc::{
    command_of, commands, joined, num, silent_plain, src, strip_time_tag, tag, tags_of, trailing,
    untagged, Hub, Irc, ALL_CAPS,
};
use common::LINE_TIMEOUT;

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
    // (a has message-tags: the message carries its msgid, and no label.)
    let hello = a.expect(|_| true, "b's message");
    assert_eq!(untagged(&hello), ":b!b@127.0.0.1 PRIVMSG #lab :hello");
    assert!(
        tag(&hello, "msgid").is_some() && tag(&hello, "label").is_none(),
        "{hello}"
    );
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

// ---------------------------------------------------------------------------------------------
// Conformance (issue 9): what the specs say, checked line by line. Each test's comment names
// the deviation the hub once had.
// ---------------------------------------------------------------------------------------------

/// `line`'s tags without `msgid` (whose value the server chooses), for exact comparisons.
fn tags_but_msgid(line: &str) -> BTreeMap<String, String> {
    let mut tags = tags_of(line);
    tags.remove("msgid");
    tags
}

/// A map of tags from `(key, value)` pairs.
fn tag_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// IRCv3 Message IDs (Tags): the `msgid` tag "has a required value. Servers MAY attach this tag
/// on any event. If this tag is being used, it SHOULD be attached to all PRIVMSG and NOTICE
/// events"; its value "MUST be unique, meaning any other message transmitted on the entire
/// network at any time MUST NOT share the same value"; it needs message-tags. IRCv3
/// message-tags (TAGMSG example): the echo to the sender and the relay to others carry the same
/// msgid. (The stored draft says `draft/msgid`; the ratified spec and ircv3.net use `msgid`.)
/// The hub once attached no msgid.
#[test]
fn every_relayed_message_carries_a_msgid_with_message_tags() {
    let hub = Hub::start();
    let port = hub.port();
    let mut a = Irc::register_with_caps(port, "a", "echo-message message-tags");
    let mut b = Irc::register_with_caps(port, "b", "message-tags");
    let mut c = Irc::register(port, "c");
    for x in [&mut a, &mut b, &mut c] {
        x.ask("JOIN #m");
    }
    a.sync();
    b.sync();
    let mut ids = Vec::new();
    for (sent, relayed, plain_sees) in [
        ("PRIVMSG #m :one", "PRIVMSG #m :one", true),
        ("NOTICE #m :two", "NOTICE #m :two", true),
        ("@+typing=active TAGMSG #m", "TAGMSG #m", false),
        ("PRIVMSG b :three", "PRIVMSG b :three", false),
        ("NOTICE b :four", "NOTICE b :four", false),
    ] {
        let want = format!("{} {relayed}", src("a"));
        let echo = a.ask(sent);
        assert_eq!(echo.len(), 1, "{sent}: {echo:?}");
        let got = b.expect(|_| true, sent);
        for line in [&echo[0], &got] {
            assert_eq!(untagged(line), want, "{sent}: {line:?}");
        }
        let id = tag(&echo[0], "msgid").unwrap_or_default().to_owned();
        assert!(!id.is_empty(), "{sent}: no msgid on the echo {echo:?}");
        assert_eq!(tag(&got, "msgid"), Some(id.as_str()), "{sent}: {got:?}");
        ids.push(id);
        // Without message-tags: no tags at all, and no TAGMSG.
        if plain_sees {
            c.expect_next(&want);
        }
        assert!(c.sync().is_empty(), "{}", c.dump());
    }
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "msgids repeat: {ids:?}");
}

/// IRCv3 message-tags (Client-only tags): "Client-only tags are client-initiated tags that
/// servers MUST attach as-is to any relevant message relayed to other clients... Client-only
/// tags MUST be relayed on PRIVMSG and NOTICE messages"; (Security considerations): "Tags
/// without the client-only prefix MUST be removed by the server before being relayed with any
/// message to another client"; Modern IRC (Tags): the tags part "MUST NOT be sent unless
/// explicitly enabled by a capability". The hub once relayed client-only tags only on TAGMSG.
#[test]
fn client_only_tags_on_privmsg_reach_message_tags_recipients_only() {
    let hub = Hub::start();
    let port = hub.port();
    let mut a = Irc::register_with_caps(port, "a", "message-tags");
    let mut b = Irc::register_with_caps(port, "b", "message-tags");
    let mut c = Irc::register(port, "c");
    for x in [&mut a, &mut b, &mut c] {
        x.ask("JOIN #m");
    }
    a.sync();
    b.sync();
    let tags = "@+example.com/reply=abc;+draft/react=x;vendor.example/secret=1";
    let client_only = tag_map(&[("+draft/react", "x"), ("+example.com/reply", "abc")]);
    for (body, c_sees) in [
        ("PRIVMSG #m :tagged", true),
        ("NOTICE #m :tagged notice", true),
        ("PRIVMSG b :tagged private", false),
    ] {
        assert!(a.ask(&format!("{tags} {body}")).is_empty(), "{}", a.dump());
        let want = format!("{} {body}", src("a"));
        let got = b.expect(|_| true, body);
        assert_eq!(untagged(&got), want, "{got:?}");
        assert_eq!(tags_but_msgid(&got), client_only, "{got:?}");
        if c_sees {
            c.expect_next(&want);
        }
        assert!(c.sync().is_empty(), "{}", c.dump());
    }
}

/// IRCv3 message-tags (Size limit): "Clients MUST NOT send messages with tag data exceeding
/// 4094 bytes, this includes tags with or without the client-only prefix... Servers MUST reply
/// with the ERR_INPUTTOOLONG (417) error numeric if a client sends a message with more tag data
/// than the allowed limit. Servers MUST NOT truncate tags and MUST always reject lines that
/// exceed this limit." The lines are irctest's `testLengthLimits`: 4094 bytes of tag data are
/// relayed whole, 4095 are refused. The hub once accepted up to 8191.
#[test]
fn client_tag_data_over_4094_bytes_is_refused_with_417() {
    let hub = Hub::start();
    let port = hub.port();
    let mut a = Irc::register_with_caps(port, "a", "message-tags");
    let mut b = Irc::register_with_caps(port, "b", "message-tags");
    a.ask("JOIN #t");
    b.ask("JOIN #t");
    a.sync();
    let max = format!("@foo=bar;+baz={} TAGMSG #t", "a".repeat(4081));
    assert_eq!(max.find("TAGMSG"), Some(4096));
    assert!(a.ask(&max).is_empty(), "{}", a.dump());
    let got = b.expect(|_| true, "the TAGMSG");
    assert_eq!(untagged(&got), format!("{} TAGMSG #t", src("a")));
    assert_eq!(
        tags_but_msgid(&got),
        tag_map(&[("+baz", &"a".repeat(4081))]),
        "the client-only tag whole, the other dropped"
    );
    for over in [
        format!("@foo=bar;+baz={} TAGMSG #t", "a".repeat(4082)),
        format!("@foo=bar;+baz={} PRIVMSG #t :hi", "a".repeat(4082)),
    ] {
        assert_eq!(a.ask(&over), [num("417", "a", ":Input line was too long")]);
    }
    assert!(b.sync().is_empty(), "{}", b.dump());
}

/// IRCv3 labeled-response (Tags): "For any message received from a client that includes this
/// tag, the server MUST include the same tag and value in any response produced from this
/// message"; its example labels an error numeric: `@label=dc11f13f11 :irc.example.com 401 *
/// nick :No such nick/channel`. The hub once sent the 421 for a command its parser refuses (not
/// letters: `FROB$NICATE`) without the label.
#[test]
fn labeled_unknown_command_gets_a_labeled_421() {
    let hub = Hub::start();
    let mut a = Irc::register_with_caps(hub.port(), "a", "labeled-response batch");
    a.send("@label=e1 PRIVMSG nobody :hi");
    a.expect_next("@label=e1 :irc.test 401 a nobody :No such nick/channel");
    a.send("@label=u1 FROBNICATE now");
    a.expect_next("@label=u1 :irc.test 421 a FROBNICATE :Unknown command");
    a.send("@label=u2 FROB$NICATE now");
    a.expect_next("@label=u2 :irc.test 421 a FROB$NICATE :Unknown command");
}

/// IRCv3 labeled-response (Tags): "When a client sends a message to itself, the server MUST NOT
/// include the label tag, except for any acknowledgment sent with the echo-message mechanism.
/// This allows clients to differentiate between the echoed message response, and the delivered
/// message." (The ACK): "Servers MUST respond with a labeled ACK message when a client sends a
/// labeled command that normally produces no response."
#[test]
fn labeled_privmsg_to_oneself_labels_only_the_echo() {
    let hub = Hub::start();
    let port = hub.port();
    // With echo-message: the echo is labeled, the delivered copy is not.
    let mut e = Irc::register_with_caps(port, "e", "batch echo-message labeled-response");
    e.send("@label=s1 PRIVMSG e :note to self");
    let mut got = e.sync();
    got.sort_unstable();
    let mut want = vec![
        format!("@label=s1 {} PRIVMSG e :note to self", src("e")),
        format!("{} PRIVMSG e :note to self", src("e")),
    ];
    want.sort_unstable();
    assert_eq!(got, want, "{}", e.dump());
    // Without echo-message: the delivered copy is unlabeled, so the command gets an ACK.
    let mut n = Irc::register_with_caps(port, "n", "batch labeled-response");
    n.send("@label=s2 PRIVMSG n :memo");
    let mut got = n.sync();
    got.sort_unstable();
    let mut want = vec![
        "@label=s2 :irc.test ACK".to_owned(),
        format!("{} PRIVMSG n :memo", src("n")),
    ];
    want.sort_unstable();
    assert_eq!(got, want, "{}", n.dump());
}

/// `line` as its tags without `msgid`, and the rest, for comparing lists of tagged lines.
fn tags_and_rest(line: &str) -> (BTreeMap<String, String>, String) {
    (tags_but_msgid(line), untagged(line).to_owned())
}

/// IRCv3 message-tags (Examples): "A TAGMSG sent to a channel with labeled-response and
/// client-only tags. The message is returned by the server with a msgid tag via labeled
/// echo-message to the originating client and as normal to other clients in the channel":
/// `@label=123;msgid=abc;+example-client-tag=example-value :nick!user@example.com TAGMSG
/// #channel` to the sender. labeled-response (Tags): "When a client sends a message to itself,
/// the server MUST NOT include the label tag, except for any acknowledgment sent with the
/// echo-message mechanism"; (The ACK response): "Servers MUST respond with a labeled ACK
/// message when a client sends a labeled command that normally produces no response." (msgid
/// itself is every_relayed_message_carries_a_msgid_with_message_tags's business; here it is
/// ignored.) The hub always got the channel cases right; a TAGMSG to oneself once came back once,
/// labeled, with echo-message, and without it the delivered copy carried the label instead of
/// an ACK.
#[test]
fn labeled_tagmsg_gets_a_labeled_echo_or_an_ack() {
    let hub = Hub::start();
    let port = hub.port();
    let caps = "batch echo-message labeled-response message-tags";
    let mut e = Irc::register_with_caps(port, "e", caps);
    let mut q = Irc::register_with_caps(port, "q", "batch labeled-response message-tags");
    let mut r = Irc::register_with_caps(port, "r", "message-tags");
    for x in [&mut e, &mut q, &mut r] {
        x.ask("JOIN #t");
    }
    e.sync();
    q.sync();

    // To a channel, with echo-message: the labeled echo.
    e.send("@label=t1;+typing=active TAGMSG #t");
    let echo = e.sync();
    assert_eq!(echo.len(), 1, "{}", e.dump());
    assert_eq!(untagged(&echo[0]), format!("{} TAGMSG #t", src("e")));
    assert_eq!(
        tags_but_msgid(&echo[0]),
        tag_map(&[("+typing", "active"), ("label", "t1")])
    );
    let relayed = r.expect(|_| true, "e's TAGMSG");
    assert_eq!(untagged(&relayed), format!("{} TAGMSG #t", src("e")));
    assert_eq!(tags_but_msgid(&relayed), tag_map(&[("+typing", "active")]));
    q.expect(|_| true, "e's TAGMSG");

    // To a channel, without echo-message: the TAGMSG produces no response, so a labeled ACK.
    q.send("@label=t2;+typing=paused TAGMSG #t");
    assert_eq!(q.sync(), ["@label=t2 :irc.test ACK"], "{}", q.dump());
    let relayed = r.expect(|_| true, "q's TAGMSG");
    assert_eq!(untagged(&relayed), format!("{} TAGMSG #t", src("q")));
    e.expect(|_| true, "q's TAGMSG");

    // To oneself, with echo-message: the labeled echo and the unlabeled delivered copy.
    e.send("@label=t3;+typing=done TAGMSG e");
    let mut got: Vec<_> = e.sync().iter().map(|l| tags_and_rest(l)).collect();
    got.sort_unstable();
    let to_e = format!("{} TAGMSG e", src("e"));
    let mut want = vec![
        (
            tag_map(&[("+typing", "done"), ("label", "t3")]),
            to_e.clone(),
        ),
        (tag_map(&[("+typing", "done")]), to_e),
    ];
    want.sort_unstable();
    assert_eq!(got, want, "{}", e.dump());

    // To oneself, without echo-message: the unlabeled delivered copy and a labeled ACK.
    q.send("@label=t4;+typing=done TAGMSG q");
    let mut got: Vec<_> = q.sync().iter().map(|l| tags_and_rest(l)).collect();
    got.sort_unstable();
    let mut want = vec![
        (tag_map(&[("label", "t4")]), ":irc.test ACK".to_owned()),
        (
            tag_map(&[("+typing", "done")]),
            format!("{} TAGMSG q", src("q")),
        ),
    ];
    want.sort_unstable();
    assert_eq!(got, want, "{}", q.dump());
}

/// IRCv3 echo-message: "If enabled, servers MUST send PRIVMSG and NOTICE messages back to the
/// client that sent them." Its example is a private message: `--> PRIVMSG Attila :hi` is
/// answered with `:example!ex@example.com PRIVMSG Attila :hi`.
#[test]
fn echo_message_echoes_private_messages_to_the_sender() {
    let hub = Hub::start();
    let port = hub.port();
    let mut a = Irc::register_with_caps(port, "a", "echo-message");
    let mut b = Irc::register(port, "b");
    let (mut plain, guest) = silent_plain("plain", port);
    for (sent, to) in [
        ("PRIVMSG b :hi".to_owned(), "b"),
        ("NOTICE b :fyi".to_owned(), "b"),
        (format!("PRIVMSG {guest} :to plain"), "plain"),
    ] {
        let echo = format!("{} {sent}", src("a"));
        assert_eq!(a.ask(&sent), [echo.as_str()], "{}", a.dump());
        if to == "b" {
            b.expect_next(&echo);
        } else {
            plain.expect_line(|l| l == "*private* <a> to plain", LINE_TIMEOUT);
        }
    }
}

/// IRCv3 message-tags (TAGMSG): it "MUST be delivered to targets in the same way as PRIVMSG and
/// NOTICE messages. This means for example, honouring channel membership, modes, echo-message";
/// echo-message: "servers MUST send PRIVMSG and NOTICE messages back to the client that sent
/// them". The hub once echoed a TAGMSG to a channel but not one to a nick (a labeled one got an
/// ACK instead of its echo).
#[test]
fn echo_message_echoes_a_tagmsg_to_a_nick() {
    let hub = Hub::start();
    let port = hub.port();
    let mut a = Irc::register_with_caps(port, "a", "echo-message message-tags");
    let mut b = Irc::register_with_caps(port, "b", "message-tags");
    let echo = a.ask("@+typing=active TAGMSG b");
    assert_eq!(echo.len(), 1, "{}", a.dump());
    assert_eq!(untagged(&echo[0]), format!("{} TAGMSG b", src("a")));
    assert_eq!(tags_but_msgid(&echo[0]), tag_map(&[("+typing", "active")]));
    let got = b.expect(|_| true, "a's TAGMSG");
    assert_eq!(tags_and_rest(&got), tags_and_rest(&echo[0]));
}
