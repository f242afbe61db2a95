//! The shape of a `bench hub` run: which rooms each client is in ([`Membership`]), and when
//! each sender speaks ([`Schedule`]). Pure arithmetic, tested here.

/// Which rooms each client of `bench hub` is in: `per_client` of `rooms`, a window of
/// consecutive room numbers (mod `rooms`).
///
/// Client `i`'s window starts at `starts[i % rooms]`, where `starts` lists the rooms `0, k, 2k,
/// ...` first, then `1, k+1, 2k+1, ...`, and so on (`k` = `per_client`); so
///
/// - every `rooms` consecutive clients start once at every room, and a window of `k` covers
///   each room `k` times: with `clients` a multiple of `rooms`, **every room has exactly
///   `clients * k / rooms` members** (1,000 clients, 100 rooms, 10 each: 100 rooms of 100);
/// - the senders, clients `0..senders`, start at rooms `0, k, 2k, ...`: while
///   `senders * k <= rooms` their windows are disjoint, and with `senders * k == rooms` **every
///   room has exactly one sender** (10 senders in 10 rooms each cover all 100 rooms);
/// - windows overlap in part, so rooms share members the way real channels do: rooms `r` and
///   `r + 1` share `(k - 1) / k` of their members (90 of 100 above), rooms `k` or more apart
///   share none, and clients `i` and `i + rooms` are in the same rooms.
///
/// With `per_client` = 1 this is today's `i % rooms`.
#[derive(Debug, Clone)]
pub struct Membership {
    rooms: usize,
    per_client: usize,
    starts: Vec<usize>,
}

impl Membership {
    /// Needs `1 <= per_client <= rooms`.
    pub fn new(rooms: usize, per_client: usize) -> Option<Membership> {
        if rooms == 0 || per_client == 0 || per_client > rooms {
            return None;
        }
        let starts = (0..per_client)
            .flat_map(|c| (c..rooms).step_by(per_client))
            .collect();
        Some(Membership {
            rooms,
            per_client,
            starts,
        })
    }

    /// Client `i`'s `j`-th room (`j < per_client`).
    pub fn room(&self, i: usize, j: usize) -> usize {
        (self.starts[i % self.rooms] + j) % self.rooms
    }

    /// Client `i`'s rooms, in the order it joins them and, for a sender, speaks in them.
    pub fn rooms_of(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.per_client).map(move |j| self.room(i, j))
    }

    /// Members of each room when there are `clients` clients.
    pub fn members(&self, clients: usize) -> Vec<u64> {
        let mut members = vec![0u64; self.rooms];
        for i in 0..clients {
            for r in self.rooms_of(i) {
                members[r] += 1;
            }
        }
        members
    }
}

/// A sender's open-loop schedule: message `k` is due `offset + k * interval` ns after the
/// epoch, and it speaks in its rooms in turn (message `k` in its `k % rooms`-th room).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    offset_ns: f64,
    interval_ns: f64,
}

impl Schedule {
    pub(crate) fn new(sender: usize, rate: f64) -> Schedule {
        let interval_ns = 1e9 / rate;
        // Stagger senders so they do not all fire at the same instant.
        let offset_ns = (sender as f64 * 7919.0) % interval_ns;
        Schedule {
            offset_ns,
            interval_ns,
        }
    }

    pub(crate) fn due(&self, k: u64) -> u64 {
        (self.offset_ns + k as f64 * self.interval_ns) as u64
    }

    /// Messages due inside `window` (ns since the epoch), per room slot.
    pub(crate) fn planned(&self, window: (u64, u64), slots: usize) -> Vec<u64> {
        let mut per_slot = vec![0u64; slots];
        let mut k = 0u64;
        loop {
            let due = self.due(k);
            if due >= window.1 {
                break;
            }
            if due >= window.0 {
                per_slot[(k % slots as u64) as usize] += 1;
            }
            k += 1;
        }
        per_slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_room_per_client_is_index_mod_rooms() {
        let m = Membership::new(7, 1).expect("valid");
        for i in 0..50 {
            assert_eq!(m.rooms_of(i).collect::<Vec<_>>(), vec![i % 7]);
        }
    }

    /// The shape `bench/compare` measures: 1,000 clients in 10 of 100 rooms each, 10 senders.
    #[test]
    fn shared_rooms_are_equal_and_every_room_has_one_sender() {
        let m = Membership::new(100, 10).expect("valid");
        assert!(m.members(1000).iter().all(|&n| n == 100));
        let mut spoken = vec![0; 100];
        for s in 0..10 {
            for r in m.rooms_of(s) {
                spoken[r] += 1;
            }
        }
        assert!(spoken.iter().all(|&n| n == 1), "{spoken:?}");
        // Rooms share members in part: neighbours 90 of 100, rooms 10 apart none.
        let has = |i: usize, r: usize| m.rooms_of(i).any(|x| x == r);
        let shared = |a: usize, b: usize| (0..1000).filter(|&i| has(i, a) && has(i, b)).count();
        assert_eq!(shared(0, 1), 90);
        assert_eq!(shared(0, 10), 0);
    }

    #[test]
    fn a_client_rooms_are_distinct_and_sizes_equal_when_clients_divide() {
        for rooms in 1..=24 {
            for k in 1..=rooms {
                let m = Membership::new(rooms, k).expect("valid");
                for i in 0..rooms {
                    let mut rs: Vec<_> = m.rooms_of(i).collect();
                    rs.sort_unstable();
                    rs.dedup();
                    assert_eq!(rs.len(), k, "rooms {rooms}, k {k}, client {i}");
                }
                let members = m.members(3 * rooms);
                assert!(members.iter().all(|&n| n == 3 * k as u64), "{rooms} {k}");
            }
        }
        // The windows bench/inspircd_joiner.py computes for "r:8:4" (its SAJOINs must match).
        let m = Membership::new(8, 4).expect("valid");
        let windows: Vec<Vec<usize>> = (0..4).map(|i| m.rooms_of(i).collect()).collect();
        assert_eq!(
            windows,
            [[0, 1, 2, 3], [4, 5, 6, 7], [1, 2, 3, 4], [5, 6, 7, 0]]
        );
        assert!(Membership::new(4, 5).is_none());
        assert!(Membership::new(4, 0).is_none());
    }

    #[test]
    fn planned_counts_what_the_send_loop_would_send() {
        let s = Schedule::new(3, 1000.0);
        let window = (500_000_000, 1_500_000_000);
        let per_slot = s.planned(window, 4);
        assert_eq!(per_slot.iter().sum::<u64>(), 1000);
        assert!(per_slot.iter().all(|&n| n == 250), "{per_slot:?}");
    }
}
