//! Moving the journal into `history.db` (see [`super::journal`]): logging a turn, the mover
//! thread, recovery at open, and readers waiting for the mover to catch up.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::params;

use super::{
    background_priority, journal, lock, lock_any, Event, History, Party, JOURNAL_CUT, MAX_BACKLOG,
    MOVE_EVERY,
};
use crate::StoreError;

impl History {
    /// Moves in what the journal holds beyond what `history.db` has (`held`, from byte `upto`:
    /// the process ended before its mover did), then empties the journal.
    pub(super) fn recover(
        &self,
        upto: u64,
        journal_len: u64,
        held: &[u8],
    ) -> Result<(), StoreError> {
        // Shorter than what was moved: it was emptied after everything in it was moved.
        let records = match journal_len < upto {
            true => Vec::new(),
            false => journal::Journal::records(held, upto),
        };
        let found = records.len();
        if found > 0 {
            let mut db = lock(&self.writer);
            let tx = db.transaction()?;
            for (events, parties, _) in &records {
                Self::insert(&tx, events, parties)?;
            }
            tx.execute("UPDATE moved SET upto = 0", [])?;
            tx.commit()?;
        } else {
            lock(&self.writer).execute("UPDATE moved SET upto = 0", [])?;
        }
        lock_any(&self.journal)
            .cut(0)
            .map_err(|e| StoreError::Open {
                dir: self.path.clone(),
                reason: e.to_string(),
            })?;
        Ok(())
    }

    /// Keeps `events` (and who talks privately with whom): in the journal at once (one
    /// `write`: it survives the process from then on), in `history.db` when the mover next
    /// runs. Readers see them: every query first waits for the mover to catch up.
    pub fn log(&self, events: Vec<Event>, parties: Vec<Party>) -> Result<(), StoreError> {
        if events.is_empty() && parties.is_empty() {
            return Ok(());
        }
        let record = journal::encode(&events, &parties);
        let backlog = {
            let mut journal = lock_any(&self.journal);
            let end = journal.append(&record).map_err(|e| StoreError::Open {
                dir: self.path.clone(),
                reason: format!("history.journal: {e}"),
            })?;
            let mut b = lock_any(&self.backlog);
            b.events += events.len();
            b.logged += 1;
            b.batches.push((events, parties, end));
            b.events
        };
        if !self.mover.load(Ordering::Acquire) {
            self.move_logged()?;
        } else if backlog > MAX_BACKLOG {
            // The mover has fallen far behind: the caller moves, and waits for it.
            self.move_logged()?;
        }
        Ok(())
    }

    /// Moves what was logged into `history.db`, in one transaction; returns how many events.
    pub fn move_logged(&self) -> Result<usize, StoreError> {
        let mut db = lock(&self.writer);
        let (batches, seq) = {
            let mut b = lock_any(&self.backlog);
            b.events = 0;
            (std::mem::take(&mut b.batches), b.logged)
        };
        let Some(&(_, _, end)) = batches.last() else {
            return Ok(0);
        };
        let moved = (|| -> Result<usize, StoreError> {
            let tx = db.transaction()?;
            let mut n = 0;
            for (events, parties, _) in &batches {
                Self::insert(&tx, events, parties)?;
                n += events.len();
            }
            tx.execute("UPDATE moved SET upto = ?1", params![end as i64])?;
            tx.commit()?;
            Ok(n)
        })();
        let n = match moved {
            Ok(n) => n,
            Err(err) => {
                // Still in the journal: put them back, in order, for the next try.
                let mut b = lock_any(&self.backlog);
                let later = std::mem::replace(&mut b.batches, batches);
                b.events = b.batches.iter().map(|x| x.0.len()).sum::<usize>()
                    + later.iter().map(|x| x.0.len()).sum::<usize>();
                b.batches.extend(later);
                return Err(err);
            }
        };
        {
            let mut b = lock_any(&self.backlog);
            b.moved = b.moved.max(seq);
        }
        self.moved.notify_all();
        if end >= JOURNAL_CUT {
            let mut journal = lock_any(&self.journal);
            // Nothing logged since: all of it is in `history.db`. Emptied before the mark is
            // reset, so a crash between the two finds a journal shorter than the mark, which
            // reads as "all moved". Otherwise (a busy hub logs all the time) what was moved is
            // given back to the file system.
            if journal.written == end {
                if journal.cut(0).is_ok() {
                    db.execute("UPDATE moved SET upto = 0", [])?;
                }
            } else {
                journal.release(end);
            }
        }
        Ok(n)
    }

    /// Moves logged events on a thread of its own from now on, every [`MOVE_EVERY`] or at
    /// once when a reader waits. The thread ends with the store.
    pub fn start_mover(self: &Arc<Self>) -> std::io::Result<()> {
        let weak = Arc::downgrade(self);
        self.mover.store(true, Ordering::Release);
        std::thread::Builder::new()
            .name("history-writer".into())
            .spawn(move || {
                background_priority();
                loop {
                    let Some(history) = weak.upgrade() else {
                        return;
                    };
                    {
                        let b = lock_any(&history.backlog);
                        let _ = history.work.wait_timeout(b, MOVE_EVERY);
                    }
                    if let Err(err) = history.move_logged() {
                        // At most once a second: the loop sleeps after each.
                        tracing::warn!(%err, "history not moved from its journal");
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            })?;
        Ok(())
    }

    /// Waits (at most two seconds) until everything logged so far is in `history.db`.
    pub(super) fn caught_up(&self) {
        let mut b = lock_any(&self.backlog);
        let want = b.logged;
        if b.moved >= want {
            return;
        }
        if !self.mover.load(Ordering::Acquire) {
            drop(b);
            let _ = self.move_logged();
            return;
        }
        self.work.notify_one();
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while b.moved < want {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return;
            }
            b = match self.moved.wait_timeout(b, left) {
                Ok((b, _)) => b,
                Err(p) => p.into_inner().0,
            };
        }
    }
}
