//! IRC and plain clients together: the shared lobby, `obrol connect` and the seed's `client.py`
//! chatting with IRC clients, protocol sniffing on one port, and a real IRC client (irssi, driven
//! through tmux) that nobody here wrote.
//!
//! The hub and the IRC client these tests use are in `common/irc.rs`.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::irc::{
    num, plain_nick, silent_plain, src, wait_for_prompt, Hub, Irc, PLAIN_WELCOME, PY_PROMPT,
};
use common::{obrol_cmd, seed_cmd, Proc, Raw, LINE_TIMEOUT};

#[test]
fn plain_and_irc_clients_share_the_lobby() {
    let hub = Hub::start();
    let (mut plain, guest) = silent_plain("plain", hub.port());
    // Plain clients have no operator commands, so their member lists carry no prefixes.
    plain.expect(&format!("* in lobby (1): {guest}"));
    let mut irc = Irc::register(hub.port(), "ircy");
    // IRC clients are in no channel until they join one.
    assert_eq!(
        irc.ask("PRIVMSG #lobby :not yet"),
        [num("404", "ircy", "#lobby :Cannot send to channel")]
    );
    let joined = irc.ask("JOIN #lobby");
    assert_eq!(
        joined,
        [
            format!("{} JOIN #lobby", src("ircy")),
            // The lobby is the server's own room: nobody operates it for being first in.
            num("353", "ircy", &format!("= #lobby :{guest} ircy")),
            num("366", "ircy", "#lobby :End of /NAMES list"),
        ]
    );
    plain.expect("* ircy joined lobby");

    plain.send_line("hello from plain");
    irc.expect_next(&format!(
        ":{guest}!{guest}@127.0.0.1 PRIVMSG #lobby :hello from plain"
    ));
    assert!(irc.ask("PRIVMSG #lobby :hello from irc").is_empty());
    plain.expect("<ircy> hello from irc");
    irc.send("PRIVMSG #lobby :\u{1}ACTION waves\u{1}");
    plain.expect("* ircy waves");
    plain.send_line("/me waves back");
    irc.expect_next(&format!(
        ":{guest}!{guest}@127.0.0.1 PRIVMSG #lobby :\u{1}ACTION waves back\u{1}"
    ));

    // Private messages both ways.
    irc.send(&format!("PRIVMSG {guest} :psst"));
    plain.expect("*private* <ircy> psst");
    plain.send_line("/msg ircy hi back");
    plain.expect("-> *ircy* hi back");
    irc.expect_next(&format!(":{guest}!{guest}@127.0.0.1 PRIVMSG ircy :hi back"));

    // Each appears in the other's member list.
    plain.send_line("/who");
    plain.expect(&format!("* in lobby (2): {guest} ircy"));
    assert_eq!(
        irc.ask("NAMES #lobby")[0],
        num("353", "ircy", &format!("= #lobby :{guest} ircy"))
    );
    assert_eq!(
        irc.ask(&format!("WHO {guest}"))[0],
        num(
            "352",
            "ircy",
            &format!("* {guest} 127.0.0.1 irc.test {guest} H :0 {guest}")
        )
    );

    // Nick changes and quits cross over too.
    plain.send_line("/nick plainy");
    irc.expect_next(&format!(":{guest}!{guest}@127.0.0.1 NICK plainy"));
    irc.send("QUIT :bye all");
    plain.expect("* ircy quit (Quit: bye all)");
}

#[test]
fn obrol_connect_and_seed_client_chat_with_irc() {
    let hub = Hub::start();
    let port = hub.port();
    let mut irc = Irc::register(port, "ircy");
    irc.ask("JOIN #lobby");

    let addr = format!("127.0.0.1:{port}");
    let mut conn = Proc::spawn(
        "obrol-connect",
        obrol_cmd(&["connect", &addr, "--nick", "conn"]),
    );
    // It asks for its nick as it connects: it joins as conn, never as a guest.
    irc.expect_next(":conn!conn@127.0.0.1 JOIN #lobby");
    conn.expect("* you are conn in lobby; type /help for commands");

    let mut py = Proc::spawn_prompted(
        "client.py",
        seed_cmd("client.py", &["127.0.0.1", &port.to_string()]),
        PY_PROMPT,
    );
    py.expect_line(|l| l.starts_with("Pesan dari Server:"), LINE_TIMEOUT);
    let joined = irc.expect(|l| l.ends_with(" JOIN #lobby"), "client.py's JOIN");
    let py_nick = joined[1..].split('!').next().unwrap_or("").to_owned();
    assert!(py_nick.starts_with("guest"), "{joined}");

    // IRC to both.
    irc.send("PRIVMSG #lobby :hello from irc");
    conn.expect("<ircy> hello from irc");
    // client.py prompts once it has received something after the welcome (this message, or
    // the rest of the welcome), and prints what it receives only between prompts.
    wait_for_prompt(&py);
    // client.py to IRC (it sends without a newline; the hub takes the idle partial line).
    py.send_line("hello from seed");
    irc.expect_next(&format!(
        ":{py_nick}!{py_nick}@127.0.0.1 PRIVMSG #lobby :hello from seed"
    ));
    conn.expect(&format!("<{py_nick}> hello from seed"));
    py.expect_line(|l| l.contains("<ircy> hello from irc"), LINE_TIMEOUT);

    // obrol connect to IRC.
    conn.send_line("hello from connect");
    irc.expect_next(":conn!conn@127.0.0.1 PRIVMSG #lobby :hello from connect");
    // A private message from IRC to the obrol connect client.
    irc.send("PRIVMSG conn :only you");
    conn.expect("*private* <ircy> only you");
}

