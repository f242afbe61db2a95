//! Accounts: registration and login against the embedded store, off the async threads.
//!
//! Hashing a password (Argon2id) takes tens of milliseconds and ~19 MiB on purpose, and SQLite
//! blocks; both run on tokio's blocking pool, at most [`MAX_HASHING`] at once, so a crowd of
//! logins costs bounded memory and never stalls chat. Failed logins are counted per address:
//! after [`MAX_FAILURES`] in [`LOCKOUT`], that address's logins are refused unchecked until the
//! lockout has passed.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use obrol_store::{Register, Store, StoreError};

use crate::domain::names::{fold, Name};
use crate::limits::{Failures, LogGate};

/// Password hashes computed at once; more wait their turn.
pub const MAX_HASHING: usize = 4;
/// Failed logins from one address before it is locked out...
pub const MAX_FAILURES: u32 = 5;
/// ...for this long after its first failure.
pub const LOCKOUT: Duration = Duration::from_secs(600);
/// Shortest password accepted at registration.
pub const MIN_PASSWORD: usize = 8;

/// The outcome of a login.
#[derive(Debug, PartialEq, Eq)]
pub enum Login {
    /// Logged in as this account (its name as registered).
    Ok(String),
    /// Wrong name or password.
    Failed,
    /// Too many failures from this address lately.
    LockedOut,
}

