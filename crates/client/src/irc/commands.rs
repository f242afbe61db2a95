//! What the user types, as IRC: the session's commands (`/join`, `/msg`, ...) and chat lines.

use super::*;

impl Session {
    /// Sends `text` to `target` (split into messages that fit), and shows it at once unless
    /// the server echoes it.
    fn say(&mut self, target: &str, text: &str, action: bool) {
        let i = self.buffer_for(target);
        for piece in split_text(text, MAX_TEXT) {
            if action {
                self.send(format!("PRIVMSG {target} :\x01ACTION {piece}\x01"));
            } else {
                self.send(format!("PRIVMSG {target} :{piece}"));
            }
            if !self.caps.contains("echo-message") {
                let nick = self.chat.nick.clone();
                let kind = if action { Kind::Action } else { Kind::Message };
                self.chat.add(i, Line::new(kind, &nick, piece));
            }
        }
    }

    /// Acts on a line the user typed in the shown buffer.
    pub fn command(&mut self, input: &str) -> Flow {
        let input = input.trim_end_matches(['\r', '\n']);
        if input.is_empty() {
            return Flow::Continue;
        }
        let active = self.chat.active().name.clone();
        let active_kind = self.chat.active().kind;
        let (text, is_command) = match input.strip_prefix('/') {
            Some(rest) if rest.starts_with('/') => (rest, false),
            Some(rest) => (rest, true),
            None => (input, false),
        };
        if !is_command {
            if active_kind == BufferKind::Server {
                self.chat.info(
                    Kind::Error,
                    "this is the server's window: /join #room or /msg NICK first",
                );
            } else if !self.registered {
                self.chat.info(Kind::Error, "not connected: not sent");
            } else {
                self.say(&active, text, false);
            }
            return Flow::Continue;
        }
        let (verb, rest) = text.split_once(' ').unwrap_or((text, ""));
        let rest = rest.trim();
        let args: Vec<&str> = rest.split_whitespace().collect();
        let connected = self.registered;
        match verb.to_ascii_lowercase().as_str() {
            "quit" | "exit" => {
                let reason = if rest.is_empty() { "bye" } else { rest };
                if connected {
                    self.send(format!("QUIT :{reason}"));
                }
                return Flow::Quit;
            }
            "help" => {
                let help = "/join #room, /part [#room] [reason], /msg NICK text, /query NICK, \
                     /me action, /nick NAME, /topic [text], /names, /history [N], \
                     /search WORDS, /register PASSWORD, /close, /quote RAW LINE, /quit [reason]; \
                     Alt-1..9 or Ctrl-N/Ctrl-P switch windows, PageUp/PageDown scroll \
                     (further back fetches history), Tab completes nicks and commands";
                self.chat.info(Kind::Info, help);
            }
            _ if !connected => self.chat.info(Kind::Error, "not connected: not sent"),
            "join" | "j" => match args.first() {
                Some(rooms) => {
                    let rooms: Vec<String> = rooms
                        .split(',')
                        .filter(|r| !r.is_empty())
                        .map(|r| {
                            if is_room(r) {
                                r.to_owned()
                            } else {
                                format!("#{r}")
                            }
                        })
                        .collect();
                    for r in &rooms {
                        match self.chat.find(r) {
                            Some(i) if !self.chat.buffers[i].parted => self.chat.show(i),
                            _ => {
                                self.show_on_join.insert(r.to_lowercase());
                            }
                        }
                    }
                    self.send(format!("JOIN {}", rooms.join(",")));
                }
                None => self.chat.info(Kind::Error, "usage: /join #room"),
            },
            "part" | "leave" => {
                let (room, reason) = match args.first() {
                    Some(r) if is_room(r) => (r.to_string(), rest[r.len()..].trim()),
                    _ => (active.clone(), rest),
                };
                if !is_room(&room) {
                    self.chat.info(Kind::Error, "usage: /part #room [reason]");
                } else if reason.is_empty() {
                    self.send(format!("PART {room}"));
                } else {
                    self.send(format!("PART {room} :{reason}"));
                }
            }
            "msg" | "query" | "q" => {
                let Some(nick) = args.first() else {
                    self.chat.info(Kind::Error, "usage: /msg NICK text");
                    return Flow::Continue;
                };
                let text = rest[nick.len()..].trim_start();
                let i = self.buffer_for(nick);
                if verb.eq_ignore_ascii_case("msg") && text.is_empty() {
                    self.chat.info(Kind::Error, "usage: /msg NICK text");
                    return Flow::Continue;
                }
                if !verb.eq_ignore_ascii_case("msg") {
                    self.chat.show(i);
                    if !is_room(nick) && self.chat.buffers[i].lines.is_empty() {
                        self.fetch_latest(nick);
                    }
                }
                if !text.is_empty() {
                    self.say(nick, text, false);
                }
            }
            "me" => {
                if active_kind == BufferKind::Server {
                    self.chat
                        .info(Kind::Error, "/me needs a room or a conversation");
                } else {
                    self.say(&active, rest, true);
                }
            }
            "nick" => match args.first() {
                Some(nick) => {
                    self.wanted = (*nick).to_owned();
                    self.send(format!("NICK {nick}"));
                }
                None => self.chat.info(Kind::Error, "usage: /nick NAME"),
            },
            "topic" => {
                if !is_room(&active) {
                    self.chat.info(Kind::Error, "/topic works in a room");
                } else if rest.is_empty() {
                    let topic = self.chat.active().topic.clone();
                    let text = if topic.is_empty() {
                        format!("{active} has no topic")
                    } else {
                        format!("topic of {active}: {topic}")
                    };
                    self.chat.info(Kind::Info, &text);
                } else {
                    self.send(format!("TOPIC {active} :{rest}"));
                }
            }
            "names" | "who" => {
                let b = self.chat.active();
                let names: Vec<String> = b.members.iter().map(|(n, p)| format!("{p}{n}")).collect();
                let text = format!("in {} ({}): {}", b.name, names.len(), names.join(" "));
                self.chat.info(Kind::Info, &text);
            }
            "history" => {
                let n: usize = args
                    .first()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(HISTORY_PAGE);
                if active_kind == BufferKind::Server {
                    self.chat
                        .info(Kind::Error, "/history works in a room or a conversation");
                } else if !self.caps.contains("draft/chathistory") {
                    self.chat.info(Kind::Error, "this server keeps no history");
                } else {
                    let limit = n.clamp(1, 1000);
                    self.fetching.insert(active.to_lowercase(), limit);
                    self.send(format!(
                        "CHATHISTORY LATEST {active} * {}",
                        n.clamp(1, 1000)
                    ));
                }
            }
            "search" => {
                if rest.is_empty() {
                    self.chat.info(Kind::Error, "usage: /search WORDS");
                } else {
                    let escaped = escape_tag(rest);
                    self.send(format!("SEARCH text={escaped}"));
                }
            }
            "register" => {
                // draft/account-registration: the account is the current nick; once made, a
                // reconnect logs in to it (SASL).
                if rest.is_empty() {
                    self.chat.info(Kind::Error, "usage: /register PASSWORD");
                } else {
                    self.pending_password = Some(rest.to_owned());
                    self.send(format!("REGISTER * * :{rest}"));
                }
            }
            "close" | "wc" => {
                let i = self.chat.active;
                if is_room(&active) && !self.chat.active().parted {
                    self.send(format!("PART {active}"));
                }
                self.chat.close(i);
            }
            "quote" | "raw" => {
                if rest.is_empty() || rest.contains(['\r', '\n', '\0']) {
                    self.chat.info(Kind::Error, "usage: /quote IRC LINE");
                } else {
                    self.send(rest.to_owned());
                }
            }
            other => {
                self.chat
                    .info(Kind::Error, &format!("unknown command /{other}; try /help"));
            }
        }
        Flow::Continue
    }
}

/// `text` in pieces of at most `max` bytes, cut at spaces where possible, never inside a
/// character.
pub fn split_text(text: &str, max: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut cut = max;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let at = rest[..cut]
            .rfind(' ')
            .filter(|&s| s > max / 2)
            .unwrap_or(cut);
        pieces.push(&rest[..at]);
        rest = rest[at..].trim_start_matches(' ');
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(rest);
    }
    pieces
}

/// A message-tag value escaped (`\s` for spaces, and so on).
fn escape_tag(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// `YYYY-MM-DD HH:MM` in UTC.
pub fn utc_minute(ms: Millis) -> String {
    let full = obrol_wire::irc::format_time(u64::try_from(ms).unwrap_or(0));
    // `YYYY-MM-DDThh:mm:ss.sssZ`: ASCII, so these are character boundaries.
    format!("{} {}", &full[..10], &full[11..16])
}
