//! Rooms as members see them: joining and leaving, member lists, topics, modes, kicks and
//! invitations. The rules themselves (who may join, speak or set what) are in
//! [`crate::domain::room`]; this is where they are applied and everyone concerned is told.
use obrol_store::history::Kind;
use smallvec::SmallVec;

use super::Member;
use crate::api::{caps, ClientId};
use crate::domain::names::{fold, mask_matches, normalize_mask};
use crate::domain::room::{IdSet, Room, MAX_BANS};
use crate::domain::{unix_now, MODES_PER_LINE};
use crate::event::{Event, Refusal, WhoRow, WhoisInfo};

use super::Router;

impl Router {
    /// Sends a room's member list (IRC `NAMES`) to `id`, prefixed as its capabilities ask.
    pub(super) fn names(&mut self, id: ClientId, key: &str) {
        let caps = self.members.get(&id).map_or(0, |m| m.caps);
        let Some(room) = self.rooms.get(key) else {
            return;
        };
        let multi = caps & caps::MULTI_PREFIX != 0;
        let full = caps & caps::USERHOST_IN_NAMES != 0;
        if room.secret && !room.members.contains(&id) {
            let name = room.name.clone();
            return self.tell(
                id,
                &Event::Who {
                    room: &name,
                    nicks: "",
                    count: 0,
                    secret: true,
                },
            );
        }
        // Plain clients have no room operator commands, so no prefixes either.
        let prefixed = self
            .members
            .get(&id)
            .is_some_and(|m| m.proto.shows_prefixes());
        let mut nicks = String::with_capacity(room.members.len() * 12);
        let mut count = 0;
        for &mid in &room.members {
            let Some(m) = self.members.get(&mid) else {
                continue;
            };
            if count > 0 {
                nicks.push(' ');
            }
            count += 1;
            if prefixed {
                nicks.push_str(room.prefix(mid, multi));
            }
            nicks.push_str(&m.who.nick);
            if full {
                nicks.push('!');
                nicks.push_str(&m.who.user);
                nicks.push('@');
                nicks.push_str(&m.who.host);
            }
        }
        let name = room.name.clone();
        let secret = room.secret;
        self.tell(
            id,
            &Event::Who {
                room: &name,
                nicks: &nicks,
                count,
                secret,
            },
        );
    }

    pub(super) fn topic(&mut self, id: ClientId, room: &str, topic: Option<String>) {
        let key = fold(room);
        let Some(r) = self.rooms.get_mut(&key) else {
            return self.refuse(id, Refusal::NoSuchRoom(room.to_owned()));
        };
        let name = r.name.clone();
        if r.secret && !r.members.contains(&id) {
            // A secret room does not exist for those outside it (RFC 2811 4.2.6).
            return self.refuse(id, Refusal::NoSuchRoom(room.to_owned()));
        }
        let Some(text) = topic else {
            let t = r.extra().topic.clone();
            let topic = t.as_ref().map(|(t, by, at)| (t.as_str(), by.as_str(), *at));
            return self.tell(id, &Event::Topic { room: &name, topic });
        };
        if !r.members.contains(&id) {
            return self.refuse(id, Refusal::NotInRoom(name.to_string()));
        }
        if r.topic_ops_only && !r.ops.contains(&id) {
            return self.refuse(id, Refusal::ChanOpNeeded(name.to_string()));
        }
        let Some(who) = self.members.get(&id).map(|m| m.who.clone()) else {
            return;
        };
        r.extra_mut().topic =
            (!text.is_empty()).then(|| (text.clone(), who.nick.to_string(), unix_now()));
        let msgid = self.note(&key, Kind::Topic, &who, &text);
        self.emit_room_event(
            &key,
            &Event::TopicChanged {
                who: &who,
                room: &name,
                topic: &text,
                msgid: msgid.as_deref(),
            },
            None,
        );
    }

