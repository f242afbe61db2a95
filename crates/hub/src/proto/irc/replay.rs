//! Stored events as IRC lines: in a batch (`chathistory`, `soju.im/search`) for clients that
//! negotiated `batch`, as plain lines otherwise; with their original time as a `time` tag for
//! clients that asked for server-time, at the start of the text otherwise.

use std::fmt::Write;

use obrol_store::history::{Event as Stored, Kind};
use obrol_wire::irc::{Message, Tag};

use super::caps;
use super::render::rfc3339;
use crate::proto::View;

/// Writes `events` as a batch of type and parameters `kind` (`chathistory #room`), with
/// reference `reference`. `playback`: joins, parts and the like are shown too (IRCv3
/// `draft/event-playback`); otherwise only what was said.
pub(super) fn batch(
    s: &mut String,
    view: &View<'_>,
    reference: &str,
    kind: &str,
    events: &[Stored],
    playback: bool,
) {
    let batch = view.caps & caps::BATCH != 0;
    if batch {
        let _ = write!(s, ":{} BATCH +{reference} {kind}\r\n", view.server);
    }
    for e in events {
        if playback || e.kind.is_message() {
            line(s, view, e, batch.then_some(reference));
        }
    }
    if batch {
        let _ = write!(s, ":{} BATCH -{reference}\r\n", view.server);
    }
}

/// One stored event as the line it was (or, for a join without extended-join, the line the
/// client would have seen).
fn line(s: &mut String, view: &View<'_>, e: &Stored, batch: Option<&str>) {
    let time = rfc3339(u64::try_from(e.time_ms).unwrap_or(0));
    let stamped = view.caps & caps::SERVER_TIME != 0;
    let mut tags = Vec::new();
    if let Some(reference) = batch {
        tags.push(Tag::new("batch", Some(reference.to_owned())));
    }
    if let Some(account) = e
        .account
        .as_ref()
        .filter(|_| view.caps & caps::ACCOUNT_TAG != 0)
    {
        tags.push(Tag::new("account", Some(account.clone())));
    }
    if stamped {
        tags.push(Tag::new("time", Some(time.clone())));
    }
    if view.caps & caps::MESSAGE_TAGS != 0 {
        tags.push(Tag::new("msgid", Some(e.msgid.clone())));
    }
    // No tag to carry the time: the text does, as `[YYYY-MM-DD HH:MM]`.
    let dated = |text: &str| match stamped {
        true => text.to_owned(),
        false => format!("[{}] {text}", time[..16].replace('T', " ")),
    };
    let target = e.target_name.clone();
    let msg = match e.kind {
        Kind::Privmsg => Message::new("PRIVMSG", [target]).with_param(dated(&e.text)),
        Kind::Notice => Message::new("NOTICE", [target]).with_param(dated(&e.text)),
        Kind::Action => Message::new("PRIVMSG", [target])
            .with_param(format!("\u{1}ACTION {}\u{1}", dated(&e.text))),
        Kind::Join if view.caps & caps::EXTENDED_JOIN != 0 => {
            let account = e.account.clone().unwrap_or_else(|| "*".to_owned());
            Message::new("JOIN", [target, account]).with_param(e.text.clone())
        }
        Kind::Join => Message::new("JOIN", [target]),
        Kind::Part if e.text.is_empty() => Message::new("PART", [target]),
        Kind::Part => Message::new("PART", [target]).with_param(e.text.clone()),
        Kind::Quit => Message::new("QUIT", Vec::<String>::new()).with_param(e.text.clone()),
        Kind::Topic => Message::new("TOPIC", [target]).with_param(e.text.clone()),
        Kind::Nick => Message::new("NICK", [e.text.clone()]),
        Kind::Kick => {
            let (victim, reason) = e.text.split_once(' ').unwrap_or((&e.text, ""));
            Message::new("KICK", [target, victim.to_owned()]).with_param(reason.to_owned())
        }
    };
    let mut msg = msg.with_prefix(e.source.clone());
    msg.tags = tags;
    // As the live lines are: a trailing parameter for text, none for a name alone.
    match e.kind {
        Kind::Nick => s.push_str(&msg.to_string()),
        Kind::Join if view.caps & caps::EXTENDED_JOIN == 0 => s.push_str(&msg.to_string()),
        _ => s.push_str(&msg.to_string_trailing()),
    }
    s.push_str("\r\n");
}
