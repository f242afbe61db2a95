//! Channels over IRC: JOIN, PART, NAMES, TOPIC, KICK and INVITE.
//!
//! The hub and the IRC client these tests use are in `common/irc.rs`.

mod common;

use common::irc::{command_of, commands, joined, num, numeric_middle, src, unix_now, Hub, Irc};

#[test]
fn join_names_and_channel_messages() {
    let hub = Hub::start();
    let mut a = Irc::register(hub.port(), "a");
    let mut b = Irc::register(hub.port(), "b");
    a.send("JOIN #a");
    a.expect_next(&format!("{} JOIN #a", src("a")));
    a.expect_next(&num("353", "a", "= #a :@a"));
    a.expect_next(&num("366", "a", "#a :End of /NAMES list"));
    b.send("JOIN #A");
    // Channel names fold case; the room keeps its first spelling.
    b.expect_next(&format!("{} JOIN #a", src("b")));
    b.expect_next(&num("353", "b", "= #a :@a b"));
    b.expect_next(&num("366", "b", "#a :End of /NAMES list"));
    a.expect_next(&format!("{} JOIN #a", src("b")));
    // Joining again is silently ignored.
    assert_eq!(b.ask("JOIN #a"), Vec::<String>::new());

    // PRIVMSG reaches the other member, not the sender (no echo-message).
    let echo = b.ask("PRIVMSG #a :hello there");
    assert!(echo.is_empty(), "sender got {echo:?}");
    a.expect_next(&format!("{} PRIVMSG #a :hello there", src("b")));
    assert!(b.ask("NOTICE #a :a notice").is_empty());
    a.expect_next(&format!("{} NOTICE #a :a notice", src("b")));
    assert!(b.ask("PRIVMSG #a :\u{1}ACTION waves\u{1}").is_empty());
    a.expect_next(&format!("{} PRIVMSG #a :\u{1}ACTION waves\u{1}", src("b")));

    assert_eq!(
        a.ask("NAMES #a"),
        [
            num("353", "a", "= #a :@a b"),
            num("366", "a", "#a :End of /NAMES list"),
        ]
    );
    assert_eq!(a.ask("NAMES"), [num("366", "a", "* :End of /NAMES list")]);
}

#[test]
fn part_with_reason_and_join_zero() {
    let hub = Hub::start();
    let mut a = Irc::register(hub.port(), "a");
    let mut b = Irc::register(hub.port(), "b");
    a.ask("JOIN #p");
    b.ask("JOIN #p");
    a.expect_next(&format!("{} JOIN #p", src("b")));
    assert_eq!(
        b.ask("PART #p :gotta go"),
        [format!("{} PART #p :gotta go", src("b"))]
    );
    a.expect_next(&format!("{} PART #p :gotta go", src("b")));
    assert_eq!(
        b.ask("PART #p"),
        [num("442", "b", "#p :You're not on that channel")]
    );

    let joined = b.ask("JOIN #p,#q");
    assert_eq!(
        commands(&joined),
        ["JOIN", "353", "366", "JOIN", "353", "366"],
        "{joined:?}"
    );
    a.expect_next(&format!("{} JOIN #p", src("b")));
    let parted = b.ask("JOIN 0");
    assert_eq!(parted.len(), 2, "{parted:?}");
    assert!(parted.contains(&format!("{} PART #p", src("b"))));
    assert!(parted.contains(&format!("{} PART #q", src("b"))));
    a.expect_next(&format!("{} PART #p", src("b")));
    assert_eq!(
        a.ask("NAMES #p"),
        [
            num("353", "a", "= #p :@a"),
            num("366", "a", "#p :End of /NAMES list"),
        ]
    );
    // #q emptied and is gone.
    assert_eq!(
        a.ask("LIST"),
        [
            num("321", "a", "Channel :Users  Name"),
            num("322", "a", "#p 1 :"),
            num("323", "a", ":End of /LIST"),
        ]
    );
}

