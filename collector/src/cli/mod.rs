//! The `forewarn-collector` command line: its arguments and what each command
//! does. `main.rs` only parses the arguments, sets up logging and calls [`run`].
//!
//! Admin commands work on the store directly (the collector may be running;
//! SQLite's WAL lets both proceed) and write plain text for a terminal.
//!
//! # Layout
//! - [`tokens`]: `token create/list/revoke`.
//! - [`devices`]: `device list/show/retire`, and finding the device a
//!   hostname or id start names, for every command that takes one.
//! - `device_view`: the four domains of a report as `device show` prints them.
//! - [`alerts`]: `alerts list/show/ack`.
//! - [`silences`]: `silence add/list/expire`.
//! - [`tickets`]: `tickets test/failed/retry-failed`.
//! - [`users`]: `user add/list/disable/reset` (console users).
//! - [`api_tokens`]: `api-token create/list/revoke` (console API tokens).

pub mod alerts;
pub mod api_tokens;
mod device_view;
pub mod devices;
pub mod silences;
pub mod tickets;
pub mod tokens;
pub mod users;

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::config::CollectorConfig;
use crate::pki::CollectorPki;
use crate::server::{Collector, shutdown_signal};
use crate::store::{self, Store, StoreError};

#[derive(Debug, Parser)]
#[command(name = "forewarn-collector", version, about = "Forewarn collector")]
pub struct Cli {
    /// Collector config file.
    #[arg(
        long,
        global = true,
        env = "FOREWARN_COLLECTOR_CONFIG",
        default_value = "/etc/forewarn/collector.toml"
    )]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve agents (gRPC/mTLS) and the web page until SIGINT/SIGTERM.
    Serve,
    /// Print the SHA-256 fingerprint of the collector CA, for `forewarn-agent enroll`.
    CaFingerprint,
    /// Enrollment tokens.
    #[command(subcommand)]
    Token(tokens::TokenCommand),
    /// Enrolled devices.
    #[command(subcommand)]
    Device(devices::DeviceCommand),
    /// Alerts raised by the rules.
    #[command(subcommand)]
    Alerts(alerts::AlertsCommand),
    /// Silences and maintenance windows: notifications held, state kept.
    #[command(subcommand)]
    Silence(silences::SilenceCommand),
    /// Ticket systems and notification channels.
    #[command(subcommand)]
    Tickets(tickets::TicketsCommand),
    /// Console users (sign-in to the web API).
    #[command(subcommand)]
    User(users::UserCommand),
    /// Console API tokens.
    #[command(subcommand, name = "api-token")]
    ApiToken(api_tokens::ApiTokenCommand),
}

/// Why an admin command failed, in words for the person who ran it.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The cause (the OS error) is the source; it is printed once, after this.
    #[error("cannot write output")]
    Output(#[from] std::io::Error),
    #[error(transparent)]
    Device(#[from] crate::fleet::resolve::ResolveError),
    #[error("no {kind} with id {id:?}")]
    NotFound { kind: &'static str, id: String },
    #[error("invalid group name {0:?}: use letters, digits, '-', '_' or '.' (at most 64)")]
    InvalidGroup(String),
    #[error("--uses must be at least 1")]
    ZeroUses,
    #[error(
        "--expires must be above zero: such a token has expired before anyone can use it; e.g. 7d"
    )]
    TokenLifetime,
    #[error("a token with the same id or secret exists already: run the command again")]
    TokenTaken,
    #[error("who is this? $USER is not set: pass --by NAME")]
    NoActor,
    #[error("alert {id} is {state}: only a firing alert can be acknowledged")]
    NotAckable { id: i64, state: &'static str },
    #[error("invalid silence: {0}")]
    InvalidSilence(String),
    #[error("{0}")]
    InvalidUser(String),
    #[error("connector {name:?} is not ready: {problems} problem(s)")]
    ConnectorNotReady { name: String, problems: usize },
}

/// Who ran the command (`--by`, else `$USER`); refused when neither says, so
/// history never records an "unknown" person.
pub fn actor(by: Option<String>) -> Result<String, AdminError> {
    by.map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .ok_or(AdminError::NoActor)
}

/// Formats Unix seconds as RFC 3339 UTC.
pub fn format_time(unix_secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix_secs.to_string())
}

