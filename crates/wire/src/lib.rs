//! obrol's wire formats, as pure functions over byte buffers.
//!
//! Nothing in this crate does I/O or knows about a runtime: the multicast peer, the hub and the
//! client feed it bytes they read and send the bytes it produces. That keeps every codec testable
//! with unit and property tests, fuzzable, and shared by every program that speaks the format.
//!
//! - [`mcast`]: the binary frame that `obrol mcast` peers exchange in UDP datagrams, plus the
//!   legacy plain-text datagrams of the seed's `sender.py`.
//! - [`line`]: bounded line framing for the hub's TCP protocols (`\n` or `\r\n`).
//! - [`plain`]: the plain text chat protocol's commands (what `nc` users type).
//! - [`irc`]: IRC messages (tags, prefix, command, parameters).

pub mod irc;
pub mod line;
pub mod mcast;
pub mod plain;
