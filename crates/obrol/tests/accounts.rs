//! Accounts: `obrol serve --data-dir DIR`; plain `/register` and `/login`, IRC SASL PLAIN,
//! accounts that survive a restart, wrong passwords, and registered nicks guests cannot keep.

mod common;

use std::path::{Path, PathBuf};

use common::irc::{num, Hub, Irc, PLAIN_WELCOME};
use common::{Raw, LINE_TIMEOUT};

fn data_dir(tag: &str) -> PathBuf {
    common::irc::data_dir("accounts", tag)
}

fn hub(dir: &Path, extra: &[&str]) -> Hub {
    common::irc::hub_with_data(dir, extra)
}

fn plain(port: u16, nick: &str) -> Raw {
    common::irc::plain_client(port, nick)
}

fn sasl_plain(account: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{account}\0{password}"))
}

#[test]
fn register_then_log_in_again_after_a_restart() {
    let dir = data_dir("restart");
    {
        let h = hub(&dir, &[]);
        let mut ani = plain(h.port(), "ani");
        ani.send_line("/register short");
        ani.expect("! a password needs at least 8 characters");
        ani.send_line("/register correct horse");
        ani.expect("! usage: /register PASSWORD (registers your current nick)");
        ani.send_line("/register correcthorse");
        ani.expect("* registered the account ani");
        ani.expect("* you are logged in as ani");
    }
    // The hub restarts; the account is still there.
    let h = hub(&dir, &[]);
    let mut again = plain(h.port(), "budi");
    again.send_line("/login ani wrongpassword");
    again.expect("! wrong account or password");
    again.send_line("/login ani correcthorse");
    again.expect("* you are logged in as ani");
    // Registering a name that exists says so.
    let mut other = plain(h.port(), "Ani");
    other.send_line("/register anotherpass");
    other.expect("! the account Ani exists already; /login PASSWORD if it is yours");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sasl_plain_logs_in_and_a_wrong_password_gets_904() {
    let dir = data_dir("sasl");
    let h = hub(&dir, &[]);
    make_account(h.port(), "dewi", "sekali-lagi");

    // A wrong password: 904, and registration goes on without an account.
    let mut wrong = Irc::connect("wrong", h.port());
    wrong.send("CAP LS 302");
    let ls = wrong.expect(|l| l.contains(" CAP * LS "), "CAP LS");
    assert!(ls.contains(" sasl=PLAIN"), "{ls}");
    wrong.send("CAP REQ :sasl");
    wrong.expect_line(":irc.test CAP * ACK :sasl");
    wrong.send("AUTHENTICATE PLAIN");
    wrong.expect_line("AUTHENTICATE +");
    wrong.send(&format!("AUTHENTICATE {}", sasl_plain("dewi", "not-it")));
    wrong.expect_line(&num("904", "*", ":SASL authentication failed"));
    wrong.send("AUTHENTICATE *");
    wrong.expect_line(&num("906", "*", ":SASL authentication aborted"));

    // The right one: 900 and 903 before registration; WHOIS shows the account.
    let mut right = Irc::connect("right", h.port());
    right.send("CAP REQ :sasl");
    right.send("NICK dewi");
    right.send("USER d 0 * :Dewi");
    right.send("AUTHENTICATE PLAIN");
    right.expect_line("AUTHENTICATE +");
    right.send(&format!(
        "AUTHENTICATE {}",
        sasl_plain("dewi", "sekali-lagi")
    ));
    right.expect(
        |l| l.contains(" 900 dewi ") && l.ends_with(":You are now logged in as dewi"),
        "900",
    );
    right.expect_line(&num("903", "dewi", ":SASL authentication successful"));
    right.send("CAP END");
    right.expect_line(&num("376", "dewi", ":End of /MOTD command."));
    let lines = right.ask("WHOIS dewi");
    assert!(
        lines.contains(&num("330", "dewi", "dewi dewi :is logged in as")),
        "{lines:?}"
    );
    // Already logged in: 907.
    assert_eq!(
        right.ask("AUTHENTICATE PLAIN"),
        vec![num(
            "907",
            "dewi",
            ":You have already authenticated using SASL"
        )]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_guest_cannot_keep_a_registered_nick() {
    let dir = data_dir("nick");
    let h = hub(&dir, &["--nick-grace-secs", "1"]);
    make_account(h.port(), "sari", "rahasia-sari");
    // Someone else takes the nick: told to log in, then renamed.
    let mut guest = Irc::register(h.port(), "sari");
    guest.expect_line(
        ":irc.test NOTICE sari :sari is a registered nick: log in to it within 1 s (/login PASSWORD, or SASL) or you will be renamed",
    );
    let renamed = guest.expect(|l| l.contains(" NICK "), "the rename");
    assert!(
        renamed.starts_with(":sari!sari@127.0.0.1 NICK guest"),
        "{renamed}"
    );
    // The owner who logs in within the grace keeps it.
    guest.send("QUIT");
    guest.expect_closed();
    let mut owner = plain(h.port(), "sari");
    owner.expect("* sari is a registered nick: log in to it within 1 s (/login PASSWORD, or SASL) or you will be renamed");
    owner.send_line("/login rahasia-sari");
    owner.expect("* you are logged in as sari");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    owner.send_line("/who");
    owner.expect_line(
        |l| l.starts_with("* in lobby") && l.contains("sari"),
        LINE_TIMEOUT,
    );
    assert!(
        !owner.has_line(|l| l.contains("you are now guest")),
        "renamed after logging in"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_data_dir_there_are_no_accounts() {
    let h = Hub::start();
    let mut c = plain(h.port(), "nobody");
    c.send_line("/register whatever-pass");
    c.expect("! accounts are not enabled on this server");
    let mut irc = Irc::connect("irc", h.port());
    irc.send("CAP LS 302");
    let ls = irc.expect(|l| l.contains(" CAP * LS "), "CAP LS");
    assert!(!ls.contains("sasl"), "{ls}");
}

#[test]
fn account_tag_extended_join_and_account_notify_carry_the_account() {
    let dir = data_dir("tags");
    let h = hub(&dir, &[]);
    make_account(h.port(), "rina", "rina-punya");

    let mut watcher = Irc::register_with_caps(
        h.port(),
        "watcher",
        "account-tag extended-join account-notify",
    );
    watcher.ask("JOIN #t");
    // rina joins before logging in: `*` in the extended join, then ACCOUNT when she logs in.
    let mut rina = Irc::register(h.port(), "rina");
    rina.ask("JOIN #t");
    watcher.expect_line(":rina!rina@127.0.0.1 JOIN #t * :Real rina");
    rina.send("PRIVMSG #t :before");
    watcher.expect_line(":rina!rina@127.0.0.1 PRIVMSG #t :before");
    let mut plain_rina = plain(h.port(), "rinaplain");
    plain_rina.send_line("/login rina rina-punya");
    plain_rina.expect("* you are logged in as rina");
    drop(plain_rina);
    // IRC rina logs in with SASL after registering.
    rina.send("AUTHENTICATE PLAIN");
    rina.expect_line("AUTHENTICATE +");
    rina.send(&format!(
        "AUTHENTICATE {}",
        sasl_plain("rina", "rina-punya")
    ));
    rina.expect_line(&num("903", "rina", ":SASL authentication successful"));
    watcher.expect_line(":rina!rina@127.0.0.1 ACCOUNT rina");
    rina.send("PRIVMSG #t :after");
    watcher.expect_line("@account=rina :rina!rina@127.0.0.1 PRIVMSG #t :after");
    // Every line whose source she is carries it, not only messages.
    rina.ask("PART #t");
    watcher.expect_line("@account=rina :rina!rina@127.0.0.1 PART #t");
    // A later join shows the account.
    let mut late = Irc::register_with_caps(h.port(), "late", "extended-join");
    late.ask("JOIN #v");
    rina.send("JOIN #v");
    late.expect_line(":rina!rina@127.0.0.1 JOIN #v rina :Real rina");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn when_accounts_are_required_only_logged_in_clients_chat() {
    let dir = data_dir("required");
    let h = hub(&dir, &["--accounts-required"]);
    let port = h.port();
    // An IRC client without SASL is told and closed before it registers.
    let mut anon = Irc::connect("anon", port);
    anon.send("NICK anon");
    anon.send("USER anon 0 * :Anon");
    let lines = anon.expect_closed();
    assert_eq!(
        lines,
        vec![
            ":irc.test FAIL * ACCOUNT_REQUIRED :This server requires logging in with SASL"
                .to_owned(),
            "ERROR :Closing link: log in with SASL to use this server".to_owned(),
        ]
    );
    // A plain client waits outside the lobby: it hears nothing and may say nothing...
    let mut newbie = Raw::connect("newbie", port);
    newbie.send_line("/nick newbie");
    newbie.expect(PLAIN_WELCOME);
    newbie.expect("* you are newbie; log in to join the others; type /help for commands");
    let refusal =
        "! this hub requires an account: /login [ACCOUNT] PASSWORD, or /register PASSWORD";
    newbie.expect(refusal);
    newbie.send_line("hello?");
    newbie.expect(refusal);
    newbie.send_line("/join elsewhere");
    newbie.expect(refusal);
    // ...until it registers (or logs in): then it is in the lobby.
    newbie.send_line("/register newbie-pass");
    newbie.expect("* registered the account newbie");
    newbie.expect("* you are logged in as newbie");
    newbie.expect("* newbie joined lobby");
    // An IRC client with SASL registers and meets it there.
    let mut member = Irc::connect("member", port);
    member.send("CAP REQ :sasl");
    member.send("NICK newbie2");
    member.send("USER m 0 * :M");
    member.send("AUTHENTICATE PLAIN");
    member.expect_line("AUTHENTICATE +");
    member.send(&format!(
        "AUTHENTICATE {}",
        sasl_plain("newbie", "newbie-pass")
    ));
    member.expect_line(&num("903", "newbie2", ":SASL authentication successful"));
    member.send("CAP END");
    member.expect_line(&num("376", "newbie2", ":End of /MOTD command."));
    member.ask("JOIN #lobby");
    newbie.send_line("selamat datang");
    member.expect_line(":newbie!newbie@127.0.0.1 PRIVMSG #lobby :selamat datang");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Registers `nick` as an account through a plain client, then lets it go.
fn make_account(port: u16, nick: &str, password: &str) {
    let mut c = plain(port, nick);
    c.send_line(&format!("/register {password}"));
    c.expect(&format!("* you are logged in as {nick}"));
    c.send_line("/quit");
    c.expect_closed(LINE_TIMEOUT);
}

/// An IRC client logged in with SASL as `nick` (account and nick alike).
fn sasl_client(port: u16, nick: &str, password: &str) -> Irc {
    let mut c = Irc::connect(nick, port);
    c.send("CAP REQ :sasl");
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER {nick} 0 * :Real {nick}"));
    c.send("AUTHENTICATE PLAIN");
    c.expect_line("AUTHENTICATE +");
    c.send(&format!("AUTHENTICATE {}", sasl_plain(nick, password)));
    c.expect_line(&num("903", nick, ":SASL authentication successful"));
    c.send("CAP END");
    c.expect_line(&num("376", nick, ":End of /MOTD command."));
    c
}

#[test]
fn a_registered_room_keeps_its_operators_and_modes_across_a_restart() {
    let dir = data_dir("rooms");
    {
        let h = hub(&dir, &[]);
        make_account(h.port(), "ani", "ani-password");
        make_account(h.port(), "budi", "budi-password");
        let mut ani = sasl_client(h.port(), "ani", "ani-password");
        ani.ask("JOIN #dev");
        let lines = ani.ask("PRIVMSG ChanServ :REGISTER #dev");
        assert_eq!(
            lines,
            vec![":ChanServ!services@irc.test NOTICE ani :#dev is registered to ani".to_owned()]
        );
        ani.ask("MODE #dev +m");
        let mut budi = sasl_client(h.port(), "budi", "budi-password");
        budi.ask("JOIN #dev");
        ani.ask("MODE #dev +o budi");
        budi.expect_line(":ani!ani@127.0.0.1 MODE #dev +o budi");
        let info = ani.ask("PRIVMSG ChanServ :INFO #dev");
        assert!(
            info[0].ends_with(":#dev is registered to ani; operators: ani, budi; modes: +mnt"),
            "{info:?}"
        );
        // Changes in quick succession are saved in the order they happened: budi loses and
        // regains +o fifteen times in one burst and ends an operator (the saves once ran on
        // any of tokio's blocking threads, so a late "-o" could land last); eve's +v changes
        // nothing the store keeps.
        for _ in 0..15 {
            ani.send("MODE #dev -o budi");
            ani.send("MODE #dev +o budi");
        }
        ani.ask("MODE #dev -m");
        ani.ask("MODE #dev +m");
        // A clean stop (SIGTERM) writes the saves still waiting before the process ends.
        let mut h = h;
        h.proc.signal(libc::SIGTERM);
        assert!(h.proc.wait_exit(common::EXIT_TIMEOUT).success());
    }
    // Restarted: the first one in is not its operator; the modes are back; budi is op again.
    let h = hub(&dir, &[]);
    let mut eve = Irc::register(h.port(), "eve");
    let lines = eve.ask("JOIN #dev");
    assert!(
        lines.contains(&num("353", "eve", "= #dev :eve")),
        "{lines:?}"
    );
    let modes = eve.ask("MODE #dev");
    assert!(modes[0].contains(" 324 eve #dev +mnt"), "{modes:?}");
    let mut budi = sasl_client(h.port(), "budi", "budi-password");
    budi.ask("JOIN #dev");
    eve.expect_line(":ChanServ!services@irc.test MODE #dev +o budi");
    // And budi can run it: kick eve.
    budi.ask("KICK #dev eve :bye");
    eve.expect_line(":budi!budi@127.0.0.1 KICK #dev eve :bye");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The client's side of SCRAM-SHA-256 (RFC 5802), written here from the RFC: the proof for
/// `password` given the server-first message; returns (client-final, expected server-final).
fn scram_client_final(
    password: &str,
    client_first_bare: &str,
    server_first: &str,
) -> (String, String) {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    let b64 = base64::engine::general_purpose::STANDARD;
    let field = |k: &str| {
        server_first
            .split(',')
            .find_map(|f| f.strip_prefix(k))
            .unwrap_or_else(|| panic!("no {k} in {server_first}"))
            .to_owned()
    };
    let (nonce, salt, iterations) = (field("r="), field("s="), field("i="));
    let salt = b64.decode(salt).expect("base64 salt");
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(
        password.as_bytes(),
        &salt,
        iterations.parse().unwrap(),
        &mut salted,
    );
    let hmac = |key: &[u8], msg: &[u8]| -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
        mac.update(msg);
        mac.finalize().into_bytes().to_vec()
    };
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(&client_key);
    let without_proof = format!("c=biws,r={nonce}");
    let auth = format!("{client_first_bare},{server_first},{without_proof}");
    let signature = hmac(&stored_key, auth.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(&signature)
        .map(|(a, b)| a ^ b)
        .collect();
    let server_key = hmac(&salted, b"Server Key");
    let server_signature = hmac(&server_key, auth.as_bytes());
    (
        format!("{without_proof},p={}", b64.encode(proof)),
        format!("v={}", b64.encode(server_signature)),
    )
}

#[test]
fn sasl_scram_sha_256_logs_in_and_proves_the_server_knows_the_password() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let dir = data_dir("scram");
    let h = hub(&dir, &[]);
    make_account(h.port(), "wati", "wati-rahasia");
    for (password, ok) in [("salah-sekali", false), ("wati-rahasia", true)] {
        let mut c = Irc::connect("wati", h.port());
        c.send("CAP LS 302");
        let ls = c.expect(|l| l.contains(" CAP * LS "), "CAP LS");
        assert!(ls.contains(" sasl=PLAIN,SCRAM-SHA-256"), "{ls}");
        c.send("CAP REQ :sasl");
        c.send("NICK wati");
        c.send("USER wati 0 * :Wati");
        c.send("AUTHENTICATE SCRAM-SHA-256");
        c.expect_line("AUTHENTICATE +");
        let client_first_bare = "n=wati,r=fyko+d2lbbFgONRv9qkxdawL";
        c.send(&format!(
            "AUTHENTICATE {}",
            b64.encode(format!("n,,{client_first_bare}"))
        ));
        let line = c.expect(
            |l| l.starts_with("AUTHENTICATE "),
            "the server-first message",
        );
        let server_first =
            String::from_utf8(b64.decode(&line["AUTHENTICATE ".len()..]).unwrap()).unwrap();
        assert!(
            server_first.starts_with("r=fyko+d2lbbFgONRv9qkxdawL"),
            "{server_first}"
        );
        let (client_final, server_final) =
            scram_client_final(password, client_first_bare, &server_first);
        c.send(&format!("AUTHENTICATE {}", b64.encode(&client_final)));
        if !ok {
            c.expect_line(&num("904", "wati", ":SASL authentication failed"));
            continue;
        }
        let line = c.expect(
            |l| l.starts_with("AUTHENTICATE "),
            "the server-final message",
        );
        assert_eq!(
            String::from_utf8(b64.decode(&line["AUTHENTICATE ".len()..]).unwrap()).unwrap(),
            server_final,
            "the server's signature proves it knows the password"
        );
        c.send("AUTHENTICATE +");
        c.expect(
            |l| l.contains(" 900 wati ") && l.ends_with(":You are now logged in as wati"),
            "900",
        );
        c.expect_line(&num("903", "wati", ":SASL authentication successful"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn draft_account_registration_creates_and_logs_in() {
    let dir = data_dir("register-cmd");
    let h = hub(&dir, &[]);
    let mut c = Irc::connect("new", h.port());
    c.send("CAP LS 302");
    let ls = c.expect(|l| l.contains(" CAP * LS "), "CAP LS");
    assert!(
        ls.contains(" draft/account-registration=before-connect,custom-account-name "),
        "{ls}"
    );
    c.send("REGISTER * * some-password");
    c.expect_line(":irc.test FAIL REGISTER NEED_NICK * :Send NICK first, or name the account");
    c.send("NICK putri");
    c.send("REGISTER * * short");
    c.expect_line(
        ":irc.test FAIL REGISTER WEAK_PASSWORD putri :A password needs at least 8 characters",
    );
    c.send("REGISTER NickServ * some-password");
    c.expect_line(
        ":irc.test FAIL REGISTER BAD_ACCOUNT_NAME NickServ :Not a name an account can have",
    );
    // Before connection registration, for the current nick.
    c.send("REGISTER * * putri-password");
    c.expect_line(":irc.test REGISTER SUCCESS putri :Account created");
    c.expect(
        |l| l.contains(" 900 putri ") && l.ends_with(":You are now logged in as putri"),
        "900",
    );
    c.send("REGISTER other * other-password");
    c.expect_line(":irc.test FAIL REGISTER ALREADY_AUTHENTICATED * :You are already logged in");
    c.send("USER putri 0 * :Putri");
    c.send("CAP END");
    c.expect_line(&num("376", "putri", ":End of /MOTD command."));
    let lines = c.ask("WHOIS putri");
    assert!(
        lines.contains(&num("330", "putri", "putri putri :is logged in as")),
        "{lines:?}"
    );
    // After registration, with a name of its own; the name is then taken.
    let mut d = Irc::register(h.port(), "dimas");
    let lines = d.ask("REGISTER dimas-akun * dimas-password");
    assert_eq!(
        lines[0],
        ":irc.test REGISTER SUCCESS dimas-akun :Account created"
    );
    assert!(lines.iter().any(|l| l.contains(" 900 dimas ")), "{lines:?}");
    let mut e = Irc::register(h.port(), "eko");
    assert_eq!(
        e.ask("REGISTER putri * whatever-pass"),
        vec![":irc.test FAIL REGISTER ACCOUNT_EXISTS putri :Account already exists".to_owned()]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn whox_shows_the_account() {
    let dir = data_dir("whox");
    let h = hub(&dir, &[]);
    make_account(h.port(), "tono", "tono-password");
    let mut tono = sasl_client(h.port(), "tono", "tono-password");
    tono.ask("JOIN #w");
    let mut anon = Irc::register(h.port(), "anon");
    anon.ask("JOIN #w");
    let lines = anon.ask("WHO #w %tcnfar,42");
    assert_eq!(
        lines,
        vec![
            num("354", "anon", "42 #w tono H@ tono :Real tono"),
            num("354", "anon", "42 #w anon H 0 :Real anon"),
            num("315", "anon", "#w :End of WHO list"),
        ]
    );
    // Plain WHO is unchanged.
    let lines = anon.ask("WHO tono");
    assert!(lines[0].contains(" 352 anon "), "{lines:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
