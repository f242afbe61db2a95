//! The hub's rules, as plain data and functions: no sockets, no runtime, no clock of their own.
//!
//! Names and how they compare ([`names`]), who owns which nick ([`nicks`]), rooms with their
//! modes and admission rules ([`room`]), and the nicks recently given up ([`whowas`]). The router
//! owns one of each and decides *when* these rules apply; the rules themselves live here, each
//! with unit tests.

pub mod names;
pub mod nicks;
pub mod room;
pub mod text;
pub mod whowas;

/// Longest nick (ISUPPORT `NICKLEN`).
pub const NICKLEN: usize = obrol_wire::plain::MAX_NICK;
/// Longest room name, with IRC's `#` (ISUPPORT `CHANNELLEN`).
pub const CHANNELLEN: usize = obrol_wire::plain::MAX_ROOM + 1;
/// Most mode changes with an argument applied from one MODE line (ISUPPORT `MODES`).
pub const MODES_PER_LINE: usize = 4;
/// Longest user name (ISUPPORT `USERLEN`).
pub const USERLEN: usize = 10;
/// Longest topic, in bytes: with the longest source and room name the TOPIC line stays within
/// IRC's 512 bytes.
pub const TOPICLEN: usize = 300;
/// Longest away message, in bytes.
pub const AWAYLEN: usize = 200;
/// Longest kick, part or quit reason, in bytes.
pub const KICKLEN: usize = 255;
/// Longest real name, in bytes.
pub const REALNAMELEN: usize = 100;

/// Unix seconds now (room creation, topic and signon times).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
