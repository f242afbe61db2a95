//! Accounts at the edge: plain `/register` and `/login`, IRC SASL PLAIN. Passwords are checked
//! here, in the connection's own task (hashing runs on the blocking pool), and only the result
//! reaches the router (`Command::LoggedIn`), so chat never waits for a password hash.

use base64::Engine;

use super::link::{Flow, Link};
use crate::accounts::{Login, MIN_PASSWORD};
use crate::event::Command;
use obrol_store::Register;

/// Handles `/register PASSWORD` and `/login [ACCOUNT] PASSWORD` from a plain client; `None` if
/// `text` is neither.
pub async fn plain_command(text: &str, link: &Link<'_>) -> Option<Flow> {
    let (verb, rest) = text.split_once(' ').unwrap_or((text, ""));
    let verb = verb.to_ascii_lowercase();
    if verb != "/register" && verb != "/login" {
        return None;
    }
    let gone = || Flow::Close("hub gone".into());
    let Some(accounts) = link.accounts else {
        link.reply("! accounts are not enabled on this server\n");
        return Some(if link.flush().await {
            Flow::Continue
        } else {
            gone()
        });
    };
    let words: Vec<&str> = rest.split_whitespace().collect();
    let nick = link.outbox.nick();
    let outcome = if verb == "/register" {
        let [password] = words[..] else {
            link.reply("! usage: /register PASSWORD (registers your current nick)\n");
            return Some(if link.flush().await {
                Flow::Continue
            } else {
                gone()
            });
        };
        if password.len() < MIN_PASSWORD {
            link.reply(format!(
                "! a password needs at least {MIN_PASSWORD} characters\n"
            ));
            return Some(if link.flush().await {
                Flow::Continue
            } else {
                gone()
            });
        }
        match accounts.register(&nick, password).await {
            Ok(Register::Created) => {
                link.reply(format!("* registered the account {nick}\n"));
                Some(nick.clone())
            }
            Ok(Register::Taken) => {
                link.reply(format!(
                    "! the account {nick} exists already; /login PASSWORD if it is yours\n"
                ));
                None
            }
            Err(e) => {
                tracing::warn!("registering {nick}: {e}");
                link.reply("! the account could not be saved; try again later\n");
                None
            }
        }
    } else {
        let (name, password) = match words[..] {
            [password] => (nick.as_str(), password),
            [name, password] => (name, password),
            _ => {
                link.reply("! usage: /login [ACCOUNT] PASSWORD\n");
                return Some(if link.flush().await {
                    Flow::Continue
                } else {
                    gone()
                });
            }
        };
        match accounts.login(link.addr.ip(), name, password).await {
            Ok(Login::Ok(account)) => Some(account),
            Ok(Login::Failed) => {
                link.reply("! wrong account or password\n");
                None
            }
            Ok(Login::LockedOut) => {
                link.reply("! too many failed logins from your address; try again later\n");
                None
            }
            Err(e) => {
                tracing::warn!("login to {name}: {e}");
                link.reply("! logins are not working right now; try again later\n");
                None
            }
        }
    };
    let sent = match outcome {
        Some(account) => link.command(Command::LoggedIn(account)).await,
        None => link.flush().await,
    };
    Some(if sent { Flow::Continue } else { gone() })
}

/// An IRC client's SASL exchange in progress.
#[derive(Debug, Default)]
pub struct Sasl {
    /// The base64 payload received so far (it comes in 400-byte pieces).
    payload: String,
}

/// Longest SASL payload accepted (base64 characters).
const MAX_PAYLOAD: usize = 4096;

/// What the IRC session does with one `AUTHENTICATE` parameter.
pub enum SaslStep {
    /// Answered; the exchange goes on or is over (replies queued on the link).
    Continue,
    /// Logged in to this account (900 and 903 still to be sent by the caller).
    LoggedIn(String),
}

