//! IRC helpers shared by the `irc_*` test files: a hub started for one test ([`Hub`]), a small
//! line-oriented IRC client ([`Irc`]), and helpers to build and take apart IRC lines.
//!
//! Every test starts its own `obrol serve --listen 127.0.0.1:0 --name irc.test` and talks to it
//! with [`Irc`], a small line-oriented client over a blocking `TcpStream` with read timeouts.
//! Nothing sleeps to let the hub catch up: a test waits for the line it expects, and checks that
//! something did *not* happen with [`Irc::ask`], which sends a command followed by a `PING` and
//! returns every line before the `PONG`. The hub answers a registered client in the order it
//! asked (edge replies travel through the router with everything else), so whatever the command
//! caused has arrived by the time the `PONG` does.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{obrol_cmd, Proc, Raw, LINE_TIMEOUT};

/// The `--name` every test hub gets: the source of numerics and the PONG origin.
pub const SERVER: &str = "irc.test";

/// The plain welcome's first line for a hub named [`SERVER`].
pub const PLAIN_WELCOME: &str = "Selamat datang di Server irc.test...";

/// The capabilities the hub advertises, in the order `CAP LS` lists them.
pub const ALL_CAPS: &str = "account-notify account-tag away-notify batch cap-notify echo-message extended-join invite-notify labeled-response message-tags multi-prefix server-time setname userhost-in-names";

/// The prompt the seed's `client.py` writes before it reads a line.
pub const PY_PROMPT: &str = "Masukkan Pesan: ";

// ---------------------------------------------------------------------------------------------
// The hub
// ---------------------------------------------------------------------------------------------

/// A running `obrol serve`, killed when dropped.
pub struct Hub {
    pub proc: Proc,
    /// Each listener's kind as logged (`Auto`, `Irc`, `Plain`) and port, in the order logged.
    pub listeners: Vec<(String, u16)>,
}

impl Hub {
    /// A hub with one sniffing listener on 127.0.0.1.
    pub fn start() -> Hub {
        Hub::start_on(&["127.0.0.1:0"])
    }

    /// A hub with one sniffing listener on 127.0.0.1 and `extra` arguments for `obrol serve`
    /// (such as `--oper NAME:PASSWORD`).
    pub fn start_with(extra: &[&str]) -> Hub {
        Hub::start_full(&["127.0.0.1:0"], extra)
    }

    /// A hub with one listener per `--listen` value in `listen`; waits until each has logged
    /// `listening on ADDR (KIND)`.
    pub fn start_on(listen: &[&str]) -> Hub {
        Hub::start_full(listen, &[])
    }

    /// Like [`Hub::start_on`], with `extra` arguments for `obrol serve`.
    pub fn start_full(listen: &[&str], extra: &[&str]) -> Hub {
        let mut args = vec!["serve"];
        for l in listen {
            args.push("--listen");
            args.push(l);
        }
        args.extend(["--name", SERVER]);
        args.extend(extra);
        let proc = Proc::spawn("hub", obrol_cmd(&args));
        let mut seen = 0;
        proc.expect_stderr_line(
            |l| {
                if l.contains("listening on ") {
                    seen += 1;
                }
                seen == listen.len()
            },
            LINE_TIMEOUT,
        );
        let listeners: Vec<(String, u16)> = proc
            .stderr_lines()
            .iter()
            .filter_map(|l| {
                let rest = l.split("listening on ").nth(1)?;
                let (addr, kind) = rest.split_once(" (")?;
                let addr: std::net::SocketAddr = addr.parse().ok()?;
                Some((kind.trim_end_matches(')').to_owned(), addr.port()))
            })
            .collect();
        assert_eq!(
            listeners.len(),
            listen.len(),
            "cannot parse the listening lines\n{}",
            proc.dump()
        );
        Hub { proc, listeners }
    }

    /// The port of the first listener of `kind`.
    #[track_caller]
    pub fn port_of(&self, kind: &str) -> u16 {
        match self.listeners.iter().find(|(k, _)| k == kind) {
            Some(&(_, port)) => port,
            None => panic!("no {kind} listener\n{}", self.proc.dump()),
        }
    }

    /// The port of the sniffing listener.
    pub fn port(&self) -> u16 {
        self.port_of("Auto")
    }
}

