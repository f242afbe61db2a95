//! obrol's embedded store: one SQLite database in the hub's data directory.
//!
//! Accounts live here now (name, Argon2id password hash, creation time); room registrations and
//! message history are the next tables. Every call blocks (SQLite and Argon2 are both meant to
//! be called from a thread that may wait): the hub calls them off its async threads.
//!
//! The database is opened in WAL mode with `synchronous=NORMAL`: a committed account survives
//! a crash of the process; a power loss may lose the last transactions, never corrupt the file.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rusqlite::{params, Connection, OptionalExtension};
use thiserror::Error;

pub mod history;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot open the store in {dir}: {reason}")]
    Open { dir: PathBuf, reason: String },
    #[error("the store failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// Why an account could not be created.
#[derive(Debug, PartialEq, Eq)]
pub enum Register {
    Created,
    Taken,
}

/// The schema, by version (`PRAGMA user_version`): each step upgrades from the one before.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE accounts (
        name TEXT PRIMARY KEY COLLATE NOCASE,
        hash TEXT NOT NULL,
        created INTEGER NOT NULL
    );",
    "CREATE TABLE rooms (
        name TEXT PRIMARY KEY COLLATE NOCASE,
        founder TEXT NOT NULL,
        flags TEXT NOT NULL,
        created INTEGER NOT NULL
    );
    CREATE TABLE room_ops (
        room TEXT NOT NULL COLLATE NOCASE,
        account TEXT NOT NULL COLLATE NOCASE,
        PRIMARY KEY (room, account)
    );",
    // SCRAM-SHA-256 credentials (RFC 5802, 7677): `ITERATIONS$SALT$STOREDKEY$SERVERKEY`, hex.
    // Accounts made before it get theirs at their next password login.
    "ALTER TABLE accounts ADD COLUMN scram TEXT;",
];

/// Iterations of PBKDF2 for new SCRAM credentials (RFC 7677's minimum).
pub const SCRAM_ITERATIONS: u32 = 4096;

/// An account's SCRAM-SHA-256 credentials: what the server keeps instead of the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scram {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

impl Scram {
    /// Credentials for `password` with a fresh salt.
    pub fn new(password: &str) -> Scram {
        use argon2::password_hash::rand_core::RngCore;
        let mut salt = vec![0u8; 16];
        OsRng.fill_bytes(&mut salt);
        Scram::derive(password, salt, SCRAM_ITERATIONS)
    }

