//! What text may pass from one client to others: decided here, once, for every protocol.
//!
//! Chat text, topics, reasons, away messages and real names may carry IRC's formatting codes
//! (bold, colour, italics, underline, reverse, reset), tabs and CTCP's `\x01`; every other
//! control character (CR and LF among them, ESC and with it every terminal escape sequence,
//! backspace, bell, DEL, the C1 controls) is replaced by U+FFFD, visibly, so no client can
//! forge lines for others, retitle their terminals or inject IRC commands. Bidirectional
//! overrides and zero-width characters are refused in names (see `names::valid_room`), but
//! pass in text, where clients show them as they show any other text.

use std::borrow::Cow;

/// IRC formatting codes: bold, colour, hex colour, reset, monospace, reverse, italics,
/// strikethrough, underline.
const FORMATTING: &[char] = &[
    '\x02', '\x03', '\x04', '\x0f', '\x11', '\x16', '\x1d', '\x1e', '\x1f',
];

/// Whether `c` may pass in text.
fn allowed(c: char) -> bool {
    !c.is_control() || c == '\t' || c == '\x01' || FORMATTING.contains(&c)
}

/// `text` with every control character that may not pass replaced by U+FFFD.
pub fn clean(text: &str) -> Cow<'_, str> {
    if text.chars().all(allowed) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| if allowed(c) { c } else { '\u{FFFD}' })
            .collect(),
    )
}

/// Cleans `text` in place (see [`clean`]).
pub fn clean_in_place(text: &mut String) {
    if let Cow::Owned(c) = clean(text) {
        *text = c;
    }
}

/// Keeps at most `max` bytes of `text`, cut at a character boundary.
pub fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
}

/// Characters that change how the text around them is shown without being seen themselves:
/// bidirectional embeddings, overrides and isolates, marks, zero-width characters, the BOM.
pub fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}'
        | '\u{061C}' | '\u{FEFF}' | '\u{180E}'
    )
}

/// Splits `text` into pieces of at most `max` bytes, at spaces where it can and at character
/// boundaries where it must, so a message too long for some recipient's protocol is sent as
/// several instead of one that could not be delivered whole.
pub fn split(text: &str, max: usize) -> Vec<&str> {
    let max = max.max(4); // room for any one character
    let mut out = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut cut = max;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if let Some(space) = rest[..cut].rfind(' ').filter(|&s| s > max / 2) {
            cut = space;
        }
        out.push(&rest[..cut]);
        rest = rest[cut..].strip_prefix(' ').unwrap_or(&rest[cut..]);
    }
    if !rest.is_empty() || out.is_empty() {
        out.push(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_replaced_formatting_passes() {
        assert_eq!(clean("x\r<ani> hi"), "x\u{FFFD}<ani> hi");
        assert_eq!(clean("\x1b]0;HACKED\x07"), "\u{FFFD}]0;HACKED\u{FFFD}");
        assert_eq!(clean("a\nb\x7fc\u{9b}d"), "a\u{FFFD}b\u{FFFD}c\u{FFFD}d");
        let formatted = "\x02bold\x02 \x0304red\x03 \x1ditalic\x1d \x1funder\x1f \x16rev\x0f\tTab";
        assert!(matches!(clean(formatted), Cow::Borrowed(_)));
        assert!(matches!(clean("\x01ACTION waves\x01"), Cow::Borrowed(_)));
    }

    #[test]
    fn bidi_overrides_are_invisible_formats() {
        assert!("a\u{202E}b".chars().any(is_invisible_format));
        assert!(!"café #rust".chars().any(is_invisible_format));
    }

    #[test]
    fn split_at_spaces_and_char_boundaries() {
        assert_eq!(split("short", 10), ["short"]);
        assert_eq!(split("", 10), [""]);
        assert_eq!(split("aaaa bbbb cccc", 10), ["aaaa bbbb", "cccc"]);
        let long = "é".repeat(10); // 20 bytes
        let parts = split(&long, 7);
        assert!(parts.iter().all(|p| p.len() <= 7), "{parts:?}");
        assert_eq!(parts.concat(), long);
    }

    proptest::proptest! {
        #[test]
        fn cleaned_text_has_no_line_breaks_or_escapes(s in ".*") {
            let c = clean(&s);
            proptest::prop_assert!(!c.contains(['\r', '\n', '\x1b', '\0']));
        }

        #[test]
        fn split_keeps_everything_within_bounds(s in ".{0,300}", max in 4usize..60) {
            let parts = split(&s, max);
            for p in &parts {
                proptest::prop_assert!(p.len() <= max);
            }
            let joined: String = parts.concat();
            let without_spaces = |t: &str| t.replace(' ', "");
            proptest::prop_assert_eq!(without_spaces(&joined), without_spaces(&s));
        }
    }
}
