//! Who is in the group, and what we have and have not heard from each of them.
//!
//! The roster is a pure state machine (no sockets, no clock of its own: callers pass `now`), so
//! presence and loss accounting are unit-tested directly. Each sender's numbered frames are
//! tracked with the next expected sequence number and a bounded set of the numbers still
//! missing: a late arrival fills its gap instead of counting as a duplicate, and the missing set
//! is what a later repair protocol will ask for.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// At most this many missing sequence numbers are remembered per sender; older ones are
/// forgotten (still counted as lost) so a hostile sender cannot grow our memory.
pub const MAX_MISSING: usize = 4096;

/// At most this many senders are tracked; frames from further new senders are dropped (and
/// counted) until someone leaves, so a flood of forged sender ids cannot exhaust memory.
pub const MAX_MEMBERS: usize = 4096;

/// What one sender's frame means for the roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Fresh and in order, or filling an earlier gap: show it.
    New,
    /// Already seen: drop it.
    Duplicate,
}

/// One peer we have heard from.
#[derive(Debug, Clone)]
pub struct Member {
    /// The nick it last used.
    pub nick: String,
    /// When we last heard anything from it.
    pub last_heard: Instant,
    /// The next sequence number we expect from it.
    next: u64,
    /// Sequence numbers skipped over and not yet received.
    missing: BTreeSet<u64>,
}

/// Loss accounting, summed over all senders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Sequence numbers skipped and never (yet) received.
    pub lost: u64,
    /// Frames received a second time.
    pub duplicates: u64,
    /// Frames that arrived after a later one (they filled a gap).
    pub reordered: u64,
    /// Frames dropped because the roster was full.
    pub refused: u64,
}

/// A change in the group's membership, to show the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    Joined(String),
    Renamed { old: String, new: String },
    Left(String),
    TimedOut(String),
}

/// The group's members as this peer sees them.
#[derive(Debug, Default)]
pub struct Roster {
    members: HashMap<u64, Member>,
    counters: Counters,
}

impl Roster {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Nicks of everyone heard from, sorted.
    pub fn nicks(&self) -> Vec<String> {
        let mut nicks: Vec<_> = self.members.values().map(|m| m.nick.clone()).collect();
        nicks.sort();
        nicks
    }

    /// Records any frame from `sender`, returning the presence change it implies, if any.
    /// `None` in the outer option means the roster is full and the frame must be dropped.
    pub fn heard(&mut self, sender: u64, nick: &str, now: Instant) -> Option<Option<Presence>> {
        if let Some(m) = self.members.get_mut(&sender) {
            m.last_heard = now;
            if m.nick != nick {
                let old = std::mem::replace(&mut m.nick, nick.to_owned());
                return Some(Some(Presence::Renamed {
                    old,
                    new: nick.to_owned(),
                }));
            }
            return Some(None);
        }
        if self.members.len() >= MAX_MEMBERS {
            self.counters.refused += 1;
            return None;
        }
        self.members.insert(
            sender,
            Member {
                nick: nick.to_owned(),
                last_heard: now,
                next: 0, // 0: no baseline yet; sequence numbers start at 1
                missing: BTreeSet::new(),
            },
        );
        Some(Some(Presence::Joined(nick.to_owned())))
    }

    /// Records a numbered frame (chat or action) with sequence number `seq`.
    pub fn numbered(&mut self, sender: u64, seq: u64) -> Seen {
        let Some(m) = self.members.get_mut(&sender) else {
            return Seen::New;
        };
        if m.next == 0 || seq == m.next {
            m.next = seq.saturating_add(1);
            return Seen::New;
        }
        if seq > m.next {
            self.counters.lost += seq - m.next;
            mark_missing(m, m.next, seq);
            m.next = seq.saturating_add(1);
            return Seen::New;
        }
        if m.missing.remove(&seq) {
            self.counters.lost = self.counters.lost.saturating_sub(1);
            self.counters.reordered += 1;
            Seen::New
        } else {
            self.counters.duplicates += 1;
            Seen::Duplicate
        }
    }

