//! What a chat client shows, without any terminal in it: buffers (the server's, rooms, private
//! conversations, a multicast group) with their lines, members, unread counts and mention
//! marks, and the connection's status. The IRC session ([`crate::irc`]) and the multicast
//! peer fill it in; the terminal UI draws it.

use std::collections::{BTreeMap, HashSet, VecDeque};

/// Most lines a buffer keeps; older ones are dropped (history can fetch them again).
pub const MAX_LINES: usize = 5000;

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// The time now, as [`Millis`].
pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `<nick> text`
    Message,
    /// `* nick text`
    Action,
    /// `-nick- text`
    Notice,
    /// Joins, parts, renames, topics: `nick joined`.
    Event,
    /// From the client itself or the server: help, answers, replies.
    Info,
    /// Something went wrong.
    Error,
}

/// One line of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub time: Millis,
    pub kind: Kind,
    /// Who said it (empty for info and errors).
    pub nick: String,
    /// What was said, cleaned by [`clean`].
    pub text: String,
    /// It came from history, not live.
    pub history: bool,
    /// It names us.
    pub mention: bool,
    /// The server's id for it, to drop a second copy (history overlapping what came live).
    pub msgid: Option<String>,
}

impl Line {
    pub fn new(kind: Kind, nick: &str, text: &str) -> Line {
        Line {
            time: now_ms(),
            kind,
            nick: clean(nick),
            text: clean(text),
            history: false,
            mention: false,
            msgid: None,
        }
    }

    pub fn at(mut self, time: Millis) -> Line {
        self.time = time;
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferKind {
    /// The server's own buffer: notices, errors, answers.
    Server,
    Room,
    Private,
    /// A multicast group.
    Group,
}

/// A room, a conversation, or the server's buffer.
#[derive(Debug, Clone)]
pub struct Buffer {
    pub name: String,
    pub kind: BufferKind,
    pub lines: VecDeque<Line>,
    /// Members by nick, with their status prefix (`@`, `+`, or empty).
    pub members: BTreeMap<String, String>,
    pub topic: String,
    /// Lines that arrived while another buffer was shown.
    pub unread: usize,
    /// One of them names us (or it is a private message).
    pub mention: bool,
    /// We left it (or were never in it again after a reconnect): kept, shown dim.
    pub parted: bool,
    /// History has nothing older than what we hold.
    pub history_done: bool,
    /// Lines scrolled back from the end (0: following the newest).
    pub scroll: usize,
    seen: HashSet<String>,
}

impl Buffer {
    pub fn new(name: &str, kind: BufferKind) -> Buffer {
        Buffer {
            name: name.to_owned(),
            kind,
            lines: VecDeque::new(),
            members: BTreeMap::new(),
            topic: String::new(),
            unread: 0,
            mention: false,
            parted: false,
            history_done: false,
            scroll: 0,
            seen: HashSet::new(),
        }
    }

    /// Adds a live line at the end; false if it was a copy of one already here.
    fn push(&mut self, line: Line) -> bool {
        if let Some(id) = &line.msgid {
            if !self.seen.insert(id.clone()) {
                return false;
            }
        }
        self.lines.push_back(line);
        if self.scroll > 0 {
            self.scroll += 1;
        }
        while self.lines.len() > MAX_LINES {
            self.drop_oldest();
        }
        true
    }

    fn drop_oldest(&mut self) {
        if let Some(old) = self.lines.pop_front() {
            if let Some(id) = old.msgid {
                self.seen.remove(&id);
            }
        }
    }

    /// Adds lines from history where their times put them, without the ones already here;
    /// returns how many were new.
    pub fn merge_history(&mut self, lines: Vec<Line>) -> usize {
        let mut added = 0;
        let mut all: Vec<Line> = self.lines.drain(..).collect();
        for mut line in lines {
            if let Some(id) = &line.msgid {
                if self.seen.contains(id) {
                    continue;
                }
            }
            // Servers may send live joins, parts and quits without the msgid their history
            // gives them: the same event within two seconds is the same event.
            let copy = line.kind == Kind::Event
                && all.iter().any(|l| {
                    !l.history
                        && l.kind == Kind::Event
                        && l.text == line.text
                        && (l.time - line.time).abs() <= 2000
                });
            if copy {
                continue;
            }
            if let Some(id) = &line.msgid {
                self.seen.insert(id.clone());
            }
            line.history = true;
            all.push(line);
            added += 1;
        }
        // Stable: lines of the same millisecond keep the order they came in.
        all.sort_by_key(|l| l.time);
        self.lines = all.into();
        while self.lines.len() > MAX_LINES {
            self.drop_oldest();
        }
        added
    }

    /// The msgid of the oldest line that has one: where to ask for older history.
    pub fn oldest_msgid(&self) -> Option<&str> {
        self.lines.iter().find_map(|l| l.msgid.as_deref())
    }
}

/// Where the connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Connecting,
    Connected,
    /// Lost; trying again at this time.
    Waiting {
        reason: String,
        retry_at: Millis,
    },
    /// Not connected and not trying (a multicast group is always "connected").
    Closed(String),
}

/// Everything a client shows.
#[derive(Debug, Clone)]
pub struct Chat {
    pub buffers: Vec<Buffer>,
    /// Index of the buffer shown.
    pub active: usize,
    /// The server (HOST:PORT) or group (ADDR:PORT) shown in the status bar.
    pub server: String,
    pub nick: String,
    pub link: Link,
    /// The last measured round trip to the server, in ms.
    pub lag: Option<u64>,
}

impl Chat {
    /// A chat with one buffer, the server's (or the group's) own, named `first`.
    pub fn new(server: &str, nick: &str, first: &str, kind: BufferKind) -> Chat {
        Chat {
            buffers: vec![Buffer::new(first, kind)],
            active: 0,
            server: server.to_owned(),
            nick: nick.to_owned(),
            link: Link::Connecting,
            lag: None,
        }
    }

