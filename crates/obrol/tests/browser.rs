//! The browser client in a real browser: Debian's Chromium, driven by Playwright
//! (`tests/browser/chat.mjs`), against a real `obrol serve` with history, beside an
//! `obrol connect` client. Two pages (a desktop one and a phone-sized one) join, chat with each
//! other and with the terminal client, send it a private message, one reloads and gets the
//! room's history back, an unread mention is marked; screenshots are kept; then the hub is
//! killed and started again, and the pages and the terminal client come back by themselves.
//!
//! Needs `chromium` (Debian) and `npm install --prefix crates/obrol/tests/browser` (the CI
//! installs both); without them the test fails saying so.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{obrol_cmd, Proc, LINE_TIMEOUT};

fn chromium() -> PathBuf {
    let path = PathBuf::from(std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into()));
    assert!(
        path.exists(),
        "no Chromium at {} (apt-get install chromium, or set CHROMIUM)",
        path.display()
    );
    path
}

#[test]
fn two_pages_and_a_terminal_client_chat_and_a_reload_brings_history_back() {
    let scripts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        scripts.join("node_modules/playwright-core").exists(),
        "Playwright is missing: npm install --prefix {}",
        scripts.display()
    );
    let chromium = chromium();
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&out).expect("the screenshot folder");
    let dir = common::irc::data_dir("browser", "chat");
    let hub = common::irc::hub_with_data(&dir, &[]);
    let port = hub.port();
    let mut cli = Proc::spawn(
        "obrol-connect",
        obrol_cmd(&["connect", &format!("127.0.0.1:{port}"), "--nick", "cli"]),
    );
    cli.expect_line(|l| l.starts_with("* you are cli"), LINE_TIMEOUT);
    let mut node = Command::new("node");
    node.arg("chat.mjs")
        .current_dir(&scripts)
        .env("PORT", port.to_string())
        .env("OUT", &out)
        .env("CHROMIUM", &chromium);
    let mut pages = Proc::spawn("playwright", node);
    let long = std::time::Duration::from_secs(60);
    pages.expect_line(|l| l == "READY", long);
    cli.expect_line(|l| l.ends_with("<ani> halo dari ani"), LINE_TIMEOUT);
    cli.send_line("dari terminal");
    pages.send_line("GO");
    pages.expect_line(|l| l == "PM", long);
    cli.expect_line(|l| l.contains("*private* <ani> rahasia"), LINE_TIMEOUT);
    cli.send_line("/msg ani iya?");
    pages.send_line("GO");
    let history = pages.expect_line(|l| l.starts_with("HISTORY "), long);
    eprintln!(
        "a reloaded page showed the room's history {} ms after joining",
        &history[8..]
    );
    // Killed and started again on the same port: pages and the terminal client come back.
    pages.expect_line(|l| l == "RESTART", long);
    let mut hub = hub;
    hub.proc.signal(libc::SIGKILL);
    hub.proc.wait_exit(LINE_TIMEOUT);
    let addr = format!("127.0.0.1:{port}");
    let d = dir.to_str().expect("UTF-8").to_owned();
    let hub = common::irc::Hub::start_full(&[&addr], &["--data-dir", &d]);
    pages.send_line("GO");
    pages.expect_line(|l| l == "BACK", long);
    cli.expect_line(|l| l == "! connected again", long);
    cli.expect_line(|l| l.starts_with("* you are cli"), LINE_TIMEOUT);
    cli.send_line("setelah restart");
    pages.send_line("GO");
    pages.expect_line(|l| l == "DONE", long);
    let status = pages.wait_exit(long);
    assert!(status.success(), "{}", pages.dump());
    for shot in ["browser-desktop.png", "browser-phone.png"] {
        let size = std::fs::metadata(out.join(shot)).map_or(0, |m| m.len());
        assert!(size > 10_000, "{shot}: {size} bytes");
    }
    drop(cli);
    drop(hub);
    let _ = std::fs::remove_dir_all(&dir);
}
