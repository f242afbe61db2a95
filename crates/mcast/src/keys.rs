//! Group keys: every datagram sealed with an AEAD, so only holders of the group's key can read
//! the chat or speak in it.
//!
//! - The **group key** is 256 random bits (`obrol mcast keygen` writes one, in hex), or is
//!   derived from a passphrase with Argon2id, salted with the group, the port and an optional
//!   room name (so one passphrase gives different keys on different groups).
//! - Each sender seals with its **own key**, HKDF-SHA256 of the group key and its sender id, and
//!   a **nonce** made of its packet number, which counts every datagram it seals: a nonce never
//!   repeats under a key (a restarted peer has a new random id, hence a new key).
//! - ChaCha20-Poly1305 authenticates the clear header (kind, sender, sequence, time, packet
//!   number) as associated data, so repair logic runs on it without decrypting, and a repair is
//!   the stored datagram resent byte for byte.
//! - Every sealed frame is **signed** by its sender (Ed25519): members hold the group key, so
//!   the AEAD alone would let any member write as any other. A peer's sender id is made from its
//!   public key and a salt fresh each session (the first 8 bytes of SHA-256 of both), and each
//!   frame carries the key, the salt and a signature of its header and contents, so a receiver
//!   checks, with no state and whatever it missed, that the frame comes from the holder of the
//!   key its sender id names; another member cannot find a key and salt that make someone
//!   else's id. The key's **fingerprint** (the first 8 bytes of its SHA-256) is shown with the
//!   nick, and stays the same across sessions with `--identity FILE`: a nick anyone can take,
//!   a fingerprint nobody can.
//! - Receivers keep a **replay window** per sender (the highest packet number and a bitmap of
//!   the 8,192 before it), also for senders that left (a few minutes' worth), and refuse frames
//!   whose sealed time is more than [`MAX_SKEW`] from their own clock: a datagram captured and
//!   sent again later is dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use ed25519_dalek::Signer;
use sha2::Digest;
use thiserror::Error;

/// How far a sealed frame's time may be from the receiver's clock.
pub const MAX_SKEW: Duration = Duration::from_secs(300);
/// Packet numbers remembered behind the highest per sender.
pub const REPLAY_WINDOW: u64 = 8192;
/// Senders whose replay state is kept (active or recently gone); the least recently heard go
/// first.
pub const MAX_REPLAY_STATES: usize = 8192;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("a group key is 64 hex digits (what `obrol mcast keygen` writes)")]
    BadHex,
    #[error("the passphrase is empty")]
    EmptyPassphrase,
    #[error("deriving the key from the passphrase failed: {0}")]
    Derive(String),
    #[error("an identity is 64 hex digits (what `obrol mcast --identity` writes)")]
    BadIdentity,
}

/// A peer's signing key (Ed25519): new for each session, or kept in a file (`--identity`) so
/// that its fingerprint stays the same and others can recognise it.
#[derive(Clone)]
pub struct Identity {
    key: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({})", show_fingerprint(self.fingerprint()))
    }
}

impl Identity {
    pub fn generate() -> Identity {
        Identity {
            key: ed25519_dalek::SigningKey::from_bytes(&rand::random()),
        }
    }

    /// Reads the hex form `to_hex` writes (the 32-byte secret seed).
    pub fn from_hex(text: &str) -> Result<Identity, KeyError> {
        let seed = GroupKey::from_hex(text).map_err(|_| KeyError::BadIdentity)?;
        Ok(Identity {
            key: ed25519_dalek::SigningKey::from_bytes(&seed.0),
        })
    }

    pub fn to_hex(&self) -> String {
        GroupKey(self.key.to_bytes()).to_hex()
    }

