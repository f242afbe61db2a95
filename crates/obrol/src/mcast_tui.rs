//! `obrol mcast` on a terminal: the terminal UI in front of the multicast peer.
//!
//! The peer's loop stays as in line mode: it reads typed lines from a channel and says what
//! happens through an [`Out`]. Here the lines come from the UI's input line and what happens
//! goes to the UI task, which keeps the chat (one buffer for the group, its peers as members)
//! and draws it. The UI task ends when the user quits (the terminal is given back at once,
//! while the peer may stay a little to repair its last messages) or when the peer is done.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use obrol_client::chat::{BufferKind, Chat, Kind, Line, Link};
use obrol_tui::{spawn_keys, Action, Clock, Screen, Ui};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::console::print_message;

/// The commands `obrol mcast` knows, for tab completion.
const COMMANDS: &[&str] = &["/me", "/nick", "/who", "/help", "/quit"];

/// Lines waiting for the screen; beyond it they are counted and said to be dropped.
const BACKLOG: usize = 4096;

/// Something for the UI to show.
#[derive(Debug)]
pub enum Shown {
    Line(Line),
    /// The peers present, besides us.
    Members(Vec<String>),
    /// Our own nick changed.
    Nick(String),
}

/// Where the peer's loop says what happens.
#[derive(Clone)]
pub enum Out {
    Stdout,
    Tui {
        tx: mpsc::Sender<Shown>,
        dropped: Arc<AtomicU64>,
    },
}

impl Out {
    /// One line as line mode prints it: `prefix` is `<nick>`, `* nick`, `*` (information) or
    /// `!` (an error).
    pub fn say(&self, prefix: &str, text: &str) {
        match self {
            Out::Stdout => print_message(prefix, text),
            Out::Tui { .. } => {
                let line = if let Some(nick) =
                    prefix.strip_prefix('<').and_then(|p| p.strip_suffix('>'))
                {
                    Line::new(Kind::Message, nick, text)
                } else if let Some(nick) = prefix.strip_prefix("* ") {
                    Line::new(Kind::Action, nick, text)
                } else if prefix == "!" {
                    Line::new(Kind::Error, "", text)
                } else {
                    Line::new(Kind::Event, "", text)
                };
                self.send(Shown::Line(line));
            }
        }
    }

    pub fn send(&self, shown: Shown) {
        if let Out::Tui { tx, dropped } = self {
            if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(shown) {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn is_tui(&self) -> bool {
        matches!(self, Out::Tui { .. })
    }
}

/// Starts the UI: returns the typed lines (as line mode's stdin would give them), the
/// [`Out`] to show things with, and the UI task.
pub fn start(
    group: &str,
    nick: &str,
) -> anyhow::Result<(mpsc::Receiver<String>, Out, JoinHandle<()>)> {
    let screen = Screen::start()?;
    let (lines_tx, lines_rx) = mpsc::channel(64);
    let (tx, rx) = mpsc::channel(BACKLOG);
    let dropped = Arc::new(AtomicU64::new(0));
    let mut chat = Chat::new(group, nick, group, BufferKind::Group);
    chat.link = Link::Connected;
    let task = tokio::spawn(ui(screen, chat, rx, lines_tx, dropped.clone()));
    Ok((lines_rx, Out::Tui { tx, dropped }, task))
}

fn leaving() {
    eprintln!(
        "obrol: leaving the group (staying up to 10 s to repair our last messages for whoever lost them; Ctrl-C leaves at once)"
    );
}

async fn ui(
    mut screen: Screen,
    mut chat: Chat,
    mut shown: mpsc::Receiver<Shown>,
    lines: mpsc::Sender<String>,
    dropped: Arc<AtomicU64>,
) {
    let mut ui = Ui::new(Clock::local());
    ui.page = usize::from(screen.rows().saturating_sub(4)).max(1);
    let (mut keys, _keys) = spawn_keys();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut told = 0;
    loop {
        let lost = dropped.load(Ordering::Relaxed);
        if lost > told {
            chat.add(
                0,
                Line::new(
                    Kind::Error,
                    "",
                    &format!(
                        "{} lines were not shown: the screen could not keep up",
                        lost - told
                    ),
                ),
            );
            told = lost;
        }
        if screen.draw(&chat, &ui).is_err() {
            break;
        }
        tokio::select! {
            event = keys.recv() => {
                let Some(event) = event else { break };
                match ui.on_event(event, &mut chat, COMMANDS) {
                    Action::Submit(line) => {
                        // Read as the peer reads it; what we say is shown as the others see
                        // it (nobody echoes it back).
                        use obrol_wire::plain::Command;
                        let nick = chat.nick.clone();
                        let quit = match obrol_wire::plain::parse(&line) {
                            Command::Say(text) if !text.is_empty() => {
                                chat.add(0, Line::new(Kind::Message, &nick, text));
                                false
                            }
                            Command::Me(text) => {
                                chat.add(0, Line::new(Kind::Action, &nick, text));
                                false
                            }
                            Command::Quit(_) => true,
                            _ => false,
                        };
                        if lines.send(line).await.is_err() {
                            break;
                        }
                        if quit {
                            drop(screen);
                            leaving();
                            return;
                        }
                    }
                    Action::Quit => {
                        let _ = lines.send("/quit".into()).await;
                        drop(screen);
                        leaving();
                        return;
                    }
                    Action::Redraw => {
                        let _ = screen.clear();
                    }
                    Action::Older | Action::None => {}
                }
            }
            got = shown.recv() => match got {
                None => break,
                Some(first) => {
                    // Everything already waiting, then one draw.
                    let mut next = Some(first);
                    while let Some(s) = next {
                        match s {
                            Shown::Line(line) => chat.add(0, line),
                            Shown::Members(nicks) => {
                                let b = &mut chat.buffers[0];
                                b.members = nicks.into_iter().map(|n| (n, String::new())).collect();
                                b.members.insert(chat.nick.clone(), String::new());
                            }
                            Shown::Nick(nick) => {
                                let b = &mut chat.buffers[0];
                                b.members.remove(&chat.nick);
                                b.members.insert(nick.clone(), String::new());
                                chat.nick = nick;
                            }
                        }
                        next = shown.try_recv().ok();
                    }
                }
            },
            _ = tick.tick() => {}
        }
    }
    drop(screen);
}