    /// Records a presence frame saying `sender` has used sequence numbers up to `last`: any we
    /// have not seen were lost at the tail of its stream.
    pub fn last_sent(&mut self, sender: u64, last: u64) {
        let Some(m) = self.members.get_mut(&sender) else {
            return;
        };
        if m.next == 0 {
            m.next = last.saturating_add(1);
        } else if last >= m.next {
            let end = last.saturating_add(1);
            self.counters.lost += end - m.next;
            mark_missing(m, m.next, end);
            m.next = last.saturating_add(1);
        }
    }

    /// Removes a member that said goodbye.
    pub fn left(&mut self, sender: u64) -> Option<Presence> {
        self.members.remove(&sender).map(|m| Presence::Left(m.nick))
    }

    /// Removes members not heard from within `timeout`.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> Vec<Presence> {
        let mut gone = Vec::new();
        self.members.retain(|_, m| {
            let alive = now.saturating_duration_since(m.last_heard) < timeout;
            if !alive {
                gone.push(Presence::TimedOut(m.nick.clone()));
            }
            alive
        });
        gone
    }
}

fn mark_missing(m: &mut Member, from: u64, to: u64) {
    // Only the newest MAX_MISSING numbers are worth remembering: older ones are beyond repair.
    let from = from.max(to.saturating_sub(MAX_MISSING as u64));
    m.missing.extend(from..to);
    while m.missing.len() > MAX_MISSING {
        m.missing.pop_first();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roster_with(sender: u64) -> (Roster, Instant) {
        let mut r = Roster::new();
        let now = Instant::now();
        assert_eq!(
            r.heard(sender, "ani", now),
            Some(Some(Presence::Joined("ani".into())))
        );
        (r, now)
    }

    #[test]
    fn in_order_frames_are_new() {
        let (mut r, _) = roster_with(1);
        for seq in 1..=5 {
            assert_eq!(r.numbered(1, seq), Seen::New);
        }
        assert_eq!(r.counters(), Counters::default());
    }

    #[test]
    fn gaps_count_as_lost_until_filled() {
        let (mut r, _) = roster_with(1);
        r.numbered(1, 1);
        r.numbered(1, 4);
        assert_eq!(r.counters().lost, 2);
        assert_eq!(r.numbered(1, 2), Seen::New);
        assert_eq!(r.counters().lost, 1);
        assert_eq!(r.counters().reordered, 1);
        assert_eq!(r.numbered(1, 2), Seen::Duplicate);
        assert_eq!(r.numbered(1, 4), Seen::Duplicate);
        assert_eq!(r.counters().duplicates, 2);
    }

    #[test]
    fn first_frame_sets_the_baseline() {
        let (mut r, _) = roster_with(1);
        assert_eq!(r.numbered(1, 100), Seen::New);
        assert_eq!(r.counters().lost, 0);
    }

    #[test]
    fn presence_reveals_tail_loss() {
        let (mut r, _) = roster_with(1);
        r.last_sent(1, 3); // hello: has sent 3 before we joined
        assert_eq!(r.counters().lost, 0);
        r.numbered(1, 4);
        r.last_sent(1, 6); // we missed 5 and 6
        assert_eq!(r.counters().lost, 2);
        assert_eq!(r.numbered(1, 6), Seen::New);
        assert_eq!(r.counters().lost, 1);
    }

    #[test]
    fn huge_gap_is_bounded() {
        let (mut r, _) = roster_with(1);
        r.numbered(1, 1);
        r.numbered(1, u64::MAX - 1);
        assert_eq!(r.counters().lost, u64::MAX - 3);
        assert!(r.members[&1].missing.len() <= MAX_MISSING);
    }

    #[test]
    fn rename_leave_and_timeout() {
        let (mut r, now) = roster_with(1);
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
            vec![Presence::TimedOut("citra".into())]
        );
        assert!(r.is_empty());
    }

    #[test]
    fn roster_is_bounded() {
        let mut r = Roster::new();
        let now = Instant::now();
        for id in 0..MAX_MEMBERS as u64 {
            assert!(r.heard(id, "x", now).is_some());
        }
        assert_eq!(r.heard(u64::MAX, "y", now), None);
        assert_eq!(r.counters().refused, 1);
    }
}
