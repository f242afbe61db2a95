//! TLS on the hub: `obrol cert`, `obrol serve --tls-cert/--tls-key`, `obrol connect --tls`, and
//! an IRC client over TLS (rustls, written here), all over loopback.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::irc::{num, Hub, Irc};
use common::{obrol_cmd, Proc, EXIT_TIMEOUT, LINE_TIMEOUT};

/// A fresh folder with a certificate and key made by `obrol cert`.
fn cert_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("obrol-tls-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.to_str().expect("a UTF-8 temp path").to_owned();
    let mut cert = Proc::spawn("cert", obrol_cmd(&["cert", "--out", &out]));
    cert.wait_success();
    assert!(dir.join("cert.pem").exists() && dir.join("key.pem").exists());
    dir
}

fn tls_args(dir: &Path) -> Vec<String> {
    vec![
        "--tls-cert".into(),
        dir.join("cert.pem").display().to_string(),
        "--tls-key".into(),
        dir.join("key.pem").display().to_string(),
    ]
}

fn start(listen: &[&str], dir: &Path, extra: &[&str]) -> Hub {
    let mut args = tls_args(dir);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Hub::start_full(listen, &args)
}

/// `obrol connect --tls --ca DIR/cert.pem 127.0.0.1:PORT --nick NICK`, welcomed.
fn tls_connect(port: u16, dir: &Path, nick: &str) -> Proc {
    let addr = format!("127.0.0.1:{port}");
    let ca = dir.join("cert.pem").display().to_string();
    let mut p = Proc::spawn(
        nick,
        obrol_cmd(&["connect", "--tls", "--ca", &ca, &addr, "--nick", nick]),
    );
    p.expect(&format!(
        "* you are {nick} in lobby; type /help for commands"
    ));
    p
}

/// A small IRC client over TLS that trusts `DIR/cert.pem`.
struct TlsIrc {
    reader: BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>,
}

impl TlsIrc {
    fn connect(port: u16, dir: &Path) -> TlsIrc {
        let tcp = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect");
        TlsIrc::over(tcp, dir)
    }

    /// Over a connection the test made (a small receive buffer, say).
    fn over(tcp: TcpStream, dir: &Path) -> TlsIrc {
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(dir.join("cert.pem")).expect("read cert.pem");
        use rustls::pki_types::pem::PemObject;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
            roots.add(cert.expect("a certificate")).expect("trusted");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("a name");
        let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("a session");
        tcp.set_read_timeout(Some(LINE_TIMEOUT)).expect("timeout");
        TlsIrc {
            reader: BufReader::new(rustls::StreamOwned::new(conn, tcp)),
        }
    }

    fn send(&mut self, line: &str) {
        let s = self.reader.get_mut();
        s.write_all(format!("{line}\r\n").as_bytes())
            .expect("send over TLS");
        s.flush().expect("flush");
    }

    /// Waits for a line that ends with `tail`.
    fn expect_ending(&mut self, tail: &str) {
        self.expect_where(
            |l| l.ends_with(tail),
            &format!("a line ending with {tail:?}"),
        );
    }

    fn expect(&mut self, want: &str) {
        self.expect_where(|l| l == want, &format!("{want:?}"));
    }

    /// Skips lines until one satisfies `pred`; panics, naming `what`, at the end of input.
    fn expect_where(&mut self, pred: impl Fn(&str) -> bool, what: &str) {
        let mut seen = Vec::new();
        loop {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) | Err(_) => panic!("no {what} over TLS; got {seen:?}"),
                Ok(_) => {}
            }
            let line = line.trim_end_matches(['\r', '\n']).to_owned();
            if pred(&line) {
                return;
            }
            seen.push(line);
        }
    }
}

/// Ends `obrol connect`'s input and checks that it exits cleanly.
#[track_caller]
fn ends_cleanly(p: &mut Proc) {
    p.close_stdin();
    let status = p.wait_exit(EXIT_TIMEOUT);
    assert!(status.success(), "exited with {status}\n{}", p.dump());
}

