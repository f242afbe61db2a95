//! Message history: every room message, action, notice and private message the hub delivers,
//! and the joins, parts, quits, topics, renames and kicks a replay shows, in a SQLite file of
//! its own (`history.db` beside the accounts' `obrol.db`).
//!
//! A file of its own: history is written all the time and read in bulk, accounts rarely; in one
//! file every write transaction and WAL checkpoint of history would stall logins, and history
//! could not be moved, trimmed or dropped on its own. WAL mode with `synchronous=NORMAL`: a
//! committed batch survives a crash of the process (`kill -9`), a power loss may lose the last
//! batches, never corrupt the file.
//!
//! The hub decides what a *target* is (a room's folded name, or a key for a private
//! conversation, see docs/PROTOCOL.md); here it is an opaque string that queries filter on.
//! Events are ordered by time, then by the order they were written. Searching uses SQLite's
//! FTS5 over the text of messages (not of joins and the like), kept in a third file
//! (`search.db`) and brought up to date by [`History::index`] in batches, on a thread of its
//! own and before every search: indexing as part of every write made FTS5 flush and merge its
//! segments at every transaction, 40% of a busy hub's time (measured: bench/RESULTS.md), and
//! a file of its own means the indexer never holds the lock the writer needs.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use crate::StoreError;

/// What an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Privmsg,
    Notice,
    /// CTCP ACTION (`/me`).
    Action,
    Join,
    Part,
    Quit,
    Topic,
    /// A rename: the event's text is the new nick.
    Nick,
    /// The event's text is `victim reason`.
    Kick,
}

impl Kind {
    fn letter(self) -> &'static str {
        match self {
            Kind::Privmsg => "P",
            Kind::Notice => "N",
            Kind::Action => "A",
            Kind::Join => "J",
            Kind::Part => "L",
            Kind::Quit => "Q",
            Kind::Topic => "T",
            Kind::Nick => "R",
            Kind::Kick => "K",
        }
    }

    fn from_letter(s: &str) -> Option<Kind> {
        Some(match s {
            "P" => Kind::Privmsg,
            "N" => Kind::Notice,
            "A" => Kind::Action,
            "J" => Kind::Join,
            "L" => Kind::Part,
            "Q" => Kind::Quit,
            "T" => Kind::Topic,
            "R" => Kind::Nick,
            "K" => Kind::Kick,
            _ => return None,
        })
    }

    /// Whether this is something someone said (what plain history and search are made of).
    pub fn is_message(self) -> bool {
        matches!(self, Kind::Privmsg | Kind::Notice | Kind::Action)
    }
}

/// One event, as stored and as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub msgid: String,
    /// Milliseconds since 1970.
    pub time_ms: i64,
    /// The conversation it belongs to (the hub's key: see the module documentation).
    pub target: String,
    /// The target as it was shown (`#Lobby`, or the nick a private message went to).
    pub target_name: String,
    pub kind: Kind,
    pub nick: String,
    /// `nick!user@host`, as the event's source was shown.
    pub source: String,
    pub account: Option<String>,
    pub text: String,
}

/// A point in a conversation: a message (by its id) or a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchor {
    MsgId(String),
    TimeMs(i64),
}

/// One party's side of a private conversation: `party` (the hub's name for a participant)
/// talks in `target` with someone last seen as `peer`. Written with the conversation's
/// messages ([`History::append_with`]); what `CHATHISTORY TARGETS` and a query by nick read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub party: String,
    pub target: String,
    pub peer: String,
}

/// What narrows a search beyond its words and conversations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Narrow {
    /// Said by this nick (case-insensitive).
    pub from: Option<String>,
    /// Said after this time (ms, exclusive).
    pub after_ms: Option<i64>,
    /// Said before this time (ms, exclusive).
    pub before_ms: Option<i64>,
}

/// Which events a query returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Events {
    /// Messages only.
    Messages,
    /// Joins, parts and the rest too (IRCv3 `draft/event-playback`).
    All,
}

