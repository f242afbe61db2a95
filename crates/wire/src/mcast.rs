//! The multicast frame: what `obrol mcast` peers put in each UDP datagram.
//!
//! A datagram either starts with [`MAGIC`] and is an obrol frame, or it does not and is a
//! *legacy* message: the bare UTF-8 text that the seed's `sender.py` sends. Frames are versioned
//! so later versions (repair, encryption) can be told apart and old peers drop what they cannot
//! read instead of printing garbage. The layout is specified in `docs/PROTOCOL.md`; this module
//! is its only implementation.
//!
//! Decoding works on one whole datagram (`&[u8]`): UDP preserves message boundaries, so there is
//! no partial-frame state to keep, unlike the hub's stream codecs.

use bytes::{BufMut, BytesMut};
use thiserror::Error;

/// The first four bytes of every obrol frame: "OBRL".
pub const MAGIC: [u8; 4] = *b"OBRL";

/// The frame version this module writes and reads.
pub const VERSION: u8 = 1;

/// Bytes before the nick: magic, version, kind, flags, nick length, sender, seq, timestamp,
/// text length.
pub const HEADER_LEN: usize = 4 + 1 + 1 + 1 + 1 + 8 + 8 + 8 + 2;

/// Largest datagram a peer sends. 1200 bytes fits the IPv6 minimum MTU (1280) with IP and UDP
/// headers, so frames are never fragmented by IP on any path.
pub const MAX_DATAGRAM: usize = 1200;

/// Longest nick in bytes. Long enough for real names, short enough to leave room for text.
pub const MAX_NICK: usize = 32;

/// What a frame means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Presence: "I am here". Sent at start and as a periodic heartbeat. `seq` carries the last
    /// chat sequence number used, so receivers can notice lost messages at the tail.
    Hello,
    /// A chat message. `seq` counts from 1 per sender.
    Chat,
    /// An action (`/me waves`): shown as `* nick waves`. Numbered like a chat message.
    Action,
    /// Presence: "I am leaving". `seq` as in [`Kind::Hello`].
    Bye,
}

impl Kind {
    fn to_byte(self) -> u8 {
        match self {
            Kind::Hello => 1,
            Kind::Chat => 2,
            Kind::Action => 3,
            Kind::Bye => 4,
        }
    }

    fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Hello,
            2 => Kind::Chat,
            3 => Kind::Action,
            4 => Kind::Bye,
            _ => return None,
        })
    }

    /// Whether frames of this kind take a sequence number of their own (and so can be lost,
    /// duplicated or, later, repaired).
    pub fn is_numbered(self) -> bool {
        matches!(self, Kind::Chat | Kind::Action)
    }
}

/// One decoded obrol frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What the frame means.
    pub kind: Kind,
    /// The sender's random 64-bit id, chosen at start: nicks can collide, ids practically can't,
    /// and a peer recognises its own looped-back frames by it.
    pub sender: u64,
    /// Per-sender sequence number (see [`Kind`]).
    pub seq: u64,
    /// Sender's wall clock at send time, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Sender's nick, 1..=[`MAX_NICK`] bytes of UTF-8.
    pub nick: String,
    /// Message text (empty for presence frames), UTF-8.
    pub text: String,
}

/// Why a datagram could not be decoded as a frame, or a frame could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("frame truncated: {0} bytes")]
    Truncated(usize),
    #[error("unsupported frame version {0}")]
    UnsupportedVersion(u8),
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("frame length fields disagree with its size")]
    BadLength,
    #[error("nick must be 1 to {MAX_NICK} bytes")]
    BadNick,
    #[error("frame text or nick is not valid UTF-8")]
    InvalidUtf8,
    #[error("message too long: {len} bytes, at most {max} fit in one datagram")]
    TooLong { len: usize, max: usize },
}

/// A received datagram, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datagram {
    /// An obrol frame.
    Frame(Frame),
    /// Bare text, as the seed's `sender.py` sends it. Invalid UTF-8 is replaced, never an error:
    /// the seed's programs send whatever `input()` gave them.
    Legacy(String),
}