/// A fresh (removed if it exists) temporary data directory for `obrol serve --data-dir`,
/// named by the test file `kind` and the test's `tag`.
pub fn data_dir(kind: &str, tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("obrol-{kind}-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A hub keeping its store in `dir`, with `extra` arguments.
pub fn hub_with_data(dir: &std::path::Path, extra: &[&str]) -> Hub {
    let d = dir.to_str().expect("a UTF-8 path").to_owned();
    let mut args = vec!["--data-dir", d.as_str()];
    args.extend_from_slice(extra);
    Hub::start_with(&args)
}

/// A plain client named `nick` (its first line asks for it), its welcome read.
pub fn plain_client(port: u16, nick: &str) -> Raw {
    let mut c = Raw::connect(nick, port);
    c.send_line(&format!("/nick {nick}"));
    c.expect(PLAIN_WELCOME);
    c.expect_line(
        |l| l.starts_with(&format!("* you are {nick} ")),
        LINE_TIMEOUT,
    );
    c
}

// ---------------------------------------------------------------------------------------------
// A small IRC client
// ---------------------------------------------------------------------------------------------

/// One IRC connection from the test: sends lines, reads lines with a deadline, and keeps
/// everything it received for failure messages.
pub struct Irc {
    pub name: String,
    stream: TcpStream,
    /// Bytes received but not yet split into lines.
    pending: Vec<u8>,
    /// Every line received so far.
    pub received: Vec<String>,
    /// The hub closed the connection (or it failed: see `error`).
    closed: bool,
    error: Option<String>,
    /// Numbers the `PING`s sent by [`Irc::ask`].
    syncs: u32,
}

impl Irc {
    /// Connects to 127.0.0.1:`port` without sending anything.
    #[track_caller]
    pub fn connect(name: &str, port: u16) -> Irc {
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .unwrap_or_else(|e| panic!("{name}: cannot connect to 127.0.0.1:{port}: {e}"));
        Irc::over(name, stream)
    }

    /// Connects to 127.0.0.1:`port` from the loopback address `from` (127.0.0.0/8 is all
    /// loopback, so tests can play clients at different addresses).
    #[track_caller]
    pub fn connect_from(name: &str, from: Ipv4Addr, port: u16) -> Irc {
        Irc::over(name, connect_from(from, port))
    }

    /// Registers as `nick` from the loopback address `from` (see [`Irc::connect_from`]).
    #[track_caller]
    pub fn register_from(from: Ipv4Addr, port: u16, nick: &str) -> Irc {
        let mut c = Irc::connect_from(nick, from, port);
        c.send(&format!("NICK {nick}"));
        c.send(&format!("USER {nick} 0 * :Real {nick}"));
        c.expect_line(&num("376", nick, ":End of /MOTD command."));
        c
    }

    /// Whether the hub has closed the connection (as far as reads have found).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// A second handle on this connection's socket (to write from another thread).
    pub fn try_clone_stream(&self) -> TcpStream {
        self.stream.try_clone().expect("clone a TcpStream")
    }

    /// An `Irc` over a connection the test made itself.
    pub fn over(name: &str, stream: TcpStream) -> Irc {
        let _ = stream.set_nodelay(true);
        Irc {
            name: name.to_owned(),
            stream,
            pending: Vec::new(),
            received: Vec::new(),
            closed: false,
            error: None,
            syncs: 0,
        }
    }

    /// Connects and registers as `nick` (user name `nick`, real name `Real nick`), then waits
    /// for the end of the MOTD.
    #[track_caller]
    pub fn register(port: u16, nick: &str) -> Irc {
        let mut c = Irc::connect(nick, port);
        c.send(&format!("NICK {nick}"));
        c.send(&format!("USER {nick} 0 * :Real {nick}"));
        c.expect_line(&num("376", nick, ":End of /MOTD command."));
        c
    }

    /// Connects and registers as `nick` with user name `user` and real name `realname`, then
    /// waits for the end of the MOTD.
    #[track_caller]
    pub fn register_as(port: u16, nick: &str, user: &str, realname: &str) -> Irc {
        let mut c = Irc::connect(nick, port);
        c.send(&format!("NICK {nick}"));
        c.send(&format!("USER {user} 0 * :{realname}"));
        c.expect_line(&num("376", nick, ":End of /MOTD command."));
        c
    }

    /// Like [`Irc::register`], negotiating `caps` (space-separated) first.
    #[track_caller]
    pub fn register_with_caps(port: u16, nick: &str, caps: &str) -> Irc {
        let mut c = Irc::connect(nick, port);
        c.send("CAP LS 302");
        c.send(&format!("NICK {nick}"));
        c.send(&format!("USER {nick} 0 * :Real {nick}"));
        c.expect(|l| l.starts_with(":irc.test CAP * LS :"), "CAP LS reply");
        c.send(&format!("CAP REQ :{caps}"));
        c.expect_line(&format!(":irc.test CAP {nick} ACK :{caps}"));
        c.send("CAP END");
        c.expect_line(&num("376", nick, ":End of /MOTD command."));
        c
    }

    /// Sends `line` with CRLF.
    #[track_caller]
    pub fn send(&mut self, line: &str) {
        self.send_bytes(format!("{line}\r\n").as_bytes());
    }

    #[track_caller]
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        if let Err(e) = self.stream.write_all(bytes) {
            panic!("{}: cannot send ({e})\n{}", self.name, self.dump());
        }
    }

    /// The next line, waiting until `deadline`; `None` on timeout or when the connection ends.
    pub fn read_line(&mut self, deadline: Instant) -> Option<String> {
        loop {
            if let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.pending.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                let line = String::from_utf8_lossy(&line).into_owned();
                self.received.push(line.clone());
                return Some(line);
            }
            if self.closed {
                return None;
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            let wait = (deadline - now).max(Duration::from_millis(1));
            self.stream
                .set_read_timeout(Some(wait))
                .expect("set a read timeout");
            let mut buf = [0u8; 8192];
            match self.stream.read(&mut buf) {
                Ok(0) => self.closed = true,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return None
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.closed = true;
                    self.error = Some(e.to_string());
                }
            }
        }
    }

    /// Everything received so far, for failure messages.
    pub fn dump(&self) -> String {
        let mut s = format!("--- {} received ---\n", self.name);
        for line in &self.received {
            s.push_str(line);
            s.push('\n');
        }
        if !self.pending.is_empty() {
            s.push_str(&format!(
                "(unfinished line: {:?})\n",
                String::from_utf8_lossy(&self.pending)
            ));
        }
        let state = match (&self.error, self.closed) {
            (Some(e), _) => format!(" (connection failed: {e})"),
            (None, true) => " (connection closed)".to_owned(),
            (None, false) => String::new(),
        };
        s.push_str(&format!("--- {} end{state} ---", self.name));
        s
    }

    /// Reads lines until one satisfies `pred` and returns all of them, the match last. Panics,
    /// naming `what`, if none comes within [`LINE_TIMEOUT`].
    #[track_caller]
    pub fn until(&mut self, mut pred: impl FnMut(&str) -> bool, what: &str) -> Vec<String> {
        let deadline = Instant::now() + LINE_TIMEOUT;
        let mut lines = Vec::new();
        loop {
            match self.read_line(deadline) {
                Some(line) => {
                    let done = pred(&line);
                    lines.push(line);
                    if done {
                        return lines;
                    }
                }
                None => panic!(
                    "{}: no {what} within {LINE_TIMEOUT:?}{}\n{}",
                    self.name,
                    if self.closed {
                        " and the connection has ended"
                    } else {
                        ""
                    },
                    self.dump()
                ),
            }
        }
    }

    /// Skips lines until one satisfies `pred`, and returns it.
    #[track_caller]
    pub fn expect(&mut self, pred: impl FnMut(&str) -> bool, what: &str) -> String {
        self.until(pred, what)
            .pop()
            .expect("until returns the match")
    }

    /// Skips lines until exactly `line` comes.
    #[track_caller]
    pub fn expect_line(&mut self, line: &str) {
        self.expect(|l| l == line, &format!("line {line:?}"));
    }

    /// Asserts that the next lines are `head` followed by consecutive parts of `text`, each
    /// line within IRC's 512 bytes (CRLF included): a message too long to relay in one line.
    #[track_caller]
    pub fn expect_parts(&mut self, head: &str, text: &str) {
        let mut got = String::new();
        while got.len() < text.len() {
            let line = self.expect(|_| true, &format!("the rest of {text:?}"));
            assert!(
                line.len() + 2 <= 512,
                "{}: over 512 bytes: {line}",
                self.name
            );
            let part = line
                .strip_prefix(head)
                .unwrap_or_else(|| panic!("{}: {line:?} is not {head:?}...", self.name));
            got.push_str(part);
        }
        assert_eq!(got, text, "{}", self.name);
    }

    /// Asserts that the very next line is exactly `line`.
    #[track_caller]
    pub fn expect_next(&mut self, line: &str) {
        let got = self.expect(|_| true, &format!("line {line:?}"));
        assert_eq!(got, line, "{}: unexpected line\n{}", self.name, self.dump());
    }

    /// Sends `line`, then a `PING`, and returns every line received before the `PONG`: all that
    /// `line` caused, and whatever else was already on its way.
    #[track_caller]
    pub fn ask(&mut self, line: &str) -> Vec<String> {
        self.send(line);
        self.sync()
    }

    /// Sends a `PING` and returns the lines received before its `PONG`.
    #[track_caller]
    pub fn sync(&mut self) -> Vec<String> {
        self.syncs += 1;
        let token = format!("sync-{}", self.syncs);
        self.send(&format!("PING :{token}"));
        let pong = format!(":irc.test PONG irc.test :{token}");
        let mut lines = self.until(|l| l == pong, &format!("PONG for {token}"));
        lines.pop();
        lines
    }

    /// Waits until the hub closes the connection; returns the lines received meanwhile.
    #[track_caller]
    pub fn expect_closed(&mut self) -> Vec<String> {
        let deadline = Instant::now() + LINE_TIMEOUT;
        let mut lines = Vec::new();
        while let Some(line) = self.read_line(deadline) {
            lines.push(line);
        }
        assert!(
            self.closed,
            "{}: the hub did not close the connection within {LINE_TIMEOUT:?}\n{}",
            self.name,
            self.dump()
        );
        lines
    }
}

