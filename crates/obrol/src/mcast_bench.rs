//! `obrol mcast bench`: like msend/mdump and iperf's multicast mode, with obrol's frames and
//! repair. A sender sends `--count` stamped messages of `--size` bytes at `--rate` a second; a
//! receiver reports what arrived, what was repaired and lost, and latency percentiles
//! (sender and receivers must share a clock: one host, or namespaces on one host).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use obrol_mcast::{Event, Mode, Peer, PeerConfig};

use crate::UsageError;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Send the messages (otherwise: receive them and report).
    #[arg(long)]
    send: bool,
    /// Messages to send, or to expect.
    #[arg(long, default_value_t = 10_000)]
    count: u64,
    /// Messages a second (sender).
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Bytes of text per message (at least 32: the stamp).
    #[arg(long, default_value_t = 200)]
    size: usize,
    /// Receiver: give up this many seconds after the last message arrived.
    #[arg(long, default_value_t = 5.0)]
    idle_secs: f64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

impl BenchArgs {
    /// Whether this is the sending side.
    pub fn sends(&self) -> bool {
        self.send
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Runs the sender or the receiver with the peer's socket settings from `cfg`.
pub async fn run(mut cfg: PeerConfig, args: BenchArgs) -> anyhow::Result<()> {
    let max = match cfg.key {
        Some(_) => obrol_wire::mcast::max_sealed_text(cfg.nick.len()),
        None => obrol_wire::mcast::max_text(cfg.nick.len()),
    };
    if args.size < 32 || args.size > max {
        return Err(UsageError(format!("--size must be 32 to {max} bytes")).into());
    }
    if args.send {
        cfg.mode = Mode::Both;
        send(cfg, &args).await
    } else {
        receive(cfg, &args).await
    }
}

async fn send(cfg: PeerConfig, args: &BenchArgs) -> anyhow::Result<()> {
    let mut peer = Peer::start(cfg).await?;
    // Receivers need a moment to see us before the first message counts: a few Hellos (any
    // one of them tells a receiver where we start, however lossy the group).
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        peer.heartbeat().await?;
    }
    let start = tokio::time::Instant::now();
    let mut sent = 0u64;
    let pad = "x".repeat(args.size);
    let rate = args.rate.max(1) as f64;
    let mut batch = Vec::with_capacity(64);
    while sent < args.count {
        // Everything due by now goes (timers are coarser than the gaps between messages), but
        // at most 64 before NAKs are answered: behind schedule, repairs come first, or history
        // moves past what receivers ask for.
        let due = ((start.elapsed().as_secs_f64() * rate) as u64 + 1)
            .min(args.count)
            .min(sent + 64);
        // One batch: one system call (see `Peer::say_many`).
        batch.clear();
        while sent < due {
            sent += 1;
            let stamp = format!("b {sent} {} ", now_us());
            batch.push(format!("{stamp}{}", &pad[stamp.len().min(args.size)..]));
        }
        if let Some((_, err)) = peer
            .say_many(batch.iter().map(String::as_str), false)
            .await?
            .into_iter()
            .next()
        {
            return Err(err.into());
        }
        // Answer NAKs between bursts: what has arrived at once (even when behind schedule,
        // or repairs would wait until history has moved past them), then until the next one.
        let next = start + Duration::from_secs_f64((sent as f64) / rate);
        loop {
            if next <= tokio::time::Instant::now() {
                // Behind schedule: only what is there already. (A timer would do, but the
                // runtime's timers tick in milliseconds: waiting for one that is already due
                // cost half a millisecond per batch, and most of the rate.)
                tokio::select! {
                    biased;
                    event = peer.next_event() => event?,
                    () = std::future::ready(()) => break,
                };
                continue;
            }
            match tokio::time::timeout_at(next, peer.next_event()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => break,
            }
        }
    }
    let elapsed = start.elapsed();
    // Stay while receivers ask for repairs.
    let linger_until = tokio::time::Instant::now() + Duration::from_secs(10);
    let quiet = obrol_mcast::repair::NAK_RETRY_MAX.saturating_mul(2);
    while !peer.settled(quiet) && tokio::time::Instant::now() < linger_until {
        let _ = tokio::time::timeout(Duration::from_millis(50), peer.next_event()).await;
        peer.heartbeat().await?; // so receivers that lost the last messages learn of them
    }
    peer.leave().await?;
    let s = peer.stats();
    let rate = sent as f64 / elapsed.as_secs_f64();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "role": "sender", "sent": sent, "secs": elapsed.as_secs_f64(),
                "messages_per_sec": rate, "repairs_sent": s.repairs_sent,
                "parity_sent": s.parity_sent,
                "datagrams_per_message": (sent + s.repairs_sent) as f64 / sent.max(1) as f64,
            })
        );
    } else {
        println!(
            "sent {sent} messages of {} B in {:.2} s ({rate:.0}/s); {} repairs ({:.3} datagrams per message)",
            args.size,
            elapsed.as_secs_f64(),
            s.repairs_sent,
            (sent + s.repairs_sent) as f64 / sent.max(1) as f64
        );
    }
    Ok(())
}

