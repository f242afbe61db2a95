//! IRC messages: parsing one received line into tags, prefix, command and parameters, and
//! writing a [`Message`] back out in wire form.
//!
//! The grammar is RFC 1459/2812 as corrected by the Modern IRC documents, with IRCv3 message
//! tags in front. Parsing is deliberately tolerant where real servers and clients are sloppy
//! (runs of spaces, a trailing line ending, a stray space at the end, duplicate tags) and strict
//! where sloppiness would let one line smuggle in another (NUL, CR or LF inside a line) or let a
//! peer make us buffer without bound (the length limits). Every message `parse` returns can be
//! encoded again and parses back to itself, so a server can relay what it received without
//! re-validating it.

use std::collections::HashSet;
use std::fmt;

use bytes::BytesMut;
use thiserror::Error;

/// Longest line, in bytes, counting the final CRLF but not the tag section (RFC 1459 §2.3).
pub const MAX_LINE: usize = 512;

/// Longest tag section, in bytes, counting the leading `@` and the space that ends it (IRCv3
/// message-tags).
pub const MAX_TAGS: usize = 8191;

/// Why a line is not an IRC message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Nothing but spaces; Modern IRC says such lines are silently ignored.
    #[error("empty line")]
    Empty,
    /// The part after the tags is over [`MAX_LINE`]; a server answers ERR_INPUTTOOLONG (417).
    #[error("line too long: {len} bytes with CRLF, limit is {MAX_LINE}")]
    LineTooLong { len: usize },
    /// The tag section is over [`MAX_TAGS`]; a server answers ERR_INPUTTOOLONG (417).
    #[error("tag section too long: {len} bytes, limit is {MAX_TAGS}")]
    TagsTooLong { len: usize },
    /// NUL, CR or LF inside the line: never legal, and passing them on would split the line.
    #[error("illegal byte {0:#04x} in line")]
    IllegalByte(u8),
    /// A `:` with nothing after it where the prefix should be.
    #[error("empty prefix")]
    EmptyPrefix,
    /// Tags and/or a prefix but no command after them.
    #[error("missing command")]
    MissingCommand,
    /// The command is neither letters nor a numeric. Carries it so a server can still name it in
    /// ERR_UNKNOWNCOMMAND (421).
    #[error("invalid command {0:?}")]
    InvalidCommand(String),
}

impl ParseError {
    /// True for the errors a server answers with ERR_INPUTTOOLONG (417).
    pub fn is_too_long(&self) -> bool {
        matches!(
            self,
            ParseError::LineTooLong { .. } | ParseError::TagsTooLong { .. }
        )
    }
}

/// One IRCv3 message tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag {
    /// The key, including any `+` client prefix and `vendor/` part.
    pub key: String,
    /// The value with IRCv3 escapes already undone. `None` for a tag without a value; parsing
    /// never yields `Some("")`, because the spec makes `key=` mean the same as `key`.
    pub value: Option<String>,
}

impl Tag {
    pub fn new(key: impl Into<String>, value: Option<String>) -> Tag {
        Tag {
            key: key.into(),
            value,
        }
    }
}

/// One IRC message, without its line ending.
///
/// What [`Message::parse`] returns always encodes back to an equivalent line. A message built
/// by hand must keep to the wire grammar for that to hold, which [`Message::encode`] checks with
/// `debug_assert!` only:
/// - `command` is non-empty and ASCII letters or digits;
/// - `prefix`, when present, is non-empty and has no space;
/// - every parameter but the last is non-empty, has no space and does not start with `:`;
///   only the last one may be empty, hold spaces or start with `:`;
/// - tag keys are non-empty and have no `=`, `;` or space;
/// - nothing anywhere holds NUL, CR or LF (tag values may: they are escaped).
///
/// Nor does encoding enforce [`MAX_LINE`]: callers that relay user text must leave room for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Message {
    pub tags: Vec<Tag>,
    /// The source, without its leading `:`.
    pub prefix: Option<String>,
    /// The command or numeric, exactly as received: callers uppercase before matching.
    pub command: String,
    pub params: Vec<String>,
}