impl Drop for Irc {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

// ---------------------------------------------------------------------------------------------
// Lines
// ---------------------------------------------------------------------------------------------

/// A numeric as the hub sends it: `:irc.test CODE NICK REST`.
pub fn num(code: &str, nick: &str, rest: &str) -> String {
    format!(":{SERVER} {code} {nick} {rest}")
}

/// The source of a client registered by [`Irc::register`] as `nick`: `:nick!nick@127.0.0.1`.
pub fn src(nick: &str) -> String {
    format!(":{nick}!{nick}@127.0.0.1")
}

/// The command (or numeric) of a line: the first word after any tags and source.
pub fn command_of(line: &str) -> &str {
    let mut words = line.split(' ').filter(|w| !w.is_empty());
    let mut word = words.next().unwrap_or("");
    if word.starts_with('@') {
        word = words.next().unwrap_or("");
    }
    if word.starts_with(':') {
        word = words.next().unwrap_or("");
    }
    word
}

/// The commands of `lines`, in order.
pub fn commands(lines: &[String]) -> Vec<&str> {
    lines.iter().map(|l| command_of(l)).collect()
}

/// The trailing parameter of a line (after ` :`), or "".
pub fn trailing(line: &str) -> &str {
    line.split_once(" :").map_or("", |(_, t)| t)
}

/// The raw value of the message tag `key` on `line` (`""` for a tag without a value), or `None`
/// when the line has no such tag (or no tags at all).
pub fn tag<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let tags = line.strip_prefix('@')?.split(' ').next()?;
    tags.split(';').find_map(|t| match t.split_once('=') {
        Some((k, v)) if k == key => Some(v),
        None if t == key => Some(""),
        _ => None,
    })
}

