//! Shared harness for the integration tests: network namespaces and the child processes that
//! run in them.
//!
//! Multicast sent by a test must never reach the machine's real network. Every process that
//! sends or receives multicast therefore runs inside a namespace the test creates itself
//! ([`Netns`]), whose only interfaces are its own `lo` and veth pairs between test namespaces.
//! A namespace that cannot be created fails the test (or skips it when `OBROL_SKIP_NETNS=1`),
//! it never falls back to the host's network.
//!
//! [`Proc`] wraps one child with piped stdin, stdout and stderr. Reader threads collect output
//! lines as they come, so a test can wait for a line with a timeout instead of sleeping, and a
//! failing test prints everything the child said. Tests over loopback TCP (the hub) can use
//! [`Proc`] and [`obrol_cmd`] without a namespace.
//!
//! IRC-specific helpers (a hub for one test, a small IRC client, line helpers) are in the
//! [`irc`] submodule.
//!
//! Not every test file uses every helper.
#![allow(dead_code)]

pub mod irc;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long to wait for an expected line. Generous: a loaded two-core CI machine runs several
/// tests, each with several processes, at once. Passing tests never wait this long.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait for a process to exit once it has been told to.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `obrol` binary built for these tests.
pub const OBROL: &str = env!("CARGO_BIN_EXE_obrol");

/// A command running the obrol binary with `args`, in the current network namespace (only for
/// tests that use no multicast, such as hub tests over loopback TCP).
pub fn obrol_cmd(args: &[&str]) -> Command {
    let mut cmd = Command::new(OBROL);
    cmd.args(args);
    quiet_logs(&mut cmd);
    cmd
}

/// Keeps a `RUST_LOG` set for the test run from adding log lines to the child's stderr, which
/// tests check line by line.
fn quiet_logs(cmd: &mut Command) {
    cmd.env_remove("RUST_LOG");
}

