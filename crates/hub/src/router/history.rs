//! History in the router: what is said is recorded as it is emitted, written to the store at
//! the end of the turn *before* the turn's output is handed to anyone (so a message any client
//! received is in the store, whatever happens to the process next), and a room's latest
//! messages are sent to whoever joins it.
//!
//! The write is one `write` to the store's journal per turn, on the router's task (it survives
//! the process from then on, not a power loss); the store's own thread moves the journal into
//! SQLite in transactions of many turns (see `obrol_store::history`). Measured: bench/RESULTS.md.

use std::collections::VecDeque;

use obrol_store::history::{Event as Stored, Events, Kind, Party};

use super::Router;
use crate::api::{caps, Access, ClientId};
use crate::domain::names::fold;
use crate::event::{Event, Identity};

/// A room's latest messages, kept for replay on join, and their renderings so far (by
/// protocol and the capabilities that change a replay's bytes): a join storm renders a
/// replay once per kind of client, not once per joiner.
#[derive(Default)]
pub(super) struct Latest {
    events: VecDeque<Stored>,
    rendered: Vec<(crate::proto::Protocol, u32, bytes::Bytes)>,
}

/// The capabilities a replay's bytes depend on.
const REPLAY_CAPS: u32 = caps::BATCH | caps::SERVER_TIME | caps::MESSAGE_TAGS | caps::ACCOUNT_TAG;

/// Most rooms whose latest messages are kept in memory for replay on join (see
/// [`Router::replay`]): at 50 messages each, some tens of MB at most.
const REPLAY_ROOMS: usize = 4096;

/// Milliseconds since 1970, now.
pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A message as [`Router::record`] keeps it: `conversation` is the store's key for it (a room's
/// `#folded`, or [`Router::private_key`]); `shown_as` the target as it was shown.
pub(super) struct Said<'a> {
    pub conversation: &'a str,
    pub shown_as: &'a str,
    pub from: &'a Identity,
    pub text: &'a str,
    pub action: bool,
    pub notice: bool,
    pub msgid: &'a str,
    pub time_ms: u64,
}

impl Router {
    /// Records a message for the store (written at the end of the turn).
    pub(super) fn record(&mut self, said: &Said<'_>) {
        if self.history.is_none() {
            return;
        }
        let &Said {
            conversation,
            shown_as,
            from,
            text,
            action,
            notice,
            msgid,
            time_ms,
        } = said;
        let kind = match (action, notice) {
            (true, _) => Kind::Action,
            (false, true) => Kind::Notice,
            (false, false) => Kind::Privmsg,
        };
        let stored = Stored {
            msgid: msgid.to_owned(),
            time_ms: i64::try_from(time_ms).unwrap_or(i64::MAX),
            target: conversation.to_owned(),
            target_name: shown_as.to_owned(),
            kind,
            nick: from.nick.to_string(),
            source: format!("{}!{}@{}", from.nick, from.user, from.host),
            account: from.account.as_deref().map(str::to_owned),
            text: text.to_owned(),
        };
        if let Some(latest) = (!self.replay_cache.is_empty())
            .then(|| self.replay_cache.get_mut(conversation))
            .flatten()
        {
            if latest.events.len() >= self.settings.history_replay {
                latest.events.pop_front();
            }
            latest.events.push_back(stored.clone());
            latest.rendered.clear();
        }
        self.unwritten.push(stored);
    }

    /// Records a room event that is not something said (a join, a part, a topic, ...) for
    /// replays that show them (IRCv3 `draft/event-playback`).
    /// Records a room event; returns the msgid it has (`None` with history off), for the
    /// live event to carry.
    pub(super) fn note(
        &mut self,
        key: &str,
        kind: Kind,
        who: &Identity,
        text: &str,
    ) -> Option<String> {
        self.history.as_ref()?;
        let msgid = self.next_msgid();
        self.note_as(key, kind, who, text, msgid.clone());
        Some(msgid)
    }

    /// A msgid for an event recorded in several rooms (a QUIT, a rename): one message, one
    /// id, in each room's history and on the live line. `None` with history off.
    pub(super) fn shared_msgid(&mut self) -> Option<String> {
        self.history.is_some().then(|| self.next_msgid())
    }

    /// Records a room event under `msgid` (see [`Router::shared_msgid`]).
    pub(super) fn note_as(
        &mut self,
        key: &str,
        kind: Kind,
        who: &Identity,
        text: &str,
        msgid: String,
    ) {
        if self.history.is_none() {
            return;
        }
        let shown = self
            .rooms
            .get(key)
            .map_or_else(|| format!("#{key}"), |r| format!("#{}", r.name));
        self.unwritten.push(Stored {
            msgid,
            time_ms: i64::try_from(now_ms()).unwrap_or(i64::MAX),
            target: format!("#{key}"),
            target_name: shown,
            kind,
            nick: who.nick.to_string(),
            source: format!("{}!{}@{}", who.nick, who.user, who.host),
            account: who.account.as_deref().map(str::to_owned),
            text: text.to_owned(),
        });
    }

    /// Who `id` is as a party to private conversations: its account when logged in, else
    /// this connection (a guest's private history is its connection's: nobody who takes the
    /// nick later reads it). See docs/PROTOCOL.md.
    pub(super) fn party(&self, id: ClientId) -> String {
        match self.members.get(&id).and_then(|m| m.who.account.as_deref()) {
            Some(account) => format!("~{}", fold(account)),
            None => format!("!{}-{id}", self.epoch),
        }
    }

    /// The store's key for the private conversation between `a` and `b`: their parties, in
    /// order, so both ends name it alike.
    pub(super) fn private_key(&self, a: ClientId, b: ClientId) -> String {
        let (mut x, mut y) = (self.party(a), self.party(b));
        if x > y {
            std::mem::swap(&mut x, &mut y);
        }
        format!("@{x} {y}")
    }

