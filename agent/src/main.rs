//! `forewarn-agent`: command-line entry point. Parses arguments, sets up
//! logging, and calls into the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use forewarn_agent::checks::{CheckSet, Collection};
use forewarn_agent::config::{AgentConfig, default_config_path};
use forewarn_agent::enroll::{CaPin, EnrollOptions, enroll};
use forewarn_agent::output::render_table;
use forewarn_agent::report::snapshot;
use forewarn_agent::state::{StateDir, default_policy};
use forewarn_agent::trigger::ReportTrigger;

#[derive(Debug, Parser)]
#[command(name = "forewarn-agent", version, about = "Forewarn endpoint agent")]
struct Cli {
    /// Agent config file (optional at its default location).
    #[arg(long, global = true, env = "FOREWARN_AGENT_CONFIG")]
    config: Option<PathBuf>,
    /// State directory; overrides the config file.
    #[arg(long, global = true, env = "FOREWARN_AGENT_STATE_DIR")]
    state_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Enroll this device with a collector.
    Enroll {
        /// Collector address, https://HOST:PORT.
        #[arg(long)]
        url: String,
        /// Enrollment token from `forewarn-collector token create`.
        #[arg(long, env = "FOREWARN_ENROLL_TOKEN")]
        token: String,
        /// SHA-256 fingerprint of the collector CA (from `forewarn-collector ca-fingerprint`).
        #[arg(long, required_unless_present = "ca_cert", conflicts_with = "ca_cert")]
        ca_fingerprint: Option<String>,
        /// The collector CA certificate (PEM file).
        #[arg(long)]
        ca_cert: Option<PathBuf>,
    },
    /// Report to the collector until stopped.
    Run,
    /// Run the checks locally and print what would be reported.
    Check {
        /// Run once and exit (the only mode today; kept explicit for scripts).
        #[arg(long)]
        once: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    // A current-thread runtime: the agent's footprint is a feature.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("forewarn-agent: cannot start runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("forewarn-agent: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each said once: library errors
/// name their cause in their own message and also keep it as their source.
fn one_line(err: &anyhow::Error) -> String {
    let mut line = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

fn load_config(cli: &Cli) -> anyhow::Result<AgentConfig> {
    let (path, required) = match &cli.config {
        Some(path) => (path.clone(), true),
        None => (default_config_path(), false),
    };
    let mut config = AgentConfig::load(&path, required)?;
    if let Some(state_dir) = &cli.state_dir {
        config.state_dir.clone_from(state_dir);
    }
    Ok(config)
}

async fn execute(cli: Cli) -> anyhow::Result<()> {
    let config = load_config(&cli)?;
    match cli.command {
        Command::Enroll {
            url,
            token,
            ca_fingerprint,
            ca_cert,
        } => {
            let ca = match (ca_fingerprint, ca_cert) {
                (_, Some(path)) => {
                    CaPin::Certificate(std::fs::read_to_string(&path).with_context(|| {
                        format!("cannot read CA certificate {}", path.display())
                    })?)
                }
                (Some(fingerprint), None) => CaPin::Fingerprint(fingerprint),
                (None, None) => anyhow::bail!("give --ca-fingerprint or --ca-cert"),
            };
            let state = StateDir::new(&config.state_dir);
            let enrollment = enroll(&EnrollOptions { url, token, ca }, &state).await?;
            println!(
                "enrolled as device {} in group {} with {}; state in {}",
                enrollment.device_id,
                enrollment.group,
                enrollment.collector_url,
                state.root().display()
            );
        }
        Command::Run => forewarn_agent::run(config, shutdown_signal()).await?,
        Command::Check { once: _, json } => {
            let mut checks = CheckSet::from_config(
                &config.checks,
                &StateDir::new(&config.state_dir),
                &ReportTrigger::default(),
                Collection::Once,
            );
            let report = snapshot(&mut checks, &default_policy(), 0, "").await;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", render_table(&report));
            }
        }
    }
    Ok(())
}

/// Completes on SIGINT or SIGTERM (Ctrl-C on Windows).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
