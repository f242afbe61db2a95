//! An IRC client session without I/O: it reads the server's lines into a [`Chat`] and turns
//! what the user types into lines to send. The terminal UI drives it with a [`Connection`]
//! (`crate::Connection`); tests drive it with strings.
//!
//! It asks for the IRCv3 capabilities that make a good client (`batch`, `server-time`,
//! `message-tags`, `echo-message`, `draft/chathistory`, `multi-prefix`, `account-tag`, and
//! `sasl` when it has a password), fetches a room's history when it joins and older history
//! when the user scrolls past the top, measures the lag with its own `PING`s, and after a
//! reconnect takes its nick and rooms back.

use std::collections::{HashMap, HashSet};

use obrol_wire::irc::{parse_time, Message};

use crate::chat::{clean, now_ms, BufferKind, Chat, Kind, Line, Link, Millis};

/// How many messages of history a room shows when it is joined, and each scroll-back fetches.
pub const HISTORY_PAGE: usize = 50;

/// Longest text put in one PRIVMSG; longer lines are split (a message's prefix, tags and
/// command must fit the 512 bytes too).
pub const MAX_TEXT: usize = 400;

/// How often the lag is measured.
pub const LAG_EVERY_MS: Millis = 30_000;

/// The commands the session knows (for /help and tab completion).
pub const COMMANDS: &[&str] = &[
    "/join",
    "/part",
    "/msg",
    "/query",
    "/me",
    "/nick",
    "/topic",
    "/names",
    "/history",
    "/search",
    "/register",
    "/close",
    "/quote",
    "/help",
    "/quit",
];

/// Who to be on the server.
#[derive(Debug, Clone)]
pub struct Config {
    pub nick: String,
    /// With a password: log in to the account named like the nick (SASL PLAIN).
    pub password: Option<String>,
    /// Rooms to join once registered.
    pub rooms: Vec<String>,
}

/// What the user's command asks of the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// Capabilities asked for when the server offers them.
const WANTED: &[&str] = &[
    "batch",
    "server-time",
    "message-tags",
    "echo-message",
    "draft/chathistory",
    "draft/event-playback",
    "multi-prefix",
    "account-tag",
    "away-notify",
];

/// Most batches open at once, and lines one batch holds; past them lines are dropped.
const MAX_BATCHES: usize = 16;
const MAX_BATCH_LINES: usize = 10_000;

/// Most buffers; private messages from further nicks go to the server's buffer.
pub const MAX_BUFFERS: usize = 500;

/// A lag PING unanswered this long means the connection is dead (a NAT forgot it, a laptop
/// slept): the UI then connects again.
pub const STALE_AFTER_MS: Millis = 90_000;

/// How often to ask again for the nick we want while the server gave us another.
const NICK_RETRY_MS: Millis = 60_000;

#[derive(Debug)]
struct Batch {
    kind: String,
    target: String,
    lines: Vec<(String, Line)>,
}

/// One IRC session (it outlives connections: a reconnect starts a new registration on it).
#[derive(Debug)]
pub struct Session {
    pub chat: Chat,
    cfg: Config,
    out: Vec<String>,
    offered: Vec<String>,
    caps: HashSet<String>,
    registered: bool,
    nick_tries: u32,
    batches: HashMap<String, Batch>,
    /// Rooms whose NAMES reply is coming in (their member lists start afresh).
    names_pending: HashSet<String>,
    /// Rooms the user asked to join: shown when the join comes back.
    show_on_join: HashSet<String>,
    /// Rooms (or conversations), lower-cased, with a history request on its way, and how
    /// many messages it asked for (fewer in the answer: nothing older).
    fetching: HashMap<String, usize>,
    /// Rooms, lower-cased, whose member list was asked for again after a MODE.
    names_asked: HashSet<String>,
    /// The nick we want (asked for at start or with /nick); the server may give another.
    wanted: String,
    /// The account SASL logs in to: the nick given at start.
    account: String,
    last_nick_try: Millis,
    /// The password of a /register on its way.
    pending_password: Option<String>,
    history_limit: usize,
    /// The msgid of the line being handled (events carry one too, and history replays them).
    msgid: Option<String>,
    ping_sent: Option<Millis>,
    last_ping: Millis,
}

