//! `obrol`: one binary for group chat on a LAN (multicast) and over the internet (a hub).
//!
//! This crate only parses the command line and the config file, wires stdin/stdout to the
//! library crates and maps errors to exit codes: 2 for mistakes a user can fix (bad address,
//! missing interface, port in use), 1 for everything else. It is a library (with `main.rs` a
//! one-line caller) so that the config file's decoder can be fuzzed like the others.

mod bench_cmd;
mod bridge;
mod cert_cmd;
mod connect_tui;
mod console;
mod hub_cmd;
mod mcast_bench;
mod mcast_cmd;
mod mcast_tui;
mod metrics_http;
pub mod serve_config;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Group chat on a LAN (multicast, no server) and over the internet (a hub).
#[derive(Parser)]
#[command(name = "obrol", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Chat with everyone on a multicast group, no server needed (a terminal UI on a terminal).
    Mcast(Box<mcast_cmd::Args>),
    /// Run a chat hub for nc, the seed's clients and obrol connect.
    Serve(Box<hub_cmd::ServeArgs>),
    /// Chat through a hub: a full-screen terminal UI on a terminal, line mode in a pipe.
    Connect(hub_cmd::ConnectArgs),
    /// Make a self-signed TLS certificate and key for trying TLS out.
    Cert(cert_cmd::Args),
    /// Read a password from stdin and print its hash (for operators: --oper NAME:HASH).
    HashPassword,
    /// Measure a hub (obrol's or another IRC server) under load.
    #[command(subcommand)]
    Bench(bench_cmd::BenchCommand),
}

/// An error the user can fix; reported in one line with exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Runs the command line `obrol ...` and says how it ended.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Mcast(args) => {
            init_logging(if mcast_cmd::uses_tui(&args) {
                "off"
            } else {
                "warn"
            });
            mcast_cmd::run(*args)
        }
        Command::Serve(args) => {
            init_logging("info");
            hub_cmd::serve(*args)
        }
        Command::Connect(args) => {
            // Log lines on stderr would land in the middle of the terminal UI.
            init_logging(if hub_cmd::connect_uses_tui(&args) {
                "off"
            } else {
                "warn"
            });
            hub_cmd::connect(args)
        }
        Command::Cert(args) => {
            init_logging("warn");
            cert_cmd::run(args)
        }
        Command::HashPassword => cert_cmd::hash_password(),
        Command::Bench(cmd) => {
            init_logging("warn");
            bench_cmd::run(cmd)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if let Some(usage) = err.downcast_ref::<UsageError>() {
                eprintln!("obrol: {usage}");
                ExitCode::from(2)
            } else {
                eprintln!("obrol: {err:#}");
                ExitCode::from(1)
            }
        }
    }
}
