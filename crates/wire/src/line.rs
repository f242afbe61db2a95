//! Bounded line framing for the hub's stream protocols.
//!
//! Lines end in `\n`; a `\r` before it is removed, so `nc`, telnet-style and IRC clients all
//! work. A line longer than the limit is reported once as [`LineError::TooLong`] and then
//! discarded up to its end, so one oversized line costs the sender an error reply, not its
//! connection, and the codec never buffers more than `max_len` bytes of it.

use bytes::{Buf, BytesMut};
use thiserror::Error;

/// Why a line was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LineError {
    #[error("line too long (limit {0} bytes)")]
    TooLong(usize),
}

/// Splits a byte stream into lines of at most `max_len` bytes (terminator excluded).
#[derive(Debug, Clone)]
pub struct LineCodec {
    /// Longest line accepted, without its terminator.
    max_len: usize,
    /// True while skipping the rest of a line already reported as too long.
    discarding: bool,
}

impl LineCodec {
    pub fn new(max_len: usize) -> Self {
        LineCodec {
            max_len,
            discarding: false,
        }
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Takes the next complete line out of `buf`, without its terminator.
    ///
    /// `Ok(None)` means more bytes are needed. After `Err(TooLong)` the caller may keep calling:
    /// the rest of the oversized line is skipped and the following lines come out normally.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, LineError> {
        loop {
            let newline = buf.iter().position(|&b| b == b'\n');
            if self.discarding {
                match newline {
                    Some(at) => {
                        buf.advance(at + 1);
                        self.discarding = false;
                        continue;
                    }
                    None => {
                        buf.clear();
                        return Ok(None);
                    }
                }
            }
            return match newline {
                Some(at) => {
                    let mut line = buf.split_to(at + 1);
                    line.truncate(at);
                    if line.last() == Some(&b'\r') {
                        line.truncate(at - 1);
                    }
                    if line.len() > self.max_len {
                        Err(LineError::TooLong(self.max_len))
                    } else {
                        Ok(Some(line))
                    }
                }
                // `max_len + 1` leaves room for the `\r` of a maximal `\r\n` line still waiting
                // for its `\n`.
                None if buf.len() > self.max_len + 1 => {
                    buf.clear();
                    self.discarding = true;
                    Err(LineError::TooLong(self.max_len))
                }
                None => Ok(None),
            };
        }
    }

    /// Hands out a partial line that has been waiting for its terminator, as if it had one.
    ///
    /// The seed's `client.py` sends each message without a newline; the hub calls this when such
    /// a fragment has sat idle for a moment. Nothing is returned while discarding.
    pub fn take_partial(&mut self, buf: &mut BytesMut) -> Option<BytesMut> {
        if self.discarding || buf.is_empty() {
            return None;
        }
        let mut line = buf.split();
        if line.last() == Some(&b'\r') {
            line.truncate(line.len() - 1);
        }
        (line.len() <= self.max_len).then_some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lines(codec: &mut LineCodec, buf: &mut BytesMut) -> Vec<Result<String, LineError>> {
        let mut out = Vec::new();
        loop {
            match codec.decode(buf) {
                Ok(Some(l)) => out.push(Ok(String::from_utf8_lossy(&l).into_owned())),
                Ok(None) => return out,
                Err(e) => out.push(Err(e)),
            }
        }
    }

    #[test]
    fn splits_lf_and_crlf() {
        let mut c = LineCodec::new(100);
        let mut b = BytesMut::from(&b"one\r\ntwo\nthree"[..]);
        assert_eq!(
            lines(&mut c, &mut b),
            vec![Ok("one".into()), Ok("two".into())]
        );
        assert_eq!(&b[..], b"three");
        b.extend_from_slice(b"\n");
        assert_eq!(lines(&mut c, &mut b), vec![Ok("three".into())]);
        assert!(b.is_empty());
    }

    #[test]
    fn empty_lines_are_lines() {
        let mut c = LineCodec::new(10);
        let mut b = BytesMut::from(&b"\n\r\n"[..]);
        assert_eq!(lines(&mut c, &mut b), vec![Ok("".into()), Ok("".into())]);
    }

    #[test]
    fn too_long_line_is_reported_once_and_skipped() {
        let mut c = LineCodec::new(4);
        let mut b = BytesMut::from(&b"abcdefgh"[..]);
        assert_eq!(lines(&mut c, &mut b), vec![Err(LineError::TooLong(4))]);
        assert!(b.is_empty(), "nothing of the long line is buffered");
        b.extend_from_slice(b"ijkl\nok\n");
        assert_eq!(lines(&mut c, &mut b), vec![Ok("ok".into())]);
    }

    #[test]
    fn too_long_complete_line_is_an_error() {
        let mut c = LineCodec::new(4);
        let mut b = BytesMut::from(&b"abcde\nabcd\r\n"[..]);
        assert_eq!(
            lines(&mut c, &mut b),
            vec![Err(LineError::TooLong(4)), Ok("abcd".into())]
        );
    }

    #[test]
    fn partial_line_can_be_taken() {
        let mut c = LineCodec::new(10);
        let mut b = BytesMut::from(&b"hello"[..]);
        assert_eq!(lines(&mut c, &mut b), vec![]);
        assert_eq!(c.take_partial(&mut b).as_deref(), Some(&b"hello"[..]));
        assert!(b.is_empty());
        assert_eq!(c.take_partial(&mut b), None);
    }

    proptest! {
        #[test]
        fn any_chunking_gives_the_same_lines(
            text in proptest::collection::vec("[a-z ]{0,12}", 0..20),
            cuts in proptest::collection::vec(0usize..300, 0..10),
        ) {
            let joined: String = text.iter().map(|l| format!("{l}\r\n")).collect();
            let bytes = joined.as_bytes();
            let mut cuts = cuts;
            cuts.push(bytes.len());
            cuts.sort();
            let mut c = LineCodec::new(12);
            let mut b = BytesMut::new();
            let mut got = Vec::new();
            let mut from = 0;
            for cut in cuts {
                let cut = cut.min(bytes.len());
                if cut < from { continue; }
                b.extend_from_slice(&bytes[from..cut]);
                from = cut;
                got.extend(lines(&mut c, &mut b));
            }
            let want: Vec<_> = text.into_iter().map(Ok).collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_stay_bounded(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..20),
        ) {
            let mut c = LineCodec::new(16);
            let mut b = BytesMut::new();
            for chunk in chunks {
                b.extend_from_slice(&chunk);
                for line in lines(&mut c, &mut b).into_iter().flatten() {
                    prop_assert!(line.len() <= 16 * 3); // lossy may widen bytes to U+FFFD
                }
                prop_assert!(b.len() <= 17 + 64);
            }
        }
    }
}
