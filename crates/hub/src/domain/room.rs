//! Rooms: who is in them, who operates them, their modes, and who may join or speak.
//!
//! Pure state and rules; no I/O, no clock of its own (the caller passes times in).

use smallvec::SmallVec;

use super::names::{mask_matches, Name};
use crate::api::ClientId;
use crate::event::Identity;

/// A small set of clients (a room's operators, voiced or invited members). These sets hold a
/// handful of ids, so a `Vec` is smaller than a hash set (which costs an allocation of its own
/// even for one element) and as fast; it matters because every room has them.
#[derive(Debug, Default)]
pub struct IdSet(pub SmallVec<[ClientId; 1]>);

impl IdSet {
    pub fn contains(&self, id: &ClientId) -> bool {
        self.0.contains(id)
    }

    /// Returns true if `id` was not in the set.
    pub fn insert(&mut self, id: ClientId) -> bool {
        let new = !self.contains(&id);
        if new {
            self.0.push(id);
        }
        new
    }

    /// Returns true if `id` was in the set.
    pub fn remove(&mut self, id: &ClientId) -> bool {
        let before = self.0.len();
        self.0.retain(|x| x != id);
        self.0.len() != before
    }
}

/// A room and its members.
#[derive(Debug)]
pub struct Room {
    /// The name as first spelled.
    pub name: Name,
    /// Members in join order; a `Vec` because fan-out iterates it far more often than members
    /// come and go.
    pub members: SmallVec<[ClientId; 1]>,
    /// Room operators (`@`): the first joiner, and whoever an operator gives `+o`.
    pub ops: IdSet,
    /// Mode `+t`: only operators set the topic.
    pub topic_ops_only: bool,
    /// Mode `+n`: only members may send to the room. Always on: shown truthfully.
    pub no_external: bool,
    /// Unix seconds at creation.
    pub created: u64,
    /// Mode `+i` (who has been invited is in the extras).
    pub invite_only: bool,
    /// Mode `+m`: only operators and voiced members speak.
    pub moderated: bool,
    /// Mode `+s`: hidden from LIST, NAMES and WHOIS of non-members.
    pub secret: bool,
    /// What most rooms never use; see [`RoomExtras`].
    pub extras: Option<Box<RoomExtras>>,
}

/// The parts of a room most rooms never use, on the heap only once one is set: a room costs
/// little (every idle client may have one of its own) until someone sets a topic, a key, a
/// limit or a ban, voices or invites someone.
#[derive(Debug, Default)]
pub struct RoomExtras {
    /// Voiced members (`+`).
    pub voiced: IdSet,
    /// Text, setter, Unix seconds.
    pub topic: Option<(String, String, u64)>,
    /// Mode `+k`.
    pub key: Option<String>,
    /// Mode `+l`.
    pub limit: Option<usize>,
    /// Invited to a `+i` room (consumed on join).
    pub invited: IdSet,
    /// Mode `+b` masks (`nick!user@host` with `*` and `?`), at most [`MAX_BANS`].
    pub bans: Vec<String>,
}

/// The extras of a room that has none.
static NO_EXTRAS: RoomExtras = RoomExtras {
    voiced: IdSet(SmallVec::new_const()),
    topic: None,
    key: None,
    limit: None,
    invited: IdSet(SmallVec::new_const()),
    bans: Vec::new(),
};

/// Most ban masks per room (ISUPPORT `MAXLIST=b:100`).
pub const MAX_BANS: usize = 100;

impl Room {
    pub fn extra(&self) -> &RoomExtras {
        self.extras.as_deref().unwrap_or(&NO_EXTRAS)
    }

    pub fn extra_mut(&mut self) -> &mut RoomExtras {
        self.extras.get_or_insert_with(Box::default)
    }

    pub fn prefix(&self, id: ClientId, multi: bool) -> &'static str {
        match (self.ops.contains(&id), self.extra().voiced.contains(&id)) {
            (true, true) if multi => "@+",
            (true, _) => "@",
            (false, true) => "+",
            (false, false) => "",
        }
    }

    /// The mode string; the key is shown only to members.
    pub fn modes(&self, show_key: bool) -> String {
        let mut m = String::from("+");
        let mut args = Vec::new();
        for (on, c) in [
            (self.invite_only, 'i'),
            (self.extra().key.is_some(), 'k'),
            (self.extra().limit.is_some(), 'l'),
            (self.moderated, 'm'),
            (self.no_external, 'n'),
            (self.secret, 's'),
            (self.topic_ops_only, 't'),
        ] {
            if on {
                m.push(c);
            }
        }
        if let Some(k) = &self.extra().key {
            args.push(if show_key { k.clone() } else { "*".into() });
        }
        if let Some(l) = self.extra().limit {
            args.push(l.to_string());
        }
        for a in args {
            m.push(' ');
            m.push_str(&a);
        }
        m
    }

    pub fn banned(&self, who: &Identity) -> bool {
        let full = format!("{}!{}@{}", who.nick, who.user, who.host);
        self.extra().bans.iter().any(|b| mask_matches(b, &full))
    }

    /// Whether `id` may speak here (`+m`, bans).
    pub fn may_speak(&self, id: ClientId, who: &Identity) -> bool {
        let privileged = self.ops.contains(&id) || self.extra().voiced.contains(&id);
        privileged || (!self.moderated && !self.banned(who))
    }
}
