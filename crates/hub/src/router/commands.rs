//! What each client command does: the dispatch of [`Command`]s, chat, nick changes and the
//! queries that read the router's state.
use std::time::Instant;

use crate::api::{caps, ClientId};
use crate::domain::names::{fold, valid_nick, valid_room};
use obrol_wire::irc::Tag;

use crate::event::{Command, Event, Identity, OperVerdict, Refusal};

use super::Router;

impl Router {
    pub(super) fn command(&mut self, id: ClientId, cmd: Command) {
        let Some(m) = self.members.get(&id) else {
            return;
        };
        if self.settings.accounts_required && m.who.account.is_none() && !allowed_before_login(&cmd)
        {
            return self.refuse(id, Refusal::AccountRequired);
        }
        match cmd {
            Command::Say { text, action } => {
                let current = self.members.get(&id).and_then(|m| m.current.clone());
                match current {
                    Some(room) => self.say_in_room(id, &room, &text, action, false, &[]),
                    None => self.refuse(id, Refusal::NoRoom),
                }
            }
            Command::SayTo {
                target,
                text,
                action,
                notice,
                tags,
            } => {
                if let Some(room) = target.strip_prefix('#') {
                    let key = fold(room);
                    let open_to_outsiders = self.rooms.get(&key).is_some_and(|r| !r.no_external);
                    if self.is_member(id, &key) || open_to_outsiders {
                        self.say_in_room(id, &key, &text, action, notice, &tags);
                    } else if notice {
                        // NOTICE never gets an error reply (RFC 2812 3.3.2): no loops between bots.
                    } else if self.rooms.contains_key(&key) {
                        // +n: only members may send.
                        self.refuse(id, Refusal::CannotSend(room.to_owned()));
                    } else {
                        self.refuse(id, Refusal::NoSuchRoom(room.to_owned()));
                    }
                } else if fold(&target) == "chanserv" && self.accounts.is_some() {
                    if !notice {
                        self.chanserv(id, &text);
                    }
                } else {
                    self.say_privately(id, &target, &text, action, notice, &tags);
                }
            }
            Command::Nick(new) => self.rename(id, &new),
            Command::LoggedIn(account) => self.logged_in(id, &account),
            Command::Join { room, key } => {
                if !valid_room(&room) {
                    self.refuse(id, Refusal::BadRoom(room));
                } else {
                    self.join(id, &room, key.as_deref());
                }
            }
            Command::Oper { name, verdict } => {
                if !self.check_oper(id, &name, verdict) {
                    return;
                }
                if let Some(m) = self.members.get_mut(&id) {
                    if !m.oper {
                        self.oper_count += 1;
                    }
                    m.oper = true;
                    let nick = m.who.nick.clone();
                    self.tell(id, &Event::YoureOper);
                    self.tell(
                        id,
                        &Event::UserModeChanged {
                            nick: &nick,
                            change: "+o",
                        },
                    );
                }
            }
            Command::Kill { nick, reason } => {
                if !self.members.get(&id).is_some_and(|m| m.oper) {
                    return self.refuse(id, Refusal::NoPrivileges);
                }
                let Some(target) = self.nicks.owner(&nick) else {
                    return self.refuse(id, Refusal::NoSuchNick(nick));
                };
                let by = self
                    .members
                    .get(&id)
                    .map_or_else(String::new, |m| m.who.nick.to_string());
                let why = format!("Killed ({by} ({reason}))");
                self.remove(target, &why, Some(&why));
            }
            Command::Wallops(text) => {
                let Some(from) = self
                    .members
                    .get(&id)
                    .filter(|m| m.oper)
                    .map(|m| m.who.clone())
                else {
                    return self.refuse(id, Refusal::NoPrivileges);
                };
                let ids: Vec<ClientId> = self
                    .members
                    .iter()
                    .filter(|(_, m)| m.wallops || m.oper)
                    .map(|(&k, _)| k)
                    .collect();
                self.emit_each(
                    &ids,
                    &Event::Wallops {
                        from: &from,
                        text: &text,
                    },
                );
            }
            Command::Whowas { nick, count } => {
                let entries = self.whowas.lookup(&nick, count);
                self.tell(
                    id,
                    &Event::Whowas {
                        nick: &nick,
                        entries: &entries,
                    },
                );
            }
            Command::SetName(realname) => {
                let Some(m) = self.members.get_mut(&id) else {
                    return;
                };
                m.realname = realname.as_str().into();
                let who = m.who.clone();
                let audience = self.audience(id, caps::SETNAME);
                self.emit_each(
                    &audience,
                    &Event::RealnameChanged {
                        who: &who,
                        realname: &realname,
                    },
                );
            }
            Command::Part { room, reason } => {
                let key = match room {
                    Some(r) => fold(&r),
                    None => match self.members.get(&id).and_then(|m| m.current.clone()) {
                        Some(k) => k,
                        None => return self.refuse(id, Refusal::NoRoom),
                    },
                };
                self.part(id, &key, reason.as_deref());
            }
            Command::Rooms => self.start_listing(id),
            Command::Who(room) => {
                let key = match room {
                    Some(r) => fold(&r),
                    None => match self.members.get(&id).and_then(|m| m.current.clone()) {
                        Some(k) => k,
                        None => return self.refuse(id, Refusal::NoRoom),
                    },
                };
                let irc = self
                    .members
                    .get(&id)
                    .is_some_and(|m| m.proto.empty_list_for_unknown_room());
                match self.rooms.get(&key) {
                    Some(_) => self.names(id, &key),
                    // IRC NAMES of an unknown channel is just its end (RFC 2812 3.2.5).
                    None if irc => self.tell(
                        id,
                        &Event::Who {
                            room: &key,
                            nicks: "",
                            count: 0,
                            secret: false,
                        },
                    ),
                    None => self.refuse(id, Refusal::NoSuchRoom(key.to_string())),
                }
            }
            Command::PartAll => {
                for key in self.rooms_of(id) {
                    self.part(id, &key, None);
                }
            }
            Command::Topic { room, topic } => self.topic(id, &room, topic),
            Command::WhoQuery(mask, whox) => self.who_query(id, &mask, whox.as_deref()),
            Command::Whois(nick) => self.whois(id, &nick),
            Command::Ison(nicks) => {
                let online: Vec<String> = nicks
                    .iter()
                    .filter_map(|n| self.nicks.owner(n))
                    .filter_map(|t| self.members.get(&t))
                    .map(|m| m.who.nick.to_string())
                    .collect();
                self.tell(id, &Event::Ison(&online));
            }
            Command::Userhost(nicks) => {
                let entries: Vec<String> = nicks
                    .iter()
                    .take(5)
                    .filter_map(|n| self.nicks.owner(n))
                    .filter_map(|t| self.members.get(&t))
                    .map(|m| {
                        let away = if m.away.is_some() { '-' } else { '+' };
                        format!("{}={away}{}@{}", m.who.nick, m.who.user, m.who.host)
                    })
                    .collect();
                self.tell(id, &Event::Userhost(&entries));
            }
            Command::Away(message) => {
                let away = message.filter(|m| !m.is_empty());
                let now_away = away.is_some();
                let Some(m) = self.members.get_mut(&id) else {
                    return;
                };
                m.away = away.as_deref().map(Box::from);
                let who = m.who.clone();
                self.tell(id, &Event::AwayStatus(now_away));
                let mut audience = self.audience(id, caps::AWAY_NOTIFY);
                audience.retain(|&a| a != id);
                let message = away.as_deref();
                self.emit_each(&audience, &Event::AwayChanged { who: &who, message });
            }
            Command::RoomMode { room, changes } => self.room_mode(id, &room, changes),
            Command::UserMode { nick, changes } => {
                let Some(m) = self.members.get_mut(&id) else {
                    return;
                };
                if fold(&nick) != fold(&m.who.nick) {
                    return self.refuse(id, Refusal::UsersDontMatch);
                }
                let mut applied = String::new();
                let mut unknown = None;
                for (adding, mode) in changes {
                    let flag = match mode {
                        'i' => &mut m.invisible,
                        'w' => &mut m.wallops,
                        // Operator status is granted by OPER only, but may be dropped.
                        'o' if !adding => &mut m.oper,
                        'o' => continue,
                        other => {
                            unknown = Some(other);
                            continue;
                        }
                    };
                    if *flag != adding {
                        *flag = adding;
                        applied.push(if adding { '+' } else { '-' });
                        applied.push(mode);
                        match mode {
                            'o' => self.oper_count -= 1, // only ever dropped here
                            'i' if adding => self.invisible_count += 1,
                            'i' => self.invisible_count -= 1,
                            _ => {}
                        }
                    }
                }
                let nick = m.who.nick.clone();
                let mut modes = String::from("+");
                for (on, c) in [(m.invisible, 'i'), (m.oper, 'o'), (m.wallops, 'w')] {
                    if on {
                        modes.push(c);
                    }
                }
                if let Some(c) = unknown {
                    self.refuse(id, Refusal::UnknownUserMode(c));
                }
                let modes = modes.as_str();
                if applied.is_empty() {
                    self.tell(id, &Event::UserModes(modes));
                } else {
                    self.tell(
                        id,
                        &Event::UserModeChanged {
                            nick: &nick,
                            change: &applied,
                        },
                    );
                }
            }
            Command::Kick { room, nick, reason } => self.kick(id, &room, &nick, reason),
            Command::Invite { nick, room } => self.invite(id, &nick, &room),
            Command::Lusers => {
                let census = self.census();
                self.tell(id, &Event::Lusers(census));
            }
            Command::TagMsg { target, tags } => {
                let Some(m) = self.members.get(&id) else {
                    return;
                };
                let from = m.who.clone();
                let echo = m.caps & caps::ECHO_MESSAGE != 0;
                let msgid = self.next_msgid();
                if let Some(room) = target.strip_prefix('#') {
                    let key = fold(room);
                    if self.is_member(id, &key) {
                        let name = self
                            .rooms
                            .get(&key)
                            .map_or(room.to_owned(), |r| r.name.to_string());
                        let ev = Event::TagMsg {
                            from: &from,
                            room: Some(&name),
                            to: "",
                            tags: &tags,
                            msgid: &msgid,
                        };
                        self.emit_room_event(&key, &ev, (!echo).then_some(id));
                    } else {
                        self.refuse(id, Refusal::CannotSend(room.to_owned()));
                    }
                } else if let Some(t) = self.nicks.owner(&target) {
                    let to = self
                        .members
                        .get(&t)
                        .map_or_else(|| target.clone(), |m| m.who.nick.to_string());
                    let ev = Event::TagMsg {
                        from: &from,
                        room: None,
                        to: &to,
                        tags: &tags,
                        msgid: &msgid,
                    };
                    // The delivered copy is not a reply to the sender, even when it is the
                    // sender (labeled-response); the echo is.
                    self.deliver_to(t, &ev);
                    if echo {
                        self.tell(id, &ev);
                    }
                } else {
                    self.refuse(id, Refusal::NoSuchNick(target));
                }
            }
            Command::SetCaps(caps) => {
                if let Some(m) = self.members.get_mut(&id) {
                    m.caps = caps;
                }
            }
            Command::Help => self.tell(id, &Event::Help),
            Command::Quit(reason) => {
                let reason = reason.unwrap_or_else(|| "quit".into());
                let farewell = self
                    .members
                    .get(&id)
                    .map_or_else(String::new, |m| m.proto.quit_farewell(&reason));
                self.remove(id, &reason, Some(&farewell));
            }
        }
    }