/// The longest text that fits one datagram next to a nick of `nick_len` bytes.
pub fn max_text(nick_len: usize) -> usize {
    MAX_DATAGRAM.saturating_sub(HEADER_LEN + nick_len)
}

impl Frame {
    /// Appends the frame's wire form to `out`.
    ///
    /// Fails, writing nothing, if the nick is empty or too long or the frame would exceed
    /// [`MAX_DATAGRAM`]: the caller reports that to the user rather than sending a datagram that
    /// IP would fragment.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), FrameError> {
        let nick = self.nick.as_bytes();
        if nick.is_empty() || nick.len() > MAX_NICK {
            return Err(FrameError::BadNick);
        }
        let max = max_text(nick.len());
        if self.text.len() > max {
            return Err(FrameError::TooLong {
                len: self.text.len(),
                max,
            });
        }
        out.reserve(HEADER_LEN + nick.len() + self.text.len());
        out.put_slice(&MAGIC);
        out.put_u8(VERSION);
        out.put_u8(self.kind.to_byte());
        out.put_u8(0); // flags: none defined in version 1
        out.put_u8(nick.len() as u8);
        out.put_u64(self.sender);
        out.put_u64(self.seq);
        out.put_u64(self.timestamp_ms);
        out.put_u16(self.text.len() as u16);
        out.put_slice(nick);
        out.put_slice(self.text.as_bytes());
        Ok(())
    }
}

