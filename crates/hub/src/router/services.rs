//! ChanServ: rooms registered to an account keep their operators and modes across restarts.
//!
//! `/msg ChanServ REGISTER #room` (IRC: `PRIVMSG ChanServ :REGISTER #room`), by an operator of
//! the room who is logged in, registers it to their account. From then on: whoever is logged in
//! to an account that operates it gets `+o` on joining (and only they: being first in a
//! registered room gives nothing); `+o`/`-o` on a logged-in member adds or removes their
//! account; its simple modes (`imnst`) are kept. All of it is saved to the store in the
//! background (one writer thread, a room's latest state replacing one not yet written) and read
//! back at start.

use super::Router;
use crate::api::ClientId;
use crate::domain::names::{fold, Name};
use crate::domain::room::Room;
use crate::event::{Event, Identity};

/// A registered room, as the router keeps it.
#[derive(Debug, Clone)]
pub(super) struct Registered {
    pub founder: Name,
    /// Accounts that operate it, folded.
    pub ops: Vec<Name>,
    pub flags: String,
}

impl Registered {
    pub fn from_record(r: &obrol_store::RoomRecord) -> Self {
        Registered {
            founder: r.founder.as_str().into(),
            ops: r.ops.iter().map(|a| fold(a)).collect(),
            flags: r.flags.clone(),
        }
    }
}

impl Registered {
    /// What the store keeps of it, for room `name`.
    fn record(&self, name: &str) -> obrol_store::RoomRecord {
        obrol_store::RoomRecord {
            name: name.to_owned(),
            founder: self.founder.to_string(),
            flags: self.flags.clone(),
            ops: self.ops.iter().map(|a| a.to_string()).collect(),
        }
    }
}

/// A room's simple modes as letters.
pub(super) fn flags_of(room: &Room) -> String {
    let mut f = String::new();
    for (on, c) in [
        (room.invite_only, 'i'),
        (room.moderated, 'm'),
        (room.no_external, 'n'),
        (room.secret, 's'),
        (room.topic_ops_only, 't'),
    ] {
        if on {
            f.push(c);
        }
    }
    f
}

/// Sets a room's simple modes from letters.
pub(super) fn apply_flags(room: &mut Room, flags: &str) {
    room.invite_only = flags.contains('i');
    room.moderated = flags.contains('m');
    room.no_external = flags.contains('n');
    room.secret = flags.contains('s');
    room.topic_ops_only = flags.contains('t');
}

fn chanserv(server: &str) -> Identity {
    Identity {
        nick: "ChanServ".into(),
        user: "services".into(),
        host: server.into(),
        account: None,
    }
}

impl Router {
    /// A private message to ChanServ.
    pub(super) fn chanserv(&mut self, id: ClientId, text: &str) {
        let mut words = text.split_whitespace();
        let verb = words.next().unwrap_or("").to_ascii_uppercase();
        let reply = match verb.as_str() {
            "REGISTER" => match words.next() {
                Some(room) => self.register_room(id, room.trim_start_matches('#')),
                None => "usage: REGISTER #room".to_owned(),
            },
            "INFO" => match words.next().map(|r| fold(r.trim_start_matches('#'))) {
                Some(key) => match self.registered.get(&key) {
                    Some(r) => format!(
                        "#{key} is registered to {}; operators: {}; modes: +{}",
                        r.founder,
                        r.ops.join(", "),
                        r.flags
                    ),
                    None => format!("#{key} is not registered"),
                },
                None => "usage: INFO #room".to_owned(),
            },
            _ => "commands: REGISTER #room (a room you operate, to your account: its operators \
                  and modes are kept), INFO #room"
                .to_owned(),
        };
        let cs = chanserv(&self.settings.name);
        self.tell(
            id,
            &Event::Chat {
                from: &cs,
                room: None,
                text: &reply,
                action: false,
                notice: true,
                msgid: "",
                tags: &[],
                time_ms: 0,
            },
        );
    }

    fn register_room(&mut self, id: ClientId, room: &str) -> String {
        let Some(accounts) = self.accounts.clone() else {
            return "this hub has no accounts".to_owned();
        };
        let key = fold(room);
        let Some(account) = self.members.get(&id).and_then(|m| m.who.account.clone()) else {
            return "log in first (/login, or SASL)".to_owned();
        };
        if self.registered.contains_key(&key) {
            return format!("#{room} is registered already");
        }
        let Some(r) = self.rooms.get(&key) else {
            return format!("#{room} does not exist");
        };
        if !r.ops.contains(&id) {
            return format!("you are not an operator of #{room}");
        }
        let flags = flags_of(r);
        let name = r.name.to_string();
        let registered = Registered {
            founder: account.as_ref().into(),
            ops: vec![fold(&account)],
            flags,
        };
        accounts.save_room(registered.record(&name));
        self.registered.insert(key, registered);
        format!("#{name} is registered to {account}")
    }

    /// After `id` joined registered room `key`: `+o` if its account operates the room.
    pub(super) fn registered_join(&mut self, id: ClientId, key: &str) {
        let Some(reg) = self.registered.get(key) else {
            return;
        };
        let Some(account) = self.members.get(&id).and_then(|m| m.who.account.as_deref()) else {
            return;
        };
        if !reg.ops.contains(&fold(account)) {
            return;
        }
        let Some(room) = self.rooms.get_mut(key) else {
            return;
        };
        if room.ops.contains(&id) {
            return;
        }
        room.ops.insert(id);
        let name = room.name.clone();
        let Some(nick) = self.members.get(&id).map(|m| m.who.nick.clone()) else {
            return;
        };
        let cs = chanserv(&self.settings.name);
        let change = format!("+o {nick}");
        self.emit_room_event(
            key,
            &Event::ModeChanged {
                who: &cs,
                room: &name,
                change: &change,
            },
            None,
        );
    }

    /// After mode changes in room `key`: a registered room keeps its modes and the accounts of
    /// whoever got or lost `+o`.
    pub(super) fn registered_modes(&mut self, key: &str, changes: &[String]) {
        let (Some(accounts), Some(room)) = (self.accounts.clone(), self.rooms.get(key)) else {
            return;
        };
        if !self.registered.contains_key(key) {
            return;
        }
        let name = room.name.to_string();
        let flags = flags_of(room);
        let mut ops: Vec<(Name, bool)> = Vec::new();
        for change in changes {
            let (op, nick) = match (change.strip_prefix("+o "), change.strip_prefix("-o ")) {
                (Some(n), _) => (true, n),
                (_, Some(n)) => (false, n),
                _ => continue,
            };
            let account = self
                .nicks
                .owner(nick)
                .and_then(|t| self.members.get(&t))
                .and_then(|m| m.who.account.as_deref().map(Name::from));
            if let Some(a) = account {
                ops.push((a, op));
            }
        }
        let Some(reg) = self.registered.get_mut(key) else {
            return;
        };
        let before = (reg.flags.clone(), reg.ops.clone());
        reg.flags = flags;
        for (account, op) in ops {
            let folded = fold(&account);
            // The founder stays an operator.
            if !op && folded == fold(&reg.founder) {
                continue;
            }
            reg.ops.retain(|a| *a != folded);
            if op {
                reg.ops.push(folded);
            }
        }
        if (&reg.flags, &reg.ops) != (&before.0, &before.1) {
            accounts.save_room(reg.record(&name));
        }
    }
}
