//! `obrol mcast`: the multicast chat peer in line mode.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::Context;
use obrol_mcast::{Event, McastError, Mode, Peer, PeerConfig, Presence, SocketConfig};
use obrol_wire::mcast::MAX_NICK;

use crate::console::{shutdown_signal, stdin_lines, user_name};
use crate::mcast_tui::{Out, Shown};
use crate::UsageError;

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<McastCommand>,
    /// Multicast group to chat on (IPv4 224.0.0.0/4 or IPv6 ff00::/8).
    #[arg(long, default_value = "224.1.1.1")]
    group: IpAddr,
    /// UDP port of the group.
    #[arg(long, default_value_t = 5004)]
    port: u16,
    /// TTL (IPv4) or hop limit (IPv6) of sent datagrams: 2 is the seed's "2-hop restriction".
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=255))]
    ttl: u32,
    /// Interface to join on and send from, by name (eth0) or address.
    #[arg(long)]
    iface: Option<String>,
    /// Source-specific multicast: hear only what this address sends to the group (IGMPv3 or
    /// MLDv2 source filter; same family as the group).
    #[arg(long, value_name = "ADDR")]
    source: Option<IpAddr>,
    /// Do not loop our datagrams back to this host (peers on this host will not see us).
    #[arg(long)]
    no_loop: bool,
    /// Nick shown to others [default: your user name].
    #[arg(long)]
    nick: Option<String>,
    /// Only listen, never send (like the seed's receiver.py).
    #[arg(long, conflicts_with = "send_only")]
    listen_only: bool,
    /// Only send, never join (like the seed's sender.py).
    #[arg(long)]
    send_only: bool,
    /// Send each line as bare UTF-8, exactly what the seed's sender.py sends.
    #[arg(long)]
    raw: bool,
    /// Print counts on exit: sent, received, lost (given up), repaired, duplicates, NAKs and
    /// repairs, malformed datagrams.
    #[arg(long)]
    stats: bool,
    /// The group key, from a file `obrol mcast keygen` wrote: every datagram is sealed with it,
    /// and whatever is not sealed with it is dropped.
    #[arg(long, value_name = "PATH", conflicts_with = "passphrase_file")]
    key_file: Option<std::path::PathBuf>,
    /// Derive the group key from the passphrase in this file (its first line); the
    /// environment variable OBROL_MCAST_PASSPHRASE works too. Never give it on the command
    /// line: every local user can read that.
    #[arg(long, value_name = "PATH")]
    passphrase_file: Option<std::path::PathBuf>,
    /// Ask for the passphrase on the terminal (not echoed), and derive the group key from it.
    #[arg(long, conflicts_with_all = ["key_file", "passphrase_file"])]
    ask_passphrase: bool,
    /// With a key: sign with the identity in this file (created, readable by you only, if it
    /// does not exist), so your fingerprint stays the same from one session to the next and
    /// others can recognise you; without it, a new identity each time.
    #[arg(long, value_name = "PATH")]
    identity: Option<std::path::PathBuf>,
    /// A room name mixed into a passphrase's key: one passphrase, separate rooms.
    #[arg(long)]
    room: Option<String>,
    /// Most lines sent a second (a paste or a pipe is paced to it).
    #[arg(long, default_value_t = 2000.0, value_parser = positive_rate)]
    max_rate: f64,
    /// Line mode even on a terminal: lines in on stdin, out on stdout (pipes always get it).
    #[arg(long)]
    plain: bool,
    /// Seconds between presence heartbeats; a peer silent for 3.5 heartbeats has left.
    #[arg(long, default_value_t = 10.0, value_parser = positive_secs)]
    heartbeat: f64,
}

/// Longest a leaving peer stays to repair its last messages, and how long without a NAK
/// counts as nobody missing anything (longer than a receiver's slowest retry).
const LINGER: Duration = Duration::from_secs(10);
const QUIET: Duration = obrol_mcast::repair::NAK_RETRY_MAX.saturating_mul(2);

#[derive(clap::Subcommand, Debug)]
enum McastCommand {
    /// Write a new random group key to PATH (readable by you only), for --key-file.
    Keygen {
        /// Where to write the key; an existing file is not overwritten.
        path: std::path::PathBuf,
    },
    /// Measure the group: send stamped messages (--send), or receive and report.
    Bench {
        #[command(flatten)]
        bench: crate::mcast_bench::BenchArgs,
        /// Multicast group.
        #[arg(long, default_value = "224.1.1.1")]
        group: IpAddr,
        #[arg(long, default_value_t = 5004)]
        port: u16,
        #[arg(long, default_value_t = 2)]
        ttl: u32,
        /// Interface to join on and send from.
        #[arg(long)]
        iface: Option<String>,
        #[arg(long, default_value = "bench")]
        nick: String,
        /// Seal with the group key in this file.
        #[arg(long, value_name = "PATH")]
        key_file: Option<std::path::PathBuf>,
    },
}

