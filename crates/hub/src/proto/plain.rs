//! The plain text protocol adapter: lines a person types into `nc` or the seed's `client.py`.
//!
//! Parsing is `obrol_wire::plain`; this module maps its commands onto the hub's [`Command`]s and
//! renders [`Event`]s as the human-readable lines documented in `docs/PROTOCOL.md`.

use std::fmt::Write;

use bytes::Bytes;
use obrol_wire::plain::{self, Command as Typed};

use crate::event::{Command, Event, Refusal};

/// Longest plain line by default, in bytes.
pub const DEFAULT_MAX_LINE: usize = 4096;

/// How long a partial line may sit idle before it counts as a whole message. The seed's
/// `client.py` sends messages without a newline; a human typing into `nc` always sends one.
pub const PARTIAL_LINE_IDLE: std::time::Duration = std::time::Duration::from_millis(75);

pub const HELP: &str = "commands: /nick NAME, /join ROOM, /part [ROOM], /rooms, /who [ROOM], \
/msg NICK text, /me action, /history [ROOM|NICK] [N], /search WORDS [in ROOM|NICK], /register PASSWORD, /login [ACCOUNT] PASSWORD, /quit [reason], \
/help; other lines go to your current room (//text sends /text)";

/// Turns one line into a hub command.
pub fn parse(line: &str) -> Result<Command, Refusal> {
    Ok(match plain::parse(line) {
        Typed::Say(text) => Command::Say {
            text: text.to_owned(),
            action: false,
        },
        Typed::Me(text) => Command::Say {
            text: text.to_owned(),
            action: true,
        },
        Typed::Nick(n) => Command::Nick(n.to_owned()),
        Typed::Join(r) => Command::Join {
            room: r.trim_start_matches('#').to_owned(),
            key: None,
        },
        Typed::Part(r) => Command::Part {
            room: r.map(|r| r.trim_start_matches('#').to_owned()),
            reason: None,
        },
        Typed::Rooms => Command::Rooms,
        Typed::Who(r) => Command::Who(r.map(|r| r.trim_start_matches('#').to_owned())),
        Typed::Msg { to, text } => Command::SayTo {
            target: to.to_owned(),
            text: text.to_owned(),
            action: false,
            notice: false,
            tags: Vec::new(),
        },
        Typed::Quit(reason) => Command::Quit(reason.map(str::to_owned)),
        Typed::Help => Command::Help,
        Typed::Usage(how) => return Err(Refusal::Usage(how)),
        Typed::Unknown(name) => return Err(Refusal::UnknownCommand(name.to_owned())),
    })
}

