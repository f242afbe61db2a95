//! Loss repair, as a state machine without I/O: what to show, what to ask for and what to send
//! again, given what arrived and what time it is. The peer ([`crate::Peer`]) feeds it datagrams
//! and timer ticks and carries out what it returns.
//!
//! The design follows NORM (RFC 5740) and PGM (RFC 3208), scaled down to chat:
//! - Each sender keeps its last [`HISTORY`] messages ([`Outbound`]).
//! - Receivers notice gaps from sequence numbers, and from the last number a sender's Hello
//!   carries, so a lost *last* message is noticed too (senders send a Hello shortly after
//!   their last message, and as a heartbeat).
//! - A receiver waits a random back-off before asking ([`Nak`]), and holds back its own NAK
//!   when it hears another receiver ask for the same messages (NAK suppression). It asks again
//!   while the gap stays, and gives up after [`GIVE_UP`]: the messages are reported lost.
//! - A sender answers NAKs with one multicast repair per message per [`REPAIR_WINDOW`], however
//!   many receivers asked, within a repair budget.
//! - Each sender's messages are shown in order and once: what arrives after a gap waits
//!   (at most [`MAX_HELD`]) until the gap is repaired or given up.
//! - A peer that joins late starts from what it first hears: it does not ask for history.
//! - A sequence number far beyond what a sender is known to have sent ([`MAX_JUMP`]) is not
//!   believed: without a key anyone can forge a frame, and one forged number must not make a
//!   real sender's next messages look old.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use obrol_wire::mcast::{Frame, MAX_NAK_RANGES, MAX_NAK_SPAN};

mod outbound;
pub use outbound::{Outbound, Repair};

/// Messages a sender keeps for repair, at least.
pub const HISTORY: usize = 4096;
/// Beyond [`HISTORY`], a sender keeps what it sent within this long (a fast sender's last 4096
/// messages go by faster than a lost repair is asked for again), up to [`HISTORY_MAX`]
/// messages and [`HISTORY_BYTES`].
pub const HISTORY_TIME: Duration = Duration::from_secs(2);
pub const HISTORY_MAX: usize = 65_536;
pub const HISTORY_BYTES: usize = 32 << 20;
/// Messages a receiver holds back per sender while a gap before them is repaired (a repair
/// that is itself lost takes a few retries: at 30,000 messages a second that is thousands).
pub const MAX_HELD: usize = 16_384;
/// How far beyond the highest number known a sender's next number may be.
pub const MAX_JUMP: u64 = 4096;
/// Longest random wait before a receiver first asks for a gap.
pub const NAK_BACKOFF: Duration = Duration::from_millis(10);
/// How long a receiver waits for a repair before asking again; each further attempt for the
/// same gap waits half as long again, up to [`NAK_RETRY_MAX`]. A sender that is slow to answer
/// (busy, or far) is not asked ever faster for what it is already sending.
pub const NAK_RETRY: Duration = Duration::from_millis(60);
pub const NAK_RETRY_MAX: Duration = Duration::from_millis(500);
/// How long a gap may stay before its messages are given up as lost.
pub const GIVE_UP: Duration = Duration::from_secs(5);
/// A sender repairs one message at most once per this, however many ask.
pub const REPAIR_WINDOW: Duration = Duration::from_millis(50);
/// Repairs a sender sends at most per second, after a burst of [`HISTORY`]: a NAK, even a
/// forged one, cannot make a sender flood the group.
pub const REPAIR_RATE: u64 = 50_000;
/// If a sender's numbers are all beyond [`MAX_JUMP`] for this long with nothing in range, the
/// receiver starts over from them (a long outage, not a forgery).
pub const RESYNC_AFTER: Duration = Duration::from_secs(15);

/// What the receiving side asks the peer to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Show this message (in order, once).
    Show(Frame),
    /// These messages of `sender` (nick `nick`) cannot come any more.
    Lost {
        sender: u64,
        nick: String,
        count: u64,
    },
    /// Ask `target` for `ranges`.
    Nak {
        target: u64,
        ranges: Vec<(u64, u64)>,
    },
}

