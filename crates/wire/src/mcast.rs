//! The multicast frame: what `obrol mcast` peers put in each UDP datagram.
//!
//! A datagram either starts with [`MAGIC`] and is an obrol frame, or it does not and is a
//! *legacy* message: the bare UTF-8 text that the seed's `sender.py` sends. The layout is
//! specified in `docs/PROTOCOL.md`; this module is its only implementation.
//!
//! Version 2 frames are text: a header line of ASCII fields, then the message. Every datagram
//! an obrol peer sends is therefore valid UTF-8, so the seed's `receiver.py` (which decodes
//! each datagram as UTF-8 and dies on anything else) keeps running on a group shared with obrol
//! peers; it prints each frame whole, header line first.
//!
//! ```text
//! OBRL2 C 9f3a5c0e12d4b6a8 2a 18c2e4f9a10 ani
//! halo semua
//! ```
//!
//! Decoding works on one whole datagram (`&[u8]`): UDP preserves message boundaries, so there is
//! no partial-frame state to keep, unlike the hub's stream codecs.

use bytes::{BufMut, BytesMut};
use thiserror::Error;

mod sealed;
use sealed::decode_sealed;
pub use sealed::{
    encode_sealed_frame, encode_sealed_nak, encode_sealed_parity, max_sealed_text, split_opened,
    Sealed, SealedKind, MAX_SEALED_HEADER, SIGNATURE_BLOCK, TAG_LEN,
};

/// The first four bytes of every obrol frame: "OBRL".
pub const MAGIC: [u8; 4] = *b"OBRL";

/// The frame version this module writes and reads.
pub const VERSION: u8 = 2;

/// What version-2 frames start with.
const PREFIX: &[u8] = b"OBRL2 ";

/// Largest datagram a peer sends. 1200 bytes fits the IPv6 minimum MTU (1280) with IP and UDP
/// headers, so frames are never fragmented by IP on any path.
pub const MAX_DATAGRAM: usize = 1200;

/// Longest nick in bytes. Long enough for real names, short enough to leave room for text.
pub const MAX_NICK: usize = 32;

/// The longest header line, nick aside: prefix, kind and flag, sender (16 hex digits),
/// sequence and timestamp (up to 16 each), four spaces and the newline.
pub const MAX_HEADER: usize = PREFIX.len() + 2 + 1 + 16 + 1 + 16 + 1 + 16 + 1 + 1;

/// Most ranges one NAK asks for, and most messages one range may span.
pub const MAX_NAK_RANGES: usize = 32;
pub const MAX_NAK_SPAN: u64 = 4096;

/// What a frame means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Presence: "I am here". Sent at start, as a periodic heartbeat and shortly after a
    /// sender's last message. `seq` carries the last chat sequence number used, so receivers
    /// notice lost messages at the tail and ask for them.
    Hello,
    /// A chat message. `seq` counts from 1 per sender.
    Chat,
    /// An action (`/me waves`): shown as `* nick waves`. Numbered like a chat message.
    Action,
    /// Presence: "I am leaving". `seq` as in [`Kind::Hello`].
    Bye,
    /// A chat message a bridge relays from somewhere else (a hub room): the frame's nick is
    /// the author's, `nick@origin` (see [`check_relayed_nick`]), not the sender's. Numbered in
    /// the bridge's own sequence.
    Relay,
    /// An action a bridge relays, like [`Kind::Relay`].
    RelayAction,
}

impl Kind {
    fn letter(self) -> u8 {
        match self {
            Kind::Hello => b'H',
            Kind::Chat => b'C',
            Kind::Action => b'A',
            Kind::Bye => b'B',
            Kind::Relay => b'R',
            Kind::RelayAction => b'E',
        }
    }

    fn from_letter(b: u8) -> Option<Kind> {
        Some(match b {
            b'H' => Kind::Hello,
            b'C' => Kind::Chat,
            b'A' => Kind::Action,
            b'B' => Kind::Bye,
            b'R' => Kind::Relay,
            b'E' => Kind::RelayAction,
            _ => return None,
        })
    }

    /// Whether frames of this kind take a sequence number of their own (and so can be lost,
    /// duplicated and repaired).
    pub fn is_numbered(self) -> bool {
        matches!(
            self,
            Kind::Chat | Kind::Action | Kind::Relay | Kind::RelayAction
        )
    }