    pub fn public(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The first 8 bytes of the public key's SHA-256: what others are shown.
    pub fn fingerprint(&self) -> u64 {
        fingerprint(&self.public())
    }

    /// A sender id for a session: made from the public key and `salt` (see the module
    /// documentation).
    pub fn sender_id(&self, salt: u64) -> u64 {
        sender_id(&self.public(), salt)
    }
}

/// The fingerprint of a public signing key.
pub fn fingerprint(public: &[u8; 32]) -> u64 {
    let digest = sha2::Sha256::digest(public);
    u64::from_be_bytes(digest[..8].try_into().unwrap_or([0; 8]))
}

/// A fingerprint as people read it: four groups of four hex digits.
pub fn show_fingerprint(fp: u64) -> String {
    let hex = format!("{fp:016x}");
    format!(
        "{}-{}-{}-{}",
        &hex[..4],
        &hex[4..8],
        &hex[8..12],
        &hex[12..]
    )
}

fn sender_id(public: &[u8; 32], salt: u64) -> u64 {
    let mut h = sha2::Sha256::new();
    h.update(b"obrol-mcast-v2 sender id");
    h.update(public);
    h.update(salt.to_be_bytes());
    u64::from_be_bytes(h.finalize()[..8].try_into().unwrap_or([0; 8]))
}

/// Checks the signature block at the start of a sealed frame's plaintext `plain`, whose header
/// line is `aad`, for sender id `sender`. Returns the signer's fingerprint and where the rest
/// (`nick \n text`) starts.
pub fn check_signed(sender: u64, aad: &[u8], plain: &[u8]) -> Result<(u64, usize), Refusal> {
    use obrol_wire::mcast::SIGNATURE_BLOCK;
    if plain.len() < SIGNATURE_BLOCK {
        return Err(Refusal::Impostor);
    }
    let public: [u8; 32] = plain[..32].try_into().map_err(|_| Refusal::Impostor)?;
    let salt = u64::from_be_bytes(plain[32..40].try_into().map_err(|_| Refusal::Impostor)?);
    if sender_id(&public, salt) != sender {
        return Err(Refusal::Impostor);
    }
    let key = ed25519_dalek::VerifyingKey::from_bytes(&public).map_err(|_| Refusal::Impostor)?;
    let sig_bytes: [u8; 64] = plain[40..SIGNATURE_BLOCK]
        .try_into()
        .map_err(|_| Refusal::Impostor)?;
    let sig = ed25519_dalek::Signature::from_bytes(&sig_bytes);
    let mut signed = Vec::with_capacity(aad.len() + plain.len() - SIGNATURE_BLOCK);
    signed.extend_from_slice(aad);
    signed.extend_from_slice(&plain[SIGNATURE_BLOCK..]);
    key.verify_strict(&signed, &sig)
        .map_err(|_| Refusal::Impostor)?;
    Ok((fingerprint(&public), SIGNATURE_BLOCK))
}

/// A group's 256-bit key.
#[derive(Clone)]
pub struct GroupKey([u8; 32]);

impl std::fmt::Debug for GroupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupKey(..)")
    }
}

impl GroupKey {
    /// A new random key.
    pub fn generate() -> GroupKey {
        GroupKey(rand::random())
    }

    /// Reads the hex form `to_hex` writes (surrounding white space ignored).
    pub fn from_hex(text: &str) -> Result<GroupKey, KeyError> {
        let text = text.trim();
        if text.len() != 64 {
            return Err(KeyError::BadHex);
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte =
                u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| KeyError::BadHex)?;
        }
        Ok(GroupKey(key))
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Derives a key from a passphrase (Argon2id, 64 MiB, 3 passes), salted with the group,
    /// port and room, so the same passphrase gives another key on another group.
    pub fn from_passphrase(
        passphrase: &str,
        group: IpAddr,
        port: u16,
        room: Option<&str>,
    ) -> Result<GroupKey, KeyError> {
        let passphrase = passphrase.trim_end_matches(['\r', '\n']);
        if passphrase.is_empty() {
            return Err(KeyError::EmptyPassphrase);
        }
        let salt = format!("obrol-mcast-v2 {group} {port} {}", room.unwrap_or(""));
        let params = argon2::Params::new(64 * 1024, 3, 1, Some(32))
            .map_err(|e| KeyError::Derive(e.to_string()))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut key = [0u8; 32];
        argon
            .hash_password_into(passphrase.as_bytes(), salt.as_bytes(), &mut key)
            .map_err(|e| KeyError::Derive(e.to_string()))?;
        Ok(GroupKey(key))
    }

