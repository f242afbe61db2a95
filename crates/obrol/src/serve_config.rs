//! `obrol serve --config obrol.toml`: every flag of `obrol serve` as a key of a TOML file (the
//! flag's name with `_` for `-`), merged with the command line, whose flags win.
//!
//! Errors name the file, the line and what is wrong (`obrol.toml:7: line_rate must be 0 or
//! more lines a second`): values are read with their position in the file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use obrol_hub::{OperSecret, Settings};
use serde::Deserialize;
use toml::Spanned;

use crate::hub_cmd::{host_name, ServeArgs};
use crate::UsageError;

/// The file, as written. Every key is optional; unknown keys are errors (a typo must not
/// silently leave a limit at its default).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    listen: Option<Vec<Spanned<String>>>,
    name: Option<String>,
    motd: Option<String>,
    description: Option<String>,
    console: Option<bool>,
    threads: Option<Spanned<usize>>,
    max_clients: Option<Spanned<usize>>,
    max_line: Option<Spanned<usize>>,
    max_queue: Option<Spanned<usize>>,
    max_queued_total: Option<usize>,
    round_limit_us: Option<u64>,
    ping_secs: Option<Spanned<f64>>,
    register_secs: Option<Spanned<f64>>,
    max_per_address: Option<u32>,
    connects_per_minute: Option<u32>,
    max_unregistered: Option<Spanned<usize>>,
    exempt: Option<Vec<Spanned<String>>>,
    line_rate: Option<Spanned<f64>>,
    line_burst: Option<u32>,
    max_lag_secs: Option<Spanned<f64>>,
    tls_cert: Option<Spanned<PathBuf>>,
    tls_key: Option<Spanned<PathBuf>>,
    tls_only: Option<Spanned<bool>>,
    sts_duration: Option<u64>,
    metrics: Option<String>,
    data_dir: Option<PathBuf>,
    accounts_required: Option<Spanned<bool>>,
    nick_grace_secs: Option<Spanned<f64>>,
    #[serde(default)]
    oper: Vec<Spanned<Oper>>,
    /// The file's name and text, for error messages.
    #[serde(skip)]
    source: Option<(PathBuf, String)>,
}

/// An `[[oper]]` table: a name, and either the Argon2 hash of its password or an account.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Oper {
    name: String,
    password_hash: Option<String>,
    account: Option<String>,
}

/// Whether `hash` is a password hash in PHC form (what `obrol hash-password` prints).
fn is_hash(hash: &str) -> bool {
    argon2::password_hash::PasswordHash::new(hash).is_ok()
}

/// What the command line and the file come to.
pub struct Resolved {
    pub settings: Settings,
    pub listen: Vec<String>,
    pub tls_files: Option<(PathBuf, PathBuf)>,
    pub console: bool,
    pub threads: Option<usize>,
    /// Where to serve metrics, if anywhere.
    pub metrics: Option<String>,
    /// Where the store lives, if the hub has one.
    pub data_dir: Option<PathBuf>,
}

/// Reads and parses `path`.
pub fn load(path: &Path) -> Result<ServeConfig, UsageError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
    parse(path, text)
}

/// Parses `text`, the contents of `path` (named in errors).
pub fn parse(path: &Path, text: String) -> Result<ServeConfig, UsageError> {
    let mut config: ServeConfig = toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| line_of(&text, s.start));
        let what = e.message().replace('\n', " ");
        match line {
            Some(line) => UsageError(format!("{}:{line}: {what}", path.display())),
            None => UsageError(format!("{}: {what}", path.display())),
        }
    })?;
    config.source = Some((path.to_owned(), text));
    Ok(config)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl ServeConfig {
    /// An error about the value at `span`: `FILE:LINE: what`.
    fn error(&self, span: std::ops::Range<usize>, what: String) -> UsageError {
        match &self.source {
            Some((path, text)) => UsageError(format!(
                "{}:{}: {what}",
                path.display(),
                line_of(text, span.start)
            )),
            None => UsageError(what),
        }
    }
}

/// A value from the command line, else from the file (with its span), else `None`.
fn pick<T: Clone>(
    cli: &Option<T>,
    file: &Option<Spanned<T>>,
) -> Option<(T, Option<std::ops::Range<usize>>)> {
    match (cli, file) {
        (Some(v), _) => Some((v.clone(), None)),
        (None, Some(s)) => Some((s.get_ref().clone(), Some(s.span()))),
        (None, None) => None,
    }
}