/// Classifies and decodes one received datagram.
///
/// Anything that does not start with [`MAGIC`] is [`Datagram::Legacy`]. A datagram that does
/// start with it but is not a well-formed version-1 frame is an error: the caller drops and
/// counts it.
pub fn decode(datagram: &[u8]) -> Result<Datagram, FrameError> {
    if !datagram.starts_with(&MAGIC) {
        return Ok(Datagram::Legacy(
            String::from_utf8_lossy(datagram).into_owned(),
        ));
    }
    if datagram.len() < HEADER_LEN {
        return Err(FrameError::Truncated(datagram.len()));
    }
    let version = datagram[4];
    if version != VERSION {
        return Err(FrameError::UnsupportedVersion(version));
    }
    let kind = Kind::from_byte(datagram[5]).ok_or(FrameError::UnknownKind(datagram[5]))?;
    // datagram[6] is flags; version 1 defines none and ignores them so that a later minor
    // addition does not make old peers drop frames.
    let nick_len = usize::from(datagram[7]);
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&datagram[at..at + 8]);
        u64::from_be_bytes(b)
    };
    let sender = u64_at(8);
    let seq = u64_at(16);
    let timestamp_ms = u64_at(24);
    let text_len = usize::from(u16::from_be_bytes([datagram[32], datagram[33]]));
    if nick_len == 0 || nick_len > MAX_NICK {
        return Err(FrameError::BadNick);
    }
    if datagram.len() != HEADER_LEN + nick_len + text_len {
        return Err(if datagram.len() < HEADER_LEN + nick_len + text_len {
            FrameError::Truncated(datagram.len())
        } else {
            FrameError::BadLength
        });
    }
    let nick = &datagram[HEADER_LEN..HEADER_LEN + nick_len];
    let text = &datagram[HEADER_LEN + nick_len..];
    let nick = std::str::from_utf8(nick).map_err(|_| FrameError::InvalidUtf8)?;
    let text = std::str::from_utf8(text).map_err(|_| FrameError::InvalidUtf8)?;
    Ok(Datagram::Frame(Frame {
        kind,
        sender,
        seq,
        timestamp_ms,
        nick: nick.to_owned(),
        text: text.to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(kind: Kind, nick: &str, text: &str) -> Frame {
        Frame {
            kind,
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
        assert_eq!(bytes.len(), HEADER_LEN + 5 + 10);
        assert_eq!(&bytes[..4], b"OBRL");
        assert_eq!(decode(&bytes), Ok(Datagram::Frame(f)));
    }

    #[test]
    fn layout_is_as_documented() {
        let bytes = encoded(&frame(Kind::Hello, "a", ""));
        assert_eq!(
            &bytes[..],
            &[
                b'O', b'B', b'R', b'L', 1, 1, 0, 1, // magic, version, kind, flags, nick len
                1, 2, 3, 4, 5, 6, 7, 8, // sender
                0, 0, 0, 0, 0, 0, 0, 42, // seq
                0, 0, 1, 0x8b, 0xcf, 0xe5, 0x68, 0, // timestamp 1_700_000_000_000
                0, 0, // text len
                b'a'
            ][..]
        );
    }

    #[test]
    fn plain_text_is_legacy() {
        assert_eq!(decode(b"halo"), Ok(Datagram::Legacy("halo".into())));
        assert_eq!(decode(b""), Ok(Datagram::Legacy(String::new())));
        assert_eq!(
            decode(b"bad \xff utf8"),
            Ok(Datagram::Legacy("bad \u{fffd} utf8".into()))
        );
    }

    #[test]
    fn truncated_frames_are_errors() {
        let bytes = encoded(&frame(Kind::Chat, "nick", "text"));
        for cut in 4..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        let mut bytes = encoded(&frame(Kind::Chat, "nick", "text"));
        bytes.put_u8(0);
        assert_eq!(decode(&bytes), Err(FrameError::BadLength));
    }

    #[test]
    fn wrong_version_and_kind_are_errors() {
        let mut bytes = encoded(&frame(Kind::Chat, "nick", "text"));
        bytes[4] = 2;
        assert_eq!(decode(&bytes), Err(FrameError::UnsupportedVersion(2)));
        bytes[4] = 1;
        bytes[5] = 99;
        assert_eq!(decode(&bytes), Err(FrameError::UnknownKind(99)));
    }

    #[test]
    fn invalid_utf8_in_a_frame_is_an_error() {
        let mut bytes = encoded(&frame(Kind::Chat, "nick", "text"));
        let last = bytes.len() - 1;
        bytes[last] = 0xff;
        assert_eq!(decode(&bytes), Err(FrameError::InvalidUtf8));
    }

    #[test]
    fn too_long_text_is_refused_at_the_sender() {
        let nick = "n".repeat(MAX_NICK);
        let max = max_text(MAX_NICK);
        let ok = frame(Kind::Chat, &nick, &"x".repeat(max));
        assert_eq!(encoded(&ok).len(), MAX_DATAGRAM);
        let mut out = BytesMut::new();
        let long = frame(Kind::Chat, &nick, &"x".repeat(max + 1));
        assert_eq!(
            long.encode(&mut out),
            Err(FrameError::TooLong { len: max + 1, max })
        );
        assert!(out.is_empty());
    }

    #[test]
    fn bad_nicks_are_refused() {
        let mut out = BytesMut::new();
        assert_eq!(
            frame(Kind::Chat, "", "x").encode(&mut out),
            Err(FrameError::BadNick)
        );
        let long = "n".repeat(MAX_NICK + 1);
        assert_eq!(
            frame(Kind::Chat, &long, "x").encode(&mut out),
            Err(FrameError::BadNick)
        );
    }

    fn any_kind() -> impl Strategy<Value = Kind> {
        prop_oneof![
            Just(Kind::Hello),
            Just(Kind::Chat),
            Just(Kind::Action),
            Just(Kind::Bye)
        ]
    }

    proptest! {
        #[test]
        fn frames_round_trip(
            kind in any_kind(),
            sender: u64,
            seq: u64,
            timestamp_ms: u64,
            nick in "\\PC{1,8}",
            text in "\\PC{0,200}",
        ) {
            let f = Frame { kind, sender, seq, timestamp_ms, nick, text };
            let mut out = BytesMut::new();
            if f.encode(&mut out).is_ok() {
                prop_assert!(out.len() <= MAX_DATAGRAM);
                prop_assert_eq!(decode(&out), Ok(Datagram::Frame(f)));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn arbitrary_bytes_after_magic_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut d = MAGIC.to_vec();
            d.extend_from_slice(&bytes);
            let _ = decode(&d);
        }
    }
}
