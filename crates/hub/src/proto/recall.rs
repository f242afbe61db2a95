//! History read at the edge: `CHATHISTORY`, `SEARCH`, plain `/history` and `/search`.
//!
//! The router says what a client may read ([`Request::HistoryAccess`]: the rooms it is in,
//! the conversation a nick names); the store is read here, on tokio's blocking threads, so a
//! slow query holds up only the client that asked, never the router or the other clients. A
//! client asks one thing at a time (its connection waits for the answer before its next
//! line), so one client takes at most one blocking thread.

use std::sync::Arc;

use obrol_store::history::{Event as Stored, History};
use tokio::sync::oneshot;

use super::{Flow, Link};
use crate::api::{Access, Request};
use crate::domain::names::fold;

/// Most events one request returns (ISUPPORT `CHATHISTORY`, searches): a bounded answer.
pub const MAX_LIMIT: usize = 200;

/// What a search returns unless asked for fewer.
pub const SEARCH_DEFAULT: usize = 50;

/// Asks the router what this client may read; `None` when the hub is gone.
pub async fn access(link: &Link<'_>, target: Option<&str>) -> Option<Access> {
    let (reply, answer) = oneshot::channel();
    let req = Request::HistoryAccess {
        id: link.id,
        target: target.map(str::to_owned),
        reply,
    };
    if !link.request(req).await {
        return None;
    }
    answer.await.ok()
}

/// Runs `read` on the store on a blocking thread. An error is logged and becomes `None`.
pub async fn read<T, F>(history: &Arc<History>, read: F) -> Option<T>
where
    T: Send + 'static,
    F: FnOnce(&History) -> Result<T, obrol_store::StoreError> + Send + 'static,
{
    let history = history.clone();
    match tokio::task::spawn_blocking(move || read(&history)).await {
        Ok(Ok(value)) => Some(value),
        Ok(Err(err)) => {
            tracing::warn!(%err, "history not read");
            None
        }
        Err(err) => {
            tracing::warn!(%err, "history read failed");
            None
        }
    }
}

/// The conversation `target` names for this client, as (store key, name shown): a room it is
/// in, a connected nick, or a nick it talked with before (found in the store by the name the
/// other party last had). `None`: nothing it may read.
pub async fn conversation(
    history: &Arc<History>,
    access: &Access,
    target: &str,
) -> Option<(String, String)> {
    if let Some(found) = &access.target {
        return Some(found.clone());
    }
    if access.refused || target.starts_with('#') {
        return None;
    }
    let party = access.party.clone();
    let mine = read(history, move |h| h.conversations(&party)).await?;
    let wanted = fold(target);
    mine.into_iter().find(|(_, peer)| fold(peer) == wanted)
}

/// Every conversation this client may search or list: the rooms it is in and its private
/// conversations, as (store key, name shown).
pub async fn everything(history: &Arc<History>, access: &Access) -> Vec<(String, String)> {
    let mut all = access.rooms.clone();
    let party = access.party.clone();
    if let Some(private) = read(history, move |h| h.conversations(&party)).await {
        all.extend(private);
    }
    all
}

/// The name `e` is shown under in a listing for the reader: a room's name, or for a private
/// message the other party's nick.
pub fn shown_target(e: &Stored, reader: &str) -> String {
    if e.target.starts_with('#') {
        return e.target_name.clone();
    }
    if fold(&e.nick) == fold(reader) {
        e.target_name.clone()
    } else {
        e.nick.clone()
    }
}

pub use obrol_wire::irc::parse_time;

/// Handles a plain client's `/history [ROOM|NICK] [N]` and `/search WORDS [in ROOM|NICK]`;
/// `None` if `text` is neither.
pub async fn plain_command(text: &str, link: &Link<'_>) -> Option<Flow> {
    let (verb, rest) = text.split_once(' ').unwrap_or((text, ""));
    let verb = verb.to_ascii_lowercase();
    if verb != "/history" && verb != "/search" {
        return None;
    }
    let Some(history) = link.history else {
        link.reply("! this server keeps no history\n");
        return Some(flushed(link).await);
    };
    let words: Vec<&str> = rest.split_whitespace().collect();
    let flow = if verb == "/history" {
        plain_history(history, &words, link).await
    } else {
        plain_search(history, &words, link).await
    };
    Some(match flow {
        Flow::Continue => flushed(link).await,
        close => close,
    })
}

async fn flushed(link: &Link<'_>) -> Flow {
    if link.flush().await {
        Flow::Continue
    } else {
        Flow::Close("hub gone".into())
    }
}

/// A room or nick as a plain client types it: rooms with or without `#`, so `lobby` is the
/// room; a nick is any name that is not the name of a room the client is in.
fn plain_target(access: &Access, name: &str) -> String {
    let room = format!("#{}", fold(name.trim_start_matches('#')));
    if name.starts_with('#') || access.rooms.iter().any(|(k, _)| *k == room) {
        format!("#{}", name.trim_start_matches('#'))
    } else {
        name.to_owned()
    }
}