/// Counts of what repair did, for `/stats` and the tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepairCounters {
    /// Messages given up as lost.
    pub lost: u64,
    /// Messages that filled a gap when they arrived as a repair (flagged, or, sealed, after we
    /// asked for them).
    pub repaired: u64,
    /// Messages that arrived after a later one, before we asked, and were put in order.
    pub reordered: u64,
    /// Messages seen twice (one copy shown).
    pub duplicates: u64,
    /// Frames whose number was too far ahead to believe.
    pub implausible: u64,
    /// NAKs sent, and NAKs held back because another receiver asked first.
    pub naks_sent: u64,
    pub naks_suppressed: u64,
}

/// One sender's messages as this receiver sees them.
#[derive(Debug)]
struct Stream {
    nick: String,
    /// The next number to show; 0 until the first frame sets the baseline.
    next: u64,
    /// The highest number known to exist (from frames and Hellos).
    highest: u64,
    /// Messages after a gap, waiting for it.
    held: BTreeMap<u64, Frame>,
    /// When the gap at `next` was noticed.
    gap_since: Option<Instant>,
    /// When to ask for it.
    nak_at: Option<Instant>,
    /// Since when every frame heard has been too far ahead (see [`RESYNC_AFTER`]).
    beyond_since: Option<Instant>,
    /// NAKs sent since `next` last moved.
    attempts: u32,
    /// The highest number our last NAK knew of: a gap found beyond it is asked for soon,
    /// not at the retry of the older ones.
    asked_upto: u64,
}

/// The receiving side: every sender's stream.
#[derive(Debug, Default)]
pub struct Inbound {
    streams: HashMap<u64, Stream>,
    counters: RepairCounters,
    /// Messages held back, all senders together (at most [`MAX_HELD_TOTAL`]).
    held_total: usize,
    /// A source of jitter for back-offs (xorshift; no need for a cryptographic one).
    rng: u64,
}

/// Messages held back for all senders together: past it, the gap of the sender holding the
/// most is given up. A crowd of forged senders cannot make a receiver hold more.
pub const MAX_HELD_TOTAL: usize = 65_536;

/// Most senders tracked at once: beyond, frames are shown as they come, unrepaired.
pub const MAX_STREAMS: usize = 4096;

impl Inbound {
    pub fn new(seed: u64) -> Self {
        Inbound {
            rng: seed | 1,
            ..Default::default()
        }
    }

    /// Whether message `seq` of `sender` is one this receiver is waiting for: in a gap of a
    /// stream it follows, not shown and not held.
    pub fn wants(&self, sender: u64, seq: u64) -> bool {
        self.streams.get(&sender).is_some_and(|s| {
            s.next != 0 && seq >= s.next && seq <= s.highest && !s.held.contains_key(&seq)
        })
    }

    /// Whether message `seq` of `sender` was shown or is held: a sealed copy of it that
    /// arrives again is a repair someone else asked for (counted as a duplicate), not a
    /// replay.
    pub fn has(&mut self, sender: u64, seq: u64) -> bool {
        let had = self
            .streams
            .get(&sender)
            .is_some_and(|s| s.next != 0 && (seq < s.next || s.held.contains_key(&seq)));
        if had {
            self.counters.duplicates += 1;
        }
        had
    }

    pub fn counters(&self) -> RepairCounters {
        self.counters
    }