fn positive_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (1.0..=1_000_000.0).contains(&v) => Ok(v),
        _ => Err("expected lines a second, from 1 to 1000000".into()),
    }
}

fn positive_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 3600.0 => Ok(v),
        _ => Err("expected seconds between 0 and 3600".into()),
    }
}

/// Whether `obrol mcast` shows the terminal UI: chatting (not a subcommand, not only
/// listening or sending, not --raw) on a terminal without --plain.
pub fn uses_tui(args: &Args) -> bool {
    args.command.is_none()
        && !args.listen_only
        && !args.send_only
        && !args.raw
        && crate::console::wants_tui(args.plain)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    match args.command {
        Some(McastCommand::Keygen { path }) => keygen(&path),
        Some(McastCommand::Bench {
            bench,
            group,
            port,
            ttl,
            iface,
            nick,
            key_file,
        }) => {
            let key = key_file.as_deref().map(read_key_file).transpose()?;
            let cfg = PeerConfig {
                socket: SocketConfig {
                    group,
                    port,
                    ttl,
                    iface,
                    // A bench sender does not need its own datagrams back: on a host of its
                    // own, the copy would only cost it.
                    loopback: !bench.sends(),
                    source: None,
                },
                mode: Mode::Both,
                nick,
                raw: false,
                key,
                identity: None,
            };
            rt.block_on(crate::mcast_bench::run(cfg, bench))
        }
        None => rt.block_on(chat(args)),
    }
}

/// Writes a new key to `path`, readable and writable by its owner only.
fn keygen(path: &std::path::Path) -> anyhow::Result<()> {
    let key = obrol_mcast::keys::GroupKey::generate();
    create_secret(path, &key.to_hex())?;
    eprintln!(
        "wrote a new group key to {}; give it to the group's members over a safe channel",
        path.display()
    );
    Ok(())
}

/// Creates `path` (not over an existing file) holding the line `hex`, readable and writable
/// by its owner only.
fn create_secret(path: &std::path::Path, hex: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| UsageError(format!("cannot create {}: {e}", path.display())))?;
    writeln!(file, "{hex}").with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Reads the identity in `path`, or makes a new one there (mode 0600) if there is none.
pub(crate) fn load_identity(path: &std::path::Path) -> anyhow::Result<obrol_mcast::keys::Identity> {
    match std::fs::read_to_string(path) {
        Ok(text) => obrol_mcast::keys::Identity::from_hex(&text)
            .map_err(|e| UsageError(format!("{}: {e}", path.display())).into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let identity = obrol_mcast::keys::Identity::generate();
            create_secret(path, &identity.to_hex())?;
            eprintln!(
                "obrol: wrote a new identity to {} (keep it to yourself)",
                path.display()
            );
            Ok(identity)
        }
        Err(e) => Err(UsageError(format!("cannot read {}: {e}", path.display())).into()),
    }
}

pub(crate) fn read_key_file(path: &std::path::Path) -> anyhow::Result<obrol_mcast::keys::GroupKey> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read the key file {}: {e}", path.display())))?;
    obrol_mcast::keys::GroupKey::from_hex(&text)
        .map_err(|e| UsageError(format!("{}: {e}", path.display())).into())
}

/// The group key the arguments name: a key file, a passphrase file or the environment.
fn group_key(args: &Args) -> anyhow::Result<Option<obrol_mcast::keys::GroupKey>> {
    if let Some(path) = &args.key_file {
        return read_key_file(path).map(Some);
    }
    let passphrase = match &args.passphrase_file {
        Some(path) => std::fs::read_to_string(path).map_err(|e| {
            UsageError(format!(
                "cannot read the passphrase file {}: {e}",
                path.display()
            ))
        })?,
        None if args.ask_passphrase => ask_passphrase()?,
        None => match std::env::var("OBROL_MCAST_PASSPHRASE") {
            Ok(p) => p,
            Err(_) => return Ok(None),
        },
    };
    let first = passphrase.lines().next().unwrap_or("");
    obrol_mcast::keys::GroupKey::from_passphrase(first, args.group, args.port, args.room.as_deref())
        .map(Some)
        .map_err(|e| UsageError(e.to_string()).into())
}