    pub(super) fn say_in_room(
        &mut self,
        id: ClientId,
        key: &str,
        text: &str,
        action: bool,
        notice: bool,
        tags: &[Tag],
    ) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        m.last_spoke = Instant::now();
        let echo = m.caps & caps::ECHO_MESSAGE != 0;
        let from = m.who.clone();
        let Some(room) = self.rooms.get(key) else {
            return;
        };
        let name = room.name.clone();
        let member = room.members.contains(&id);
        if !room.may_speak(id, &from) {
            if !notice {
                self.refuse(id, Refusal::CannotSend(name.to_string()));
            }
            return;
        }
        let room_target = format!("#{name}");
        for text in split_text(&from, &room_target, text, action) {
            self.counters.messages += 1;
            let msgid = self.next_msgid();
            let time_ms = super::history::now_ms();
            self.record(&super::history::Said {
                conversation: &format!("#{key}"),
                shown_as: &room_target,
                from: &from,
                text,
                action,
                notice,
                msgid: &msgid,
                time_ms,
            });
            let event = Event::Chat {
                from: &from,
                room: Some(&name),
                text,
                action,
                notice,
                msgid: &msgid,
                tags,
                time_ms,
            };
            self.emit_room_event(key, &event, (!echo).then_some(id));
            if echo && !member {
                // Sent from outside a -n room: the echo is not part of the room's fan-out.
                self.tell(id, &event);
            }
        }
    }

    pub(super) fn say_privately(
        &mut self,
        id: ClientId,
        to: &str,
        text: &str,
        action: bool,
        notice: bool,
        tags: &[Tag],
    ) {
        let Some(target) = self.nicks.owner(to) else {
            if !notice {
                self.refuse(id, Refusal::NoSuchNick(to.to_owned()));
            }
            return;
        };
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        m.last_spoke = Instant::now();
        let from = m.who.clone();
        self.counters.messages += 1;
        if let Some(away) = self
            .members
            .get(&target)
            .and_then(|t| t.away.as_deref().map(str::to_owned))
        {
            if !notice {
                let nick = self
                    .members
                    .get(&target)
                    .map_or(to.to_owned(), |t| t.who.nick.to_string());
                self.tell(
                    id,
                    &Event::IsAway {
                        nick: &nick,
                        message: &away,
                    },
                );
            }
        }
        let to = self
            .members
            .get(&target)
            .map_or_else(|| to.to_owned(), |m| m.who.nick.to_string());
        let conversation = self.private_key(id, target);
        self.note_parties(&conversation, id, target, (&from.nick, &to));
        for text in split_text(&from, &to, text, action) {
            let msgid = self.next_msgid();
            let time_ms = super::history::now_ms();
            self.record(&super::history::Said {
                conversation: &conversation,
                shown_as: &to,
                from: &from,
                text,
                action,
                notice,
                msgid: &msgid,
                time_ms,
            });
            // The delivered copy is not a reply to the sender, even when it is the sender
            // (labeled-response labels only the echo); the echo is.
            self.deliver_to(
                target,
                &Event::Chat {
                    from: &from,
                    room: None,
                    text,
                    action,
                    notice,
                    msgid: &msgid,
                    tags,
                    time_ms,
                },
            );
            self.tell(
                id,
                &Event::SentPrivately {
                    to: &to,
                    text,
                    action,
                    notice,
                    msgid: &msgid,
                    tags,
                },
            );
        }
    }

    /// Applies what the edge found of an OPER attempt (it checked the password, and the
    /// lockout: see `proto::auth::oper`). A failure is refused and logged (at most once a
    /// second); the attempt that locks an address out, and every attempt while it is, also
    /// disconnects, so guessing costs a reconnect and then a wait, not a line.
    fn check_oper(&mut self, id: ClientId, name: &str, verdict: OperVerdict) -> bool {
        let Some(m) = self.members.get(&id) else {
            return false;
        };
        let locked = match verdict {
            OperVerdict::Granted => false,
            OperVerdict::IfAccount(ref account) => {
                let mine = m.who.account.as_deref().map(fold);
                if mine.is_some() && mine == Some(fold(account)) {
                    tracing::info!(client = id, oper = name, "OPER succeeded (by account)");
                    return true;
                }
                false
            }
            OperVerdict::Denied { locked } => locked,
            OperVerdict::Locked => true,
        };
        if verdict == OperVerdict::Granted {
            tracing::info!(client = id, oper = name, "OPER succeeded");
            return true;
        }
        self.counters.oper_failures += 1;
        if let Some(held) = self.auth_log.pass() {
            tracing::warn!(
                client = id,
                addr = %m.who.host,
                oper = name,
                "failed OPER attempt{} ({held} more since the last report)",
                if locked { "; address locked out" } else { "" }
            );
        }
        self.refuse(id, Refusal::PasswordMismatch);
        if locked {
            let why = "Too many failed OPER attempts";
            self.remove(id, why, Some(why));
        }
        false
    }

    pub(super) fn rename(&mut self, id: ClientId, new: &str) {
        if !valid_nick(new) {
            return self.refuse(id, Refusal::BadNick(new.to_owned()));
        }
        let bridged = self.members.get(&id).is_some_and(|m| m.bridged);
        if !crate::domain::names::nick_allowed(new, bridged) {
            return self.refuse(id, Refusal::ReservedNick(new.to_owned()));
        }
        match self.nicks.owner(new) {
            Some(owner) if owner != id => {
                return self.refuse(id, Refusal::NickInUse(new.to_owned()));
            }
            _ => {}
        }
        let Some(m) = self.members.get(&id) else {
            return;
        };
        if m.who.nick == new {
            return;
        }
        let old = m.who.clone();
        let realname = m.realname.clone();
        // Everyone who shares a room hears it once, and so does the member itself.
        let mut audience: Vec<ClientId> = vec![id];
        for key in &m.rooms {
            if let Some(room) = self.rooms.get(key) {
                audience.extend(&room.members);
            }
        }
        audience.sort_unstable();
        audience.dedup();
        self.whowas.remember(&old, &realname);
        self.nicks.release(&old.nick);
        self.nicks.claim(new, id);
        if let Some(m) = self.members.get_mut(&id) {
            m.who.nick = new.into();
            m.outbox.set_nick(new);
        }
        let msgid = self.shared_msgid();
        if let Some(msgid) = &msgid {
            for key in self.rooms_of(id) {
                let kind = obrol_store::history::Kind::Nick;
                self.note_as(&key, kind, &old, new, msgid.clone());
            }
        }
        let msgid = msgid.as_deref();
        self.emit_each(
            &audience,
            &Event::Renamed {
                who: &old,
                new,
                msgid,
            },
        );
        self.check_registered_nick(id);
    }

    /// The client logged in to `account` (the edge checked the password).
    pub(super) fn logged_in(&mut self, id: ClientId, account: &str) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        m.who.account = Some(account.into());
        let who = m.who.clone();
        // On a hub that requires accounts, a plain client waited outside the lobby until now.
        let enter_lobby = self.settings.accounts_required
            && m.proto.starts_in_default_room()
            && m.rooms.is_empty();
        self.check_registered_nick(id);
        self.tell(id, &Event::LoggedIn { who: &who, account });
        if enter_lobby {
            let lobby = self.settings.default_room.clone();
            self.join(id, &lobby, None);
        }
        // Registered rooms it is already in that its account operates.
        for key in self.rooms_of(id) {
            self.registered_join(id, &key);
        }
        let mut audience = self.audience(id, crate::api::caps::ACCOUNT_NOTIFY);
        audience.retain(|&other| other != id);
        self.emit_each(&audience, &Event::Account { who: &who, account });
    }

    /// A member using a registered nick without being logged in to its account is told to
    /// log in, and renamed if it has not within the grace period (the idle sweep does that).
    pub(super) fn check_registered_nick(&mut self, id: ClientId) {
        let Some(accounts) = self.accounts.clone() else {
            return;
        };
        let grace = self.settings.nick_grace;
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        let nick = m.who.nick.clone();
        let owned = m
            .who
            .account
            .as_ref()
            .is_some_and(|a| fold(a) == fold(&nick));
        if owned || !accounts.is_registered(&nick) {
            m.rename_at = 0;
            return;
        }
        // Rounded up to the next whole second: never earlier than the grace.
        let at = (crate::outbox::clock_ms() + grace.as_millis() as u64).div_ceil(1000);
        m.rename_at = u32::try_from(at).unwrap_or(u32::MAX);
        let text = format!(
            "{nick} is a registered nick: log in to it within {} s (/login PASSWORD, or SASL) or you will be renamed",
            grace.as_secs()
        );
        self.tell(id, &Event::Info(&text));
    }

    /// Renames members whose grace period for a registered nick is over.
    pub(super) fn enforce_registered_nicks(&mut self) {
        let now = crate::outbox::clock_ms() / 1000;
        let due: Vec<ClientId> = self
            .members
            .iter()
            .filter(|(_, m)| m.rename_at != 0 && u64::from(m.rename_at) <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in due {
            let Some(m) = self.members.get_mut(&id) else {
                continue;
            };
            m.rename_at = 0;
            let old = m.who.nick.clone();
            let guest = self.nicks.guest();
            let text = format!("You did not log in to {old} in time: you are now {guest}");
            self.rename(id, &guest);
            self.tell(id, &Event::Info(&text));
        }
    }
}

/// `text` as the messages it must be sent as: one, unless it is longer than what fits in one
/// IRC line (512 bytes) from `from` to `target`, the strictest limit of any protocol the hub
/// speaks. Nothing is cut off: long text becomes several messages.
fn split_text<'t>(from: &Identity, target: &str, text: &'t str, action: bool) -> Vec<&'t str> {
    // `:nick!user@host PRIVMSG target :` ... `\r\n`, and CTCP ACTION's framing.
    let overhead = 1
        + from.nick.len()
        + 1
        + from.user.len()
        + 1
        + from.host.len()
        + " PRIVMSG ".len()
        + target.len()
        + " :".len()
        + 2
        + if action { "\x01ACTION \x01".len() } else { 0 };
    let max = obrol_wire::irc::MAX_LINE.saturating_sub(overhead);
    if text.len() <= max {
        return vec![text];
    }
    crate::domain::text::split(text, max)
}

/// What a client that has not logged in may do on a hub that requires accounts: log in, name
/// itself, ask for help, leave; nothing that reads or writes a room or reaches another client.
fn allowed_before_login(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::LoggedIn(_)
            | Command::Nick(_)
            | Command::Help
            | Command::Quit(_)
            | Command::SetCaps(_)
            | Command::Lusers
    )
}
