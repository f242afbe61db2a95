//! The idle sweep: one pass over all members instead of a timer in every connection.

use super::deliver::Audience;
use super::Router;
use crate::event::{Command, Event};

impl Router {
    /// Pings IRC clients silent for `ping_interval`, and drops those still silent as long
    /// after their ping (the connection's reads stamp [`Outbox::heard`]).
    pub(super) fn sweep_idle(&mut self) {
        self.enforce_registered_nicks();
        let now = crate::outbox::clock_ms();
        let limit = self.settings.ping_interval.as_millis() as u64;
        let mut ping = Vec::new();
        let mut dead = Vec::new();
        for (&id, m) in self.members.iter_mut() {
            // A bridge's members live in this process: nothing to lose track of.
            if !m.proto.pings_idle() || m.bridged {
                continue;
            }
            let heard = m.outbox.last_heard();
            // `>=`: an answer within the millisecond of the ping counts (the ping was only sent
            // because nothing had been heard for `limit`, so nothing at `pinged_at` predates it).
            if m.pinged_at != 0 && heard >= m.pinged_at {
                m.pinged_at = 0; // it answered, or said something
            }
            if m.pinged_at == 0 {
                if now.saturating_sub(heard) >= limit {
                    m.pinged_at = now.max(1);
                    ping.push(id);
                }
            } else if now.saturating_sub(m.pinged_at) >= limit {
                dead.push(id);
            }
        }
        if ping.is_empty() && dead.is_empty() {
            return;
        }
        self.emit(Audience::Each(&ping), &Event::Ping);
        for id in dead {
            self.command(id, Command::Quit(Some("Ping timeout".into())));
        }
    }
}