/// Every message tag on `line` as key and raw value (`""` for a tag without a value); empty when
/// the line has no tags.
pub fn tags_of(line: &str) -> BTreeMap<String, String> {
    let Some(tags) = line.strip_prefix('@').and_then(|l| l.split(' ').next()) else {
        return BTreeMap::new();
    };
    tags.split(';')
        .map(|t| match t.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (t.to_owned(), String::new()),
        })
        .collect()
}

/// `line` without its tags (and the space after them).
pub fn untagged(line: &str) -> &str {
    match line.strip_prefix('@') {
        Some(rest) => rest.split_once(' ').map_or("", |(_, r)| r),
        None => line,
    }
}

/// The middle parameters of a numeric after its target, without the trailing parameter:
/// `:irc.test 005 a X=1 Y :are supported` gives `["X=1", "Y"]`.
pub fn numeric_middle(line: &str) -> Vec<&str> {
    let head = line.split_once(" :").map_or(line, |(h, _)| h);
    head.split(' ').skip(3).collect()
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    i64::try_from(secs).expect("seconds fit i64")
}

/// Unix seconds of an IRCv3 server-time value `YYYY-MM-DDThh:mm:ss.sssZ`; `None` if it has any
/// other shape.
pub fn parse_server_time(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    let shape = b.len() == 24
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            23 => c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !shape {
        return None;
    }
    let n = |from: usize, to: usize| -> i64 { t[from..to].parse().expect("digits") };
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19))
}