/// Merges the command line `args` over the file `file` into the hub's settings.
pub fn resolve(args: &ServeArgs, file: &ServeConfig) -> Result<Resolved, UsageError> {
    // An error about a value: located in the file when it came from there.
    let fail = |span: Option<std::ops::Range<usize>>, flag: &str, what: &str| match span {
        Some(span) => file.error(
            span,
            format!("{} {what}", flag.trim_start_matches("--").replace('-', "_")),
        ),
        None => UsageError(format!("{flag} {what}")),
    };
    let secs = |v: Option<(f64, Option<std::ops::Range<usize>>)>, default: f64, flag: &str| {
        let (s, span) = v.unwrap_or((default, None));
        Duration::try_from_secs_f64(s)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| fail(span, flag, "must be a positive number of seconds"))
    };

    let name = args
        .name
        .clone()
        .or_else(|| file.name.clone())
        .unwrap_or_else(host_name);
    let mut settings = Settings::new(&name);
    if let Some(motd) = args.motd.clone().or_else(|| file.motd.clone()) {
        settings.motd = motd;
    }
    let description = args
        .description
        .clone()
        .or_else(|| file.description.clone())
        .unwrap_or_else(|| "obrol hub".into());
    settings.description = obrol_hub::domain::text::clean(&description).into_owned();
    settings.max_clients = pick(&args.max_clients, &file.max_clients)
        .map_or(19_000, |v| v.0)
        .max(1);
    settings.max_line = pick(&args.max_line, &file.max_line)
        .map_or(obrol_hub::proto::plain::DEFAULT_MAX_LINE, |v| v.0)
        .max(16);
    settings.max_queue_bytes = pick(&args.max_queue, &file.max_queue)
        .map_or(1 << 20, |v| v.0)
        .max(1024);
    let round_us = args
        .round_limit_us
        .or(file.round_limit_us)
        .unwrap_or(50_000);
    settings.round_limit = Duration::from_micros(round_us.min(1_000_000));
    settings.ping_interval = secs(pick(&args.ping_secs, &file.ping_secs), 90.0, "--ping-secs")?;
    settings.registration_timeout = secs(
        pick(&args.register_secs, &file.register_secs),
        30.0,
        "--register-secs",
    )?;
    for spec in &args.opers {
        let Some((name, hash)) = spec.split_once(':') else {
            return Err(UsageError(format!("--oper expects NAME:HASH, got {spec}")));
        };
        if !is_hash(hash) {
            return Err(UsageError(format!(
                "--oper {name}: give the password's hash (`obrol hash-password`), not the password"
            )));
        }
        settings
            .opers
            .push((name.to_owned(), OperSecret::Hash(hash.to_owned())));
    }
    for oper in &file.oper {
        let o = oper.get_ref();
        let secret =
            match (&o.password_hash, &o.account) {
                (Some(h), None) if is_hash(h) => OperSecret::Hash(h.clone()),
                (Some(_), None) => return Err(file.error(
                    oper.span(),
                    "password_hash is not a password hash (make one with `obrol hash-password`)"
                        .into(),
                )),
                (None, Some(a)) if !a.is_empty() => OperSecret::Account(a.clone()),
                _ => {
                    return Err(file.error(
                        oper.span(),
                        "an [[oper]] needs a name and either password_hash or account".into(),
                    ))
                }
            };
        if o.name.is_empty() {
            return Err(file.error(oper.span(), "an [[oper]] needs a name".into()));
        }
        settings.opers.push((o.name.clone(), secret));
    }
    settings.nick_grace = secs(
        pick(&args.nick_grace_secs, &file.nick_grace_secs),
        30.0,
        "--nick-grace-secs",
    )?;
    settings.max_per_address = args.max_per_address.or(file.max_per_address).unwrap_or(64);
    settings.connects_per_minute = args
        .connects_per_minute
        .or(file.connects_per_minute)
        .unwrap_or(60);
    settings.max_unregistered = pick(&args.max_unregistered, &file.max_unregistered)
        .map_or(4096, |v| v.0)
        .max(1);
    settings.exempt.clear();
    if !args.exempt.is_empty() {
        for spec in &args.exempt {
            settings.exempt.push(spec.parse().map_err(UsageError)?);
        }
    } else {
        for spec in file.exempt.iter().flatten() {
            let cidr = spec
                .get_ref()
                .parse()
                .map_err(|e: String| file.error(spec.span(), format!("exempt: {e}")))?;
            settings.exempt.push(cidr);
        }
    }
    let (rate, rate_span) = pick(&args.line_rate, &file.line_rate).unwrap_or((10.0, None));
    if rate.is_nan() || rate < 0.0 {
        return Err(fail(
            rate_span,
            "--line-rate",
            "must be 0 or more lines a second",
        ));
    }
    let burst = args.line_burst.or(file.line_burst).unwrap_or(40);
    let max_lag = secs(
        pick(&args.max_lag_secs, &file.max_lag_secs),
        30.0,
        "--max-lag-secs",
    )?;
    settings.line_rate = obrol_hub::limits::Rate::new(rate, burst, max_lag);
    settings.max_queued_total = args
        .max_queued_total
        .or(file.max_queued_total)
        .unwrap_or(256 << 20);
    // A setting that needs another: the error names the line of the one given in the file.
    let flag = |cli: bool, file: &Option<Spanned<bool>>| match (cli, file) {
        (true, _) => Some((true, None)),
        (false, Some(s)) => Some((*s.get_ref(), Some(s.span()))),
        (false, None) => None,
    };
    let (tls_only, tls_only_span) = flag(args.tls_only, &file.tls_only).unwrap_or((false, None));
    let (accounts_required, accounts_span) =
        flag(args.accounts_required, &file.accounts_required).unwrap_or((false, None));
    settings.tls_only = tls_only;
    settings.accounts_required = accounts_required;
    if accounts_required && args.data_dir.is_none() && file.data_dir.is_none() {
        return Err(fail(
            accounts_span,
            "--accounts-required",
            "needs a store for the accounts (--data-dir)",
        ));
    }
    let path = |cli: &Option<PathBuf>, file: &Option<Spanned<PathBuf>>| match (cli, file) {
        (Some(p), _) => Some((p.clone(), None)),
        (None, Some(s)) => Some((s.get_ref().clone(), Some(s.span()))),
        (None, None) => None,
    };
    let tls_files = match (
        path(&args.tls_cert, &file.tls_cert),
        path(&args.tls_key, &file.tls_key),
    ) {
        (Some((c, _)), Some((k, _))) => Some((c, k)),
        (None, None) => None,
        (Some((_, span)), None) => {
            return Err(fail(span, "--tls-cert", "needs its key too (--tls-key)"))
        }
        (None, Some((_, span))) => {
            return Err(fail(
                span,
                "--tls-key",
                "needs its certificate too (--tls-cert)",
            ))
        }
    };
    if settings.tls_only && tls_files.is_none() {
        return Err(fail(
            tls_only_span,
            "--tls-only",
            "needs a certificate and key (--tls-cert, --tls-key)",
        ));
    }
    if tls_files.is_some() {
        settings.sts = Some((0, args.sts_duration.or(file.sts_duration).unwrap_or(300)));
    }
    let mut listen: Vec<String> = args.listen.clone();
    if listen.is_empty() {
        if let Some(list) = &file.listen {
            for spec in list {
                // Checked here, where the line is known; bound later.
                crate::hub_cmd::resolve(spec.get_ref())
                    .map_err(|e| file.error(spec.span(), format!("listen: {e}")))?;
                listen.push(spec.get_ref().clone());
            }
        }
    }
    if listen.is_empty() {
        listen = vec!["0.0.0.0:8080".into(), "irc://0.0.0.0:6667".into()];
        if tls_files.is_some() {
            listen.push("tls://0.0.0.0:6697".into());
        }
    }
    let threads = match pick(&args.threads, &file.threads) {
        Some((0, span)) => return Err(fail(span, "--threads", "must be at least 1")),
        other => other.map(|v| v.0),
    };
    Ok(Resolved {
        settings,
        listen,
        tls_files,
        console: !args.no_console && file.console.unwrap_or(true),
        threads,
        metrics: args.metrics.clone().or_else(|| file.metrics.clone()),
        data_dir: args.data_dir.clone().or_else(|| file.data_dir.clone()),
    })
}

/// The whole decoder as the fuzz target drives it: `text` as a config file, merged with an
/// empty command line. Any result is fine; a panic is the bug.
pub fn check(text: &str) -> Result<(), UsageError> {
    use clap::{Args, FromArgMatches};
    let matches = ServeArgs::augment_args(clap::Command::new("serve"))
        .try_get_matches_from(["serve"])
        .map_err(|e| UsageError(e.to_string()))?;
    let args = ServeArgs::from_arg_matches(&matches).map_err(|e| UsageError(e.to_string()))?;
    let file = parse(Path::new("fuzz.toml"), text.to_owned())?;
    resolve(&args, &file).map(|_| ())
}