    /// WHO: a room's members, one nick, or every visible user whose nick matches a mask
    /// (`*`, `0` and wildcards). An invisible user (`+i`) shows only to those who share a room
    /// with it (Modern IRC, WHO).
    pub(super) fn who_query(&mut self, id: ClientId, mask: &str, whox: Option<&str>) {
        let multi = self
            .members
            .get(&id)
            .is_some_and(|m| m.caps & caps::MULTI_PREFIX != 0);
        let row = |m: &Member, room: Option<String>, prefix: &'static str| WhoRow {
            room,
            who: m.who.clone(),
            away: m.away.is_some(),
            prefix,
            oper: m.oper,
            realname: m.realname.to_string(),
        };
        let mut rows = Vec::new();
        if let Some(room) = mask.strip_prefix('#') {
            let Some(r) = self.rooms.get(&fold(room)) else {
                return self.tell(
                    id,
                    &Event::WhoReply {
                        mask,
                        rows: &rows,
                        whox,
                    },
                );
            };
            let inside = r.members.contains(&id);
            if !r.secret || inside {
                for &mid in &r.members {
                    if let Some(m) = self.members.get(&mid) {
                        if m.invisible && !inside && mid != id {
                            continue;
                        }
                        rows.push(row(m, Some(r.name.to_string()), r.prefix(mid, multi)));
                    }
                }
            }
        } else if mask.contains(['*', '?']) || mask == "0" {
            let pattern = if mask == "0" { "*" } else { mask };
            let mut found: Vec<&Member> = self
                .members
                .iter()
                .filter(|(&mid, m)| {
                    mask_matches(pattern, &m.who.nick)
                        && (!m.invisible || mid == id || self.share_a_room(id, mid))
                })
                .map(|(_, m)| &**m)
                .collect();
            found.sort_by(|a, b| a.who.nick.cmp(&b.who.nick));
            rows.extend(found.into_iter().map(|m| row(m, None, "")));
        } else if let Some(m) = self.nicks.owner(mask).and_then(|t| self.members.get(&t)) {
            rows.push(row(m, None, ""));
        }
        self.tell(
            id,
            &Event::WhoReply {
                mask,
                rows: &rows,
                whox,
            },
        );
    }

    /// Whether `a` and `b` are in some room together.
    fn share_a_room(&self, a: ClientId, b: ClientId) -> bool {
        let (Some(ma), Some(mb)) = (self.members.get(&a), self.members.get(&b)) else {
            return false;
        };
        ma.rooms.iter().any(|k| mb.rooms.contains(k))
    }

    pub(super) fn whois(&mut self, id: ClientId, nick: &str) {
        let Some(target) = self.nicks.owner(nick) else {
            self.refuse(id, Refusal::NoSuchNick(nick.to_owned()));
            return self.tell(id, &Event::WhoisEnd(nick));
        };
        let Some(m) = self.members.get(&target) else {
            return;
        };
        let rooms = m
            .rooms
            .iter()
            .filter_map(|k| self.rooms.get(k))
            // Secret rooms show only to those who are in them too.
            .filter(|r| !r.secret || r.members.contains(&id))
            .map(|r| format!("{}{}", r.prefix(target, false), r.name))
            .collect();
        let info = WhoisInfo {
            who: m.who.clone(),
            realname: m.realname.to_string(),
            rooms,
            away: m.away.as_deref().map(str::to_owned),
            idle_secs: m.last_spoke.elapsed().as_secs(),
            signon: u64::from(m.signon),
            oper: m.oper,
            account: m.who.account.as_ref().map(|a| a.to_string()),
        };
        self.tell(id, &Event::Whois(&info));
    }

    pub(super) fn room_mode(
        &mut self,
        id: ClientId,
        room: &str,
        changes: Vec<(bool, char, Option<String>)>,
    ) {
        let key = fold(room);
        let Some(r) = self.rooms.get(&key) else {
            return self.refuse(id, Refusal::NoSuchRoom(room.to_owned()));
        };
        let name = r.name.clone();
        if changes.is_empty() {
            let modes = r.modes(r.members.contains(&id));
            let created = r.created;
            return self.tell(
                id,
                &Event::RoomModes {
                    room: &name,
                    modes: &modes,
                    created,
                },
            );
        }
        // `MODE #room b` (no mask) lists bans; anyone may ask.
        if changes.iter().all(|(_, c, arg)| *c == 'b' && arg.is_none()) {
            let masks = r.extra().bans.clone();
            return self.tell(
                id,
                &Event::BanList {
                    room: &name,
                    masks: &masks,
                },
            );
        }
        if !r.ops.contains(&id) {
            return self.refuse(id, Refusal::ChanOpNeeded(name.to_string()));
        }
        let mut applied: Vec<String> = Vec::new();
        let mut with_argument = 0;
        for (adding, mode, arg) in changes {
            let sign = if adding { '+' } else { '-' };
            // At most MODES_PER_LINE changes that take an argument per line (ISUPPORT MODES);
            // the rest of the line is ignored, as other servers do.
            if arg.is_some() {
                with_argument += 1;
                if with_argument > MODES_PER_LINE {
                    continue;
                }
            }
            let target = match (mode, &arg) {
                ('o' | 'v', Some(nick)) => {
                    let Some(t) = self.nicks.owner(nick) else {
                        self.refuse(id, Refusal::NoSuchNick(nick.clone()));
                        continue;
                    };
                    if !self.rooms.get(&key).is_some_and(|r| r.members.contains(&t)) {
                        let refusal = Refusal::UserNotInRoom {
                            nick: nick.clone(),
                            room: name.to_string(),
                        };
                        self.refuse(id, refusal);
                        continue;
                    }
                    Some(t)
                }
                _ => None,
            };
            let target_nick = target
                .and_then(|t| self.members.get(&t))
                .map(|m| m.who.nick.clone());
            let Some(r) = self.rooms.get_mut(&key) else {
                return;
            };
            let change = match (mode, arg) {
                ('o' | 'v', _) => {
                    let (Some(t), Some(nick)) = (target, target_nick) else {
                        continue;
                    };
                    let set = if mode == 'o' {
                        &mut r.ops
                    } else {
                        &mut r.extra_mut().voiced
                    };
                    let changed = if adding {
                        set.insert(t)
                    } else {
                        set.remove(&t)
                    };
                    changed.then(|| format!("{sign}{mode} {nick}"))
                }
                ('b', None) => {
                    let masks = r.extra().bans.clone();
                    self.tell(
                        id,
                        &Event::BanList {
                            room: &name,
                            masks: &masks,
                        },
                    );
                    continue;
                }
                ('b', Some(mask)) => {
                    let mask = normalize_mask(&mask);
                    let present = r
                        .extra()
                        .bans
                        .iter()
                        .position(|b| b.eq_ignore_ascii_case(&mask));
                    match (adding, present) {
                        (true, None) if r.extra().bans.len() < MAX_BANS => {
                            r.extra_mut().bans.push(mask.clone());
                            Some(format!("+b {mask}"))
                        }
                        (true, None) => {
                            self.refuse(id, Refusal::BanListFull(name.to_string()));
                            continue;
                        }
                        (false, Some(at)) => {
                            r.extra_mut().bans.remove(at);
                            Some(format!("-b {mask}"))
                        }
                        _ => None,
                    }
                }
                ('k', arg) => {
                    if adding {
                        let Some(k) = arg.filter(|k| !k.is_empty() && !k.contains(' ')) else {
                            continue;
                        };
                        if r.extra().key.is_some() {
                            self.refuse(id, Refusal::KeySet(name.to_string()));
                            continue;
                        }
                        r.extra_mut().key = Some(k.clone());
                        Some(format!("+k {k}"))
                    } else {
                        r.extra_mut().key.take().map(|_| "-k *".to_owned())
                    }
                }
                ('l', arg) => {
                    if adding {
                        let Some(l) = arg.and_then(|a| a.parse::<usize>().ok()).filter(|l| *l > 0)
                        else {
                            continue;
                        };
                        r.extra_mut().limit = Some(l);
                        Some(format!("+l {l}"))
                    } else {
                        r.extra_mut().limit.take().map(|_| "-l".to_owned())
                    }
                }
                ('i' | 'm' | 's' | 't' | 'n', _) => {
                    let flag = match mode {
                        'i' => &mut r.invite_only,
                        'm' => &mut r.moderated,
                        's' => &mut r.secret,
                        't' => &mut r.topic_ops_only,
                        _ => &mut r.no_external,
                    };
                    (*flag != adding).then(|| {
                        *flag = adding;
                        format!("{sign}{mode}")
                    })
                }
                (other, _) => {
                    self.refuse(id, Refusal::UnknownMode(other));
                    continue;
                }
            };
            applied.extend(change);
        }
        let Some(who) = self.members.get(&id).map(|m| m.who.clone()) else {
            return;
        };
        for change in &applied {
            let ev = Event::ModeChanged {
                who: &who,
                room: &name,
                change,
            };
            self.emit_room_event(&key, &ev, None);
        }
        self.registered_modes(&key, &applied);
    }

    pub(super) fn kick(&mut self, id: ClientId, room: &str, nick: &str, reason: Option<String>) {
        let key = fold(room);
        let Some(r) = self.rooms.get(&key) else {
            return self.refuse(id, Refusal::NoSuchRoom(room.to_owned()));
        };
        let name = r.name.clone();
        if !r.members.contains(&id) {
            return self.refuse(id, Refusal::NotInRoom(name.to_string()));
        }
        if !r.ops.contains(&id) {
            return self.refuse(id, Refusal::ChanOpNeeded(name.to_string()));
        }
        let target = self.nicks.owner(nick);
        let Some(target) = target.filter(|t| r.members.contains(t)) else {
            return self.refuse(
                id,
                Refusal::UserNotInRoom {
                    nick: nick.to_owned(),
                    room: name.to_string(),
                },
            );
        };
        let (Some(by), Some(kicked)) = (
            self.members.get(&id).map(|m| m.who.clone()),
            self.members.get(&target).map(|m| m.who.nick.clone()),
        ) else {
            return;
        };
        let reason = reason.unwrap_or_else(|| by.nick.to_string());
        let msgid = self.note(&key, Kind::Kick, &by, &format!("{kicked} {reason}"));
        self.emit_room_event(
            &key,
            &Event::Kicked {
                by: &by,
                room: &name,
                nick: &kicked,
                reason: &reason,
                msgid: msgid.as_deref(),
            },
            None,
        );
        self.drop_membership(target, &key);
    }

    pub(super) fn invite(&mut self, id: ClientId, nick: &str, room: &str) {
        let Some(target) = self.nicks.owner(nick) else {
            return self.refuse(id, Refusal::NoSuchNick(nick.to_owned()));
        };
        let key = fold(room);
        if let Some(r) = self.rooms.get(&key) {
            if !r.members.contains(&id) {
                return self.refuse(id, Refusal::NotInRoom(r.name.to_string()));
            }
            if r.members.contains(&target) {
                let name = r.name.clone();
                return self.refuse(
                    id,
                    Refusal::AlreadyInRoom {
                        nick: nick.to_owned(),
                        room: name.to_string(),
                    },
                );
            }
        }
        let name = self
            .rooms
            .get(&key)
            .map_or_else(|| room.to_owned(), |r| r.name.to_string());
        let (Some(by), Some(to)) = (
            self.members.get(&id).map(|m| m.who.clone()),
            self.members.get(&target).map(|m| m.who.nick.clone()),
        ) else {
            return;
        };
        if let Some(r) = self.rooms.get_mut(&key) {
            if r.invite_only && !r.ops.contains(&id) {
                return self.refuse(id, Refusal::ChanOpNeeded(name));
            }
            r.extra_mut().invited.insert(target);
        }
        self.tell(
            id,
            &Event::Inviting {
                nick: &to,
                room: &name,
            },
        );
        self.tell(
            target,
            &Event::Invited {
                by: &by,
                nick: &to,
                room: &name,
            },
        );
        // invite-notify: the room's other members who asked to hear about invitations.
        let audience: Vec<ClientId> = self.rooms.get(&key).map_or_else(Vec::new, |r| {
            r.members
                .iter()
                .copied()
                .filter(|&i| i != id && i != target)
                .filter(|i| {
                    self.members
                        .get(i)
                        .is_some_and(|m| m.caps & caps::INVITE_NOTIFY != 0)
                })
                .collect()
        });
        self.emit_each(
            &audience,
            &Event::InviteNotice {
                by: &by,
                nick: &to,
                room: &name,
            },
        );
    }

    pub(super) fn join(&mut self, id: ClientId, room: &str, given_key: Option<&str>) {
        let key = fold(room);
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        if m.rooms.contains(&key) {
            if !m.proto.rejoin_switches_room() {
                return; // IRC: joining a channel one is in is silently ignored
            }
            m.current = Some(key.clone());
            let name = self
                .rooms
                .get(&key)
                .map_or(room.to_owned(), |r| r.name.to_string());
            return self.tell(id, &Event::Info(&format!("you are now talking in {name}")));
        }
        if m.rooms.len() >= self.settings.max_rooms_per_client {
            let max = self.settings.max_rooms_per_client;
            let room = room.to_owned();
            return self.refuse(id, Refusal::TooManyRooms { room, max });
        }
        let Some(m) = self.members.get(&id) else {
            return;
        };
        if let Some(r) = self.rooms.get_mut(&key) {
            let name = r.name.clone();
            let invited = r.extras.as_mut().is_some_and(|e| e.invited.remove(&id));
            let refusal = if r.banned(&m.who) && !invited {
                Some(Refusal::BannedFromRoom(name.to_string()))
            } else if r.invite_only && !invited {
                Some(Refusal::InviteOnly(name.to_string()))
            } else if r.extra().key.is_some() && r.extra().key.as_deref() != given_key {
                Some(Refusal::BadKey(name.to_string()))
            } else if r.extra().limit.is_some_and(|l| r.members.len() >= l) {
                Some(Refusal::RoomFull(name.to_string()))
            } else {
                None
            };
            if let Some(refusal) = refusal {
                return self.refuse(id, refusal);
            }
        }
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        m.rooms.push(key.clone());
        m.current = Some(key.clone());
        let who = m.who.clone();
        let realname = m.realname.clone();
        let away = m.away.as_deref().map(str::to_owned);
        // The server's own room (where plain clients are put) belongs to the server: nobody
        // operates it by being first in, so nobody can ban the others out of it.
        // A registered room is operated by the accounts that operate it (see `services`).
        let registered = self.registered.get(&key).map(|r| r.flags.clone());
        let founder = if key == fold(&self.settings.default_room) || registered.is_some() {
            IdSet::default()
        } else {
            IdSet(smallvec::smallvec![id])
        };
        let room = self.rooms.entry(key.clone()).or_insert_with(|| {
            let mut room = Box::new(Room {
                name: room.into(),
                members: SmallVec::new(),
                // The first joiner creates the room and operates it.
                ops: founder,
                topic_ops_only: true,
                no_external: true,
                created: unix_now(),
                invite_only: false,
                moderated: false,
                secret: false,
                extras: None,
            });
            if let Some(flags) = &registered {
                super::services::apply_flags(&mut room, flags);
            }
            room
        });
        room.members.push(id);
        let name = room.name.clone();
        let topic = room.extra().topic.clone();
        let msgid = self.note(&key, Kind::Join, &who, &realname);
        self.emit_room_event(
            &key,
            &Event::Joined {
                who: &who,
                room: &name,
                realname: &realname,
                msgid: msgid.as_deref(),
            },
            None,
        );
        self.registered_join(id, &key);
        if let Some(message) = away.as_deref() {
            // away-notify: those who can know the newcomer is away learn it at once.
            let audience: Vec<ClientId> = self.rooms.get(&key).map_or_else(Vec::new, |r| {
                r.members
                    .iter()
                    .copied()
                    .filter(|&i| i != id)
                    .filter(|i| {
                        self.members
                            .get(i)
                            .is_some_and(|m| m.caps & caps::AWAY_NOTIFY != 0)
                    })
                    .collect()
            });
            let message = Some(message);
            self.emit_each(&audience, &Event::AwayChanged { who: &who, message });
        }
        if let Some((text, by, at)) = &topic {
            let topic = Some((text.as_str(), by.as_str(), *at));
            self.tell(id, &Event::Topic { room: &name, topic });
        }
        self.names(id, &key);
        self.replay(id, &key, &name);
    }

    pub(super) fn part(&mut self, id: ClientId, key: &str, reason: Option<&str>) {
        let Some(m) = self.members.get(&id) else {
            return;
        };
        let Some(name) = self.rooms.get(key).map(|r| r.name.clone()) else {
            return self.refuse(id, Refusal::NoSuchRoom(key.to_owned()));
        };
        if !m.rooms.iter().any(|r| r == key) {
            return self.refuse(id, Refusal::NotInRoom(name.to_string()));
        }
        let who = m.who.clone();
        let msgid = self.note(key, Kind::Part, &who, reason.unwrap_or(""));
        // The leaver hears its own part, as IRC clients expect.
        self.emit_room_event(
            key,
            &Event::Parted {
                who: &who,
                room: &name,
                reason,
                msgid: msgid.as_deref(),
            },
            None,
        );
        self.drop_membership(id, key);
    }

    /// Takes `id` out of room `key` on both sides (after the notices were sent).
    pub(super) fn drop_membership(&mut self, id: ClientId, key: &str) {
        self.leave_room(id, key);
        if let Some(m) = self.members.get_mut(&id) {
            m.rooms.retain(|r| r != key);
            if m.current.as_deref() == Some(key) {
                m.current = m.rooms.last().cloned();
            }
        }
    }

    /// Removes `id` from a room's member list, dropping the room when it empties.
    pub(super) fn leave_room(&mut self, id: ClientId, key: &str) {
        if let Some(room) = self.rooms.get_mut(key) {
            room.members.retain(|m| *m != id);
            room.ops.remove(&id);
            if let Some(e) = room.extras.as_mut() {
                e.voiced.remove(&id);
            }
            if room.members.is_empty() {
                self.rooms.remove(key);
                self.forget_replay(key);
            }
        }
    }
}