    /// The cipher of `sender`.
    fn cipher(&self, sender: u64) -> ChaCha20Poly1305 {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"obrol-mcast-v2 sender key"), &self.0);
        let mut okm = [0u8; 32];
        // 32 bytes is always a valid HKDF-SHA256 output length.
        let _ = hk.expand(&sender.to_be_bytes(), &mut okm);
        ChaCha20Poly1305::new(Key::from_slice(&okm))
    }
}

fn nonce(pn: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&pn.to_be_bytes());
    *Nonce::from_slice(&n)
}

/// This peer's sealing side.
pub struct Sealer {
    cipher: ChaCha20Poly1305,
    /// The last packet number used.
    pn: u64,
    /// Who signs, and the salt of this session's sender id.
    identity: Identity,
    salt: u64,
}

impl Sealer {
    /// Seals for `identity` under the sender id that `salt` makes with it.
    pub fn new(key: &GroupKey, identity: Identity, salt: u64) -> Sealer {
        Sealer {
            cipher: key.cipher(identity.sender_id(salt)),
            pn: 0,
            identity,
            salt,
        }
    }

    /// The sender id this sealer seals for.
    pub fn sender_id(&self) -> u64 {
        self.identity.sender_id(self.salt)
    }

    /// The next packet number; `seal` with it exactly once.
    pub fn next_pn(&mut self) -> u64 {
        self.pn += 1;
        self.pn
    }

    /// Appends `frame`, sealed under the next packet number, to `out`.
    pub fn frame(
        &mut self,
        frame: &obrol_wire::mcast::Frame,
        out: &mut bytes::BytesMut,
    ) -> Result<(), obrol_wire::mcast::FrameError> {
        let pn = self.next_pn();
        let me = &*self;
        obrol_wire::mcast::encode_sealed_frame(frame, pn, out, |aad, body| {
            // Signed (header and contents), then sealed with the signature inside.
            let mut signed = Vec::with_capacity(aad.len() + body.len());
            signed.extend_from_slice(aad);
            signed.extend_from_slice(body);
            let sig = me.identity.key.sign(&signed).to_bytes();
            let mut block = Vec::with_capacity(obrol_wire::mcast::SIGNATURE_BLOCK + body.len());
            block.extend_from_slice(&me.identity.public());
            block.extend_from_slice(&me.salt.to_be_bytes());
            block.extend_from_slice(&sig);
            block.extend_from_slice(body);
            *body = block;
            me.seal(pn, aad, body)
        })
    }

    /// Appends `nak`, sealed under the next packet number, to `out`.
    pub fn nak(&mut self, nak: &obrol_wire::mcast::Nak, out: &mut bytes::BytesMut) {
        let pn = self.next_pn();
        let me = &*self;
        obrol_wire::mcast::encode_sealed_nak(nak, pn, out, |aad, body| me.seal(pn, aad, body));
    }

    /// Appends `parity`, sealed under the next packet number, to `out`.
    pub fn parity(
        &mut self,
        parity: &obrol_wire::mcast::Parity,
        out: &mut bytes::BytesMut,
    ) -> Result<(), obrol_wire::mcast::FrameError> {
        let pn = self.next_pn();
        let me = &*self;
        obrol_wire::mcast::encode_sealed_parity(parity, pn, out, |aad, body| me.seal(pn, aad, body))
    }

    /// Encrypts `body` in place and appends the tag, with `aad` authenticated.
    pub fn seal(&self, pn: u64, aad: &[u8], body: &mut Vec<u8>) {
        match self.cipher.encrypt_in_place_detached(&nonce(pn), aad, body) {
            Ok(tag) => body.extend_from_slice(&tag),
            // Only for messages beyond ChaCha20's 256 GiB limit: never for a datagram.
            Err(_) => body.clear(),
        }
    }
}

