//! obrol's terminal UI: it draws a chat kept by `obrol-client` (the same model whichever
//! protocol fills it: the hub's IRC or a multicast group), edits the input line, and turns
//! keys into actions. The loops that connect it to a hub or a group live in the binary; this
//! crate knows no protocol and no socket.
//!
//! Keys: Enter sends; Up/Down walk what was typed; Tab completes nicks and commands;
//! Alt-1..9 (Alt-0: the tenth) and Ctrl-N/Ctrl-P or Alt-Right/Alt-Left switch buffers;
//! PageUp/PageDown scroll (past the top asks for older history); Ctrl-A/E/W/U/K edit as in a
//! shell; Ctrl-L redraws; Ctrl-C (or Ctrl-D on an empty line) quits.

pub mod input;
mod term;
pub mod view;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use obrol_client::chat::Chat;
use tokio::sync::mpsc;

pub use input::Input;
pub use term::Screen;
pub use view::Clock;

/// What a key asks of the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    None,
    /// A typed line, to be sent or run as a command.
    Submit(String),
    /// The user scrolled past the oldest line of the shown buffer.
    Older,
    /// Clear the screen and draw it all again.
    Redraw,
    Quit,
}

/// The UI's own state beside the chat: the input line and how to show times.
#[derive(Debug)]
pub struct Ui {
    pub input: Input,
    pub clock: Clock,
    /// Rows the log had at the last draw (how far a page scrolls).
    pub page: usize,
}

impl Ui {
    pub fn new(clock: Clock) -> Ui {
        Ui {
            input: Input::new(),
            clock,
            page: 20,
        }
    }

    /// Acts on a terminal event; `commands` are what Tab completes after a `/`.
    pub fn on_event(&mut self, event: Event, chat: &mut Chat, commands: &[&str]) -> Action {
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => {
                self.on_key(key, chat, commands)
            }
            Event::Paste(text) => {
                self.input.insert_str(&text);
                Action::None
            }
            Event::Resize(_, rows) => {
                self.page = usize::from(rows.saturating_sub(4)).max(1);
                Action::Redraw
            }
            _ => Action::None,
        }
    }

    fn on_key(&mut self, key: KeyEvent, chat: &mut Chat, commands: &[&str]) -> Action {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let n = chat.buffers.len();
        // Some terminals send a line feed (Ctrl-J) for Enter.
        let code = match key.code {
            KeyCode::Char('j') if ctrl => KeyCode::Enter,
            code => code,
        };
        match code {
            KeyCode::Char('c') if ctrl => return Action::Quit,
            KeyCode::Char('d') if ctrl && self.input.is_empty() => return Action::Quit,
            KeyCode::Char('d') if ctrl => self.input.delete(),
            KeyCode::Char('l') if ctrl => return Action::Redraw,
            KeyCode::Char('a') if ctrl => self.input.home(),
            KeyCode::Char('e') if ctrl => self.input.end(),
            KeyCode::Char('w') if ctrl => self.input.delete_word(),
            KeyCode::Char('u') if ctrl => self.input.kill_before(),
            KeyCode::Char('k') if ctrl => self.input.kill_after(),
            KeyCode::Char('n') if ctrl => chat.show((chat.active + 1) % n),
            KeyCode::Char('p') if ctrl => chat.show((chat.active + n - 1) % n),
            KeyCode::Right if alt => chat.show((chat.active + 1) % n),
            KeyCode::Left if alt => chat.show((chat.active + n - 1) % n),
            KeyCode::Char(c) if alt && c.is_ascii_digit() => {
                let i = match c.to_digit(10).unwrap_or(0) {
                    0 => 9,
                    d => d as usize - 1,
                };
                chat.show(i);
            }
            KeyCode::Char(_) if ctrl || alt => {}
            KeyCode::Char(c) => self.input.insert(c),
            KeyCode::Enter => {
                let line = self.input.submit();
                if !line.is_empty() {
                    chat.active_mut().scroll = 0;
                    return Action::Submit(line);
                }
            }
            KeyCode::Backspace => self.input.backspace(),
            KeyCode::Delete => self.input.delete(),
            KeyCode::Left => self.input.left(),
            KeyCode::Right => self.input.right(),
            KeyCode::Home => self.input.home(),
            KeyCode::End => self.input.end(),
            KeyCode::Up => self.input.older(),
            KeyCode::Down => self.input.newer(),
            KeyCode::Tab => {
                let nicks: Vec<String> = chat.active().members.keys().cloned().collect();
                self.input.complete(&nicks, commands);
            }
            KeyCode::PageUp => {
                let step = (self.page / 2).max(1);
                let b = chat.active_mut();
                let most = b.lines.len().saturating_sub(1);
                let at_top = b.scroll >= most;
                b.scroll = (b.scroll + step).min(most);
                if at_top || b.scroll + self.page >= b.lines.len() {
                    return Action::Older;
                }
            }
            KeyCode::PageDown => {
                let step = (self.page / 2).max(1);
                let b = chat.active_mut();
                b.scroll = b.scroll.saturating_sub(step);
            }
            _ => {}
        }
        Action::None
    }
}

/// Reads terminal events on a thread of its own (a blocking read cannot be cancelled) and
/// hands them over a channel; the thread ends when the returned guard is dropped.
pub fn spawn_keys() -> (mpsc::Receiver<Event>, KeysGuard) {
    let (tx, rx) = mpsc::channel(256);
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let _ = std::thread::Builder::new()
        .name("keys".into())
        .spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match crossterm::event::poll(Duration::from_millis(100)) {
                    Ok(true) => match crossterm::event::read() {
                        Ok(event) => {
                            if tx.blocking_send(event).is_err() {
                                return;
                            }
                        }
                        Err(_) => return,
                    },
                    Ok(false) => {}
                    Err(_) => return,
                }
            }
        });
    (rx, KeysGuard { stop })
}

/// Stops the key reader when dropped.
pub struct KeysGuard {
    stop: Arc<AtomicBool>,
}

impl Drop for KeysGuard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