/// See the module documentation.
pub struct Accounts {
    store: Arc<Store>,
    /// Registered names, folded: nick protection asks this on every rename.
    names: RwLock<HashSet<Name>>,
    hashing: tokio::sync::Semaphore,
    failures: Mutex<Failures>,
    log: LogGate,
    saves: Arc<RoomSaves>,
    /// The thread that writes room changes, joined on drop (after writing what waits).
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Registered rooms waiting to be written, by name, each as it is now: a room changed twice
/// before the writer got to it is written once, as it ended up. Bounded by the number of
/// registered rooms, however fast operators change them, and written in order by one thread.
#[derive(Default)]
struct RoomSaves {
    queue: Mutex<SaveQueue>,
    wake: std::sync::Condvar,
}

#[derive(Default)]
struct SaveQueue {
    rooms: std::collections::HashMap<Name, obrol_store::RoomRecord>,
    /// The writer is writing a batch taken from `rooms`.
    busy: bool,
    closed: bool,
}

impl RoomSaves {
    fn lock(&self) -> std::sync::MutexGuard<'_, SaveQueue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The writer thread: takes what waits, writes it, until closed and nothing waits.
    fn run(&self, store: &Store) {
        let mut queue = self.lock();
        loop {
            if queue.rooms.is_empty() {
                if queue.closed {
                    return;
                }
                queue = self.wake.wait(queue).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            let batch = std::mem::take(&mut queue.rooms);
            queue.busy = true;
            drop(queue);
            let now = crate::domain::unix_now() as i64;
            for room in batch.values() {
                if let Err(e) = store.save_room(room, now) {
                    tracing::warn!(room = %room.name, "saving a registered room: {e}");
                }
            }
            queue = self.lock();
            queue.busy = false;
            self.wake.notify_all();
        }
    }
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts").finish_non_exhaustive()
    }
}

impl Accounts {
    /// Opens the store in `dir`.
    pub fn open(dir: &Path) -> Result<Accounts, StoreError> {
        let store = Store::open(dir)?;
        let names = store.account_names()?.iter().map(|n| fold(n)).collect();
        let store = Arc::new(store);
        let saves = Arc::new(RoomSaves::default());
        let writer = {
            let (store, saves) = (store.clone(), saves.clone());
            std::thread::Builder::new()
                .name("obrol-store".into())
                .spawn(move || saves.run(&store))
                .map_err(|e| StoreError::Hash(format!("starting the store's writer: {e}")))?
        };
        Ok(Accounts {
            store,
            names: RwLock::new(names),
            hashing: tokio::sync::Semaphore::new(MAX_HASHING),
            failures: Mutex::new(Failures::new(MAX_FAILURES, LOCKOUT, 65_536)),
            log: LogGate::new(Duration::from_secs(1)),
            saves,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Whether `nick` is a registered account's name.
    pub fn is_registered(&self, nick: &str) -> bool {
        let names = self.names.read().unwrap_or_else(|p| p.into_inner());
        names.contains(&fold(nick))
    }

    /// Creates account `name`.
    pub async fn register(&self, name: &str, password: &str) -> Result<Register, StoreError> {
        let _turn = self.hashing.acquire().await;
        let store = self.store.clone();
        let (n, p) = (name.to_owned(), password.to_owned());
        let now = crate::domain::unix_now() as i64;
        let result = tokio::task::spawn_blocking(move || store.register(&n, &p, now))
            .await
            .map_err(|e| StoreError::Hash(e.to_string()))??;
        if result == Register::Created {
            let mut names = self.names.write().unwrap_or_else(|p| p.into_inner());
            names.insert(fold(name));
            tracing::info!(account = name, "account registered");
        }
        Ok(result)
    }

    /// Checks `name` and `password` for a client at `addr`.
    pub async fn login(
        &self,
        addr: IpAddr,
        name: &str,
        password: &str,
    ) -> Result<Login, StoreError> {
        if self.locked(addr) {
            return Ok(Login::LockedOut);
        }
        let _turn = self.hashing.acquire().await;
        let store = self.store.clone();
        let (n, p) = (name.to_owned(), password.to_owned());
        let found = tokio::task::spawn_blocking(move || store.verify(&n, &p))
            .await
            .map_err(|e| StoreError::Hash(e.to_string()))??;
        match found {
            Some(account) => {
                self.succeeded(addr);
                Ok(Login::Ok(account))
            }
            None => {
                self.failed(addr, name);
                Ok(Login::Failed)
            }
        }
    }

    /// An account's SCRAM credentials (its name as registered), if it is one and has them.
    pub async fn scram(
        &self,
        name: &str,
    ) -> Result<Option<(String, obrol_store::Scram)>, StoreError> {
        let store = self.store.clone();
        let n = name.to_owned();
        tokio::task::spawn_blocking(move || store.scram(&n))
            .await
            .map_err(|e| StoreError::Hash(e.to_string()))?
    }

    /// Whether logins from `addr` are locked out now.
    pub fn locked(&self, addr: IpAddr) -> bool {
        self.lock_failures().locked(addr, crate::outbox::clock_ms())
    }

    /// A login failed: counted toward the address's lockout, and logged (at most once a
    /// second).
    pub fn failed(&self, addr: IpAddr, name: &str) {
        let locked = self.lock_failures().record(addr, crate::outbox::clock_ms());
        if let Some(held) = self.log.pass() {
            tracing::warn!(
                %addr,
                account = name,
                "failed login{} ({held} more since the last report)",
                if locked { "; address locked out" } else { "" }
            );
        }
    }

    /// A login succeeded: the address's failures are forgotten.
    pub fn succeeded(&self, addr: IpAddr) {
        self.lock_failures().clear(addr);
    }

    fn lock_failures(&self) -> std::sync::MutexGuard<'_, Failures> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Registered rooms: read once at start, written as they change (off the async threads, in
/// the background: the router never waits for the disk).
impl Accounts {
    /// Every registered room.
    pub fn rooms(&self) -> Vec<obrol_store::RoomRecord> {
        self.store.rooms().unwrap_or_else(|e| {
            tracing::warn!("reading the registered rooms: {e}");
            Vec::new()
        })
    }

    /// Saves registered room `room` as it is now (in the background: the router never waits
    /// for the disk; a later state of the same room replaces one not yet written).
    pub fn save_room(&self, room: obrol_store::RoomRecord) {
        let mut queue = self.saves.lock();
        queue.rooms.insert(fold(&room.name), room);
        self.saves.wake.notify_all();
    }

    /// Waits (up to `limit`) until every room change made so far is written; whether it was.
    pub fn flush(&self, limit: Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        let mut queue = self.saves.lock();
        while !queue.rooms.is_empty() || queue.busy {
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            queue = self
                .saves
                .wake
                .wait_timeout(queue, deadline - now)
                .map(|(q, _)| q)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        true
    }
}

impl Drop for Accounts {
    /// Writes what waits, then stops the writer.
    fn drop(&mut self) {
        self.saves.lock().closed = true;
        self.saves.wake.notify_all();
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(writer) = writer {
            let _ = writer.join();
        }
    }
}
