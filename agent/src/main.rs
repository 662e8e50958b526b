//! `forewarn-agent`: command-line entry point. Parses arguments, sets up
//! logging, and calls into the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use forewarn_agent::checks::{CheckSet, Collection};
use forewarn_agent::config::{AgentConfig, default_config_path};
use forewarn_agent::daemon::{ConfigSource, run_daemon};
use forewarn_agent::enroll::{CaPin, EnrollOptions, enroll};
use forewarn_agent::install::{InstallOptions, ServiceStep, install, uninstall};
use forewarn_agent::output::{error_text, render_table};
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
    /// Enroll (unless already enrolled with this collector), write the config,
    /// register and start the service. Safe to run again: what packages and
    /// deployment tools call.
    Install {
        /// Collector address, https://HOST:PORT.
        #[arg(long, env = "FOREWARN_URL")]
        url: String,
        /// Enrollment token from `forewarn-collector token create` (only used to enroll).
        #[arg(long, env = "FOREWARN_TOKEN", hide_env_values = true)]
        token: String,
        /// SHA-256 fingerprint of the collector CA (from `forewarn-collector ca-fingerprint`).
        #[arg(
            long,
            env = "FOREWARN_CA_FINGERPRINT",
            required_unless_present = "ca_cert",
            conflicts_with = "ca_cert"
        )]
        ca_fingerprint: Option<String>,
        /// The collector CA certificate (PEM file).
        #[arg(long)]
        ca_cert: Option<PathBuf>,
        /// Register the service but leave starting it to the package (the MSI starts it itself).
        #[arg(long)]
        no_start: bool,
        /// Enroll and write the config only; the service is left alone (images, tests).
        #[arg(long, conflicts_with = "no_start")]
        no_service: bool,
    },
    /// Stop and unregister the service. The identity is kept unless --purge.
    Uninstall {
        /// Also delete the identity, queued reports and the config: installing
        /// again makes a new device.
        #[arg(long)]
        purge: bool,
    },
    /// Enrolled as, collector, service state, last delivery, queued reports, last
    /// result per check. Exit code: 0 healthy, 3 not enrolled, 4 service not
    /// running, 5 no delivery for three report intervals, 1 error.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Report to the collector until stopped. SIGHUP reloads the config.
    Run,
    /// Run as a Windows service (what the service manager starts).
    #[cfg(windows)]
    #[command(hide = true)]
    Service,
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

/// What to log: `RUST_LOG` as `LEVEL` or `TARGET=LEVEL,...`; `info` when
/// unset or unreadable. Not `EnvFilter`: its span and field filters bring a
/// regex engine into the binary, and every page of the binary counts in
/// the agent's memory.
fn log_filter() -> Targets {
    std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = log_filter();
    #[cfg(windows)]
    if matches!(cli.command, Command::Service) {
        return run_windows_service(&cli, filter);
    }
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
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
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("forewarn-agent: {}", error_text(err.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn config_source(cli: &Cli) -> ConfigSource {
    let (path, required) = match &cli.config {
        Some(path) => (path.clone(), true),
        None => (default_config_path(), false),
    };
    ConfigSource {
        path,
        required,
        state_dir: cli.state_dir.clone(),
    }
}

fn ca_pin(ca_fingerprint: Option<String>, ca_cert: Option<PathBuf>) -> anyhow::Result<CaPin> {
    Ok(match (ca_fingerprint, ca_cert) {
        (_, Some(path)) => CaPin::Certificate(
            std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read CA certificate {}", path.display()))?,
        ),
        (Some(fingerprint), None) => CaPin::Fingerprint(fingerprint),
        (None, None) => anyhow::bail!("give --ca-fingerprint or --ca-cert"),
    })
}

/// Runs the command; the process exit code on success (non-zero only for `status`).
async fn execute(cli: Cli) -> anyhow::Result<u8> {
    let mut source = config_source(&cli);
    // `install` writes the config, and `status`/`uninstall` must answer on a
    // machine that has none yet: a missing file means defaults for them.
    if matches!(
        cli.command,
        Command::Install { .. } | Command::Status { .. } | Command::Uninstall { .. }
    ) {
        source.required = false;
    }
    let config: AgentConfig = source.load()?;
    match cli.command {
        Command::Enroll {
            url,
            token,
            ca_fingerprint,
            ca_cert,
        } => {
            let ca = ca_pin(ca_fingerprint, ca_cert)?;
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
        Command::Install {
            url,
            token,
            ca_fingerprint,
            ca_cert,
            no_start,
            no_service,
        } => {
            let options = InstallOptions {
                url,
                token,
                ca: ca_pin(ca_fingerprint, ca_cert)?,
                config_path: source.path.clone(),
                state_dir: config.state_dir.clone(),
                service: if no_service {
                    ServiceStep::None
                } else if no_start {
                    ServiceStep::Register
                } else {
                    ServiceStep::RegisterAndStart
                },
            };
            for line in install(&options).await? {
                println!("{line}");
            }
        }
        Command::Uninstall { purge } => {
            let done = uninstall(&source.path, &config.state_dir, purge)?;
            if done.is_empty() {
                println!("nothing to uninstall: the service is not registered");
            }
            for line in done {
                println!("{line}");
            }
        }
        Command::Status { json } => {
            let status = forewarn_agent::status::gather(&config);
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                print!("{}", forewarn_agent::status::render(&status, now));
            }
            return Ok(status.health.exit_code());
        }
        Command::Run => {
            let (reload_requests, reloads) = tokio::sync::mpsc::unbounded_channel();
            #[cfg(unix)]
            forewarn_agent::daemon::forward_sighup(reload_requests)
                .context("cannot listen for SIGHUP")?;
            #[cfg(not(unix))]
            let _keep_open = reload_requests;
            run_daemon(source, reloads, shutdown_signal()).await?;
        }
        #[cfg(windows)]
        Command::Service => unreachable!("handled before the runtime starts"),
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
    Ok(0)
}

/// The Windows service: logs to a file (a service has no console) and hands
/// the main thread to the service manager.
#[cfg(windows)]
fn run_windows_service(cli: &Cli, filter: Targets) -> ExitCode {
    let log_path = default_config_path().with_file_name("agent.log");
    // Start afresh when large: the log is for the last problem, not history.
    if std::fs::metadata(&log_path).is_ok_and(|meta| meta.len() > 10 * 1024 * 1024) {
        let _ = std::fs::remove_file(&log_path);
    }
    match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
    {
        Ok(file) => tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(std::sync::Mutex::new(file)),
            )
            .with(filter)
            .init(),
        Err(_) => tracing_subscriber::registry()
            .with(tracing_subscriber::fmt::layer())
            .with(filter)
            .init(),
    }
    match forewarn_agent::service::windows_dispatch::run_dispatcher(config_source(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!(
                "forewarn-agent: cannot run as a service ({err}); this command is for the Windows service manager, use `run` in a console"
            );
            ExitCode::FAILURE
        }
    }
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