    fn jitter(&mut self, max: Duration) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let nanos = max.as_nanos() as u64;
        Duration::from_nanos(if nanos == 0 { 0 } else { self.rng % nanos })
    }

    /// `sender` said goodbye, its last number being `last`: nobody will repair its gaps any
    /// more, so what is missing is given up and what waited is shown.
    pub fn left(&mut self, sender: u64, last: u64, out: &mut Vec<Action>) {
        if let Some(s) = self.streams.get_mut(&sender) {
            if s.next != 0 && last <= s.highest.saturating_add(MAX_JUMP) {
                s.highest = s.highest.max(last);
            }
            let before = s.held.len();
            while s.next != 0 && s.next <= s.highest {
                let lost = s.skip_gap(out, sender, Instant::now());
                self.counters.lost += lost;
                if lost == 0 {
                    break;
                }
            }
            self.held_total -= before - s.held.len();
        }
        self.forget(sender);
    }

    /// Forgets a sender (it left or timed out).
    pub fn forget(&mut self, sender: u64) {
        if let Some(s) = self.streams.remove(&sender) {
            self.held_total -= s.held.len();
        }
        if self.streams.capacity() > 64 && self.streams.len() < self.streams.capacity() / 4 {
            self.streams.shrink_to_fit();
        }
    }

    /// A numbered frame (chat or action) arrived.
    pub fn frame(&mut self, frame: Frame, now: Instant, out: &mut Vec<Action>) {
        let sender = frame.sender;
        if !self.streams.contains_key(&sender) {
            if self.streams.len() >= MAX_STREAMS {
                out.push(Action::Show(frame)); // untracked: shown as it comes
                return;
            }
            self.streams.insert(
                sender,
                Stream {
                    nick: frame.nick.clone(),
                    next: 0,
                    highest: 0,
                    held: BTreeMap::new(),
                    gap_since: None,
                    nak_at: None,
                    beyond_since: None,
                    attempts: 0,
                    asked_upto: 0,
                },
            );
        }
        let backoff = self.jitter(NAK_BACKOFF);
        let Some(s) = self.streams.get_mut(&sender) else {
            return;
        };
        frame.nick.clone_into(&mut s.nick);
        let seq = frame.seq;
        if s.next == 0 {
            // The first frame heard sets the baseline: no history before it is asked for.
            s.next = seq;
            s.highest = seq;
        }
        if seq > s.highest.saturating_add(MAX_JUMP) {
            let before = s.held.len();
            let believed = s.resync(seq, now);
            self.held_total -= before - s.held.len();
            if !believed {
                self.counters.implausible += 1;
                return;
            }
        } else {
            s.beyond_since = None;
        }
        if seq < s.next || s.held.contains_key(&seq) {
            self.counters.duplicates += 1;
            return;
        }
        s.highest = s.highest.max(seq);
        // A repair says so (or, sealed, is the original resent: then it is one if we asked).
        let repair = frame.repair || (s.gap_since.is_some() && seq <= s.asked_upto);
        if seq == s.next {
            if repair {
                self.counters.repaired += 1;
            } else if s.gap_since.is_some() {
                self.counters.reordered += 1;
            }
            out.push(Action::Show(frame));
            s.next += 1;
            let before = s.held.len();
            s.release(out);
            self.held_total -= before - s.held.len();
            if s.next <= s.highest && s.gap_since.is_some() {
                // The gap that held things up is filled; the next one has its own time to be
                // repaired (under steady loss there is always a gap, and the first one's
                // clock would give up a later one early).
                s.gap_since = Some(now);
            }
        } else {
            if repair {
                self.counters.repaired += 1;
            }
            s.held.insert(seq, frame);
            self.held_total += 1;
            if s.held.len() > MAX_HELD {
                // Too much waits behind the gap: give it up now.
                let before = s.held.len();
                self.counters.lost += s.skip_gap(out, sender, now);
                self.held_total -= before - s.held.len();
            }
        }
        s.schedule(now, backoff);
        if self.held_total > MAX_HELD_TOTAL {
            self.relieve(out, now);
        }
    }

    /// A Hello or Bye from `sender` says its last number is `last`.
    pub fn last_sent(&mut self, sender: u64, nick: &str, last: u64, now: Instant) {
        let backoff = self.jitter(NAK_BACKOFF);
        let Some(s) = self.streams.get_mut(&sender) else {
            if self.streams.len() < MAX_STREAMS {
                // Late joiner: start after what was sent before we came.
                self.streams.insert(
                    sender,
                    Stream {
                        nick: nick.to_owned(),
                        next: last + 1,
                        highest: last,
                        held: BTreeMap::new(),
                        gap_since: None,
                        nak_at: None,
                        beyond_since: None,
                        attempts: 0,
                        asked_upto: 0,
                    },
                );
            }
            return;
        };
        nick.clone_into(&mut s.nick);
        if s.next == 0 {
            s.next = last + 1;
            s.highest = last;
            return;
        }
        if last > s.highest.saturating_add(MAX_JUMP) {
            let before = s.held.len();
            if !s.resync(last + 1, now) {
                self.counters.implausible += 1;
            }
            self.held_total -= before - s.held.len();
            return;
        }
        s.highest = s.highest.max(last);
        s.schedule(now, backoff);
    }

    /// Another receiver asked `target` for `ranges`: if that covers our own gap, our NAK waits
    /// (the repair it brings will fill our gap too).
    pub fn heard_nak(&mut self, target: u64, ranges: &[(u64, u64)], now: Instant) {
        let Some(s) = self.streams.get_mut(&target) else {
            return;
        };
        if s.nak_at.is_none() {
            return;
        }
        let covered = s
            .missing()
            .iter()
            .all(|&(a, b)| ranges.iter().any(|&(x, y)| x <= a && b <= y));
        if covered {
            s.nak_at = Some(now + NAK_RETRY);
            self.counters.naks_suppressed += 1;
        }
    }

    /// Gives up the gap of the sender holding the most, to bring `held_total` back in bounds.
    fn relieve(&mut self, out: &mut Vec<Action>, now: Instant) {
        while self.held_total > MAX_HELD_TOTAL {
            let Some((&sender, _)) = self.streams.iter().max_by_key(|(_, s)| s.held.len()) else {
                return;
            };
            let Some(s) = self.streams.get_mut(&sender) else {
                return;
            };
            let before = s.held.len();
            self.counters.lost += s.skip_gap(out, sender, now);
            self.held_total -= before - s.held.len();
            if before == s.held.len() {
                return;
            }
        }
    }

    /// Timers: NAKs that are due, gaps given up. Returns when to be called again.
    pub fn tick(&mut self, now: Instant, out: &mut Vec<Action>) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut retry = Vec::new();
        for (&sender, s) in self.streams.iter_mut() {
            if s.gap_since.is_some_and(|t| now >= t + GIVE_UP) {
                let before = s.held.len();
                self.counters.lost += s.skip_gap(out, sender, now);
                self.held_total -= before - s.held.len();
            }
            if let Some(at) = s.nak_at {
                if now >= at {
                    let ranges = s.missing();
                    if ranges.is_empty() {
                        s.nak_at = None;
                    } else {
                        s.asked_upto = s.highest;
                        out.push(Action::Nak {
                            target: sender,
                            ranges,
                        });
                        self.counters.naks_sent += 1;
                        retry.push(sender);
                    }
                }
            }
        }
        for sender in retry {
            let jitter = self.jitter(NAK_BACKOFF);
            if let Some(s) = self.streams.get_mut(&sender) {
                s.attempts += 1;
                let wait = NAK_RETRY.mul_f64(1.5f64.powi(s.attempts.min(8) as i32 - 1));
                s.nak_at = Some(now + wait.min(NAK_RETRY_MAX) + jitter);
            }
        }
        for s in self.streams.values() {
            for t in [s.nak_at, s.gap_since.map(|t| t + GIVE_UP)]
                .into_iter()
                .flatten()
            {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        next
    }
}

