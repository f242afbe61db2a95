//! The hub's web side, on its chat ports: the browser client (a page and its assets, compiled
//! into the binary: no CDN, it works on a LAN without the internet) and the WebSocket endpoint
//! `/ws`, after which the connection is an IRC client like any other (IRCv3 WebSocket:
//! `text.ircv3.net`, `binary.ircv3.net`), held to the same limits.
//!
//! One request per connection: an asset is answered and the connection closed; an upgrade
//! turns it into a WebSocket. The request head is read within the registration deadline and
//! may hold at most [`MAX_HEAD`] bytes. A WebSocket from a page of another site is refused
//! (`Origin` must name this host, or one given with `--web-origin`): a page elsewhere cannot
//! chat in its visitors' names.

use std::collections::VecDeque;
use std::net::SocketAddr;

use bytes::Bytes;

use crate::transport::Transport;

/// Longest request head taken.
pub const MAX_HEAD: usize = 8 * 1024;

/// The browser client: what `/` and its assets are.
const INDEX: &str = include_str!("web/index.html");
const SCRIPT: &str = include_str!("web/obrol.js");
const STYLE: &str = include_str!("web/obrol.css");
const ICON: &str = include_str!("web/icon.svg");

/// The WebSocket subprotocols of IRCv3, by preference when a client offers both in no order
/// of its own (it does: its first offer wins).
const SUBPROTOCOLS: [&str; 2] = ["text.ircv3.net", "binary.ircv3.net"];

/// What the request asked for, decided from its head alone (see [`route`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// An asset: status, content type, body (`None` for HEAD).
    Asset {
        content_type: &'static str,
        body: &'static str,
        head_only: bool,
        /// The request's `Host`, when it is a plain host and port: the page's WebSocket is
        /// allowed to it by name (browsers that do not count `ws:` as `'self'`), and to
        /// nothing else.
        host: Option<String>,
    },
    /// A WebSocket: the accept key and the subprotocol chosen (binary or not).
    Upgrade {
        accept: String,
        subprotocol: Option<&'static str>,
    },
    /// An error: status line and a sentence.
    Error(&'static str, &'static str),
}

/// The host (and port) an `Origin` names: `https://chat.example.org:8443` ->
/// `chat.example.org:8443`.
fn origin_host(origin: &str) -> Option<&str> {
    let (_, rest) = origin.split_once("://")?;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// Whether `host` (a `Host` header: name or address, and port) names this hub in a way no
/// other site can: an IP address, `localhost`, the hub's own name (`--name`, the machine's name
/// by default; also with `.local`), or a host named with `--web-origin`. Against DNS
/// rebinding: a page of `evil.example` whose name is made to point at the hub sends matching
/// `Origin` and `Host` headers, but its `Host` is none of these.
fn trusted_host(host: &str, server_name: &str, allowed_origins: &[String]) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => {
            return v6
                .split(']')
                .next()
                .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok())
        }
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    let name = name.trim_end_matches('.');
    name.parse::<std::net::Ipv4Addr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || name.eq_ignore_ascii_case(server_name)
        || name
            .strip_suffix(".local")
            .is_some_and(|n| n.eq_ignore_ascii_case(server_name))
        || allowed_origins.iter().any(|o| {
            origin_host(o.trim_end_matches('/')).is_some_and(|h| {
                h.rsplit_once(':')
                    .map_or(h, |(n, _)| n)
                    .eq_ignore_ascii_case(name)
            })
        })
}