async fn receive(cfg: PeerConfig, args: &BenchArgs) -> anyhow::Result<()> {
    let mut peer = Peer::start(cfg).await?;
    let mut hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut got = 0u64;
    let mut last_seq = 0u64;
    let mut out_of_order = 0u64;
    let mut lost_reported = 0u64;
    let idle = Duration::from_secs_f64(args.idle_secs);
    let mut first = None;
    loop {
        let event = match tokio::time::timeout(idle, peer.next_event()).await {
            Ok(e) => e?,
            Err(_) if got > 0 => break,
            Err(_) => continue,
        };
        match event {
            Event::Chat { text, .. } => {
                let mut parts = text.split(' ');
                if parts.next() != Some("b") {
                    continue;
                }
                let (Some(seq), Some(stamp)) = (
                    parts.next().and_then(|s| s.parse::<u64>().ok()),
                    parts.next().and_then(|s| s.parse::<u64>().ok()),
                ) else {
                    continue;
                };
                first.get_or_insert_with(tokio::time::Instant::now);
                got += 1;
                if seq <= last_seq {
                    out_of_order += 1;
                }
                last_seq = seq;
                let _ = hist.record(now_us().saturating_sub(stamp).max(1));
                if seq >= args.count {
                    break;
                }
            }
            Event::Lost { count, .. } => lost_reported += count,
            Event::Presence(obrol_mcast::Presence::Left(_)) if got > 0 => break,
            _ => {}
        }
    }
    let secs = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    let s = peer.stats();
    let r = s.repair;
    let p = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "role": "receiver", "expected": args.count, "received": got,
                "lost": r.lost.max(lost_reported), "repaired": r.repaired,
                "recovered": s.recovered,
                "reordered": r.reordered, "duplicates": r.duplicates,
                "out_of_order_shown": out_of_order,
                "datagrams_received": s.received,
                "datagrams_per_message": s.received as f64 / got.max(1) as f64,
                "naks_sent": r.naks_sent, "naks_suppressed": r.naks_suppressed,
                "secs": secs,
                "latency_ms": {"p50": p(0.5), "p90": p(0.9), "p99": p(0.99), "max": hist.max() as f64 / 1000.0},
            })
        );
    } else {
        println!(
            "received {got} of {} ({} lost, {} repaired, {} reordered, {} duplicates); \
             {:.3} datagrams per message; NAKs {} sent, {} held back; latency p50 {:.2} ms, \
             p99 {:.2} ms, max {:.2} ms",
            args.count,
            r.lost.max(lost_reported),
            r.repaired,
            r.reordered,
            r.duplicates,
            s.received as f64 / got.max(1) as f64,
            r.naks_sent,
            r.naks_suppressed,
            p(0.5),
            p(0.99),
            hist.max() as f64 / 1000.0
        );
    }
    Ok(())
}