    /// Whether the frame's nick names its author elsewhere rather than its sender.
    pub fn is_relayed(self) -> bool {
        matches!(self, Kind::Relay | Kind::RelayAction)
    }
}

/// One decoded obrol frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What the frame means.
    pub kind: Kind,
    /// A repair: a numbered frame sent again because a receiver asked (flag `r`).
    pub repair: bool,
    /// The sender's random 64-bit id, chosen at start: nicks can collide, ids practically can't,
    /// and a peer recognises its own looped-back frames by it.
    pub sender: u64,
    /// For numbered kinds, this message's number; for presence, the last number used.
    pub seq: u64,
    /// The sender's wall clock when it made the frame, in ms since the Unix epoch.
    pub timestamp_ms: u64,
    pub nick: String,
    pub text: String,
}

/// A negative acknowledgement: `sender` asks `target` to send again the messages in `ranges`
/// (inclusive, each at most [`MAX_NAK_SPAN`] long).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nak {
    pub sender: u64,
    pub target: u64,
    pub ranges: Vec<(u64, u64)>,
}

/// A parity datagram (forward error correction): shard `index` of the Reed-Solomon parity of
/// `sender`'s block `block` (its messages `block * k + 1 ..= block * k + k`, each as the datagram
/// that repairs it, see `obrol_mcast::fec`). Whoever misses up to n messages of the block and
/// holds the rest rebuilds them from any n parity shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parity {
    pub sender: u64,
    pub block: u64,
    pub index: u8,
    pub k: u8,
    pub shard: Vec<u8>,
}

/// Most data shards in a block, and most parity shards for one.
pub const MAX_FEC_SHARDS: u8 = 64;

/// The longest parity shard that fits in one datagram (base64 after the header), clear or
/// sealed (with its packet number and tag).
pub fn max_shard(sealed: bool) -> usize {
    // "OBRL2 Pe " + sender + block + index + k + pn, spaces, newline.
    let header = PREFIX.len() + 3 + 16 + 1 + 16 + 1 + 2 + 1 + 2 + 1 + 16 + 1;
    let b64 = MAX_DATAGRAM.saturating_sub(header);
    let raw = b64 / 4 * 3;
    if sealed {
        raw.saturating_sub(TAG_LEN)
    } else {
        raw
    }
}

impl Parity {
    fn put_header(&self, out: &mut BytesMut, sealed: bool) {
        out.put_slice(PREFIX);
        out.put_slice(if sealed { b"Pe " } else { b"P " });
        put_hex(out, self.sender, 16);
        out.put_u8(b' ');
        put_hex(out, self.block, 1);
        out.put_u8(b' ');
        put_hex(out, u64::from(self.index), 1);
        out.put_u8(b' ');
        put_hex(out, u64::from(self.k), 1);
    }

    /// Appends the parity datagram to `out`.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), FrameError> {
        if self.shard.len() > max_shard(false) {
            return Err(FrameError::TooLong {
                len: self.shard.len(),
                max: max_shard(false),
            });
        }
        self.put_header(out, false);
        out.put_u8(b'\n');
        put_base64(out, &self.shard);
        Ok(())
    }
}

fn check_fec(index: u64, k: u64) -> Result<(u8, u8), FrameError> {
    let max = u64::from(MAX_FEC_SHARDS);
    if k == 0 || k > max || index >= max {
        return Err(FrameError::BadHeader);
    }
    Ok((index as u8, k as u8))
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("frame truncated: {0} bytes")]
    Truncated(usize),
    #[error("unsupported frame version {0}")]
    UnsupportedVersion(u8),
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("malformed frame header")]
    BadHeader,
    #[error("nick must be 1 to {MAX_NICK} bytes of letters, digits and punctuation, without `@`")]
    BadNick,
    #[error("frame is not valid UTF-8")]
    InvalidUtf8,
    #[error("message too long: {len} bytes, at most {max} fit in one datagram")]
    TooLong { len: usize, max: usize },
}

/// What one datagram holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datagram {
    Frame(Frame),
    Nak(Nak),
    Parity(Parity),
    Sealed(Sealed),
    /// Not an obrol frame: the seed's plain text (invalid UTF-8 replaced).
    Legacy(String),
}