    /// Credentials for `password` with `salt` and `iterations`.
    pub fn derive(password: &str, salt: Vec<u8>, iterations: u32) -> Scram {
        use hmac::{Hmac, Mac};
        use sha2::{Digest, Sha256};
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iterations, &mut salted);
        let hmac = |key: &[u8], msg: &[u8]| -> [u8; 32] {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
            mac.update(msg);
            mac.finalize().into_bytes().into()
        };
        let client_key = hmac(&salted, b"Client Key");
        Scram {
            iterations,
            salt,
            stored_key: Sha256::digest(client_key).into(),
            server_key: hmac(&salted, b"Server Key"),
        }
    }

    fn encode(&self) -> String {
        format!(
            "{}${}${}${}",
            self.iterations,
            hex(&self.salt),
            hex(&self.stored_key),
            hex(&self.server_key)
        )
    }

    fn decode(s: &str) -> Option<Scram> {
        let mut parts = s.split('$');
        let iterations = parts.next()?.parse().ok()?;
        let salt = unhex(parts.next()?)?;
        let stored_key = unhex(parts.next()?)?.try_into().ok()?;
        let server_key = unhex(parts.next()?)?.try_into().ok()?;
        Some(Scram {
            iterations,
            salt,
            stored_key,
            server_key,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A registered room as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRecord {
    pub name: String,
    /// The account that registered it.
    pub founder: String,
    /// Its simple modes, as letters (`nt`, `imnst`, ...).
    pub flags: String,
    /// Accounts that are its operators (the founder among them).
    pub ops: Vec<String>,
}

/// See the module documentation.
pub struct Store {
    db: Mutex<Connection>,
    argon: Argon2<'static>,
}

impl Store {
    /// Opens (creating if needed) `dir/obrol.db` and brings its schema up to date.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let fail = |reason: String| StoreError::Open {
            dir: dir.to_owned(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        let db = Connection::open(dir.join("obrol.db")).map_err(|e| fail(e.to_string()))?;
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| fail(e.to_string()))?;
        db.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| fail(e.to_string()))?;
        db.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| fail(e.to_string()))?;
        let version: usize = db
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| fail(e.to_string()))?;
        if version > MIGRATIONS.len() {
            return Err(fail(format!(
                "its schema is version {version}, newer than this obrol knows ({})",
                MIGRATIONS.len()
            )));
        }
        for (i, step) in MIGRATIONS.iter().enumerate().skip(version) {
            db.execute_batch(&format!(
                "BEGIN; {step} PRAGMA user_version = {}; COMMIT;",
                i + 1
            ))
            .map_err(|e| fail(format!("upgrading the schema to version {}: {e}", i + 1)))?;
        }
        Ok(Store {
            db: Mutex::new(db),
            argon: Argon2::default(),
        })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hashes `password` with Argon2id and a fresh salt (a PHC string).
    pub fn hash_password(&self, password: &str) -> Result<String, StoreError> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| StoreError::Hash(e.to_string()))
    }

    /// Creates account `name` with `password`, unless the name (compared case-insensitively)
    /// is taken.
    pub fn register(&self, name: &str, password: &str, now: i64) -> Result<Register, StoreError> {
        let hash = self.hash_password(password)?;
        let scram = Scram::new(password).encode();
        let inserted = self.db().execute(
            "INSERT INTO accounts (name, hash, created, scram) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
            params![name, hash, now, scram],
        )?;
        Ok(if inserted == 1 {
            Register::Created
        } else {
            Register::Taken
        })
    }

    /// The account's name as registered, if `password` is its password. Takes as long for an
    /// unknown name as for a wrong password (a hash is checked either way), so the time does not
    /// say which names exist.
    pub fn verify(&self, name: &str, password: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(String, String, Option<String>)> = self
            .db()
            .query_row(
                "SELECT name, hash, scram FROM accounts WHERE name = ?1",
                params![name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let (account, hash, scram) = match row {
            Some(r) => r,
            None => {
                let _ = self.hash_password(password);
                return Ok(None);
            }
        };
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return Ok(None);
        };
        if self
            .argon
            .verify_password(password.as_bytes(), &parsed)
            .is_err()
        {
            return Ok(None);
        }
        // An account made before SCRAM gets its credentials now that the password is known.
        if scram.is_none() {
            self.db().execute(
                "UPDATE accounts SET scram = ?2 WHERE name = ?1",
                params![account, Scram::new(password).encode()],
            )?;
        }
        Ok(Some(account))
    }

    /// An account's name as registered and its SCRAM credentials, if it has them.
    pub fn scram(&self, name: &str) -> Result<Option<(String, Scram)>, StoreError> {
        let row: Option<(String, Option<String>)> = self
            .db()
            .query_row(
                "SELECT name, scram FROM accounts WHERE name = ?1",
                params![name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.and_then(|(n, s)| Some((n, Scram::decode(&s?)?))))
    }

    /// Writes registered room `room` as it is now: registers it if it is not yet (`now` its
    /// time of creation), sets its modes and replaces its operators, in one transaction.
    pub fn save_room(&self, room: &RoomRecord, now: i64) -> Result<(), StoreError> {
        let mut db = self.db();
        let tx = db.transaction()?;
        tx.execute(
            "INSERT INTO rooms (name, founder, flags, created) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET flags = excluded.flags",
            params![room.name, room.founder, room.flags, now],
        )?;
        tx.execute("DELETE FROM room_ops WHERE room = ?1", params![room.name])?;
        for account in &room.ops {
            tx.execute(
                "INSERT INTO room_ops (room, account) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![room.name, account],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Every registered room (loaded once at start).
    pub fn rooms(&self) -> Result<Vec<RoomRecord>, StoreError> {
        let db = self.db();
        let mut stmt = db.prepare("SELECT name, founder, flags FROM rooms")?;
        let mut rooms = stmt
            .query_map([], |r| {
                Ok(RoomRecord {
                    name: r.get(0)?,
                    founder: r.get(1)?,
                    flags: r.get(2)?,
                    ops: Vec::new(),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut stmt = db.prepare("SELECT account FROM room_ops WHERE room = ?1")?;
        for room in &mut rooms {
            room.ops = stmt
                .query_map(params![room.name], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
        }
        Ok(rooms)
    }

    /// Every account name (loaded once at start: the hub keeps them in memory to protect
    /// registered nicks without asking the store on every rename).
    pub fn account_names(&self) -> Result<Vec<String>, StoreError> {
        let db = self.db();
        let mut stmt = db.prepare("SELECT name FROM accounts")?;
        let names = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("obrol-store-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn accounts_survive_reopening_and_check_their_passwords() {
        let dir = temp_dir("accounts");
        {
            let store = Store::open(&dir).unwrap();
            assert_eq!(
                store.register("Ani", "s3cret pass", 1).unwrap(),
                Register::Created
            );
            assert_eq!(store.register("ani", "other", 2).unwrap(), Register::Taken);
        }
        let store = Store::open(&dir).unwrap();
        assert_eq!(
            store.verify("ANI", "s3cret pass").unwrap(),
            Some("Ani".into())
        );
        assert_eq!(store.verify("ani", "wrong").unwrap(), None);
        assert_eq!(store.verify("nobody", "s3cret pass").unwrap(), None);
        assert_eq!(store.account_names().unwrap(), vec!["Ani".to_owned()]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn registered_rooms_keep_founder_flags_and_operators() {
        let dir = temp_dir("rooms");
        let room = |name: &str, founder: &str, flags: &str, ops: &[&str]| RoomRecord {
            name: name.into(),
            founder: founder.into(),
            flags: flags.into(),
            ops: ops.iter().map(|o| o.to_string()).collect(),
        };
        {
            let store = Store::open(&dir).unwrap();
            store
                .save_room(&room("Dev", "ani", "nt", &["ani"]), 1)
                .unwrap();
            // The same room by another spelling: its modes and operators change, its founder
            // and name stay.
            store
                .save_room(&room("DEV", "budi", "imnt", &["ani", "budi"]), 2)
                .unwrap();
        }
        let store = Store::open(&dir).unwrap();
        let rooms = store.rooms().unwrap();
        assert_eq!(rooms.len(), 1);
        assert_eq!(rooms[0].name, "Dev");
        assert_eq!(rooms[0].founder, "ani");
        assert_eq!(rooms[0].flags, "imnt");
        let mut ops = rooms[0].ops.clone();
        ops.sort();
        assert_eq!(ops, vec!["ani".to_owned(), "budi".to_owned()]);
        store
            .save_room(&room("dev", "ani", "imnt", &["ani"]), 3)
            .unwrap();
        assert_eq!(store.rooms().unwrap()[0].ops, vec!["ani".to_owned()]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn scram_credentials_match_rfc_7677() {
        // RFC 7677's example: user "user", password "pencil", this salt, 4096 iterations.
        use base64_engine_free::b64;
        let salt = b64("W22ZaJ0SNY7soEsUEjb6gQ==");
        let s = Scram::derive("pencil", salt, 4096);
        // ServerSignature over the RFC's AuthMessage is "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".
        use hmac::{Hmac, Mac};
        let auth = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&s.server_key).unwrap();
        mac.update(auth.as_bytes());
        let sig: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(
            sig.to_vec(),
            b64("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        );
        assert_eq!(Scram::decode(&s.encode()), Some(s));
    }

    /// A tiny base64 decoder for the test vectors (the store has no base64 dependency).
    mod base64_engine_free {
        pub fn b64(s: &str) -> Vec<u8> {
            let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let mut out = Vec::new();
            let mut buf = 0u32;
            let mut bits = 0;
            for c in s.bytes().filter(|&c| c != b'=') {
                let v = table.iter().position(|&t| t == c).unwrap() as u32;
                buf = (buf << 6) | v;
                bits += 6;
                if bits >= 8 {
                    bits -= 8;
                    out.push((buf >> bits) as u8);
                }
            }
            out
        }
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = temp_dir("newer");
        {
            let _ = Store::open(&dir).unwrap();
            let db = Connection::open(dir.join("obrol.db")).unwrap();
            db.pragma_update(None, "user_version", 99).unwrap();
        }
        let err = Store::open(&dir).err().expect("refused").to_string();
        assert!(err.contains("newer than this obrol knows"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
