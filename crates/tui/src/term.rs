//! The terminal in the UI's mode (raw, the alternate screen, bracketed paste) and back as it
//! was however the program ends: dropped, or a panic.

use std::io::{self, Stdout};

use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use obrol_client::chat::Chat;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use crate::Ui;

/// The terminal while the UI owns it.
pub struct Screen {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), DisableBracketedPaste, LeaveAlternateScreen);
    let _ = execute!(io::stdout(), crossterm::cursor::Show);
}

impl Screen {
    /// Takes the terminal over. A panic from here on puts it back before the message prints.
    pub fn start() -> io::Result<Screen> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        enable_raw_mode()?;
        let mut out = io::stdout();
        if let Err(e) = execute!(out, EnterAlternateScreen, EnableBracketedPaste) {
            restore();
            return Err(e);
        }
        let terminal = match Terminal::new(CrosstermBackend::new(out)) {
            Ok(t) => t,
            Err(e) => {
                restore();
                return Err(e);
            }
        };
        Ok(Screen { terminal })
    }

    /// Rows the terminal has.
    pub fn rows(&self) -> u16 {
        self.terminal.size().map_or(24, |s| s.height)
    }

    pub fn draw(&mut self, chat: &Chat, ui: &Ui) -> io::Result<()> {
        self.terminal
            .draw(|frame| crate::view::draw(frame, chat, &ui.input, ui.clock))?;
        Ok(())
    }

    /// Forgets what is on the screen, so the next draw paints all of it (Ctrl-L, a resize).
    pub fn clear(&mut self) -> io::Result<()> {
        self.terminal.clear()
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}