async fn plain_history(history: &Arc<History>, words: &[&str], link: &Link<'_>) -> Flow {
    const USAGE: &str = "! usage: /history [ROOM|NICK] [COUNT]\n";
    let (name, count) = match words {
        [] => (None, SEARCH_DEFAULT),
        [n] if n.parse::<usize>().is_ok() => (None, n.parse().unwrap_or(SEARCH_DEFAULT)),
        [name] => (Some(*name), SEARCH_DEFAULT),
        [name, n] => match n.parse::<usize>() {
            Ok(n) if n > 0 => (Some(*name), n),
            _ => {
                link.reply(USAGE);
                return Flow::Continue;
            }
        },
        _ => {
            link.reply(USAGE);
            return Flow::Continue;
        }
    };
    let count = count.clamp(1, MAX_LIMIT);
    let Some(first) = access(link, None).await else {
        return Flow::Close("hub gone".into());
    };
    let target = match name {
        Some(name) => plain_target(&first, name),
        None => match &first.current {
            Some((_, shown)) => shown.clone(),
            None => {
                link.reply("! you are not in a room; /history ROOM\n");
                return Flow::Continue;
            }
        },
    };
    let Some(access) = access(link, Some(&target)).await else {
        return Flow::Close("hub gone".into());
    };
    let Some((key, shown)) = conversation(history, &access, &target).await else {
        let name = target.trim_start_matches('#');
        link.reply(match target.starts_with('#') {
            true => format!("! you are not in {name}\n"),
            false => format!("! no conversation with {name}\n"),
        });
        return Flow::Continue;
    };
    let which = obrol_store::history::Events::Messages;
    let private = !key.starts_with('#');
    let Some(events) = read(history, move |h| h.latest(&key, None, count, which)).await else {
        link.reply("! history is not available right now\n");
        return Flow::Continue;
    };
    if events.is_empty() {
        link.reply(format!(
            "* nothing said in {} yet\n",
            shown.trim_start_matches('#')
        ));
        return Flow::Continue;
    }
    let shown = shown.trim_start_matches('#').to_owned();
    let event = crate::event::Event::History {
        room: &shown,
        events: &events,
    };
    let text = String::from_utf8_lossy(&super::plain::render(&event, None)).into_owned();
    link.reply(match private {
        // A conversation is with someone, not in somewhere.
        true => text.replacen(&format!(" in {shown}:"), &format!(" with {shown}:"), 1),
        false => text,
    });
    Flow::Continue
}

async fn plain_search(history: &Arc<History>, words: &[&str], link: &Link<'_>) -> Flow {
    let Some(first) = access(link, None).await else {
        return Flow::Close("hub gone".into());
    };
    // `... in NAME` at the end narrows the search to that room or conversation.
    let (text, within) = match words {
        [text @ .., last_but_one, name]
            if !text.is_empty() && last_but_one.eq_ignore_ascii_case("in") =>
        {
            (text.join(" "), Some(plain_target(&first, name)))
        }
        _ => (words.join(" "), None),
    };
    if text.is_empty() {
        link.reply("! usage: /search WORDS [in ROOM|NICK]\n");
        return Flow::Continue;
    }
    let keys: Vec<String> = match &within {
        Some(target) => {
            let Some(access) = access(link, Some(target)).await else {
                return Flow::Close("hub gone".into());
            };
            match conversation(history, &access, target).await {
                Some((key, _)) => vec![key],
                None => {
                    let name = target.trim_start_matches('#');
                    link.reply(match target.starts_with('#') {
                        true => format!("! you are not in {name}\n"),
                        false => format!("! no conversation with {name}\n"),
                    });
                    return Flow::Continue;
                }
            }
        }
        None => everything(history, &first)
            .await
            .into_iter()
            .map(|(k, _)| k)
            .collect(),
    };
    let words = text.clone();
    let found = read(history, move |h| h.search(&words, &keys, SEARCH_DEFAULT)).await;
    let Some(mut found) = found else {
        link.reply("! search is not available right now\n");
        return Flow::Continue;
    };
    found.reverse();
    let n = found.len();
    let mut out = match n {
        0 => format!("* no messages with \"{text}\" where you can read\n"),
        _ => format!(
            "* {n} message{} with \"{text}\" (oldest first):\n",
            if n == 1 { "" } else { "s" }
        ),
    };
    for e in &found {
        let time = crate::proto::irc::rfc3339(u64::try_from(e.time_ms).unwrap_or(0));
        let when = time[..16].replace('T', " ");
        let place = match e.target.starts_with('#') {
            true => e.target_name.trim_start_matches('#').to_owned(),
            false => format!("private with {}", shown_target(e, &first.nick)),
        };
        use obrol_store::history::Kind;
        out.push_str(&match e.kind {
            Kind::Action => format!("[{when}] [{place}] * {} {}\n", e.nick, e.text),
            _ => format!("[{when}] [{place}] <{}> {}\n", e.nick, e.text),
        });
    }
    link.reply(out);
    Flow::Continue
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_back_to_what_server_time_shows() {
        for ms in [
            0u64,
            1_000,
            1_764_547_200_123,
            951_782_400_000,
            4_102_444_799_999,
        ] {
            let shown = crate::proto::irc::rfc3339(ms);
            assert_eq!(parse_time(&shown), Some(ms as i64), "{shown}");
        }
        assert_eq!(parse_time("2026-12-01T01:02:03Z"), Some(1_796_086_923_000));
        assert_eq!(
            parse_time("2026-12-01T01:02:03.5Z"),
            Some(1_796_086_923_500)
        );
        for bad in [
            "",
            "*",
            "2026-12-01",
            "2026-12-01T01:02:03",
            "2026-13-01T01:02:03Z",
            "2026-12-01T25:02:03Z",
            "2026-12-01T01:02:03.Z",
            "2026-12-01T01:02:03.12345678901Z",
            "2026-12-01T01:02:0xZ",
            "+026-12-01T01:02:03Z",
            "2026-12-01T01:02:03.1é",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