fn is_room(name: &str) -> bool {
    name.starts_with(['#', '&'])
}

/// The nick of a `nick!user@host` source.
fn nick_of(prefix: &str) -> &str {
    prefix.split('!').next().unwrap_or(prefix)
}

impl Session {
    pub fn new(cfg: Config, server: &str) -> Session {
        let chat = Chat::new(server, &cfg.nick, "server", BufferKind::Server);
        let (wanted, account) = (cfg.nick.clone(), cfg.nick.clone());
        Session {
            chat,
            cfg,
            out: Vec::new(),
            offered: Vec::new(),
            caps: HashSet::new(),
            registered: false,
            nick_tries: 0,
            batches: HashMap::new(),
            names_pending: HashSet::new(),
            show_on_join: HashSet::new(),
            fetching: HashMap::new(),
            names_asked: HashSet::new(),
            wanted,
            account,
            last_nick_try: 0,
            pending_password: None,
            history_limit: HISTORY_PAGE,
            msgid: None,
            ping_sent: None,
            last_ping: 0,
        }
    }

    /// Lines to send, each without its ending.
    pub fn take_output(&mut self) -> Vec<String> {
        std::mem::take(&mut self.out)
    }

    fn send(&mut self, line: String) {
        self.out.push(line);
    }

    fn server_buffer(&mut self, kind: Kind, text: &str) {
        self.chat.add(0, Line::new(kind, "", text));
    }

    /// A connection was made: register on it.
    pub fn connected(&mut self) {
        self.chat.link = Link::Connected;
        self.registered = false;
        self.caps.clear();
        self.offered.clear();
        self.batches.clear();
        self.fetching.clear();
        self.names_asked.clear();
        self.nick_tries = 0;
        self.ping_sent = None;
        self.send("CAP LS 302".into());
        let nick = self.wanted.clone();
        self.send(format!("NICK {nick}"));
        self.send(format!("USER {nick} 0 * :obrol"));
    }

    /// The connection is gone; another attempt is due at `retry_at` (`None`: not trying).
    pub fn disconnected(&mut self, reason: &str, retry_at: Option<Millis>) {
        let text = match retry_at {
            Some(at) => format!(
                "connection lost: {reason}; connecting again in {} s",
                ((at - now_ms()).max(0) + 999) / 1000
            ),
            None => format!("connection closed: {reason}"),
        };
        self.chat.link = match retry_at {
            Some(retry_at) => Link::Waiting {
                reason: reason.to_owned(),
                retry_at,
            },
            None => Link::Closed(reason.to_owned()),
        };
        self.chat.lag = None;
        self.registered = false;
        let shown = self.chat.active;
        for (i, b) in self.chat.buffers.iter_mut().enumerate() {
            b.members.clear();
            if i == 0 || i == shown {
                b.lines.push_back(Line::new(Kind::Error, "", &text));
            }
        }
    }

    /// Another attempt to connect failed; the next is due at `retry_at`.
    pub fn retry_failed(&mut self, reason: &str, retry_at: Millis) {
        let secs = ((retry_at - now_ms()).max(0) + 999) / 1000;
        self.chat.link = Link::Waiting {
            reason: reason.to_owned(),
            retry_at,
        };
        self.server_buffer(Kind::Error, &format!("{reason}; trying again in {secs} s"));
    }

    /// Time passes: measures the lag now and then.
    pub fn tick(&mut self, now: Millis) {
        if self.registered && now - self.last_ping >= LAG_EVERY_MS && self.ping_sent.is_none() {
            self.last_ping = now;
            self.ping_sent = Some(now);
            self.send(format!("PING :lag-{now}"));
        }
        let other_nick = !self.chat.nick.eq_ignore_ascii_case(&self.wanted);
        if self.registered && other_nick && now - self.last_nick_try >= NICK_RETRY_MS {
            self.last_nick_try = now;
            let wanted = self.wanted.clone();
            self.send(format!("NICK {wanted}"));
        }
    }

    /// Whether the server has stopped answering: the connection should be dropped and made
    /// again.
    pub fn stale(&self, now: Millis) -> bool {
        self.ping_sent
            .is_some_and(|sent| now - sent >= STALE_AFTER_MS)
    }