impl Message {
    /// A message without tags or prefix.
    pub fn new<P: Into<String>>(
        command: impl Into<String>,
        params: impl IntoIterator<Item = P>,
    ) -> Message {
        Message {
            tags: Vec::new(),
            prefix: None,
            command: command.into(),
            params: params.into_iter().map(Into::into).collect(),
        }
    }

    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Message {
        self.prefix = Some(prefix.into());
        self
    }

    /// Sets tag `key`, replacing an earlier tag of the same key so that the message never
    /// carries duplicates. An empty `value` means a tag without a value, as on the wire.
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Message {
        let key = key.into();
        let value = Some(value.into()).filter(|v| !v.is_empty());
        match self.tags.iter_mut().find(|t| t.key == key) {
            Some(tag) => tag.value = value,
            None => self.tags.push(Tag { key, value }),
        }
        self
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Message {
        self.params.push(param.into());
        self
    }

    /// The tag with this key, if any.
    pub fn tag(&self, key: &str) -> Option<&Tag> {
        self.tags.iter().find(|t| t.key == key)
    }

    /// Parameter `index`, if there are that many.
    pub fn param(&self, index: usize) -> Option<&str> {
        self.params.get(index).map(String::as_str)
    }

    /// Parses one line. A single trailing `\r\n`, `\n` or `\r` is tolerated and removed.
    ///
    /// The length limits are checked first (see [`check_len`]), so an over-long line is
    /// reported as such even when it is malformed too. Of duplicate tags only the last one is
    /// kept, as IRCv3 asks of parsers.
    pub fn parse(line: &str) -> Result<Message, ParseError> {
        let line = trim_eol(line);
        if line.bytes().all(|b| b == b' ') {
            return Err(ParseError::Empty);
        }
        check_len(line.as_bytes())?;
        if let Some(b) = line.bytes().find(|&b| matches!(b, 0 | b'\r' | b'\n')) {
            return Err(ParseError::IllegalByte(b));
        }

        let mut rest = line;
        let mut tags = Vec::new();
        if let Some(after_at) = rest.strip_prefix('@') {
            let (section, after) = after_at.split_once(' ').unwrap_or((after_at, ""));
            tags = parse_tags(section);
            rest = after;
        }
        rest = rest.trim_start_matches(' ');

        let mut prefix = None;
        if let Some(after_colon) = rest.strip_prefix(':') {
            let (source, after) = after_colon.split_once(' ').unwrap_or((after_colon, ""));
            if source.is_empty() {
                return Err(ParseError::EmptyPrefix);
            }
            prefix = Some(source.to_owned());
            rest = after.trim_start_matches(' ');
        }

        let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if command.is_empty() {
            return Err(ParseError::MissingCommand);
        }
        // Anything else (`:x`, `@x`, punctuation) could not be written back unambiguously.
        if !command.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ParseError::InvalidCommand(command.to_owned()));
        }

        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                params.push(trailing.to_owned());
                break;
            }
            let (param, after) = rest.split_once(' ').unwrap_or((rest, ""));
            params.push(param.to_owned());
            rest = after;
        }

        Ok(Message {
            tags,
            prefix,
            command: command.to_owned(),
            params,
        })
    }

    /// Appends the wire form, final `\r\n` included, to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        debug_assert!(
            self.encoding_problem().is_none(),
            "Message cannot be encoded faithfully: {}: {self:?}",
            self.encoding_problem().unwrap_or_default()
        );
        out.reserve(self.size_hint() + 2);
        // Writing into a BytesMut grows it and never fails.
        let _ = self.write_to(out);
        out.extend_from_slice(b"\r\n");
    }

    /// The wire form without CRLF, the last parameter always written as a trailing one
    /// (`:text`), as servers write chat text whatever it holds.
    pub fn to_string_trailing(&self) -> String {
        let mut s = String::with_capacity(self.size_hint() + 1);
        let _ = self.write_opts(&mut s, true);
        s
    }

    fn write_to<W: fmt::Write>(&self, w: &mut W) -> fmt::Result {
        self.write_opts(w, false)
    }

    fn write_opts<W: fmt::Write>(&self, w: &mut W, force_trailing: bool) -> fmt::Result {
        if !self.tags.is_empty() {
            w.write_char('@')?;
            for (i, tag) in self.tags.iter().enumerate() {
                if i > 0 {
                    w.write_char(';')?;
                }
                w.write_str(&tag.key)?;
                // `key=` would read back as no value anyway, so leave the `=` out.
                if let Some(value) = tag.value.as_deref().filter(|v| !v.is_empty()) {
                    w.write_char('=')?;
                    write_escaped(w, value)?;
                }
            }
            w.write_char(' ')?;
        }
        if let Some(prefix) = &self.prefix {
            w.write_char(':')?;
            w.write_str(prefix)?;
            w.write_char(' ')?;
        }
        w.write_str(&self.command)?;
        if let Some((last, middle)) = self.params.split_last() {
            for param in middle {
                w.write_char(' ')?;
                w.write_str(param)?;
            }
            w.write_char(' ')?;
            // Only when needed, since the community join vectors expect `foo bar baz asdf`.
            if force_trailing || last.is_empty() || last.contains(' ') || last.starts_with(':') {
                w.write_char(':')?;
            }
            w.write_str(last)?;
        }
        Ok(())
    }

    /// A slight overestimate of the encoded length, so `encode` allocates once.
    fn size_hint(&self) -> usize {
        let tags: usize = self
            .tags
            .iter()
            .map(|t| t.key.len() + 2 + t.value.as_ref().map_or(0, |v| v.len() * 2))
            .sum();
        let prefix = self.prefix.as_ref().map_or(0, |p| p.len() + 2);
        let params: usize = self.params.iter().map(|p| p.len() + 2).sum();
        tags + 1 + prefix + self.command.len() + params
    }

    /// Why the wire form would not parse back to `self`, if it would not.
    pub fn encoding_problem(&self) -> Option<&'static str> {
        let bad_byte = |s: &str| s.bytes().any(|b| matches!(b, 0 | b'\r' | b'\n'));
        for tag in &self.tags {
            if tag.key.is_empty() || tag.key.contains(['=', ';', ' ']) || bad_byte(&tag.key) {
                return Some("bad tag key");
            }
            if tag.value.as_deref().is_some_and(|v| v.contains('\0')) {
                return Some("NUL in tag value");
            }
        }
        if let Some(prefix) = &self.prefix {
            if prefix.is_empty() || prefix.contains(' ') || bad_byte(prefix) {
                return Some("bad prefix");
            }
        }
        if self.command.is_empty() || !self.command.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Some("bad command");
        }
        if let Some((last, middle)) = self.params.split_last() {
            if bad_byte(last) {
                return Some("NUL, CR or LF in last parameter");
            }
            if middle
                .iter()
                .any(|p| p.is_empty() || p.starts_with(':') || p.contains(' ') || bad_byte(p))
            {
                return Some(
                    "a parameter before the last is empty, has a space or starts with ':'",
                );
            }
        }
        None
    }
}

