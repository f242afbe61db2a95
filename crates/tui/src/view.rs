//! Drawing a [`Chat`]: buffers on the left, the shown buffer's lines in the middle, its members
//! on the right (on a wide enough terminal), a title, a status bar and the input line.

use obrol_client::chat::clean;
use obrol_client::chat::{Buffer, BufferKind, Chat, Kind, Line, Link, Millis};
use ratatui::layout::{Constraint, Direction, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as TextLine, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

use crate::input::Input;

/// Width of the buffer list.
const SIDE: u16 = 18;
/// Width of the member list.
const MEMBERS: u16 = 18;
/// The terminal must be at least this wide to show the member list.
const WIDE: u16 = 90;

/// Colours nicks are drawn in, chosen by a hash of the nick (so a nick keeps its colour).
const NICK_COLOURS: [Color; 10] = [
    Color::Red,
    Color::Green,
    Color::Yellow,
    Color::Blue,
    Color::Magenta,
    Color::Cyan,
    Color::LightRed,
    Color::LightGreen,
    Color::LightBlue,
    Color::LightMagenta,
];

pub fn nick_colour(nick: &str) -> Color {
    let h = nick.to_lowercase().bytes().fold(2166136261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16777619)
    });
    NICK_COLOURS[(h % NICK_COLOURS.len() as u32) as usize]
}

/// How times are shown: `HH:MM` in the local time zone, given as seconds east of UTC.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub offset_secs: i64,
}

impl Clock {
    /// The local time zone's offset now.
    pub fn local() -> Clock {
        let now = obrol_client::chat::now_ms() / 1000;
        // SAFETY: localtime_r fills `tm` from a valid time_t; both live on this stack.
        let offset = unsafe {
            let t: libc::time_t = now as libc::time_t;
            let mut tm: libc::tm = std::mem::zeroed();
            if libc::localtime_r(&t, &mut tm).is_null() {
                0
            } else {
                tm.tm_gmtoff
            }
        };
        Clock {
            offset_secs: offset,
        }
    }

    pub fn utc() -> Clock {
        Clock { offset_secs: 0 }
    }

    pub fn hh_mm(&self, ms: Millis) -> String {
        let secs = (ms.div_euclid(1000) + self.offset_secs).rem_euclid(86_400);
        format!("{:02}:{:02}", secs / 3600, secs % 3600 / 60)
    }
}

/// Draws everything.
pub fn draw(frame: &mut Frame, chat: &Chat, input: &Input, clock: Clock) {
    let area = frame.area();
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .split(area);
    let b = chat.active();
    let show_side = area.width >= 50;
    let show_members = area.width >= WIDE && matches!(b.kind, BufferKind::Room | BufferKind::Group);
    let mut columns = Vec::new();
    if show_side {
        columns.push(Constraint::Length(SIDE));
    }
    columns.push(Constraint::Min(10));
    if show_members {
        columns.push(Constraint::Length(MEMBERS));
    }
    let cols = Layout::default()
        .direction(Direction::Horizontal)
        .constraints(columns)
        .split(rows[1]);
    title(frame, rows[0], b);
    let mut next = 0;
    if show_side {
        side(frame, cols[0], chat);
        next = 1;
    }
    log(frame, cols[next], b, clock);
    if show_members {
        members(frame, cols[next + 1], b);
    }
    status(frame, rows[2], chat);
    input_line(frame, rows[3], input);
}

fn title(frame: &mut Frame, area: Rect, b: &Buffer) {
    let mut spans = vec![Span::styled(
        format!(" {} ", clean(&b.name)),
        Style::default().add_modifier(Modifier::BOLD),
    )];
    if !b.topic.is_empty() {
        spans.push(Span::raw(format!("— {}", b.topic)));
    }
    frame.render_widget(
        Paragraph::new(TextLine::from(spans)).style(Style::default().bg(Color::DarkGray)),
        area,
    );
}

fn side(frame: &mut Frame, area: Rect, chat: &Chat) {
    let width = area.width.saturating_sub(2) as usize;
    let lines: Vec<TextLine> = chat
        .buffers
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mark = if b.mention {
                format!("{}!", b.unread.max(1))
            } else if b.unread > 0 {
                b.unread.to_string()
            } else {
                String::new()
            };
            let name_width = if mark.is_empty() {
                width
            } else {
                width.saturating_sub(mark.len() + 1)
            };
            let label = format!("{} {}", i + 1, clean(&b.name));
            let text = format!("{:<name_width$.name_width$} {mark}", label);
            let mut style = Style::default();
            if b.parted {
                style = style.fg(Color::DarkGray);
            } else if b.mention {
                style = style.fg(Color::LightRed).add_modifier(Modifier::BOLD);
            } else if b.unread > 0 {
                style = style.add_modifier(Modifier::BOLD);
            }
            if i == chat.active {
                style = style.add_modifier(Modifier::REVERSED);
            }
            TextLine::from(Span::styled(text, style))
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::RIGHT)),
        area,
    );
}

