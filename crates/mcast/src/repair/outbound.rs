//! The sending side of repair: a sender's recent messages, and what it sends for a NAK (the
//! messages again, or parity of their block, see [`crate::fec`]) within a budget.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use obrol_wire::mcast::{MAX_NAK_RANGES, MAX_NAK_SPAN};

use super::{HISTORY, HISTORY_BYTES, HISTORY_MAX, HISTORY_TIME, REPAIR_RATE, REPAIR_WINDOW};

/// What a sender sends for a NAK: a message again, or a parity shard of a block of them (see
/// [`crate::fec`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    Resend(Bytes),
    Parity {
        block: u64,
        index: u8,
        shard: Vec<u8>,
    },
}

/// The sending side: recent messages, kept for repair.
#[derive(Debug)]
pub struct Outbound {
    /// (sequence, the repair datagram, when last repaired, when sent).
    history: VecDeque<(u64, Bytes, Option<Instant>, Instant)>,
    /// Bytes of the datagrams in `history`.
    bytes: usize,
    /// Parity of the blocks receivers ask about.
    fec: crate::fec::Encoder,
    /// Repair budget: when it is full again (a GCRA "theoretical arrival time").
    budget_tat: Option<Instant>,
}

impl Default for Outbound {
    fn default() -> Self {
        Outbound {
            history: VecDeque::with_capacity(64),
            bytes: 0,
            fec: crate::fec::Encoder::default(),
            budget_tat: None,
        }
    }
}

impl Outbound {
    /// Keeps `repair`, the datagram that repairs message `seq`, sent at `now`; forgets what
    /// is past keeping (see [`HISTORY`]).
    pub fn sent(&mut self, seq: u64, repair: Bytes, now: Instant) {
        self.bytes += repair.len();
        self.history.push_back((seq, repair, None, now));
        while let Some((oldest, at)) = self.history.front().map(|e| (e.1.len(), e.3)) {
            let len = self.history.len();
            let keep = len <= HISTORY
                || (len <= HISTORY_MAX
                    && self.bytes <= HISTORY_BYTES
                    && now.saturating_duration_since(at) < HISTORY_TIME);
            if keep {
                break;
            }
            self.bytes -= oldest;
            self.history.pop_front();
        }
    }

    /// Messages kept for repair.
    pub fn len(&self) -> usize {
        self.history.len()
    }

    pub fn is_empty(&self) -> bool {
        self.history.is_empty()
    }

    /// The messages to send again for a NAK asking for `ranges`, at `now` (no parity).
    pub fn nak(&mut self, ranges: &[(u64, u64)], now: Instant) -> Vec<Bytes> {
        self.answer(ranges, now, None)
            .into_iter()
            .filter_map(|r| match r {
                Repair::Resend(b) => Some(b),
                Repair::Parity { .. } => None,
            })
            .collect()
    }

    /// What to send for a NAK asking for `ranges`, at `now`: parity shards for the blocks that
    /// can have them (complete, kept, their shards at most `max_shard` bytes; `None`: no
    /// parity), the messages again for the rest. Within the repair budget.
    pub fn answer(
        &mut self,
        ranges: &[(u64, u64)],
        now: Instant,
        max_shard: Option<usize>,
    ) -> Vec<Repair> {
        let mut out = Vec::new();
        let (Some(&(first, _, _, _)), Some(&(last, _, _, _))) =
            (self.history.front(), self.history.back())
        else {
            return out;
        };
        // The messages asked for that we have, by block.
        let mut by_block: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for &(a, b) in ranges.iter().take(MAX_NAK_RANGES) {
            let b = b.min(a.saturating_add(MAX_NAK_SPAN - 1)).min(last);
            for seq in a.max(first)..=b {
                by_block
                    .entry(crate::fec::block_of(seq))
                    .or_default()
                    .push(seq);
            }
        }
        for (block, seqs) in by_block {
            let start = crate::fec::first_of(block);
            let end = start + crate::fec::K as u64 - 1;
            if let Some(max) = max_shard.filter(|_| start >= first && end <= last) {
                let data: Vec<&Bytes> = (start..=end)
                    .filter_map(|s| self.history.get((s - first) as usize).map(|e| &e.1))
                    .collect();
                if let Some(shards) = self.fec.answer(block, &data, seqs.len(), now, max) {
                    for (index, shard) in shards {
                        if !take_budget(&mut self.budget_tat, now) {
                            return out;
                        }
                        out.push(Repair::Parity {
                            block,
                            index,
                            shard,
                        });
                    }
                    continue;
                }
            }
            for seq in seqs {
                let Some(entry) = self.history.get_mut((seq - first) as usize) else {
                    break;
                };
                debug_assert_eq!(entry.0, seq);
                if entry.2.is_some_and(|at| now < at + REPAIR_WINDOW) {
                    continue; // repaired a moment ago: that repair answers this NAK too
                }
                if !take_budget(&mut self.budget_tat, now) {
                    return out;
                }
                entry.2 = Some(now);
                out.push(Repair::Resend(entry.1.clone()));
            }
        }
        out
    }
}