    pub fn active(&self) -> &Buffer {
        &self.buffers[self.active.min(self.buffers.len() - 1)]
    }

    pub fn active_mut(&mut self) -> &mut Buffer {
        let i = self.active.min(self.buffers.len() - 1);
        &mut self.buffers[i]
    }

    /// The index of the buffer called `name` (any case).
    pub fn find(&self, name: &str) -> Option<usize> {
        self.buffers
            .iter()
            .position(|b| b.name.eq_ignore_ascii_case(name))
    }

    /// The buffer called `name`, made (of `kind`) if there is none.
    pub fn buffer(&mut self, name: &str, kind: BufferKind) -> usize {
        match self.find(name) {
            Some(i) => i,
            None => {
                self.buffers.push(Buffer::new(name, kind));
                self.buffers.len() - 1
            }
        }
    }

    /// Shows buffer `i`: its unread marks are cleared.
    pub fn show(&mut self, i: usize) {
        if i < self.buffers.len() {
            self.active = i;
            let b = &mut self.buffers[i];
            b.unread = 0;
            b.mention = false;
        }
    }

    /// Closes buffer `i` (never the first, the server's own).
    pub fn close(&mut self, i: usize) {
        if i == 0 || i >= self.buffers.len() {
            return;
        }
        self.buffers.remove(i);
        if self.active >= i {
            self.active -= 1;
        }
        let active = self.active;
        self.show(active);
    }

    /// Adds a live line to buffer `i`, marking it unread (and mentioned when the line names
    /// our nick, or the buffer is a private conversation) when the buffer is not shown.
    pub fn add(&mut self, i: usize, mut line: Line) {
        let Some(b) = self.buffers.get_mut(i) else {
            return;
        };
        let from_others = !line.nick.is_empty() && !line.nick.eq_ignore_ascii_case(&self.nick);
        let talk = matches!(line.kind, Kind::Message | Kind::Action | Kind::Notice);
        line.mention = from_others && talk && names(&line.text, &self.nick);
        let private = b.kind == BufferKind::Private;
        let mention = line.mention || (private && from_others && talk);
        if !b.push(line) {
            return;
        }
        if i != self.active && (talk || b.kind == BufferKind::Server) {
            b.unread += 1;
            b.mention |= mention;
        }
    }