#[test]
fn topic_set_query_and_protection() {
    let hub = Hub::start();
    let mut a = Irc::register(hub.port(), "a");
    let mut b = Irc::register(hub.port(), "b");
    a.ask("JOIN #t");
    b.ask("JOIN #t");
    a.expect_next(&format!("{} JOIN #t", src("b")));
    assert_eq!(b.ask("TOPIC #t"), [num("331", "b", "#t :No topic is set")]);
    assert_eq!(
        a.ask("TOPIC #t :Hello world"),
        [format!("{} TOPIC #t :Hello world", src("a"))]
    );
    b.expect_next(&format!("{} TOPIC #t :Hello world", src("a")));
    let reply = b.ask("TOPIC #t");
    assert_eq!(reply.len(), 2, "{reply:?}");
    assert_eq!(reply[0], num("332", "b", "#t :Hello world"));
    let who_when = numeric_middle(&reply[1]);
    assert_eq!(command_of(&reply[1]), "333");
    assert_eq!(who_when[..2], ["#t", "a"], "{reply:?}");
    let at: i64 = who_when[2].parse().expect("333 time");
    assert!((at - unix_now()).abs() <= 60, "{reply:?}");

    // +t by default: only operators set the topic.
    assert_eq!(
        b.ask("TOPIC #t :mine now"),
        [num("482", "b", "#t :You're not channel operator")]
    );
    assert!(a.sync().is_empty(), "{}", a.dump());
    // A newcomer gets the topic on joining, between its JOIN and NAMES.
    let mut c = Irc::register(hub.port(), "c");
    let joined = c.ask("JOIN #t");
    assert_eq!(commands(&joined), ["JOIN", "332", "333", "353", "366"]);
    assert_eq!(joined[1], num("332", "c", "#t :Hello world"));
    // Clearing it.
    a.ask("TOPIC #t :");
    assert_eq!(
        c.ask("TOPIC #t"),
        [
            format!("{} TOPIC #t :", src("a")),
            num("331", "c", "#t :No topic is set"),
        ]
    );
}

#[test]
fn kick_and_invite() {
    let hub = Hub::start();
    let mut a = Irc::register(hub.port(), "a");
    let mut b = Irc::register(hub.port(), "b");
    let mut c = Irc::register(hub.port(), "c");
    for x in [&mut a, &mut b, &mut c] {
        x.ask("JOIN #k");
    }
    // a has seen both joins, b has seen c's.
    a.sync();
    b.sync();

    assert_eq!(
        b.ask("KICK #k c :nope"),
        [num("482", "b", "#k :You're not channel operator")]
    );
    let kick = format!("{} KICK #k b :bye b", src("a"));
    assert_eq!(a.ask("KICK #k b :bye b"), [kick.as_str()]);
    b.expect_next(&kick);
    c.expect_next(&kick);
    assert_eq!(a.ask("NAMES #k")[0], num("353", "a", "= #k :@a c"));
    // Kicked means out: b can no longer send to #k.
    assert_eq!(
        b.ask("PRIVMSG #k :let me back"),
        [num("404", "b", "#k :Cannot send to channel")]
    );
    assert_eq!(
        a.ask("KICK #k b"),
        [num("441", "a", "b #k :They aren't on that channel")]
    );
    assert_eq!(
        a.ask("KICK #k"),
        [num("461", "a", "KICK :Not enough parameters")]
    );

    assert_eq!(a.ask("INVITE b #k"), [num("341", "a", "b #k")]);
    b.expect_next(&format!("{} INVITE b #k", src("a")));
    assert_eq!(
        a.ask("INVITE c #k"),
        [num("443", "a", "c #k :is already on channel")]
    );
    assert_eq!(
        a.ask("INVITE ghost #k"),
        [num("401", "a", "ghost :No such nick/channel")]
    );
    b.ask("JOIN #k");
    c.expect_next(&format!("{} JOIN #k", src("b")));
}

