//! IRCv3 `draft/chathistory` (`CHATHISTORY`) and soju's `soju.im/search` (`SEARCH`), read at
//! the edge (see [`crate::proto::recall`]).

use obrol_store::history::{Anchor, Events, Narrow};
use obrol_wire::irc::Message;

use super::{caps, Session};
use crate::proto::recall::{self, MAX_LIMIT, SEARCH_DEFAULT};
use crate::proto::{Flow, Link, View};

/// A `CHATHISTORY` request, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Query {
    /// The newest messages, after the anchor if there is one (`*`: none).
    Latest(Option<Anchor>),
    Before(Anchor),
    After(Anchor),
    Around(Anchor),
    Between(Anchor, Anchor),
    /// Conversations with messages between two times.
    Targets(i64, i64),
}

/// Why a request is refused (IRCv3 standard replies, `FAIL CHATHISTORY CODE ...`).
#[derive(Debug, PartialEq, Eq)]
enum Refused {
    UnknownCommand,
    NeedMoreParams,
    InvalidParams(&'static str),
}

fn anchor(text: &str) -> Option<Anchor> {
    match text.split_once('=')? {
        ("msgid", id) if !id.is_empty() => Some(Anchor::MsgId(id.to_owned())),
        ("timestamp", t) => recall::parse_time(t).map(Anchor::TimeMs),
        _ => None,
    }
}

fn limit(text: &str) -> Result<usize, Refused> {
    match text.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n.min(MAX_LIMIT)),
        _ => Err(Refused::InvalidParams(
            "the limit must be a positive number",
        )),
    }
}

/// Parses `CHATHISTORY` parameters: (subcommand, target, query, limit).
fn parse(p: &[String]) -> Result<(String, String, Query, usize), Refused> {
    let sub = p
        .first()
        .map(|s| s.to_ascii_uppercase())
        .unwrap_or_default();
    let need = match sub.as_str() {
        "LATEST" | "BEFORE" | "AFTER" | "AROUND" | "TARGETS" => 4,
        "BETWEEN" => 5,
        "" => return Err(Refused::NeedMoreParams),
        _ => return Err(Refused::UnknownCommand),
    };
    if p.len() < need {
        return Err(Refused::NeedMoreParams);
    }
    let one = |text: &str| {
        anchor(text).ok_or(Refused::InvalidParams(
            "a message is named msgid=ID or timestamp=TIME",
        ))
    };
    let time = |text: &str| match anchor(text) {
        Some(Anchor::TimeMs(t)) => Ok(t),
        _ => Err(Refused::InvalidParams("TARGETS takes two timestamp=TIME")),
    };
    let (target, query, n) = match sub.as_str() {
        "LATEST" if p[2] == "*" => (p[1].clone(), Query::Latest(None), &p[3]),
        "LATEST" => (p[1].clone(), Query::Latest(Some(one(&p[2])?)), &p[3]),
        "BEFORE" => (p[1].clone(), Query::Before(one(&p[2])?), &p[3]),
        "AFTER" => (p[1].clone(), Query::After(one(&p[2])?), &p[3]),
        "AROUND" => (p[1].clone(), Query::Around(one(&p[2])?), &p[3]),
        "BETWEEN" => (
            p[1].clone(),
            Query::Between(one(&p[2])?, one(&p[3])?),
            &p[4],
        ),
        _ => (
            String::new(),
            Query::Targets(time(&p[1])?, time(&p[2])?),
            &p[3],
        ),
    };
    Ok((sub, target, query, limit(n)?))
}