    /// Adds a line to the shown buffer (answers to commands, errors).
    pub fn info(&mut self, kind: Kind, text: &str) {
        let i = self.active;
        self.add(i, Line::new(kind, "", text));
    }

    /// Renames a nick everywhere it is a member, saying so in those buffers; a private
    /// conversation with it follows the new name.
    /// `msgid`: the rename's, which its replays in history carry too.
    pub fn rename(&mut self, old: &str, new: &str, time: Millis, msgid: Option<&str>) {
        let ours = old.eq_ignore_ascii_case(&self.nick);
        if ours {
            self.nick = new.to_owned();
        }
        let text = format!("{old} is now known as {new}");
        for i in 0..self.buffers.len() {
            let b = &mut self.buffers[i];
            let member = b.members.remove(old);
            let private = b.kind == BufferKind::Private && b.name.eq_ignore_ascii_case(old);
            if private {
                b.name = new.to_owned();
            }
            if let Some(prefix) = &member {
                b.members.insert(new.to_owned(), prefix.clone());
            }
            if member.is_some() || private || (ours && b.kind == BufferKind::Server) {
                let mut line = Line::new(Kind::Event, old, &text).at(time);
                line.msgid = msgid.map(str::to_owned);
                self.add(i, line);
            }
        }
    }
}

/// Whether `text` names `nick` as a word (any case).
pub fn names(text: &str, nick: &str) -> bool {
    if nick.is_empty() {
        return false;
    }
    let text = text.to_lowercase();
    let nick = nick.to_lowercase();
    let word = |c: char| c.is_alphanumeric() || "[]\\`_^{|}-".contains(c);
    text.match_indices(&nick).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + nick.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// Text from the network made safe to show on a terminal: IRC formatting codes removed
/// (bold, colours, italics, ...), every other control character (escape sequences, carriage
/// returns, newlines, C1 controls) shown as `�`, tabs as a space.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // Bold, italics, underline, strike-through, monospace, reverse, reset.
            '\x02' | '\x1d' | '\x1f' | '\x1e' | '\x11' | '\x16' | '\x0f' => {}
            // Colour: \x03[fg[,bg]] with one or two digits each.
            '\x03' => {
                let digits = |chars: &mut std::iter::Peekable<std::str::Chars>| {
                    let mut n = 0;
                    while n < 2 && chars.peek().is_some_and(char::is_ascii_digit) {
                        chars.next();
                        n += 1;
                    }
                    n
                };
                if digits(&mut chars) > 0 && chars.peek() == Some(&',') {
                    let mut ahead = chars.clone();
                    ahead.next();
                    if ahead.peek().is_some_and(char::is_ascii_digit) {
                        chars.next();
                        digits(&mut chars);
                    }
                }
            }
            // Hex colour: \x04RRGGBB[,RRGGBB].
            '\x04' => {
                for _ in 0..6 {
                    if chars.peek().is_some_and(char::is_ascii_hexdigit) {
                        chars.next();
                    }
                }
            }
            '\t' => out.push(' '),
            c if c.is_control() => out.push('\u{fffd}'),
            // Bidirectional overrides could make a line read as something else.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_sequences_are_neutralised_and_formatting_dropped() {
        assert_eq!(clean("\x1b[2J\x1b]0;owned\x07hi"), "�[2J�]0;owned�hi");
        assert_eq!(clean("a\rb\nc\u{9b}d"), "a�b�c�d");
        assert_eq!(
            clean("\x02bold\x02 \x0304,12red\x03 \x1ditalic\x0f"),
            "bold red italic"
        );
        assert_eq!(clean("\x0399,1x \x031,y"), "x ,y");
        assert_eq!(clean("\x04ff0000red"), "red");
        assert_eq!(clean("tab\there"), "tab here");
        assert_eq!(clean("abc\u{202e}def"), "abc�def");
        assert_eq!(clean("halo, dunia ✓"), "halo, dunia ✓");
    }

