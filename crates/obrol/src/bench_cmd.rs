//! `obrol bench`: load generators for hubs.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use obrol_bench::{HubParams, Proto};

#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Open-loop chat load: deliveries/s, % delivered, latency percentiles.
    Hub(HubArgs),
    /// Many registered, idle clients: server memory per client.
    Idle(IdleArgs),
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ProtoArg {
    Plain,
    Irc,
    /// No protocol: for the seed's server.py, which only greets and relays bytes.
    Raw,
}

impl From<ProtoArg> for Proto {
    fn from(p: ProtoArg) -> Proto {
        match p {
            ProtoArg::Plain => Proto::Plain,
            ProtoArg::Irc => Proto::Irc,
            ProtoArg::Raw => Proto::Raw,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct HubArgs {
    /// The hub (obrol serve, or another IRC server with --protocol irc).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    #[arg(long, value_enum, default_value = "irc")]
    protocol: ProtoArg,
    #[arg(long, default_value_t = 100)]
    clients: usize,
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// Rooms each client joins, of --rooms (shared rooms). Client i joins the K consecutive
    /// rooms from a start that gives every room the same number of members when --clients is
    /// a multiple of --rooms; senders (clients 0..--senders) start K rooms apart and speak in
    /// their rooms in turn. 1: each client in room i % rooms.
    #[arg(long, default_value_t = 1, value_name = "K")]
    rooms_per_client: usize,
    #[arg(long, default_value_t = 1)]
    senders: usize,
    /// Total messages per second over all senders (open loop).
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Message payload size in bytes.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Seconds of measurement.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Server process id: report its CPU and RSS.
    #[arg(long)]
    pid: Option<u32>,
    /// Speak TLS to the server (any certificate is accepted: this measures, it does not check).
    #[arg(long)]
    tls: bool,
}

#[derive(clap::Args, Debug)]
pub struct IdleArgs {
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    #[arg(long, value_enum, default_value = "irc")]
    protocol: ProtoArg,
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    #[arg(long)]
    json: bool,
    /// Server process id: report its RSS per client.
    #[arg(long)]
    pid: Option<u32>,
    /// Speak TLS to the server (any certificate is accepted).
    #[arg(long)]
    tls: bool,
}

fn secs(s: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| crate::UsageError(format!("bad duration: {s}")).into())
}

pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let show = std::io::IsTerminal::is_terminal(&std::io::stderr());
    match cmd {
        BenchCommand::Hub(a) => {
            let params = HubParams {
                addr: a.addr,
                proto: a.protocol.into(),
                clients: a.clients,
                rooms: a.rooms,
                rooms_per_client: a.rooms_per_client,
                senders: a.senders,
                rate: a.rate,
                size: a.size,
                warmup: secs(a.warmup)?,
                duration: secs(a.duration)?,
                pid: a.pid,
                progress: show && !a.json,
                tls: a.tls,
            };
            let r = rt.block_on(obrol_bench::hub(params))?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "{} clients in {} rooms ({} per client, {}-{} members), {} senders, {} B, {:.0} msg/s offered ({:.0} deliveries/s)",
                    r.clients,
                    r.rooms,
                    r.rooms_per_client,
                    r.room_members_min,
                    r.room_members_max,
                    r.senders,
                    r.size,
                    r.offered_msgs_per_sec,
                    r.offered_deliveries_per_sec
                );
                println!(
                    "connect: {:.2} s ({:.0} clients/s)",
                    r.connect_secs, r.connects_per_sec
                );
                println!(
                    "delivered: {} of {} ({:.2}%), {:.0} deliveries/s",
                    r.delivered, r.expected, r.delivered_pct, r.deliveries_per_sec
                );
                if r.failed_senders > 0 {
                    println!(
                        "warning: {} of {} senders failed; {} of {} planned messages were sent \
                         (the unsent ones still count as expected)",
                        r.failed_senders, r.senders, r.sent, r.planned
                    );
                }
                println!(
                    "latency: p50 {} us, p99 {} us, p99.9 {} us, max {} us",
                    r.latency.p50_us, r.latency.p99_us, r.latency.p999_us, r.latency.max_us
                );
                if let Some(cpu) = r.server_cpu_pct {
                    println!(
                        "server: {cpu:.0}% CPU, {} KiB RSS",
                        r.server_rss_kib.unwrap_or(0)
                    );
                }
                println!("generator: {:.0}% CPU", r.bench_cpu_pct);
            }
        }
        BenchCommand::Idle(a) => {
            let r = rt.block_on(obrol_bench::idle(
                a.addr,
                a.protocol.into(),
                a.clients,
                a.pid,
                show && !a.json,
                a.tls,
            ))?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "{} idle clients connected in {:.2} s ({:.0}/s)",
                    r.clients, r.connect_secs, r.connects_per_sec
                );
                if let Some(per) = r.server_kib_per_client {
                    println!("server RSS: {:.2} KiB per client", per);
                }
            }
        }
    }
    Ok(())
}
