//! The IRC protocol adapter: registration and capability negotiation at the edge, IRC commands
//! mapped onto hub [`Command`]s, and hub [`Event`]s rendered as IRC lines and numerics.
//!
//! Follows RFC 1459/2812 as corrected by the Modern IRC documentation. Rooms are channels with
//! the `#` type (`lobby` is `#lobby`); nicks and channel names fold with ASCII case mapping. What
//! the hub cannot answer truthfully it does not advertise (ISUPPORT lists only what works).

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use obrol_wire::irc::{Message, ParseError};
use tokio::sync::oneshot;

pub use crate::api::caps;
use crate::api::{Newcomer, Request};
use crate::domain::{
    AWAYLEN, CHANNELLEN, KICKLEN, MODES_PER_LINE, NICKLEN, REALNAMELEN, TOPICLEN, USERLEN,
};
use crate::event::{Command, Event, Identity, Refusal};
use crate::proto::{Flow, Link, Protocol, View};

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
}

fn numeric(server: &str, code: &str, nick: &str, rest: &str) -> String {
    format!(":{server} {code} {nick} {rest}\r\n")
}

impl Session {
    pub fn new() -> Self {
        Session::default()
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
        let need = |n: usize| -> bool {
            if p.len() < n || p.first().is_some_and(|f| f.is_empty()) && n > 0 {
                link.reply(numeric(
                    link.server,
                    "461",
                    self.me(),
                    &format!("{cmd} :Not enough parameters"),
                ));
                false
            } else {
                true
            }
        };
        // Commands valid in every state.
        match cmd.as_str() {
            "CAP" => return self.cap(&msg, link).await,
            "PING" => {
                if need(1) {
                    link.reply(format!(":{0} PONG {0} :{1}\r\n", link.server, p[0]));
                }
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
            "PASS" => {
                if self.registered {
                    link.reply(numeric(
                        link.server,
                        "462",
                        self.me(),
                        ":You may not reregister",
                    ));
                } else {
                    need(1); // no server password is configured: any is accepted
                }
                return Flow::Continue;
            }
            "NICK" if !self.registered => {
                if p.first().is_none_or(|n| n.is_empty()) {
                    link.reply(numeric(link.server, "431", self.me(), ":No nickname given"));
                } else if !obrol_wire::plain::valid_nick(&p[0]) {
                    link.reply(numeric(
                        link.server,
                        "432",
                        self.me(),
                        &format!("{} :Erroneous nickname", p[0]),
                    ));
                } else {
                    self.nick = Some(p[0].clone());
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
                } else if need(4) {
                    let user: String = p[0]
                        .chars()
                        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
                        .take(USERLEN)
                        .collect();
                    let user = if user.is_empty() { "user".into() } else { user };
                    let mut realname = crate::domain::text::clean(&p[3]).into_owned();
                    if realname.len() > REALNAMELEN {
                        let mut cut = REALNAMELEN;
                        while !realname.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        realname.truncate(cut);
                    }
                    self.user = Some((user, realname));
                }
                return self.try_register(link).await;
            }
            "USER" => {
                link.reply(numeric(
                    link.server,
                    "462",
                    self.me(),
                    ":You may not reregister",
                ));
                return Flow::Continue;
            }
            _ if !self.registered => {
                link.reply(numeric(
                    link.server,
                    "451",
                    self.me(),
                    ":You have not registered",
                ));
                return Flow::Continue;
            }
            _ => {}
        }
        let me = self.me().to_owned();
        let srv = link.server;
        let hub_cmd = match cmd.as_str() {
            "NICK" => {
                if p.first().is_none_or(|n| n.is_empty()) {
                    link.reply(numeric(srv, "431", &me, ":No nickname given"));
                    return Flow::Continue;
                }
                if !obrol_wire::plain::valid_nick(&p[0]) {
                    link.reply(numeric(
                        srv,
                        "432",
                        &me,
                        &format!("{} :Erroneous nickname", p[0]),
                    ));
                    return Flow::Continue;
                }
                // The router confirms (NICK line) or refuses (433); `interpret` picks up the
                // confirmed nick before the next line.
                Command::Nick(p[0].clone())
            }
            "JOIN" => {
                if !need(1) {
                    return Flow::Continue;
                }
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
                if !need(1) {
                    return Flow::Continue;
                }
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
                // Client-only tags go along to those who can take them; others are dropped
                // (IRCv3 message-tags: only client-only tags are relayed).
                let tags: Vec<_> = msg
                    .tags
                    .iter()
                    .filter(|t| t.key.starts_with('+'))
                    .cloned()
                    .collect();
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
                if !need(1) {
                    return Flow::Continue;
                }
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
            "WHO" => {
                if !need(1) {
                    return Flow::Continue;
                }
                Command::WhoQuery(p[0].clone())
            }
            "WHOIS" => {
                if p.is_empty() {
                    link.reply(numeric(srv, "431", &me, ":No nickname given"));
                    return Flow::Continue;
                }
                // `WHOIS server nick` names the nick last.
                Command::Whois(p[p.len() - 1].clone())
            }
            "WHOWAS" => {
                if !need(1) {
                    return Flow::Continue;
                }
                Command::Whowas {
                    nick: p[0].clone(),
                    count: p.get(1).and_then(|c| c.parse().ok()),
                }
            }
            "ISON" => {
                if !need(1) {
                    return Flow::Continue;
                }
                Command::Ison(
                    p.iter()
                        .flat_map(|s| s.split(' '))
                        .map(str::to_owned)
                        .collect(),
                )
            }
            "USERHOST" => {
                if !need(1) {
                    return Flow::Continue;
                }
                Command::Userhost(p.clone())
            }
            "AWAY" => Command::Away(p.first().cloned()),
            "MODE" => {
                if !need(1) {
                    return Flow::Continue;
                }
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
                if !need(2) {
                    return Flow::Continue;
                }
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
            "INVITE" => {
                if !need(2) {
                    return Flow::Continue;
                }
                Command::Invite {
                    nick: p[0].clone(),
                    room: p[1].trim_start_matches('#').to_owned(),
                }
            }
            "LUSERS" => Command::Lusers,
            "OPER" => {
                if !need(2) {
                    return Flow::Continue;
                }
                Command::Oper {
                    name: p[0].clone(),
                    password: p[1].clone(),
                }
            }
            "KILL" => {
                if !need(2) {
                    return Flow::Continue;
                }
                Command::Kill {
                    nick: p[0].clone(),
                    reason: p[1].clone(),
                }
            }
            "WALLOPS" => {
                if !need(1) {
                    return Flow::Continue;
                }
                Command::Wallops(p[0].clone())
            }
            "SETNAME" => {
                if !need(1) {
                    return Flow::Continue;
                }
                if self.caps & caps::SETNAME == 0 {
                    link.reply(numeric(srv, "421", &me, "SETNAME :Unknown command"));
                    return Flow::Continue;
                }
                Command::SetName(p[0].clone())
            }
            "TAGMSG" => {
                if !need(1) {
                    return Flow::Continue;
                }
                let tags: Vec<_> = msg
                    .tags
                    .iter()
                    .filter(|t| t.key.starts_with('+'))
                    .cloned()
                    .collect();
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
                for line in isupport(srv, &me) {
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
                if need(2) {
                    link.reply(numeric(
                        srv,
                        "408",
                        &me,
                        &format!("{} :No such service", p[0]),
                    ));
                }
                return Flow::Continue;
            }
            _ => {
                link.reply(numeric(
                    srv,
                    "421",
                    &me,
                    &format!("{} :Unknown command", msg.command),
                ));
                return Flow::Continue;
            }
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
                link.reply(format!(":{srv} CAP {me} LS :{}\r\n", caps::names(u32::MAX)));
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
                    match caps::by_name(name) {
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
        let (reply, accepted) = oneshot::channel();
        let newcomer = Newcomer {
            proto: Protocol::Irc,
            addr: link.addr,
            outbox: link.outbox.clone(),
            nick: Some(nick.clone()),
            user: Some(user),
            realname: Some(realname),
            caps: self.caps,
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

/// Replies gathered for a labeled request: `ACK` for none, the label on the line for one, a
/// `labeled-response` batch for several (IRCv3 labeled-response).
pub fn labeled(label: &str, replies: &[Bytes], caps: u32, server: &str, id: u64) -> Bytes {
    let text: String = replies
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    let tagged = |tags: &str, line: &str| match line.strip_prefix('@') {
        Some(rest) => format!("@{tags};{rest}\r\n"),
        None => format!("@{tags} {line}\r\n"),
    };
    let out = match lines.as_slice() {
        [] => format!("@label={label} :{server} ACK\r\n"),
        [one] => tagged(&format!("label={label}"), one),
        many if caps & caps::BATCH != 0 => {
            let reference = format!("l{id}");
            let mut out =
                format!("@label={label} :{server} BATCH +{reference} labeled-response\r\n");
            for line in many {
                out.push_str(&tagged(&format!("batch={reference}"), line));
            }
            out.push_str(&format!(":{server} BATCH -{reference}\r\n"));
            out
        }
        // Without `batch` several lines cannot be grouped: send them unlabeled.
        _ => text.clone(),
    };
    Bytes::from(out)
}

fn motd_lines(srv: &str, nick: &str, motd: &str) -> Vec<String> {
    let mut out = vec![numeric(
        srv,
        "375",
        nick,
        &format!(":- {srv} Message of the day - "),
    )];
    for line in motd.lines() {
        out.push(numeric(srv, "372", nick, &format!(":- {line}")));
    }
    out.push(numeric(srv, "376", nick, ":End of /MOTD command."));
    out
}

fn isupport(srv: &str, nick: &str) -> Vec<String> {
    let tokens = format!(
        "AWAYLEN={AWAYLEN} CASEMAPPING=ascii CHANLIMIT=#:50 CHANMODES=b,k,l,imnst CHANNELLEN={CHANNELLEN} \
         CHANTYPES=# KICKLEN={KICKLEN} MAXLIST=b:100 MODES={MODES_PER_LINE} NETWORK=obrol NICKLEN={NICKLEN} PREFIX=(ov)@+ \
         TARGMAX=PRIVMSG:{MAX_TARGETS},NOTICE:{MAX_TARGETS},JOIN:,PART:,NAMES:,KICK:,WHOIS:1 \
         TOPICLEN={TOPICLEN} USERLEN={USERLEN} NAMELEN={REALNAMELEN}"
    );
    // At most 13 tokens per line (RFC 2812 allows 15 parameters: nick, tokens, trailing).
    let tokens: Vec<&str> = tokens.split_whitespace().collect();
    tokens
        .chunks(13)
        .map(|chunk| {
            let rest = format!("{} :are supported by this server", chunk.join(" "));
            numeric(srv, "005", nick, &rest)
        })
        .collect()
}

fn now_rfc3339() -> String {
    rfc3339(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
    )
}

/// Formats Unix milliseconds as `YYYY-MM-DDThh:mm:ss.sssZ` (IRCv3 server-time).
pub fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

fn source(who: &Identity) -> String {
    format!("{}!{}@{}", who.nick, who.user, who.host)
}

/// The tags a message carries to a client: `time` with server-time; `msgid` and the sender's
/// client-only tags with message-tags. Nothing for a client that asked for neither.
fn message_tags(
    view: &View<'_>,
    msgid: &str,
    client: &[obrol_wire::irc::Tag],
) -> Vec<obrol_wire::irc::Tag> {
    use obrol_wire::irc::Tag;
    let mut tags = Vec::new();
    if view.caps & caps::SERVER_TIME != 0 {
        tags.push(Tag::new("time", Some(now_rfc3339())));
    }
    if view.caps & caps::MESSAGE_TAGS != 0 {
        if !msgid.is_empty() {
            tags.push(Tag::new("msgid", Some(msgid.to_owned())));
        }
        tags.extend(client.iter().cloned());
    }
    tags
}

/// A PRIVMSG or NOTICE line, through the wire's message type (which escapes tag values and
/// keeps the grammar): the text was made fit to pass at the edge, and split there to fit 512
/// bytes.
#[allow(clippy::too_many_arguments)]
fn chat_line(
    s: &mut String,
    view: &View<'_>,
    source: &str,
    target: &str,
    text: &str,
    action: bool,
    notice: bool,
    msgid: &str,
    client_tags: &[obrol_wire::irc::Tag],
) {
    let verb = if notice { "NOTICE" } else { "PRIVMSG" };
    let text = if action {
        format!("\u{1}ACTION {text}\u{1}")
    } else {
        text.to_owned()
    };
    let mut msg = Message::new(verb, [target.to_owned()])
        .with_prefix(source)
        .with_param(text);
    msg.tags = message_tags(view, msgid, client_tags);
    s.push_str(&msg.to_string_trailing());
    s.push_str("\r\n");
}

/// Renders an event as IRC lines for a client described by `view`.
pub fn render(event: &Event<'_>, view: &View<'_>) -> Bytes {
    let srv = view.server;
    let me = view.nick;
    let mut s = String::new();
    let tag = |s: &mut String| {
        if view.caps & caps::SERVER_TIME != 0 {
            let _ = write!(s, "@time={} ", now_rfc3339());
        }
    };
    let num = |s: &mut String, code: &str, rest: &str| {
        s.push_str(&numeric(srv, code, me, rest));
    };
    match *event {
        Event::Welcome { motd, census, .. } => {
            num(
                &mut s,
                "001",
                &format!(":Welcome to the obrol IRC network, {me}"),
            );
            num(
                &mut s,
                "002",
                &format!(":Your host is {srv}, running version {VERSION}"),
            );
            num(&mut s, "003", ":This server was created when it started");
            num(
                &mut s,
                "004",
                &format!("{srv} {VERSION} iow biklmnostv bklov"),
            );
            for line in isupport(srv, me) {
                s.push_str(&line);
            }
            lusers(&mut s, srv, me, &census);
            for line in motd_lines(srv, me, motd) {
                s.push_str(&line);
            }
        }
        Event::Chat {
            from,
            room,
            text,
            action,
            notice,
            msgid,
            tags,
        } => {
            let target = match room {
                Some(r) => format!("#{r}"),
                None => me.to_owned(),
            };
            chat_line(
                &mut s,
                view,
                &source(from),
                &target,
                text,
                action,
                notice,
                msgid,
                tags,
            );
        }
        Event::SentPrivately {
            to,
            text,
            action,
            notice,
            msgid,
            tags,
        } => {
            if view.caps & caps::ECHO_MESSAGE != 0 {
                let src = format!("{me}!{}@{}", view.user, view.host);
                chat_line(&mut s, view, &src, to, text, action, notice, msgid, tags);
            }
        }
        Event::Joined {
            who,
            room,
            realname,
        } => {
            tag(&mut s);
            let _ = if view.caps & caps::EXTENDED_JOIN != 0 {
                // No accounts yet: the account name is `*`.
                write!(s, ":{} JOIN #{room} * :{realname}\r\n", source(who))
            } else {
                write!(s, ":{} JOIN #{room}\r\n", source(who))
            };
        }
        Event::BanList { room, masks } => {
            for m in masks {
                num(&mut s, "367", &format!("#{room} {m}"));
            }
            num(&mut s, "368", &format!("#{room} :End of channel ban list"));
        }
        Event::YoureOper => num(&mut s, "381", ":You are now an IRC operator"),
        Event::Wallops { from, text } => {
            let _ = write!(s, ":{} WALLOPS :{text}\r\n", source(from));
        }
        Event::Whowas { nick, entries } => {
            if entries.is_empty() {
                num(
                    &mut s,
                    "406",
                    &format!("{nick} :There was no such nickname"),
                );
            }
            for w in entries.iter() {
                let n = &w.nick;
                num(
                    &mut s,
                    "314",
                    &format!("{n} {} {} * :{}", w.user, w.host, w.realname),
                );
                num(&mut s, "312", &format!("{n} {srv} :{}", view.info));
            }
            num(&mut s, "369", &format!("{nick} :End of WHOWAS"));
        }
        Event::AwayChanged { who, message } => {
            if view.caps & caps::AWAY_NOTIFY != 0 {
                tag(&mut s);
                let _ = match message {
                    Some(m) => write!(s, ":{} AWAY :{m}\r\n", source(who)),
                    None => write!(s, ":{} AWAY\r\n", source(who)),
                };
            }
        }
        Event::RealnameChanged { who, realname } => {
            if view.caps & caps::SETNAME != 0 {
                tag(&mut s);
                let _ = write!(s, ":{} SETNAME :{realname}\r\n", source(who));
            }
        }
        Event::InviteNotice { by, nick, room } => {
            if view.caps & caps::INVITE_NOTIFY != 0 {
                tag(&mut s);
                let _ = write!(s, ":{} INVITE {nick} #{room}\r\n", source(by));
            }
        }
        Event::Parted { who, room, reason } => {
            tag(&mut s);
            let _ = match reason {
                Some(r) => write!(s, ":{} PART #{room} :{r}\r\n", source(who)),
                None => write!(s, ":{} PART #{room}\r\n", source(who)),
            };
        }
        Event::Quit { who, reason } => {
            tag(&mut s);
            let _ = write!(s, ":{} QUIT :{reason}\r\n", source(who));
        }
        Event::Renamed { who, new } => {
            tag(&mut s);
            let _ = write!(s, ":{} NICK {new}\r\n", source(who));
        }
        Event::Rooms(rooms) => {
            num(&mut s, "321", "Channel :Users  Name");
            for r in rooms {
                num(
                    &mut s,
                    "322",
                    &format!("#{} {} :{}", r.name, r.members, r.topic),
                );
            }
            num(&mut s, "323", ":End of /LIST");
        }
        Event::Who {
            room,
            nicks,
            secret,
            ..
        } => {
            let symbol = if secret { '@' } else { '=' };
            // Keep each 353 line well under 512 bytes: cut the list at spaces.
            let mut rest = nicks.trim();
            while !rest.is_empty() {
                let cut = if rest.len() <= 350 {
                    rest.len()
                } else {
                    // At a space (always a char boundary), or for one overlong entry at the
                    // last char boundary within the limit.
                    let bytes = rest.as_bytes();
                    bytes[..350]
                        .iter()
                        .rposition(|&b| b == b' ')
                        .unwrap_or_else(|| {
                            (1..=350)
                                .rev()
                                .find(|&i| rest.is_char_boundary(i))
                                .unwrap_or(rest.len())
                        })
                };
                let (chunk, tail) = rest.split_at(cut);
                let _ = write!(s, ":{srv} 353 {me} {symbol} #{room} :{chunk}\r\n");
                rest = tail.trim_start();
            }
            num(&mut s, "366", &format!("#{room} :End of /NAMES list"));
        }
        Event::Topic { room, topic } => match topic {
            Some((text, by, at)) => {
                num(&mut s, "332", &format!("#{room} :{text}"));
                num(&mut s, "333", &format!("#{room} {by} {at}"));
            }
            None => num(&mut s, "331", &format!("#{room} :No topic is set")),
        },
        Event::TopicChanged { who, room, topic } => {
            tag(&mut s);
            let _ = write!(s, ":{} TOPIC #{room} :{topic}\r\n", source(who));
        }
        Event::WhoReply { mask, rows } => {
            for r in rows {
                let chan = r.room.as_ref().map_or("*".to_owned(), |c| format!("#{c}"));
                let here = if r.away { 'G' } else { 'H' };
                let star = if r.oper { "*" } else { "" };
                num(
                    &mut s,
                    "352",
                    &format!(
                        "{chan} {} {} {srv} {} {here}{star}{} :0 {}",
                        r.who.user, r.who.host, r.who.nick, r.prefix, r.realname
                    ),
                );
            }
            num(&mut s, "315", &format!("{mask} :End of WHO list"));
        }
        Event::Whois(w) => {
            let n = &w.who.nick;
            num(
                &mut s,
                "311",
                &format!("{n} {} {} * :{}", w.who.user, w.who.host, w.realname),
            );
            if !w.rooms.is_empty() {
                let chans: Vec<String> = w
                    .rooms
                    .iter()
                    .map(|r| {
                        let bare = r.trim_start_matches(['@', '+']);
                        format!("{}#{bare}", &r[..r.len() - bare.len()])
                    })
                    .collect();
                num(&mut s, "319", &format!("{n} :{}", chans.join(" ")));
            }
            num(&mut s, "312", &format!("{n} {srv} :{}", view.info));
            if w.oper {
                num(&mut s, "313", &format!("{n} :is an IRC operator"));
            }
            if let Some(a) = &w.away {
                num(&mut s, "301", &format!("{n} :{a}"));
            }
            num(
                &mut s,
                "317",
                &format!(
                    "{n} {} {} :seconds idle, signon time",
                    w.idle_secs, w.signon
                ),
            );
            num(&mut s, "318", &format!("{n} :End of /WHOIS list"));
        }
        Event::WhoisEnd(n) => num(&mut s, "318", &format!("{n} :End of /WHOIS list")),
        Event::Ison(nicks) => num(&mut s, "303", &format!(":{}", nicks.join(" "))),
        Event::Userhost(entries) => num(&mut s, "302", &format!(":{}", entries.join(" "))),
        Event::AwayStatus(true) => num(&mut s, "306", ":You have been marked as being away"),
        Event::AwayStatus(false) => num(&mut s, "305", ":You are no longer marked as being away"),
        Event::IsAway { nick, message } => num(&mut s, "301", &format!("{nick} :{message}")),
        Event::RoomModes {
            room,
            modes,
            created,
        } => {
            num(&mut s, "324", &format!("#{room} {modes}"));
            num(&mut s, "329", &format!("#{room} {created}"));
        }
        Event::ModeChanged { who, room, change } => {
            tag(&mut s);
            let _ = write!(s, ":{} MODE #{room} {change}\r\n", source(who));
        }
        Event::UserModes(modes) => num(&mut s, "221", modes),
        Event::UserModeChanged { nick, change } => {
            let _ = write!(s, ":{nick} MODE {nick} :{change}\r\n");
        }
        Event::Kicked {
            by,
            room,
            nick,
            reason,
        } => {
            tag(&mut s);
            let _ = write!(s, ":{} KICK #{room} {nick} :{reason}\r\n", source(by));
        }
        Event::Invited { by, nick, room } => {
            let _ = write!(s, ":{} INVITE {nick} #{room}\r\n", source(by));
        }
        Event::Inviting { nick, room } => num(&mut s, "341", &format!("{nick} #{room}")),
        Event::Lusers(census) => lusers(&mut s, srv, me, &census),
        Event::ServerNotice(text) => {
            let _ = write!(s, ":{srv} NOTICE * :{text}\r\n");
        }
        Event::Info(text) => {
            let _ = write!(s, ":{srv} NOTICE {me} :{text}\r\n");
        }
        Event::Ping => {
            let _ = write!(s, "PING :{srv}\r\n");
        }
        Event::Help => {
            let _ = write!(
                s,
                ":{srv} NOTICE {me} :Commands: JOIN PART PRIVMSG NOTICE NICK TOPIC NAMES LIST WHO \
                 WHOIS WHOWAS MODE KICK INVITE AWAY QUIT (see your client's /help)\r\n"
            );
        }
        Event::Refused(r) => refusal(&mut s, srv, me, r),
        Event::Closing(reason) => {
            let _ = write!(s, "ERROR :Closing link: {reason}\r\n");
        }
        Event::TagMsg {
            from,
            room,
            to,
            tags,
            msgid,
        } => {
            if view.caps & caps::MESSAGE_TAGS != 0 {
                let target = room.map_or_else(|| to.to_owned(), |r| format!("#{r}"));
                let mut msg = Message::new("TAGMSG", [target]).with_prefix(source(from));
                msg.tags = message_tags(view, msgid, tags);
                let _ = write!(s, "{msg}\r\n");
            }
        }
    }
    Bytes::from(s)
}

fn lusers(s: &mut String, srv: &str, me: &str, c: &crate::event::Census) {
    // As ratbox, InspIRCd and Ergo count: `users` in 251 are those who are not invisible.
    let visible = c.users.saturating_sub(c.invisible);
    let line = format!(
        ":There are {visible} users and {} invisible on 1 servers",
        c.invisible
    );
    s.push_str(&numeric(srv, "251", me, &line));
    let opers = format!("{} :operator(s) online", c.opers);
    s.push_str(&numeric(srv, "252", me, &opers));
    if c.unknown > 0 {
        let unknown = format!("{} :unknown connection(s)", c.unknown);
        s.push_str(&numeric(srv, "253", me, &unknown));
    }
    let rooms = format!("{} :channels formed", c.rooms);
    s.push_str(&numeric(srv, "254", me, &rooms));
    let clients = format!(":I have {} clients and 0 servers", c.users);
    s.push_str(&numeric(srv, "255", me, &clients));
}

fn refusal(s: &mut String, srv: &str, me: &str, r: &Refusal) {
    let (code, rest) = match r {
        Refusal::NickInUse(n) => ("433", format!("{n} :Nickname is already in use")),
        Refusal::BadNick(n) => ("432", format!("{n} :Erroneous nickname")),
        Refusal::BadRoom(r) | Refusal::NoSuchRoom(r) => ("403", format!("#{r} :No such channel")),
        Refusal::NoSuchNick(n) => ("401", format!("{n} :No such nick/channel")),
        Refusal::NotInRoom(r) => ("442", format!("#{r} :You're not on that channel")),
        Refusal::NoRoom => ("442", "* :You're not on that channel".to_owned()),
        Refusal::TooManyRooms { room, .. } => {
            ("405", format!("#{room} :You have joined too many channels"))
        }
        Refusal::Usage(how) => ("461", format!("* :Not enough parameters ({how})")),
        Refusal::UnknownCommand(c) => ("421", format!("{c} :Unknown command")),
        Refusal::LineTooLong(_) => ("417", ":Input line was too long".to_owned()),
        Refusal::InvalidUtf8 => {
            let _ = write!(s, ":{srv} NOTICE {me} :{r}\r\n");
            return;
        }
        Refusal::ChanOpNeeded(r) => ("482", format!("#{r} :You're not channel operator")),
        Refusal::CannotSend(r) => ("404", format!("#{r} :Cannot send to channel")),
        Refusal::UserNotInRoom { nick, room } => (
            "441",
            format!("{nick} #{room} :They aren't on that channel"),
        ),
        Refusal::AlreadyInRoom { nick, room } => {
            ("443", format!("{nick} #{room} :is already on channel"))
        }
        Refusal::UnknownMode(c) => ("472", format!("{c} :is unknown mode char to me")),
        Refusal::UnknownUserMode(_) => ("501", ":Unknown MODE flag".to_owned()),
        Refusal::BanListFull(r) => ("478", format!("#{r} b :Channel list is full")),
        Refusal::UsersDontMatch => ("502", ":Cant change mode for other users".to_owned()),
        Refusal::BannedFromRoom(r) => ("474", format!("#{r} :Cannot join channel (+b)")),
        Refusal::InviteOnly(r) => ("473", format!("#{r} :Cannot join channel (+i)")),
        Refusal::BadKey(r) => ("475", format!("#{r} :Cannot join channel (+k)")),
        Refusal::RoomFull(r) => ("471", format!("#{r} :Cannot join channel (+l)")),
        Refusal::NoPrivileges => (
            "481",
            ":Permission Denied- You're not an IRC operator".to_owned(),
        ),
        Refusal::PasswordMismatch => ("464", ":Password incorrect".to_owned()),
        Refusal::KeySet(r) => ("467", format!("#{r} :Channel key already set")),
    };
    s.push_str(&numeric(srv, code, me, &rest));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_time_format() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn long_names_lists_are_split_at_spaces() {
        let nicks: Vec<String> = (0..200).map(|i| format!("@nick{i}")).collect();
        let joined = nicks.join(" ");
        let view = View {
            nick: "me",
            current: None,
            caps: 0,
            server: "srv",
            info: "hub",
            user: "u",
            host: "h",
        };
        let ev = Event::Who {
            room: "big",
            nicks: &joined,
            count: nicks.len(),
            secret: false,
        };
        let out = render(&ev, &view);
        let text = std::str::from_utf8(&out).unwrap();
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        assert!(lines.len() > 3, "{lines:?}");
        let mut seen = Vec::new();
        for line in &lines[..lines.len() - 1] {
            assert!(line.len() + 2 <= obrol_wire::irc::MAX_LINE, "{line}");
            let list = line.strip_prefix(":srv 353 me = #big :").unwrap();
            seen.extend(list.split(' ').map(str::to_owned));
        }
        assert_eq!(seen, nicks);
        assert_eq!(
            lines[lines.len() - 1],
            ":srv 366 me #big :End of /NAMES list"
        );
    }

    #[test]
    fn caps_by_name() {
        assert_eq!(caps::by_name("ECHO-MESSAGE"), Some(caps::ECHO_MESSAGE));
        assert_eq!(caps::by_name("sasl"), None);
        assert_eq!(
            caps::names(caps::SERVER_TIME | caps::MULTI_PREFIX),
            "multi-prefix server-time"
        );
    }
}