/// The longest text that fits in one datagram next to a nick of `nick_len` bytes.
pub fn max_text(nick_len: usize) -> usize {
    MAX_DATAGRAM.saturating_sub(MAX_HEADER + nick_len)
}

/// Why `nick` cannot be a nick, if it cannot: 1 to [`MAX_NICK`] bytes, no spaces, no control
/// characters (a nick is printed on other people's terminals: an escape sequence there could
/// retitle or clear them), no invisible or direction-changing characters (a nick must look
/// like what it is), and no `@`: that marks the authors a bridge relays (`bob@hub`, see
/// [`check_relayed_nick`]), whom a peer must not pose as.
pub fn check_nick(nick: &str) -> Result<(), FrameError> {
    if nick.contains('@') {
        return Err(FrameError::BadNick);
    }
    check_name(nick, MAX_NICK)
}

/// Longest `nick@origin` of a relayed frame.
pub const MAX_RELAYED_NICK: usize = 2 * MAX_NICK + 1;

/// Why `nick` cannot be a relayed author, if it cannot: `nick@origin`, both parts non-empty,
/// at most [`MAX_RELAYED_NICK`] bytes, the characters of [`check_nick`].
pub fn check_relayed_nick(nick: &str) -> Result<(), FrameError> {
    match nick.rsplit_once('@') {
        Some((who, origin)) if !who.is_empty() && !origin.is_empty() => {
            check_name(nick, MAX_RELAYED_NICK)
        }
        _ => Err(FrameError::BadNick),
    }
}

/// The nick check that applies to frames of `kind`.
pub fn check_frame_nick(kind: Kind, nick: &str) -> Result<(), FrameError> {
    match kind.is_relayed() {
        true => check_relayed_nick(nick),
        false => check_nick(nick),
    }
}

fn check_name(nick: &str, max: usize) -> Result<(), FrameError> {
    let bad = |c: char| {
        c.is_whitespace()
            || c.is_control()
            || matches!(c,
                '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}' | '\u{00AD}')
    };
    if nick.is_empty() || nick.len() > max || nick.chars().any(bad) {
        return Err(FrameError::BadNick);
    }
    Ok(())
}

fn put_hex(out: &mut BytesMut, v: u64, width: usize) {
    let digits = b"0123456789abcdef";
    let mut buf = [0u8; 16];
    let mut n = 0;
    let mut v = v;
    loop {
        buf[n] = digits[(v & 0xf) as usize];
        n += 1;
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    for _ in n..width {
        out.put_u8(b'0');
    }
    for i in (0..n).rev() {
        out.put_u8(buf[i]);
    }
}

fn parse_hex(field: &[u8]) -> Option<u64> {
    if field.is_empty() || field.len() > 16 {
        return None;
    }
    let mut v = 0u64;
    for &b in field {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | u64::from(d);
    }
    Some(v)
}

/// Writes a frame's header fields after the prefix: kind and `flag`, sender, sequence, time.
fn put_frame_header(out: &mut BytesMut, frame: &Frame, flag: Option<u8>) {
    out.put_slice(PREFIX);
    out.put_u8(frame.kind.letter());
    if let Some(f) = flag {
        out.put_u8(f);
    }
    out.put_u8(b' ');
    put_hex(out, frame.sender, 16);
    out.put_u8(b' ');
    put_hex(out, frame.seq, 1);
    out.put_u8(b' ');
    put_hex(out, frame.timestamp_ms, 1);
}

/// Writes NAK ranges: ` a-b,c-d` (at most [`MAX_NAK_RANGES`]).
fn put_ranges(out: &mut BytesMut, ranges: &[(u64, u64)]) {
    for (i, &(a, b)) in ranges.iter().take(MAX_NAK_RANGES).enumerate() {
        out.put_u8(if i == 0 { b' ' } else { b',' });
        put_hex(out, a, 1);
        out.put_u8(b'-');
        put_hex(out, b, 1);
    }
}

impl Frame {
    /// Appends the frame's datagram to `out`.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), FrameError> {
        check_frame_nick(self.kind, &self.nick)?;
        let max = max_text(self.nick.len());
        if self.text.len() > max {
            return Err(FrameError::TooLong {
                len: self.text.len(),
                max,
            });
        }
        out.reserve(MAX_HEADER + self.nick.len() + self.text.len());
        put_frame_header(out, self, self.repair.then_some(b'r'));
        out.put_u8(b' ');
        out.put_slice(self.nick.as_bytes());
        out.put_u8(b'\n');
        out.put_slice(self.text.as_bytes());
        Ok(())
    }
}

