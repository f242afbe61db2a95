//! Checks of the test harness itself (`common`): an absence check must not pass merely because
//! there was nothing left to watch.

mod common;

use std::net::{Ipv4Addr, TcpListener};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;
use std::time::Duration;

use common::{Proc, Raw, LINE_TIMEOUT};

/// Long enough that a closed stream is noticed well before it is over.
const WATCH: Duration = Duration::from_secs(5);

/// The message of a panic caught by `catch_unwind`.
fn panic_text(err: &(dyn std::any::Any + Send)) -> String {
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

#[test]
fn assert_no_line_for_fails_when_the_process_has_exited() {
    let mut p = Proc::spawn("true", Command::new("true"));
    p.wait_success();
    let caught = catch_unwind(AssertUnwindSafe(|| p.assert_no_line_for(|_| true, WATCH)));
    let err = caught.expect_err("a process that has exited proved an absence");
    assert!(
        panic_text(err.as_ref()).contains("stdout ended"),
        "{}",
        panic_text(err.as_ref())
    );
}

#[test]
fn assert_no_line_for_fails_when_the_connection_closes() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1");
    let port = listener.local_addr().expect("address").port();
    let raw = Raw::connect("raw", port);
    // The peer accepts and closes at once.
    drop(listener.accept().expect("accept"));
    raw.expect_closed(LINE_TIMEOUT);
    let caught = catch_unwind(AssertUnwindSafe(|| raw.assert_no_line_for(|_| true, WATCH)));
    let err = caught.expect_err("a closed connection proved an absence");
    assert!(
        panic_text(err.as_ref()).contains("connection closed"),
        "{}",
        panic_text(err.as_ref())
    );
}

#[test]
fn assert_no_line_for_passes_while_an_open_stream_stays_quiet() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1");
    let port = listener.local_addr().expect("address").port();
    let raw = Raw::connect("raw", port);
    let (_peer, _) = listener.accept().expect("accept");
    raw.assert_no_line_for(|_| true, Duration::from_millis(200));
}
