//! WHOWAS: the nicks recently given up (renamed away from, or gone with their owner).

use std::collections::VecDeque;

use super::names::{fold, Name};
use crate::event::Identity;

/// Most nicks remembered.
const CAPACITY: usize = 1000;

/// Most entries one query returns.
const MAX_REPLY: usize = 10;

/// One nick given up: who had it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Was {
    pub nick: String,
    pub user: String,
    pub host: String,
    pub realname: String,
}

/// A bounded ring of nicks given up, oldest first.
#[derive(Debug, Default)]
pub struct Whowas {
    /// Folded nick and the entry.
    entries: VecDeque<(Name, Was)>,
}

impl Whowas {
    /// Remembers that `who` gave up its nick, forgetting the oldest entry when full.
    pub fn remember(&mut self, who: &Identity, realname: &str) {
        if self.entries.len() >= CAPACITY {
            self.entries.pop_front();
        }
        let was = Was {
            nick: who.nick.to_string(),
            user: who.user.to_string(),
            host: who.host.to_string(),
            realname: realname.to_owned(),
        };
        self.entries.push_back((fold(&who.nick), was));
    }

    /// Who had `nick`, newest first: at most `count` entries (all, up to ten, for `None` or 0).
    pub fn lookup(&self, nick: &str, count: Option<usize>) -> Vec<Was> {
        let key = fold(nick);
        let most = count.filter(|&c| c > 0).unwrap_or(MAX_REPLY).min(MAX_REPLY);
        self.entries
            .iter()
            .rev()
            .filter(|(k, _)| *k == key)
            .map(|(_, w)| w.clone())
            .take(most)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(nick: &str) -> Identity {
        Identity {
            nick: nick.into(),
            user: "u".into(),
            host: "h".into(),
            account: None,
        }
    }

    #[test]
    fn newest_first_case_folded_and_bounded() {
        let mut w = Whowas::default();
        w.remember(&who("Ani"), "first");
        w.remember(&who("budi"), "x");
        w.remember(&who("ani"), "second");
        let found = w.lookup("ANI", None);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].realname, "second");
        assert_eq!(found[1].nick, "Ani");
        assert_eq!(w.lookup("ani", Some(1)).len(), 1);
        for i in 0..CAPACITY {
            w.remember(&who(&format!("n{i}")), "");
        }
        assert!(w.lookup("ani", None).is_empty());
    }
}