impl Session {
    fn view<'a>(&'a self, link: &'a Link<'_>) -> View<'a> {
        View {
            nick: self.me(),
            current: None,
            caps: self.caps,
            server: link.server,
            info: link.info,
            user: "",
            host: "",
        }
    }

    fn fail(&self, link: &Link<'_>, command: &str, code: &str, context: &[&str], text: &str) {
        let mut msg = Message::new("FAIL", [command.to_owned(), code.to_owned()])
            .with_prefix(link.server.to_owned());
        for c in context {
            msg = msg.with_param((*c).to_owned());
        }
        link.reply(format!(
            "{}\r\n",
            msg.with_param(text.to_owned()).to_string_trailing()
        ));
    }

    /// `CHATHISTORY subcommand target reference [reference] limit` (IRCv3 draft/chathistory).
    pub(super) async fn chathistory(&mut self, msg: &Message, link: &Link<'_>) -> Flow {
        let Some(history) = link.history else {
            return self.unknown(link, &msg.command);
        };
        let (sub, target, query, n) = match parse(&msg.params) {
            Ok(parsed) => parsed,
            Err(refused) => {
                let sub = msg.params.first().map_or("*", String::as_str);
                let (code, text) = match refused {
                    Refused::UnknownCommand => ("UNKNOWN_COMMAND", "Unknown subcommand"),
                    Refused::NeedMoreParams => ("NEED_MORE_PARAMS", "Missing parameters"),
                    Refused::InvalidParams(why) => ("INVALID_PARAMS", why),
                };
                self.fail(link, "CHATHISTORY", code, &[sub], text);
                return Flow::Continue;
            }
        };
        let which = match self.caps & caps::EVENT_PLAYBACK != 0 {
            true => Events::All,
            false => Events::Messages,
        };
        if let Query::Targets(from, to) = query {
            let Some(access) = recall::access(link, None).await else {
                return Flow::Close("hub gone".into());
            };
            let all = recall::everything(history, &access).await;
            let keys: Vec<String> = all.iter().map(|(k, _)| k.clone()).collect();
            let Some(found) = recall::read(history, move |h| h.targets(&keys, from, to, n)).await
            else {
                self.fail(
                    link,
                    "CHATHISTORY",
                    "MESSAGE_ERROR",
                    &[&sub, "*"],
                    "Messages could not be retrieved",
                );
                return Flow::Continue;
            };
            let view = self.view(link);
            let batch = view.caps & caps::BATCH != 0;
            let mut s = String::new();
            if batch {
                s.push_str(&format!(
                    ":{} BATCH +t draft/chathistory-targets\r\n",
                    link.server
                ));
            }
            for (key, _, latest) in found {
                let shown = all
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map_or(key.as_str(), |(_, shown)| shown.as_str());
                let time = super::render::rfc3339(u64::try_from(latest).unwrap_or(0));
                let tag = if batch { "@batch=t " } else { "" };
                s.push_str(&format!(
                    "{tag}:{} CHATHISTORY TARGETS {shown} {time}\r\n",
                    link.server
                ));
            }
            if batch {
                s.push_str(&format!(":{} BATCH -t\r\n", link.server));
            }
            link.reply(s);
            return Flow::Continue;
        }
        let Some(access) = recall::access(link, Some(&target)).await else {
            return Flow::Close("hub gone".into());
        };
        let Some((key, shown)) = recall::conversation(history, &access, &target).await else {
            if target.starts_with('#') {
                self.fail(
                    link,
                    "CHATHISTORY",
                    "INVALID_TARGET",
                    &[&sub, &target],
                    "Messages could not be retrieved",
                );
            } else {
                // A nick this client never talked with: nothing to show (and nothing to tell
                // about whether it exists).
                let mut s = String::new();
                let kind = format!("chathistory {target}");
                super::replay::batch(&mut s, &self.view(link), "h", &kind, &[], true);
                link.reply(s);
            }
            return Flow::Continue;
        };
        let events = recall::read(history, move |h| match &query {
            Query::Latest(since) => h.latest(&key, since.as_ref(), n, which),
            Query::Before(a) => h.before(&key, a, n, which),
            Query::After(a) => h.after(&key, a, n, which),
            Query::Around(a) => h.around(&key, a, n, which),
            Query::Between(a, b) => h.between(&key, a, b, n, which),
            Query::Targets(..) => Ok(Vec::new()),
        })
        .await;
        let Some(events) = events else {
            self.fail(
                link,
                "CHATHISTORY",
                "MESSAGE_ERROR",
                &[&sub, &target],
                "Messages could not be retrieved",
            );
            return Flow::Continue;
        };
        let reference = events
            .first()
            .map_or("h".to_owned(), |e| format!("h{}", e.msgid));
        let kind = format!("chathistory {shown}");
        let mut s = String::new();
        super::replay::batch(&mut s, &self.view(link), &reference, &kind, &events, true);
        link.reply(s);
        Flow::Continue
    }

    /// `SEARCH key=value;...` (soju.im/search): `text` (required), `in` (a room or nick),
    /// `from` (a nick), `after`/`before` (timestamps), `limit`. The newest matches, oldest
    /// first, from the rooms the client is in and its own private conversations.
    pub(super) async fn search(&mut self, msg: &Message, link: &Link<'_>) -> Flow {
        let Some(history) = link.history else {
            return self.unknown(link, &msg.command);
        };
        let Some(attrs) = msg.params.first() else {
            self.fail(
                link,
                "SEARCH",
                "NEED_MORE_PARAMS",
                &[],
                "Missing parameters",
            );
            return Flow::Continue;
        };
        // Attributes are written like message tags (soju.im/search).
        let Ok(parsed) = Message::parse(&format!("@{attrs} SEARCH")) else {
            self.fail(link, "SEARCH", "INVALID_PARAMS", &[], "Invalid attributes");
            return Flow::Continue;
        };
        let mut text = String::new();
        let mut within = None;
        let mut narrow = Narrow::default();
        let mut n = SEARCH_DEFAULT;
        for tag in &parsed.tags {
            let value = tag.value.clone().unwrap_or_default();
            let time = |v: &str| recall::parse_time(v);
            let ok = match tag.key.as_str() {
                "text" => {
                    text = value;
                    true
                }
                "in" => {
                    within = Some(value);
                    true
                }
                "from" => {
                    narrow.from = Some(value);
                    true
                }
                "after" => time(&value).map(|t| narrow.after_ms = Some(t)).is_some(),
                "before" => time(&value).map(|t| narrow.before_ms = Some(t)).is_some(),
                "limit" => limit(&value).map(|l| n = l).is_ok(),
                _ => false,
            };
            if !ok {
                let why = format!("Invalid attribute {}", tag.key);
                self.fail(link, "SEARCH", "INVALID_PARAMS", &[], &why);
                return Flow::Continue;
            }
        }
        if text.split_whitespace().next().is_none() {
            self.fail(
                link,
                "SEARCH",
                "INVALID_PARAMS",
                &[],
                "Nothing to search for (text=...)",
            );
            return Flow::Continue;
        }
        let Some(access) = recall::access(link, within.as_deref()).await else {
            return Flow::Close("hub gone".into());
        };
        let keys: Vec<String> = match &within {
            Some(target) => match recall::conversation(history, &access, target).await {
                Some((key, _)) => vec![key],
                None => Vec::new(),
            },
            None => recall::everything(history, &access)
                .await
                .into_iter()
                .map(|(k, _)| k)
                .collect(),
        };
        let found = recall::read(history, move |h| {
            h.search_narrowed(&text, &keys, &narrow, n)
        })
        .await;
        let Some(mut found) = found else {
            self.fail(
                link,
                "SEARCH",
                "MESSAGE_ERROR",
                &[],
                "Messages could not be retrieved",
            );
            return Flow::Continue;
        };
        found.reverse();
        let mut s = String::new();
        super::replay::batch(
            &mut s,
            &self.view(link),
            "s",
            "soju.im/search",
            &found,
            false,
        );
        link.reply(s);
        Flow::Continue
    }

    fn unknown(&self, link: &Link<'_>, command: &str) -> Flow {
        link.reply(super::numeric(
            link.server,
            "421",
            self.me(),
            &format!("{command} :Unknown command"),
        ));
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<(String, String, Query, usize), Refused> {
        let params: Vec<String> = line.split(' ').map(str::to_owned).collect();
        parse(&params)
    }

    #[test]
    fn every_subcommand_parses_and_bad_ones_say_why() {
        let t = "2026-12-01T01:02:03.004Z";
        let ms = recall::parse_time(t).unwrap();
        assert_eq!(
            p("latest #a * 10"),
            Ok(("LATEST".into(), "#a".into(), Query::Latest(None), 10))
        );
        assert_eq!(
            p(&format!("LATEST bob timestamp={t} 5")).unwrap().2,
            Query::Latest(Some(Anchor::TimeMs(ms)))
        );
        assert_eq!(
            p("BEFORE #a msgid=x-1 1000").unwrap(),
            (
                "BEFORE".into(),
                "#a".into(),
                Query::Before(Anchor::MsgId("x-1".into())),
                MAX_LIMIT
            ),
            "limits are cut to the advertised maximum"
        );
        assert_eq!(
            p("AFTER #a msgid=x 1").unwrap().2,
            Query::After(Anchor::MsgId("x".into()))
        );
        assert_eq!(
            p("AROUND #a msgid=x 1").unwrap().2,
            Query::Around(Anchor::MsgId("x".into()))
        );
        assert_eq!(
            p(&format!("BETWEEN #a msgid=x timestamp={t} 3")).unwrap().2,
            Query::Between(Anchor::MsgId("x".into()), Anchor::TimeMs(ms))
        );
        assert_eq!(
            p(&format!("TARGETS timestamp={t} timestamp={t} 3"))
                .unwrap()
                .2,
            Query::Targets(ms, ms)
        );
        assert_eq!(p("FETCH #a * 1"), Err(Refused::UnknownCommand));
        assert_eq!(p("LATEST #a *"), Err(Refused::NeedMoreParams));
        assert_eq!(p("BETWEEN #a msgid=x 3"), Err(Refused::NeedMoreParams));
        for bad in [
            "LATEST #a * 0",
            "LATEST #a * -1",
            "LATEST #a * many",
            "BEFORE #a * 10",
            "BEFORE #a x 10",
            "BEFORE #a msgid= 10",
            "AFTER #a timestamp=yesterday 10",
            "TARGETS msgid=x timestamp=2026-12-01T01:02:03Z 3",
        ] {
            assert!(matches!(p(bad), Err(Refused::InvalidParams(_))), "{bad}");
        }
    }
}