impl Nak {
    /// Appends the NAK's datagram to `out`. At most [`MAX_NAK_RANGES`] ranges are written.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_slice(PREFIX);
        out.put_slice(b"N ");
        put_hex(out, self.sender, 16);
        out.put_u8(b' ');
        put_hex(out, self.target, 16);
        put_ranges(out, &self.ranges);
    }
}

fn put_base64(out: &mut BytesMut, bytes: &[u8]) {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD_NO_PAD;
    let at = out.len();
    out.resize(at + base64::encoded_len(bytes.len(), false).unwrap_or(0), 0);
    let n = engine
        .encode_slice(bytes, &mut out[at..])
        .unwrap_or_default();
    out.truncate(at + n);
}

/// Reads what [`put_base64`] wrote.
fn from_base64(text: &str) -> Result<Vec<u8>, FrameError> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(text)
        .map_err(|_| FrameError::BadHeader)
}

/// Reads a sender id: exactly 16 hex digits.
fn parse_sender(field: Option<&str>) -> Result<u64, FrameError> {
    field
        .filter(|f| f.len() == 16)
        .and_then(|f| parse_hex(f.as_bytes()))
        .ok_or(FrameError::BadHeader)
}

fn parse_ranges(list: &str) -> Result<Vec<(u64, u64)>, FrameError> {
    let mut ranges = Vec::new();
    for r in list.split(',') {
        if ranges.len() == MAX_NAK_RANGES {
            return Err(FrameError::BadHeader);
        }
        let (a, b) = r.split_once('-').ok_or(FrameError::BadHeader)?;
        let (Some(a), Some(b)) = (parse_hex(a.as_bytes()), parse_hex(b.as_bytes())) else {
            return Err(FrameError::BadHeader);
        };
        if a == 0 || b < a || b - a >= MAX_NAK_SPAN {
            return Err(FrameError::BadHeader);
        }
        ranges.push((a, b));
    }
    Ok(ranges)
}

