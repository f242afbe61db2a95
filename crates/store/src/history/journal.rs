//! The history's journal (`history.journal`): what the hub says, appended as it says it, one
//! `write` per router turn, and moved into `history.db` in large transactions by a thread of
//! its own (see [`super::History::log`]).
//!
//! A `write` that returned is in the kernel's page cache: it survives the process being killed
//! (`kill -9`), as a SQLite commit in WAL mode with `synchronous=NORMAL` does, for a fraction
//! of the cost (no B-tree, no index, no WAL frames per turn: measured in bench/RESULTS.md).
//! Opening the store moves whatever the journal holds beyond what `history.db` records as
//! moved (in the same transaction as the events, so nothing is moved twice).
//!
//! A record: payload length (u32, little-endian), the first 8 bytes of the payload's SHA-256,
//! the payload. A record that does not check out ends the journal (a torn write at a power
//! loss): it and what follows are dropped at open.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

use sha2::{Digest, Sha256};

use super::{Event, Kind, Party};

/// Longest record read back (a router turn writes far less).
const MAX_RECORD: usize = 256 << 20;

pub(super) struct Journal {
    file: File,
    /// Bytes written (the end of the last whole record).
    pub(super) written: u64,
    /// The bytes before this were given back to the file system (see [`Journal::release`]).
    released: u64,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// One record of `events` and `parties`.
pub(super) fn encode(events: &[Event], parties: &[Party]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(events.len() * 160 + 8);
    payload.extend_from_slice(&(events.len() as u32).to_le_bytes());
    for e in events {
        payload.extend_from_slice(&e.time_ms.to_le_bytes());
        payload.push(e.kind.letter().as_bytes()[0]);
        for s in [
            &e.msgid,
            &e.target,
            &e.target_name,
            &e.nick,
            &e.source,
            &e.text,
        ] {
            put_str(&mut payload, s);
        }
        match &e.account {
            Some(a) => {
                payload.push(1);
                put_str(&mut payload, a);
            }
            None => payload.push(0),
        }
    }
    payload.extend_from_slice(&(parties.len() as u32).to_le_bytes());
    for p in parties {
        for s in [&p.party, &p.target, &p.peer] {
            put_str(&mut payload, s);
        }
    }
    let mut record = Vec::with_capacity(payload.len() + 12);
    record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    record.extend_from_slice(&Sha256::digest(&payload)[..8]);
    record.extend_from_slice(&payload);
    record
}

/// Reads what [`encode`] wrote, field by field.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let part = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(part)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn string(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

/// Reads a payload back; `None` if it is not one [`encode`] wrote.
pub(super) fn decode(payload: &[u8]) -> Option<(Vec<Event>, Vec<Party>)> {
    let mut c = Cursor {
        bytes: payload,
        at: 0,
    };
    let count = c.u32()? as usize;
    let mut events = Vec::with_capacity(count.min(65_536));
    for _ in 0..count {
        let time_ms = i64::from_le_bytes(c.take(8)?.try_into().ok()?);
        let kind = Kind::from_letter(std::str::from_utf8(c.take(1)?).ok()?)?;
        let msgid = c.string()?;
        let target = c.string()?;
        let target_name = c.string()?;
        let nick = c.string()?;
        let source = c.string()?;
        let text = c.string()?;
        let account = match c.take(1)?.first()? {
            0 => None,
            1 => Some(c.string()?),
            _ => return None,
        };
        events.push(Event {
            msgid,
            time_ms,
            target,
            target_name,
            kind,
            nick,
            source,
            account,
            text,
        });
    }
    let count = c.u32()? as usize;
    let mut parties = Vec::with_capacity(count.min(65_536));
    for _ in 0..count {
        parties.push(Party {
            party: c.string()?,
            target: c.string()?,
            peer: c.string()?,
        });
    }
    (c.at == payload.len()).then_some((events, parties))
}

impl Journal {
    /// Opens (creating) the journal at `path`; returns it (to be [`Journal::cut`] where its
    /// whole records end), its length, and what it holds from byte `from` on (the part before
    /// was moved already, and may be a hole).
    pub(super) fn open(
        path: &std::path::Path,
        from: u64,
    ) -> std::io::Result<(Journal, u64, Vec<u8>)> {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let len = file.metadata()?.len();
        let mut rest = Vec::new();
        if from <= len {
            file.seek(SeekFrom::Start(from))?;
            file.read_to_end(&mut rest)?;
        }
        let journal = Journal {
            file,
            written: 0,
            released: 0,
        };
        Ok((journal, len, rest))
    }

    /// Gives the first `upto` bytes (moved already) back to the file system while records are
    /// still appended after them: a hole punched in the file, its length and offsets kept, so
    /// a busy hub's journal does not grow without end. Where holes are not supported the
    /// bytes stay until the journal is next emptied.
    pub(super) fn release(&mut self, upto: u64) {
        let upto = upto & !4095;
        if upto <= self.released {
            return;
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let len = libc::off_t::try_from(upto).unwrap_or(0);
            // SAFETY: punches a hole in a file this struct owns; no memory is passed.
            let punched = unsafe {
                libc::fallocate(
                    self.file.as_raw_fd(),
                    libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                    0,
                    len,
                )
            };
            if punched == 0 {
                self.released = upto;
            }
        }
    }