/// What to print for a failed command: each cause once (a cause whose text
/// is already in the line is not repeated), or `None` when the
/// reader went away (`| head`), which is no failure worth a message.
pub fn error_report(err: &anyhow::Error) -> Option<String> {
    let reader_gone = err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if reader_gone {
        return None;
    }
    let mut report = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if report.contains(&text) {
            continue;
        }
        if !report.is_empty() {
            report.push_str(": ");
        }
        report.push_str(&text);
    }
    Some(report)
}

/// Runs one command, writing what a person reads to `out`.
pub async fn run(cli: Cli, out: &mut impl Write) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => serve(&cli.config, out).await?,
        Command::CaFingerprint => {
            let config = CollectorConfig::load(&cli.config)?;
            let pki = CollectorPki::load_or_create(
                &config.data_dir,
                &config.server_names,
                config.tls.as_ref(),
            )?;
            writeln!(out, "{}", pki.ca_fingerprint())?;
        }
        Command::Token(command) => {
            tokens::run(command, open_store(&cli.config).await?.as_ref(), out).await?
        }
        Command::Device(command) => {
            let config = CollectorConfig::load(&cli.config)?;
            let store = store::open(&config.store_config()).await?;
            devices::run(command, store.as_ref(), &config, out).await?
        }
        Command::Alerts(command) => {
            alerts::run(command, open_store(&cli.config).await?.as_ref(), out).await?
        }
        Command::Silence(command) => {
            silences::run(command, open_store(&cli.config).await?.as_ref(), out).await?;
        }
        Command::Tickets(command) => tickets::run(command, &cli.config, out).await?,
        Command::User(command) => {
            users::run(command, open_store(&cli.config).await?.as_ref(), out).await?
        }
        Command::ApiToken(command) => {
            api_tokens::run(command, open_store(&cli.config).await?.as_ref(), out).await?
        }
    }
    Ok(())
}

/// `serve`: prints one line with the real ports (scripts and tests read it),
/// then serves until SIGINT/SIGTERM.
async fn serve(config_path: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let collector = Collector::open(CollectorConfig::load(config_path)?).await?;
    let fingerprint = collector.pki.ca_fingerprint().to_owned();
    let bound = collector.bind().await?;
    writeln!(
        out,
        "forewarn-collector listening agents={} web={} ca_sha256={fingerprint}",
        bound.agent_addr(),
        bound.web_addr().map_or("off".into(), |a| a.to_string())
    )?;
    out.flush()?;
    bound.serve(shutdown_signal()).await?;
    Ok(())
}

async fn open_store(config_path: &Path) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    let config = CollectorConfig::load(config_path)?;
    Ok(store::open(&config.store_config()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_error_is_printed_once() {
        let io = std::io::Error::from_raw_os_error(13);
        let os_text = io.to_string();
        let store = StoreError::CreateDir {
            path: "/var/lib/forewarn".into(),
            source: io,
        };
        let report = error_report(&anyhow::Error::new(store)).unwrap();
        assert_eq!(report.matches(&os_text).count(), 1, "{report}");
        assert!(report.contains("/var/lib/forewarn"), "{report}");
        let output = AdminError::Output(std::io::Error::from_raw_os_error(28));
        let report = error_report(&anyhow::Error::new(output)).unwrap();
        assert!(report.starts_with("cannot write output: "), "{report}");
    }

    #[test]
    fn closed_pipe_is_not_reported() {
        let err = AdminError::Output(std::io::ErrorKind::BrokenPipe.into());
        assert_eq!(error_report(&anyhow::Error::new(err)), None);
    }
}