/// Why a sealed datagram was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// It did not authenticate: another key, or altered.
    Forged,
    /// Its packet number was seen before.
    Replayed,
    /// Its packet number is too old for the replay window to tell: authentic, but whether it
    /// was seen before is for the caller to decide (a repair the receiver is waiting for is
    /// welcome; anything else is refused as replayed).
    BeyondWindow,
    /// Its sealed time is too far from our clock.
    Stale,
    /// It opened with the group key, but its signature is not that of the key its sender id
    /// names: a member writing as another.
    Impostor,
}

/// The receiving side: opens datagrams and remembers packet numbers.
pub struct Opener {
    key: GroupKey,
    ciphers: HashMap<u64, ChaCha20Poly1305>,
    replay: HashMap<u64, Window>,
    /// Heard order, for forgetting the least recently heard replay state.
    clock: u64,
}

struct Window {
    highest: u64,
    /// Bit i: packet number `highest - i` seen.
    seen: Box<[u64; (REPLAY_WINDOW / 64) as usize]>,
    heard: u64,
}

impl Opener {
    pub fn new(key: GroupKey) -> Opener {
        Opener {
            key,
            ciphers: HashMap::new(),
            replay: HashMap::new(),
            clock: 0,
        }
    }

    /// Authenticates and decrypts `body` (ciphertext and tag) of `sender`'s packet `pn` with
    /// `aad`, and checks it against the replay window; `time_ms` (for frames) against our clock
    /// `now_ms`. On success the body holds the plaintext.
    pub fn open(
        &mut self,
        sender: u64,
        pn: u64,
        aad: &[u8],
        body: &mut Vec<u8>,
        time_ms: Option<u64>,
        now_ms: u64,
    ) -> Result<(), Refusal> {
        if body.len() < 16 {
            return Err(Refusal::Forged);
        }
        if self.ciphers.len() >= MAX_REPLAY_STATES && !self.ciphers.contains_key(&sender) {
            self.ciphers.clear(); // a cache: recomputed on demand
        }
        let key = &self.key;
        let cipher = self
            .ciphers
            .entry(sender)
            .or_insert_with(|| key.cipher(sender));
        let tag_at = body.len() - 16;
        let tag = *Tag::from_slice(&body[tag_at..]);
        body.truncate(tag_at);
        cipher
            .decrypt_in_place_detached(&nonce(pn), aad, body, &tag)
            .map_err(|_| Refusal::Forged)?;
        if let Some(t) = time_ms {
            if t.abs_diff(now_ms) > MAX_SKEW.as_millis() as u64 {
                return Err(Refusal::Stale);
            }
        }
        self.check_replay(sender, pn)
    }

    fn check_replay(&mut self, sender: u64, pn: u64) -> Result<(), Refusal> {
        self.clock += 1;
        if !self.replay.contains_key(&sender) && self.replay.len() >= MAX_REPLAY_STATES {
            // Forget the least recently heard sender (rare: a full table).
            if let Some((&old, _)) = self.replay.iter().min_by_key(|(_, w)| w.heard) {
                self.replay.remove(&old);
            }
        }
        let clock = self.clock;
        let w = self.replay.entry(sender).or_insert_with(|| Window {
            highest: 0,
            seen: Box::new([0; (REPLAY_WINDOW / 64) as usize]),
            heard: clock,
        });
        w.heard = clock;
        if pn > w.highest {
            let shift = pn - w.highest;
            shift_left(&mut w.seen[..], shift);
            w.highest = pn;
            set_bit(&mut w.seen[..], 0);
            return Ok(());
        }
        let back = w.highest - pn;
        if back >= REPLAY_WINDOW {
            return Err(Refusal::BeyondWindow);
        }
        if get_bit(&w.seen[..], back) {
            return Err(Refusal::Replayed);
        }
        set_bit(&mut w.seen[..], back);
        Ok(())
    }
}

fn get_bit(bits: &[u64], i: u64) -> bool {
    bits[(i / 64) as usize] & (1 << (i % 64)) != 0
}

fn set_bit(bits: &mut [u64], i: u64) {
    bits[(i / 64) as usize] |= 1 << (i % 64);
}

