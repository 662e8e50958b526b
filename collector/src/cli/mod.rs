//! The `forewarn-collector` command line: its arguments and what each command
//! does. `main.rs` only parses the arguments, sets up logging and calls [`run`].
//!
//! Admin commands work on the store directly (the collector may be running;
//! SQLite's WAL lets both proceed) and write plain text for a terminal.
//!
//! # Layout
//! - [`tokens`]: `token create/list/revoke`.
//! - [`devices`]: `device list/show/retire`.
//! - [`alerts`]: `alerts list/show/ack`.
//! - [`silences`]: `silence add/list/expire`.
//! - [`tickets`]: `tickets test/failed/retry-failed`.

pub mod alerts;
pub mod devices;
pub mod silences;
pub mod tickets;
pub mod tokens;

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
}

/// Why an admin command failed, in words for the person who ran it.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    #[error("no {kind} with id {id:?}")]
    NotFound { kind: &'static str, id: String },
    #[error("invalid group name {0:?}: use letters, digits, '-', '_' or '.' (at most 64)")]
    InvalidGroup(String),
    #[error("--uses must be at least 1")]
    ZeroUses,
    #[error("invalid silence: {0}")]
    InvalidSilence(String),
    #[error("connector {name:?} is not ready: {problems} problem(s)")]
    ConnectorNotReady { name: String, problems: usize },
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
            tokens::run(command, open_store(&cli.config)?.as_ref(), out).await?
        }
        Command::Device(command) => {
            devices::run(command, open_store(&cli.config)?.as_ref(), out).await?
        }
        Command::Alerts(command) => {
            alerts::run(command, open_store(&cli.config)?.as_ref(), out).await?
        }
        Command::Silence(command) => {
            silences::run(command, open_store(&cli.config)?.as_ref(), out).await?;
        }
        Command::Tickets(command) => tickets::run(command, &cli.config, out).await?,
    }
    Ok(())
}

/// `serve`: prints one line with the real ports (scripts and tests read it),
/// then serves until SIGINT/SIGTERM.
async fn serve(config_path: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let collector = Collector::open(CollectorConfig::load(config_path)?)?;
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

fn open_store(config_path: &Path) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    let config = CollectorConfig::load(config_path)?;
    Ok(store::open(&config.store_config())?)
}