/// Feeds one `AUTHENTICATE` parameter to the exchange `state` (`None`: none started).
/// `me` is the client's nick (or `*`); replies are queued on `link`.
pub async fn authenticate(
    state: &mut Option<Sasl>,
    param: &str,
    me: &str,
    link: &Link<'_>,
) -> SaslStep {
    let srv = link.server;
    let fail = |why: &str| format!(":{srv} 904 {me} :SASL authentication failed{why}\r\n");
    let Some(accounts) = link.accounts else {
        link.reply(fail(": this server has no accounts"));
        return SaslStep::Continue;
    };
    if param == "*" {
        *state = None;
        link.reply(format!(":{srv} 906 {me} :SASL authentication aborted\r\n"));
        return SaslStep::Continue;
    }
    let Some(sasl) = state.as_mut() else {
        if param.eq_ignore_ascii_case("PLAIN") {
            *state = Some(Sasl::default());
            link.reply("AUTHENTICATE +\r\n");
        } else {
            link.reply(format!(
                ":{srv} 908 {me} PLAIN :are available SASL mechanisms\r\n"
            ));
            link.reply(fail(""));
        }
        return SaslStep::Continue;
    };
    if param != "+" {
        sasl.payload.push_str(param);
    }
    if sasl.payload.len() > MAX_PAYLOAD {
        *state = None;
        link.reply(fail(": too long"));
        return SaslStep::Continue;
    }
    if param.len() == 400 {
        return SaslStep::Continue; // more to come
    }
    let payload = std::mem::take(&mut sasl.payload);
    *state = None;
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(payload.as_bytes()) else {
        link.reply(fail(": not base64"));
        return SaslStep::Continue;
    };
    let mut parts = raw.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        link.reply(fail(": PLAIN wants authzid\\0authcid\\0password"));
        return SaslStep::Continue;
    };
    let (Ok(authzid), Ok(authcid), Ok(password)) = (
        std::str::from_utf8(authzid),
        std::str::from_utf8(authcid),
        std::str::from_utf8(password),
    ) else {
        link.reply(fail(""));
        return SaslStep::Continue;
    };
    if !authzid.is_empty() && !authzid.eq_ignore_ascii_case(authcid) {
        link.reply(fail(": no logging in as another account"));
        return SaslStep::Continue;
    }
    match accounts.login(link.addr.ip(), authcid, password).await {
        Ok(Login::Ok(account)) => SaslStep::LoggedIn(account),
        Ok(Login::Failed) => {
            link.reply(fail(""));
            SaslStep::Continue
        }
        Ok(Login::LockedOut) => {
            link.reply(fail(": too many failed logins from your address"));
            SaslStep::Continue
        }
        Err(e) => {
            tracing::warn!("SASL login to {authcid}: {e}");
            link.reply(fail(""));
            SaslStep::Continue
        }
    }
}

/// Checks `OPER name password` against the configured operators, off the async threads, unless
/// the client's address is locked out (then nothing is hashed). A failure counts toward the
/// lockout; the router refuses, logs and disconnects.
pub async fn oper(name: &str, password: &str, link: &Link<'_>) -> crate::event::OperVerdict {
    use crate::event::OperVerdict;
    use crate::limits::same_secret;
    use crate::OperSecret;
    let ip = link.addr.ip();
    let now = crate::outbox::clock_ms();
    let lock = |l: &crate::limits::Limits| {
        l.oper_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .locked(ip, now)
    };
    if link.limits.is_some_and(lock) {
        return OperVerdict::Locked;
    }
    let mut hashes = Vec::new();
    let mut account = None;
    for (n, secret) in link.opers {
        if !same_secret(n.as_bytes(), name.as_bytes()) {
            continue;
        }
        match secret {
            OperSecret::Hash(h) => hashes.push(h.clone()),
            OperSecret::Account(a) => account = Some(a.clone()),
        }
    }
    let granted = if hashes.is_empty() {
        false
    } else {
        let _turn = match link.limits {
            Some(l) => l.hashing.acquire().await.ok(),
            None => None,
        };
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || {
            use argon2::password_hash::{PasswordHash, PasswordVerifier};
            hashes.iter().any(|h| {
                PasswordHash::new(h).is_ok_and(|parsed| {
                    argon2::Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
            })
        })
        .await
        .unwrap_or(false)
    };
    if granted {
        if let Some(l) = link.limits {
            l.oper_failures
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clear(ip);
        }
        return OperVerdict::Granted;
    }
    if let Some(account) = account {
        return OperVerdict::IfAccount(account);
    }
    let locked = link.limits.is_some_and(|l| {
        l.oper_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(ip, now)
    });
    OperVerdict::Denied { locked }
}