fn members(frame: &mut Frame, area: Rect, b: &Buffer) {
    let rank = |p: &str| match p {
        "~" => 0,
        "&" => 1,
        "@" => 2,
        "%" => 3,
        "+" => 4,
        _ => 5,
    };
    let mut list: Vec<(&String, &String)> = b.members.iter().collect();
    list.sort_by(|x, y| {
        rank(x.1)
            .cmp(&rank(y.1))
            .then_with(|| x.0.to_lowercase().cmp(&y.0.to_lowercase()))
    });
    let mut lines = vec![TextLine::from(Span::styled(
        format!("{} here", list.len()),
        Style::default().add_modifier(Modifier::DIM),
    ))];
    lines.extend(list.into_iter().map(|(nick, prefix)| {
        TextLine::from(vec![
            Span::raw(prefix.clone()),
            Span::styled(clean(nick), Style::default().fg(nick_colour(nick))),
        ])
    }));
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::LEFT)),
        area,
    );
}

/// The pieces of one line before wrapping: (text, style) runs.
fn pieces(line: &Line, clock: Clock) -> (Vec<(String, Style)>, usize) {
    let dim = Style::default().add_modifier(Modifier::DIM);
    let time_style = if line.history {
        dim.add_modifier(Modifier::ITALIC)
    } else {
        dim
    };
    let time = format!("{} ", clock.hh_mm(line.time));
    let nick = Style::default()
        .fg(nick_colour(&line.nick))
        .add_modifier(Modifier::BOLD);
    let mut text_style = Style::default();
    if line.mention {
        text_style = text_style.fg(Color::LightRed).add_modifier(Modifier::BOLD);
    }
    let mut out = vec![(time, time_style)];
    match line.kind {
        Kind::Message => {
            out.push((format!("<{}> ", line.nick), nick));
        }
        Kind::Action => {
            out.push(("* ".into(), text_style));
            out.push((format!("{} ", line.nick), nick));
        }
        Kind::Notice => out.push((format!("-{}- ", line.nick), nick)),
        Kind::Event | Kind::Info => {
            out.push(("-- ".into(), dim));
            text_style = dim;
        }
        Kind::Error => {
            out.push(("!! ".into(), Style::default().fg(Color::Red)));
            text_style = Style::default().fg(Color::Red);
        }
    }
    let indent = out.iter().map(|(t, _)| width_of(t)).sum();
    out.push((line.text.clone(), text_style));
    (out, indent)
}

/// Columns `s` takes, grapheme by grapheme as ratatui counts them.
fn width_of(s: &str) -> usize {
    s.graphemes(true).map(UnicodeWidthStr::width).sum()
}

/// One line wrapped to `width` columns at spaces where it can (inside a word too long for a
/// row); rows after the first start under the text.
fn wrap(line: &Line, width: usize, clock: Clock) -> Vec<TextLine<'static>> {
    let (pieces, indent) = pieces(line, clock);
    let indent = if indent * 2 > width { 2 } else { indent };
    // Cells are graphemes (an emoji with its variation selector is one, two columns wide).
    let cells: Vec<(&str, Style)> = pieces
        .iter()
        .flat_map(|(text, style)| text.graphemes(true).map(move |g| (g, *style)))
        .collect();
    let blank = |n: usize| vec![(" ", Style::default()); n];
    let mut rows: Vec<Vec<(&str, Style)>> = vec![Vec::new()];
    let mut used = 0;
    for (n, &(g, style)) in cells.iter().enumerate() {
        let w = g.width();
        if used + w > width && used > indent {
            // Break after the last space of this row when the text has one there.
            let text_start = if rows.len() == 1 {
                indent.min(n)
            } else {
                indent
            };
            let mut carried = Vec::new();
            if let Some(row) = rows.last_mut() {
                let space = row
                    .iter()
                    .rposition(|(c, _)| *c == " ")
                    .filter(|&i| i >= text_start);
                if let (Some(i), false) = (space, g == " ") {
                    carried = row.split_off(i + 1);
                    row.pop();
                }
            }
            used = indent + carried.iter().map(|(c, _)| c.width()).sum::<usize>();
            let mut next = blank(indent);
            next.extend(carried);
            rows.push(next);
            if g == " " {
                continue;
            }
        }
        if let Some(row) = rows.last_mut() {
            row.push((g, style));
        }
        used += w;
    }
    rows.into_iter()
        .map(|row| {
            let mut spans: Vec<Span<'static>> = Vec::new();
            let mut run = String::new();
            let mut run_style = Style::default();
            for (g, style) in row {
                if style != run_style && !run.is_empty() {
                    spans.push(Span::styled(std::mem::take(&mut run), run_style));
                }
                run_style = style;
                run.push_str(g);
            }
            if !run.is_empty() {
                spans.push(Span::styled(run, run_style));
            }
            TextLine::from(spans)
        })
        .collect()
}

