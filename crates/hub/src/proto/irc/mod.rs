//! The IRC protocol adapter: registration and capability negotiation at the edge, IRC commands
//! mapped onto hub [`Command`]s, and hub [`Event`]s rendered as IRC lines and numerics.
//!
//! Follows RFC 1459/2812 as corrected by the Modern IRC documentation. Rooms are channels with
//! the `#` type (`lobby` is `#lobby`); nicks and channel names fold with ASCII case mapping. What
//! the hub cannot answer truthfully it does not advertise (ISUPPORT lists only what works).

use std::time::{SystemTime, UNIX_EPOCH};

use obrol_wire::irc::{Message, ParseError};
use tokio::sync::oneshot;

pub use crate::api::caps;
use commands::command_spec;
pub use labeled::labeled;
use render::{isupport, motd_lines};
pub use render::{render, rfc3339};

mod accounts;
mod commands;
mod history;
mod labeled;
mod render;
mod replay;

use crate::api::{Newcomer, Request};
use crate::domain::{REALNAMELEN, USERLEN};
use crate::event::Command;
use crate::proto::{Flow, Link, Protocol};

/// Most bytes of tag data a client may send (IRCv3 message-tags).
pub const MAX_CLIENT_TAGS: usize = 4094;
/// Most targets in one PRIVMSG/NOTICE.
pub const MAX_TARGETS: usize = 4;
/// Longest IRC input line: 512 bytes of message plus 8191 of tags (see `obrol_wire::irc`).
pub const MAX_INPUT: usize = obrol_wire::irc::MAX_LINE + obrol_wire::irc::MAX_TAGS;

const VERSION: &str = concat!("obrol-", env!("CARGO_PKG_VERSION"));

impl Link<'_> {
    /// ERR_NOSUCHCHANNEL for a name that is not a channel here.
    fn no_such_channel(&self, me: &str, chan: &str) {
        self.reply(numeric(
            self.server,
            "403",
            me,
            &format!("{chan} :No such channel"),
        ));
    }

    /// Queues numerics `(code, rest)` addressed to `me`, in order.
    fn numerics(&self, me: &str, lines: &[(&str, &str)]) {
        for (code, rest) in lines {
            self.reply(numeric(self.server, code, me, rest));
        }
    }
}

/// The per-connection IRC state the router does not need.
#[derive(Debug, Default)]
pub struct Session {
    pub registered: bool,
    nick: Option<String>,
    user: Option<(String, String)>,
    /// A `CAP LS`/`REQ` before registration holds it until `CAP END`.
    negotiating: bool,
    caps: u32,
    cap_302: bool,
    /// The connection is over TLS (the `sts` policy it is shown differs).
    secure: bool,
    /// SASL: the exchange in progress and the account it logged in to (boxed: rare, and
    /// every client has a session).
    auth: Option<Box<Auth>>,
}

/// An IRC client's SASL state.
#[derive(Debug, Default)]
struct Auth {
    exchange: Option<super::auth::Sasl>,
    account: Option<String>,
}

/// The tags of `msg` that go along to recipients who can take them: client-only tags (`+key`);
/// any other tag a client sends is dropped (IRCv3 message-tags: servers relay only those).
fn client_only_tags(msg: &Message) -> Vec<obrol_wire::irc::Tag> {
    msg.tags
        .iter()
        .filter(|t| t.key.starts_with('+'))
        .cloned()
        .collect()
}

/// Why the nick a NICK command asks for cannot be had (431, 432), before anyone is asked
/// whether it is taken.
fn nick_refusal(params: &[String]) -> Option<(&'static str, String)> {
    match params.first().map(String::as_str) {
        None | Some("") => Some(("431", ":No nickname given".to_owned())),
        Some(nick) if !crate::domain::names::valid_nick(nick) => {
            Some(("432", format!("{nick} :Erroneous nickname")))
        }
        Some(nick) if crate::domain::names::reserved_nick(nick) => {
            Some(("432", format!("{nick} :Nickname is reserved")))
        }
        Some(_) => None,
    }
}

fn numeric(server: &str, code: &str, nick: &str, rest: &str) -> String {
    format!(":{server} {code} {nick} {rest}\r\n")
}

impl Session {
    pub fn new(secure: bool) -> Self {
        Session {
            secure,
            ..Session::default()
        }
    }

    /// The nick this client registered (or last asked for).
    pub fn nick(&self) -> Option<&str> {
        self.nick.as_deref()
    }