fn ask_passphrase() -> anyhow::Result<String> {
    ask_secret("passphrase: ", "--ask-passphrase")
}

/// Reads a secret from the controlling terminal with echo off (restored however the read
/// ends), after `prompt`; `flag` names the option that asked, for errors.
pub(crate) fn ask_secret(prompt: &str, flag: &str) -> anyhow::Result<String> {
    use std::io::{BufRead, Write};
    use std::os::fd::AsRawFd;
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| UsageError(format!("{flag} needs a terminal: {e}")))?;
    let fd = tty.as_raw_fd();
    // SAFETY: `termios` is plain data; tcgetattr fills it for a terminal fd we hold open.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return Err(UsageError(format!("{flag} needs a terminal")).into());
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: as above; the settings come from tcgetattr.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    let mut line = String::new();
    let read = (|| -> std::io::Result<()> {
        let mut out = &tty;
        out.write_all(prompt.as_bytes())?;
        out.flush()?;
        std::io::BufReader::new(&tty).read_line(&mut line)?;
        Ok(())
    })();
    // SAFETY: restores what tcgetattr returned.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    read.context("reading from the terminal")?;
    Ok(line)
}

fn usage(err: McastError) -> anyhow::Error {
    match err {
        McastError::Usage(msg) => UsageError(msg).into(),
        other => other.into(),
    }
}

fn default_nick() -> String {
    let mut nick = user_name();
    while nick.len() > MAX_NICK {
        nick.pop();
    }
    nick
}

