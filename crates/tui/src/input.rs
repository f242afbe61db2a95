//! The input line: editing, the history of what was typed, and tab completion.

use std::collections::VecDeque;

/// Most typed lines remembered for Up/Down.
pub const MAX_HISTORY: usize = 500;

/// Longest input line, in characters (a paste beyond it is cut).
pub const MAX_INPUT: usize = 8 * 1024;

#[derive(Debug, Default, Clone)]
pub struct Input {
    chars: Vec<char>,
    /// Cursor position, in characters.
    cursor: usize,
    history: VecDeque<String>,
    /// Position while browsing the history (None: editing a new line).
    browsing: Option<usize>,
    /// What was being typed before browsing started.
    draft: String,
    /// The completion being cycled: (start of the word, candidates, which one is shown).
    completing: Option<(usize, Vec<String>, usize)>,
}

impl Input {
    pub fn new() -> Input {
        Input::default()
    }

    pub fn text(&self) -> String {
        self.chars.iter().collect()
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    fn edited(&mut self) {
        self.completing = None;
    }

    pub fn insert(&mut self, c: char) {
        if self.chars.len() >= MAX_INPUT || c.is_control() {
            return;
        }
        self.chars.insert(self.cursor, c);
        self.cursor += 1;
        self.edited();
    }

    /// A paste: newlines become spaces (one line is sent at a time), controls are dropped.
    pub fn insert_str(&mut self, s: &str) {
        for c in s.chars() {
            self.insert(if c == '\n' || c == '\t' { ' ' } else { c });
        }
    }

    pub fn backspace(&mut self) {
        if self.cursor > 0 {
            self.cursor -= 1;
            self.chars.remove(self.cursor);
        }
        self.edited();
    }

    pub fn delete(&mut self) {
        if self.cursor < self.chars.len() {
            self.chars.remove(self.cursor);
        }
        self.edited();
    }

    pub fn left(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
        self.edited();
    }

    pub fn right(&mut self) {
        self.cursor = (self.cursor + 1).min(self.chars.len());
        self.edited();
    }

    pub fn home(&mut self) {
        self.cursor = 0;
        self.edited();
    }

    pub fn end(&mut self) {
        self.cursor = self.chars.len();
        self.edited();
    }

    /// Ctrl-W: deletes the word before the cursor (and the spaces after it).
    pub fn delete_word(&mut self) {
        let mut start = self.cursor;
        while start > 0 && self.chars[start - 1] == ' ' {
            start -= 1;
        }
        while start > 0 && self.chars[start - 1] != ' ' {
            start -= 1;
        }
        self.chars.drain(start..self.cursor);
        self.cursor = start;
        self.edited();
    }

    /// Ctrl-U: deletes everything before the cursor.
    pub fn kill_before(&mut self) {
        self.chars.drain(..self.cursor);
        self.cursor = 0;
        self.edited();
    }

    /// Ctrl-K: deletes everything after the cursor.
    pub fn kill_after(&mut self) {
        self.chars.truncate(self.cursor);
        self.edited();
    }

    fn set(&mut self, text: &str) {
        self.chars = text.chars().collect();
        self.cursor = self.chars.len();
        self.completing = None;
    }

    /// Enter: the line, which goes into the history; the input is empty again.
    pub fn submit(&mut self) -> String {
        let text = self.text();
        if !text.trim().is_empty() && self.history.back() != Some(&text) {
            self.history.push_back(text.clone());
            if self.history.len() > MAX_HISTORY {
                self.history.pop_front();
            }
        }
        self.browsing = None;
        self.set("");
        text
    }

    /// Up: the previous typed line.
    pub fn older(&mut self) {
        let at = match self.browsing {
            None if self.history.is_empty() => return,
            None => {
                self.draft = self.text();
                self.history.len() - 1
            }
            Some(0) => return,
            Some(i) => i - 1,
        };
        self.browsing = Some(at);
        let line = self.history[at].clone();
        self.set(&line);
    }

    /// Down: the next typed line, and past the newest what was being typed.
    pub fn newer(&mut self) {
        match self.browsing {
            None => {}
            Some(i) if i + 1 < self.history.len() => {
                self.browsing = Some(i + 1);
                let line = self.history[i + 1].clone();
                self.set(&line);
            }
            Some(_) => {
                self.browsing = None;
                let draft = std::mem::take(&mut self.draft);
                self.set(&draft);
            }
        }
    }

    /// Tab: completes the word before the cursor from `nicks` (or, for a first word starting
    /// with `/`, from `commands`); again cycles through the other matches. A nick completed
    /// at the start of the line gets `: ` after it.
    pub fn complete(&mut self, nicks: &[String], commands: &[&str]) {
        if let Some((start, candidates, shown)) = self.completing.take() {
            if candidates.len() > 1 {
                let next = (shown + 1) % candidates.len();
                self.replace_word(start, &candidates[next]);
                self.completing = Some((start, candidates, next));
            } else {
                self.completing = Some((start, candidates, shown));
            }
            return;
        }
        let mut start = self.cursor;
        while start > 0 && self.chars[start - 1] != ' ' {
            start -= 1;
        }
        let word: String = self.chars[start..self.cursor].iter().collect();
        if word.is_empty() {
            return;
        }
        let lower = word.to_lowercase();
        let mut candidates: Vec<String> = if start == 0 && word.starts_with('/') {
            commands
                .iter()
                .filter(|c| c.starts_with(&lower))
                .map(|c| format!("{c} "))
                .collect()
        } else {
            let suffix = if start == 0 { ": " } else { " " };
            nicks
                .iter()
                .filter(|n| n.to_lowercase().starts_with(&lower))
                .map(|n| format!("{n}{suffix}"))
                .collect()
        };
        candidates.sort_by_key(|c| c.to_lowercase());
        candidates.dedup();
        if candidates.is_empty() {
            return;
        }
        self.replace_word(start, &candidates[0]);
        self.completing = Some((start, candidates, 0));
    }

    fn replace_word(&mut self, start: usize, with: &str) {
        // The word runs from `start` to the cursor (a completion's own text included).
        self.chars.drain(start..self.cursor);
        // A completion is a nick from the network: no control character gets in.
        let new: Vec<char> = with.chars().filter(|c| !c.is_control()).collect();
        let n = new.len();
        self.chars.splice(start..start, new);
        self.cursor = start + n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(s: &str) -> Input {
        let mut i = Input::new();
        i.insert_str(s);
        i
    }

    #[test]
    fn editing_moves_and_deletes_by_character_and_word() {
        let mut i = typed("halo dunia");
        i.left();
        i.left();
        i.insert('X');
        assert_eq!(i.text(), "halo dunXia");
        i.backspace();
        i.delete();
        assert_eq!(i.text(), "halo duna");
        i.end();
        i.delete_word();
        assert_eq!(i.text(), "halo ");
        i.insert_str("é✓");
        i.home();
        i.delete();
        assert_eq!((i.text().as_str(), i.cursor()), ("alo é✓", 0));
        i.right();
        i.kill_after();
        assert_eq!(i.text(), "a");
        i.kill_before();
        assert!(i.is_empty());
        i.insert_str("a\nb\x1b[2Jc");
        assert_eq!(i.text(), "a b[2Jc", "pastes lose newlines and escapes");
    }

    #[test]
    fn up_and_down_walk_the_history_and_keep_the_draft() {
        let mut i = Input::new();
        for l in ["satu", "dua", "dua", " "] {
            i.insert_str(l);
            assert_eq!(i.submit(), l);
        }
        i.insert_str("draf");
        i.older();
        assert_eq!(i.text(), "dua");
        i.older();
        assert_eq!(i.text(), "satu");
        i.older();
        assert_eq!(i.text(), "satu", "no older line: stays");
        i.newer();
        i.newer();
        assert_eq!(i.text(), "draf");
    }

    #[test]
    fn tab_completes_nicks_and_commands_and_cycles() {
        let nicks: Vec<String> = ["budi", "Bunga", "cici"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut i = typed("bu");
        i.complete(&nicks, &[]);
        assert_eq!(i.text(), "budi: ");
        i.complete(&nicks, &[]);
        assert_eq!(i.text(), "Bunga: ");
        i.complete(&nicks, &[]);
        assert_eq!(i.text(), "budi: ");
        let mut i = typed("halo ci");
        i.complete(&nicks, &[]);
        assert_eq!(i.text(), "halo cici ");
        let mut i = typed("/jo");
        i.complete(&nicks, &["/join", "/part"]);
        assert_eq!(i.text(), "/join ");
        let mut i = typed("zz");
        i.complete(&nicks, &[]);
        assert_eq!(i.text(), "zz");
    }
}
