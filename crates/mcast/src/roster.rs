//! Who is in the group.
//!
//! The roster is a pure state machine (no sockets, no clock of its own: callers pass `now`), so
//! presence is unit-tested directly. What was heard from each sender, in order, and what is
//! missing is [`crate::repair`]'s business.
//!
//! It is bounded ([`MAX_MEMBERS`]) against a flood of forged sender ids, without letting the
//! flood hide real peers: a member is *confirmed* once heard a second time (a heartbeat, a
//! message), and when the roster is full a newcomer takes the place of the longest-waiting
//! member that never was. A forged Hello is heard once; a real peer keeps talking.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// At most this many senders are tracked at once.
pub const MAX_MEMBERS: usize = 4096;

/// One peer we have heard from.
#[derive(Debug, Clone)]
pub struct Member {
    pub nick: String,
    pub last_heard: Instant,
    /// Heard more than once.
    confirmed: bool,
}

/// A change of membership worth showing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    Joined(String),
    Renamed { old: String, new: String },
    Left(String),
    TimedOut(String),
}

/// Who is in the group, by sender id.
#[derive(Debug, Default)]
pub struct Roster {
    members: HashMap<u64, Member>,
    /// Members not yet confirmed, oldest first (some may since have been confirmed or gone:
    /// checked when taken).
    unconfirmed: VecDeque<u64>,
    /// Newcomers not added because the roster was full of confirmed members.
    refused: u64,
}

impl Roster {
    pub fn new() -> Self {
        Self::default()
    }

    /// Newcomers turned away by a full roster.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The nicks of everyone present, sorted.
    /// The sender ids of the members calling themselves `nick`.
    pub fn ids_of(&self, nick: &str) -> Vec<u64> {
        self.members
            .iter()
            .filter(|(_, m)| m.nick == nick)
            .map(|(&id, _)| id)
            .collect()
    }

    pub fn nicks(&self) -> Vec<String> {
        let mut nicks: Vec<_> = self.members.values().map(|m| m.nick.clone()).collect();
        nicks.sort();
        nicks
    }

    /// Records that `sender` (calling itself `nick`) was heard at `now`. Returns the presence
    /// change to show, if any; `None` if the roster is full of confirmed members (the sender is
    /// not tracked, and counted).
    pub fn heard(&mut self, sender: u64, nick: &str, now: Instant) -> Option<Option<Presence>> {
        if let Some(m) = self.members.get_mut(&sender) {
            m.last_heard = now;
            m.confirmed = true;
            if m.nick != nick {
                let old = std::mem::replace(&mut m.nick, nick.to_owned());
                return Some(Some(Presence::Renamed {
                    old,
                    new: nick.to_owned(),
                }));
            }
            return Some(None);
        }
        if self.members.len() >= MAX_MEMBERS && !self.make_room() {
            self.refused += 1;
            return None;
        }
        self.members.insert(
            sender,
            Member {
                nick: nick.to_owned(),
                last_heard: now,
                confirmed: false,
            },
        );
        self.unconfirmed.push_back(sender);
        if self.unconfirmed.len() > 2 * MAX_MEMBERS {
            // Stale entries (confirmed or gone since): drop them.
            let members = &self.members;
            self.unconfirmed
                .retain(|id| members.get(id).is_some_and(|m| !m.confirmed));
        }
        Some(Some(Presence::Joined(nick.to_owned())))
    }

    /// Forgets the longest-waiting unconfirmed member, silently; false if there is none.
    fn make_room(&mut self) -> bool {
        while let Some(id) = self.unconfirmed.pop_front() {
            if self.members.get(&id).is_some_and(|m| !m.confirmed) {
                self.members.remove(&id);
                return true;
            }
        }
        false
    }

    /// `sender` said goodbye.
    pub fn left(&mut self, sender: u64) -> Option<Presence> {
        let gone = self.members.remove(&sender).map(|m| Presence::Left(m.nick));
        self.shrink();
        gone
    }

    /// Forgets members not heard from within `timeout`, with their ids.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> Vec<(u64, Presence)> {
        let mut gone = Vec::new();
        self.members.retain(|&id, m| {
            let alive = now.saturating_duration_since(m.last_heard) < timeout;
            if !alive {
                gone.push((id, Presence::TimedOut(m.nick.clone())));
            }
            alive
        });
        if !gone.is_empty() {
            let members = &self.members;
            self.unconfirmed.retain(|id| members.contains_key(id));
            self.shrink();
        }
        gone
    }

    /// Gives memory back once most members are gone: a flood that timed out leaves nothing.
    fn shrink(&mut self) {
        if self.members.capacity() > 64 && self.members.len() < self.members.capacity() / 4 {
            self.members.shrink_to_fit();
            self.unconfirmed.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_leave_and_timeout() {
        let mut r = Roster::new();
        let now = Instant::now();
        assert_eq!(
            r.heard(1, "ani", now),
            Some(Some(Presence::Joined("ani".into())))
        );
        assert_eq!(
            r.heard(1, "budi", now),
            Some(Some(Presence::Renamed {
                old: "ani".into(),
                new: "budi".into()
            }))
        );
        r.heard(2, "citra", now);
        assert_eq!(r.left(1), Some(Presence::Left("budi".into())));
        let later = now + Duration::from_secs(60);
        assert_eq!(
            r.expire(later, Duration::from_secs(30)),
            vec![(2, Presence::TimedOut("citra".into()))]
        );
        assert!(r.is_empty());
    }

    #[test]
    fn a_flood_of_forged_ids_cannot_hide_real_peers_or_keep_memory() {
        let mut r = Roster::new();
        let now = Instant::now();
        // Two real peers, heard twice (a hello, then a heartbeat).
        for id in [1, 2] {
            r.heard(id, "real", now);
            r.heard(id, "real", now);
        }
        // A flood of forged hellos, each heard once, twice the roster's size.
        for id in 1000..1000 + 2 * MAX_MEMBERS as u64 {
            assert!(r.heard(id, "fake", now).is_some());
        }
        assert_eq!(r.len(), MAX_MEMBERS);
        assert!(r.members.contains_key(&1) && r.members.contains_key(&2));
        // A new real peer still gets in, and once confirmed, stays.
        assert!(r.heard(3, "late", now).is_some());
        r.heard(3, "late", now);
        for id in 100_000..100_000 + MAX_MEMBERS as u64 {
            r.heard(id, "fake", now);
        }
        assert!(r.members.contains_key(&3));
        // The flood times out; the memory goes with it.
        for id in [1, 2, 3] {
            r.heard(id, "real", now + Duration::from_secs(50));
        }
        let gone = r.expire(now + Duration::from_secs(60), Duration::from_secs(30));
        assert_eq!(gone.len(), MAX_MEMBERS - 3);
        assert_eq!(r.len(), 3);
        assert!(r.members.capacity() < 64 && r.unconfirmed.capacity() < 64);
    }

    #[test]
    fn a_roster_full_of_confirmed_members_refuses_newcomers() {
        let mut r = Roster::new();
        let now = Instant::now();
        for id in 0..MAX_MEMBERS as u64 {
            r.heard(id, "x", now);
            r.heard(id, "x", now);
        }
        assert_eq!(r.heard(u64::MAX, "y", now), None);
        assert_eq!(r.refused(), 1);
    }
}