async fn chat(args: Args) -> anyhow::Result<()> {
    let mode = if args.listen_only {
        Mode::ListenOnly
    } else if args.send_only {
        Mode::SendOnly
    } else {
        Mode::Both
    };
    let cfg = PeerConfig {
        socket: SocketConfig {
            group: args.group,
            port: args.port,
            ttl: args.ttl,
            iface: args.iface.clone(),
            loopback: !args.no_loop,
            source: args.source,
        },
        mode,
        nick: args.nick.clone().unwrap_or_else(default_nick),
        raw: args.raw,
        key: group_key(&args)?,
        identity: None,
    };
    if args.identity.is_some() && cfg.key.is_none() {
        return Err(UsageError(
            "--identity signs sealed frames: it needs a group key (--key-file or a passphrase)"
                .into(),
        )
        .into());
    }
    let cfg = PeerConfig {
        identity: args.identity.as_deref().map(load_identity).transpose()?,
        ..cfg
    };
    if cfg.key.is_some() && args.raw {
        return Err(
            UsageError("--raw sends plain text: it cannot be used with a key".into()).into(),
        );
    }
    let mut peer = Peer::start(cfg).await.map_err(usage)?;
    tracing::info!(group = %args.group, port = args.port, id = peer.id(), "peer started");
    if let Some(fp) = peer.fingerprint() {
        eprintln!(
            "obrol: your key's fingerprint is {} (others see it next to your nick)",
            obrol_mcast::keys::show_fingerprint(fp)
        );
    }

    let heartbeat = Duration::from_secs_f64(args.heartbeat);
    let timeout = heartbeat.mul_f64(3.5);
    let mut beat = tokio::time::interval(heartbeat);
    beat.reset(); // the start-up hello was the first beat
    let mut sweep = tokio::time::interval(heartbeat.min(Duration::from_secs(1)));
    let tui = uses_tui(&args);
    let (mut lines, out, ui) = if tui {
        let group = std::net::SocketAddr::new(args.group, args.port).to_string();
        let (lines, out, ui) = crate::mcast_tui::start(&group, peer.nick())?;
        (Some(lines), out, Some(ui))
    } else {
        (
            (mode != Mode::ListenOnly).then(stdin_lines),
            Out::Stdout,
            None,
        )
    };
    if let (Some(fp), true) = (peer.fingerprint(), out.is_tui()) {
        out.say(
            "*",
            &format!(
                "your key's fingerprint is {} (others see it next to your nick)",
                obrol_mcast::keys::show_fingerprint(fp)
            ),
        );
    }
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    // Once input ends (or /quit), the peer stays a little to repair its last messages for
    // whoever lost them, then says goodbye; a signal ends it at once.
    let mut leaving: Option<tokio::time::Instant> = None;
    let mut settle = tokio::time::interval(Duration::from_millis(50));
    // Lines go out at most --max-rate a second (a pipe must not outrun the receivers, which
    // then lose, ask and make everyone's repairs crowd the group).
    let per_line = Duration::from_secs_f64(1.0 / args.max_rate);
    let mut send_at = tokio::time::Instant::now();

    loop {
        let may_send = tokio::time::Instant::now() >= send_at;
        tokio::select! {
            () = tokio::time::sleep_until(send_at), if !may_send => {}
            line = async { lines.as_mut()?.recv().await }, if lines.is_some() && leaving.is_none() && may_send => {
                let quit = match line {
                    Some(line) => {
                        // Lines that are already waiting (a paste, a pipe) go out together:
                        // one system call for a batch (see `Peer::say_many`).
                        let mut waiting = vec![line];
                        if let Some(rx) = lines.as_mut() {
                            while waiting.len() < obrol_mcast::socket::SEND_BATCH {
                                match rx.try_recv() {
                                    Ok(more) => waiting.push(more),
                                    Err(_) => break,
                                }
                            }
                        }
                        send_at = send_at.max(tokio::time::Instant::now())
                            + per_line * waiting.len() as u32;
                        !handle_lines(&mut peer, &waiting, args.raw, &out).await
                    }
                    None => true,
                };
                if quit {
                    leaving = Some(tokio::time::Instant::now() + LINGER);
                }
            }
            _ = settle.tick(), if leaving.is_some() => {
                if peer.settled(QUIET) || leaving.is_some_and(|end| tokio::time::Instant::now() >= end) {
                    break;
                }
                // While it waits, a Hello every 50 ms tells receivers that lost our last
                // messages (and the Hellos right after them) what to ask for.
                if let Err(err) = peer.heartbeat().await {
                    tracing::warn!(%err, "heartbeat failed");
                }
            }
            event = peer.next_event() => match event {
                Ok(event) => {
                    show(&peer, &event, &out);
                    members(&peer, &out, &event);
                }
                Err(err) => tracing::warn!(%err, "receive failed"),
            },
            _ = beat.tick() => {
                if let Err(err) = peer.heartbeat().await {
                    tracing::warn!(%err, "heartbeat failed");
                }
            }
            _ = sweep.tick() => {
                for event in peer.expire(timeout) {
                    show(&peer, &event, &out);
                    members(&peer, &out, &event);
                }
            }
            _ = &mut shutdown => break,
        }
    }
    // The terminal is given back before the peer's last words.
    drop(out);
    if let Some(ui) = ui {
        let _ = ui.await;
    }
    if let Err(err) = peer.leave().await {
        tracing::warn!(%err, "goodbye failed");
    }
    if args.stats {
        let s = peer.stats();
        eprintln!(
            "stats: sent={} received={} lost={} repaired={} duplicates={} reordered={} \
             naks_sent={} naks_suppressed={} repairs_sent={} parity_sent={} recovered={} \
             implausible={} malformed={} legacy={} \
             refused={} unauthenticated={} undecryptable={} replayed={} stale={} members={}",
            s.sent,
            s.received,
            s.repair.lost,
            s.repair.repaired,
            s.repair.duplicates,
            s.repair.reordered,
            s.repair.naks_sent,
            s.repair.naks_suppressed,
            s.repairs_sent,
            s.parity_sent,
            s.recovered,
            s.repair.implausible,
            s.malformed,
            s.legacy,
            s.refused,
            s.unauthenticated,
            s.undecryptable,
            s.replayed,
            s.stale,
            peer.roster().len()
        );
    }
    Ok(())
}

/// Acts on typed lines in order, sending runs of chat lines as one batch; returns false when
/// the user asked to quit (lines after that are not sent).
async fn handle_lines(peer: &mut Peer, lines: &[String], raw: bool, out: &Out) -> bool {
    let is_chat = |l: &str| {
        raw || matches!(obrol_wire::plain::parse(l), obrol_wire::plain::Command::Say(t) if !t.is_empty())
    };
    let mut rest = lines;
    while let Some(first) = rest.first() {
        let run = rest.iter().take_while(|l| is_chat(l)).count();
        if run > 1 {
            let texts = rest[..run].iter().map(|l| {
                if raw {
                    l.as_str()
                } else {
                    match obrol_wire::plain::parse(l) {
                        obrol_wire::plain::Command::Say(t) => t,
                        _ => l.as_str(),
                    }
                }
            });
            match peer.say_many(texts, false).await {
                Ok(refused) => {
                    for (_, err) in refused {
                        out.say("!", &err.to_string());
                    }
                }
                Err(err) => out.say("!", &err.to_string()),
            }
            rest = &rest[run..];
            continue;
        }
        if !handle_line(peer, first, raw, out).await {
            return false;
        }
        rest = &rest[1..];
    }
    true
}