/// Renders an event for a plain client. `current` is the recipient's current room: chat from
/// other rooms is prefixed with `[room]`.
pub fn render(event: &Event<'_>, current: Option<&str>) -> Bytes {
    let mut s = String::new();
    let _ = match *event {
        Event::History { room, events } => {
            use obrol_store::history::Kind;
            let n = events.len();
            let _ = writeln!(
                s,
                "* the last {n} message{} in {room}:",
                if n == 1 { "" } else { "s" }
            );
            for e in events {
                let time = crate::proto::irc::rfc3339(u64::try_from(e.time_ms).unwrap_or(0));
                let when = time[..16].replace('T', " ");
                let _ = match e.kind {
                    Kind::Action => writeln!(s, "[{when}] * {} {}", e.nick, e.text),
                    Kind::Notice => writeln!(s, "[{when}] -{}- {}", e.nick, e.text),
                    _ => writeln!(s, "[{when}] <{}> {}", e.nick, e.text),
                };
            }
            Ok(())
        }
        // No room: the hub requires an account, and the client has not logged in yet.
        Event::Welcome {
            motd,
            nick,
            room: "",
            ..
        } => writeln!(
            s,
            "{motd}\n* you are {nick}; log in to join the others; type /help for commands"
        ),
        Event::Welcome {
            motd, nick, room, ..
        } => writeln!(
            s,
            "{motd}\n* you are {nick} in {room}; type /help for commands"
        ),
        Event::Chat {
            from,
            room,
            text,
            action,
            ..
        } => {
            match room {
                Some(r) if Some(r) != current => {
                    let _ = write!(s, "[{r}] ");
                }
                Some(_) => {}
                None => {
                    let _ = write!(s, "*private* ");
                }
            }
            if action {
                writeln!(s, "* {} {}", from.nick, text)
            } else {
                writeln!(s, "<{}> {}", from.nick, text)
            }
        }
        Event::SentPrivately {
            to, text, action, ..
        } => {
            if action {
                writeln!(s, "-> *{to}* * {text}")
            } else {
                writeln!(s, "-> *{to}* {text}")
            }
        }
        Event::Joined { who, room, .. } => writeln!(s, "* {} joined {}", who.nick, room),
        Event::Parted {
            who, room, reason, ..
        } => match reason {
            Some(r) if !r.is_empty() => writeln!(s, "* {} left {} ({})", who.nick, room, r),
            _ => writeln!(s, "* {} left {}", who.nick, room),
        },
        Event::Quit { who, reason, .. } => writeln!(s, "* {} quit ({})", who.nick, reason),
        Event::Renamed { who, new, .. } => writeln!(s, "* {} is now known as {}", who.nick, new),
        Event::Rooms { rooms, first, .. } => {
            let list: Vec<String> = rooms
                .iter()
                .map(|r| format!("{} ({})", r.name, r.members))
                .collect();
            if list.is_empty() {
                if first {
                    writeln!(s, "* no rooms")
                } else {
                    Ok(())
                }
            } else {
                // A long list comes as several lines, a page each.
                writeln!(s, "* rooms: {}", list.join(", "))
            }
        }
        Event::Who {
            room, nicks, count, ..
        } => {
            writeln!(s, "* in {room} ({count}): {nicks}")
        }
        Event::ServerNotice(text) => writeln!(s, "[server] {text}"),
        Event::Info(text) => writeln!(s, "* {text}"),
        Event::LoggedIn { account, .. } => writeln!(s, "* you are logged in as {account}"),
        // Plain clients are not told who logs in to what.
        Event::Account { .. } => Ok(()),
        Event::Help => writeln!(s, "* {HELP}"),
        // A plain client could not answer a ping (it is never sent one).
        Event::Ping => Ok(()),
        Event::Refused(r) => writeln!(s, "! {r}"),
        Event::Closing(reason) => writeln!(s, "{}{reason}", plain::FAREWELL),
        Event::Topic { room, topic } => match topic {
            Some((text, by, _)) => writeln!(s, "* topic of {room}: {text} (set by {by})"),
            None => writeln!(s, "* {room} has no topic"),
        },
        Event::TopicChanged {
            who, room, topic, ..
        } => {
            writeln!(s, "* {} set the topic of {room}: {topic}", who.nick)
        }
        Event::WhoReply { rows, .. } => {
            for r in rows {
                let _ = writeln!(
                    s,
                    "* {}{} ({}@{})",
                    r.prefix, r.who.nick, r.who.user, r.who.host
                );
            }
            Ok(())
        }
        Event::Whois(w) => writeln!(
            s,
            "* {} is {}@{}, in {}{}",
            w.who.nick,
            w.who.user,
            w.who.host,
            if w.rooms.is_empty() {
                "no rooms".to_owned()
            } else {
                w.rooms.join(" ")
            },
            w.away
                .as_deref()
                .map(|a| format!(", away: {a}"))
                .unwrap_or_default()
        ),
        Event::WhoisEnd(_) => Ok(()),
        Event::Ison(nicks) => writeln!(s, "* online: {}", nicks.join(" ")),
        Event::Userhost(entries) => writeln!(s, "* {}", entries.join(" ")),
        Event::AwayStatus(away) => writeln!(
            s,
            "* {}",
            if away {
                "you are marked as away"
            } else {
                "you are no longer away"
            }
        ),
        Event::IsAway { nick, message } => writeln!(s, "* {nick} is away: {message}"),
        Event::RoomModes { room, modes, .. } => writeln!(s, "* modes of {room}: {modes}"),
        Event::ModeChanged { who, room, change } => {
            writeln!(s, "* {} sets mode {change} on {room}", who.nick)
        }
        Event::UserModes(modes) => writeln!(s, "* your modes: {modes}"),
        Event::UserModeChanged { change, .. } => writeln!(s, "* your modes changed: {change}"),
        Event::Kicked {
            by,
            room,
            nick,
            reason,
            ..
        } => writeln!(
            s,
            "* {nick} was kicked from {room} by {} ({reason})",
            by.nick
        ),
        Event::Invited { by, room, .. } => {
            writeln!(s, "* {} invites you to {room} (/join {room})", by.nick)
        }
        Event::Inviting { nick, room } => writeln!(s, "* invited {nick} to {room}"),
        Event::Lusers(c) => writeln!(s, "* {} users in {} rooms", c.users, c.rooms),
        // Typing notifications and IRCv3 notices have no plain form.
        Event::TagMsg { .. }
        | Event::AwayChanged { .. }
        | Event::RealnameChanged { .. }
        | Event::InviteNotice { .. } => Ok(()),
        Event::BanList { room, masks } => {
            writeln!(s, "* bans in {room}: {}", masks.join(" "))
        }
        Event::YoureOper => writeln!(s, "* you are now a server operator"),
        Event::Wallops { from, text } => writeln!(s, "[wallops] <{}> {text}", from.nick),
        Event::Whowas { nick, entries } => match entries.first() {
            Some(w) => writeln!(s, "* {} was {}@{}", w.nick, w.user, w.host),
            None => writeln!(s, "* there was no {nick}"),
        },
    };
    Bytes::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Identity;

    fn ani() -> Identity {
        Identity {
            nick: "ani".into(),
            user: "ani".into(),
            host: "127.0.0.1".into(),
            account: None,
        }
    }

    #[test]
    fn chat_is_prefixed_by_room_only_outside_the_current_one() {
        let from = ani();
        let ev = Event::Chat {
            from: &from,
            room: Some("lobby"),
            text: "halo",
            action: false,
            notice: false,
            msgid: "m1",
            tags: &[],
            time_ms: 0,
        };
        assert_eq!(&render(&ev, Some("lobby"))[..], b"<ani> halo\n");
        assert_eq!(&render(&ev, Some("dev"))[..], b"[lobby] <ani> halo\n");
    }

    #[test]
    fn notices_and_errors() {
        let who = ani();
        assert_eq!(
            &render(
                &Event::Joined {
                    who: &who,
                    room: "dev",
                    realname: "Ani",
                    msgid: Some("m1"),
                },
                None
            )[..],
            b"* ani joined dev\n"
        );
        assert_eq!(
            &render(
                &Event::Renamed {
                    who: &who,
                    new: "budi",
                    msgid: None,
                },
                None
            )[..],
            b"* ani is now known as budi\n"
        );
        assert_eq!(
            &render(&Event::Refused(&Refusal::NickInUse("budi".into())), None)[..],
            b"! nick taken: budi\n"
        );
    }

    #[test]
    fn parses_into_commands() {
        assert_eq!(
            parse("/join #dev"),
            Ok(Command::Join {
                room: "dev".into(),
                key: None
            })
        );
        assert_eq!(parse("/frob"), Err(Refusal::UnknownCommand("frob".into())));
        assert_eq!(
            parse("/me waves"),
            Ok(Command::Say {
                text: "waves".into(),
                action: true
            })
        );
    }
}
