//! `obrol serve --config FILE`: values from the file, the command line winning over it, errors
//! that name the file and line, and SIGHUP applying a changed limit to the running hub.

mod common;

use std::net::{Ipv4Addr, TcpStream};
use std::path::PathBuf;

use common::irc::{connect_from, num, Hub, Irc};
use common::{obrol_cmd, Proc, EXIT_TIMEOUT, LINE_TIMEOUT};

fn write_config(tag: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("obrol-config-{}-{tag}.toml", std::process::id()));
    std::fs::write(&path, text).expect("write the config file");
    path
}

/// `obrol serve --config PATH` fails with exit code 2 and this one line.
#[track_caller]
fn refused(text: &str, tag: &str) -> String {
    let path = write_config(tag, text);
    let p = path.to_str().expect("path").to_owned();
    let mut serve = Proc::spawn(
        "serve",
        obrol_cmd(&["serve", "--config", &p, "--no-console"]),
    );
    let status = serve.wait_exit(EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(2), "{}", serve.dump());
    let lines = serve.stderr_lines();
    let _ = std::fs::remove_file(&path);
    let line = lines.last().cloned().unwrap_or_default();
    line.replace(&p, "FILE")
}

#[test]
fn every_error_names_the_file_and_the_line() {
    assert_eq!(
        refused("name = \"x\"\n\nline_rate = -3\n", "rate"),
        "obrol: FILE:3: line_rate must be 0 or more lines a second"
    );
    assert!(refused("name = \"x\"\nmax_per_adress = 3\n", "typo")
        .starts_with("obrol: FILE:2: unknown field `max_per_adress`, expected one of"),);
    assert_eq!(
        refused("listen = [\"127.0.0.1:0\",\n  \"nope\"]\n", "listen"),
        "obrol: FILE:2: listen: not a listen address: nope (expected HOST:PORT, irc://HOST:PORT, plain://HOST:PORT, tls://HOST:PORT, http://HOST:PORT or https://HOST:PORT)"
    );
    assert_eq!(
        refused("exempt = [\"10.0.0.0/33\"]\n", "exempt"),
        "obrol: FILE:1: exempt: not an address block: 10.0.0.0/33 (at most /32)"
    );
    assert_eq!(
        refused("max_clients = \"many\"\n", "type"),
        "obrol: FILE:1: invalid type: string \"many\", expected usize"
    );
    assert_eq!(
        refused("ping_secs = 0\n", "ping"),
        "obrol: FILE:1: ping_secs must be a positive number of seconds"
    );
    assert!(refused("name = \"unterminated\n", "syntax").starts_with("obrol: FILE:1: "));
    assert!(
        refused("[[oper]]\nname = \"x\"\npassword = \"x\"\n", "oper")
            .starts_with("obrol: FILE:3: unknown field `password`, expected one of"),
        "a password in clear is not a key"
    );
    assert_eq!(
        refused(
            "[[oper]]\nname = \"x\"\npassword_hash = \"hunter2\"\n",
            "hash"
        ),
        "obrol: FILE:1: password_hash is not a password hash (make one with `obrol hash-password`)"
    );
    assert_eq!(
        refused("[[oper]]\nname = \"x\"\n", "neither"),
        "obrol: FILE:1: an [[oper]] needs a name and either password_hash or account"
    );
    // Settings that need another name the line of the one given (found by the config fuzz
    // target: these once said which flag, not where).
    assert_eq!(
        refused("name = \"hub\"\ntls_only = true\n", "tls-only"),
        "obrol: FILE:2: tls_only needs a certificate and key (--tls-cert, --tls-key)"
    );
    assert_eq!(
        refused("\ntls_key = \"key.pem\"\n", "key-alone"),
        "obrol: FILE:2: tls_key needs its certificate too (--tls-cert)"
    );
    assert_eq!(
        refused("accounts_required = true\n", "accounts"),
        "obrol: FILE:1: accounts_required needs a store for the accounts (--data-dir)"
    );
}

#[test]
fn the_example_config_is_what_serve_reads() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../obrol.example.toml");
    let hub = Hub::start_with(&["--config", example]);
    let mut c = Irc::register(hub.port(), "reader");
    // The example's description, as WHOIS and LINKS show it.
    let lines = c.ask("LINKS");
    assert!(
        lines.iter().any(|l| l.ends_with(":0 obrol hub")),
        "{lines:?}"
    );
}

#[test]
fn the_command_line_wins_over_the_file() {
    let path = write_config(
        "win",
        "name = \"from.file\"\ndescription = \"from the file\"\n",
    );
    let p = path.to_str().expect("path");
    // `Hub` passes `--name irc.test`: it wins over the file's name; the description is the file's.
    let hub = Hub::start_with(&["--config", p]);
    let mut c = Irc::register(hub.port(), "reader");
    let lines = c.ask("LINKS");
    assert!(
        lines.iter().any(|l| l.ends_with(":0 from the file")),
        "{lines:?}"
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn sighup_applies_a_changed_limit() {
    let path = write_config("reload", "max_per_address = 2\n");
    let p = path.to_str().expect("path").to_owned();
    let hub = Hub::start_with(&["--config", &p]);
    let port = hub.port();
    let from = Ipv4Addr::new(127, 0, 0, 5);
    let _held: Vec<TcpStream> = (0..2).map(|_| connect_from(from, port)).collect();
    let mut third = Irc::over("third", connect_from(from, port));
    third.send("NICK third");
    third.expect_line("ERROR :Closing link: too many connections from your address (at most 2)");
    // Raised in the file; the hub told.
    std::fs::write(&path, "max_per_address = 3\n").expect("edit the config");
    hub.proc.signal(libc::SIGHUP);
    hub.proc
        .expect_stderr_line(|l| l.contains("SIGHUP: limits reloaded from"), LINE_TIMEOUT);
    let mut again = Irc::over("again", connect_from(from, port));
    again.send("NICK again");
    again.send("USER again 0 * :again");
    again.expect_line(&num("376", "again", ":End of /MOTD command."));
    // A file that no longer reads keeps the limits as they are, and says why.
    std::fs::write(&path, "max_per_address = \"lots\"\n").expect("break the config");
    hub.proc.signal(libc::SIGHUP);
    hub.proc
        .expect_stderr_line(|l| l.contains("keeping the current settings"), LINE_TIMEOUT);
    let mut fourth = Irc::over("fourth", connect_from(from, port));
    fourth.send("NICK fourth");
    fourth.expect_line("ERROR :Closing link: too many connections from your address (at most 3)");
    let _ = std::fs::remove_file(&path);
}