/// Decides the answer to a request head (`Err` if it does not parse as HTTP/1.x).
pub fn route(head: &[u8], allowed_origins: &[String], server_name: &str) -> Answer {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Answer::Error("400 Bad Request", "not an HTTP request"),
    }
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    };
    let method = req.method.unwrap_or("");
    let path = req.path.unwrap_or("/");
    let path = path.split('?').next().unwrap_or(path);
    if path == "/ws" {
        if method != "GET" {
            return Answer::Error("405 Method Not Allowed", "a WebSocket opens with GET");
        }
        let upgrade = header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
        // Every `Connection` header counts (a client may send several).
        let connection = req
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("connection"))
            .filter_map(|h| std::str::from_utf8(h.value).ok())
            .any(|c| {
                c.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            });
        let (Some(key), true, true) = (header("sec-websocket-key"), upgrade, connection) else {
            return Answer::Error(
                "426 Upgrade Required",
                "/ws is a WebSocket (IRC over text.ircv3.net or binary.ircv3.net)",
            );
        };
        if header("sec-websocket-version") != Some("13") {
            return Answer::Error("426 Upgrade Required", "WebSocket version 13 only");
        }
        if let Some(origin) = header("origin") {
            let same_host = match (origin_host(origin), header("host")) {
                (Some(o), Some(h)) => {
                    o.eq_ignore_ascii_case(h) && trusted_host(h, server_name, allowed_origins)
                }
                _ => false,
            };
            let listed = allowed_origins
                .iter()
                .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin));
            if !same_host && !listed {
                return Answer::Error(
                    "403 Forbidden",
                    "a page of another site may not open a WebSocket here (see --web-origin)",
                );
            }
        }
        // The client's first offer that is IRC's; none offered: text.
        let offered = header("sec-websocket-protocol").unwrap_or("");
        let subprotocol = offered.split(',').map(str::trim).find_map(|p| {
            SUBPROTOCOLS
                .iter()
                .find(|s| s.eq_ignore_ascii_case(p))
                .copied()
        });
        if !offered.is_empty() && subprotocol.is_none() {
            return Answer::Error(
                "400 Bad Request",
                "the subprotocols here are text.ircv3.net and binary.ircv3.net",
            );
        }
        return Answer::Upgrade {
            accept: tungstenite::handshake::derive_accept_key(key.as_bytes()),
            subprotocol,
        };
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Answer::Error("405 Method Not Allowed", "only GET and HEAD"),
    };
    let (content_type, body) = match path {
        "/" | "/index.html" => ("text/html; charset=utf-8", INDEX),
        "/obrol.js" => ("text/javascript; charset=utf-8", SCRIPT),
        "/obrol.css" => ("text/css; charset=utf-8", STYLE),
        "/icon.svg" | "/favicon.ico" => ("image/svg+xml", ICON),
        _ => return Answer::Error("404 Not Found", "nothing here"),
    };
    let host = header("host")
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .map(str::to_owned);
    Answer::Asset {
        content_type,
        body,
        head_only,
        host,
    }
}

/// The bytes of an answer (for an upgrade, the `101` that starts the WebSocket).
pub fn response(answer: &Answer) -> String {
    match answer {
        Answer::Asset {
            content_type,
            body,
            head_only,
            host,
        } => {
            // The page may load only its own assets, and talk only to this host.
            let sockets = host
                .as_deref()
                .map_or(String::new(), |h| format!(" ws://{h} wss://{h}"));
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
                 Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n\
                 Referrer-Policy: no-referrer\r\nX-Frame-Options: DENY\r\n\
                 Content-Security-Policy: default-src 'self'; connect-src 'self'{sockets}; \
                 img-src 'self' data:; base-uri 'none'; form-action 'none'; \
                 frame-ancestors 'none'\r\nConnection: close\r\n\r\n{}",
                body.len(),
                if *head_only { "" } else { body }
            )
        }
        Answer::Upgrade {
            accept,
            subprotocol,
        } => format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n{}\r\n",
            subprotocol.map_or(String::new(), |p| format!(
                "Sec-WebSocket-Protocol: {p}\r\n"
            ))
        ),
        Answer::Error(status, why) => format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{why}\n",
            why.len() + 1
        ),
    }
}

/// Writes `bytes` within two seconds (an answer: nothing waits for it longer).
async fn send(stream: &Transport, bytes: String) -> bool {
    let mut queue = VecDeque::from([Bytes::from(bytes)]);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    while !queue.is_empty() {
        if crate::conn::write_vectored(stream, &mut queue).is_err() {
            return false;
        }
        if queue.is_empty() {
            break;
        }
        let ready = std::future::poll_fn(|cx| stream.poll_write_ready(cx));
        if tokio::time::timeout_at(deadline, ready).await.is_err() {
            return false;
        }
    }
    // What the transport still holds (TLS records).
    while !matches!(stream.flush_pending(), Ok(true) | Err(_)) {
        let ready = std::future::poll_fn(|cx| stream.poll_write_ready(cx));
        if tokio::time::timeout_at(deadline, ready).await.is_err() {
            return false;
        }
    }
    true
}

