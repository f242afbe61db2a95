//! The UI drawn on ratatui's test backend, screens compared as text.

use obrol_client::chat::{BufferKind, Chat, Kind, Line, Link};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::*;

/// 2026-12-01 09:30 UTC.
const T: i64 = 1_796_117_400_000;

fn chat() -> Chat {
    let mut chat = Chat::new(
        "127.0.0.1:6667",
        "ani",
        "127.0.0.1:6667",
        BufferKind::Server,
    );
    chat.link = Link::Connected;
    chat.lag = Some(3);
    let lobby = chat.buffer("#lobby", BufferKind::Room);
    let dev = chat.buffer("#dev", BufferKind::Room);
    let budi = chat.buffer("budi", BufferKind::Private);
    chat.show(lobby);
    {
        let b = &mut chat.buffers[lobby];
        b.topic = "kopi dan kode".into();
        for (n, p) in [("ani", ""), ("budi", "@"), ("cici", "+")] {
            b.members.insert(n.into(), p.into());
        }
        b.history_done = true;
    }
    let mut old = Line::new(Kind::Message, "cici", "pagi semua").at(T - 3_600_000);
    old.history = true;
    chat.add(lobby, old);
    chat.add(
        lobby,
        Line::new(Kind::Event, "budi", "budi joined #lobby").at(T),
    );
    chat.add(
        lobby,
        Line::new(
            Kind::Message,
            "budi",
            "ani: sudah makan? ini baris panjang yang harus dibungkus ke baris berikutnya di layar",
        )
        .at(T + 60_000),
    );
    chat.add(
        lobby,
        Line::new(Kind::Action, "ani", "tersenyum").at(T + 120_000),
    );
    chat.add(dev, Line::new(Kind::Message, "cici", "build hijau").at(T));
    chat.add(budi, Line::new(Kind::Message, "budi", "psst").at(T));
    chat
}

