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
    /// SCRAM-SHA-256's state, when that is the mechanism (`None`: PLAIN).
    scram: Option<Box<ScramState>>,
}

/// Where a SCRAM-SHA-256 exchange stands (RFC 5802, 7677).
#[derive(Debug)]
enum ScramState {
    /// Waiting for the client-first message.
    First,
    /// Sent the server-first message; waiting for the client's proof.
    Final {
        /// The account, if the name is one (an unknown name gets made-up credentials, so the
        /// exchange fails at the end, as for a wrong password).
        account: Option<String>,
        creds: obrol_store::Scram,
        gs2_header: String,
        client_first_bare: String,
        server_first: String,
        nonce: String,
    },
    /// The proof was right and the server's signature sent; the client's `+` ends it.
    Verified { account: String },
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

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
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
        } else if param.eq_ignore_ascii_case("SCRAM-SHA-256") {
            *state = Some(Sasl {
                payload: String::new(),
                scram: Some(Box::new(ScramState::First)),
            });
            link.reply("AUTHENTICATE +\r\n");
        } else {
            link.reply(format!(
                ":{srv} 908 {me} PLAIN,SCRAM-SHA-256 :are available SASL mechanisms\r\n"
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
    let Ok(raw) = b64().decode(payload.as_bytes()) else {
        *state = None;
        link.reply(fail(": not base64"));
        return SaslStep::Continue;
    };
    if let Some(scram) = sasl.scram.take() {
        let (next, step) = scram_step(*scram, &raw, accounts, link, &fail).await;
        match next {
            Some(next) => sasl.scram = Some(Box::new(next)),
            None => *state = None,
        }
        return step;
    }
    *state = None;
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

/// One step of SCRAM-SHA-256: the next state (`None`: the exchange is over) and what the
/// session does.
async fn scram_step(
    state: ScramState,
    msg: &[u8],
    accounts: &crate::accounts::Accounts,
    link: &Link<'_>,
    fail: &(dyn Fn(&str) -> String + Sync),
) -> (Option<ScramState>, SaslStep) {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    let hmac = |key: &[u8], msg: &[u8]| -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
        mac.update(msg);
        mac.finalize().into_bytes().into()
    };
    let ip = link.addr.ip();
    let Ok(msg) = std::str::from_utf8(msg) else {
        link.reply(fail(""));
        return (None, SaslStep::Continue);
    };
    match state {
        ScramState::First => {
            if accounts.locked(ip) {
                link.reply(fail(": too many failed logins from your address"));
                return (None, SaslStep::Continue);
            }
            // gs2-header: "n,," or "y,," (no channel binding), optionally with an authzid.
            let mut parts = msg.splitn(3, ',');
            let (Some(cb), Some(authzid), Some(bare)) = (parts.next(), parts.next(), parts.next())
            else {
                link.reply(fail(": not a SCRAM client-first message"));
                return (None, SaslStep::Continue);
            };
            if cb != "n" && cb != "y" {
                link.reply(fail(": channel binding is not supported"));
                return (None, SaslStep::Continue);
            }
            let field = |key: &str| {
                bare.split(',')
                    .find_map(|f| f.strip_prefix(key))
                    .map(|v| v.replace("=2C", ",").replace("=3D", "="))
            };
            let (Some(user), Some(cnonce)) = (field("n="), field("r=")) else {
                link.reply(fail(": not a SCRAM client-first message"));
                return (None, SaslStep::Continue);
            };
            let authzid = authzid.strip_prefix("a=").unwrap_or("");
            if !authzid.is_empty() && !authzid.eq_ignore_ascii_case(&user) {
                link.reply(fail(": no logging in as another account"));
                return (None, SaslStep::Continue);
            }
            let (account, creds) = match accounts.scram(&user).await {
                Ok(Some((account, creds))) => (Some(account), creds),
                _ => (None, obrol_store::Scram::new(&nonce_chars(24))),
            };
            let nonce = format!("{cnonce}{}", nonce_chars(24));
            let server_first = format!(
                "r={nonce},s={},i={}",
                b64().encode(&creds.salt),
                creds.iterations
            );
            link.reply(format!("AUTHENTICATE {}\r\n", b64().encode(&server_first)));
            let next = ScramState::Final {
                account,
                creds,
                gs2_header: format!("{cb},{authzid_part},", authzid_part = parts_authzid(msg)),
                client_first_bare: bare.to_owned(),
                server_first,
                nonce,
            };
            (Some(next), SaslStep::Continue)
        }
        ScramState::Final {
            account,
            creds,
            gs2_header,
            client_first_bare,
            server_first,
            nonce,
        } => {
            let Some((without_proof, proof)) = msg.rsplit_once(",p=") else {
                link.reply(fail(": not a SCRAM client-final message"));
                return (None, SaslStep::Continue);
            };
            let channel = without_proof.split(',').find_map(|f| f.strip_prefix("c="));
            let r = without_proof.split(',').find_map(|f| f.strip_prefix("r="));
            let binding_ok = channel == Some(&b64().encode(&gs2_header)[..]);
            let proof = b64().decode(proof).ok().filter(|p| p.len() == 32);
            let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
            let signature = hmac(&creds.stored_key, auth_message.as_bytes());
            let verified = match (&account, proof) {
                (Some(_), Some(proof)) if binding_ok && r == Some(nonce.as_str()) => {
                    let client_key: Vec<u8> =
                        proof.iter().zip(signature).map(|(p, s)| p ^ s).collect();
                    let stored: [u8; 32] = Sha256::digest(&client_key).into();
                    crate::limits::same_secret(&stored, &creds.stored_key)
                }
                _ => false,
            };
            match (verified, account) {
                (true, Some(account)) => {
                    accounts.succeeded(ip);
                    let server_sig = hmac(&creds.server_key, auth_message.as_bytes());
                    let last = format!("v={}", b64().encode(server_sig));
                    link.reply(format!("AUTHENTICATE {}\r\n", b64().encode(last)));
                    (Some(ScramState::Verified { account }), SaslStep::Continue)
                }
                (_, account) => {
                    accounts.failed(ip, account.as_deref().unwrap_or("?"));
                    link.reply(fail(""));
                    (None, SaslStep::Continue)
                }
            }
        }
        ScramState::Verified { account } => (None, SaslStep::LoggedIn(account)),
    }
}

/// The authzid part of a gs2 header as the client wrote it (between the first two commas).
fn parts_authzid(msg: &str) -> &str {
    msg.split(',').nth(1).unwrap_or("")
}

/// `n` printable nonce characters (no comma), from the system's random source.
fn nonce_chars(n: usize) -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bytes = vec![0u8; n];
    OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
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