/// The seed's Python programs (`sender.py`, `receiver.py`, `client.py`, ...): `OBROL_SEED_DIR`,
/// else `../shared/seed` beside the repository, else the copy in the repository's `seed/`.
/// An empty temporary directory for one test, `obrol-NAME-PID` (whatever was there is removed).
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("obrol-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

pub fn seed_dir() -> PathBuf {
    let beside = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/seed"));
    let copy = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../seed"));
    let dir = match std::env::var_os("OBROL_SEED_DIR") {
        Some(dir) => PathBuf::from(dir),
        None if beside.join("sender.py").is_file() => beside,
        None => copy,
    };
    for program in ["sender.py", "receiver.py"] {
        assert!(
            dir.join(program).is_file(),
            "the seed program {program} is not in {}: set OBROL_SEED_DIR to the seed directory",
            dir.display()
        );
    }
    dir
}

// ---------------------------------------------------------------------------------------------
// Network namespaces
// ---------------------------------------------------------------------------------------------

/// Makes namespace names unique within this test process; the pid makes them unique across
/// test binaries running at once.
static NEXT_NETNS: AtomicUsize = AtomicUsize::new(0);

/// Serialises `ip netns add`/`del`: the first `add` on a machine sets up the `/run/netns` mount,
/// and two tests doing that at once is asking for trouble.
static NETNS_LOCK: Mutex<()> = Mutex::new(());

/// A network namespace made by the test and deleted when dropped.
///
/// Processes started with [`Netns::cmd`] see only this namespace's interfaces.
pub struct Netns {
    /// The name under /run/netns, `obrol-<pid>-<n>`.
    name: String,
}

impl Netns {
    /// Creates an empty namespace (its `lo` is down).
    ///
    /// If that is impossible (not root, no `ip`), this panics, failing the test, unless
    /// `OBROL_SKIP_NETNS=1`, in which case it prints why and returns `None`: the caller then
    /// returns without testing anything.
    pub fn create() -> Option<Netns> {
        let name = format!(
            "obrol-{}-{}",
            std::process::id(),
            NEXT_NETNS.fetch_add(1, Ordering::Relaxed)
        );
        let result = {
            let _guard = NETNS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            Command::new("ip").args(["netns", "add", &name]).output()
        };
        let why = match result {
            Ok(out) if out.status.success() => return Some(Netns { name }),
            Ok(out) => format!(
                "`ip netns add {name}` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(err) => format!("cannot run `ip netns add {name}`: {err}"),
        };
        if std::env::var("OBROL_SKIP_NETNS").as_deref() == Ok("1") {
            println!("skipped: {why} (OBROL_SKIP_NETNS=1)");
            return None;
        }
        panic!(
            "cannot create a network namespace, which these tests need so that their multicast \
             never reaches a real network: {why}. Run the tests as root (or with CAP_SYS_ADMIN \
             and CAP_NET_ADMIN), or set OBROL_SKIP_NETNS=1 to skip them."
        );
    }

    /// A namespace whose `lo` is up and carries IPv4 multicast: the usual one-host set-up.
    pub fn with_lo_multicast() -> Option<Netns> {
        let ns = Netns::create()?;
        ns.lo_up();
        ns.lo_multicast();
        Some(ns)
    }

    /// A namespace whose `lo` is up but which has no multicast route at all.
    pub fn with_lo_only() -> Option<Netns> {
        let ns = Netns::create()?;
        ns.lo_up();
        Some(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `program` inside this namespace.
    pub fn cmd(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// A command that runs obrol with `args` inside this namespace.
    pub fn obrol(&self, args: &[&str]) -> Command {
        let mut cmd = self.cmd(OBROL);
        cmd.args(args);
        quiet_logs(&mut cmd);
        cmd
    }

    /// Writes a new multicast group key to `path` with `obrol mcast keygen`, in this namespace.
    pub fn keygen(&self, path: &Path) {
        let mut gen = Proc::spawn(
            "keygen",
            self.obrol(&["mcast", "keygen", &path.to_string_lossy()]),
        );
        gen.close_stdin();
        gen.wait_success();
    }

    /// A command that runs a Python script inside this namespace, unbuffered and in UTF-8.
    pub fn python(&self, script: &str) -> Command {
        let mut cmd = self.cmd("python3");
        cmd.args(["-u", "-c", script]);
        cmd.env("PYTHONIOENCODING", "utf-8");
        cmd
    }

    /// A command that runs one of the seed's Python programs with `args` inside this namespace.
    pub fn seed(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = self.cmd("python3");
        cmd.arg("-u").arg(seed_dir().join(program)).args(args);
        cmd.env("PYTHONIOENCODING", "utf-8");
        cmd
    }

    /// Runs `ip -n <ns> args...`, panicking if it fails.
    pub fn ip(&self, args: &[&str]) {
        self.ip_allowing(args, None);
    }

    /// Like [`Netns::ip`], but an error message containing `allowed` (e.g. "File exists") is
    /// not a failure.
    pub fn ip_allowing(&self, args: &[&str], allowed: Option<&str>) {
        let out = run(Command::new("ip").args(["-n", &self.name]).args(args));
        if out.status.success() {
            return;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        if allowed.is_some_and(|a| stderr.contains(a)) {
            return;
        }
        panic!(
            "`ip -n {} {}` failed ({}): {}",
            self.name,
            args.join(" "),
            out.status,
            stderr.trim()
        );
    }

    /// Runs a shell command inside the namespace, panicking if it fails; returns its stdout.
    pub fn sh(&self, script: &str) -> String {
        let out = run(self.cmd("sh").args(["-c", script]));
        assert!(
            out.status.success(),
            "`{script}` in namespace {} failed ({}): {}",
            self.name,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn lo_up(&self) {
        self.ip(&["link", "set", "lo", "up"]);
    }

    /// Lets IPv4 multicast use `lo`. The route's source address keeps senders from using
    /// 0.0.0.0 as their source.
    pub fn lo_multicast(&self) {
        self.ip(&["link", "set", "lo", "multicast", "on"]);
        self.ip(&[
            "route",
            "add",
            "224.0.0.0/4",
            "dev",
            "lo",
            "src",
            "127.0.0.1",
        ]);
    }

    /// Turns off IPv6 duplicate address detection for interfaces made from now on, so their
    /// link-local addresses are usable at once.
    pub fn disable_dad(&self) {
        self.sh("echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad && \
             echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad");
    }

    /// Adds a veth pair `va`/`vb` inside this namespace for IPv6 multicast on one host (IPv6
    /// multicast does not work over `lo`), with the group range routed out of `va`.
    pub fn add_ipv6_veth(&self) {
        self.disable_dad();
        self.ip(&["link", "add", "va", "type", "veth", "peer", "name", "vb"]);
        for dev in ["va", "vb"] {
            self.ip(&["link", "set", dev, "multicast", "on", "up"]);
        }
        self.ip_allowing(
            &[
                "-6", "route", "add", "ff00::/8", "dev", "va", "table", "local",
            ],
            Some("File exists"),
        );
        self.wait_ipv6_ready("va");
        self.wait_ipv6_ready("vb");
    }

    /// Waits until `dev` has a link-local IPv6 address that is no longer tentative, so it can
    /// be the source of multicast.
    pub fn wait_ipv6_ready(&self, dev: &str) {
        let deadline = Instant::now() + LINE_TIMEOUT;
        loop {
            let out =
                run(Command::new("ip").args(["-n", &self.name, "-6", "addr", "show", "dev", dev]));
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if text.contains("inet6 fe80") && !text.contains("tentative") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{dev} in namespace {} has no usable IPv6 link-local address (is IPv6 \
                 disabled?): {text}",
                self.name
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Two "hosts": namespaces joined by a veth pair, `a0` (10.77.0.1/24) in the first and
    /// `b0` (10.77.0.2/24) in the second, both with IPv6 link-local addresses. With
    /// `mcast_route`, 224.0.0.0/4 is routed out of the veth; without it, IPv4 multicast works
    /// only where a program names the interface.
    pub fn two_hosts(mcast_route: bool) -> Option<(Netns, Netns)> {
        let a = Netns::create()?;
        let b = Netns::create()?;
        for ns in [&a, &b] {
            ns.lo_up();
            ns.disable_dad();
        }
        a.ip(&[
            "link", "add", "a0", "type", "veth", "peer", "name", "b0", "netns", &b.name,
        ]);
        for (ns, dev, addr) in [(&a, "a0", "10.77.0.1/24"), (&b, "b0", "10.77.0.2/24")] {
            ns.ip(&["addr", "add", addr, "dev", dev]);
            ns.ip(&["link", "set", dev, "multicast", "on", "up"]);
            if mcast_route {
                ns.ip(&["route", "add", "224.0.0.0/4", "dev", dev]);
            }
        }
        a.wait_ipv6_ready("a0");
        b.wait_ipv6_ready("b0");
        Some((a, b))
    }
}

impl Netns {
    /// A LAN of `hosts` namespaces, each with one interface `eth0` (10.78.0.N/24 and a
    /// link-local IPv6 address, multicast routed through it) plugged into a bridge that lives in
    /// a namespace of its own (the switch, returned first). The bridge floods multicast to
    /// every port (no IGMP snooping), as a small switch does.
    pub fn lan(hosts: usize) -> Option<(Netns, Vec<Netns>)> {
        let switch = Netns::create()?;
        switch.lo_up();
        switch.ip(&[
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        switch.ip(&["link", "set", "br0", "up"]);
        let mut all = Vec::new();
        for i in 0..hosts {
            let h = Netns::create()?;
            h.lo_up();
            h.disable_dad();
            let port = format!("p{i}");
            h.ip(&[
                "link",
                "add",
                "eth0",
                "type",
                "veth",
                "peer",
                "name",
                &port,
                "netns",
                &switch.name,
            ]);
            switch.ip(&["link", "set", &port, "master", "br0", "up"]);
            h.ip(&[
                "addr",
                "add",
                &format!("10.78.0.{}/24", i + 1),
                "dev",
                "eth0",
            ]);
            h.ip(&["link", "set", "eth0", "multicast", "on", "up"]);
            h.ip(&["route", "add", "224.0.0.0/4", "dev", "eth0"]);
            h.wait_ipv6_ready("eth0");
            all.push(h);
        }
        Some((switch, all))
    }

    /// Drops `percent`% of the UDP datagrams arriving in this namespace for `port`, at random
    /// (nftables, `numgen random`).
    pub fn drop_udp_percent(&self, port: u16, percent: u32) {
        self.sh(&format!(
            "nft add table inet loss && \
             nft add chain inet loss input '{{ type filter hook input priority 0; }}' && \
             nft add rule inet loss input udp dport {port} numgen random mod 100 lt {percent} counter drop"
        ));
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _guard = NETNS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        match Command::new("ip")
            .args(["netns", "del", &self.name])
            .output()
        {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "warning: `ip netns del {}` failed: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(err) => eprintln!("warning: cannot run `ip netns del {}`: {err}", self.name),
        }
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| panic!("cannot run {cmd:?}: {err}"))
}

// ---------------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------------

/// Lines read from one of a child's output pipes.
#[derive(Default)]
struct Stream {
    state: Mutex<StreamState>,
    /// Signalled on every new line and at end of output.
    changed: Condvar,
}

#[derive(Default)]
struct StreamState {
    lines: Vec<String>,
    /// When each line of `lines` was read.
    at: Vec<Instant>,
    /// The pipe reached end of file: no more lines will come.
    closed: bool,
    /// Prompts seen (see [`Proc::spawn_prompted`]); always 0 for other streams.
    prompts: usize,
    /// Counts every change (line, prompt, end of output), for [`Stream::wait_change`].
    generation: u64,
}

impl StreamState {
    fn push(&mut self, line: String) {
        self.lines.push(line);
        self.at.push(Instant::now());
        self.generation += 1;
    }

    fn close(&mut self) {
        self.closed = true;
        self.generation += 1;
    }
}

impl Stream {
    /// Whether any line so far (consumed or not) satisfies `pred`; does not wait.
    fn any_line(&self, pred: impl Fn(&str) -> bool) -> bool {
        self.lock().lines.iter().any(|l| pred(l))
    }

    /// Watches the lines after `cursor` for `period`; returns the first that satisfies `pred`,
    /// with its index.
    fn line_within(
        &self,
        cursor: usize,
        mut pred: impl FnMut(&str) -> bool,
        period: Duration,
    ) -> Option<(usize, String)> {
        let i = self.wait_for(cursor, &mut pred, period)?;
        Some((i, self.lock().lines[i].clone()))
    }

    fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Watches the lines after `cursor` for the whole of `period`: the first that satisfies
    /// `pred`, or [`Watched::Closed`] if the stream ends before `period` is over (an ended
    /// stream shows nothing, so it proves nothing), else [`Watched::Quiet`].
    fn watch(
        &self,
        cursor: usize,
        mut pred: impl FnMut(&str) -> bool,
        period: Duration,
    ) -> Watched {
        let deadline = Instant::now() + period;
        let mut state = self.lock();
        let mut checked = cursor;
        loop {
            while checked < state.lines.len() {
                if pred(&state.lines[checked]) {
                    return Watched::Line(state.lines[checked].clone());
                }
                checked += 1;
            }
            if state.closed {
                return Watched::Closed;
            }
            let now = Instant::now();
            if now >= deadline {
                return Watched::Quiet;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn spawn_reader(self: &Arc<Self>, pipe: impl Read + Send + 'static) {
        let stream = Arc::clone(self);
        thread::spawn(move || {
            let mut pipe = BufReader::new(pipe);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                let n = pipe.read_until(b'\n', &mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                while matches!(buf.last(), Some(b'\n' | b'\r')) {
                    buf.pop();
                }
                let line = String::from_utf8_lossy(&buf).into_owned();
                stream.lock().push(line);
                stream.changed.notify_all();
            }
            stream.lock().close();
            stream.changed.notify_all();
        });
    }

    /// Like [`Stream::spawn_reader`], but also counts occurrences of `prompt`, which a program
    /// writes without a newline before it waits for input (Python's `input(prompt)`): the count
    /// goes up as soon as the prompt is written, not when the line is finished.
    fn spawn_prompt_reader(self: &Arc<Self>, mut pipe: impl Read + Send + 'static, prompt: &str) {
        let stream = Arc::clone(self);
        let prompt = prompt.as_bytes().to_vec();
        thread::spawn(move || {
            let count = |hay: &[u8]| hay.windows(prompt.len()).filter(|w| *w == prompt).count();
            let mut partial: Vec<u8> = Vec::new();
            // Prompts already counted in `partial`.
            let mut counted = 0;
            let mut chunk = vec![0u8; 8192];
            loop {
                let n = match pipe.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                partial.extend_from_slice(&chunk[..n]);
                let mut state = stream.lock();
                while let Some(pos) = partial.iter().position(|&b| b == b'\n') {
                    let mut line: Vec<u8> = partial.drain(..=pos).collect();
                    state.prompts += count(&line) - counted;
                    counted = 0;
                    while matches!(line.last(), Some(b'\n' | b'\r')) {
                        line.pop();
                    }
                    state.push(String::from_utf8_lossy(&line).into_owned());
                }
                let total = count(&partial);
                if total > counted {
                    state.prompts += total - counted;
                    state.generation += 1;
                    counted = total;
                }
                drop(state);
                stream.changed.notify_all();
            }
            let mut state = stream.lock();
            if !partial.is_empty() {
                state.push(String::from_utf8_lossy(&partial).into_owned());
            }
            state.close();
            drop(state);
            stream.changed.notify_all();
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StreamState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lines(&self) -> Vec<String> {
        self.lock().lines.clone()
    }

    /// Waits until the stream's generation differs from `seen`; false on timeout.
    fn wait_change(&self, seen: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while state.generation == seen {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Waits until a line at index `from` or later satisfies `pred` and returns its index;
    /// `None` when `timeout` passes or the stream ends first.
    fn wait_for(
        &self,
        from: usize,
        pred: &mut dyn FnMut(&str) -> bool,
        timeout: Duration,
    ) -> Option<usize> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        let mut checked = from;
        loop {
            while checked < state.lines.len() {
                if pred(&state.lines[checked]) {
                    return Some(checked);
                }
                checked += 1;
            }
            let now = Instant::now();
            if state.closed || now >= deadline {
                return None;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits until the pipe is closed, for at most `timeout`.
    fn wait_closed(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while !state.closed {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

/// What [`Stream::watch`] saw in its period.
enum Watched {
    /// A line satisfying the predicate.
    Line(String),
    /// The stream ended before the period was over.
    Closed,
    /// The whole period passed without such a line, and the stream is still open.
    Quiet,
}

/// A running child process with piped stdin, stdout and stderr; killed when dropped.
pub struct Proc {
    /// Names the process in failure messages.
    name: String,
    child: Child,
    /// `None` once closed.
    stdin: Option<ChildStdin>,
    stdout: Arc<Stream>,
    stderr: Arc<Stream>,
    /// Index of the first stdout line not yet consumed by [`Proc::expect_line`].
    cursor: usize,
    /// Set once the child has been reaped.
    status: Option<ExitStatus>,
}

impl Proc {
    /// Starts `cmd` with all three standard streams piped.
    pub fn spawn(name: &str, cmd: Command) -> Proc {
        Self::spawn_with(name, cmd, None)
    }

    /// Like [`Proc::spawn`], for a program that writes `prompt` (without a newline) each time
    /// it waits for a line of input: [`Proc::prompts`] counts them as they are written.
    pub fn spawn_prompted(name: &str, cmd: Command, prompt: &str) -> Proc {
        Self::spawn_with(name, cmd, Some(prompt))
    }

    fn spawn_with(name: &str, mut cmd: Command, prompt: Option<&str>) -> Proc {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {name} ({cmd:?}): {err}"));
        let stdout = Arc::new(Stream::default());
        let stderr = Arc::new(Stream::default());
        let out = child.stdout.take().expect("piped stdout");
        match prompt {
            Some(prompt) => stdout.spawn_prompt_reader(out, prompt),
            None => stdout.spawn_reader(out),
        }
        stderr.spawn_reader(child.stderr.take().expect("piped stderr"));
        Proc {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            cursor: 0,
            status: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process printed so far, for failure messages.
    pub fn dump(&self) -> String {
        let mut s = format!("--- {} stdout ---\n", self.name);
        for line in self.stdout.lines() {
            s.push_str(&line);
            s.push('\n');
        }
        s.push_str(&format!("--- {} stderr ---\n", self.name));
        for line in self.stderr.lines() {
            s.push_str(&line);
            s.push('\n');
        }
        s.push_str(&format!("--- {} end ---", self.name));
        s
    }

    /// Types one line on the process's stdin.
    #[track_caller]
    pub fn send_line(&mut self, line: &str) {
        let Some(stdin) = self.stdin.as_mut() else {
            panic!("{}: stdin already closed", self.name);
        };
        let result = stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush());
        if let Err(err) = result {
            panic!(
                "{}: cannot write to stdin ({err}); did it exit?\n{}",
                self.name,
                self.dump()
            );
        }
    }

    /// Closes stdin: end of input.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the next stdout line satisfying `pred`, skipping others, and returns it.
    /// Later calls look only after it, so successive calls check order. Panics with all output
    /// if no such line comes within `timeout`.
    #[track_caller]
    pub fn expect_line(&mut self, pred: impl FnMut(&str) -> bool, timeout: Duration) -> String {
        self.wait_line(pred, timeout, "expected line")
    }

    /// Waits for the exact stdout line `line` (see [`Proc::expect_line`]).
    #[track_caller]
    pub fn expect(&mut self, line: &str) -> String {
        self.wait_line(|l| l == line, LINE_TIMEOUT, &format!("line {line:?}"))
    }

    #[track_caller]
    fn wait_line(
        &mut self,
        pred: impl FnMut(&str) -> bool,
        timeout: Duration,
        what: &str,
    ) -> String {
        match self.stdout.line_within(self.cursor, pred, timeout) {
            Some((i, line)) => {
                self.cursor = i + 1;
                line
            }
            None => panic!(
                "{}: no {what} on stdout within {timeout:?} (after line {}){}\n{}",
                self.name,
                self.cursor,
                if self.stdout.is_closed() {
                    " and its output has ended"
                } else {
                    ""
                },
                self.dump()
            ),
        }
    }

    /// Whether any stdout line so far (consumed or not) satisfies `pred`; does not wait.
    pub fn has_line(&self, pred: impl Fn(&str) -> bool) -> bool {
        self.stdout.any_line(pred)
    }

    /// Watches stdout for `period` and panics if a line after the cursor satisfies `pred`, or
    /// if stdout ends before `period` is over: a process that has exited prints nothing, which
    /// proves nothing.
    #[track_caller]
    pub fn assert_no_line_for(&self, pred: impl FnMut(&str) -> bool, period: Duration) {
        match self.stdout.watch(self.cursor, pred, period) {
            Watched::Quiet => {}
            Watched::Line(line) => panic!(
                "{}: unexpected line {line:?} on stdout\n{}",
                self.name,
                self.dump()
            ),
            Watched::Closed => panic!(
                "{}: stdout ended (has it exited?) before {period:?} of watching for an \
                 unexpected line were over\n{}",
                self.name,
                self.dump()
            ),
        }
    }

    /// All stdout lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.stdout.lines()
    }

    /// All stdout lines so far, each with the time it was read.
    pub fn timed_lines(&self) -> Vec<(Instant, String)> {
        let state = self.stdout.lock();
        state
            .at
            .iter()
            .copied()
            .zip(state.lines.iter().cloned())
            .collect()
    }

    /// The first stdout line so far (consumed or not) satisfying `pred`; does not wait.
    pub fn find_line(&self, pred: impl Fn(&str) -> bool) -> Option<String> {
        self.stdout.lock().lines.iter().find(|l| pred(l)).cloned()
    }

    /// How many prompts the process has written (only for [`Proc::spawn_prompted`]).
    pub fn prompts(&self) -> usize {
        self.stdout.lock().prompts
    }

    /// A counter that changes whenever stdout gets a line or a prompt, or ends.
    pub fn stdout_generation(&self) -> u64 {
        self.stdout.lock().generation
    }

    /// Waits until [`Proc::stdout_generation`] differs from `seen`; false on timeout.
    pub fn wait_stdout_change(&self, seen: u64, timeout: Duration) -> bool {
        self.stdout.wait_change(seen, timeout)
    }

    /// Whether stdout has ended.
    pub fn stdout_closed(&self) -> bool {
        self.stdout.is_closed()
    }

    /// All stderr lines so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lines()
    }

    /// Waits for the next stderr line satisfying `pred`.
    #[track_caller]
    pub fn expect_stderr_line(
        &self,
        mut pred: impl FnMut(&str) -> bool,
        timeout: Duration,
    ) -> String {
        match self.stderr.wait_for(0, &mut pred, timeout) {
            Some(i) => self.stderr.lock().lines[i].clone(),
            None => panic!(
                "{}: no expected line on stderr within {timeout:?}\n{}",
                self.name,
                self.dump()
            ),
        }
    }

    /// Sends a signal (`libc::SIGINT`, `libc::SIGTERM`, ...).
    #[track_caller]
    pub fn signal(&self, sig: libc::c_int) {
        assert!(
            self.status.is_none(),
            "{}: cannot signal, it has already exited\n{}",
            self.name,
            self.dump()
        );
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) has no memory effects; the child is not yet reaped, so its pid has
        // not been reused.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(
            rc,
            0,
            "{}: kill({pid}, {sig}) failed: {}",
            self.name,
            std::io::Error::last_os_error()
        );
    }

    /// Whether the process is still running (it is reaped if it has exited).
    pub fn is_running(&mut self) -> bool {
        if self.status.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.status = Some(status);
                false
            }
            Ok(None) => true,
            Err(err) => panic!("{}: waiting failed: {err}", self.name),
        }
    }

    /// Waits for the process to exit and its output to be read to the end. Panics (killing
    /// it) if it does not exit within `timeout`.
    #[track_caller]
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        while self.is_running() {
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{}: did not exit within {timeout:?}; killed\n{}",
                    self.name,
                    self.dump()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
        // The pipes close when the process exits (nothing else holds them): read to the end.
        self.stdout.wait_closed(EXIT_TIMEOUT);
        self.stderr.wait_closed(EXIT_TIMEOUT);
        self.status.expect("reaped")
    }

    /// Waits for exit and asserts it was successful.
    #[track_caller]
    pub fn wait_success(&mut self) {
        let status = self.wait_exit(EXIT_TIMEOUT);
        assert!(
            status.success(),
            "{}: exited with {status}\n{}",
            self.name,
            self.dump()
        );
    }

    /// The `--stats` line on stderr, as key=value counts. Call after [`Proc::wait_exit`].
    #[track_caller]
    pub fn stats(&self) -> BTreeMap<String, u64> {
        let lines = self.stderr_lines();
        let Some(line) = lines.iter().find_map(|l| l.strip_prefix("stats: ")) else {
            panic!("{}: no `stats:` line on stderr\n{}", self.name, self.dump());
        };
        line.split_whitespace()
            .map(|kv| {
                let (k, v) = kv
                    .split_once('=')
                    .unwrap_or_else(|| panic!("{}: bad stats item {kv:?} in {line:?}", self.name));
                let v = v.parse().unwrap_or_else(|_| {
                    panic!("{}: bad stats value {kv:?} in {line:?}", self.name)
                });
                (k.to_owned(), v)
            })
            .collect()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Raw TCP clients (like nc) over loopback
// ---------------------------------------------------------------------------------------------

/// A command running one of the seed's Python programs with `args` in the current network
/// namespace (only for programs that use no multicast, such as the hub clients), unbuffered
/// and in UTF-8.
pub fn seed_cmd(program: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("python3");
    cmd.arg("-u").arg(seed_dir().join(program)).args(args);
    cmd.env("PYTHONIOENCODING", "utf-8");
    cmd
}

/// A TCP connection to 127.0.0.1 from the test itself, like `nc`: a reader thread collects the
/// lines it receives, so a test can wait for a line with a timeout.
pub struct Raw {
    /// Names the client in failure messages.
    name: String,
    stream: TcpStream,
    lines: Arc<Stream>,
    /// Index of the first line not yet consumed by [`Raw::expect_line`].
    cursor: usize,
}

impl Raw {
    /// Connects to 127.0.0.1:`port`, panicking if that fails.
    #[track_caller]
    pub fn connect(name: &str, port: u16) -> Raw {
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .unwrap_or_else(|err| panic!("{name}: cannot connect to 127.0.0.1:{port}: {err}"));
        let lines = Arc::new(Stream::default());
        lines.spawn_reader(stream.try_clone().expect("clone a TcpStream"));
        Raw {
            name: name.to_owned(),
            stream,
            lines,
            cursor: 0,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().expect("local address")
    }

    /// Everything received so far, for failure messages.
    pub fn dump(&self) -> String {
        let mut s = format!("--- {} received ---\n", self.name);
        for line in self.lines.lines() {
            s.push_str(&line);
            s.push('\n');
        }
        s.push_str(&format!(
            "--- {} end{} ---",
            self.name,
            if self.lines.is_closed() {
                " (connection closed)"
            } else {
                ""
            }
        ));
        s
    }

    /// Sends raw bytes.
    #[track_caller]
    pub fn send(&mut self, bytes: &[u8]) {
        if let Err(err) = self.stream.write_all(bytes) {
            panic!("{}: cannot send ({err})\n{}", self.name, self.dump());
        }
    }

    /// Sends `line` and a newline.
    #[track_caller]
    pub fn send_line(&mut self, line: &str) {
        self.send(format!("{line}\n").as_bytes());
    }

    /// Closes the sending direction (the peer reads end of file).
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Waits for the next received line satisfying `pred`, skipping others, and returns it;
    /// later calls look only after it. Panics with everything received if none comes within
    /// `timeout`.
    #[track_caller]
    pub fn expect_line(&mut self, pred: impl FnMut(&str) -> bool, timeout: Duration) -> String {
        match self.lines.line_within(self.cursor, pred, timeout) {
            Some((i, line)) => {
                self.cursor = i + 1;
                line
            }
            None => panic!(
                "{}: no expected line within {timeout:?} (after line {}){}\n{}",
                self.name,
                self.cursor,
                if self.lines.is_closed() {
                    " and the connection has closed"
                } else {
                    ""
                },
                self.dump()
            ),
        }
    }

    /// Waits for the exact line `line` (see [`Raw::expect_line`]).
    #[track_caller]
    pub fn expect(&mut self, line: &str) -> String {
        match self
            .lines
            .wait_for(self.cursor, &mut |l| l == line, LINE_TIMEOUT)
        {
            Some(i) => {
                self.cursor = i + 1;
                line.to_owned()
            }
            None => panic!(
                "{}: expected the line {line:?} within {LINE_TIMEOUT:?} (after line {})\n{}",
                self.name,
                self.cursor,
                self.dump()
            ),
        }
    }

    /// Waits for the very next line and asserts it is `line`.
    #[track_caller]
    pub fn expect_next(&mut self, line: &str) {
        let got = self.expect_line(|_| true, LINE_TIMEOUT);
        assert_eq!(
            got,
            line,
            "{}: unexpected line {}\n{}",
            self.name,
            self.cursor - 1,
            self.dump()
        );
    }

    /// Whether any line so far (consumed or not) satisfies `pred`; does not wait.
    pub fn has_line(&self, pred: impl Fn(&str) -> bool) -> bool {
        self.lines.any_line(pred)
    }

    /// Panics if any line after the cursor satisfies `pred` within `period`, or if the
    /// connection closes before `period` is over: a closed connection receives nothing, which
    /// proves nothing.
    #[track_caller]
    pub fn assert_no_line_for(&self, pred: impl FnMut(&str) -> bool, period: Duration) {
        match self.lines.watch(self.cursor, pred, period) {
            Watched::Quiet => {}
            Watched::Line(line) => {
                panic!("{}: unexpected line {line:?}\n{}", self.name, self.dump())
            }
            Watched::Closed => panic!(
                "{}: the connection closed before {period:?} of watching for an unexpected \
                 line were over\n{}",
                self.name,
                self.dump()
            ),
        }
    }

    /// All lines received so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lines()
    }

    /// Waits until the hub closes the connection (end of stream), for at most `timeout`.
    #[track_caller]
    pub fn expect_closed(&self, timeout: Duration) {
        assert!(
            self.lines.wait_closed(timeout),
            "{}: the connection was not closed within {timeout:?}\n{}",
            self.name,
            self.dump()
        );
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        // Ends the reader thread too: its clone of the socket reads end of file.
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// Whether `line` shows a probe sent by [`sync`] with `tag`: its last word is `<tag>-<n>`.
pub fn is_probe(line: &str, tag: &str) -> bool {
    let last = line.rsplit(' ').next().unwrap_or(line);
    last.strip_prefix(tag)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Makes sure `receivers` hear `sender` before a test sends what it checks.
///
/// A receiver started a moment ago may not have joined the group yet, and nothing it prints
/// says when it has. So `sender` types probe lines `<tag>-0`, `<tag>-1`, ... every 200 ms
/// until every receiver has printed one (as a line whose last word is the probe). Probes sent
/// before a receiver joined are simply missed; checks after this should ignore probe lines
/// (see [`is_probe`]).
#[track_caller]
pub fn sync(sender: &mut Proc, receivers: &[&Proc], tag: &str) {
    let deadline = Instant::now() + 2 * LINE_TIMEOUT;
    for n in 0.. {
        sender.send_line(&format!("{tag}-{n}"));
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(200) {
            if receivers.iter().all(|r| r.has_line(|l| is_probe(l, tag))) {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        if Instant::now() >= deadline {
            let deaf: Vec<String> = receivers
                .iter()
                .filter(|r| !r.has_line(|l| is_probe(l, tag)))
                .map(|r| r.dump())
                .collect();
            panic!(
                "{} sent {} probes `{tag}-N` but these never heard one:\n{}\n{}",
                sender.name,
                n + 1,
                deaf.join("\n"),
                sender.dump()
            );
        }
    }
}