impl Stream {
    /// Shows what waited and is now in order.
    fn release(&mut self, out: &mut Vec<Action>) {
        while let Some(f) = self.held.remove(&self.next) {
            out.push(Action::Show(f));
            self.next += 1;
        }
        self.attempts = 0;
        if self.next > self.highest {
            self.gap_since = None;
            self.nak_at = None;
        }
    }

    /// Notices a gap (and plans to ask for it) or that there is none.
    fn schedule(&mut self, now: Instant, backoff: Duration) {
        if self.next <= self.highest {
            if self.gap_since.is_none() {
                self.gap_since = Some(now);
                self.nak_at = Some(now + backoff);
            } else if self.highest > self.asked_upto
                && self.nak_at.is_none_or(|at| at > now + backoff)
            {
                // A gap the last NAK did not know of: ask soon (the NAK repeats the older
                // gaps too; the sender ignores what it repaired a moment ago).
                self.nak_at = Some(now + backoff);
            }
        } else {
            self.gap_since = None;
            self.nak_at = None;
        }
    }

    /// Gives up the gap at `next`: counts it lost, shows what waited after it. Returns how
    /// many were lost.
    fn skip_gap(&mut self, out: &mut Vec<Action>, sender: u64, now: Instant) -> u64 {
        let resume = match self.held.keys().next() {
            Some(&first) => first,
            None => self.highest + 1,
        };
        let count = resume.saturating_sub(self.next);
        if count > 0 {
            out.push(Action::Lost {
                sender,
                nick: self.nick.clone(),
                count,
            });
        }
        self.next = resume;
        self.gap_since = None;
        self.nak_at = None;
        self.release(out);
        if self.next <= self.highest {
            // Another gap behind the one given up: its own clock starts now.
            self.gap_since = Some(now);
            self.nak_at = Some(now);
        }
        count
    }