/// The wire form without the final CRLF, for logs and tests.
impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

/// Checks `line` (with or without its line ending) against [`MAX_TAGS`] and [`MAX_LINE`].
///
/// Separate from [`Message::parse`] so that a server can test the raw bytes it framed, before
/// even decoding them, and answer ERR_INPUTTOOLONG (417).
pub fn check_len(line: &[u8]) -> Result<(), ParseError> {
    let line = trim_eol_bytes(line);
    let tags_len = if line.first() == Some(&b'@') {
        match line.iter().position(|&b| b == b' ') {
            Some(space) => space + 1,
            None => line.len(),
        }
    } else {
        0
    };
    if tags_len > MAX_TAGS {
        return Err(ParseError::TagsTooLong { len: tags_len });
    }
    let len = line.len() - tags_len + 2;
    if len > MAX_LINE {
        return Err(ParseError::LineTooLong { len });
    }
    Ok(())
}

fn trim_eol(line: &str) -> &str {
    line.strip_suffix("\r\n")
        .or_else(|| line.strip_suffix('\n'))
        .or_else(|| line.strip_suffix('\r'))
        .unwrap_or(line)
}

fn trim_eol_bytes(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))
        .or_else(|| line.strip_suffix(b"\r"))
        .unwrap_or(line)
}

