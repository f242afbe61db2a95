//! `obrol connect` on a terminal: the terminal UI over IRC to the hub (any IRC server works),
//! with history on join and scrolling back, and reconnecting with back-off.
//!
//! One task: the keys (from their thread), the connection's lines, the reconnect timer and a
//! one-second tick wait together in a `select!`, so receiving never waits for typing and the
//! screen is redrawn after whatever happened.

use std::time::Duration;

use anyhow::Context;
use obrol_client::chat::{now_ms, Kind};
use obrol_client::irc::{Config, Flow, Session, COMMANDS};
use obrol_client::{Backoff, ClientError, Connection, Incoming, TlsOptions};
use obrol_tui::{spawn_keys, Action, Clock, Screen, Ui};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::console::shutdown_signal;

/// How long `/quit` waits for the server to close after the QUIT went out.
const QUIT_GRACE: Duration = Duration::from_secs(1);

/// Longest a write to the server may wait (a server that stops reading): then the connection
/// counts as lost, and the UI never freezes on it.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Target {
    pub addr: String,
    pub tls: Option<TlsOptions>,
    pub nick: String,
    pub rooms: Vec<String>,
    pub password: Option<String>,
}

type Connecting = JoinHandle<Result<Connection, ClientError>>;

fn connect(addr: &str, tls: &Option<TlsOptions>) -> Connecting {
    let addr = addr.to_owned();
    let tls = tls.clone();
    tokio::spawn(async move { Connection::open(&addr, tls.as_ref()).await })
}

pub async fn run(target: Target) -> anyhow::Result<()> {
    // The first attempt is made before the terminal is taken: a wrong address is said plainly
    // and exits 1, as in line mode.
    let mut conn = Some(Connection::open(&target.addr, target.tls.as_ref()).await?);
    let mut session = Session::new(
        Config {
            nick: target.nick.clone(),
            password: target.password.clone(),
            rooms: target.rooms.clone(),
        },
        &target.addr,
    );
    session.connected();
    let mut screen = Screen::start().context("setting up the terminal")?;
    let mut ui = Ui::new(Clock::local());
    ui.page = usize::from(screen.rows().saturating_sub(4)).max(1);
    let (mut keys, _keys) = spawn_keys();
    let mut backoff = Backoff::new();
    let mut connecting: Option<Connecting> = None;
    let mut retry_at: Option<Instant> = None;
    let mut registered = false;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut quitting: Option<Instant> = None;

    loop {
        // What the session wants sent goes out before anything else happens.
        let out = session.take_output();
        if let Some(c) = conn.as_mut() {
            let mut text = String::new();
            for line in out {
                text.push_str(&line);
                text.push_str("\r\n");
            }
            if !text.is_empty() {
                let failed = match tokio::time::timeout(SEND_TIMEOUT, c.send(&text)).await {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(_) => Some("the server stopped reading".to_owned()),
                };
                if let Some(reason) = failed {
                    registered = false;
                    lost(
                        &mut session,
                        &mut conn,
                        &mut retry_at,
                        &mut backoff,
                        &reason,
                    );
                }
            }
        }
        if quitting.is_some() && conn.is_none() {
            break;
        }
        screen.draw(&session.chat, &ui)?;
        tokio::select! {
            event = keys.recv() => {
                let Some(event) = event else { break };
                match ui.on_event(event, &mut session.chat, COMMANDS) {
                    Action::Submit(line) => {
                        if session.command(&line) == Flow::Quit {
                            quitting = Some(Instant::now() + QUIT_GRACE);
                            if conn.is_none() {
                                break;
                            }
                        }
                    }
                    Action::Quit => {
                        session.command("/quit");
                        quitting = Some(Instant::now() + QUIT_GRACE);
                        if conn.is_none() {
                            break;
                        }
                    }
                    Action::Older => session.want_older(),
                    Action::Redraw => screen.clear()?,
                    Action::None => {}
                }
            }
            incoming = async {
                match conn.as_mut() {
                    Some(c) => c.next().await,
                    None => std::future::pending().await,
                }
            }, if conn.is_some() => {
                match incoming {
                    Ok(Incoming::Line(line)) => {
                        session.handle(&line);
                        // Registered: the server took us. (One that greets and closes, a
                        // throttle, keeps the back-off growing.)
                        if session.registered() && !registered {
                            registered = true;
                            backoff.reset();
                        }
                    }
                    Ok(Incoming::TooLong(max)) => session
                        .chat
                        .info(Kind::Error, &format!("a line longer than {max} bytes was skipped")),
                    Ok(Incoming::Closed) if quitting.is_some() => break,
                    Ok(Incoming::Closed) => {
                        registered = false;
                        lost(&mut session, &mut conn, &mut retry_at, &mut backoff, "the server closed the connection");
                    }
                    Err(_) if quitting.is_some() => break,
                    Err(e) => {
                        registered = false;
                        lost(&mut session, &mut conn, &mut retry_at, &mut backoff, &e.to_string());
                    }
                }
            }
            () = async {
                match retry_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            }, if retry_at.is_some() && connecting.is_none() => {
                retry_at = None;
                connecting = Some(connect(&target.addr, &target.tls));
                session.chat.link = obrol_client::chat::Link::Connecting;
            }
            made = async {
                match connecting.as_mut() {
                    Some(task) => task.await,
                    None => std::future::pending().await,
                }
            }, if connecting.is_some() => {
                connecting = None;
                match made {
                    Ok(Ok(c)) => {
                        conn = Some(c);
                        session.chat.info(Kind::Info, "connected again");
                        session.connected();
                    }
                    Ok(Err(e)) => retry(&mut session, &mut retry_at, &mut backoff, &e.to_string()),
                    Err(e) => retry(&mut session, &mut retry_at, &mut backoff, &e.to_string()),
                }
            }
            _ = tick.tick() => {
                session.tick(now_ms());
                if conn.is_some() && session.stale(now_ms()) {
                    registered = false;
                    let why = "no answer from the server for 90 s";
                    lost(&mut session, &mut conn, &mut retry_at, &mut backoff, why);
                }
                if quitting.is_some_and(|end| Instant::now() >= end) {
                    break;
                }
            }
            _ = &mut shutdown => {
                session.command("/quit");
                if let Some(c) = conn.as_mut() {
                    for line in session.take_output() {
                        let _ = tokio::time::timeout(QUIT_GRACE, c.send_line(&line)).await;
                    }
                }
                break;
            }
        }
    }
    drop(screen);
    Ok(())
}

/// The connection is gone: says so and sets the time of the next attempt.
fn lost(
    session: &mut Session,
    conn: &mut Option<Connection>,
    retry_at: &mut Option<Instant>,
    backoff: &mut Backoff,
    reason: &str,
) {
    *conn = None;
    let delay = backoff.next_delay();
    *retry_at = Some(Instant::now() + delay);
    session.disconnected(reason, Some(now_ms() + delay.as_millis() as i64));
}

/// An attempt to connect again failed: says so (in the server's buffer) and sets the next.
fn retry(
    session: &mut Session,
    retry_at: &mut Option<Instant>,
    backoff: &mut Backoff,
    reason: &str,
) {
    let delay = backoff.next_delay();
    *retry_at = Some(Instant::now() + delay);
    session.retry_failed(reason, now_ms() + delay.as_millis() as i64);
}