    /// The whole records of `bytes` (which start at journal offset `base`): each with the
    /// journal offset just after it. The first that does not check out ends them.
    pub(super) fn records(bytes: &[u8], base: u64) -> Vec<(Vec<Event>, Vec<Party>, u64)> {
        let mut out = Vec::new();
        let mut at = 0usize;
        while let Some(head) = bytes.get(at..at.saturating_add(12)) {
            let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
            if len > MAX_RECORD {
                break;
            }
            let Some(payload) = bytes.get(at + 12..at + 12 + len) else {
                break;
            };
            if Sha256::digest(payload)[..8] != head[4..12] {
                break;
            }
            let Some((events, parties)) = decode(payload) else {
                break;
            };
            at += 12 + len;
            out.push((events, parties, base + at as u64));
        }
        out
    }

    /// Sets the end of the journal to `len` (dropping what follows) and writes there next.
    pub(super) fn cut(&mut self, len: u64) -> std::io::Result<()> {
        self.file.set_len(len)?;
        self.file.seek(SeekFrom::Start(len))?;
        self.written = len;
        self.released = self.released.min(len);
        Ok(())
    }

    /// Appends one record (one `write`). On an error the journal is cut back to where it was,
    /// so no half record stays in it.
    pub(super) fn append(&mut self, record: &[u8]) -> std::io::Result<u64> {
        if let Err(err) = self.file.write_all(record) {
            let _ = self.cut(self.written);
            return Err(err);
        }
        self.written += record.len() as u64;
        Ok(self.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: i64, account: Option<&str>) -> Event {
        Event {
            msgid: format!("m{n}"),
            time_ms: 1_700_000_000_000 + n,
            target: "#a".into(),
            target_name: "#A".into(),
            kind: Kind::Action,
            nick: "ani".into(),
            source: "ani!a@h".into(),
            account: account.map(str::to_owned),
            text: format!("halo {n} ✓"),
        }
    }

    #[test]
    fn records_come_back_and_a_torn_or_damaged_tail_ends_them() {
        let party = Party {
            party: "~a".into(),
            target: "@~a ~b".into(),
            peer: "b".into(),
        };
        let one = encode(
            &[event(1, Some("ani")), event(2, None)],
            std::slice::from_ref(&party),
        );
        let two = encode(&[event(3, None)], &[]);
        let mut bytes = [one.clone(), two.clone()].concat();
        let read = Journal::records(&bytes, 0);
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].0, vec![event(1, Some("ani")), event(2, None)]);
        assert_eq!(read[0].1, vec![party]);
        assert_eq!(read[0].2, one.len() as u64);
        assert_eq!(read[1].2, (one.len() + two.len()) as u64);
        let rest = Journal::records(&bytes[one.len()..], one.len() as u64);
        assert_eq!(rest.len(), 1);
        assert_eq!(
            rest[0].2,
            (one.len() + two.len()) as u64,
            "offsets in the journal"
        );
        // Torn: the second record cut short.
        assert_eq!(Journal::records(&bytes[..bytes.len() - 3], 0).len(), 1);
        // Damaged: a byte of the second record's payload flipped.
        let last = bytes.len() - 1;
        bytes[last] ^= 0x20;
        assert_eq!(Journal::records(&bytes, 0).len(), 1);
        // Garbage, and a length far too large, are no records.
        assert!(Journal::records(&[0xff; 64], 0).is_empty());
        assert!(Journal::records(&[], 0).is_empty());
        assert!(Journal::records(&one[1..], 1).is_empty());
    }

    #[test]
    fn moved_bytes_are_given_back_and_the_rest_still_reads() {
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("obrol-journal-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("history.journal");
        let _ = std::fs::remove_file(&path);
        let (mut j, len, rest) = Journal::open(&path, 0).unwrap();
        assert_eq!((len, rest.len()), (0, 0));
        let mut big = event(1, None);
        big.text = "x".repeat(64 << 10);
        let mut ends = Vec::new();
        for _ in 0..8 {
            ends.push(j.append(&encode(&[big.clone()], &[])).unwrap());
        }
        let blocks = std::fs::metadata(&path).unwrap().blocks();
        j.release(ends[5]);
        let after = std::fs::metadata(&path).unwrap();
        assert_eq!(
            after.len(),
            ends[7],
            "the length stays: offsets do not move"
        );
        assert!(
            after.blocks() < blocks,
            "{} blocks, then {}",
            blocks,
            after.blocks()
        );
        drop(j);
        let (_, len, rest) = Journal::open(&path, ends[5]).unwrap();
        assert_eq!(len, ends[7]);
        let records = Journal::records(&rest, ends[5]);
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].2, ends[7]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