/// Reads a request head: up to the blank line, at most [`MAX_HEAD`] bytes, by `deadline`.
/// Returns the head and whatever followed it.
async fn read_head(
    stream: &Transport,
    deadline: tokio::time::Instant,
) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut got = Vec::new();
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = got.split_off(end + 4);
            return Some((got, rest));
        }
        if got.len() >= MAX_HEAD {
            return None;
        }
        let mut buf = [0u8; 2048];
        match stream.try_read(&mut buf) {
            Ok(0) => return None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let ready = std::future::poll_fn(|cx| stream.poll_read_ready(cx));
                if tokio::time::timeout_at(deadline, ready).await.is_err() {
                    return None;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// Answers an HTTP request on a chat port. `true` when the connection became a WebSocket
/// (its transport is now one, and it speaks IRC); otherwise it was answered and is done.
pub(crate) async fn serve(
    stream: &mut Transport,
    addr: SocketAddr,
    shared: &crate::Shared,
) -> bool {
    let deadline = tokio::time::Instant::now() + shared.settings.registration_timeout;
    let Some((head, rest)) = read_head(stream, deadline).await else {
        let _ = send(
            stream,
            response(&Answer::Error("400 Bad Request", "no request head")),
        )
        .await;
        stream.linger_close(std::time::Duration::from_secs(1)).await;
        return false;
    };
    let answer = if shared.settings.tls_only && !stream.is_tls() {
        // Neither the page nor its WebSocket in clear: the page would load and then fail.
        Answer::Error(
            "403 Forbidden",
            "this server takes TLS connections only: use https://",
        )
    } else {
        route(&head, &shared.settings.web_origins, &shared.settings.name)
    };
    let upgrade = match &answer {
        Answer::Upgrade { subprotocol, .. } => Some(*subprotocol == Some("binary.ircv3.net")),
        _ => None,
    };
    let sent = send(stream, response(&answer)).await;
    match (upgrade, sent) {
        (Some(binary), true) => {
            crate::metrics::bump(&shared.metrics.websockets);
            stream.start_websocket(binary, rest);
            true
        }
        _ => {
            if let Answer::Error(status, _) = &answer {
                tracing::debug!(%addr, %status, "HTTP request refused");
            } else {
                crate::metrics::bump(&shared.metrics.web_pages);
            }
            stream.linger_close(std::time::Duration::from_secs(1)).await;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(lines: &[&str]) -> Vec<u8> {
        format!("{}\r\n\r\n", lines.join("\r\n")).into_bytes()
    }

    const UPGRADE: [&str; 5] = [
        "GET /ws HTTP/1.1",
        "Host: chat.example:8080",
        "Upgrade: websocket",
        "Connection: keep-alive, Upgrade",
        "Sec-WebSocket-Version: 13",
    ];

    fn upgrade_with(extra: &[&str]) -> Vec<u8> {
        let mut lines: Vec<&str> = UPGRADE.to_vec();
        lines.push("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==");
        lines.extend_from_slice(extra);
        req(&lines)
    }

    /// DNS rebinding: a page whose name was made to point at the hub sends an Origin that
    /// matches its Host, but its Host names no address, nor this hub, nor an allowed site.
    #[test]
    fn an_origin_matching_an_untrusted_host_is_refused() {
        let ws = |host: &str, origin: &str, name: &str| {
            let head = req(&[
                "GET /ws HTTP/1.1",
                &format!("Host: {host}"),
                "Upgrade: websocket",
                "Connection: keep-alive",
                "Connection: Upgrade",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version: 13",
                &format!("Origin: {origin}"),
            ]);
            matches!(route(&head, &[], name), Answer::Upgrade { .. })
        };
        assert!(!ws("evil.example:8080", "http://evil.example:8080", "hub"));
        assert!(ws("192.168.1.5:8080", "http://192.168.1.5:8080", "hub"));
        assert!(ws("[::1]:8080", "http://[::1]:8080", "hub"));
        assert!(ws("localhost:8080", "http://localhost:8080", "hub"));
        assert!(ws("hub:8080", "http://hub:8080", "hub"));
        assert!(ws("HUB.local:8080", "http://hub.local:8080", "hub"));
        assert!(!ws("[evil]:8080", "http://[evil]:8080", "hub"));
        assert!(trusted_host(
            "chat.example.org",
            "hub",
            &["https://chat.example.org".to_owned()]
        ));
    }

    #[test]
    fn assets_and_their_security_headers() {
        for (path, kind) in [
            ("/", "text/html"),
            ("/index.html?x=1", "text/html"),
            ("/obrol.js", "text/javascript"),
            ("/obrol.css", "text/css"),
            ("/icon.svg", "image/svg+xml"),
        ] {
            let answer = route(
                &req(&[&format!("GET {path} HTTP/1.1"), "Host: h"]),
                &[],
                "hub",
            );
            let Answer::Asset { content_type, .. } = &answer else {
                panic!("{path}: {answer:?}");
            };
            assert!(content_type.starts_with(kind), "{path}");
            let text = response(&answer);
            assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
            assert!(text.contains("Content-Security-Policy: default-src 'self'"));
        }
        // The page's WebSocket may go to its own host and nowhere else; a Host that is no
        // plain name and port is not written into the policy.
        let page = response(&route(
            &req(&["GET / HTTP/1.1", "Host: chat.lan:8080"]),
            &[],
            "hub",
        ));
        assert!(
            page.contains("connect-src 'self' ws://chat.lan:8080 wss://chat.lan:8080; img-src"),
            "{page}"
        );
        let odd = response(&route(
            &req(&["GET / HTTP/1.1", "Host: a; script-src *"]),
            &[],
            "hub",
        ));
        assert!(odd.contains("connect-src 'self'; img-src"), "{odd}");
        let head = route(&req(&["HEAD / HTTP/1.1", "Host: h"]), &[], "hub");
        assert!(response(&head).ends_with("\r\n\r\n"), "HEAD has no body");
        assert_eq!(
            route(&req(&["GET /etc/passwd HTTP/1.1"]), &[], "hub"),
            Answer::Error("404 Not Found", "nothing here")
        );
        assert!(matches!(
            route(&req(&["POST / HTTP/1.1"]), &[], "hub"),
            Answer::Error("405 Method Not Allowed", _)
        ));
        assert!(matches!(
            route(b"\x16\x03\x01garbage\r\n\r\n", &[], "hub"),
            Answer::Error("400 Bad Request", _)
        ));
    }

    #[test]
    fn the_browser_client_stays_small() {
        // First load: page, script, style and icon, uncompressed (the target is compressed).
        let total = INDEX.len() + SCRIPT.len() + STYLE.len() + ICON.len();
        assert!(total < 100 * 1024, "{total} bytes");
    }

    #[test]
    fn upgrades_pick_an_ircv3_subprotocol_and_check_the_origin() {
        // RFC 6455's example key and accept.
        let accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".to_owned();
        assert_eq!(
            route(&upgrade_with(&[]), &[], "hub"),
            Answer::Upgrade {
                accept: accept.clone(),
                subprotocol: None
            }
        );
        assert_eq!(
            route(
                &upgrade_with(&["Sec-WebSocket-Protocol: binary.ircv3.net, text.ircv3.net"]),
                &[],
                "hub"
            ),
            Answer::Upgrade {
                accept: accept.clone(),
                subprotocol: Some("binary.ircv3.net")
            }
        );
        let text = response(&route(
            &upgrade_with(&["Sec-WebSocket-Protocol: text.ircv3.net"]),
            &[],
            "hub",
        ));
        assert!(
            text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
            "{text}"
        );
        assert!(text.contains("Sec-WebSocket-Protocol: text.ircv3.net\r\n"));
        assert!(matches!(
            route(&upgrade_with(&["Sec-WebSocket-Protocol: chat"]), &[], "hub"),
            Answer::Error("400 Bad Request", _)
        ));
        // Origins: this host, or one allowed by name.
        assert!(matches!(
            route(
                &upgrade_with(&["Origin: http://chat.example:8080"]),
                &[],
                "chat.example"
            ),
            Answer::Upgrade { .. }
        ));
        assert!(matches!(
            route(&upgrade_with(&["Origin: https://evil.example"]), &[], "hub"),
            Answer::Error("403 Forbidden", _)
        ));
        assert!(matches!(
            route(
                &upgrade_with(&["Origin: https://web.example"]),
                &["https://web.example/".to_owned()],
                "hub"
            ),
            Answer::Upgrade { .. }
        ));
        assert!(matches!(
            route(&upgrade_with(&["Origin: null"]), &[], "hub"),
            Answer::Error("403 Forbidden", _)
        ));
        // Not quite a WebSocket.
        assert!(matches!(
            route(&req(&UPGRADE), &[], "hub"),
            Answer::Error("426 Upgrade Required", _)
        ));
        let mut old: Vec<&str> = UPGRADE[..4].to_vec();
        old.push("Sec-WebSocket-Version: 8");
        old.push("Sec-WebSocket-Key: x");
        assert!(matches!(
            route(&req(&old), &[], "hub"),
            Answer::Error("426 Upgrade Required", _)
        ));
    }
}