/// Acts on one typed line; returns false when the user asked to quit.
async fn handle_line(peer: &mut Peer, line: &str, raw: bool, out: &Out) -> bool {
    if raw {
        // Exactly what sender.py would send, empty lines included.
        if let Err(err) = peer.say(line, false).await {
            out.say("!", &err.to_string());
        }
        return true;
    }
    let result = match obrol_wire::plain::parse(line) {
        obrol_wire::plain::Command::Say("") => Ok(()),
        obrol_wire::plain::Command::Say(text) => peer.say(text, false).await,
        obrol_wire::plain::Command::Me(text) => peer.say(text, true).await,
        obrol_wire::plain::Command::Nick(nick) => {
            let r = peer.set_nick(nick).await;
            if r.is_ok() {
                out.send(Shown::Nick(nick.to_owned()));
            }
            r
        }
        obrol_wire::plain::Command::Who(_) => {
            let mut nicks = peer.roster().nicks();
            nicks.dedup();
            let nicks: Vec<String> = nicks.iter().map(|n| who_is(peer, n).0).collect();
            out.say(
                "*",
                &format!(
                    "{} here besides you: {}",
                    peer.roster().len(),
                    nicks.join(" ")
                ),
            );
            Ok(())
        }
        obrol_wire::plain::Command::Quit(_) => return false,
        obrol_wire::plain::Command::Help => {
            out.say(
                "*",
                "type a line to send it; /me ACTION, /nick NAME, /who, /quit; //text sends /text",
            );
            Ok(())
        }
        obrol_wire::plain::Command::Usage(how) => {
            out.say("!", &format!("usage: {how}"));
            Ok(())
        }
        _ => {
            out.say("!", "not a multicast command; try /help");
            Ok(())
        }
    };
    if let Err(err) = result {
        out.say("!", &err.to_string());
    }
    true
}

/// `nick`, and with a key the fingerprint of whoever calls itself that; a second line warns
/// when several keys use the nick.
fn who_is(peer: &Peer, nick: &str) -> (String, Option<String>) {
    let fps: Vec<String> = peer
        .fingerprints_of(nick)
        .into_iter()
        .map(obrol_mcast::keys::show_fingerprint)
        .collect();
    match fps.len() {
        0 => (nick.to_owned(), None),
        1 => (format!("{nick} (key {})", fps[0]), None),
        n => (
            format!("{nick} (keys {})", fps.join(", ")),
            Some(format!(
                "{n} peers with different keys call themselves {nick}: {}",
                fps.join(", ")
            )),
        ),
    }
}

/// Tells the UI who is present after an event that may have changed it.
fn members(peer: &Peer, out: &Out, event: &Event) {
    if out.is_tui() && matches!(event, Event::Presence(_)) {
        out.send(Shown::Members(peer.roster().nicks()));
    }
}

fn show(peer: &Peer, event: &Event, out: &Out) {
    match event {
        Event::Presence(Presence::Joined(nick)) => {
            let (who, warning) = who_is(peer, nick);
            out.say("*", &format!("{who} joined"));
            if let Some(w) = warning {
                out.say("!", &w);
            }
        }
        Event::Presence(Presence::Renamed { old, new }) => {
            let (who, warning) = who_is(peer, new);
            out.say("*", &format!("{old} is now known as {who}"));
            if let Some(w) = warning {
                out.say("!", &w);
            }
        }
        Event::Chat { nick, text } => out.say(&format!("<{nick}>"), text),
        Event::Action { nick, text } => out.say(&format!("* {nick}"), text),
        Event::Relayed {
            nick,
            text,
            action: false,
        } => out.say(&format!("<{nick}>"), text),
        Event::Relayed {
            nick,
            text,
            action: true,
        } => out.say(&format!("* {nick}"), text),
        Event::Legacy { from, text } => out.say(&format!("<{from}>"), text),
        Event::Lost { nick, count } => {
            let what = if *count == 1 { "message" } else { "messages" };
            out.say("!", &format!("lost {count} {what} from {nick}"));
        }
        Event::Presence(p) => match p {
            Presence::Left(nick) => out.say("*", &format!("{nick} left")),
            Presence::TimedOut(nick) => out.say("*", &format!("{nick} left (timed out)")),
            // Shown above, with fingerprints.
            Presence::Joined(_) | Presence::Renamed { .. } => {}
        },
    }
}
