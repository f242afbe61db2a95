//! Who may come in when the hub is busy: the connection rate per address, and which
//! unregistered connection makes room for a newcomer when the unregistered cap is full. Both
//! are bounded maps keyed by address; [`super::Limits::admit`] consults them.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Weak;
use std::time::Duration;

use super::{AddressKey, Bucket, Rate};
use crate::outbox::Outbox;

/// What the hub remembers of addresses that connected lately: their connection bucket, whether
/// they have been told they connect too often, and when one of their connections was last
/// evicted. Only recent ones are kept: the map is swept of addresses with a full bucket and
/// no recent eviction when it has doubled since the last sweep, and past
/// [`ConnectBuckets::MAX`] addresses new ones are not tracked (let in, as with no limit), so
/// however many addresses connect, the map stays bounded.
#[derive(Debug, Default)]
pub(super) struct ConnectBuckets {
    map: HashMap<AddressKey, Seen>,
    sweep_at: usize,
}

#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    bucket: Bucket,
    /// Told it connects too often since it last could.
    told: bool,
    /// When one of its connections was last evicted ([`clock_us`]); 0: never.
    evicted_us: u64,
}

/// How long an address whose connection was evicted may not evict others: a crowd from more
/// addresses than the unregistered cap would otherwise evict each other in a loop, taking
/// every place that frees up before a newcomer can.
pub const EVICTION_BAR: Duration = Duration::from_secs(60);

impl Seen {
    fn barred(&self, now: u64) -> bool {
        self.evicted_us != 0 && now < self.evicted_us + EVICTION_BAR.as_micros() as u64
    }
}

/// Whether an address may connect now.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Connect {
    Yes,
    /// No: the first refusal since it last could, which it is told.
    No,
    /// No, again: closed without a word. An address reconnecting in a loop would otherwise
    /// have the hub write it a line each time, most of what a refusal costs.
    NoAgain,
}

impl ConnectBuckets {
    const MAX: usize = 1 << 20;

    /// `key`'s entry, made if there is room.
    fn entry(&mut self, key: AddressKey, now: u64) -> Option<&mut Seen> {
        if self.map.len() >= self.sweep_at.max(4096) {
            self.map
                .retain(|_, s| !s.bucket.is_full(now) || s.barred(now));
            self.sweep_at = self.map.len() * 2;
        }
        if self.map.len() >= Self::MAX && !self.map.contains_key(&key) {
            return None;
        }
        Some(self.map.entry(key).or_default())
    }

    pub(super) fn take(&mut self, key: AddressKey, rate: &Rate, now: u64) -> Connect {
        let Some(seen) = self.entry(key, now) else {
            return Connect::Yes;
        };
        match (
            seen.bucket.take(rate, now),
            std::mem::replace(&mut seen.told, true),
        ) {
            (Ok(()), _) => {
                seen.told = false;
                Connect::Yes
            }
            (Err(_), false) => Connect::No,
            (Err(_), true) => Connect::NoAgain,
        }
    }

    pub(super) fn evicted(&mut self, key: AddressKey, now: u64) {
        if let Some(seen) = self.entry(key, now) {
            seen.evicted_us = now;
        }
    }

    pub(super) fn barred(&self, key: AddressKey, now: u64) -> bool {
        self.map.get(&key).is_some_and(|s| s.barred(now))
    }
}

/// The unregistered connections that can be evicted, by address key, each oldest first, and
/// the keys ordered by how many connections wait from each (then by the age of their oldest):
/// the last of `order` is whom to evict from. An address that holds many unregistered
/// connections loses them first; a client that registers promptly is never the one evicted
/// while anyone holds more.
#[derive(Debug, Default)]
pub(super) struct Waiting {
    by_address: HashMap<AddressKey, VecDeque<Entry>>,
    order: BTreeSet<(usize, Reverse<u64>, AddressKey)>,
}