/// Splits the tag section (without `@`). Empty entries such as in `a;;b` are skipped rather than
/// failing the whole line, since tags are optional metadata.
fn parse_tags(section: &str) -> Vec<Tag> {
    let mut tags: Vec<Tag> = section
        .split(';')
        .filter_map(|entry| {
            let (key, raw) = match entry.split_once('=') {
                Some((key, raw)) => (key, Some(raw)),
                None => (entry, None),
            };
            if key.is_empty() {
                return None;
            }
            let value = raw.map(unescape).filter(|v| !v.is_empty());
            Some(Tag {
                key: key.to_owned(),
                value,
            })
        })
        .collect();

    if tags.len() > 1 {
        // A set rather than pairwise comparison: a tag section may hold thousands of entries.
        let mut keep = vec![false; tags.len()];
        let mut seen = HashSet::with_capacity(tags.len());
        for (i, tag) in tags.iter().enumerate().rev() {
            if let Some(slot) = keep.get_mut(i) {
                *slot = seen.insert(tag.key.as_str());
            }
        }
        let mut keep = keep.into_iter();
        tags.retain(|_| keep.next().unwrap_or(true));
    }
    tags
}

/// Undoes IRCv3 tag value escaping, one character at a time so that `\\n` becomes `\n` (two
/// characters) rather than a newline.
fn unescape(raw: &str) -> String {
    if !raw.contains('\\') {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('\\') => out.push('\\'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            // The spec drops the backslash of an unknown escape and a lone one at the end.
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

fn write_escaped<W: fmt::Write>(w: &mut W, value: &str) -> fmt::Result {
    let mut start = 0;
    for (i, c) in value.char_indices() {
        let escape = match c {
            ';' => "\\:",
            ' ' => "\\s",
            '\\' => "\\\\",
            '\r' => "\\r",
            '\n' => "\\n",
            _ => continue,
        };
        w.write_str(value.get(start..i).unwrap_or_default())?;
        w.write_str(escape)?;
        start = i + c.len_utf8();
    }
    w.write_str(value.get(start..).unwrap_or_default())
}

/// Formats Unix milliseconds as `YYYY-MM-DDThh:mm:ss.sssZ` (IRCv3 server-time): the inverse
/// of [`parse_time`].
pub fn format_time(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// Parses an IRCv3 server-time timestamp (`YYYY-MM-DDThh:mm:ss[.sss]Z`) into Unix ms.
pub fn parse_time(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hh, mm, ss) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let ms = match &text[19..text.len() - 1] {
        "" => 0,
        frac => {
            let frac = frac.strip_prefix('.')?;
            if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            // Milliseconds: the first three digits, padded.
            format!("{frac:0<3}")[..3].parse::<i64>().ok()?
        }
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Howard Hinnant's days-from-civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1000) + ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encoded(msg: &Message) -> String {
        let mut out = BytesMut::new();
        msg.encode(&mut out);
        String::from_utf8(out.to_vec()).expect("encoder writes UTF-8")
    }

    #[test]
    fn parses_privmsg_with_prefix() {
        let msg = Message::parse(":nick!user@host PRIVMSG #chan :hello there\r\n").unwrap();
        assert_eq!(msg.prefix.as_deref(), Some("nick!user@host"));
        assert_eq!(msg.command, "PRIVMSG");
        assert_eq!(msg.params, ["#chan", "hello there"]);
        assert!(msg.tags.is_empty());
    }

    #[test]
    fn keeps_command_case_and_tolerates_spaces() {
        let msg = Message::parse("privmsg   #a    b  ").unwrap();
        assert_eq!(msg.command, "privmsg");
        assert_eq!(msg.params, ["#a", "b"]);
        let msg = Message::parse("NICK alice\n").unwrap();
        assert_eq!(msg, Message::new("NICK", ["alice"]));
    }

    #[test]
    fn parses_numeric_and_empty_trailing() {
        let msg = Message::parse(":srv 001 alice :").unwrap();
        assert_eq!(msg.command, "001");
        assert_eq!(msg.params, ["alice", ""]);
        assert_eq!(msg.to_string(), ":srv 001 alice :");
    }

    #[test]
    fn parses_tags() {
        let msg =
            Message::parse("@time=2024-01-01T00:00:00Z;+draft/react=x;bot;e= :a B c").unwrap();
        assert_eq!(
            msg.tags,
            [
                Tag::new("time", Some("2024-01-01T00:00:00Z".into())),
                Tag::new("+draft/react", Some("x".into())),
                Tag::new("bot", None),
                Tag::new("e", None),
            ]
        );
        assert_eq!(msg.tag("bot"), Some(&Tag::new("bot", None)));
        assert_eq!(msg.param(0), Some("c"));
        assert_eq!(msg.param(1), None);
    }

    #[test]
    fn duplicate_tags_keep_the_last() {
        let msg = Message::parse("@a=1;b=2;a=3 X").unwrap();
        assert_eq!(
            msg.tags,
            [
                Tag::new("b", Some("2".into())),
                Tag::new("a", Some("3".into()))
            ]
        );
    }

    #[test]
    fn tag_escapes() {
        let msg = Message::parse(r"@k=a\:b\sc\\d\re\nf\xg\ X").unwrap();
        assert_eq!(msg.tags[0].value.as_deref(), Some("a;b c\\d\re\nfxg"));
        // A value that unescapes to nothing is no value.
        let msg = Message::parse(r"@k=\ X").unwrap();
        assert_eq!(msg.tags[0].value, None);

        let msg = Message::new("X", ["y"]).with_tag("k", "a;b c\\d\r\n");
        assert_eq!(msg.to_string(), r"@k=a\:b\sc\\d\r\n X y");
        assert_eq!(Message::parse(&msg.to_string()).unwrap(), msg);
    }

    #[test]
    fn builder_and_encode() {
        let msg = Message::new("PRIVMSG", ["#chan"])
            .with_param("hi all")
            .with_prefix("alice!a@h")
            .with_tag("msgid", "1")
            .with_tag("bot", "")
            .with_tag("msgid", "2");
        assert_eq!(
            encoded(&msg),
            "@msgid=2;bot :alice!a@h PRIVMSG #chan :hi all\r\n"
        );
        assert_eq!(
            encoded(&Message::new("PING", ["x"])),
            "PING x\r\n",
            "a plain last param gets no colon"
        );
        assert_eq!(encoded(&Message::new("QUIT", [":)"])), "QUIT ::)\r\n");
        assert_eq!(
            encoded(&Message::new("AWAY", Vec::<String>::new())),
            "AWAY\r\n"
        );
    }

    #[test]
    fn errors() {
        assert_eq!(Message::parse(""), Err(ParseError::Empty));
        assert_eq!(Message::parse("  \r\n"), Err(ParseError::Empty));
        assert_eq!(Message::parse("@a=b"), Err(ParseError::MissingCommand));
        assert_eq!(Message::parse("@a=b :pfx"), Err(ParseError::MissingCommand));
        assert_eq!(Message::parse(":pfx   "), Err(ParseError::MissingCommand));
        assert_eq!(Message::parse(": PING"), Err(ParseError::EmptyPrefix));
        assert_eq!(Message::parse("PING a\0b"), Err(ParseError::IllegalByte(0)));
        assert_eq!(
            Message::parse("PING a\r\nQUIT"),
            Err(ParseError::IllegalByte(b'\r'))
        );
        assert_eq!(
            Message::parse("PRIV$MSG x"),
            Err(ParseError::InvalidCommand("PRIV$MSG".into()))
        );
    }

    #[test]
    fn length_limits() {
        // 510 bytes of body plus CRLF is exactly the limit.
        let body = format!("PRIVMSG #c :{}", "x".repeat(510 - 12));
        assert_eq!(body.len(), 510);
        assert!(Message::parse(&body).is_ok());
        assert_eq!(check_len(format!("{body}\r\n").as_bytes()), Ok(()));
        let over = format!("{body}y");
        let err = Message::parse(&over).unwrap_err();
        assert_eq!(err, ParseError::LineTooLong { len: 513 });
        assert!(err.is_too_long());

        // Tags do not count against MAX_LINE, and have their own limit.
        let tags = format!("@k={} ", "v".repeat(MAX_TAGS - 4));
        assert_eq!(tags.len(), MAX_TAGS);
        assert!(Message::parse(&format!("{tags}{body}")).is_ok());
        let err = Message::parse(&format!("@k={} {body}", "v".repeat(MAX_TAGS - 3))).unwrap_err();
        assert_eq!(err, ParseError::TagsTooLong { len: MAX_TAGS + 1 });
        assert!(err.is_too_long());
        let only_tags = format!("@k={}", "v".repeat(MAX_TAGS));
        assert!(check_len(only_tags.as_bytes()).is_err());
    }

    #[test]
    fn unicode_survives() {
        let line = "@k=é\\sü :ñ PRIVMSG #ß :日本語 テキスト";
        let msg = Message::parse(line).unwrap();
        assert_eq!(msg.tags[0].value.as_deref(), Some("é ü"));
        assert_eq!(msg.to_string(), line);
    }

    fn tag_key() -> impl Strategy<Value = String> {
        "\\+?([a-z0-9.]{1,8}/)?[a-zA-Z0-9][a-zA-Z0-9-]{0,8}"
    }

    fn tags() -> impl Strategy<Value = Vec<Tag>> {
        proptest::collection::vec(
            (
                tag_key(),
                proptest::option::of("[a-zA-Z0-9 ;:=\\\\\r\n\t@é日]{1,12}"),
            ),
            0..5,
        )
        .prop_map(|pairs| {
            let mut seen = HashSet::new();
            pairs
                .into_iter()
                .filter(|(k, _)| seen.insert(k.clone()))
                .map(|(key, value)| Tag { key, value })
                .collect()
        })
    }

    fn message() -> impl Strategy<Value = Message> {
        let middle = "[^ \r\n\0:][^ \r\n\0]{0,8}";
        let last = prop_oneof![
            "[^ \r\n\0:][^ \r\n\0]{0,8}".boxed(),
            "[^\r\n\0]{0,20}".boxed(),
            "[ :a-z]{0,6}".boxed(),
        ];
        (
            tags(),
            proptest::option::of("[^ \r\n\0]{1,16}"),
            prop_oneof!["[A-Za-z]{1,10}", "[0-9]{3}"],
            proptest::collection::vec(middle, 0..8),
            proptest::option::of(last),
        )
            .prop_map(|(tags, prefix, command, mut params, last)| {
                params.extend(last);
                Message {
                    tags,
                    prefix,
                    command,
                    params,
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn valid_messages_round_trip(msg in message()) {
            let wire = encoded(&msg);
            prop_assert!(wire.ends_with("\r\n"));
            prop_assert_eq!(&wire[..wire.len() - 2], msg.to_string());
            match check_len(wire.as_bytes()) {
                Ok(()) => prop_assert_eq!(Message::parse(&wire), Ok(msg)),
                Err(e) => prop_assert_eq!(Message::parse(&wire), Err(e)),
            }
        }

        #[test]
        fn arbitrary_strings_never_panic(line in "\\PC*|[@:; =\\\\a-z\r\n\0]{0,40}") {
            let _ = Message::parse(&line);
            let _ = check_len(line.as_bytes());
        }

        #[test]
        fn whatever_parses_reencodes_to_itself(line in "(@[a-z=;\\\\ ]{0,12} )?(:[^ ]{0,6} )?[A-Za-z0-9:@ ]{0,8}( [a-z: ]{0,6}){0,4}") {
            if let Ok(msg) = Message::parse(&line) {
                prop_assert!(msg.encoding_problem().is_none(), "{:?}", msg);
                prop_assert_eq!(Message::parse(&msg.to_string()), Ok(msg));
            }
        }
    }
}
