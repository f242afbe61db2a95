//! Terminal plumbing shared by the subcommands: stdin lines and sanitised output.
//!
//! Stdin is read on a plain OS thread, not through the async runtime: a blocking read of a
//! terminal cannot be cancelled, and tokio's stdin would keep the runtime from shutting down
//! while it waits. The thread hands lines over a bounded channel and simply dies with the
//! process.

use std::io::{BufRead, Write};

use tokio::sync::mpsc;

/// Longest stdin line passed on; longer input is cut here rather than buffered without limit.
const MAX_INPUT_LINE: usize = 64 * 1024;

/// Starts the stdin reader. The receiver yields lines without their terminator (invalid UTF-8
/// replaced) and closes on end of input.
pub fn stdin_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(64);
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            let mut input = stdin.lock();
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match std::io::Read::take(&mut input, MAX_INPUT_LINE as u64)
                    .read_until(b'\n', &mut buf)
                {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                while matches!(buf.last(), Some(b'\n' | b'\r')) {
                    buf.pop();
                }
                let line = String::from_utf8_lossy(&buf).into_owned();
                if tx.blocking_send(line).is_err() {
                    return;
                }
            }
        })
        .ok();
    rx
}

/// Prints `text` as one or more lines, each starting with `prefix`, and flushes.
///
/// Text from the network may hold newlines or terminal control sequences: each embedded line
/// gets the prefix (so nobody can fake a line from someone else) and control characters are
/// replaced.
pub fn print_message(prefix: &str, text: &str) {
    // The prefix holds a peer's nick: cleaned like the text (a nick with an escape sequence
    // or a newline must not reach the terminal as one), whatever checked it before.
    let prefix: String = prefix
        .chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    let prefix = prefix.as_str();
    let mut out = std::io::stdout().lock();
    let mut pieces = text.split('\n').peekable();
    while let Some(piece) = pieces.next() {
        let piece = piece.strip_suffix('\r').unwrap_or(piece);
        if piece.is_empty() && pieces.peek().is_none() && !text.is_empty() {
            break; // a trailing newline is not an extra empty line
        }
        let clean: String = piece
            .chars()
            .map(|c| {
                if c.is_control() && c != '\t' {
                    '\u{fffd}'
                } else {
                    c
                }
            })
            .collect();
        let line = if prefix.is_empty() {
            clean
        } else if clean.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix} {clean}")
        };
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
    let _ = out.flush();
}

/// Whether to show the terminal UI: stdin and stdout are a terminal, and line mode was not
/// asked for.
pub fn wants_tui(plain: bool) -> bool {
    use std::io::IsTerminal;
    !plain && std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The login name, for a default nick.
pub fn user_name() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "anon".into())
}