/// One waiting connection: its place in the order of arrival, when it started waiting
/// ([`clock_ms`](crate::outbox::clock_ms)), and its outbox, through which it is evicted.
#[derive(Debug)]
struct Entry {
    id: u64,
    since_ms: u64,
    outbox: Weak<Outbox>,
}

/// How long a connection waits before it may be evicted: a client that registers within it
/// (over a slow link, with TLS and SASL, a few round trips) is never the one to go, and a
/// crowd from more addresses than the cap can recycle each place at most once per this.
pub const EVICTABLE_AFTER: Duration = Duration::from_secs(5);

impl Waiting {
    fn rank(queue: &VecDeque<Entry>, key: AddressKey) -> Option<(usize, Reverse<u64>, AddressKey)> {
        queue.front().map(|e| (queue.len(), Reverse(e.id), key))
    }

    /// Changes `key`'s queue with `f`, keeping `order` true.
    fn change(&mut self, key: AddressKey, f: impl FnOnce(&mut VecDeque<Entry>)) {
        let queue = self.by_address.entry(key).or_default();
        if let Some(rank) = Self::rank(queue, key) {
            self.order.remove(&rank);
        }
        f(queue);
        match Self::rank(queue, key) {
            Some(rank) => {
                self.order.insert(rank);
            }
            None => {
                self.by_address.remove(&key);
            }
        }
    }

    pub(super) fn add(&mut self, key: AddressKey, id: u64, since_ms: u64, outbox: Weak<Outbox>) {
        self.change(key, |q| {
            let at = q.partition_point(|e| e.id < id);
            q.insert(
                at,
                Entry {
                    id,
                    since_ms,
                    outbox,
                },
            );
        });
    }

    pub(super) fn remove(&mut self, key: AddressKey, id: u64) {
        if self.by_address.contains_key(&key) {
            self.change(key, |q| q.retain(|e| e.id != id));
        }
    }