fn take_budget(tat: &mut Option<Instant>, now: Instant) -> bool {
    let interval = Duration::from_nanos(1_000_000_000 / REPAIR_RATE);
    let burst = interval * HISTORY as u32;
    let t = tat.map_or(now, |t| t.max(now)) + interval;
    if t > now + burst {
        return false;
    }
    *tat = Some(t);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_repairs_once_per_window_and_only_what_it_sent() {
        let mut s = Outbound::default();
        let t0 = Instant::now();
        for seq in 1..=5 {
            s.sent(seq, Bytes::from(format!("r{seq}")), t0);
        }
        assert_eq!(s.nak(&[(2, 3), (5, 9)], t0).len(), 3);
        assert!(
            s.nak(&[(2, 3)], t0 + REPAIR_WINDOW / 2).is_empty(),
            "within the window"
        );
        assert_eq!(s.nak(&[(2, 3)], t0 + REPAIR_WINDOW).len(), 2);
        assert!(s.nak(&[(100, 200)], t0).is_empty(), "never sent");
        // History is bounded: past HISTORY, what is older than HISTORY_TIME goes...
        let later = t0 + HISTORY_TIME;
        for seq in 6..=(HISTORY as u64 + 10) {
            s.sent(seq, Bytes::new(), later);
        }
        assert_eq!(
            s.len(),
            HISTORY + 5,
            "the first five (older) went, the rest are recent"
        );
        assert!(s.nak(&[(1, 5)], later + REPAIR_WINDOW).is_empty());
        // ... while what a fast sender sent within it stays, up to HISTORY_MAX messages...
        let mut s = Outbound::default();
        for seq in 1..=(HISTORY_MAX as u64 + 100) {
            s.sent(seq, Bytes::from_static(b"x"), t0);
        }
        assert_eq!(s.len(), HISTORY_MAX);
        assert_eq!(s.nak(&[(101, 101)], t0).len(), 1);
        assert!(s.nak(&[(100, 100)], t0).is_empty());
        // ... and HISTORY_BYTES.
        let mut s = Outbound::default();
        let big = Bytes::from(vec![0u8; 1200]);
        for seq in 1..=(HISTORY_MAX as u64) {
            s.sent(seq, big.clone(), t0);
        }
        assert!(
            s.len() * 1200 <= HISTORY_BYTES && s.len() > HISTORY,
            "{}",
            s.len()
        );
    }

    #[test]
    fn repairs_stay_within_the_budget_whatever_is_asked() {
        let mut s = Outbound::default();
        let t0 = Instant::now();
        for seq in 1..=HISTORY as u64 {
            s.sent(seq, Bytes::new(), t0);
        }
        let mut sent = 0;
        for i in 0..100u32 {
            let t = t0 + REPAIR_WINDOW * i;
            let ranges: Vec<(u64, u64)> = (0..32).map(|k| (k * 128 + 1, k * 128 + 128)).collect();
            sent += s.nak(&ranges, t).len();
        }
        let secs = (REPAIR_WINDOW * 100).as_secs_f64();
        let ceiling = HISTORY as f64 + REPAIR_RATE as f64 * secs;
        assert!(sent as f64 <= ceiling + 1.0, "{sent} repairs in {secs} s");
    }
}