fn log(frame: &mut Frame, area: Rect, b: &Buffer, clock: Clock) {
    let height = area.height as usize;
    let width = area.width.max(1) as usize;
    let end = b.lines.len().saturating_sub(b.scroll);
    let mut rows: Vec<TextLine> = Vec::new();
    for line in b.lines.range(..end).rev() {
        let mut wrapped = wrap(line, width, clock);
        while let Some(row) = wrapped.pop() {
            rows.push(row);
        }
        if rows.len() >= height {
            break;
        }
    }
    // Everything down to the oldest line fits: say whether history has more.
    if rows.len() < height && b.history_done && b.kind != BufferKind::Server {
        rows.push(TextLine::from(Span::styled(
            "-- start of history --",
            Style::default().add_modifier(Modifier::DIM),
        )));
    }
    rows.truncate(height);
    rows.reverse();
    // Bottom-aligned: the newest line sits on the last row.
    let top = height - rows.len();
    let area = Rect {
        y: area.y + top as u16,
        height: rows.len() as u16,
        ..area
    };
    frame.render_widget(Paragraph::new(rows), area);
}

fn status(frame: &mut Frame, area: Rect, chat: &Chat) {
    let b = chat.active();
    let link = match &chat.link {
        Link::Connecting => "connecting".to_owned(),
        Link::Connected => "connected".to_owned(),
        Link::Waiting { reason, retry_at } => {
            let secs = ((retry_at - obrol_client::chat::now_ms()).max(0) + 999) / 1000;
            format!("disconnected ({reason}), again in {secs} s")
        }
        Link::Closed(reason) => format!("closed: {reason}"),
    };
    let mut text = format!(
        " {} on {} | {}",
        clean(&chat.nick),
        clean(&chat.server),
        clean(&b.name)
    );
    if matches!(b.kind, BufferKind::Room | BufferKind::Group) {
        text.push_str(&format!(" ({})", b.members.len()));
    }
    text.push_str(&format!(" | {link}"));
    if let Some(lag) = chat.lag {
        text.push_str(&format!(" | lag {lag} ms"));
    }
    if b.scroll > 0 {
        text.push_str(&format!(" | scrolled back {} (PageDown)", b.scroll));
    }
    let others: Vec<String> = chat
        .buffers
        .iter()
        .enumerate()
        .filter(|(i, o)| *i != chat.active && o.unread > 0)
        .map(|(i, o)| format!("{}{}", i + 1, if o.mention { "!" } else { "" }))
        .collect();
    if !others.is_empty() {
        text.push_str(&format!(" | act: {}", others.join(",")));
    }
    let style = match chat.link {
        Link::Connected => Style::default().bg(Color::Blue).fg(Color::White),
        _ => Style::default().bg(Color::Red).fg(Color::White),
    };
    frame.render_widget(Paragraph::new(text).style(style), area);
}

fn input_line(frame: &mut Frame, area: Rect, input: &Input) {
    let prompt = "> ";
    let width = area.width as usize;
    let text = input.text();
    // The cursor is a character index; as a byte offset into the text:
    let at = text
        .char_indices()
        .nth(input.cursor())
        .map_or(text.len(), |(i, _)| i);
    // Scroll the line sideways, a grapheme at a time, so the cursor stays in view.
    let room = width.saturating_sub(prompt.len() + 1).max(1);
    let mut start = 0;
    let mut before = text[..at].width();
    for (i, g) in text[..at].grapheme_indices(true) {
        if before <= room {
            start = i;
            break;
        }
        before -= g.width();
        start = i + g.len();
    }
    let shown = &text[start..];
    let cursor_x = text[start..at].width();
    frame.render_widget(Paragraph::new(format!("{prompt}{shown}")), area);
    frame.set_cursor_position(Position {
        x: area.x + (prompt.len() + cursor_x).min(width.saturating_sub(1)) as u16,
        y: area.y,
    });
}