    fn me(&self) -> &str {
        self.nick.as_deref().unwrap_or("*")
    }

    /// Handles one input line.
    pub async fn on_line(&mut self, line: &str, link: &Link<'_>) -> Flow {
        link.set_admitted(self.registered);
        let label = self.label_of(line);
        if let Some(label) = &label {
            let start = Request::LabelStart {
                id: link.id,
                label: label.clone(),
            };
            if link.hub.send(start).await.is_err() {
                return Flow::Close("hub gone".into());
            }
        }
        let flow = self.interpret(line, link).await;
        let mut alive = link.flush().await;
        if label.is_some() {
            alive &= link
                .hub
                .send(Request::LabelEnd { id: link.id })
                .await
                .is_ok();
        }
        if alive {
            flow
        } else {
            Flow::Close("hub gone".into())
        }
    }

    /// The `label` tag of a line from a registered client that negotiated labeled-response.
    fn label_of(&self, line: &str) -> Option<String> {
        if !self.registered || self.caps & caps::LABELED_RESPONSE == 0 || !line.starts_with('@') {
            return None;
        }
        // From the tag section alone: a line whose command does not parse is still answered
        // (421), and that answer carries the label too.
        let section = line.split(' ').next()?;
        let msg = Message::parse(&format!("{section} PING")).ok()?;
        let label = msg.tag("label")?.value.clone()?;
        // A label is an opaque token of at most 64 bytes (IRCv3).
        // Labels are echoed back verbatim, so refuse any that would need tag escaping.
        let plain = label.bytes().all(|b| b > b' ' && !b";\\=".contains(&b));
        (plain && !label.is_empty() && label.len() <= 64).then_some(label)
    }