    /// Whether registration is complete (001 came) on this connection.
    pub fn registered(&self) -> bool {
        self.registered
    }

    /// The user scrolled past the oldest line of the shown buffer: asks for older history.
    pub fn want_older(&mut self) {
        let b = self.chat.active();
        if b.kind == BufferKind::Server || b.history_done || !self.registered {
            return;
        }
        if !self.caps.contains("draft/chathistory")
            || self.fetching.contains_key(&b.name.to_lowercase())
        {
            return;
        }
        let target = b.name.clone();
        let Some(from) = b.oldest_msgid().map(|id| format!("msgid={id}")) else {
            return;
        };
        let limit = self.history_limit;
        self.fetching.insert(target.to_lowercase(), limit);
        self.send(format!("CHATHISTORY BEFORE {target} {from} {limit}"));
    }

    fn fetch_latest(&mut self, target: &str) {
        let key = target.to_lowercase();
        if self.caps.contains("draft/chathistory") && !self.fetching.contains_key(&key) {
            let limit = self.history_limit;
            self.fetching.insert(key, limit);
            self.send(format!("CHATHISTORY LATEST {target} * {limit}"));
        }
    }

    /// The room buffer called `name`; one made here (not by our JOIN) counts as not joined,
    /// so a reconnect does not join it.
    fn room(&mut self, name: &str) -> usize {
        let known = self.chat.find(name);
        let i = self.chat.buffer(name, BufferKind::Room);
        if known.is_none() {
            self.chat.buffers[i].parted = true;
        }
        i
    }

    /// The buffer of a room or a conversation, by its name.
    fn buffer_for(&mut self, name: &str) -> usize {
        if is_room(name) {
            self.room(name)
        } else {
            self.private(name)
        }
    }

    /// The private buffer with `nick`, or the server's when there are too many buffers.
    fn private(&mut self, nick: &str) -> usize {
        match self.chat.find(nick) {
            Some(i) => i,
            None if self.chat.buffers.len() >= MAX_BUFFERS => 0,
            None => self.chat.buffer(nick, BufferKind::Private),
        }
    }

