//! Accounts in the IRC session: SASL (`AUTHENTICATE`) and IRCv3 account registration
//! (`REGISTER`). Passwords are checked at the edge (`proto::auth`); only the result reaches
//! the router, with the registration or as `Command::LoggedIn`.

use obrol_wire::irc::Message;

use super::{numeric, Session};
use crate::event::Command;
use crate::proto::{Flow, Link};

impl Session {
    /// RPL_LOGGEDIN (900) for a client logging in before it has registered (after, the router
    /// sends it).
    fn logged_in_numeric(&self, account: &str, link: &Link<'_>) -> String {
        let me = self.me();
        let user = self.user.as_ref().map_or("*", |(u, _)| u.as_str());
        numeric(
            link.server,
            "900",
            me,
            &format!(
                "{me}!{user}@{} {account} :You are now logged in as {account}",
                link.addr.ip()
            ),
        )
    }

    /// IRCv3 SASL (PLAIN): the exchange is checked at the edge; before registration the
    /// account goes to the router with the registration, after it as `LoggedIn`.
    pub(super) async fn authenticate(&mut self, msg: &Message, link: &Link<'_>) -> Flow {
        use crate::proto::auth::{authenticate, SaslStep};
        let me = self.me().to_owned();
        let srv = link.server;
        let param = msg.params.first().map(String::as_str).unwrap_or("");
        let mut auth = self.auth.take().unwrap_or_default();
        if auth.account.is_some() && auth.exchange.is_none() && param != "*" {
            self.auth = Some(auth);
            link.reply(numeric(
                srv,
                "907",
                &me,
                ":You have already authenticated using SASL",
            ));
            return Flow::Continue;
        }
        let step = authenticate(&mut auth.exchange, param, &me, link).await;
        let mut flow = Flow::Continue;
        if let SaslStep::LoggedIn(account) = step {
            if self.registered {
                // The router says 900 (and tells those with account-notify).
                let ok = link.command(Command::LoggedIn(account.clone())).await;
                link.reply(numeric(srv, "903", &me, ":SASL authentication successful"));
                if !(ok && link.flush().await) {
                    flow = Flow::Close("hub gone".into());
                }
            } else {
                link.reply(self.logged_in_numeric(&account, link));
                link.reply(numeric(srv, "903", &me, ":SASL authentication successful"));
            }
            auth.account = Some(account);
        }
        self.auth = Some(auth);
        flow
    }

    /// IRCv3 draft/account-registration: `REGISTER <account|*> <email|*> <password>`, before
    /// or after connection registration; the client is then logged in to the new account.
    pub(super) async fn register_account(&mut self, msg: &Message, link: &Link<'_>) -> Flow {
        let srv = link.server;
        let fail = |code: &str, account: &str, text: &str| {
            format!(":{srv} FAIL REGISTER {code} {account} :{text}\r\n")
        };
        let Some(accounts) = link.accounts else {
            link.reply(fail(
                "TEMPORARILY_UNAVAILABLE",
                "*",
                "This server has no accounts",
            ));
            return Flow::Continue;
        };
        if self.auth.as_ref().is_some_and(|a| a.account.is_some()) {
            link.reply(fail(
                "ALREADY_AUTHENTICATED",
                "*",
                "You are already logged in",
            ));
            return Flow::Continue;
        }
        let account = match msg.params[0].as_str() {
            "*" => match self.nick.clone() {
                Some(nick) => nick,
                None => {
                    link.reply(fail(
                        "NEED_NICK",
                        "*",
                        "Send NICK first, or name the account",
                    ));
                    return Flow::Continue;
                }
            },
            name => name.to_owned(),
        };
        if !crate::domain::names::valid_nick(&account)
            || crate::domain::names::reserved_nick(&account)
        {
            link.reply(fail(
                "BAD_ACCOUNT_NAME",
                &account,
                "Not a name an account can have",
            ));
            return Flow::Continue;
        }
        let password = &msg.params[2];
        if password.len() < crate::accounts::MIN_PASSWORD {
            let text = format!(
                "A password needs at least {} characters",
                crate::accounts::MIN_PASSWORD
            );
            link.reply(fail("WEAK_PASSWORD", &account, &text));
            return Flow::Continue;
        }
        match accounts.register(&account, password).await {
            Ok(obrol_store::Register::Created) => {
                link.reply(format!(
                    ":{srv} REGISTER SUCCESS {account} :Account created\r\n"
                ));
                if self.registered {
                    // The router says 900.
                    if !link.command(Command::LoggedIn(account.clone())).await {
                        return Flow::Close("hub gone".into());
                    }
                } else {
                    link.reply(self.logged_in_numeric(&account, link));
                }
                self.auth.get_or_insert_with(Box::default).account = Some(account);
            }
            Ok(obrol_store::Register::Taken) => {
                link.reply(fail("ACCOUNT_EXISTS", &account, "Account already exists"));
            }
            Err(e) => {
                tracing::warn!("registering {account}: {e}");
                link.reply(fail("TEMPORARILY_UNAVAILABLE", &account, "Try again later"));
            }
        }
        Flow::Continue
    }
}