#[test]
fn one_port_serves_nc_irc_and_silent_clients() {
    let hub = Hub::start();
    let port = hub.port();
    let mut irc = Irc::register(port, "ircy");
    irc.ask("JOIN #lobby");

    // nc that speaks first: plain at once, and its first line is chat.
    let mut nc = Raw::connect("nc", port);
    nc.send_line("hello");
    nc.expect(PLAIN_WELCOME);
    let nc_nick = plain_nick(&nc.expect_line(|l| l.starts_with("* you are "), LINE_TIMEOUT));
    irc.expect_line(&format!(":{nc_nick}!{nc_nick}@127.0.0.1 JOIN #lobby"));
    irc.expect_next(&format!(
        ":{nc_nick}!{nc_nick}@127.0.0.1 PRIVMSG #lobby :hello"
    ));
    // A first word that only starts like an IRC command is plain too.
    let mut nicky = Raw::connect("nicky", port);
    nicky.send_line("NICKNAMES are fun");
    nicky.expect(PLAIN_WELCOME);
    irc.expect(
        |l| l.ends_with(" PRIVMSG #lobby :NICKNAMES are fun"),
        "NICKNAMES line as chat",
    );

    // Silent: plain once the sniffing wait (300 ms) is over.
    let start = Instant::now();
    let (mut silent, silent_nick) = silent_plain("silent", port);
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "a silent client got the plain welcome after only {:?}",
        start.elapsed()
    );
    irc.expect_line(&format!(
        ":{silent_nick}!{silent_nick}@127.0.0.1 JOIN #lobby"
    ));
    silent.send_line("late but here");
    irc.expect_next(&format!(
        ":{silent_nick}!{silent_nick}@127.0.0.1 PRIVMSG #lobby :late but here"
    ));
    nc.expect(&format!("<{silent_nick}> late but here"));

    // IRC from the same port, even in lower case.
    let mut lower = Irc::connect("lower", port);
    lower.send("nick lower");
    lower.send("user lower 0 * :Lower");
    lower.expect_next(&num(
        "001",
        "lower",
        ":Welcome to the obrol IRC network, lower",
    ));
    assert!(irc.ask("PRIVMSG lower :hi").is_empty());
    lower.expect(
        |l| l == format!("{} PRIVMSG lower :hi", src("ircy")),
        "PRIVMSG",
    );
}

#[test]
fn irc_listener_treats_a_silent_client_as_irc() {
    let hub = Hub::start_on(&["127.0.0.1:0", "irc://127.0.0.1:0"]);
    let irc_port = hub.port_of("Irc");
    let mut quiet = Irc::connect("quiet", irc_port);
    // A silent client on the sniffing port has long been made plain by the time this returns.
    let (_control, _) = silent_plain("control", hub.port());
    // On the IRC port the silent client got nothing: not the plain welcome.
    quiet.send("NICK quiet");
    let before = quiet.sync();
    assert!(before.is_empty(), "{}", quiet.dump());
    quiet.send("USER quiet 0 * :Quiet");
    quiet.expect_next(&num(
        "001",
        "quiet",
        ":Welcome to the obrol IRC network, quiet",
    ));
    quiet.expect_line(&num("376", "quiet", ":End of /MOTD command."));
    // Plain chat on the IRC port is an unknown command, not a message.
    let mut talker = Irc::connect("talker", irc_port);
    talker.send("hello there");
    talker.expect_next(&num("451", "*", ":You have not registered"));
}