/// Asserts that `line` carries an `@time=` tag close to now and returns the line without it.
#[track_caller]
pub fn strip_time_tag(line: &str) -> &str {
    let Some((tags, rest)) = line.strip_prefix('@').and_then(|l| l.split_once(' ')) else {
        panic!("no tags on {line:?}");
    };
    let time = tags
        .split(';')
        .find_map(|t| t.strip_prefix("time="))
        .unwrap_or_else(|| panic!("no time tag on {line:?}"));
    let secs =
        parse_server_time(time).unwrap_or_else(|| panic!("bad server-time {time:?} in {line:?}"));
    assert!(
        (secs - unix_now()).abs() <= 60,
        "server-time {time} in {line:?} is not close to now"
    );
    rest
}

// ---------------------------------------------------------------------------------------------
// Channels, operators and plain clients
// ---------------------------------------------------------------------------------------------

/// `:op!op@127.0.0.1 MODE #CHAN CHANGE`, as channel members see a mode change by `op`.
pub fn mode_line(op: &str, chan: &str, change: &str) -> String {
    format!("{} MODE {chan} {change}", src(op))
}

/// A TCP connection to 127.0.0.1:`port` from the loopback address `from`.
#[track_caller]
pub fn connect_from(from: Ipv4Addr, port: u16) -> TcpStream {
    connect_from_with(from, port, None)
}

/// Like [`connect_from`], with a receive buffer of `rcvbuf` bytes set before connecting (a
/// small one makes a client that does not read back up into the hub quickly).
#[track_caller]
pub fn connect_from_with(from: Ipv4Addr, port: u16, rcvbuf: Option<usize>) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .expect("a TCP socket");
    if let Some(size) = rcvbuf {
        socket.set_recv_buffer_size(size).expect("SO_RCVBUF");
    }
    let local = std::net::SocketAddr::from((from, 0));
    socket
        .bind(&local.into())
        .unwrap_or_else(|e| panic!("cannot bind {from}: {e}"));
    let hub = std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    socket
        .connect(&hub.into())
        .unwrap_or_else(|e| panic!("cannot connect from {from} to {hub}: {e}"));
    socket.into()
}

/// Registers `nick` and joins `chan`, consuming the join's own replies.
#[track_caller]
pub fn joined(port: u16, nick: &str, chan: &str) -> Irc {
    let mut c = Irc::register(port, nick);
    let lines = c.ask(&format!("JOIN {chan}"));
    assert_eq!(
        lines.first(),
        Some(&format!("{} JOIN {chan}", src(nick))),
        "{}",
        c.dump()
    );
    c
}

/// The Argon2id hash of `secret` (made with `obrol hash-password`).
pub const SECRET_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$+IKCsaMTy+kSbFIS9XOaRQ$aDKuPC1A+vbe8TTawKZJKEmkPSqM+P5Cj3QFmWavnBo";

/// The hub arguments configuring the one operator these tests use: `admin`, password `secret`.
pub const OPER_ARGS: [&str; 2] = [
    "--oper",
    "admin:$argon2id$v=19$m=19456,t=2,p=1$+IKCsaMTy+kSbFIS9XOaRQ$aDKuPC1A+vbe8TTawKZJKEmkPSqM+P5Cj3QFmWavnBo",
];

/// `:irc.test 481 NICK :Permission Denied- You're not an IRC operator`.
pub fn no_privileges(nick: &str) -> String {
    num(
        "481",
        nick,
        ":Permission Denied- You're not an IRC operator",
    )
}

/// The guest nick from a plain welcome line `* you are NICK in lobby; ...`.
#[track_caller]
pub fn plain_nick(line: &str) -> String {
    line.strip_prefix("* you are ")
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("not a plain welcome: {line:?}"))
        .to_owned()
}

/// A plain client that connects and waits silently until the hub gives it the welcome;
/// returns it with its guest nick.
#[track_caller]
pub fn silent_plain(name: &str, port: u16) -> (Raw, String) {
    let mut raw = Raw::connect(name, port);
    raw.expect(PLAIN_WELCOME);
    let line = raw.expect_line(|l| l.starts_with("* you are "), LINE_TIMEOUT);
    (raw, plain_nick(&line))
}

/// Waits until the seed's `client.py` has written its first input prompt.
#[track_caller]
pub fn wait_for_prompt(py: &Proc) {
    let deadline = Instant::now() + LINE_TIMEOUT;
    while py.prompts() == 0 {
        assert!(
            Instant::now() < deadline,
            "client.py never prompted\n{}",
            py.dump()
        );
        py.wait_stdout_change(py.stdout_generation(), Duration::from_millis(100));
    }
}
