//! The terminal UI end to end: `obrol connect` on a real terminal (a tmux pane) against a real
//! `obrol serve` with history, beside a plain client. The screen is read with
//! `tmux capture-pane`; keys go in with `tmux send-keys`. The last screen is kept under the
//! test's output (`tui-screen.txt`) for the README.
//!
//! Needs tmux (the CI installs it).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::irc::{data_dir, plain_client, Hub};
use common::LINE_TIMEOUT;

/// A tmux server of the test's own (its own socket), one session running `command`.
struct Tmux {
    socket: String,
    pids: Vec<u32>,
    /// The server's socket file, removed at the end.
    path: Option<PathBuf>,
}

impl Tmux {
    fn start(name: &str, command: &str, width: u16, height: u16) -> Tmux {
        let socket = format!("obrol-test-{}-{name}", std::process::id());
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "t",
            ])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg(command)
            .env_remove("TMUX")
            .status()
            .expect("tmux (apt-get install tmux)");
        assert!(status.success(), "tmux new-session failed");
        let mut tmux = Tmux {
            socket,
            pids: Vec::new(),
            path: None,
        };
        let path = tmux.tmux(&["display-message", "-p", "-t", "t", "#{socket_path}"]);
        tmux.path = Some(PathBuf::from(path.trim())).filter(|p| p.is_absolute());
        for format in ["#{pid}", "#{pane_pid}"] {
            if let Ok(pid) = tmux
                .tmux(&["display-message", "-p", "-t", "t", format])
                .trim()
                .parse()
            {
                tmux.pids.push(pid);
            }
        }
        tmux
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "t"])
    }

    /// Waits until the screen satisfies `pred`; returns it.
    #[track_caller]
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + Duration::from_secs(40);
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < end,
                "the screen never showed {what}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Types `text` literally.
    fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "t", "-l", text]);
    }

    /// Presses keys by tmux's names (`Enter`, `Tab`, `C-n`, `M-2`, `PPage`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
        for pid in &self.pids {
            // SAFETY: kill(2) on a pid this test started; a gone process is ESRCH.
            unsafe { libc::kill(*pid as libc::pid_t, libc::SIGKILL) };
        }
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[test]
fn the_terminal_ui_chats_fetches_history_marks_unread_reconnects_and_quits_cleanly() {
    let dir = data_dir("tui", "chat");
    let d = dir.to_str().expect("UTF-8").to_owned();
    let mut hub = Hub::start_with(&["--data-dir", &d]);
    let port = hub.port();
    let addr = format!("127.0.0.1:{port}");
    let mut budi = plain_client(port, "budi");
    budi.send_line("sebelum kamu datang");
    let obrol = env!("CARGO_BIN_EXE_obrol");
    let command = format!(
        "TZ=UTC {obrol} connect {addr} --nick ani --room lobby --room dapur; echo EXIT=$?; sleep 60"
    );
    let tui = Tmux::start("chat", &command, 100, 20);

    // History on join, the status bar, the buffers and the members.
    let screen = tui.wait_for("the room's history", |s| {
        s.contains("<budi> sebelum kamu datang") && s.contains("ani on 127.0.0.1:")
    });
    assert!(screen.contains("1 server"), "{screen}");
    assert!(
        screen.contains("2 #lobby") && screen.contains("3 #dapur"),
        "{screen}"
    );
    // Typing while lines arrive: both sides see everything.
    tui.type_text("halo dari ");
    budi.send_line("ani: apa kabar");
    tui.wait_for("a line that came while typing", |s| {
        s.contains("<budi> ani: apa kabar")
    });
    tui.type_text("terminal");
    tui.keys(&["Enter"]);
    budi.expect_line(|l| l == "<ani> halo dari terminal", LINE_TIMEOUT);
    // Tab completes a nick at the start of the line.
    tui.type_text("bu");
    tui.keys(&["Tab"]);
    tui.type_text("tes");
    tui.keys(&["Enter"]);
    budi.expect_line(|l| l == "<ani> budi: tes", LINE_TIMEOUT);
    // A private message opens a buffer marked with a mention; Alt-4 shows it.
    budi.send_line("/msg ani psst");
    tui.wait_for("the private buffer's mark", |s| {
        s.lines()
            .any(|l| l.starts_with("4 budi") && l.contains("1!"))
    });
    tui.keys(&["M-4"]);
    let screen = tui.wait_for("the private conversation", |s| s.contains("<budi> psst"));
    assert!(
        screen.lines().next().is_some_and(|l| l.contains("budi")),
        "{screen}"
    );
    tui.type_text("iya?");
    tui.keys(&["Enter"]);
    budi.expect_line(|l| l == "*private* <ani> iya?", LINE_TIMEOUT);
    // Back to the room (Alt-2); the hub dies and comes back: the UI says so and rejoins.
    tui.keys(&["M-2"]);
    hub.proc.signal(libc::SIGKILL);
    hub.proc.wait_exit(LINE_TIMEOUT);
    drop(budi);
    tui.wait_for("the lost connection", |s| s.contains("disconnected ("));
    let _hub = Hub::start_full(&[&addr], &["--data-dir", &d]);
    tui.wait_for("the new connection", |s| s.contains("connected again"));
    let mut budi = plain_client(port, "budi");
    budi.send_line("/who lobby");
    let who = budi.expect_line(|l| l.starts_with("* in lobby ("), LINE_TIMEOUT);
    assert!(who.contains("ani"), "{who}");
    budi.send_line("selamat datang kembali");
    let screen = tui.wait_for("chat after the reconnect", |s| {
        s.contains("<budi> selamat datang kembali") && s.contains("| connected")
    });
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let _ = std::fs::write(out.join("tui-screen.txt"), &screen);
    // /quit leaves the terminal as it was: the shell's next line shows the exit status.
    tui.type_text("/quit");
    tui.keys(&["Enter"]);
    budi.expect_line(|l| l.starts_with("* ani quit"), LINE_TIMEOUT);
    let screen = tui.wait_for("the exit", |s| s.contains("EXIT=0"));
    assert!(
        !screen.contains("ani on 127.0.0.1"),
        "the UI is gone:\n{screen}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `obrol mcast` on a terminal, in a network namespace of its own (the pane's command enters
/// it; nothing multicast leaves it): a line-mode peer's presence and lines show, what is typed
/// reaches it and is shown as ours, the peer list follows, and Ctrl-C gives the terminal back.
#[test]
fn the_terminal_ui_chats_on_a_multicast_group() {
    let Some(ns) = common::Netns::with_lo_multicast() else {
        return;
    };
    let obrol = env!("CARGO_BIN_EXE_obrol");
    let command = format!(
        "TZ=UTC ip netns exec {} {obrol} mcast --nick ani --heartbeat 1; echo EXIT=$?; sleep 60",
        ns.name()
    );
    let tui = Tmux::start("mcast", &command, 100, 16);
    tui.wait_for("the group's window", |s| {
        s.contains("ani on 224.1.1.1:5004")
    });
    let mut budi = common::Proc::spawn(
        "budi",
        ns.obrol(&["mcast", "--nick", "budi", "--heartbeat", "1"]),
    );
    let screen = tui.wait_for("the peer", |s| s.contains("budi joined"));
    assert!(screen.contains("2 here"), "{screen}");
    budi.send_line("halo dari baris");
    tui.wait_for("the peer's line", |s| s.contains("<budi> halo dari baris"));
    tui.type_text("halo dari layar");
    tui.keys(&["Enter"]);
    budi.expect_line(|l| l == "<ani> halo dari layar", LINE_TIMEOUT);
    tui.wait_for("our own line", |s| s.contains("<ani> halo dari layar"));
    budi.send_line("/quit");
    tui.wait_for("the peer leaving", |s| {
        s.contains("budi left") && s.contains("1 here")
    });
    tui.keys(&["C-c"]);
    let screen = tui.wait_for("the exit", |s| s.contains("EXIT=0"));
    assert!(screen.contains("obrol: leaving the group"), "{screen}");
}