    /// Reads one line from the server.
    pub fn handle(&mut self, line: &str) {
        let msg = match Message::parse(line) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(%e, "unparsable line from the server");
                return;
            }
        };
        let time = msg
            .tag("time")
            .and_then(|t| t.value.as_deref())
            .and_then(parse_time)
            .unwrap_or_else(now_ms);
        let source = msg.prefix.as_deref().map(nick_of).unwrap_or("").to_owned();
        self.msgid = msg.tag("msgid").and_then(|t| t.value.clone());
        let command = msg.command.to_ascii_uppercase();
        let p = |i: usize| msg.param(i).unwrap_or("");
        let last = msg.params.last().map(String::as_str).unwrap_or("");
        // A line that belongs to an open batch waits for the batch's end.
        // (Only batches this session reads as a whole are held: history and search. Lines of
        // others, a netsplit's say, are handled as they come.)
        if let Some(id) = msg.tag("batch").and_then(|t| t.value.clone()) {
            if self.batches.contains_key(&id) && command != "BATCH" {
                if let Some((target, line)) = self.history_line(&msg, &source, time) {
                    if let Some(batch) = self.batches.get_mut(&id) {
                        if batch.lines.len() < MAX_BATCH_LINES {
                            batch.lines.push((target, line));
                        }
                    }
                }
                return;
            }
        }
        match command.as_str() {
            "PING" => self.send(format!("PONG :{last}")),
            "PONG" => {
                if let (Some(sent), true) = (self.ping_sent, last.starts_with("lag-")) {
                    self.chat.lag = Some((now_ms() - sent).max(0) as u64);
                    self.ping_sent = None;
                }
            }
            "CAP" => self.cap(&msg),
            "AUTHENTICATE" if p(0) == "+" => {
                if let Some(password) = &self.cfg.password {
                    let nick = &self.account;
                    let plain = format!("{nick}\0{nick}\0{password}");
                    use base64::Engine;
                    let encoded = base64::engine::general_purpose::STANDARD.encode(plain);
                    // Up to 400 bytes an AUTHENTICATE line; a line of exactly 400 is followed
                    // by an empty one.
                    let chunks: Vec<String> = encoded
                        .as_bytes()
                        .chunks(400)
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect();
                    let exact = encoded.len() % 400 == 0;
                    for chunk in chunks {
                        self.send(format!("AUTHENTICATE {chunk}"));
                    }
                    if exact {
                        self.send("AUTHENTICATE +".into());
                    }
                }
            }
            "903" => {
                let text = format!("logged in as {}", self.account);
                self.server_buffer(Kind::Info, &text);
                self.send("CAP END".into());
            }
            "902" | "904" | "905" | "906" | "907" => {
                self.server_buffer(Kind::Error, &format!("login failed: {last}"));
                self.send("CAP END".into());
            }
            "001" => {
                self.registered = true;
                self.chat.nick = p(0).to_owned();
                self.last_nick_try = now_ms();
                self.server_buffer(Kind::Info, last);
                let rooms: Vec<String> = self
                    .chat
                    .buffers
                    .iter()
                    .filter(|b| b.kind == BufferKind::Room && !b.parted)
                    .map(|b| b.name.clone())
                    .chain(self.cfg.rooms.iter().cloned())
                    .collect();
                let mut seen = HashSet::new();
                let rooms: Vec<String> = rooms
                    .into_iter()
                    .filter(|r| seen.insert(r.to_lowercase()))
                    .collect();
                if !rooms.is_empty() {
                    if self.chat.active == 0 {
                        if let Some(first) = rooms.first() {
                            self.show_on_join.insert(first.to_lowercase());
                        }
                    }
                    // Several JOINs when the list is long: one line must stay under 512 bytes.
                    let mut line = String::new();
                    for room in rooms {
                        if !line.is_empty() && line.len() + room.len() > 400 {
                            self.send(format!("JOIN {line}"));
                            line.clear();
                        }
                        if !line.is_empty() {
                            line.push(',');
                        }
                        line.push_str(&room);
                    }
                    if !line.is_empty() {
                        self.send(format!("JOIN {line}"));
                    }
                }
                self.cfg.rooms.clear();
            }
            "005" => {
                for token in middle(&msg.params) {
                    if let Some(n) = token.strip_prefix("CHATHISTORY=") {
                        if let Ok(n) = n.parse::<usize>() {
                            self.history_limit = if n == 0 {
                                HISTORY_PAGE
                            } else {
                                n.min(HISTORY_PAGE)
                            };
                        }
                    }
                }
            }
            "433" | "432" if !self.registered => {
                // Taken or refused: try another before registration stalls.
                self.nick_tries += 1;
                let base = self.wanted.trim_end_matches('_').to_owned();
                let next = if self.nick_tries < 4 {
                    format!("{base}{}", "_".repeat(self.nick_tries as usize))
                } else {
                    format!("obrol{}", now_ms() % 100_000)
                };
                self.server_buffer(Kind::Error, &format!("{}: {last}; trying {next}", p(1)));
                self.send(format!("NICK {next}"));
            }
            "JOIN" => self.join(&source, p(0), time),
            "PART" => {
                let text = match msg.param(1) {
                    Some(reason) if !reason.is_empty() => {
                        format!("{source} left {} ({reason})", p(0))
                    }
                    _ => format!("{source} left {}", p(0)),
                };
                self.left(&source, p(0), &text, time);
            }
            "KICK" => {
                let text = format!("{} was kicked from {} by {source} ({})", p(1), p(0), p(2));
                self.left(p(1), p(0), &text, time);
            }
            "QUIT" => {
                let text = format!("{source} quit ({last})");
                for i in 0..self.chat.buffers.len() {
                    let b = &mut self.chat.buffers[i];
                    let here = b.members.remove(&source).is_some()
                        || (b.kind == BufferKind::Private && b.name.eq_ignore_ascii_case(&source));
                    if here {
                        self.event(i, &source, &text, time);
                    }
                }
            }
            "NICK" => {
                if source.eq_ignore_ascii_case(&self.chat.nick) {
                    self.wanted = p(0).to_owned();
                }
                let msgid = self.msgid.clone();
                self.chat.rename(&source, p(0), time, msgid.as_deref());
            }
            "TOPIC" => {
                let i = self.room(p(0));
                self.chat.buffers[i].topic = clean(p(1));
                let text = format!("{source} changed the topic to: {}", p(1));
                self.event(i, &source, &text, time);
            }
            "332" => {
                if let Some(i) = self.chat.find(p(1)) {
                    self.chat.buffers[i].topic = clean(last);
                }
            }
            "353" => {
                let room = p(2).to_owned();
                let Some(i) = self.chat.find(&room) else {
                    return;
                };
                let b = &mut self.chat.buffers[i];
                if self.names_pending.insert(room.to_lowercase()) {
                    b.members.clear();
                }
                for entry in last.split(' ').filter(|e| !e.is_empty()) {
                    let nick = entry.trim_start_matches(['~', '&', '@', '%', '+']);
                    let prefix = &entry[..entry.len() - nick.len()];
                    b.members
                        .insert(nick_of(nick).to_owned(), prefix.chars().take(1).collect());
                }
            }
            "366" => {
                self.names_pending.remove(&p(1).to_lowercase());
                self.names_asked.remove(&p(1).to_lowercase());
            }
            "PRIVMSG" | "NOTICE" => {
                if let Some((target, line)) = self.history_line(&msg, &source, time) {
                    let i = if target == "*" {
                        0
                    } else {
                        self.buffer_for(&target)
                    };
                    self.chat.add(i, line);
                }
            }
            "BATCH" => self.batch(&msg),
            "REGISTER" if p(0) == "SUCCESS" => {
                self.account = p(1).to_owned();
                self.cfg.password = self.pending_password.take();
                let text = format!("account {} registered; you are logged in to it", p(1));
                self.server_buffer(Kind::Info, &text);
                self.chat.info(Kind::Info, &text);
            }
            "ERROR" => self.server_buffer(Kind::Error, last),
            "FAIL" | "WARN" => {
                if p(0) == "CHATHISTORY" || p(0) == "SEARCH" {
                    self.fetching.clear();
                }
                let kind = if command == "FAIL" {
                    Kind::Error
                } else {
                    Kind::Info
                };
                self.chat.info(kind, last);
            }
            "NOTE" => self.chat.info(Kind::Info, last),
            // Errors answer what the user just did: shown where the user is.
            c if c.len() == 3 && (c.starts_with('4') || c.starts_with('5')) => {
                let subject: Vec<&str> = middle(&msg.params).iter().map(String::as_str).collect();
                // An error to a history request (a server without it, say) ends the wait.
                if subject
                    .first()
                    .is_some_and(|s| s.eq_ignore_ascii_case("CHATHISTORY"))
                {
                    self.fetching.clear();
                }
                let text = if subject.is_empty() {
                    last.to_owned()
                } else {
                    format!("{}: {last}", subject.join(" "))
                };
                self.chat.info(Kind::Error, &text);
            }
            "MODE" => {
                if let Some(i) = self.chat.find(p(0)).filter(|_| is_room(p(0))) {
                    let text = format!("{source} sets mode {}", msg.params[1..].join(" "));
                    self.event(i, &source, &text, time);
                    // Prefixes may have changed: the list comes fresh (once while asked).
                    if self.names_asked.insert(p(0).to_lowercase()) {
                        self.send(format!("NAMES {}", p(0)));
                    }
                }
            }
            // Numerics that only carry state the client keeps otherwise, or noise.
            "002" | "003" | "004" | "324" | "329" | "333" | "376" | "375" | "265" | "266"
            | "250" | "251" | "252" | "253" | "254" | "255" | "900" | "901" => {}
            c if c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit()) => {
                self.server_buffer(Kind::Info, last);
            }
            _ => {}
        }
    }

    /// A PRIVMSG or NOTICE as a line of the buffer it belongs to: (buffer name, line).
    fn history_line(&self, msg: &Message, source: &str, time: Millis) -> Option<(String, Line)> {
        let command = msg.command.to_ascii_uppercase();
        // STATUSMSG (`@#room`: to the room's operators) belongs to the room's buffer.
        let raw_target = msg.param(0).unwrap_or("");
        let target = match raw_target.trim_start_matches(['@', '+', '%', '~', '&']) {
            t if is_room(t) => t,
            _ => raw_target,
        };
        let text = msg.param(1).unwrap_or("");
        let ours = source.eq_ignore_ascii_case(&self.chat.nick);
        let buffer = if is_room(target) {
            target.to_owned()
        } else if !self.registered
            || source.is_empty()
            || !msg.prefix.as_deref().unwrap_or("").contains('!')
        {
            // From the server itself.
            "*".to_owned()
        } else if ours {
            target.to_owned()
        } else {
            source.to_owned()
        };
        let (kind, text) = match command.as_str() {
            "NOTICE" => (Kind::Notice, text),
            "PRIVMSG" => match text
                .strip_prefix("\x01ACTION")
                .map(|t| t.trim_start().trim_end_matches('\x01'))
            {
                Some(action) => (Kind::Action, action),
                None if text.starts_with('\x01') => return None, // other CTCPs
                None => (Kind::Message, text),
            },
            "JOIN" | "PART" | "QUIT" | "NICK" | "TOPIC" | "KICK" => {
                // Event playback in a history batch.
                let what = match command.as_str() {
                    "JOIN" => format!("{source} joined {target}"),
                    "PART" => match msg.param(1) {
                        Some(reason) if !reason.is_empty() => {
                            format!("{source} left {target} ({reason})")
                        }
                        _ => format!("{source} left {target}"),
                    },
                    "QUIT" => format!("{source} quit ({})", msg.params.last()?),
                    "NICK" => format!("{source} is now known as {target}"),
                    "TOPIC" => format!("{source} changed the topic to: {text}"),
                    _ => format!("{} was kicked by {source}", msg.param(1)?),
                };
                let mut line = Line::new(Kind::Event, source, &what).at(time);
                line.msgid = msg.tag("msgid").and_then(|t| t.value.clone());
                return Some((target.to_owned(), line));
            }
            _ => return None,
        };
        let mut line = Line::new(kind, source, text).at(time);
        line.msgid = msg.tag("msgid").and_then(|t| t.value.clone());
        Some((buffer, line))
    }

    /// Adds an event line (a join, a rename, ...) to buffer `i`, with the msgid of the line
    /// being handled, so that history replaying the same event does not show it twice.
    fn event(&mut self, i: usize, nick: &str, text: &str, time: Millis) {
        let mut line = Line::new(Kind::Event, nick, text).at(time);
        line.msgid = self.msgid.clone();
        self.chat.add(i, line);
    }

    fn cap(&mut self, msg: &Message) {
        let sub = msg.param(1).unwrap_or("").to_ascii_uppercase();
        let list = msg.params.last().map(String::as_str).unwrap_or("");
        match sub.as_str() {
            "LS" => {
                self.offered.extend(
                    list.split(' ')
                        .filter(|c| !c.is_empty())
                        .map(|c| c.split('=').next().unwrap_or(c).to_owned()),
                );
                if msg.param(2) == Some("*") {
                    return; // more to come
                }
                let mut want: Vec<&str> = WANTED
                    .iter()
                    .copied()
                    .filter(|w| self.offered.iter().any(|o| o == w))
                    .collect();
                if self.cfg.password.is_some() && self.offered.iter().any(|o| o == "sasl") {
                    want.push("sasl");
                }
                if want.is_empty() {
                    self.send("CAP END".into());
                } else {
                    self.send(format!("CAP REQ :{}", want.join(" ")));
                }
            }
            "ACK" => {
                for cap in list.split(' ').filter(|c| !c.is_empty()) {
                    match cap.strip_prefix('-') {
                        Some(gone) => self.caps.remove(gone),
                        None => self.caps.insert(cap.to_owned()),
                    };
                }
                if self.caps.contains("sasl") && self.cfg.password.is_some() && !self.registered {
                    self.send("AUTHENTICATE PLAIN".into());
                } else if !self.registered {
                    self.send("CAP END".into());
                }
            }
            "NAK" if !self.registered => self.send("CAP END".into()),
            "DEL" => {
                for cap in list.split(' ').filter(|c| !c.is_empty()) {
                    self.caps.remove(cap);
                }
            }
            "NEW" => {
                let want: Vec<&str> = list
                    .split(' ')
                    .map(|c| c.split('=').next().unwrap_or(c))
                    .filter(|c| WANTED.contains(c) && !self.caps.contains(*c))
                    .collect();
                if !want.is_empty() {
                    self.send(format!("CAP REQ :{}", want.join(" ")));
                }
            }
            _ => {}
        }
    }

    fn join(&mut self, who: &str, room: &str, time: Millis) {
        let ours = who.eq_ignore_ascii_case(&self.chat.nick);
        let i = self.chat.buffer(room, BufferKind::Room);
        if ours {
            let b = &mut self.chat.buffers[i];
            b.parted = false;
            b.members.clear();
            b.history_done = false;
            if self.show_on_join.remove(&room.to_lowercase()) {
                self.chat.show(i);
            }
            self.fetch_latest(room);
        }
        self.chat.buffers[i]
            .members
            .entry(who.to_owned())
            .or_default();
        let text = format!("{who} joined {room}");
        self.event(i, who, &text, time);
    }

    fn left(&mut self, who: &str, room: &str, text: &str, time: Millis) {
        let Some(i) = self.chat.find(room) else {
            return;
        };
        self.event(i, who, text, time);
        let b = &mut self.chat.buffers[i];
        if who.eq_ignore_ascii_case(&self.chat.nick) {
            b.parted = true;
            b.members.clear();
        } else {
            b.members.remove(who);
        }
    }

    fn batch(&mut self, msg: &Message) {
        let Some(reference) = msg.param(0) else {
            return;
        };
        if let Some(id) = reference.strip_prefix('+') {
            let kind = msg.param(1).unwrap_or("");
            if !matches!(kind, "chathistory" | "soju.im/search")
                || self.batches.len() >= MAX_BATCHES
            {
                return;
            }
            self.batches.insert(
                id.to_owned(),
                Batch {
                    kind: msg.param(1).unwrap_or("").to_owned(),
                    target: msg.param(2).unwrap_or("").to_owned(),
                    lines: Vec::new(),
                },
            );
            return;
        }
        let Some(batch) = reference
            .strip_prefix('-')
            .and_then(|id| self.batches.remove(id))
        else {
            return;
        };
        match batch.kind.as_str() {
            "chathistory" => {
                let asked = self.fetching.remove(&batch.target.to_lowercase());
                let i = self.buffer_for(&batch.target);
                let before = self.chat.buffers[i].lines.len();
                // Event playback in a room: a QUIT's or NICK's "target" is no buffer, the
                // batch's is.
                let lines: Vec<Line> = batch.lines.into_iter().map(|(_, l)| l).collect();
                let got = lines.len();
                self.chat.buffers[i].merge_history(lines);
                let b = &mut self.chat.buffers[i];
                // An answer with fewer messages than asked for says nothing is older.
                if asked.is_some_and(|limit| got < limit) {
                    b.history_done = true;
                }
                // Keep the view where it was when older lines come in above it.
                if b.scroll > 0 {
                    b.scroll += b.lines.len().saturating_sub(before);
                }
            }
            "soju.im/search" => {
                let n = batch.lines.len();
                let shown = self.chat.active;
                self.chat.add(
                    shown,
                    Line::new(
                        Kind::Info,
                        "",
                        &format!("{n} messages found (oldest first):"),
                    ),
                );
                for (target, line) in batch.lines {
                    let text = format!(
                        "[{}] [{target}] <{}> {}",
                        utc_minute(line.time),
                        line.nick,
                        line.text
                    );
                    self.chat.add(shown, Line::new(Kind::Info, "", &text));
                }
            }
            _ => {
                // Unknown batches: their lines as if they came alone.
                for (target, line) in batch.lines {
                    let kind = if is_room(&target) {
                        BufferKind::Room
                    } else {
                        BufferKind::Private
                    };
                    let i = self.chat.buffer(&target, kind);
                    self.chat.add(i, line);
                }
            }
        }
    }
}

mod commands;
pub use commands::{split_text, utc_minute};

#[cfg(test)]
mod tests;

/// The parameters between the first (our nick, in numerics) and the last (the text): none
/// when there are fewer than three.
fn middle(params: &[String]) -> &[String] {
    params.get(1..params.len().saturating_sub(1)).unwrap_or(&[])
}