/// Modern IRC (NAMES): "If the channel name is invalid or the channel does not exist, one
/// RPL_ENDOFNAMES numeric containing the given channel name should be returned." RFC 2812 3.2.5
/// lists no ERR_NOSUCHCHANNEL for NAMES either. The hub once answered 403.
#[test]
fn names_of_unknown_channel_ends_with_366() {
    let hub = Hub::start();
    let mut a = Irc::register(hub.port(), "a");
    assert_eq!(
        a.ask("NAMES #nosuch"),
        [num("366", "a", "#nosuch :End of /NAMES list")]
    );
}

/// RFC 2812 3.2.5 and 5.1 (RPL_NAMREPLY, 353): `( "=" / "*" / "@" ) <channel>`, where `"@"`
/// is used for secret channels; Modern IRC (RPL_NAMREPLY): `("@", 0x40)` - Secret channel
/// (secret channel mode "+s"). The hub once sent `=` for a +s channel too.
#[test]
fn names_of_a_secret_channel_use_the_at_symbol() {
    let hub = Hub::start();
    let mut op = joined(hub.port(), "op", "#s");
    op.ask("MODE #s +s");
    let mut mem = Irc::register(hub.port(), "mem");
    let joined = mem.ask("JOIN #s");
    assert!(
        joined.contains(&num("353", "mem", "@ #s :@op mem")),
        "{joined:?}"
    );
    // The op first sees mem's JOIN; the NAMES reply follows it.
    let names = op.ask("NAMES #s");
    assert!(
        names.contains(&num("353", "op", "@ #s :@op mem")),
        "{names:?}"
    );
}

/// RFC 2811 4.2.6 (Private and Secret Channels): when a channel is secret, "the server will
/// act as if the channel does not exist for queries like the TOPIC, LIST, NAMES commands". The
/// hub once answered `TOPIC #secret` from a non-member with its topic (332 and 333); it must
/// refuse (403 ERR_NOSUCHCHANNEL, or 442 ERR_NOTONCHANNEL as Modern IRC allows).
#[test]
fn topic_of_a_secret_channel_is_hidden_from_non_members() {
    let hub = Hub::start();
    let mut op = joined(hub.port(), "op", "#s");
    op.ask("TOPIC #s :hush hush");
    op.ask("MODE #s +s");
    let mut out = Irc::register(hub.port(), "out");
    let reply = out.ask("TOPIC #s");
    assert_eq!(reply.len(), 1, "{reply:?}");
    assert!(["403", "442"].contains(&command_of(&reply[0])), "{reply:?}");
}

// ---------------------------------------------------------------------------------------------
// Conformance (issue 9): what the specs say, checked line by line. Each test's comment names
// the deviation the hub once had.
// ---------------------------------------------------------------------------------------------

/// Modern IRC (KICK message): `<channel> <user> *( "," <user> ) [<comment>]`, and "The server
/// MUST NOT send KICK messages with multiple users to clients."
#[test]
fn kick_one_channel_several_nicks_sends_one_kick_each() {
    let hub = Hub::start();
    let port = hub.port();
    let mut op = joined(port, "op", "#a");
    let mut bar = joined(port, "bar", "#a");
    let mut baz = joined(port, "baz", "#a");
    op.sync();
    bar.sync();
    let kicks = [
        format!("{} KICK #a bar :out", src("op")),
        format!("{} KICK #a baz :out", src("op")),
    ];
    assert_eq!(op.ask("KICK #a bar,baz :out"), kicks);
    bar.expect_next(&kicks[0]);
    baz.expect_next(&kicks[0]);
    baz.expect_next(&kicks[1]);
    assert_eq!(
        op.ask("NAMES #a"),
        [
            num("353", "op", "= #a :@op"),
            num("366", "op", "#a :End of /NAMES list"),
        ]
    );
}

