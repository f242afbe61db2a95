//! History in the router: what is said is recorded as it is emitted, written to the store at
//! the end of the turn *before* the turn's output is handed to anyone (so a message any client
//! received is in the store, whatever happens to the process next), and a room's latest
//! messages are sent to whoever joins it.
//!
//! The write is one transaction per turn, on the router's task: a turn is up to 256 requests,
//! so a busy hub writes many messages a transaction, and an idle one a single message when it
//! comes. `synchronous=NORMAL` in WAL mode makes a commit a write to the log, not a flush to the
//! disk: it survives the process, not a power loss (see `obrol_store::history`).

use obrol_store::history::{Event as Stored, Events, Kind};

use super::Router;
use crate::api::ClientId;
use crate::domain::names::fold;
use crate::event::{Event, Identity};

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
        self.unwritten.push(Stored {
            msgid: msgid.to_owned(),
            time_ms: i64::try_from(time_ms).unwrap_or(i64::MAX),
            target: conversation.to_owned(),
            target_name: shown_as.to_owned(),
            kind,
            nick: from.nick.to_string(),
            source: format!("{}!{}@{}", from.nick, from.user, from.host),
            account: from.account.as_deref().map(str::to_owned),
            text: text.to_owned(),
        });
    }

    /// The store's key for the private conversation between `a` and `b`: each by account when
    /// logged in, else by nick (case-folded), in order, so both ends name it alike.
    pub(super) fn private_key(&self, a: ClientId, b: ClientId) -> String {
        let party = |id: ClientId| {
            self.members
                .get(&id)
                .map_or_else(String::new, |m| match &m.who.account {
                    Some(account) => format!("~{}", fold(account)),
                    None => fold(&m.who.nick).to_string(),
                })
        };
        let (mut x, mut y) = (party(a), party(b));
        if x > y {
            std::mem::swap(&mut x, &mut y);
        }
        format!("@{x} {y}")
    }

    /// Writes what this turn recorded. A store that fails is logged (at most every ten
    /// seconds) and the messages still go out: chat goes on without history rather than stop.
    pub(super) fn write_history(&mut self) {
        if self.unwritten.is_empty() {
            return;
        }
        let Some(history) = &self.history else {
            self.unwritten.clear();
            return;
        };
        let started = std::time::Instant::now();
        let written = history.append(&self.unwritten);
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

    /// Sends `id`, who just joined room `key` (shown as `name`), the room's latest messages.
    pub(super) fn replay(&mut self, id: ClientId, key: &str, name: &str) {
        let Some(history) = self.history.clone() else {
            return;
        };
        let limit = self.settings.history_replay;
        // A bridge's members are not readers: its listener would relay the replay to its
        // multicast group as if it were said now.
        if limit == 0 || self.members.get(&id).is_none_or(|m| m.bridged) {
            return;
        }
        // What this turn said so far is part of it.
        self.write_history();
        let events = match history.latest(&format!("#{key}"), None, limit, Events::Messages) {
            Ok(events) => events,
            Err(err) => {
                if let Some(held) = self.history_log.pass() {
                    tracing::warn!(%err, "history not read ({held} more failures since the last report)");
                }
                return;
            }
        };
        if !events.is_empty() {
            self.tell(
                id,
                &Event::History {
                    room: name,
                    events: &events,
                },
            );
        }
    }
}