fn screen(chat: &Chat, ui: &Ui, width: u16, height: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    terminal
        .draw(|f| view::draw(f, chat, &ui.input, ui.clock))
        .expect("draw");
    let buffer = terminal.backend().buffer().clone();
    (0..height)
        .map(|y| {
            (0..width)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect()
}

#[test]
fn a_room_with_members_history_marks_and_a_wrapped_line() {
    let chat = chat();
    let mut ui = Ui::new(Clock::utc());
    ui.input.insert_str("halo bu");
    let got = screen(&chat, &ui, 100, 10);
    let want = [
        " #lobby — kopi dan kode",
        "1 127.0.0.1:6667 │                                                                │3 here",
        "2 #lobby         │-- start of history --                                          │@budi",
        "3 #dev         1 │08:30 <cici> pagi semua                                         │+cici",
        "4 budi        1! │09:30 -- budi joined #lobby                                     │ani",
        "                 │09:31 <budi> ani: sudah makan? ini baris panjang yang harus     │",
        "                 │             dibungkus ke baris berikutnya di layar             │",
        "                 │09:32 * ani tersenyum                                           │",
        " ani on 127.0.0.1:6667 | #lobby (3) | connected | lag 3 ms | act: 3,4!",
        "> halo bu",
    ];
    assert_eq!(got, want, "\n{}", got.join("\n"));
}

#[test]
fn a_narrow_terminal_drops_the_panels_and_a_lost_link_shows() {
    let mut chat = chat();
    chat.link = Link::Waiting {
        reason: "connection reset".into(),
        retry_at: obrol_client::chat::now_ms() + 4_000,
    };
    chat.lag = None;
    let ui = Ui::new(Clock::utc());
    let got = screen(&chat, &ui, 40, 6);
    assert_eq!(got[0], " #lobby — kopi dan kode");
    assert_eq!(
        got[1..4],
        [
            "             dibungkus ke baris",
            "             berikutnya di layar",
            "09:32 * ani tersenyum"
        ],
        "{got:#?}"
    );
    assert_eq!(
        got[4].trim_end(),
        " ani on 127.0.0.1:6667 | #lobby (3) | di"
    );
}

#[test]
fn keys_edit_switch_scroll_complete_and_quit() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut chat = chat();
    let mut ui = Ui::new(Clock::utc());
    let key = |c: KeyCode, m: KeyModifiers| Event::Key(KeyEvent::new(c, m));
    let none = KeyModifiers::NONE;
    let cmds = obrol_client::irc::COMMANDS;
    for c in "bu".chars() {
        ui.on_event(key(KeyCode::Char(c), none), &mut chat, cmds);
    }
    ui.on_event(key(KeyCode::Tab, none), &mut chat, cmds);
    assert_eq!(ui.input.text(), "budi: ");
    let sent = ui.on_event(key(KeyCode::Enter, none), &mut chat, cmds);
    assert_eq!(sent, Action::Submit("budi: ".into()));
    ui.on_event(key(KeyCode::Char('3'), KeyModifiers::ALT), &mut chat, cmds);
    assert_eq!(chat.active().name, "#dev");
    assert_eq!(chat.active().unread, 0, "shown: read");
    ui.on_event(
        key(KeyCode::Char('n'), KeyModifiers::CONTROL),
        &mut chat,
        cmds,
    );
    assert_eq!(chat.active().name, "budi");
    ui.on_event(
        key(KeyCode::Char('p'), KeyModifiers::CONTROL),
        &mut chat,
        cmds,
    );
    ui.on_event(
        key(KeyCode::Char('p'), KeyModifiers::CONTROL),
        &mut chat,
        cmds,
    );
    assert_eq!(chat.active().name, "#lobby");
    ui.page = 2;
    assert_eq!(
        ui.on_event(key(KeyCode::PageUp, none), &mut chat, cmds),
        Action::None
    );
    assert_eq!(chat.active().scroll, 1);
    assert_eq!(
        ui.on_event(key(KeyCode::PageUp, none), &mut chat, cmds),
        Action::Older
    );
    ui.on_event(key(KeyCode::PageDown, none), &mut chat, cmds);
    ui.on_event(key(KeyCode::PageDown, none), &mut chat, cmds);
    assert_eq!(chat.active().scroll, 0);
    ui.on_event(Event::Paste("satu\ndua".into()), &mut chat, cmds);
    assert_eq!(ui.input.text(), "satu dua");
    assert_eq!(
        ui.on_event(
            key(KeyCode::Char('d'), KeyModifiers::CONTROL),
            &mut chat,
            cmds
        ),
        Action::None
    );
    assert_eq!(
        ui.on_event(
            key(KeyCode::Char('c'), KeyModifiers::CONTROL),
            &mut chat,
            cmds
        ),
        Action::Quit
    );
}

/// Names from the network (a room, a nick, a member) reach the screen cleaned, and wide
/// graphemes wrap where ratatui draws them.
#[test]
fn hostile_names_are_cleaned_and_wide_graphemes_wrap_right() {
    let mut chat = Chat::new("hub", "ani\x1b[2J", "server", BufferKind::Server);
    chat.link = Link::Connected;
    let evil = chat.buffer("#a\x1b]0;pwned\x07", BufferKind::Room);
    chat.buffers[evil]
        .members
        .insert("m\x1b[31m".into(), String::new());
    chat.show(evil);
    chat.add(
        evil,
        Line::new(Kind::Message, "budi", &"❤️ ".repeat(30)).at(T),
    );
    let ui = Ui::new(Clock::utc());
    let got = screen(&chat, &ui, 100, 8);
    let all = got.join("\n");
    assert!(!all.contains('\x1b') && !all.contains('\x07'), "{all:?}");
    assert!(got[0].contains("#a�]0;pwned�"), "{got:#?}");
    // Wrapped where ratatui draws them: none cut off at the column's edge.
    assert_eq!(all.matches('❤').count(), 30, "{all}");
    let mut ui = Ui::new(Clock::utc());
    ui.input.complete(&["bu\x1b[2Jdi".to_string()], &[]);
    ui.input.insert_str("bu");
    ui.input.complete(&["bu\x1b[2Jdi".to_string()], &[]);
    assert!(!ui.input.text().contains('\x1b'));
}
