//! The operator console: lines typed into `obrol serve`'s terminal.
use crate::api::ClientId;
use crate::event::Event;

use super::Router;

impl Router {
    pub(super) fn operator(&mut self, line: &str) -> String {
        let line = line.trim();
        let Some(cmd) = line.strip_prefix('/') else {
            if line.is_empty() {
                return String::new();
            }
            let ids: Vec<ClientId> = self.members.keys().copied().collect();
            self.emit_each(&ids, &Event::ServerNotice(line));
            return format!("sent to {} clients", ids.len());
        };
        let (name, arg) = cmd.split_once(' ').unwrap_or((cmd, ""));
        let arg = arg.trim();
        match name {
            "stats" => self.metrics.stats_line(&self.figures()),
            "rooms" => {
                let mut list: Vec<String> = self
                    .rooms
                    .values()
                    .map(|r| format!("{} ({})", r.name, r.members.len()))
                    .collect();
                list.sort();
                format!("{} rooms: {}", list.len(), list.join(", "))
            }
            "kick" => {
                let (nick, reason) = arg.split_once(' ').unwrap_or((arg, ""));
                let reason = if reason.trim().is_empty() {
                    "kicked by the operator".to_owned()
                } else {
                    format!("kicked by the operator: {}", reason.trim())
                };
                match self.nicks.owner(nick) {
                    Some(id) if !nick.is_empty() => {
                        self.remove(id, &reason, Some(&reason));
                        format!("kicked {nick}")
                    }
                    _ => format!("no such nick: {nick}"),
                }
            }
            "help" => {
                "console: type text to send it to everyone; /stats, /rooms, /kick NICK [reason]"
                    .to_owned()
            }
            other => format!("unknown console command: /{other} (try /help)"),
        }
    }
}
