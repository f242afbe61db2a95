//! The admin listener's `GET /metrics` (Prometheus text) and the console's `/stats` show what
//! the hub did: sessions, refusals, throttles and cuts, messages.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};

use common::irc::{connect_from, Hub, Irc};
use common::LINE_TIMEOUT;

fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the metrics listener");
    s.set_read_timeout(Some(LINE_TIMEOUT)).expect("timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").expect("send");
    let mut all = String::new();
    s.read_to_string(&mut all).expect("read the answer");
    let (head, body) = all.split_once("\r\n\r\n").expect("a head and a body");
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

fn value(body: &str, series: &str) -> u64 {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{body}"))
}

#[test]
fn metrics_count_sessions_refusals_and_cuts() {
    let mut hub = Hub::start_with(&[
        "--metrics",
        "127.0.0.1:0",
        "--max-per-address",
        "3",
        "--line-rate",
        "20",
        "--line-burst",
        "12",
        "--max-lag-secs",
        "1",
    ]);
    let line = hub
        .proc
        .expect_stderr_line(|l| l.contains("metrics on http://"), LINE_TIMEOUT);
    let addr: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.strip_suffix("/metrics"))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    let port = hub.port();
    // `a` stays within its burst of 12 lines; the flooder does not.
    let mut a = Irc::register(port, "a");
    a.ask("JOIN #m");
    a.ask("PRIVMSG #m :one");
    // A flood, cut.
    let from = Ipv4Addr::new(127, 0, 0, 7);
    let mut flooder = Irc::over("flooder", connect_from(from, port));
    let mut burst = String::from("NICK flooder\r\nUSER f 0 * :f\r\n");
    for i in 0..500 {
        burst.push_str(&format!("PRIVMSG a :{i}\r\n"));
    }
    let _ = flooder.try_clone_stream().write_all(burst.as_bytes());
    flooder.expect_closed();
    // Refused: the fourth from one address.
    let held: Vec<TcpStream> = (0..3)
        .map(|_| connect_from(Ipv4Addr::new(127, 0, 0, 8), port))
        .collect();
    let mut fourth = Irc::over("fourth", connect_from(Ipv4Addr::new(127, 0, 0, 8), port));
    fourth.expect_closed();
    drop(held);
    a.sync();

    let (status, body) = get(addr, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("# TYPE obrol_clients gauge"), "{body}");
    assert!(value(&body, "obrol_sessions_total{protocol=\"irc\"}") >= 2);
    assert_eq!(
        value(&body, "obrol_refused_total{reason=\"per_address\"}"),
        1
    );
    assert_eq!(value(&body, "obrol_disconnects_total{reason=\"flood\"}"), 1);
    assert_eq!(value(&body, "obrol_throttled_total"), 1);
    assert!(value(&body, "obrol_messages_total") >= 1);
    assert!(value(&body, "obrol_lines_received_total") >= 5);
    assert_eq!(get(addr, "/").0, "HTTP/1.1 404 Not Found");

    // The console shows the same figures.
    hub.proc.send_line("/stats");
    let stats = hub
        .proc
        .expect_line(|l| l.starts_with("* clients="), LINE_TIMEOUT);
    assert!(stats.contains(" refused_per_address=1 "), "{stats}");
    assert!(stats.contains(" flood_cuts=1 "), "{stats}");
    assert!(stats.contains(" throttled=1 "), "{stats}");
}