/// Decodes one datagram. Anything that does not start with [`MAGIC`] is legacy text; a
/// datagram that starts with it but is not a well-formed frame is an error.
pub fn decode(datagram: &[u8]) -> Result<Datagram, FrameError> {
    if !datagram.starts_with(&MAGIC) {
        return Ok(Datagram::Legacy(
            String::from_utf8_lossy(datagram).into_owned(),
        ));
    }
    if datagram.len() <= MAGIC.len() {
        return Err(FrameError::Truncated(datagram.len()));
    }
    if !datagram.starts_with(PREFIX) {
        let v = datagram[4];
        return Err(match v {
            b'0'..=b'9' => FrameError::UnsupportedVersion(v - b'0'),
            1 => FrameError::UnsupportedVersion(1),
            _ => FrameError::BadHeader,
        });
    }
    let text = std::str::from_utf8(datagram).map_err(|_| FrameError::InvalidUtf8)?;
    let rest = &text[PREFIX.len()..];
    if rest.as_bytes().get(1) == Some(&b'e') {
        return decode_sealed(PREFIX.len(), text);
    }
    let (header, body) = match rest.split_once('\n') {
        Some((h, b)) => (h, Some(b)),
        None => (rest, None),
    };
    let mut fields = header.split(' ');
    let kind = fields.next().ok_or(FrameError::BadHeader)?.as_bytes();
    let hex = |f: Option<&str>| f.and_then(|f| parse_hex(f.as_bytes()));
    if kind == b"P" {
        let sender = parse_sender(fields.next())?;
        let block = hex(fields.next()).ok_or(FrameError::BadHeader)?;
        let index = hex(fields.next()).ok_or(FrameError::BadHeader)?;
        let k = hex(fields.next()).ok_or(FrameError::BadHeader)?;
        if fields.next().is_some() {
            return Err(FrameError::BadHeader);
        }
        let (index, k) = check_fec(index, k)?;
        let body = body.ok_or(FrameError::Truncated(datagram.len()))?;
        let shard = from_base64(body)?;
        return Ok(Datagram::Parity(Parity {
            sender,
            block,
            index,
            k,
            shard,
        }));
    }
    if kind == b"N" {
        let sender = hex(fields.next()).ok_or(FrameError::BadHeader)?;
        let target = hex(fields.next()).ok_or(FrameError::BadHeader)?;
        let list = fields.next().ok_or(FrameError::BadHeader)?;
        if fields.next().is_some() || body.is_some() {
            return Err(FrameError::BadHeader);
        }
        let ranges = parse_ranges(list)?;
        return Ok(Datagram::Nak(Nak {
            sender,
            target,
            ranges,
        }));
    }
    let (letter, repair) = match kind {
        [k] => (*k, false),
        [k, b'r'] => (*k, true),
        [k, ..] => return Err(FrameError::UnknownKind(*k)),
        [] => return Err(FrameError::BadHeader),
    };
    let kind = Kind::from_letter(letter).ok_or(FrameError::UnknownKind(letter))?;
    if repair && !kind.is_numbered() {
        return Err(FrameError::BadHeader);
    }
    let sender = parse_sender(fields.next())?;
    let seq = hex(fields.next()).ok_or(FrameError::BadHeader)?;
    let timestamp_ms = hex(fields.next()).ok_or(FrameError::BadHeader)?;
    let nick = fields.next().ok_or(FrameError::BadHeader)?;
    if fields.next().is_some() {
        return Err(FrameError::BadHeader);
    }
    check_frame_nick(kind, nick)?;
    let body = body.ok_or(FrameError::Truncated(datagram.len()))?;
    if kind.is_numbered() && seq == 0 {
        return Err(FrameError::BadHeader);
    }
    Ok(Datagram::Frame(Frame {
        kind,
        repair,
        sender,
        seq,
        timestamp_ms,
        nick: nick.to_owned(),
        text: body.to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(kind: Kind, nick: &str, text: &str) -> Frame {
        Frame {
            kind,
            repair: false,
            sender: 0x0102_0304_0506_0708,
            seq: 42,
            timestamp_ms: 1_700_000_000_000,
            nick: nick.into(),
            text: text.into(),
        }
    }

    fn encoded(f: &Frame) -> BytesMut {
        let mut out = BytesMut::new();
        f.encode(&mut out).unwrap();
        out
    }

    #[test]
    fn chat_round_trips() {
        let f = frame(Kind::Chat, "zafir", "halo semua");
        let bytes = encoded(&f);
        assert_eq!(decode(&bytes), Ok(Datagram::Frame(f)));
    }

    #[test]
    fn layout_is_as_documented() {
        let bytes = encoded(&frame(Kind::Chat, "ani", "halo semua"));
        assert_eq!(
            &bytes[..],
            b"OBRL2 C 0102030405060708 2a 18bcfe56800 ani\nhalo semua"
        );
        let mut r = frame(Kind::Action, "ani", "waves");
        r.repair = true;
        assert!(encoded(&r).starts_with(b"OBRL2 Ar 0102030405060708 2a "));
        let mut out = BytesMut::new();
        Nak {
            sender: 0xab,
            target: 0x0102_0304_0506_0708,
            ranges: vec![(3, 5), (9, 9)],
        }
        .encode(&mut out);
        assert_eq!(
            &out[..],
            b"OBRL2 N 00000000000000ab 0102030405060708 3-5,9-9"
        );
    }

    #[test]
    fn every_frame_is_utf8_so_the_seed_receiver_survives_it() {
        let f = frame(Kind::Hello, "ani", "");
        assert!(std::str::from_utf8(&encoded(&f)).is_ok());
        let mut out = BytesMut::new();
        Nak {
            sender: u64::MAX,
            target: 1,
            ranges: vec![(1, 2)],
        }
        .encode(&mut out);
        assert!(std::str::from_utf8(&out).is_ok());
    }

    #[test]
    fn nak_round_trips_and_is_bounded() {
        let n = Nak {
            sender: 7,
            target: 8,
            ranges: vec![(1, 1), (3, 4096)],
        };
        let mut out = BytesMut::new();
        n.encode(&mut out);
        assert_eq!(decode(&out), Ok(Datagram::Nak(n)));
        for bad in [
            &b"OBRL2 N 0000000000000007 0000000000000008 0-1"[..],
            b"OBRL2 N 0000000000000007 0000000000000008 5-4",
            b"OBRL2 N 0000000000000007 0000000000000008 1-1001",
            b"OBRL2 N 0000000000000007 0000000000000008",
            b"OBRL2 N 0000000000000007 0000000000000008 1-2 x",
        ] {
            assert_eq!(decode(bad), Err(FrameError::BadHeader), "{bad:?}");
        }
        let many: Vec<String> = (1..=33).map(|i| format!("{i:x}-{i:x}")).collect();
        let long = format!(
            "OBRL2 N 0000000000000007 0000000000000008 {}",
            many.join(",")
        );
        assert_eq!(decode(long.as_bytes()), Err(FrameError::BadHeader));
    }

    #[test]
    fn plain_text_is_legacy() {
        assert_eq!(
            decode(b"halo dari sender.py"),
            Ok(Datagram::Legacy("halo dari sender.py".into()))
        );
        assert_eq!(decode(b""), Ok(Datagram::Legacy(String::new())));
    }

    #[test]
    fn truncated_and_malformed_headers_are_errors() {
        assert_eq!(decode(b"OBRL"), Err(FrameError::Truncated(4)));
        let bytes = encoded(&frame(Kind::Chat, "ani", "hi"));
        let header_end = bytes.iter().position(|&b| b == b'\n').unwrap();
        assert_eq!(
            decode(&bytes[..header_end]),
            Err(FrameError::Truncated(header_end))
        );
        for bad in [
            &b"OBRL2 C 01020304 2a 1 ani\nx"[..],
            b"OBRL2 C 0102030405060708 2A 1 ani\nx",
            b"OBRL2 C 0102030405060708 0 1 ani\nx",
            b"OBRL2 C 0102030405060708 1 1 ani extra\nx",
            b"OBRL2 Hr 0102030405060708 1 1 ani\n",
            b"OBRL2  0102030405060708 1 1 ani\n",
        ] {
            assert!(decode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn wrong_version_and_kind_are_errors() {
        assert_eq!(
            decode(b"OBRL\x01\x02\x00\x01"),
            Err(FrameError::UnsupportedVersion(1))
        );
        assert_eq!(
            decode(b"OBRL3 C 0102030405060708 1 1 ani\nx"),
            Err(FrameError::UnsupportedVersion(3))
        );
        assert_eq!(
            decode(b"OBRL2 X 0102030405060708 1 1 ani\nx"),
            Err(FrameError::UnknownKind(b'X'))
        );
    }

    #[test]
    fn invalid_utf8_in_a_frame_is_an_error() {
        let mut bytes = encoded(&frame(Kind::Chat, "ani", "ok")).to_vec();
        bytes.push(0xff);
        assert_eq!(decode(&bytes), Err(FrameError::InvalidUtf8));
    }

    #[test]
    fn too_long_text_is_refused_at_the_sender() {
        let max = max_text(3);
        let ok = frame(Kind::Chat, "ani", &"x".repeat(max));
        let mut out = BytesMut::new();
        assert!(ok.encode(&mut out).is_ok());
        assert!(out.len() <= MAX_DATAGRAM);
        let long = frame(Kind::Chat, "ani", &"x".repeat(max + 1));
        assert_eq!(
            long.encode(&mut BytesMut::new()),
            Err(FrameError::TooLong { len: max + 1, max })
        );
    }

    #[test]
    fn bad_nicks_are_refused_both_ways() {
        for nick in [
            "",
            &"n".repeat(MAX_NICK + 1),
            "two words",
            "bell\x07",
            "\x1b]0;title\x07",
            "\x1b[2J",
            "new\nline",
            "rtl\u{202E}",
            "zero\u{200B}width",
        ] {
            assert_eq!(check_nick(nick), Err(FrameError::BadNick), "{nick:?}");
            let f = frame(Kind::Chat, nick, "x");
            assert!(f.encode(&mut BytesMut::new()).is_err());
        }
        let forged = b"OBRL2 C 0102030405060708 1 1 \x1b[2J\nx";
        assert_eq!(decode(forged), Err(FrameError::BadNick));
        assert!(check_nick("zafir_[away]").is_ok());
        assert!(check_nick("Ütz").is_ok());
    }

    #[test]
    fn parity_round_trips_clear_and_sealed_and_bad_ones_are_refused() {
        let p = Parity {
            sender: 0x0102_0304_0506_0708,
            block: 0x1234,
            index: 3,
            k: 16,
            shard: (0..=255u8).cycle().take(max_shard(false)).collect(),
        };
        let mut out = BytesMut::new();
        p.encode(&mut out).unwrap();
        assert!(out.len() <= MAX_DATAGRAM, "{}", out.len());
        assert_eq!(decode(&out), Ok(Datagram::Parity(p.clone())));
        let mut long = p.clone();
        long.shard.push(0);
        assert!(long.encode(&mut BytesMut::new()).is_err());

        let mut sealed = p.clone();
        sealed.shard.truncate(max_shard(true));
        let mut out = BytesMut::new();
        encode_sealed_parity(&sealed, 9, &mut out, |_, body| {
            body.extend_from_slice(&[7; TAG_LEN])
        })
        .unwrap();
        assert!(out.len() <= MAX_DATAGRAM, "{}", out.len());
        let Ok(Datagram::Sealed(s)) = decode(&out) else {
            panic!("not sealed: {out:?}");
        };
        assert_eq!(
            s.what,
            SealedKind::Parity {
                block: 0x1234,
                index: 3,
                k: 16
            }
        );
        assert_eq!((s.pn, s.body.len()), (9, sealed.shard.len() + TAG_LEN));

        for bad in [
            &b"OBRL2 P 0102030405060708 1 40 10\nAAAA"[..], // index 64
            b"OBRL2 P 0102030405060708 1 1 0\nAAAA",        // k 0
            b"OBRL2 P 0102030405060708 1 1 10",             // no body
            b"OBRL2 P 0102 1 1 10\nAAAA",                   // short sender
        ] {
            assert!(decode(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn only_relayed_frames_name_authors_elsewhere() {
        // A peer may not pose as someone a bridge relays...
        assert_eq!(check_nick("bob@hub"), Err(FrameError::BadNick));
        let posing = b"OBRL2 C 0102030405060708 1 1 bob@hub\nx";
        assert_eq!(decode(posing), Err(FrameError::BadNick));
        // ... and a relayed frame must say where its author is.
        for nick in ["bob", "@hub", "bob@", "two words@hub"] {
            assert_eq!(
                check_relayed_nick(nick),
                Err(FrameError::BadNick),
                "{nick:?}"
            );
            assert!(frame(Kind::Relay, nick, "x")
                .encode(&mut BytesMut::new())
                .is_err());
        }
        let long = format!("{}@{}", "b".repeat(MAX_NICK), "h".repeat(MAX_NICK));
        for kind in [Kind::Relay, Kind::RelayAction] {
            let f = frame(kind, &long, "halo dari hub");
            let bytes = encoded(&f);
            assert_eq!(decode(&bytes), Ok(Datagram::Frame(f)));
        }
        assert_eq!(
            decode(b"OBRL2 R 0102030405060708 1 1 bob@irc.example.net\nhi"),
            Ok(Datagram::Frame(Frame {
                kind: Kind::Relay,
                repair: false,
                sender: 0x0102030405060708,
                seq: 1,
                timestamp_ms: 1,
                nick: "bob@irc.example.net".into(),
                text: "hi".into(),
            }))
        );
    }

    fn any_kind() -> impl Strategy<Value = Kind> {
        prop_oneof![
            Just(Kind::Hello),
            Just(Kind::Chat),
            Just(Kind::Action),
            Just(Kind::Bye),
        ]
    }

    proptest! {
        #[test]
        fn frames_round_trip(
            kind in any_kind(),
            repair in any::<bool>(),
            sender in any::<u64>(),
            seq in 1u64..,
            ts in any::<u64>(),
            nick in "[a-zA-Z0-9_\\-\\[\\]]{1,32}",
            text in "\\PC{0,300}",
        ) {
            let f = Frame { kind, repair: repair && kind.is_numbered(), sender, seq,
                timestamp_ms: ts, nick, text };
            let mut out = BytesMut::new();
            f.encode(&mut out).unwrap();
            prop_assert!(out.len() <= MAX_DATAGRAM);
            prop_assert_eq!(decode(&out), Ok(Datagram::Frame(f)));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn arbitrary_bytes_after_prefix_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut d = b"OBRL2 ".to_vec();
            d.extend_from_slice(&bytes);
            let _ = decode(&d);
        }
    }
}