/// Panics with a clear message if `program` cannot be run: the irssi test needs it, and CI
/// installs it (`.ci/run`).
#[track_caller]
fn require_tool(program: &str, version_arg: &str) {
    match Command::new(program).arg(version_arg).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`{program} {version_arg}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!(
            "{program} is needed to test obrol with a real IRC client but cannot be run ({e}). \
             Install the Debian packages irssi and tmux (apt-get install irssi tmux); CI does \
             this in .ci/run."
        ),
    }
}

/// Makes tmux socket names unique within this test process.
static NEXT_TMUX: AtomicUsize = AtomicUsize::new(0);

/// irssi's configuration: identity only, no networks, servers or scripts; and no flood
/// control, which would otherwise hold `/join` back for seconds after connecting.
const IRSSI_CONFIG: &str = r#"settings = {
  core = {
    real_name = "Irssi Tester";
    user_name = "irssi";
    nick = "irssinick";
  };
  "irc/core" = { cmd_queue_speed = "0msec"; cmds_max_at_once = "100"; };
  "fe-common/core" = { autolog = "no"; };
};
"#;

/// irssi in a detached tmux session on a private tmux server, with a fresh home directory.
/// Dropping it kills the tmux server (and irssi) and removes the home directory.
struct Irssi {
    /// The tmux server's socket name (`tmux -L`); also the session name.
    socket: String,
    home: PathBuf,
}

impl Irssi {
    fn start(port: u16, nick: &str) -> Irssi {
        require_tool("tmux", "-V");
        require_tool("irssi", "--version");
        let socket = format!(
            "obrol-irc-{}-{}",
            std::process::id(),
            NEXT_TMUX.fetch_add(1, Ordering::Relaxed)
        );
        let home = std::env::temp_dir().join(&socket);
        std::fs::create_dir_all(&home).expect("create irssi's home");
        std::fs::write(home.join("config"), IRSSI_CONFIG).expect("write irssi's config");
        let irssi = Irssi { socket, home };
        // If irssi exits, the pane keeps its last words for the failure message.
        let shell = format!(
            "irssi --home='{}' -n {nick} -c 127.0.0.1 -p {port}; \
             echo \"irssi exited with status $?\"; sleep 600",
            irssi.home.display()
        );
        irssi.tmux(&[
            "new-session",
            "-d",
            "-s",
            &irssi.socket,
            "-x",
            "200",
            "-y",
            "50",
            &shell,
        ]);
        irssi
    }

    /// Runs `tmux -L SOCKET args...`, panicking if it fails; returns its stdout.
    #[track_caller]
    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run tmux: {e}"));
        assert!(
            out.status.success(),
            "`tmux {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `text` into irssi and presses Enter.
    #[track_caller]
    fn type_line(&self, text: &str) {
        self.tmux(&["send-keys", "-t", &self.socket, "-l", text]);
        self.tmux(&["send-keys", "-t", &self.socket, "Enter"]);
    }

    /// What irssi's window shows now.
    #[track_caller]
    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-J", "-t", &self.socket])
    }

    /// Polls the screen until a line satisfies `pred`; returns that line.
    #[track_caller]
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + LINE_TIMEOUT;
        loop {
            let screen = self.screen();
            if let Some(line) = screen.lines().find(|l| pred(l)) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "irssi's screen showed no {what} within {LINE_TIMEOUT:?}:\n{screen}"
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Irssi {
    fn drop(&mut self) {
        // The server's socket file stays behind a killed server: removed too.
        let path = Command::new("tmux")
            .args([
                "-L",
                &self.socket,
                "display-message",
                "-p",
                "#{socket_path}",
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
        if path.starts_with('/') {
            let _ = std::fs::remove_file(&path);
        }
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

#[test]
fn irssi_chats_with_obrol_connect_and_seed_client() {
    let hub = Hub::start();
    let port = hub.port();
    let addr = format!("127.0.0.1:{port}");
    let mut conn = Proc::spawn(
        "obrol-connect",
        obrol_cmd(&["connect", &addr, "--nick", "conn"]),
    );
    conn.expect("* you are conn in lobby; type /help for commands");

    let irssi = Irssi::start(port, "irssinick");
    irssi.wait_for("welcome (001)", |l| {
        l.contains("Welcome to the obrol IRC network, irssinick")
    });
    irssi.type_line("/join #lobby");
    conn.expect("* irssinick joined lobby");
    irssi.wait_for("its own join", |l| {
        l.contains("irssinick") && l.contains("has joined #lobby")
    });

    let mut py = Proc::spawn_prompted(
        "client.py",
        seed_cmd("client.py", &["127.0.0.1", &port.to_string()]),
        PY_PROMPT,
    );
    py.expect_line(|l| l.starts_with("Pesan dari Server:"), LINE_TIMEOUT);
    let py_joined = conn.expect_line(
        |l| l.starts_with("* guest") && l.ends_with(" joined lobby"),
        LINE_TIMEOUT,
    );
    let py_nick = py_joined
        .strip_prefix("* ")
        .and_then(|r| r.split(' ').next())
        .unwrap_or("")
        .to_owned();

    // irssi to obrol connect and client.py.
    irssi.type_line("hello from irssi");
    conn.expect("<irssinick> hello from irssi");

    // obrol connect to irssi.
    conn.send_line("hi irssi from connect");
    irssi.wait_for("the message from obrol connect", |l| {
        l.contains("conn") && l.contains("hi irssi from connect")
    });

    // client.py to irssi. It prompts once it has received something after the welcome, and
    // prints what it receives only between prompts.
    wait_for_prompt(&py);
    py.send_line("hi irssi from seed");
    conn.expect(&format!("<{py_nick}> hi irssi from seed"));
    irssi.wait_for("the message from client.py", |l| {
        l.contains(&py_nick) && l.contains("hi irssi from seed")
    });
    py.expect_line(|l| l.contains("<irssinick> hello from irssi"), LINE_TIMEOUT);

    // A private message from irssi opens a query on the obrol connect side.
    irssi.type_line("/msg conn just between us");
    conn.expect("*private* <irssinick> just between us");
}
