//! Sealed datagrams (with a group key): the clear header, which is the associated data of the
//! AEAD, and the body in base64; how frames, NAKs and parity are sealed and read back. The
//! sealing itself (keys, nonces, signatures) is `obrol_mcast::keys`'s: these functions take it
//! as a closure.

use bytes::{BufMut, BytesMut};

use super::*;

/// Seals a parity datagram: header with packet number `pn` as associated data, the shard
/// encrypted in place by `seal` (appending the tag), in base64.
pub fn encode_sealed_parity(
    parity: &Parity,
    pn: u64,
    out: &mut BytesMut,
    seal: impl FnOnce(&[u8], &mut Vec<u8>),
) -> Result<(), FrameError> {
    if parity.shard.len() > max_shard(true) {
        return Err(FrameError::TooLong {
            len: parity.shard.len(),
            max: max_shard(true),
        });
    }
    let start = out.len();
    parity.put_header(out, true);
    out.put_u8(b' ');
    put_hex(out, pn, 1);
    out.put_u8(b'\n');
    let mut body = Vec::with_capacity(parity.shard.len() + TAG_LEN);
    body.extend_from_slice(&parity.shard);
    seal(&out[start..], &mut body);
    put_base64(out, &body);
    Ok(())
}

/// An encrypted frame or NAK (flag `e`): its clear header, which is also the associated data
/// of the AEAD, and the sealed body. For a frame the body opens to `nick\ntext`; a NAK's body
/// opens to nothing (it only authenticates the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Bytes of the datagram that are the associated data (the header line and its newline).
    pub aad_len: usize,
    pub what: SealedKind,
    pub sender: u64,
    /// The sender's packet number: every datagram a sender seals has its own, the nonce.
    pub pn: u64,
    /// Ciphertext and tag.
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedKind {
    Frame {
        kind: Kind,
        seq: u64,
        timestamp_ms: u64,
    },
    Nak {
        target: u64,
        ranges: Vec<(u64, u64)>,
    },
    /// The body opens to the shard.
    Parity { block: u64, index: u8, k: u8 },
}

/// The longest header line of a sealed frame: a frame's, plus a space and the packet number.
pub const MAX_SEALED_HEADER: usize = MAX_HEADER + 1 + 16;
/// Bytes an AEAD tag adds.
pub const TAG_LEN: usize = 16;

/// The longest text that fits in one sealed datagram next to a nick of `nick_len` bytes (the
/// body is base64, so every frame stays UTF-8).
pub fn max_sealed_text(nick_len: usize) -> usize {
    let b64 = MAX_DATAGRAM.saturating_sub(MAX_SEALED_HEADER);
    (b64 / 4 * 3).saturating_sub(TAG_LEN + SIGNATURE_BLOCK + nick_len + 1)
}

/// What a sealed frame's plaintext starts with: the sender's public signing key (Ed25519, 32
/// bytes), the salt its sender id is made with (8) and its signature (64) of the header line
/// and the rest of the plaintext (`nick \n text`); see `obrol_mcast::keys::Identity`.
pub const SIGNATURE_BLOCK: usize = 32 + 8 + 64;

/// Seals a frame: writes its header (with packet number `pn`) to `out`, then calls `seal` with
/// that header as associated data and the plaintext `nick\ntext` to encrypt in place (appending
/// the tag), and appends the result in base64.
pub fn encode_sealed_frame(
    frame: &Frame,
    pn: u64,
    out: &mut BytesMut,
    seal: impl FnOnce(&[u8], &mut Vec<u8>),
) -> Result<(), FrameError> {
    check_frame_nick(frame.kind, &frame.nick)?;
    let max = max_sealed_text(frame.nick.len());
    if frame.text.len() > max {
        return Err(FrameError::TooLong {
            len: frame.text.len(),
            max,
        });
    }
    let start = out.len();
    put_frame_header(out, frame, Some(b'e'));
    out.put_u8(b' ');
    put_hex(out, pn, 1);
    out.put_u8(b'\n');
    let mut body = Vec::with_capacity(frame.nick.len() + 1 + frame.text.len() + TAG_LEN);
    body.extend_from_slice(frame.nick.as_bytes());
    body.push(b'\n');
    body.extend_from_slice(frame.text.as_bytes());
    seal(&out[start..], &mut body);
    put_base64(out, &body);
    Ok(())
}