    #[test]
    fn mentions_are_whole_words() {
        assert!(names("ani: lihat", "ani"));
        assert!(names("hi ANI!", "ani"));
        assert!(!names("banished", "ani"));
        assert!(!names("ani_2 here", "ani"));
        assert!(!names("anything", ""));
    }

    #[test]
    fn unread_and_mentions_mark_buffers_not_shown() {
        let mut chat = Chat::new("hub", "ani", "server", BufferKind::Server);
        let lobby = chat.buffer("#lobby", BufferKind::Room);
        let dev = chat.buffer("#dev", BufferKind::Room);
        chat.show(lobby);
        chat.add(lobby, Line::new(Kind::Message, "budi", "shown, not unread"));
        chat.add(dev, Line::new(Kind::Message, "budi", "hello"));
        chat.add(dev, Line::new(Kind::Event, "cici", "cici joined"));
        assert_eq!(
            (chat.buffers[dev].unread, chat.buffers[dev].mention),
            (1, false)
        );
        chat.add(dev, Line::new(Kind::Message, "budi", "ani, look"));
        assert_eq!(
            (chat.buffers[dev].unread, chat.buffers[dev].mention),
            (2, true)
        );
        assert_eq!(chat.buffers[lobby].unread, 0);
        chat.show(dev);
        assert_eq!(
            (chat.buffers[dev].unread, chat.buffers[dev].mention),
            (0, false)
        );
        let pm = chat.buffer("budi", BufferKind::Private);
        chat.add(pm, Line::new(Kind::Message, "budi", "psst"));
        assert!(chat.buffers[pm].mention);
    }

    #[test]
    fn history_merges_in_time_order_without_copies() {
        let mut b = Buffer::new("#lobby", BufferKind::Room);
        let mut live = Line::new(Kind::Message, "ani", "live").at(300);
        live.msgid = Some("c".into());
        b.push(live);
        let old = |id: &str, t: Millis| {
            let mut l = Line::new(Kind::Message, "budi", id).at(t);
            l.msgid = Some(id.into());
            l
        };
        assert_eq!(
            b.merge_history(vec![old("a", 100), old("b", 200), old("c", 300)]),
            2
        );
        let texts: Vec<&str> = b.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["a", "b", "live"]);
        assert!(b.lines[0].history && !b.lines[2].history);
        assert_eq!(b.oldest_msgid(), Some("a"));
    }

    #[test]
    fn a_replayed_event_without_the_live_ones_msgid_is_not_shown_twice() {
        let mut b = Buffer::new("#lobby", BufferKind::Room);
        b.push(Line::new(Kind::Event, "ani", "ani joined #lobby").at(10_144));
        let mut replayed = Line::new(Kind::Event, "ani", "ani joined #lobby").at(10_143);
        replayed.msgid = Some("j1".into());
        let mut earlier = Line::new(Kind::Event, "ani", "ani joined #lobby").at(1_000);
        earlier.msgid = Some("j0".into());
        assert_eq!(b.merge_history(vec![earlier, replayed]), 1);
        assert_eq!(b.lines.len(), 2, "the join of long ago is another one");
    }

    #[test]
    fn renames_follow_members_and_conversations() {
        let mut chat = Chat::new("hub", "ani", "server", BufferKind::Server);
        let lobby = chat.buffer("#lobby", BufferKind::Room);
        chat.buffers[lobby]
            .members
            .insert("budi".into(), "@".into());
        let pm = chat.buffer("budi", BufferKind::Private);
        chat.rename("budi", "budi2", 5, None);
        assert_eq!(chat.buffers[pm].name, "budi2");
        assert_eq!(
            chat.buffers[lobby].members.get("budi2").map(String::as_str),
            Some("@")
        );
        assert!(chat.buffers[lobby]
            .lines
            .iter()
            .any(|l| l.text == "budi is now known as budi2"));
    }
}