/// RFC 2812 3.2.8 (KICK): `<channel> *( "," <channel> ) <user> *( "," <user> ) [<comment>]`:
/// "For the message to be syntactically correct, there MUST be either one channel parameter
/// and multiple user parameter, or as many channel parameters as there are user parameters",
/// and "The server MUST NOT send KICK messages with multiple channels or users to clients."
/// The hub once took `#a,#a` for one (unknown) channel name.
#[test]
fn kick_pairs_several_channels_with_as_many_nicks() {
    let hub = Hub::start();
    let port = hub.port();
    let mut op = joined(port, "op", "#a");
    op.ask("JOIN #b");
    let mut bar = joined(port, "bar", "#a");
    let mut baz = joined(port, "baz", "#a");
    baz.ask("JOIN #b");
    op.sync();
    bar.sync();

    // The same channel twice: each nick is kicked from it, one KICK message each.
    let kicks = [
        format!("{} KICK #a bar :out", src("op")),
        format!("{} KICK #a baz :out", src("op")),
    ];
    assert_eq!(op.ask("KICK #a,#a bar,baz :out"), kicks);
    bar.expect_next(&kicks[0]);
    baz.expect_next(&kicks[0]);
    baz.expect_next(&kicks[1]);
    assert_eq!(op.ask("NAMES #a")[0], num("353", "op", "= #a :@op"));

    // Two channels, two nicks: the first nick from the first channel, the second from the
    // second.
    bar.ask("JOIN #a");
    op.expect_next(&format!("{} JOIN #a", src("bar")));
    let kicks = [
        format!("{} KICK #a bar :again", src("op")),
        format!("{} KICK #b baz :again", src("op")),
    ];
    assert_eq!(op.ask("KICK #a,#b bar,baz :again"), kicks);
    bar.expect_next(&kicks[0]);
    baz.expect_next(&kicks[1]);
    assert_eq!(op.ask("NAMES #a")[0], num("353", "op", "= #a :@op"));
    assert_eq!(op.ask("NAMES #b")[0], num("353", "op", "= #b :@op"));
}

/// Modern IRC (NAMES message): "The channel names are evaluated one-by-one. For each channel
/// that exists and they are able to see the users in, the server returns one of more
/// RPL_NAMREPLY numerics containing the users joined to the channel and a single
/// RPL_ENDOFNAMES numeric. If the channel name is invalid or the channel does not exist, one
/// RPL_ENDOFNAMES numeric containing the given channel name should be returned." (example:
/// `NAMES #twilight_zone,#42`). The hub advertises TARGMAX NAMES: (no limit).
#[test]
fn names_of_several_channels_answers_each_in_turn() {
    let hub = Hub::start();
    let port = hub.port();
    let mut a = joined(port, "a", "#a");
    let mut b = joined(port, "b", "#b");
    a.ask("JOIN #b");
    b.sync();
    assert_eq!(
        a.ask("NAMES #a,#b,#nosuch"),
        [
            num("353", "a", "= #a :@a"),
            num("366", "a", "#a :End of /NAMES list"),
            num("353", "a", "= #b :@b a"),
            num("366", "a", "#b :End of /NAMES list"),
            num("366", "a", "#nosuch :End of /NAMES list"),
        ]
    );
}

/// Modern IRC (ERR_TOOMANYCHANNELS, 405): `"<client> <channel> :You have joined too many
/// channels"`, "Indicates that the JOIN command failed because the client has joined their
/// maximum number of channels"; RFC 2812 5.2: `"<channel name> :You have joined too many
/// channels"`. The hub advertises CHANLIMIT=#:50; it once named `*` instead of the channel.
#[test]
fn joining_beyond_chanlimit_names_the_channel_in_405() {
    let hub = Hub::start();
    let mut a = Irc::register(hub.port(), "a");
    let fifty: Vec<String> = (1..=50).map(|i| format!("#c{i}")).collect();
    let joined = a.ask(&format!("JOIN {}", fifty.join(",")));
    assert_eq!(
        joined.iter().filter(|l| command_of(l) == "JOIN").count(),
        50,
        "{}",
        a.dump()
    );
    assert_eq!(
        a.ask("JOIN #c51"),
        [num("405", "a", "#c51 :You have joined too many channels")]
    );
}