impl Events {
    fn filter(self) -> &'static str {
        match self {
            Events::Messages => "kind IN ('P', 'N', 'A')",
            Events::All => "1",
        }
    }
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        msgid TEXT NOT NULL,
        time INTEGER NOT NULL,
        target TEXT NOT NULL,
        target_name TEXT NOT NULL,
        kind TEXT NOT NULL,
        nick TEXT NOT NULL,
        source TEXT NOT NULL,
        account TEXT,
        text TEXT NOT NULL
    );
    CREATE INDEX events_by_target ON events (target, time, id);
    CREATE INDEX events_by_msgid ON events (msgid);",
    // Who talks privately with whom (see `Party`).
    "CREATE TABLE parties (
        party TEXT NOT NULL,
        target TEXT NOT NULL,
        peer TEXT NOT NULL,
        PRIMARY KEY (party, target)
    ) WITHOUT ROWID;",
    // How far the journal has been moved in (see `journal`).
    "CREATE TABLE moved (upto INTEGER NOT NULL); INSERT INTO moved (upto) VALUES (0);",
];

/// Most events the journal may hold beyond `history.db` before [`History::log`] moves them
/// itself (the mover thread has fallen behind: the caller then pays, and memory stays bounded).
const MAX_BACKLOG: usize = 50_000;

/// How long the mover gathers turns into one transaction, unless a reader waits (readers
/// wait for it, so this costs them nothing; longer means fewer commits and checkpoints).
const MOVE_EVERY: Duration = Duration::from_millis(100);

/// The journal is emptied once all of it is moved and it has grown past this.
const JOURNAL_CUT: u64 = 8 << 20;

/// What the journal holds that `history.db` does not yet.
#[derive(Default)]
struct Backlog {
    /// Logged, not yet moved, in order: each with the journal's length after it.
    batches: Vec<(Vec<Event>, Vec<Party>, u64)>,
    events: usize,
    /// Batches logged and moved, ever (a reader waits until `moved` reaches `logged`).
    logged: u64,
    moved: u64,
}

/// Connections that read: a query waits only when this many run at once.
const READERS: usize = 3;

/// The search index's file: words of messages by event id, and how far it has got.
const SEARCH_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS indexed (upto INTEGER NOT NULL);
    CREATE VIRTUAL TABLE IF NOT EXISTS words USING fts5 (text, content = '', contentless_delete = 1);";

const COLUMNS: &str = "msgid, time, target, target_name, kind, nick, source, account, text";

/// The history store (see the module documentation). One connection writes, another reads,
/// so a long query never holds up the writer (WAL lets them run side by side).
pub struct History {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    /// Writes `search.db`, reading `history.db` (attached as `h`).
    indexer: Mutex<Connection>,
    path: std::path::PathBuf,
    journal: Mutex<journal::Journal>,
    backlog: Mutex<Backlog>,
    /// Wakes the mover: a reader waits, or the backlog is long.
    work: Condvar,
    /// Tells waiting readers that batches were moved.
    moved: Condvar,
    /// A mover thread runs ([`History::start_mover`]); without one, [`History::log`] moves.
    mover: AtomicBool,
}

fn lock(c: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    c.lock().unwrap_or_else(|p| p.into_inner())
}