    /// Takes the connection to evict for a newcomer from `newcomer`: the oldest of the address
    /// with the most waiting, if the newcomer's address has none waiting, or at least two
    /// fewer than that one. So an address that already waits gains nothing by evicting its own
    /// or an equal's (an attacker's surplus is turned away at the door, cheaply, instead of
    /// churning through sessions), and a newcomer from an address with none waiting finds
    /// room. Only a connection that has waited [`EVICTABLE_AFTER`] (at `now_ms`) is evicted.
    pub(super) fn evict_for(
        &mut self,
        newcomer: AddressKey,
        now_ms: u64,
    ) -> Option<(u64, AddressKey, Weak<Outbox>)> {
        let &(most, _, key) = self.order.last()?;
        let own = self.by_address.get(&newcomer).map_or(0, |q| q.len());
        if own > 0 && most < own + 2 {
            return None;
        }
        let oldest = self.by_address.get(&key)?.front()?;
        if oldest.since_ms + EVICTABLE_AFTER.as_millis() as u64 > now_ms {
            return None;
        }
        let mut victim = None;
        self.change(key, |q| {
            victim = q.pop_front().map(|e| (e.id, key, e.outbox))
        });
        victim
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_evicted_lately_may_not_evict_and_is_remembered_meanwhile() {
        let mut b = ConnectBuckets::default();
        let (a, other) = (AddressKey(1), AddressKey(2));
        let bar = EVICTION_BAR.as_micros() as u64;
        b.evicted(a, 1_000_000);
        assert!(b.barred(a, 1_000_000 + bar - 1));
        assert!(!b.barred(other, 1_000_000));
        // A sweep keeps a barred address though its bucket is full.
        for k in 10..5000 {
            b.evicted(AddressKey(k), 0);
        }
        for k in 10_000..14_000 {
            b.entry(AddressKey(k), 2_000_000);
        }
        assert!(b.barred(a, 2_000_000), "forgotten by a sweep");
        assert!(!b.barred(a, 1_000_000 + bar));
    }

    #[test]
    fn connection_buckets_refuse_past_the_burst_and_forget_quiet_addresses() {
        let rate = Rate::new(1.0, 3, Duration::ZERO).unwrap(); // 60 a minute, 3 at once
        let mut b = ConnectBuckets::default();
        let (a, other) = (AddressKey(1), AddressKey(2));
        assert!((0..3).all(|_| b.take(a, &rate, 0) == Connect::Yes));
        assert_eq!(b.take(a, &rate, 0), Connect::No, "the fourth at once");
        assert_eq!(b.take(a, &rate, 0), Connect::NoAgain, "told already");
        assert_eq!(b.take(other, &rate, 0), Connect::Yes, "another address");
        assert_eq!(b.take(a, &rate, 1_000_000), Connect::Yes, "after a second");
        assert_eq!(b.take(a, &rate, 1_000_000), Connect::No, "told again");
        // Many addresses at once, then quiet: once the map has doubled, the sweep forgets them.
        for k in 10..6000 {
            b.take(AddressKey(k), &rate, 2_000_000);
        }
        assert!(b.map.len() > 5000);
        for k in 100_000..104_000 {
            b.take(AddressKey(k), &rate, 60_000_000);
        }
        assert!(
            b.map.len() <= 4000 && b.map.keys().all(|k| k.0 >= 100_000),
            "only addresses that connected lately are kept ({} are)",
            b.map.len()
        );
    }

    #[test]
    fn eviction_takes_the_oldest_of_the_address_holding_the_most() {
        let (a, b, c) = (AddressKey(1), AddressKey(2), AddressKey(3));
        let mut w = Waiting::default();
        // Arrivals (ids) may be added out of order: tasks start in any order.
        for (key, id) in [(a, 1), (b, 2), (b, 4), (c, 5), (b, 3), (a, 6)] {
            w.add(key, id, 1000 + id, Weak::new());
        }
        // Nobody has waited long enough to be evicted yet.
        let soon = 1006 + EVICTABLE_AFTER.as_millis() as u64 - 10;
        assert!(w.evict_for(c, soon).is_none());
        let later = 1006 + EVICTABLE_AFTER.as_millis() as u64;
        let fresh = AddressKey(9);
        // b holds three (2, 3, 4): it gains nothing by evicting its own, and a (two) nothing
        // by evicting b's; c (one) would.
        assert_eq!(w.evict_for(b, later).map(|(id, _, _)| id), None);
        assert_eq!(w.evict_for(a, later).map(|(id, _, _)| id), None);
        assert_eq!(w.evict_for(c, later).map(|(id, _, _)| id), Some(2));
        let mut evict = || w.evict_for(fresh, later).map(|(id, _, _)| id);
        // a (1, 6) and b (3, 4) hold two each: the older of their oldest.
        assert_eq!(evict(), Some(1));
        // b still holds two.
        assert_eq!(evict(), Some(3));
        // One each now (a: 6, b: 4, c: 5): the oldest overall.
        assert_eq!(evict(), Some(4));
        assert_eq!(evict(), Some(5));
        assert_eq!(evict(), Some(6));
        assert_eq!(evict(), None);
        assert!(w.by_address.is_empty() && w.order.is_empty());
    }

    #[test]
    fn a_connection_that_registers_leaves_the_eviction_order() {
        let (a, b) = (AddressKey(1), AddressKey(2));
        let mut w = Waiting::default();
        for (key, id) in [(a, 1), (a, 2), (b, 3)] {
            w.add(key, id, 0, Weak::new());
        }
        let later = EVICTABLE_AFTER.as_millis() as u64;
        w.remove(a, 1);
        w.remove(a, 99); // not waiting (already evicted): nothing happens
        assert_eq!(
            w.evict_for(AddressKey(9), later).map(|(id, _, _)| id),
            Some(2)
        );
        w.remove(b, 3);
        assert!(w.evict_for(AddressKey(9), later).is_none());
        assert!(w.by_address.is_empty() && w.order.is_empty());
    }
}