#[test]
fn tls_and_plaintext_clients_chat_through_the_shared_port() {
    let dir = cert_dir("shared");
    let hub = start(&["127.0.0.1:0", "tls://127.0.0.1:0"], &dir, &[]);
    let shared = hub.port_of("Auto");
    let tls_only_port = hub.port_of("Tls");
    // IRC in plaintext, `obrol connect` in TLS, both on the shared port.
    let mut irc = Irc::register(shared, "plainirc");
    irc.ask("JOIN #lobby");
    let mut secure = tls_connect(shared, &dir, "secure");
    irc.expect(
        |l| l.contains("secure") && l.contains("JOIN"),
        "secure's join",
    );
    secure.send_line("over tls");
    irc.expect_line(":secure!secure@127.0.0.1 PRIVMSG #lobby :over tls");
    irc.send("PRIVMSG #lobby :in the clear");
    secure.expect("<plainirc> in the clear");
    // IRC inside TLS, on the TLS port and on the shared one.
    for (port, nick) in [(tls_only_port, "tlsirc"), (shared, "tlsirc2")] {
        let mut t = TlsIrc::connect(port, &dir);
        t.send(&format!("NICK {nick}"));
        t.send(&format!("USER {nick} 0 * :over TLS"));
        t.expect(&num("376", nick, ":End of /MOTD command."));
        t.send("JOIN #lobby");
        irc.expect(
            |l| l.contains(nick) && l.contains("JOIN"),
            "the TLS IRC join",
        );
        irc.send(&format!("PRIVMSG #lobby :hi {nick}"));
        t.expect(&format!(
            ":plainirc!plainirc@127.0.0.1 PRIVMSG #lobby :hi {nick}"
        ));
    }
    ends_cleanly(&mut secure);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plaintext_is_refused_when_tls_only() {
    let dir = cert_dir("only");
    let hub = start(&["127.0.0.1:0"], &dir, &["--tls-only"]);
    let port = hub.port();
    let mut plain = common::Raw::connect("plain", port);
    plain.send_line("hello");
    plain.expect("ERROR :Closing link: this server takes TLS connections only");
    plain.expect_closed(LINE_TIMEOUT);
    let mut irc = Irc::connect("irc", port);
    irc.send_bytes(b"NICK x\r\nUSER x 0 * :x\r\n");
    let lines = irc.expect_closed();
    assert_eq!(
        lines,
        vec!["ERROR :Closing link: this server takes TLS connections only".to_owned()]
    );
    // Nor the browser client in clear: a page whose WebSocket would then be refused.
    let mut browser = common::Raw::connect("browser", port);
    browser.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    browser.expect("HTTP/1.1 403 Forbidden");
    // TLS clients are welcome.
    let mut secure = tls_connect(port, &dir, "secure");
    ends_cleanly(&mut secure);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn connect_rejects_a_certificate_it_does_not_trust_unless_insecure() {
    let dir = cert_dir("trust");
    let hub = start(&["tls://127.0.0.1:0"], &dir, &[]);
    let addr = format!("127.0.0.1:{}", hub.port_of("Tls"));
    let mut untrusted = Proc::spawn("untrusted", obrol_cmd(&["connect", "--tls", &addr]));
    untrusted.close_stdin();
    let status = untrusted.wait_exit(EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(1), "{}", untrusted.dump());
    assert!(
        untrusted
            .stderr_lines()
            .iter()
            .any(|l| l.contains("TLS with") && l.contains("UnknownIssuer")),
        "{}",
        untrusted.dump()
    );
    assert!(!untrusted.has_line(|l| l.contains("Selamat datang")));
    let mut insecure = Proc::spawn(
        "insecure",
        obrol_cmd(&["connect", "--tls", "--insecure", &addr, "--nick", "brave"]),
    );
    insecure.expect("* you are brave in lobby; type /help for commands");
    ends_cleanly(&mut insecure);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sighup_reloads_the_certificate() {
    let dir = cert_dir("reload");
    let renewed_dir = cert_dir("reload-new");
    let hub = start(&["tls://127.0.0.1:0"], &dir, &[]);
    let port = hub.port_of("Tls");
    let addr = format!("127.0.0.1:{port}");
    let mut first = tls_connect(port, &dir, "first");
    // Keep the old certificate to trust it later, then renew the files on disk and tell the hub.
    let old_ca = std::env::temp_dir().join(format!("obrol-old-ca-{}.pem", std::process::id()));
    std::fs::copy(dir.join("cert.pem"), &old_ca).expect("keep the old certificate");
    for f in ["cert.pem", "key.pem"] {
        std::fs::copy(renewed_dir.join(f), dir.join(f)).expect("renew the certificate");
    }
    hub.proc.signal(libc::SIGHUP);
    hub.proc.expect_stderr_line(
        |l| l.contains("SIGHUP: TLS certificate reloaded"),
        LINE_TIMEOUT,
    );
    // New connections get the new certificate: trusting the old one is no longer enough...
    let mut stale = Proc::spawn(
        "stale",
        obrol_cmd(&[
            "connect",
            "--tls",
            "--ca",
            old_ca.to_str().expect("path"),
            &addr,
        ]),
    );
    stale.close_stdin();
    assert_eq!(
        stale.wait_exit(EXIT_TIMEOUT).code(),
        Some(1),
        "{}",
        stale.dump()
    );
    let mut renewed = tls_connect(port, &renewed_dir, "renewed");
    // ...and the connection made before keeps working.
    first.send_line("still here");
    renewed.expect("<first> still here");
    // A bad file on reload keeps the current certificate.
    std::fs::write(dir.join("cert.pem"), "not a certificate").expect("write");
    hub.proc.signal(libc::SIGHUP);
    hub.proc.expect_stderr_line(
        |l| l.contains("still using the previous certificate"),
        LINE_TIMEOUT,
    );
    let mut after = tls_connect(port, &renewed_dir, "after");
    ends_cleanly(&mut after);
    for d in [&dir, &renewed_dir] {
        let _ = std::fs::remove_dir_all(d);
    }
    let _ = std::fs::remove_file(&old_ca);
}

#[test]
fn sts_policy_is_advertised_with_cap_ls_302() {
    let dir = cert_dir("sts");
    let hub = start(
        &["127.0.0.1:0", "tls://127.0.0.1:0"],
        &dir,
        &["--sts-duration", "600"],
    );
    let tls_port = hub.port_of("Tls");
    // Plaintext: the port to move to.
    let mut plain = Irc::connect("plain", hub.port());
    plain.send("CAP LS 302");
    let ls = plain.expect(|l| l.contains(" CAP * LS "), "CAP LS");
    assert!(ls.ends_with(&format!(" sts=port={tls_port}")), "{ls}");
    // Without 302 there are no values, so no policy.
    let mut old = Irc::connect("old", hub.port());
    old.send("CAP LS");
    let ls = old.expect(|l| l.contains(" CAP * LS "), "CAP LS");
    assert!(!ls.contains("sts"), "{ls}");
    // The policy cannot be requested.
    plain.send("CAP REQ sts");
    plain.expect_line(":irc.test CAP * NAK :sts");
    // Over TLS: how long to keep to it.
    let mut secure = TlsIrc::connect(tls_port, &dir);
    secure.send("CAP LS 302");
    secure.expect_ending(" sts=duration=600");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_tls_client_that_reads_late_gets_everything_in_order() {
    // The hub's TLS writer must hold what the socket does not take and send it when it can:
    // a reader with a 4 KiB receive buffer that stops reading while 3,000 lines arrive, then
    // reads them all.
    let dir = cert_dir("backpressure");
    let hub = start(
        &["127.0.0.1:0", "tls://127.0.0.1:0"],
        &dir,
        &["--line-rate", "0"],
    );
    let tcp = common::irc::connect_from_with(Ipv4Addr::LOCALHOST, hub.port_of("Tls"), Some(4096));
    let mut slow = TlsIrc::over(tcp, &dir);
    slow.send("NICK slow");
    slow.send("USER slow 0 * :Slow");
    slow.expect(&num("376", "slow", ":End of /MOTD command."));
    slow.send("JOIN #x");
    slow.expect(&num("366", "slow", "#x :End of /NAMES list"));
    let mut talker = Irc::register(hub.port_of("Auto"), "talker");
    talker.ask("JOIN #x");
    let pad = "y".repeat(300);
    let mut burst = String::new();
    for i in 0..3000 {
        burst.push_str(&format!("PRIVMSG #x :{i:06} {pad}\r\n"));
    }
    talker.send_bytes(burst.as_bytes());
    talker.sync();
    for i in 0..3000 {
        slow.expect(&format!(
            ":talker!talker@127.0.0.1 PRIVMSG #x :{i:06} {pad}"
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