    async fn interpret(&mut self, line: &str, link: &Link<'_>) -> Flow {
        if self.registered {
            // The router may have refused or applied a nick change since the last line.
            let confirmed = link.outbox.nick();
            if !confirmed.is_empty() {
                self.nick = Some(confirmed);
            }
        }
        // Clients may send at most 4094 bytes of tag data (IRCv3 message-tags); the rest of the
        // tag allowance is the server's.
        let client_tags = line
            .strip_prefix('@')
            .map_or(0, |t| t.find(' ').unwrap_or(t.len()));
        let parsed = if client_tags > MAX_CLIENT_TAGS {
            Err(ParseError::TagsTooLong { len: client_tags })
        } else {
            Message::parse(line)
        };
        let msg = match parsed {
            Ok(m) => m,
            Err(ParseError::Empty) => return Flow::Continue,
            Err(e) if e.is_too_long() => {
                link.reply(numeric(
                    link.server,
                    "417",
                    self.me(),
                    ":Input line was too long",
                ));
                return Flow::Continue;
            }
            Err(ParseError::InvalidCommand(cmd)) => {
                link.reply(numeric(
                    link.server,
                    "421",
                    self.me(),
                    &format!("{cmd} :Unknown command"),
                ));
                return Flow::Continue;
            }
            Err(_) => return Flow::Continue,
        };
        let cmd = msg.command.to_ascii_uppercase();
        let p = &msg.params;
        // What every command needs is decided here, once, from the table: registration
        // (451), parameters (461); unknown commands are 421 (451 before registration).
        let Some(spec) = command_spec(&cmd) else {
            let (code, text) = if self.registered {
                ("421", format!("{} :Unknown command", msg.command))
            } else {
                ("451", ":You have not registered".to_owned())
            };
            link.reply(numeric(link.server, code, self.me(), &text));
            return Flow::Continue;
        };
        if !self.registered && !spec.before_registration {
            link.reply(numeric(
                link.server,
                "451",
                self.me(),
                ":You have not registered",
            ));
            return Flow::Continue;
        }
        if self.registered && spec.registration_only {
            link.reply(numeric(
                link.server,
                "462",
                self.me(),
                ":You may not reregister",
            ));
            return Flow::Continue;
        }
        let missing = p.len() < spec.min_params || (spec.min_params > 0 && p[0].is_empty());
        if missing {
            link.reply(numeric(
                link.server,
                "461",
                self.me(),
                &format!("{cmd} :Not enough parameters"),
            ));
            return Flow::Continue;
        }
        // Commands valid in every state.
        match cmd.as_str() {
            "CAP" => return self.cap(&msg, link).await,
            "PING" => {
                link.reply(format!(":{0} PONG {0} :{1}\r\n", link.server, p[0]));
                return Flow::Continue;
            }
            "PONG" => return Flow::Continue,
            "QUIT" => {
                let reason = p.first().cloned().unwrap_or_else(|| "Client quit".into());
                if self.registered {
                    // The router answers with ERROR after everything already queued for us.
                    let quit = Command::Quit(Some(format!("Quit: {reason}")));
                    return if link.command(quit).await {
                        Flow::Continue
                    } else {
                        Flow::Close("hub gone".into())
                    };
                }
                link.reply(format!("ERROR :Closing link: {reason}\r\n"));
                return Flow::Close(reason);
            }
            // No server password is configured: any is accepted.
            "PASS" => return Flow::Continue,
            "AUTHENTICATE" => return self.authenticate(&msg, link).await,
            "REGISTER" => return self.register_account(&msg, link).await,
            "NICK" if !self.registered => {
                match nick_refusal(p) {
                    Some((code, text)) => link.reply(numeric(link.server, code, self.me(), &text)),
                    None => self.nick = Some(p[0].clone()),
                }
                return self.try_register(link).await;
            }
            "USER" if !self.registered => {
                // An empty real name is as missing as no real name (Modern IRC, USER).
                if p.len() >= 4 && p[3].is_empty() {
                    link.reply(numeric(
                        link.server,
                        "461",
                        self.me(),
                        "USER :Not enough parameters",
                    ));
                } else {
                    let user: String = p[0]
                        .chars()
                        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
                        .take(USERLEN)
                        .collect();
                    let user = if user.is_empty() { "user".into() } else { user };
                    let mut realname = crate::domain::text::clean(&p[3]).into_owned();
                    crate::domain::text::truncate(&mut realname, REALNAMELEN);
                    self.user = Some((user, realname));
                }
                return self.try_register(link).await;
            }
            _ => {}
        }
        match cmd.as_str() {
            "CHATHISTORY" => return self.chathistory(&msg, link).await,
            "SEARCH" => return self.search(&msg, link).await,
            _ => {}
        }
        let me = self.me().to_owned();
        let srv = link.server;
        let hub_cmd = match cmd.as_str() {
            "NICK" => {
                if let Some((code, text)) = nick_refusal(p) {
                    link.reply(numeric(srv, code, &me, &text));
                    return Flow::Continue;
                }
                // The router confirms (NICK line) or refuses (433); `interpret` picks up the
                // confirmed nick before the next line.
                Command::Nick(p[0].clone())
            }
            "JOIN" => {
                if p[0] == "0" {
                    Command::PartAll
                } else {
                    let mut keys = p.get(1).map(|k| k.split(',')).into_iter().flatten();
                    for chan in p[0].split(',') {
                        let key = keys.next().filter(|k| !k.is_empty()).map(str::to_owned);
                        match chan.strip_prefix('#') {
                            Some(room) if obrol_wire::plain::valid_room(room) => {
                                let room = room.to_owned();
                                link.command(Command::Join { room, key }).await;
                            }
                            _ => link.no_such_channel(&me, chan),
                        }
                    }
                    return Flow::Continue;
                }
            }
            "PART" => {
                for chan in p[0].split(',') {
                    match chan.strip_prefix('#') {
                        Some(room) => {
                            link.command(Command::Part {
                                room: Some(room.to_owned()),
                                reason: p.get(1).cloned(),
                            })
                            .await;
                        }
                        None => link.no_such_channel(&me, chan),
                    }
                }
                return Flow::Continue;
            }
            "PRIVMSG" | "NOTICE" => {
                let notice = cmd == "NOTICE";
                if p.is_empty() || p[0].is_empty() {
                    if !notice {
                        link.reply(numeric(
                            srv,
                            "411",
                            &me,
                            &format!(":No recipient given ({cmd})"),
                        ));
                    }
                    return Flow::Continue;
                }
                if p.len() < 2 || p[1].is_empty() {
                    if !notice {
                        link.reply(numeric(srv, "412", &me, ":No text to send"));
                    }
                    return Flow::Continue;
                }
                let (text, action) = match p[1]
                    .strip_prefix("\u{1}ACTION ")
                    .map(|t| t.strip_suffix('\u{1}').unwrap_or(t))
                {
                    Some(t) => (t.to_owned(), true),
                    None => (p[1].clone(), false),
                };
                // A target named twice (in any case) gets the message once.
                let mut targets: Vec<&str> = Vec::new();
                for t in p[0].split(',').filter(|t| !t.is_empty()) {
                    if !targets.iter().any(|seen| seen.eq_ignore_ascii_case(t)) {
                        targets.push(t);
                    }
                }
                if targets.len() > MAX_TARGETS {
                    link.reply(numeric(
                        srv,
                        "407",
                        &me,
                        &format!("{} :Too many targets", p[0]),
                    ));
                    return Flow::Continue;
                }
                let tags = client_only_tags(&msg);
                for target in targets {
                    link.command(Command::SayTo {
                        target: target.to_owned(),
                        text: text.clone(),
                        action,
                        notice,
                        tags: tags.clone(),
                    })
                    .await;
                }
                return Flow::Continue;
            }
            "NAMES" => match p.first() {
                Some(chans) => {
                    for chan in chans.split(',') {
                        match chan.strip_prefix('#') {
                            Some(room) => {
                                link.command(Command::Who(Some(room.to_owned()))).await;
                            }
                            None => link.reply(numeric(
                                srv,
                                "366",
                                &me,
                                &format!("{chan} :End of /NAMES list"),
                            )),
                        }
                    }
                    return Flow::Continue;
                }
                None => {
                    link.reply(numeric(srv, "366", &me, "* :End of /NAMES list"));
                    return Flow::Continue;
                }
            },
            "TOPIC" => {
                let Some(room) = p[0].strip_prefix('#') else {
                    link.no_such_channel(&me, &p[0]);
                    return Flow::Continue;
                };
                Command::Topic {
                    room: room.to_owned(),
                    topic: p.get(1).cloned(),
                }
            }
            "LIST" => Command::Rooms,
            "WHO" => Command::WhoQuery(
                p[0].clone(),
                p.get(1).filter(|f| f.starts_with('%')).cloned(),
            ),
            "WHOIS" => {
                if p.is_empty() {
                    link.reply(numeric(srv, "431", &me, ":No nickname given"));
                    return Flow::Continue;
                }
                // `WHOIS server nick` names the nick last.
                Command::Whois(p[p.len() - 1].clone())
            }
            "WHOWAS" => Command::Whowas {
                nick: p[0].clone(),
                count: p.get(1).and_then(|c| c.parse().ok()),
            },
            "ISON" => Command::Ison(
                p.iter()
                    .flat_map(|s| s.split(' '))
                    .map(str::to_owned)
                    .collect(),
            ),
            "USERHOST" => Command::Userhost(p.clone()),
            "AWAY" => Command::Away(p.first().cloned()),
            "MODE" => {
                let modes = p.get(1).map(String::as_str).unwrap_or("");
                if let Some(room) = p[0].strip_prefix('#') {
                    let mut args = p.iter().skip(2).cloned();
                    let mut changes = Vec::new();
                    let mut adding = true;
                    for c in modes.chars() {
                        match c {
                            '+' => adding = true,
                            '-' => adding = false,
                            // Modes with a parameter (CHANMODES=b,k,l,... and PREFIX=(ov)):
                            // `l` takes one only when set.
                            'o' | 'v' | 'b' | 'k' => changes.push((adding, c, args.next())),
                            'l' if adding => changes.push((adding, c, args.next())),
                            other => changes.push((adding, other, None)),
                        }
                    }
                    if changes.is_empty() && !modes.is_empty() {
                        return Flow::Continue;
                    }
                    Command::RoomMode {
                        room: room.to_owned(),
                        changes,
                    }
                } else {
                    let mut adding = true;
                    let mut changes = Vec::new();
                    for c in modes.chars() {
                        match c {
                            '+' => adding = true,
                            '-' => adding = false,
                            other => changes.push((adding, other)),
                        }
                    }
                    Command::UserMode {
                        nick: p[0].clone(),
                        changes,
                    }
                }
            }
            "KICK" => {
                // `KICK #a,#b x,y` pairs channels with nicks; one channel with several nicks
                // kicks each of them from it (Modern IRC, KICK).
                let chans: Vec<&str> = p[0].split(',').collect();
                let nicks: Vec<&str> = p[1].split(',').collect();
                let pairs: Vec<(&str, &str)> = if chans.len() == 1 {
                    nicks.iter().map(|n| (chans[0], *n)).collect()
                } else {
                    chans.iter().copied().zip(nicks.iter().copied()).collect()
                };
                for (chan, nick) in pairs {
                    let Some(room) = chan.strip_prefix('#') else {
                        link.no_such_channel(&me, chan);
                        continue;
                    };
                    link.command(Command::Kick {
                        room: room.to_owned(),
                        nick: nick.to_owned(),
                        reason: p.get(2).cloned(),
                    })
                    .await;
                }
                return Flow::Continue;
            }
            "INVITE" => Command::Invite {
                nick: p[0].clone(),
                room: p[1].trim_start_matches('#').to_owned(),
            },
            "LUSERS" => Command::Lusers,
            "OPER" => Command::Oper {
                name: p[0].clone(),
                verdict: super::auth::oper(&p[0], &p[1], link).await,
            },
            "KILL" => Command::Kill {
                nick: p[0].clone(),
                reason: p[1].clone(),
            },
            "WALLOPS" => Command::Wallops(p[0].clone()),
            "SETNAME" => {
                if self.caps & caps::SETNAME == 0 {
                    link.reply(numeric(srv, "421", &me, "SETNAME :Unknown command"));
                    return Flow::Continue;
                }
                Command::SetName(p[0].clone())
            }
            "TAGMSG" => {
                let tags = client_only_tags(&msg);
                if tags.is_empty() || self.caps & caps::MESSAGE_TAGS == 0 {
                    return Flow::Continue; // nothing a recipient could use
                }
                Command::TagMsg {
                    target: p[0].clone(),
                    tags,
                }
            }
            "MOTD" => {
                for line in motd_lines(srv, &me, link.motd) {
                    link.reply(line);
                }
                return Flow::Continue;
            }
            "VERSION" => {
                link.reply(numeric(
                    srv,
                    "351",
                    &me,
                    &format!("{VERSION} {srv} :obrol chat hub"),
                ));
                for line in isupport(srv, &me, link.history.is_some()) {
                    link.reply(line);
                }
                return Flow::Continue;
            }
            "TIME" => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                link.reply(numeric(
                    srv,
                    "391",
                    &me,
                    &format!("{srv} :{}", rfc3339(now)),
                ));
                return Flow::Continue;
            }
            "ADMIN" => {
                link.numerics(
                    &me,
                    &[
                        ("256", &format!("{srv} :Administrative info")),
                        ("257", ":This obrol hub is run by its operator"),
                        ("258", ":Ask on the operator console"),
                        ("259", ":no e-mail configured"),
                    ],
                );
                return Flow::Continue;
            }
            "INFO" => {
                let info = format!(":{VERSION}: group chat hub");
                link.numerics(&me, &[("371", &info), ("374", ":End of INFO list")]);
                return Flow::Continue;
            }
            "LINKS" => {
                let links = format!("{srv} {srv} :0 {}", link.info);
                link.numerics(&me, &[("364", &links), ("365", "* :End of /LINKS list")]);
                return Flow::Continue;
            }
            "STATS" => {
                let q = p.first().and_then(|q| q.chars().next()).unwrap_or('*');
                link.reply(numeric(
                    srv,
                    "219",
                    &me,
                    &format!("{q} :End of /STATS report"),
                ));
                return Flow::Continue;
            }
            "USERS" => {
                link.reply(numeric(srv, "446", &me, ":USERS has been disabled"));
                return Flow::Continue;
            }
            "SERVLIST" => {
                link.reply(numeric(srv, "235", &me, "* * :End of service listing"));
                return Flow::Continue;
            }
            "SQUERY" => {
                link.reply(numeric(
                    srv,
                    "408",
                    &me,
                    &format!("{} :No such service", p[0]),
                ));
                return Flow::Continue;
            }
            // Every name in the table has its arm above.
            _ => return Flow::Continue,
        };
        if link.command(hub_cmd).await {
            Flow::Continue
        } else {
            Flow::Close("hub gone".into())
        }
    }

    async fn cap(&mut self, msg: &Message, link: &Link<'_>) -> Flow {
        let me = self.me().to_owned();
        let srv = link.server;
        let sub = msg.params.first().map(|s| s.to_ascii_uppercase());
        match sub.as_deref() {
            Some("LS") => {
                if !self.registered {
                    self.negotiating = true;
                }
                if msg
                    .params
                    .get(1)
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(0)
                    >= 302
                {
                    self.cap_302 = true;
                    self.caps |= caps::CAP_NOTIFY; // implied by 302
                }
                // IRCv3 sts, with its value, which only `CAP LS 302` carries: over plaintext
                // it names the TLS port to move to, over TLS how long to stay on TLS.
                // SASL, when the hub has accounts (PLAIN, over TLS or loopback preferably).
                let sasl = match link.accounts {
                    Some(_) if self.cap_302 => {
                        " draft/account-registration=before-connect,custom-account-name \
                         sasl=PLAIN,SCRAM-SHA-256"
                    }
                    Some(_) => " draft/account-registration sasl",
                    None => "",
                };
                let sts = match link.sts {
                    Some((_, duration)) if self.cap_302 && self.secure => {
                        format!(" sts=duration={duration}")
                    }
                    Some((port, _)) if self.cap_302 => format!(" sts=port={port}"),
                    _ => String::new(),
                };
                let history = match link.history {
                    Some(_) => caps::HISTORY.map(|(name, _)| name).join(" "),
                    None => String::new(),
                };
                let history = if history.is_empty() {
                    history
                } else {
                    format!(" {history}")
                };
                link.reply(format!(
                    ":{srv} CAP {me} LS :{}{history}{sasl}{sts}\r\n",
                    caps::names(!caps::OPTIONAL)
                ));
            }
            Some("LIST") => {
                link.reply(format!(
                    ":{srv} CAP {me} LIST :{}\r\n",
                    caps::names(self.caps)
                ));
            }
            Some("REQ") => {
                if !self.registered {
                    self.negotiating = true;
                }
                let wanted = msg.params.get(1).cloned().unwrap_or_default();
                let mut set = self.caps;
                let mut ok = true;
                for item in wanted.split_whitespace() {
                    let (remove, name) = match item.strip_prefix('-') {
                        Some(n) => (true, n),
                        None => (false, item),
                    };
                    let known = match name {
                        "sasl" if link.accounts.is_some() => Some(caps::SASL),
                        _ if link.history.is_some() => caps::by_name(name).or_else(|| {
                            caps::HISTORY
                                .iter()
                                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                                .map(|&(_, bit)| bit)
                        }),
                        _ => caps::by_name(name),
                    };
                    match known {
                        Some(bit) if remove => set &= !bit,
                        Some(bit) => set |= bit,
                        None => ok = false,
                    }
                }
                // All or nothing, as the spec requires.
                if ok {
                    self.caps = set;
                    link.reply(format!(":{srv} CAP {me} ACK :{wanted}\r\n"));
                    if self.registered {
                        link.command(Command::SetCaps(self.caps)).await;
                    }
                } else {
                    link.reply(format!(":{srv} CAP {me} NAK :{wanted}\r\n"));
                }
            }
            Some("END") => {
                self.negotiating = false;
                return self.try_register(link).await;
            }
            Some(other) => link.reply(numeric(
                srv,
                "410",
                &me,
                &format!("{other} :Invalid CAP command"),
            )),
            None => link.reply(numeric(srv, "461", &me, "CAP :Not enough parameters")),
        }
        Flow::Continue
    }

    async fn try_register(&mut self, link: &Link<'_>) -> Flow {
        if self.registered || self.negotiating {
            return Flow::Continue;
        }
        let (Some(nick), Some((user, realname))) = (self.nick.clone(), self.user.clone()) else {
            return Flow::Continue;
        };
        if link.accounts_required
            && self
                .auth
                .as_ref()
                .and_then(|a| a.account.as_ref())
                .is_none()
        {
            link.reply(format!(
                ":{} FAIL * ACCOUNT_REQUIRED :This server requires logging in with SASL\r\n",
                link.server
            ));
            link.reply("ERROR :Closing link: log in with SASL to use this server\r\n");
            return Flow::Close("no account".into());
        }
        let (reply, accepted) = oneshot::channel();
        let newcomer = Newcomer {
            proto: Protocol::Irc,
            addr: link.addr,
            outbox: link.outbox.clone(),
            nick: Some(nick.clone()),
            user: Some(user),
            realname: Some(realname),
            caps: self.caps,
            account: self.auth.as_ref().and_then(|a| a.account.clone()),
            bridged: false,
        };
        let req = Request::Connect {
            id: link.id,
            newcomer,
            reply: Some(reply),
        };
        if link.hub.send(req).await.is_err() {
            return Flow::Close("hub gone".into());
        }
        match accepted.await {
            Ok(true) => {
                self.registered = true;
                link.set_admitted(true);
                Flow::Continue
            }
            Ok(false) => {
                link.reply(numeric(
                    link.server,
                    "433",
                    "*",
                    &format!("{nick} :Nickname is already in use"),
                ));
                self.nick = None;
                Flow::Continue
            }
            Err(_) => Flow::Close("hub gone".into()),
        }
    }
}