    /// Notes who talks in private conversation `key`: `a` (now `a_nick`) with `b` (now
    /// `b_nick`), so each finds it again by the other's name.
    pub(super) fn note_parties(
        &mut self,
        key: &str,
        a: ClientId,
        b: ClientId,
        names: (&str, &str),
    ) {
        if self.history.is_none() {
            return;
        }
        let (a_nick, b_nick) = names;
        for (party, peer) in [(self.party(a), b_nick), (self.party(b), a_nick)] {
            self.unwritten_parties.push(Party {
                party,
                target: key.to_owned(),
                peer: peer.to_owned(),
            });
        }
    }

    /// What `id` may read of history (see [`Access`]).
    pub(super) fn history_access(&self, id: ClientId, target: Option<&str>) -> Access {
        let Some(m) = self.members.get(&id) else {
            return Access {
                refused: true,
                ..Access::default()
            };
        };
        let rooms: Vec<(String, String)> = m
            .rooms
            .iter()
            .filter_map(|k| {
                let r = self.rooms.get(k)?;
                Some((format!("#{k}"), format!("#{}", r.name)))
            })
            .collect();
        let current = m
            .current
            .as_ref()
            .and_then(|k| rooms.iter().find(|(key, _)| key[1..] == **k).cloned());
        let mut access = Access {
            current,
            party: self.party(id),
            nick: m.who.nick.to_string(),
            target: None,
            refused: false,
            rooms,
        };
        match target {
            Some(t) if t.starts_with('#') => {
                let key = format!("#{}", fold(&t[1..]));
                match access.rooms.iter().find(|(k, _)| *k == key) {
                    Some(room) => access.target = Some(room.clone()),
                    None => access.refused = true,
                }
            }
            Some(t) => {
                if let Some(other) = self.nicks.owner(t) {
                    let shown = self
                        .members
                        .get(&other)
                        .map_or_else(|| t.to_owned(), |o| o.who.nick.to_string());
                    access.target = Some((self.private_key(id, other), shown));
                }
            }
            None => {}
        }
        access
    }

    /// Forgets the replay copy of a room that is gone.
    pub(super) fn forget_replay(&mut self, key: &str) {
        if !self.replay_cache.is_empty() {
            self.replay_cache.remove(&format!("#{key}"));
        }
    }

    /// Writes what this turn recorded. A store that fails is logged (at most every ten
    /// seconds) and the messages still go out: chat goes on without history rather than stop.
    pub(super) fn write_history(&mut self) {
        if self.unwritten.is_empty() && self.unwritten_parties.is_empty() {
            return;
        }
        let Some(history) = &self.history else {
            self.unwritten.clear();
            self.unwritten_parties.clear();
            return;
        };
        let started = std::time::Instant::now();
        let written = history.log(
            std::mem::take(&mut self.unwritten),
            std::mem::take(&mut self.unwritten_parties),
        );
        let us = started.elapsed().as_micros() as u64;
        let t = &mut self.history_timing;
        *t = (t.0 + 1, t.1 + us, t.2.max(us));
        if let Err(err) = written {
            if let Some(held) = self.history_log.pass() {
                tracing::warn!(%err, "history not written ({held} more failures since the last report)");
            }
        }
        self.unwritten.clear();
    }

    /// Sends `id`, who just joined room `key` (shown as `name`), the room's latest messages:
    /// from memory when the room was replayed before (a join storm reads the store once), else
    /// from the store. Not to clients that ask for history themselves (IRCv3 chathistory).
    pub(super) fn replay(&mut self, id: ClientId, key: &str, name: &str) {
        let Some(history) = self.history.clone() else {
            return;
        };
        let limit = self.settings.history_replay;
        // A bridge's members are not readers: its listener would relay the replay to its
        // multicast group as if it were said now.
        if limit == 0
            || self
                .members
                .get(&id)
                .is_none_or(|m| m.bridged || m.caps & caps::CHATHISTORY != 0)
        {
            return;
        }
        let conversation = format!("#{key}");
        let mut latest = match self.replay_cache.remove(&conversation) {
            Some(latest) => latest,
            None => {
                // What this turn said so far is part of it.
                self.write_history();
                match history.latest(&conversation, None, limit, Events::Messages) {
                    Ok(events) => Latest {
                        events: VecDeque::from(events),
                        rendered: Vec::new(),
                    },
                    Err(err) => {
                        if let Some(held) = self.history_log.pass() {
                            tracing::warn!(%err, "history not read ({held} more failures since the last report)");
                        }
                        return;
                    }
                }
            }
        };
        if let (false, Some(m)) = (latest.events.is_empty(), self.members.get(&id)) {
            let (proto, caps) = (m.proto, m.caps & REPLAY_CAPS);
            let bytes = match latest
                .rendered
                .iter()
                .find(|(p, c, _)| *p == proto && *c == caps)
            {
                Some((_, _, bytes)) => bytes.clone(),
                None => {
                    let event = Event::History {
                        room: name,
                        events: latest.events.make_contiguous(),
                    };
                    let bytes = proto.render(&event, &m.view(&self.rooms, &self.settings));
                    latest.rendered.push((proto, caps, bytes.clone()));
                    bytes
                }
            };
            self.push(id, bytes, 1, true);
        }
        if self.replay_cache.len() >= REPLAY_ROOMS {
            // Full: make room (which goes matters little; it is read again when needed).
            if let Some(any) = self.replay_cache.keys().next().cloned() {
                self.replay_cache.remove(&any);
            }
        }
        self.replay_cache.insert(conversation, latest);
    }
}