    /// The gaps between `next` and `highest`, as NAK ranges.
    fn missing(&self) -> Vec<(u64, u64)> {
        let mut ranges = Vec::new();
        let mut from = self.next;
        let mut bound = self
            .held
            .keys()
            .copied()
            .chain(std::iter::once(self.highest + 1));
        while ranges.len() < MAX_NAK_RANGES {
            let Some(upto) = bound.next() else { break };
            if upto > from {
                let end = (upto - 1).min(from + MAX_NAK_SPAN - 1);
                ranges.push((from, end));
            }
            from = upto + 1;
            if from > self.highest {
                break;
            }
        }
        ranges
    }

    /// A number beyond [`MAX_JUMP`]: believed only after [`RESYNC_AFTER`] of nothing else,
    /// then the stream starts over from it (what was in between is lost).
    fn resync(&mut self, seq: u64, now: Instant) -> bool {
        match self.beyond_since {
            None => {
                self.beyond_since = Some(now);
                false
            }
            Some(t) if now < t + RESYNC_AFTER => false,
            Some(_) => {
                self.held.clear();
                self.next = seq;
                self.highest = seq.saturating_sub(1);
                self.gap_since = None;
                self.nak_at = None;
                self.beyond_since = None;
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use obrol_wire::mcast::Kind;

    fn chat(sender: u64, seq: u64) -> Frame {
        Frame {
            kind: Kind::Chat,
            repair: false,
            sender,
            seq,
            timestamp_ms: 0,
            nick: "ani".into(),
            text: format!("m{seq}"),
        }
    }

    fn shown(out: &[Action]) -> Vec<u64> {
        out.iter()
            .filter_map(|a| match a {
                Action::Show(f) => Some(f.seq),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn in_order_messages_are_shown_at_once() {
        let mut r = Inbound::new(1);
        let now = Instant::now();
        let mut out = Vec::new();
        for seq in 5..=8 {
            r.frame(chat(1, seq), now, &mut out);
        }
        assert_eq!(
            shown(&out),
            vec![5, 6, 7, 8],
            "a late joiner starts where it came in"
        );
        assert_eq!(r.tick(now, &mut out), None, "nothing to ask for");
    }

    #[test]
    fn a_gap_is_asked_for_after_a_back_off_then_filled_in_order() {
        let mut r = Inbound::new(7);
        let t0 = Instant::now();
        let mut out = Vec::new();
        r.frame(chat(1, 1), t0, &mut out);
        r.frame(chat(1, 4), t0, &mut out);
        r.frame(chat(1, 6), t0, &mut out);
        assert_eq!(shown(&out), vec![1], "4 and 6 wait for 2, 3 and 5");
        out.clear();
        let due = r.tick(t0, &mut out).expect("a NAK is planned");
        assert!(due <= t0 + NAK_BACKOFF);
        r.tick(t0 + NAK_BACKOFF, &mut out);
        assert_eq!(
            out,
            vec![Action::Nak {
                target: 1,
                ranges: vec![(2, 3), (5, 5)]
            }]
        );
        out.clear();
        let mut repair = chat(1, 3);
        repair.repair = true;
        r.frame(repair, t0 + NAK_BACKOFF, &mut out);
        assert!(shown(&out).is_empty(), "3 waits for 2");
        let mut repair = chat(1, 2);
        repair.repair = true;
        r.frame(repair, t0 + NAK_BACKOFF, &mut out);
        assert_eq!(shown(&out), vec![2, 3, 4]);
        let mut repair = chat(1, 5);
        repair.repair = true;
        r.frame(repair, t0 + NAK_BACKOFF, &mut out);
        assert_eq!(shown(&out), vec![2, 3, 4, 5, 6]);
        assert_eq!(r.counters().repaired, 3);
        // Duplicates (a second repair, the original arriving late) are not shown again.
        r.frame(chat(1, 3), t0 + NAK_BACKOFF, &mut out);
        assert_eq!(shown(&out), vec![2, 3, 4, 5, 6]);
        assert_eq!(r.counters().duplicates, 1);
    }

    #[test]
    fn a_lost_last_message_is_noticed_from_the_hello_and_asked_for() {
        let mut r = Inbound::new(3);
        let t0 = Instant::now();
        let mut out = Vec::new();
        r.frame(chat(1, 1), t0, &mut out);
        r.last_sent(1, "ani", 2, t0);
        r.tick(t0 + NAK_BACKOFF, &mut out);
        assert!(out.contains(&Action::Nak {
            target: 1,
            ranges: vec![(2, 2)]
        }));
    }

    #[test]
    fn a_gap_that_cannot_be_repaired_is_given_up_and_what_waited_is_shown() {
        let mut r = Inbound::new(5);
        let t0 = Instant::now();
        let mut out = Vec::new();
        r.frame(chat(1, 1), t0, &mut out);
        r.frame(chat(1, 5), t0, &mut out);
        let mut t = t0;
        let mut naks = 0;
        while t < t0 + GIVE_UP {
            out.clear();
            t = r.tick(t, &mut out).expect("still waiting");
            naks += out
                .iter()
                .filter(|a| matches!(a, Action::Nak { .. }))
                .count();
        }
        out.clear();
        r.tick(t, &mut out);
        assert_eq!(
            out,
            vec![
                Action::Lost {
                    sender: 1,
                    nick: "ani".into(),
                    count: 3
                },
                Action::Show(chat(1, 5))
            ]
        );
        assert!(
            (10..=60).contains(&naks),
            "asked {naks} times in {GIVE_UP:?}"
        );
        assert_eq!(r.counters().lost, 3);
        assert_eq!(r.tick(t, &mut out), None);
    }

    #[test]
    fn another_receivers_nak_holds_ours_back() {
        let mut r = Inbound::new(9);
        let t0 = Instant::now();
        let mut out = Vec::new();
        r.frame(chat(1, 1), t0, &mut out);
        r.frame(chat(1, 3), t0, &mut out);
        r.heard_nak(1, &[(1, 10)], t0);
        out.clear();
        r.tick(t0 + NAK_BACKOFF, &mut out);
        assert!(out.is_empty(), "suppressed: {out:?}");
        assert_eq!(r.counters().naks_suppressed, 1);
        // One that does not cover our gap does not.
        let mut r = Inbound::new(9);
        r.frame(chat(1, 1), t0, &mut out);
        r.frame(chat(1, 3), t0, &mut out);
        r.heard_nak(1, &[(5, 6)], t0);
        out.clear();
        r.tick(t0 + NAK_BACKOFF, &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn a_forged_number_far_ahead_cannot_silence_a_sender() {
        let mut r = Inbound::new(11);
        let t0 = Instant::now();
        let mut out = Vec::new();
        r.frame(chat(1, 1), t0, &mut out);
        r.frame(chat(1, 1 << 62), t0, &mut out);
        r.last_sent(1, "ani", 1 << 62, t0);
        r.frame(chat(1, 2), t0, &mut out);
        assert_eq!(shown(&out), vec![1, 2]);
        assert_eq!(r.counters().implausible, 2);
        assert_eq!(
            r.tick(t0, &mut out),
            None,
            "nothing asked for the forged gap"
        );
        // A real jump (a long outage) is believed once nothing else comes for a while.
        r.frame(chat(1, 10_000), t0 + Duration::from_secs(1), &mut out);
        r.frame(
            chat(1, 10_001),
            t0 + RESYNC_AFTER + Duration::from_secs(2),
            &mut out,
        );
        assert_eq!(shown(&out), vec![1, 2, 10_001]);
    }

    #[test]
    fn holding_back_is_bounded() {
        let mut r = Inbound::new(13);
        let t0 = Instant::now();
        let mut out = Vec::new();
        r.frame(chat(1, 1), t0, &mut out);
        for seq in 3..=(MAX_HELD as u64 + 3) {
            r.frame(chat(1, seq), t0, &mut out);
        }
        assert_eq!(r.counters().lost, 1);
        assert_eq!(shown(&out).len(), MAX_HELD + 2);
    }

    #[test]
    fn under_steady_loss_each_gap_gets_its_own_time() {
        let mut r = Inbound::new(1);
        let mut out = Vec::new();
        let t0 = Instant::now();
        r.frame(chat(1, 1), t0, &mut out);
        // Every second for 20 s a message is lost and repaired a second later, after the next
        // loss: there is always a gap, but none waits more than a second.
        for k in 1..=20u64 {
            let t = t0 + Duration::from_secs(k);
            r.frame(chat(1, 2 * k + 1), t, &mut out); // 2k is lost
            if k >= 2 {
                r.frame(chat(1, 2 * k - 2), t, &mut out); // the previous loss, repaired
            }
            r.tick(t, &mut out);
        }
        r.frame(chat(1, 40), t0 + Duration::from_secs(21), &mut out);
        assert_eq!(r.counters().lost, 0, "no gap waited more than a second");
        assert_eq!(shown(&out).len(), 41);
    }
}