/// Seals a NAK: header with packet number `pn`, then the base64 tag `seal` makes over it.
pub fn encode_sealed_nak(
    nak: &Nak,
    pn: u64,
    out: &mut BytesMut,
    seal: impl FnOnce(&[u8], &mut Vec<u8>),
) {
    let start = out.len();
    out.put_slice(PREFIX);
    out.put_slice(b"Ne ");
    put_hex(out, nak.sender, 16);
    out.put_u8(b' ');
    put_hex(out, nak.target, 16);
    out.put_u8(b' ');
    put_hex(out, pn, 1);
    put_ranges(out, &nak.ranges);
    out.put_u8(b'\n');
    let mut body = Vec::with_capacity(TAG_LEN);
    seal(&out[start..], &mut body);
    put_base64(out, &body);
}

pub(super) fn decode_sealed(rest_start: usize, text: &str) -> Result<Datagram, FrameError> {
    let (header, body) = text[rest_start..]
        .split_once('\n')
        .ok_or(FrameError::Truncated(text.len()))?;
    let aad_len = rest_start + header.len() + 1;
    let mut fields = header.split(' ');
    let kind = fields.next().ok_or(FrameError::BadHeader)?.as_bytes();
    let hex = |f: Option<&str>| f.and_then(|f| parse_hex(f.as_bytes()));
    let sender = parse_sender(fields.next())?;
    let what = if kind == b"Ne" {
        let target = hex(fields.next()).ok_or(FrameError::BadHeader)?;
        let pn = hex(fields.next()).ok_or(FrameError::BadHeader)?;
        let ranges = parse_ranges(fields.next().ok_or(FrameError::BadHeader)?)?;
        (SealedKind::Nak { target, ranges }, pn)
    } else if kind == b"Pe" {
        let block = hex(fields.next()).ok_or(FrameError::BadHeader)?;
        let index = hex(fields.next()).ok_or(FrameError::BadHeader)?;
        let k = hex(fields.next()).ok_or(FrameError::BadHeader)?;
        let pn = hex(fields.next()).ok_or(FrameError::BadHeader)?;
        let (index, k) = check_fec(index, k)?;
        (SealedKind::Parity { block, index, k }, pn)
    } else {
        let [letter, b'e'] = kind else {
            return Err(FrameError::BadHeader);
        };
        let kind = Kind::from_letter(*letter).ok_or(FrameError::UnknownKind(*letter))?;
        let seq = hex(fields.next()).ok_or(FrameError::BadHeader)?;
        let timestamp_ms = hex(fields.next()).ok_or(FrameError::BadHeader)?;
        let pn = hex(fields.next()).ok_or(FrameError::BadHeader)?;
        if kind.is_numbered() && seq == 0 {
            return Err(FrameError::BadHeader);
        }
        (
            SealedKind::Frame {
                kind,
                seq,
                timestamp_ms,
            },
            pn,
        )
    };
    if fields.next().is_some() {
        return Err(FrameError::BadHeader);
    }
    let body = from_base64(body)?;
    if body.len() < TAG_LEN {
        return Err(FrameError::Truncated(text.len()));
    }
    Ok(Datagram::Sealed(Sealed {
        aad_len,
        what: what.0,
        sender,
        pn: what.1,
        body,
    }))
}

/// The nick and text a sealed frame of `kind` opened to.
pub fn split_opened(kind: Kind, plain: &[u8]) -> Result<(String, String), FrameError> {
    let plain = std::str::from_utf8(plain).map_err(|_| FrameError::InvalidUtf8)?;
    let (nick, text) = plain.split_once('\n').ok_or(FrameError::BadHeader)?;
    check_frame_nick(kind, nick)?;
    Ok((nick.to_owned(), text.to_owned()))
}
