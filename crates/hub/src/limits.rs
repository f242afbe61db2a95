//! What a client may spend, checked where it is spent: connections per address, connections
//! that have not registered, lines per second, and log lines about all of these.
//!
//! The router never sees a client refused here: these checks run in the accept loop and the
//! connection task, before anything reaches the router.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;

use crate::outbox::Outbox;

mod admission;
use admission::{Connect, ConnectBuckets, Waiting};
pub use admission::{EVICTABLE_AFTER, EVICTION_BAR};

/// An address block, as `ADDR/BITS` (or a bare address: every bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    bits: u8,
}

impl Cidr {
    /// Whether `ip` lies in this block. IPv4-mapped IPv6 addresses count as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("not an address block: {s} (expected ADDR or ADDR/BITS)"))?;
        let addr = canonical(addr);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|&b| b <= max)
                .ok_or_else(|| format!("not an address block: {s} (at most /{max})"))?,
        };
        Ok(Cidr { addr, bits })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.bits)
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`, what a dual-stack socket reports) as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// What counts as one address for the per-address limit: an IPv4 address, or an IPv6 /64
/// (one host's usual allocation: counting single IPv6 addresses would let one host take as
/// many slots as it likes). One word: an IPv6 /64 as its prefix, an IPv4 address inside
/// `ffff:ffff::/32`, which lies in the multicast block no TCP peer can come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddressKey(u64);

impl AddressKey {
    pub fn of(ip: IpAddr) -> Self {
        match canonical(ip) {
            IpAddr::V4(v4) => AddressKey(0xffff_ffff_0000_0000 | u64::from(u32::from(v4))),
            IpAddr::V6(v6) => AddressKey((u128::from(v6) >> 64) as u64),
        }
    }
}

/// The connection limits of a hub and what they count.
///
/// Every limit can be changed while the hub runs ([`Limits::set`], on SIGHUP): connections
/// already admitted keep their slots, and new values apply from the next connection or line.
#[derive(Debug)]
pub struct Limits {
    /// Most connections from one address (IPv6: one /64); 0 for no limit.
    per_address: AtomicU32,
    /// Most connections that have not registered (IRC) or been admitted (plain) at once.
    max_unregistered: AtomicUsize,
    /// Addresses no per-address limit or rate limit applies to.
    exempt: RwLock<Vec<Cidr>>,
    /// Lines per second after a burst; `None`: no limit.
    line_rate: RwLock<Option<Rate>>,
    /// Connections per address (key) after a burst; `None`: no limit.
    connect_rate: RwLock<Option<Rate>>,
    /// Each address's connection bucket, while it is not full.
    connects: Mutex<ConnectBuckets>,
    /// Open connections per address key (absent: none).
    by_address: Mutex<HashMap<AddressKey, u32>>,
    /// Connections not yet admitted.
    unregistered: AtomicUsize,
    /// The unregistered connections that can be closed to make room for a newcomer.
    waiting: Mutex<Waiting>,
    /// Connection refusals, logged at most once a second.
    pub refusal_log: LogGate,
    /// The hub's connection slots (see `accept_loop`): a [`Claim`] holding one gives it back.
    permits: Arc<tokio::sync::Semaphore>,
    /// Failed OPER attempts by address (checked at the edge, before any hashing).
    pub oper_failures: Mutex<Failures>,
    /// Password hashes checked at once (OPER); more wait their turn.
    pub hashing: tokio::sync::Semaphore,
}

/// Failed OPER attempts from one address before it is locked out...
pub const OPER_MAX_FAILURES: u32 = 5;
/// ...for this long after its first failure.
pub const OPER_LOCKOUT: Duration = Duration::from_secs(600);

/// Why a connection was refused at the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    TooManyFromAddress(u32),
    TooManyUnregistered,
    /// The address connected more often than the connection rate allows.
    ConnectingTooFast,
    /// ...and has been told so already: it is closed without a word (see `turn_away`).
    StillConnectingTooFast,
}

impl Refused {
    /// The one line the refused client reads before the connection closes. An IRC `ERROR`
    /// line, which a plain client reads as plain text just as well.
    pub fn farewell(&self) -> String {
        match self {
            Refused::TooManyFromAddress(n) => format!(
                "ERROR :Closing link: too many connections from your address (at most {n})\r\n"
            ),
            Refused::TooManyUnregistered => {
                "ERROR :Closing link: the server is busy with new connections; try again shortly\r\n"
                    .to_owned()
            }
            Refused::ConnectingTooFast | Refused::StillConnectingTooFast => {
                "ERROR :Closing link: your address connects too often; wait a minute\r\n".to_owned()
            }
        }
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::TooManyFromAddress(n) => {
                write!(f, "more than {n} connections from one address")
            }
            Refused::TooManyUnregistered => write!(f, "too many unregistered connections"),
            Refused::ConnectingTooFast | Refused::StillConnectingTooFast => {
                write!(f, "connecting too often")
            }
        }
    }
}

impl Limits {
    pub fn new(
        per_address: u32,
        max_unregistered: usize,
        exempt: Vec<Cidr>,
        permits: Arc<tokio::sync::Semaphore>,
    ) -> Self {
        Limits {
            permits,
            oper_failures: Mutex::new(Failures::new(OPER_MAX_FAILURES, OPER_LOCKOUT, 65_536)),
            hashing: tokio::sync::Semaphore::new(2),
            per_address: AtomicU32::new(per_address),
            max_unregistered: AtomicUsize::new(max_unregistered),
            exempt: RwLock::new(exempt),
            line_rate: RwLock::new(None),
            connect_rate: RwLock::new(None),
            connects: Mutex::default(),
            by_address: Mutex::default(),
            unregistered: AtomicUsize::new(0),
            waiting: Mutex::new(Waiting::default()),
            refusal_log: LogGate::new(Duration::from_secs(1)),
        }
    }

    /// Sets every limit at once from `settings` (at start, and on reload).
    pub fn set(&self, settings: &crate::Settings) {
        self.per_address
            .store(settings.max_per_address, Ordering::Relaxed);
        self.max_unregistered
            .store(settings.max_unregistered, Ordering::Relaxed);
        *self.exempt.write().unwrap_or_else(|p| p.into_inner()) = settings.exempt.clone();
        *self.line_rate.write().unwrap_or_else(|p| p.into_inner()) = settings.line_rate;
        let per_minute = settings.connects_per_minute;
        let connect_rate = Rate::new(f64::from(per_minute) / 60.0, per_minute, Duration::ZERO);
        *self.connect_rate.write().unwrap_or_else(|p| p.into_inner()) = connect_rate;
    }

    /// The line rate, now.
    pub fn line_rate(&self) -> Option<Rate> {
        *self.line_rate.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The per-address limit, now.
    pub fn per_address(&self) -> u32 {
        self.per_address.load(Ordering::Relaxed)
    }

    /// Whether `ip` is exempt from the per-address and rate limits.
    pub fn is_exempt(&self, ip: IpAddr) -> bool {
        let exempt = self.exempt.read().unwrap_or_else(|p| p.into_inner());
        exempt.iter().any(|c| c.contains(ip))
    }

    /// Connections not yet admitted, now.
    pub fn unregistered(&self) -> usize {
        self.unregistered.load(Ordering::Relaxed)
    }

    /// Admits a new connection from `ip`, or says why not. The claim it returns gives its
    /// counts back when dropped, and with them the connection slot `permit` (taken before the
    /// accept), which it carries from now on: one pointer per connection instead of two.
    ///
    /// When the unregistered connections are at their cap, the newcomer takes the place of one
    /// of them (see [`Waiting`]): the oldest from the address with the most waiting. So a crowd
    /// that connects and never registers cannot keep the hub's door shut: it only competes with
    /// itself, and a client that registers at once gets in. Says whether it evicted one.
    pub fn admit(
        self: &Arc<Self>,
        ip: IpAddr,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<(Claim, bool), Refused> {
        let exempt = self.is_exempt(ip);
        let key = AddressKey::of(ip);
        if !exempt {
            // On refusal the permit is given back as it drops.
            match self.may_connect(key) {
                Connect::Yes => {}
                Connect::No => return Err(Refused::ConnectingTooFast),
                Connect::NoAgain => return Err(Refused::StillConnectingTooFast),
            }
        }
        permit.forget();
        let mut claim = Claim {
            limits: self.clone(),
            key,
            counted: false,
            unregistered: false,
            exempt,
            waiting: 0,
        };
        let per_address = self.per_address();
        if per_address > 0 && !exempt {
            let mut map = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
            let n = map.entry(claim.key).or_insert(0);
            if *n >= per_address {
                drop(map);
                // Dropping the claim gives the connection slot back.
                return Err(Refused::TooManyFromAddress(per_address));
            }
            *n += 1;
            claim.counted = true;
        }
        let max_unregistered = self.max_unregistered.load(Ordering::Relaxed);
        let mut evicted = false;
        if self.unregistered.fetch_add(1, Ordering::AcqRel) >= max_unregistered && !exempt {
            let now = clock_us();
            // An address whose connection was evicted lately may not evict others.
            let victim = match self.lock_connects().barred(key, now) {
                true => None,
                false => self.lock_waiting().evict_for(key, now / 1000),
            };
            match victim {
                Some((_, victim_key, outbox)) => {
                    self.lock_connects().evicted(victim_key, now);
                    // Told at once; its slot is given back when its task ends, so the count
                    // runs over the cap by the evictions in flight, briefly.
                    if let Some(outbox) = outbox.upgrade() {
                        outbox.close(Bytes::from_static(EVICTED));
                    }
                    evicted = true;
                }
                None => {
                    self.unregistered.fetch_sub(1, Ordering::AcqRel);
                    return Err(Refused::TooManyUnregistered);
                }
            }
        }
        claim.unregistered = true;
        Ok((claim, evicted))
    }

    /// Counts a connection from `key` against the connection rate; whether it may connect.
    fn may_connect(&self, key: AddressKey) -> Connect {
        let Some(rate) = *self.connect_rate.read().unwrap_or_else(|p| p.into_inner()) else {
            return Connect::Yes;
        };
        self.lock_connects().take(key, &rate, clock_us())
    }

    fn lock_connects(&self) -> std::sync::MutexGuard<'_, ConnectBuckets> {
        self.connects.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_waiting(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Open connections from `ip`'s address key (for tests and stats).
    pub fn from_address(&self, ip: IpAddr) -> u32 {
        let map = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&AddressKey::of(ip)).copied().unwrap_or(0)
    }
}

/// One connection's share of the [`Limits`]: its address slot and, until it is admitted, an
/// unregistered slot. Both are given back on drop.
#[derive(Debug)]
pub struct Claim {
    limits: Arc<Limits>,
    /// The address slot this connection holds, if `counted`.
    key: AddressKey,
    counted: bool,
    unregistered: bool,
    /// The address is exempt from per-address and rate limits.
    pub exempt: bool,
    /// Its place among the connections that can be evicted ([`Waiting`]), 0 if none.
    waiting: u64,
}

/// What an evicted connection is told.
pub(crate) const EVICTED: &[u8] =
    b"ERROR :Closing link: too many connections are waiting to register and yours waited longest; try again\r\n";

impl Claim {
    /// The connection starts, with `outbox`: until it registers, the hub may evict it through
    /// `outbox`. `order` is its place in the order of arrival (the connection ids, given at the
    /// accept: tasks may start in another order).
    pub fn waiting_with(&mut self, outbox: &Arc<Outbox>, order: u64) {
        if self.unregistered && !self.exempt {
            let order = order.max(1); // 0 means "not waiting"
            self.limits.lock_waiting().add(
                self.key,
                order,
                crate::outbox::clock_ms(),
                Arc::downgrade(outbox),
            );
            self.waiting = order;
        }
    }

    /// The connection has been admitted: it no longer counts as unregistered.
    pub fn admitted(&mut self) {
        if std::mem::take(&mut self.unregistered) {
            self.limits.unregistered.fetch_sub(1, Ordering::AcqRel);
        }
        let id = std::mem::take(&mut self.waiting);
        if id != 0 {
            self.limits.lock_waiting().remove(self.key, id);
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.limits.permits.add_permits(1);
        self.admitted();
        if std::mem::take(&mut self.counted) {
            let mut map = self
                .limits
                .by_address
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(n) = map.get_mut(&self.key) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&self.key);
                }
            }
        }
    }
}

/// A client's line rate: a token bucket kept as one "theoretical arrival time" (GCRA). Each
/// line moves it on by `1/rate`; a line that would move it more than `burst` lines ahead of now
/// waits until it would not. Waiting is the throttle (IRC servers call it fake lag): the
/// connection stops reading, so a flood backs up in the client's own socket, not in the hub.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Time per line.
    pub interval: Duration,
    /// Lines a client may send at once after being quiet.
    pub burst: u32,
    /// Longest a client's queued lines may take to be let through before it is disconnected
    /// for flooding.
    pub max_lag: Duration,
}

impl Rate {
    /// `per_sec` lines a second after a burst of `burst`; `None` (no limit) if `per_sec` is 0.
    pub fn new(per_sec: f64, burst: u32, max_lag: Duration) -> Option<Rate> {
        if per_sec.is_nan() || per_sec <= 0.0 {
            return None;
        }
        Some(Rate {
            interval: Duration::from_secs_f64(1.0 / per_sec.min(1e6)),
            burst: burst.max(1),
            max_lag,
        })
    }

    pub fn per_sec(&self) -> f64 {
        1.0 / self.interval.as_secs_f64()
    }
}

/// One client's bucket (see [`Rate`]), on the microsecond clock [`clock_us`]: one word, as
/// every connection carries it.
#[derive(Debug, Default, Clone, Copy)]
pub struct Bucket {
    /// When the bucket is full again (µs); at or before now while it is.
    tat: u64,
}

impl Bucket {
    /// `Ok` if a line may go at `now` (µs) and counts it, else `Err(when)` it may.
    pub fn take(&mut self, rate: &Rate, now: u64) -> Result<(), u64> {
        let interval = rate.interval.as_micros() as u64;
        let ahead = interval * u64::from(rate.burst);
        let next = self.tat.max(now) + interval;
        if next > now + ahead {
            return Err(next - ahead);
        }
        self.tat = next;
        Ok(())
    }

    /// Whether the whole burst is available again (the client has been quiet long enough).
    pub fn is_full(&self, now: u64) -> bool {
        self.tat <= now
    }

    /// How long `lines` more lines would wait, from `now` (µs).
    pub fn lag(&self, rate: &Rate, lines: usize, now: u64) -> Duration {
        let interval = rate.interval.as_micros() as u64;
        let ahead = interval * u64::from(rate.burst);
        let done = self.tat.max(now) + interval.saturating_mul(lines as u64);
        Duration::from_micros(done.saturating_sub(now + ahead))
    }
}

/// Microseconds on the clock of [`crate::outbox::clock_ms`].
pub fn clock_us() -> u64 {
    crate::outbox::clock_us()
}

/// Failed password attempts per address (OPER now; logins with the accounts): after `max`
/// failures within `window`, the address is locked out until the window has passed since its
/// first failure. Bounded: at most `cap` addresses are remembered.
#[derive(Debug)]
pub struct Failures {
    window_ms: u64,
    max: u32,
    cap: usize,
    /// Failures and the time of the first (ms, [`crate::outbox::clock_ms`]).
    by_address: HashMap<AddressKey, (u32, u64)>,
}

impl Failures {
    pub fn new(max: u32, window: Duration, cap: usize) -> Self {
        Failures {
            window_ms: window.as_millis() as u64,
            max: max.max(1),
            cap: cap.max(1),
            by_address: HashMap::new(),
        }
    }

    fn live(&self, ip: IpAddr, now_ms: u64) -> Option<u32> {
        let &(n, first) = self.by_address.get(&AddressKey::of(ip))?;
        (now_ms < first + self.window_ms).then_some(n)
    }

    /// Whether `ip` may not try again yet.
    pub fn locked(&self, ip: IpAddr, now_ms: u64) -> bool {
        self.live(ip, now_ms).is_some_and(|n| n >= self.max)
    }

    /// Counts a failure from `ip`; returns whether the address is now locked out.
    pub fn record(&mut self, ip: IpAddr, now_ms: u64) -> bool {
        if self.by_address.len() >= self.cap {
            let window = self.window_ms;
            self.by_address
                .retain(|_, &mut (_, first)| now_ms < first + window);
            if self.by_address.len() >= self.cap {
                // Every remembered address failed within the window: an attack from very many
                // addresses. Forgetting them all keeps memory bounded; each may try `max` more.
                self.by_address.clear();
            }
        }
        let n = self.live(ip, now_ms).unwrap_or(0) + 1;
        let first = match self.by_address.get(&AddressKey::of(ip)) {
            Some(&(_, first)) if n > 1 => first,
            _ => now_ms,
        };
        self.by_address.insert(AddressKey::of(ip), (n, first));
        n >= self.max
    }

    /// A success from `ip` forgets its failures.
    pub fn clear(&mut self, ip: IpAddr) {
        self.by_address.remove(&AddressKey::of(ip));
    }
}

/// Compares two secrets in time that depends on their lengths only, not on where they differ.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Lets a kind of log line through at most once per `every`, counting what it held back: an
/// attacker who can make the hub log a line per connection must not be able to fill the disk.
#[derive(Debug)]
pub struct LogGate {
    every_ms: u64,
    /// When the last line went out ([`crate::outbox::clock_ms`]), plus one (0: never).
    last: AtomicU64,
    held: AtomicU64,
}

impl LogGate {
    pub fn new(every: Duration) -> Self {
        LogGate {
            every_ms: every.as_millis() as u64,
            last: AtomicU64::new(0),
            held: AtomicU64::new(0),
        }
    }

    /// `Some(held back since the last one)` if a line may be logged now.
    pub fn pass(&self) -> Option<u64> {
        let now = crate::outbox::clock_ms() + 1;
        let last = self.last.load(Ordering::Relaxed);
        if last != 0 && now < last + self.every_ms {
            self.held.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if self
            .last
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            self.held.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(self.held.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_blocks() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.2.3".parse().unwrap()), "mapped v4");
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert!(!all.contains("::1".parse().unwrap()));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        for bad in ["10.0.0.0/33", "::/129", "nope", "10.0.0.0/x", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ipv6_counts_by_64() {
        let a = AddressKey::of("2001:db8:0:1::1".parse().unwrap());
        let b = AddressKey::of("2001:db8:0:1:ffff::2".parse().unwrap());
        let c = AddressKey::of("2001:db8:0:2::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            AddressKey::of("::ffff:1.2.3.4".parse().unwrap()),
            AddressKey::of("1.2.3.4".parse().unwrap())
        );
    }

    #[test]
    fn per_address_and_unregistered_limits() {
        let slots = Arc::new(tokio::sync::Semaphore::new(100));
        let limits = Arc::new(Limits::new(
            2,
            3,
            vec!["127.0.0.9".parse().unwrap()],
            slots.clone(),
        ));
        let slot = || slots.clone().try_acquire_owned().unwrap();
        let admit = |ip: &str| limits.admit(ip.parse().unwrap(), slot()).map(|(c, _)| c);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let a = admit("127.0.0.1").unwrap();
        let mut b = admit("127.0.0.1").unwrap();
        assert_eq!(
            admit("127.0.0.1").unwrap_err(),
            Refused::TooManyFromAddress(2)
        );
        assert_eq!(
            slots.available_permits(),
            98,
            "a refused one gives its slot back"
        );
        assert_eq!(limits.from_address(ip), 2);
        assert_eq!(
            limits.unregistered(),
            2,
            "a refused one gives its count back"
        );
        b.admitted();
        assert_eq!(limits.unregistered(), 1);
        let other = admit("127.0.0.2").unwrap();
        let third = admit("127.0.0.3").unwrap();
        assert_eq!(
            admit("127.0.0.4").unwrap_err(),
            Refused::TooManyUnregistered
        );
        // Exempt addresses pass both limits.
        let ex: Vec<_> = (0..5).map(|_| admit("127.0.0.9").unwrap()).collect();
        assert!(ex.iter().all(|c| c.exempt));
        drop((a, b, other, third, ex));
        assert_eq!(limits.from_address(ip), 0);
        assert_eq!(limits.unregistered(), 0);
        assert_eq!(slots.available_permits(), 100);
    }

    #[test]
    fn bucket_lets_a_burst_through_then_paces() {
        let rate = Rate::new(10.0, 5, Duration::from_secs(30)).unwrap();
        let t0 = 1_000_000;
        let mut b = Bucket::default();
        for _ in 0..5 {
            assert!(b.take(&rate, t0).is_ok());
        }
        let wait = b.take(&rate, t0).unwrap_err();
        assert_eq!(wait - t0, 100_000);
        assert!(b.take(&rate, wait).is_ok());
        // Quiet for a second: the whole burst is back.
        let later = wait + 1_000_000;
        assert!(b.is_full(later));
        for _ in 0..5 {
            assert!(b.take(&rate, later).is_ok());
        }
        assert_eq!(b.lag(&rate, 10, later), Duration::from_secs(1));
        assert_eq!(Rate::new(0.0, 5, Duration::ZERO).map(|r| r.burst), None);
    }

    #[test]
    fn failures_lock_an_address_for_a_window() {
        let mut f = Failures::new(3, Duration::from_secs(60), 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(!f.record(a, 1000));
        assert!(!f.record(a, 2000));
        assert!(!f.locked(a, 2000));
        assert!(f.record(a, 3000));
        assert!(f.locked(a, 60_000));
        assert!(!f.locked(b, 60_000));
        assert!(!f.locked(a, 61_000), "the window has passed");
        f.record(b, 61_000);
        f.clear(b);
        assert!(!f.locked(b, 61_000));
        assert!(same_secret(b"hunter2", b"hunter2"));
        assert!(!same_secret(b"hunter2", b"hunter3"));
        assert!(!same_secret(b"hunter2", b"hunter"));
    }

    #[test]
    fn log_gate_holds_back_and_counts() {
        let gate = LogGate::new(Duration::from_secs(3600));
        assert_eq!(gate.pass(), Some(0));
        assert_eq!(gate.pass(), None);
        assert_eq!(gate.pass(), None);
    }
}