/// Lowers the calling thread's scheduling priority (nice 10): the store's threads (moving the
/// journal, indexing for search) take the time the chat leaves, and yield the core to it when
/// both want it. On Linux a thread's nice value is its own.
pub fn background_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority with who = 0 changes only the calling thread; no memory is passed.
    unsafe {
        let _ = libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

fn lock_any<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn row_event(r: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    let kind: String = r.get(4)?;
    Ok(Event {
        msgid: r.get(0)?,
        time_ms: r.get(1)?,
        target: r.get(2)?,
        target_name: r.get(3)?,
        kind: Kind::from_letter(&kind).unwrap_or(Kind::Notice),
        nick: r.get(5)?,
        source: r.get(6)?,
        account: r.get(7)?,
        text: r.get(8)?,
    })
}

impl History {
    /// Opens (creating if needed) `dir/history.db`; a file this obrol cannot read or write, or
    /// of a newer schema, is refused here, with the reason, not at the first message.
    pub fn open(dir: &Path) -> Result<History, StoreError> {
        let path = dir.join("history.db");
        let fail = |reason: String| StoreError::Open {
            dir: dir.to_owned(),
            reason: format!("history.db: {reason}"),
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        let writer = Connection::open(&path).map_err(|e| fail(e.to_string()))?;
        writer
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| fail(e.to_string()))?;
        writer
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| fail(e.to_string()))?;
        writer
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| fail(e.to_string()))?;
        let version: usize = writer
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| fail(e.to_string()))?;
        if version > SCHEMA.len() {
            return Err(fail(format!(
                "its schema is version {version}, newer than this obrol knows ({})",
                SCHEMA.len()
            )));
        }
        for (i, step) in SCHEMA.iter().enumerate().skip(version) {
            writer
                .execute_batch(&format!(
                    "BEGIN; {step} PRAGMA user_version = {}; COMMIT;",
                    i + 1
                ))
                .map_err(|e| fail(format!("creating the schema: {e}")))?;
        }
        // A write now, so a read-only file or directory is found at start.
        writer
            .execute_batch("BEGIN IMMEDIATE; COMMIT;")
            .map_err(|e| fail(format!("cannot write: {e}")))?;
        let search = dir.join("search.db");
        let search_name = search.to_string_lossy().replace('\'', "''");
        let history_name = path.to_string_lossy().replace('\'', "''");
        let indexer = Connection::open(&search).map_err(|e| fail(e.to_string()))?;
        indexer
            .pragma_update(None, "journal_mode", "WAL")
            .and_then(|_| indexer.pragma_update(None, "synchronous", "NORMAL"))
            .and_then(|_| indexer.busy_timeout(std::time::Duration::from_secs(5)))
            .and_then(|_| indexer.execute_batch(SEARCH_SCHEMA))
            .and_then(|_| indexer.execute_batch(&format!("ATTACH DATABASE '{history_name}' AS h;")))
            .map_err(|e| fail(format!("search.db: {e}")))?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let reader = Connection::open(&path).map_err(|e| fail(e.to_string()))?;
            reader
                .busy_timeout(std::time::Duration::from_secs(5))
                .and_then(|_| {
                    reader.execute_batch(&format!("ATTACH DATABASE '{search_name}' AS s;"))
                })
                .map_err(|e| fail(e.to_string()))?;
            readers.push(Mutex::new(reader));
        }
        let upto: i64 = writer
            .query_row("SELECT upto FROM moved", [], |r| r.get(0))
            .map_err(|e| fail(e.to_string()))?;
        let upto = u64::try_from(upto).unwrap_or(0);
        let (journal, journal_len, held) =
            journal::Journal::open(&dir.join("history.journal"), upto)
                .map_err(|e| fail(format!("history.journal: {e}")))?;
        let history = History {
            writer: Mutex::new(writer),
            readers,
            indexer: Mutex::new(indexer),
            path,
            journal: Mutex::new(journal),
            backlog: Mutex::default(),
            work: Condvar::new(),
            moved: Condvar::new(),
            mover: AtomicBool::new(false),
        };
        history
            .recover(upto, journal_len, &held)
            .map_err(|e| fail(format!("history.journal: {e}")))?;
        Ok(history)
    }

    /// Brings the search index up to date with what was written (in batches of at most
    /// 20,000); returns how many messages it indexed. Forgets the words of events pruned since.
    pub fn index(&self) -> Result<usize, StoreError> {
        let mut db = lock(&self.indexer);
        let mut done = 0;
        loop {
            let tx = db.transaction()?;
            let upto: i64 = tx
                .query_row("SELECT upto FROM indexed", [], |r| r.get(0))
                .optional()?
                .unwrap_or(0);
            let newest: Option<i64> = tx.query_row(
                "SELECT MAX(id) FROM (SELECT id FROM h.events WHERE id > ?1 ORDER BY id LIMIT 20000)",
                params![upto],
                |r| r.get(0),
            )?;
            let Some(newest) = newest else {
                return Ok(done);
            };
            done += tx.execute(
                "INSERT INTO words (rowid, text) SELECT id, text FROM h.events \
                 WHERE id > ?1 AND id <= ?2 AND kind IN ('P', 'N', 'A')",
                params![upto, newest],
            )?;
            // What pruning took (everything older than the oldest left, at least).
            tx.execute(
                "DELETE FROM words WHERE rowid < (SELECT IFNULL(MIN(id), 0) FROM h.events)",
                [],
            )?;
            tx.execute("DELETE FROM indexed", [])?;
            tx.execute("INSERT INTO indexed (upto) VALUES (?1)", params![newest])?;
            tx.commit()?;
        }
    }

    /// A reading connection: a free one if there is, else one to wait for.
    fn reader(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.caught_up();
        for r in &self.readers {
            match r.try_lock() {
                Ok(guard) => return guard,
                Err(std::sync::TryLockError::Poisoned(p)) => return p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
        }
        // All busy: wait for one, spread by thread so waiters do not all queue on the first.
        let pick = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            std::thread::current().id().hash(&mut h);
            h.finish() as usize % self.readers.len()
        };
        lock(&self.readers[pick])
    }

    /// Writes `events` in one transaction: all of them, or (on an error) none.
    pub fn append(&self, events: &[Event]) -> Result<(), StoreError> {
        self.append_with(events, &[])
    }

    /// Writes `events` and who talks privately with whom (`parties`) in one transaction,
    /// bypassing the journal.
    pub fn append_with(&self, events: &[Event], parties: &[Party]) -> Result<(), StoreError> {
        if events.is_empty() && parties.is_empty() {
            return Ok(());
        }
        let mut db = lock(&self.writer);
        let tx = db.transaction()?;
        Self::insert(&tx, events, parties)?;
        tx.commit()?;
        Ok(())
    }

    fn insert(tx: &Connection, events: &[Event], parties: &[Party]) -> Result<(), StoreError> {
        let mut insert = tx.prepare_cached(&format!(
            "INSERT INTO events ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ))?;
        for e in events {
            insert.execute(params![
                e.msgid,
                e.time_ms,
                e.target,
                e.target_name,
                e.kind.letter(),
                e.nick,
                e.source,
                e.account,
                e.text
            ])?;
        }
        let mut party = tx.prepare_cached(
            "INSERT INTO parties (party, target, peer) VALUES (?1, ?2, ?3) \
             ON CONFLICT (party, target) DO UPDATE SET peer = excluded.peer",
        )?;
        for p in parties {
            party.execute(params![p.party, p.target, p.peer])?;
        }
        Ok(())
    }

    /// Where `anchor` is in `target`: (time, id) of the message, or the time with an id
    /// before (`late` false) or after (`late` true) every event at that time.
    fn place(
        &self,
        db: &Connection,
        target: &str,
        anchor: &Anchor,
        late: bool,
    ) -> Option<(i64, i64)> {
        match anchor {
            Anchor::TimeMs(t) => Some((*t, if late { i64::MAX } else { i64::MIN })),
            Anchor::MsgId(id) => db
                .query_row(
                    "SELECT time, id FROM events WHERE target = ?1 AND msgid = ?2 LIMIT 1",
                    params![target, id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .ok()
                .flatten(),
        }
    }

    /// Events of `target` strictly between two places, `limit` of them nearest `from` (the
    /// newest if `newest_first`), returned oldest first.
    fn range(
        db: &Connection,
        target: &str,
        after: (i64, i64),
        before: (i64, i64),
        newest_first: bool,
        limit: usize,
        which: Events,
    ) -> Result<Vec<Event>, StoreError> {
        let order = if newest_first { "DESC" } else { "ASC" };
        let mut q = db.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM events WHERE target = ?1 AND {} \
             AND (time, id) > (?2, ?3) AND (time, id) < (?4, ?5) \
             ORDER BY time {order}, id {order} LIMIT ?6",
            which.filter()
        ))?;
        let mut out: Vec<Event> = q
            .query_map(
                params![target, after.0, after.1, before.0, before.1, limit as i64],
                row_event,
            )?
            .collect::<Result<_, _>>()?;
        if newest_first {
            out.reverse();
        }
        Ok(out)
    }

    /// The newest `limit` events of `target`, after `since` if given (IRCv3 `LATEST`).
    pub fn latest(
        &self,
        target: &str,
        since: Option<&Anchor>,
        limit: usize,
        which: Events,
    ) -> Result<Vec<Event>, StoreError> {
        let db = self.reader();
        let after = match since {
            Some(a) => match self.place(&db, target, a, true) {
                Some(p) => p,
                None => return Ok(Vec::new()),
            },
            None => (i64::MIN, i64::MIN),
        };
        Self::range(&db, target, after, (i64::MAX, i64::MAX), true, limit, which)
    }

    /// The `limit` events of `target` just before `anchor` (IRCv3 `BEFORE`).
    pub fn before(
        &self,
        target: &str,
        anchor: &Anchor,
        limit: usize,
        which: Events,
    ) -> Result<Vec<Event>, StoreError> {
        let db = self.reader();
        let Some(at) = self.place(&db, target, anchor, false) else {
            return Ok(Vec::new());
        };
        Self::range(&db, target, (i64::MIN, i64::MIN), at, true, limit, which)
    }

    /// The `limit` events of `target` just after `anchor` (IRCv3 `AFTER`).
    pub fn after(
        &self,
        target: &str,
        anchor: &Anchor,
        limit: usize,
        which: Events,
    ) -> Result<Vec<Event>, StoreError> {
        let db = self.reader();
        let Some(at) = self.place(&db, target, anchor, true) else {
            return Ok(Vec::new());
        };
        Self::range(&db, target, at, (i64::MAX, i64::MAX), false, limit, which)
    }

    /// Up to `limit` events of `target` around `anchor`: half before, and the rest from it on
    /// (the anchored message itself included) (IRCv3 `AROUND`).
    pub fn around(
        &self,
        target: &str,
        anchor: &Anchor,
        limit: usize,
        which: Events,
    ) -> Result<Vec<Event>, StoreError> {
        let db = self.reader();
        let Some(at) = self.place(&db, target, anchor, false) else {
            return Ok(Vec::new());
        };
        let before = limit / 2;
        let mut out = Self::range(&db, target, (i64::MIN, i64::MIN), at, true, before, which)?;
        let from = (at.0, at.1.saturating_sub(1));
        out.extend(Self::range(
            &db,
            target,
            from,
            (i64::MAX, i64::MAX),
            false,
            limit - out.len(),
            which,
        )?);
        Ok(out)
    }

    /// Up to `limit` events of `target` strictly between `from` and `to`, nearest `from`
    /// (IRCv3 `BETWEEN`: `from` may be after `to`), returned oldest first.
    pub fn between(
        &self,
        target: &str,
        from: &Anchor,
        to: &Anchor,
        limit: usize,
        which: Events,
    ) -> Result<Vec<Event>, StoreError> {
        let db = self.reader();
        let (Some(a), Some(b)) = (
            self.place(&db, target, from, true),
            self.place(&db, target, to, false),
        ) else {
            return Ok(Vec::new());
        };
        if a < b {
            Self::range(&db, target, a, b, false, limit, which)
        } else {
            // Backwards from `from`: the places swap their roles.
            let (Some(hi), Some(lo)) = (
                self.place(&db, target, from, false),
                self.place(&db, target, to, true),
            ) else {
                return Ok(Vec::new());
            };
            Self::range(&db, target, lo, hi, true, limit, which)
        }
    }

    /// The conversations among `allowed` with messages between two times (exclusive), each
    /// with its shown name and its latest message time in that span, latest first, at most
    /// `limit` (IRCv3 `TARGETS`).
    pub fn targets(
        &self,
        allowed: &[String],
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let (lo, hi) = (from_ms.min(to_ms), from_ms.max(to_ms));
        let db = self.reader();
        let mut q = db.prepare_cached(
            "SELECT target, target_name, MAX(time) FROM events \
             WHERE target = ?1 AND kind IN ('P', 'N', 'A') AND time > ?2 AND time < ?3",
        )?;
        let mut out = Vec::new();
        for t in allowed {
            let row: Option<(Option<String>, Option<String>, Option<i64>)> = q
                .query_row(params![t, lo, hi], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            if let Some((Some(target), Some(name), Some(time))) = row {
                out.push((target, name, time));
            }
        }
        out.sort_by_key(|t| std::cmp::Reverse(t.2));
        out.truncate(limit);
        Ok(out)
    }

    /// The private conversations `party` takes part in: (target, the other party's latest
    /// nick), most recently started last.
    pub fn conversations(&self, party: &str) -> Result<Vec<(String, String)>, StoreError> {
        let db = self.reader();
        let mut q = db.prepare_cached("SELECT target, peer FROM parties WHERE party = ?1")?;
        let out = q
            .query_map(params![party], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(out)
    }

    /// Messages in `targets` whose text has every word of `words`, newest first, at most
    /// `limit` (newest by id, which is the order written: FTS5 then walks its matches from the
    /// newest and stops at the limit, instead of collecting every match to sort them). Words are matched as words (FTS5, Unicode-aware, case-insensitive), quoted so
    /// that nothing in them is read as query syntax.
    pub fn search(
        &self,
        words: &str,
        targets: &[String],
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        self.search_narrowed(words, targets, &Narrow::default(), limit)
    }

    /// [`History::search`], narrowed to a sender and a span of time.
    pub fn search_narrowed(
        &self,
        words: &str,
        targets: &[String],
        narrow: &Narrow,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        let query: Vec<String> = words
            .split_whitespace()
            .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
            .collect();
        if query.is_empty() || targets.is_empty() {
            return Ok(Vec::new());
        }
        let query = query.join(" ");
        self.caught_up();
        self.index()?;
        let db = self.reader();
        let placeholders: Vec<String> = (0..targets.len()).map(|i| format!("?{}", i + 6)).collect();
        let sql = format!(
            "SELECT {} FROM s.words JOIN events e ON e.id = s.words.rowid \
             WHERE words MATCH ?1 AND e.target IN ({}) \
             AND (?3 IS NULL OR e.nick = ?3 COLLATE NOCASE) \
             AND (?4 IS NULL OR e.time > ?4) AND (?5 IS NULL OR e.time < ?5) \
             ORDER BY s.words.rowid DESC LIMIT ?2",
            COLUMNS
                .split(", ")
                .map(|c| format!("e.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
            placeholders.join(", ")
        );
        let mut q = db.prepare(&sql)?;
        let mut values: Vec<&dyn rusqlite::ToSql> = vec![&query];
        let limit = limit as i64;
        values.push(&limit);
        values.push(&narrow.from);
        values.push(&narrow.after_ms);
        values.push(&narrow.before_ms);
        for t in targets {
            values.push(t);
        }
        let out = q
            .query_map(values.as_slice(), row_event)?
            .collect::<Result<_, _>>()?;
        Ok(out)
    }

    /// Drops events older than `max_age_ms` (if given), and those before the newest
    /// `max_per_target` messages of each conversation (if given). Returns how many went.
    pub fn prune(
        &self,
        now_ms: i64,
        max_age_ms: Option<i64>,
        max_per_target: Option<usize>,
    ) -> Result<usize, StoreError> {
        let db = lock(&self.writer);
        let mut gone = 0;
        if let Some(age) = max_age_ms {
            // Events are written in time order (one writer, one clock): everything before the
            // first event young enough goes, found by id (no index on time to keep up).
            gone += db.execute(
                "DELETE FROM events WHERE id < IFNULL(
                    (SELECT id FROM events WHERE time >= ?1 ORDER BY id LIMIT 1),
                    (SELECT MAX(id) + 1 FROM events))",
                params![now_ms.saturating_sub(age)],
            )?;
        }
        if let Some(keep) = max_per_target {
            // The count is of messages: the joins and the like between them go with the oldest
            // kept, so a busy door does not push out what was said.
            gone += db.execute(
                "WITH cut AS (
                    SELECT target, time, id FROM (
                        SELECT target, time, id, ROW_NUMBER() OVER (
                            PARTITION BY target ORDER BY time DESC, id DESC) AS n
                        FROM events WHERE kind IN ('P', 'N', 'A'))
                    WHERE n = ?1)
                DELETE FROM events WHERE EXISTS (
                    SELECT 1 FROM cut WHERE cut.target = events.target
                    AND (events.time, events.id) < (cut.time, cut.id))",
                params![keep as i64],
            )?;
        }
        Ok(gone)
    }

    /// Events stored.
    pub fn count(&self) -> Result<u64, StoreError> {
        let db = self.reader();
        Ok(db.query_row("SELECT COUNT(*) FROM events", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// Bytes the store takes on disk (history and search, with their write-ahead logs).
    pub fn size_bytes(&self) -> u64 {
        let search = self.path.with_file_name("search.db");
        [
            self.path.clone(),
            self.path.with_extension("journal"),
            self.path.with_extension("db-wal"),
            search.with_extension("db-wal"),
            search,
        ]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
    }
}

impl Drop for History {
    /// What the journal holds goes into `history.db` before the store closes.
    fn drop(&mut self) {
        let _ = self.move_logged();
    }
}

mod journal;
mod moving;

#[cfg(test)]
mod tests;
