//! The hub's web side: the browser client's page and assets on the chat port, and IRC over
//! WebSocket at `/ws` (IRCv3 `text.ircv3.net` / `binary.ircv3.net`) talking with IRC, plain
//! and other WebSocket clients; origins checked; a client that breaks the framing rules is cut
//! and a witness is not.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::irc::{Hub, Irc};
use common::LINE_TIMEOUT;
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

/// Sends a raw HTTP request and returns the whole answer (the hub closes after it).
fn http(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(LINE_TIMEOUT)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

struct Ws {
    name: String,
    ws: WebSocket<TcpStream>,
    seen: Vec<String>,
}

impl Ws {
    fn open(port: u16, protocol: Option<&str>, origin: Option<&str>) -> Result<Ws, String> {
        let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut req = format!("ws://127.0.0.1:{port}/ws")
            .into_client_request()
            .unwrap();
        if let Some(p) = protocol {
            req.headers_mut()
                .insert("Sec-WebSocket-Protocol", p.parse().unwrap());
        }
        if let Some(o) = origin {
            req.headers_mut().insert("Origin", o.parse().unwrap());
        }
        let (ws, response) = tungstenite::client(req, stream).map_err(|e| e.to_string())?;
        if let Some(p) = protocol {
            let chosen = response
                .headers()
                .get("Sec-WebSocket-Protocol")
                .and_then(|v| v.to_str().ok());
            assert_eq!(chosen, Some(p.split(',').next().unwrap_or(p).trim()));
        }
        Ok(Ws {
            name: "ws".into(),
            ws,
            seen: Vec::new(),
        })
    }

    fn send(&mut self, line: &str) {
        self.ws.send(Message::text(line)).expect("send");
    }

    /// The next message (one IRC line each, no CR LF in it), or None by `deadline`.
    fn next(&mut self, deadline: Instant) -> Option<String> {
        while Instant::now() < deadline {
            match self.ws.read() {
                Ok(Message::Text(t)) => return Some(t.to_string()),
                Ok(Message::Binary(b)) => return Some(String::from_utf8_lossy(&b).into_owned()),
                Ok(Message::Close(_)) => return None,
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return None,
            }
        }
        None
    }

    #[track_caller]
    fn expect(&mut self, pred: impl Fn(&str) -> bool, what: &str) -> String {
        let deadline = Instant::now() + LINE_TIMEOUT;
        while let Some(line) = self.next(deadline) {
            assert!(
                !line.contains('\r') && !line.contains('\n'),
                "one line per message, no CR LF: {line:?}"
            );
            self.seen.push(line.clone());
            if pred(&line) {
                return line;
            }
        }
        panic!("{}: no {what}; saw {:?}", self.name, self.seen);
    }

    fn register(&mut self, nick: &str) {
        self.name = nick.into();
        self.send("CAP LS 302");
        self.send(&format!("NICK {nick}"));
        self.send(&format!("USER {nick} 0 * :{nick} on the web"));
        self.send("CAP REQ :server-time message-tags");
        self.send("CAP END");
        self.expect(|l| l.contains(" 001 "), "welcome");
        self.expect(|l| l.contains(" 376 "), "end of MOTD");
    }
}

#[test]
fn the_page_and_its_assets_are_served_on_the_chat_port() {
    let hub = Hub::start();
    let page = http(hub.port(), "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("Content-Type: text/html"));
    assert!(page.contains("Content-Security-Policy: default-src 'self'"));
    assert!(page.contains("<script src=\"obrol.js\""));
    let script = http(hub.port(), "GET /obrol.js HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(
        script.contains("text.ircv3.net"),
        "the script speaks IRC over WebSocket"
    );
    let missing = http(hub.port(), "GET /../../etc/passwd HTTP/1.1\r\n\r\n");
    assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");
    let refused = http(
        hub.port(),
        "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Origin: https://evil.example\r\n\r\n",
    );
    assert!(refused.starts_with("HTTP/1.1 403 "), "{refused}");
}

#[test]
fn websocket_clients_chat_with_irc_and_plain_clients() {
    let hub = Hub::start();
    let port = hub.port();
    let mut web = Ws::open(
        port,
        Some("text.ircv3.net"),
        Some(&format!("http://127.0.0.1:{port}")),
    )
    .expect("a WebSocket");
    web.register("webby");
    let mut bin = Ws::open(port, Some("binary.ircv3.net, text.ircv3.net"), None).expect("binary");
    bin.register("biner");
    let mut irc = Irc::register(port, "classic");
    let mut plain = common::irc::plain_client(port, "ketik");
    for c in [&mut web, &mut bin] {
        c.send("JOIN #lobby");
        c.expect(|l| l.contains(" 366 "), "NAMES end");
    }
    irc.send("JOIN #lobby");
    irc.expect(|l| l.contains(" 366 classic #lobby "), "NAMES end");
    web.send("PRIVMSG #lobby :halo dari browser");
    irc.expect_line(":webby!webby@127.0.0.1 PRIVMSG #lobby :halo dari browser");
    plain.expect("<webby> halo dari browser");
    let line = bin.expect(
        |l| l.ends_with("PRIVMSG #lobby :halo dari browser"),
        "the message",
    );
    assert!(line.starts_with("@time="), "tags as negotiated: {line}");
    irc.send("PRIVMSG #lobby :balas");
    web.expect(
        |l| l.ends_with(":classic!classic@127.0.0.1 PRIVMSG #lobby :balas"),
        "the reply",
    );
    plain.send_line("/msg webby rahasia");
    web.expect(
        |l| l.ends_with("PRIVMSG webby :rahasia"),
        "a private message",
    );
    // A client that ends its messages with CR LF anyway is read the same.
    bin.send("PRIVMSG #lobby :crlf\r\n");
    web.expect(
        |l| l.ends_with(":biner!biner@127.0.0.1 PRIVMSG #lobby :crlf"),
        "crlf",
    );
    web.send("QUIT :dah");
    irc.expect(|l| l.contains("QUIT") && l.contains("dah"), "the quit");
}

#[test]
fn a_client_breaking_the_framing_rules_is_cut_and_a_witness_is_not() {
    let hub = Hub::start();
    let port = hub.port();
    let mut witness = Irc::register(port, "saksi");
    witness.send("JOIN #w");
    witness.expect(|l| l.contains(" 366 saksi #w "), "NAMES end");
    let mut friend = Irc::register(port, "teman");
    friend.send("JOIN #w");
    friend.expect(|l| l.contains(" 366 teman #w "), "NAMES end");
    // Too long a message: closed with 1009.
    let mut big = Ws::open(port, Some("text.ircv3.net"), None).expect("ws");
    big.register("besar");
    big.send(&format!("PRIVMSG #w :{}", "x".repeat(20_000)));
    let deadline = Instant::now() + LINE_TIMEOUT;
    let mut closed = false;
    while Instant::now() < deadline {
        match big.ws.read() {
            Ok(Message::Close(Some(frame))) => {
                assert_eq!(u16::from(frame.code), 1009);
                closed = true;
                break;
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            // The Close frame must arrive: the hub lingers so that no reset loses it.
            Err(e) => panic!("cut without the Close frame: {e}"),
        }
    }
    assert!(closed, "the hub closed the WebSocket with 1009");
    // Not a WebSocket frame at all after the upgrade: cut.
    let mut raw = Ws::open(port, None, None).expect("ws");
    raw.register("mentah");
    raw.ws
        .get_mut()
        .write_all(b"NICK plain-text-now\r\n")
        .unwrap();
    let deadline = Instant::now() + LINE_TIMEOUT;
    assert!(raw.next(deadline).is_none() || raw.next(deadline).is_none());
    witness.send("PRIVMSG #w :masih di sini");
    friend.expect_line(":saksi!saksi@127.0.0.1 PRIVMSG #w :masih di sini");
}

/// A browser may open a connection ahead of need and send its request after the sniff window:
/// the hub took it for a plain client by then, but its request line and headers (cookies!)
/// are never said in a room; the connection is closed instead.
#[test]
fn a_late_http_request_on_the_shared_port_is_not_said_in_a_room() {
    let hub = Hub::start();
    let port = hub.port();
    let mut witness = Irc::register(port, "saksi");
    witness.send("JOIN #lobby");
    witness.expect(|l| l.contains(" 366 saksi #lobby "), "NAMES end");
    let mut late = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    late.set_read_timeout(Some(LINE_TIMEOUT)).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    late.write_all(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: rahasia=1\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    let closed = late.read_to_end(&mut out);
    assert!(closed.is_ok(), "the hub closed the connection: {closed:?}");
    witness.send("PRIVMSG #lobby :penanda");
    let mut friend = Irc::register(port, "teman");
    friend.send("JOIN #lobby");
    friend.expect(|l| l.contains(" 366 teman #lobby "), "NAMES end");
    witness.send("PRIVMSG #lobby :selesai");
    let seen = friend.expect(|l| l.contains("selesai"), "the last line");
    assert!(!seen.contains("rahasia"));
    assert!(
        !witness.dump().contains("GET /ws") && !witness.dump().contains("rahasia"),
        "{}",
        witness.dump()
    );
}

/// The registration deadline runs from the accept: an upgrade that comes late (on an
/// `http://` listener, which waits for it) does not start it again.
#[test]
fn a_websocket_must_register_within_the_deadline_from_its_accept() {
    let hub = Hub::start_full(&["http://127.0.0.1:0"], &["--register-secs", "4"]);
    let port = hub.port_of("Http");
    let started = Instant::now();
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    std::thread::sleep(Duration::from_millis(3500));
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let req = format!("ws://127.0.0.1:{port}/ws")
        .into_client_request()
        .unwrap();
    let (mut ws, _) = tungstenite::client(req, stream).expect("the upgrade");
    let mut ended = None;
    while started.elapsed() < Duration::from_secs(10) {
        match ws.read() {
            Ok(Message::Text(t)) if t.contains("registration timed out") => {}
            Ok(Message::Close(_)) | Err(tungstenite::Error::ConnectionClosed) => {
                ended = Some(started.elapsed());
                break;
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                ended = Some(started.elapsed());
                break;
            }
        }
    }
    let ended = ended.expect("the hub closed the unregistered WebSocket");
    // 4 s from the accept; from the upgrade it would be 3.5 + 4 s.
    assert!(
        ended < Duration::from_millis(6500),
        "closed after {ended:?}"
    );
}
