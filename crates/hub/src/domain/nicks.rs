//! The nick registry: which client owns which nick, case-insensitively, and guest nicks.

use std::collections::HashMap;

use super::names::{fold, Name};
use crate::api::ClientId;

/// Folded nick to its owner.
#[derive(Debug, Default)]
pub struct Nicks {
    owners: HashMap<Name, ClientId>,
    /// Number of the next guest nick to try.
    next_guest: u64,
}

impl Nicks {
    /// Who owns `nick` (any case).
    pub fn owner(&self, nick: &str) -> Option<ClientId> {
        self.owners.get(&fold(nick)).copied()
    }

    pub fn is_taken(&self, nick: &str) -> bool {
        self.owners.contains_key(&fold(nick))
    }

    /// Gives `nick` to `id`. The caller checked it is free (or already `id`'s).
    pub fn claim(&mut self, nick: &str, id: ClientId) {
        self.owners.insert(fold(nick), id);
    }

    pub fn release(&mut self, nick: &str) {
        self.owners.remove(&fold(nick));
    }

    /// A free `guestN` nick.
    pub fn guest(&mut self) -> String {
        loop {
            self.next_guest += 1;
            let nick = format!("guest{}", self.next_guest);
            if !self.is_taken(&nick) {
                return nick;
            }
        }
    }

    pub fn clear(&mut self) {
        self.owners.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_insensitive_and_guests_skip_taken() {
        let mut n = Nicks::default();
        n.claim("Ani", 1);
        assert_eq!(n.owner("ANI"), Some(1));
        n.claim("guest1", 2);
        assert_eq!(n.guest(), "guest2");
        n.release("ani");
        assert!(!n.is_taken("Ani"));
    }
}