/// Moves every bit `by` places up (older), dropping what falls off the end.
fn shift_left(bits: &mut [u64], by: u64) {
    let n = bits.len() as u64;
    if by >= n * 64 {
        bits.fill(0);
        return;
    }
    let words = (by / 64) as usize;
    let rem = by % 64;
    for i in (0..bits.len()).rev() {
        let src = i.checked_sub(words);
        let hi = src.map_or(0, |s| bits[s] << rem);
        let lo = match (src, rem) {
            (Some(s), r) if r > 0 && s > 0 => bits[s - 1] >> (64 - r),
            _ => 0,
        };
        bits[i] = hi | lo;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> GroupKey {
        GroupKey::from_hex(&"ab".repeat(32)).unwrap()
    }

    #[test]
    fn hex_round_trips_and_bad_hex_is_refused() {
        let k = GroupKey::generate();
        assert_eq!(
            GroupKey::from_hex(&format!("{}\n", k.to_hex())).unwrap().0,
            k.0
        );
        assert_eq!(GroupKey::from_hex("abc").unwrap_err(), KeyError::BadHex);
        assert_eq!(
            GroupKey::from_hex(&"zz".repeat(32)).unwrap_err(),
            KeyError::BadHex
        );
    }

    #[test]
    fn passphrases_are_salted_by_group_port_and_room() {
        let g: IpAddr = "224.1.1.1".parse().unwrap();
        let a = GroupKey::from_passphrase("correct horse", g, 5004, None).unwrap();
        let b = GroupKey::from_passphrase("correct horse\n", g, 5004, None).unwrap();
        let c = GroupKey::from_passphrase("correct horse", g, 5005, None).unwrap();
        let d = GroupKey::from_passphrase("correct horse", g, 5004, Some("ops")).unwrap();
        assert_eq!(a.0, b.0);
        assert_ne!(a.0, c.0);
        assert_ne!(a.0, d.0);
        assert!(GroupKey::from_passphrase("\n", g, 5004, None).is_err());
    }

    /// A sealed frame made by `sealer` claiming sender id `claimed`: its header, packet
    /// number and body.
    fn sealed_frame(sealer: &mut Sealer, claimed: u64, text: &str) -> (Vec<u8>, u64, Vec<u8>) {
        let frame = obrol_wire::mcast::Frame {
            kind: obrol_wire::mcast::Kind::Chat,
            repair: false,
            sender: claimed,
            seq: 1,
            timestamp_ms: 1000,
            nick: "ani".into(),
            text: text.into(),
        };
        let mut out = bytes::BytesMut::new();
        sealer.frame(&frame, &mut out).unwrap();
        let Ok(obrol_wire::mcast::Datagram::Sealed(d)) = obrol_wire::mcast::decode(&out) else {
            panic!("not sealed");
        };
        (out[..d.aad_len].to_vec(), d.pn, d.body)
    }

    #[test]
    fn members_cannot_write_as_each_other() {
        let group = key();
        let ani = Identity::generate();
        let mallory = Identity::generate();
        let mut real = Sealer::new(&group, ani.clone(), 11);
        let ani_id = real.sender_id();
        let (aad, pn, body) = sealed_frame(&mut real, ani_id, "halo");
        let mut o = Opener::new(group.clone());
        let mut plain = body.clone();
        o.open(ani_id, pn, &aad, &mut plain, Some(1000), 1000)
            .unwrap();
        let (fp, at) = check_signed(ani_id, &aad, &plain).unwrap();
        assert_eq!(fp, ani.fingerprint());
        assert_eq!(&plain[at..], b"ani\nhalo");
        // The same identity makes another id each session (the salt): no nonce is reused.
        assert_ne!(ani.sender_id(11), ani.sender_id(12));

        // Mallory holds the group key, so she can seal for ani's id; she cannot sign for it.
        // With her own key and salt, the id is not ani's:
        let mut forger = Sealer::new(&group, mallory.clone(), 99);
        forger.cipher = group.cipher(ani_id);
        forger.pn = 5; // past ani's, or the replay window would refuse it first
        let mut forged = sealed_frame(&mut forger, ani_id, "send me your password");
        o.open(ani_id, forged.1, &forged.0, &mut forged.2, Some(1000), 1000)
            .unwrap();
        assert_eq!(
            check_signed(ani_id, &forged.0, &forged.2),
            Err(Refusal::Impostor)
        );
        // With ani's public key and salt copied from a frame of hers, the signature fails:
        let mut copied = forged.2.clone();
        copied[..40].copy_from_slice(&plain[..40]);
        assert_eq!(
            check_signed(ani_id, &forged.0, &copied),
            Err(Refusal::Impostor)
        );
        // And a real frame of ani's altered after signing (by someone holding the group key,
        // who can reseal it) fails too.
        let mut altered = plain.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert_eq!(check_signed(ani_id, &aad, &altered), Err(Refusal::Impostor));
        assert_eq!(
            check_signed(ani_id, &aad, &plain[..50]),
            Err(Refusal::Impostor)
        );
        assert_eq!(
            mallory.fingerprint(),
            Identity::from_hex(&mallory.to_hex()).unwrap().fingerprint()
        );
        assert_eq!(
            show_fingerprint(0x0123_4567_89ab_cdef),
            "0123-4567-89ab-cdef"
        );
    }

    #[test]
    fn sealed_opens_with_the_key_only_and_once() {
        let mut s = Sealer::new(&key(), Identity::generate(), 1);
        let sid = s.sender_id();
        let pn = s.next_pn();
        let mut body = b"ani\nhalo".to_vec();
        s.seal(pn, b"header", &mut body);
        let mut o = Opener::new(key());
        let mut copy = body.clone();
        assert_eq!(
            o.open(sid, pn, b"header", &mut copy, Some(1000), 1000),
            Ok(())
        );
        assert_eq!(copy, b"ani\nhalo");
        // Again: a replay.
        let mut again = body.clone();
        assert_eq!(
            o.open(sid, pn, b"header", &mut again, Some(1000), 1000),
            Err(Refusal::Replayed)
        );
        // Another key, another sender id, an altered header or body: forged.
        let mut other = Opener::new(GroupKey::generate());
        assert_eq!(
            other.open(sid, pn, b"header", &mut body.clone(), None, 0),
            Err(Refusal::Forged)
        );
        assert_eq!(
            o.open(sid ^ 1, pn, b"header", &mut body.clone(), None, 0),
            Err(Refusal::Forged)
        );
        assert_eq!(
            o.open(sid, pn, b"HEADER", &mut body.clone(), None, 0),
            Err(Refusal::Forged)
        );
        let mut flipped = body.clone();
        flipped[0] ^= 1;
        assert_eq!(
            o.open(sid, pn, b"header", &mut flipped, None, 0),
            Err(Refusal::Forged)
        );
        // Too far from our clock.
        let pn2 = s.next_pn();
        let mut late = b"ani\nold".to_vec();
        s.seal(pn2, b"h", &mut late);
        let skew = MAX_SKEW.as_millis() as u64;
        assert_eq!(
            o.open(sid, pn2, b"h", &mut late, Some(1000), 1000 + skew + 1),
            Err(Refusal::Stale)
        );
    }

    #[test]
    fn the_replay_window_accepts_late_packets_once_and_forgets_old_ones() {
        let mut o = Opener::new(key());
        for pn in [5, 3, 10_000, 9_000, 9_000, 3, 10_000 - REPLAY_WINDOW] {
            let _ = o.check_replay(1, pn);
        }
        assert_eq!(o.check_replay(1, 9_999), Ok(()));
        assert_eq!(o.check_replay(1, 9_000), Err(Refusal::Replayed));
        assert_eq!(
            o.check_replay(1, 5),
            Err(Refusal::BeyondWindow),
            "too old to tell: the caller decides"
        );
        assert_eq!(o.check_replay(1, 10_001), Ok(()));
        assert_eq!(o.check_replay(1, 10_000), Err(Refusal::Replayed));
        assert_eq!(o.check_replay(1, 9_500), Ok(()));
    }
}
