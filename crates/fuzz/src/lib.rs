//! One function per decoder that reads what a peer sends. Each takes arbitrary bytes, must
//! never panic, and checks what the decoder promises (a line never longer than the limit, a
//! message that encodes and parses back to itself, ...), panicking when a promise is broken.
//!
//! The same functions run two ways: as cargo-fuzz targets (`fuzz/`, nightly) and, on stable,
//! as a test that replays the committed corpus (`corpus/TARGET/*`) and then feeds each target
//! random inputs for a bounded time (`tests/corpus.rs`).

use bytes::BytesMut;
use obrol_wire::irc::Message;
use obrol_wire::line::{LineCodec, LineError};

/// A fuzz target: arbitrary bytes in, a panic if the decoder broke a promise.
pub type Target = fn(&[u8]);

/// Every target, by name (the corpus folder's name).
pub const TARGETS: &[(&str, Target)] = &[
    ("irc_message", irc_message),
    ("line_framing", line_framing),
    ("mcast_frame", mcast_frame),
    ("sniff", sniff),
    ("plain_command", plain_command),
    ("text", text),
    ("config", config),
];

/// IRC message parsing: whatever parses encodes to a line that parses back to the same
/// message, within IRC's limits.
pub fn irc_message(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(msg) = Message::parse(line) else {
        return;
    };
    if msg.encoding_problem().is_some() {
        return; // a parsed message the encoder says it cannot write faithfully
    }
    let mut out = BytesMut::new();
    msg.encode(&mut out);
    assert!(out.ends_with(b"\r\n"));
    let again = std::str::from_utf8(&out).expect("an encoded message is UTF-8");
    let back = Message::parse(again).expect("an encoded message parses");
    assert_eq!(back, msg, "parse(encode(m)) != m for {line:?}");
}

/// Line framing: every line handed out is within the limit and holds no line break; input
/// split anywhere gives the same lines as input in one piece.
pub fn line_framing(data: &[u8]) {
    const MAX: usize = 64;
    let whole = frame(data, data.len().max(1));
    let cut = data.first().map_or(1, |b| usize::from(*b % 7) + 1);
    let pieces = frame(data, cut);
    assert_eq!(whole, pieces, "framing depends on how the input arrives");
    for line in whole.iter().flatten() {
        assert!(
            line.len() <= MAX,
            "a line of {} bytes (limit {MAX})",
            line.len()
        );
        assert!(!line.contains(&b'\n'), "a line with a line break in it");
    }

    fn frame(data: &[u8], chunk: usize) -> Vec<Option<Vec<u8>>> {
        let mut codec = LineCodec::new(MAX);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in data.chunks(chunk) {
            buf.extend_from_slice(piece);
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(line)) => out.push(Some(line.to_vec())),
                    Ok(None) => break,
                    Err(LineError::TooLong(_)) => out.push(None),
                }
            }
        }
        out
    }
}

/// Multicast datagrams: decoding never panics, and a decoded frame encodes and decodes back
/// to itself.
pub fn mcast_frame(data: &[u8]) {
    use obrol_wire::mcast::{decode, Datagram, TAG_LEN};
    match decode(data) {
        Ok(Datagram::Frame(frame)) => {
            let mut out = BytesMut::new();
            if frame.encode(&mut out).is_err() {
                return;
            }
            match decode(&out) {
                Ok(Datagram::Frame(back)) => assert_eq!(back, frame),
                other => panic!("a re-encoded frame decodes as {other:?}"),
            }
        }
        Ok(Datagram::Nak(nak)) => {
            let mut out = BytesMut::new();
            nak.encode(&mut out);
            assert_eq!(decode(&out), Ok(Datagram::Nak(nak)));
        }
        Ok(Datagram::Parity(parity)) => {
            let mut out = BytesMut::new();
            if parity.encode(&mut out).is_ok() {
                assert_eq!(decode(&out), Ok(Datagram::Parity(parity)));
            }
        }
        Ok(Datagram::Sealed(sealed)) => {
            // The associated data is a prefix of the datagram ending in the header's newline,
            // and the body holds at least a tag.
            assert!(sealed.aad_len <= data.len() && data[sealed.aad_len - 1] == b'\n');
            assert!(sealed.body.len() >= TAG_LEN);
        }
        Ok(Datagram::Legacy(_)) | Err(_) => {}
    }
}

/// The sniffing port's first bytes: any bytes are some kind of client, and a TLS record
/// header is always TLS.
pub fn sniff(data: &[u8]) {
    use obrol_hub::proto::{classify_first_bytes, Sniffed};
    let kind = classify_first_bytes(data);
    if data.len() >= 2 && data[0] == 0x16 && data[1] == 0x03 {
        assert_eq!(kind, Sniffed::Tls);
    }
}

/// Plain protocol commands: parsing never panics, for the hub and for the wire's parser.
pub fn plain_command(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let _ = obrol_wire::plain::parse(line);
    let _ = obrol_hub::proto::plain::parse(line);
}

/// What text may pass: cleaned text holds no control characters but IRC formatting, tab and
/// CTCP's \x01; splitting keeps every byte but the spaces it splits at, each piece in bounds.
pub fn text(data: &[u8]) {
    use obrol_hub::domain::text::{clean, split};
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let cleaned = clean(raw);
    for c in cleaned.chars() {
        // IRC formatting: bold, colour, hex colour, reset, monospace, reverse, italics,
        // strikethrough, underline.
        let formatting = matches!(
            c,
            '\x02' | '\x03' | '\x04' | '\x0f' | '\x11' | '\x16' | '\x1d' | '\x1e' | '\x1f'
        );
        let allowed = !c.is_control() || matches!(c, '\t' | '\x01') || formatting;
        assert!(allowed, "{c:?} passed the cleaning of {raw:?}");
    }
    let max = data.first().map_or(8, |b| usize::from(*b % 64) + 4);
    let pieces = split(&cleaned, max);
    for p in &pieces {
        assert!(p.len() <= max, "a piece of {} bytes (limit {max})", p.len());
    }
    let kept: usize = pieces.iter().map(|p| p.len()).sum();
    assert!(kept <= cleaned.len());
    assert!(
        cleaned.len() - kept <= pieces.len(),
        "split lost more than the spaces it cut at"
    );
}

/// The config file (`obrol serve --config`): any text either configures the hub or is refused
/// with an error that names the file and the line (`fuzz.toml:3: ...`).
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = obrol::serve_config::check(text) {
        let message = e.to_string();
        let named = message
            .strip_prefix("fuzz.toml:")
            .and_then(|rest| rest.split(':').next())
            .is_some_and(|line| line.parse::<usize>().is_ok());
        assert!(named, "an error without its file and line: {message}");
    }
}
