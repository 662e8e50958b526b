//! `forewarn-collector`: command-line entry point. Parses arguments, sets up
//! logging, and calls into the library.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use forewarn_collector::admin;
use forewarn_collector::alerts::admin::{self as alerts_admin, SilenceRequest};
use forewarn_collector::alerts::{AlertFilter, AlertStatus};
use forewarn_collector::config::CollectorConfig;
use forewarn_collector::demo::{self, DemoOptions};
use forewarn_collector::pki::CollectorPki;
use forewarn_collector::rules::Severity;
use forewarn_collector::server::{Collector, shutdown_signal};
use forewarn_collector::store::sqlite::SqliteStore;
use forewarn_collector::tickets::{access, admin as tickets_admin};

#[derive(Debug, Parser)]
#[command(name = "forewarn-collector", version, about = "Forewarn collector")]
struct Cli {
    /// Collector config file.
    #[arg(
        long,
        global = true,
        env = "FOREWARN_COLLECTOR_CONFIG",
        default_value = "/etc/forewarn/collector.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve agents (gRPC/mTLS) and the web page until SIGINT/SIGTERM.
    Serve,
    /// Start a collector and an agent for this machine in a local directory.
    Demo {
        /// Directory for the demo's config, database, CA and agent state.
        #[arg(long, default_value = "forewarn-demo")]
        dir: PathBuf,
        /// Address of the fleet page.
        #[arg(long, default_value = "127.0.0.1:8080")]
        web: SocketAddr,
        /// Loopback port for agents.
        #[arg(long, default_value_t = 7443)]
        agent_port: u16,
        /// Seconds between the demo agent's reports.
        #[arg(long, default_value_t = 10)]
        report_interval_secs: u32,
    },
    /// Print the SHA-256 fingerprint of the collector CA, for `forewarn-agent enroll`.
    CaFingerprint,
    /// Enrollment tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Enrolled devices.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Alerts raised by the rules.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// Silences and maintenance windows: notifications held, state kept.
    #[command(subcommand)]
    Silence(SilenceCommand),
    /// Ticket systems and notification channels.
    #[command(subcommand)]
    Tickets(TicketsCommand),
}

#[derive(Debug, Subcommand)]
enum TicketsCommand {
    /// Check a connector's address, credentials and permissions without
    /// creating anything; prints each problem and exits non-zero if any.
    Test {
        /// Connector name, as in `[tickets.connectors.NAME]`.
        #[arg(long)]
        connector: String,
    },
    /// List the ticket operations the worker gave up on, with their errors.
    Failed,
    /// Queue the given-up operations again (each alert's newest only), e.g.
    /// after fixing a token; the running collector picks them up.
    RetryFailed,
}

#[derive(Debug, Subcommand)]
enum AlertsCommand {
    /// List alerts, most recently seen first.
    List {
        /// pending, firing, acknowledged or resolved.
        #[arg(long, value_parser = alerts_admin::parse_status)]
        state: Option<AlertStatus>,
        /// warning or critical.
        #[arg(long, value_parser = alerts_admin::parse_severity)]
        severity: Option<Severity>,
        /// Device id.
        #[arg(long)]
        device: Option<String>,
    },
    /// Show one alert with its full history.
    Show { id: i64 },
    /// Acknowledge a firing alert: no more notifications until it changes.
    Ack {
        id: i64,
        /// Why, or what is being done about it.
        #[arg(long)]
        note: String,
        /// Who acknowledges (default: $USER).
        #[arg(long, env = "USER", default_value = "unknown")]
        by: String,
    },
}

#[derive(Debug, Args)]
struct SilenceAddArgs {
    /// Only this device id.
    #[arg(long)]
    device: Option<String>,
    /// Only devices of this group.
    #[arg(long)]
    group: Option<String>,
    /// Only this rule (e.g. offline_minutes).
    #[arg(long)]
    rule: Option<String>,
    /// Only this subject (mount point, certificate fingerprint, backup job).
    #[arg(long)]
    subject: Option<String>,
    /// Start, RFC 3339 (default: now).
    #[arg(long)]
    starts: Option<String>,
    /// How long a one-off silence lasts; for a weekly window, until when it recurs.
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Weekly window: day of the week (e.g. sunday).
    #[arg(long)]
    every: Option<String>,
    /// Weekly window: start time HH:MM (UTC).
    #[arg(long)]
    at: Option<String>,
    /// Weekly window: length (e.g. 4h).
    #[arg(long, value_parser = humantime::parse_duration)]
    window: Option<Duration>,
    /// Why notifications are silenced.
    #[arg(long)]
    comment: String,
    /// Who adds it (default: $USER).
    #[arg(long, env = "USER", default_value = "unknown")]
    by: String,
}

#[derive(Debug, Subcommand)]
enum SilenceCommand {
    /// Add a one-off silence (--duration) or a weekly window (--every --at --window).
    Add(Box<SilenceAddArgs>),
    /// List silences.
    List,
    /// End a silence now.
    Expire { id: String },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token; its secret is printed once.
    Create {
        /// Device group the token enrolls into.
        #[arg(long)]
        group: String,
        /// Lifetime, e.g. 1h, 7d.
        #[arg(long, value_parser = humantime::parse_duration)]
        expires: Duration,
        /// How many devices may enroll with it (default: unlimited until expiry).
        #[arg(long)]
        uses: Option<u32>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
enum DeviceCommand {
    /// List devices.
    List,
    /// Show one device and its latest status.
    Show { id: String },
    /// Retire a device: its certificate is refused from now on.
    Retire { id: String },
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
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("forewarn-collector: cannot start runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("forewarn-collector: {}", one_line(&err));
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

fn open_store(config_path: &Path) -> anyhow::Result<SqliteStore> {
    let config = CollectorConfig::load(config_path)?;
    Ok(SqliteStore::open(&config.database_path())?)
}

async fn execute(cli: Cli) -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    match cli.command {
        Command::Serve => {
            let collector = Collector::open(CollectorConfig::load(&cli.config)?)?;
            let fingerprint = collector.pki.ca_fingerprint().to_owned();
            let bound = collector.bind().await?;
            // One line scripts and tests can read for the real ports.
            println!(
                "forewarn-collector listening agents={} web={} ca_sha256={fingerprint}",
                bound.agent_addr(),
                bound.web_addr().map_or("off".into(), |a| a.to_string())
            );
            bound.serve(shutdown_signal()).await?;
        }
        Command::Demo {
            dir,
            web,
            agent_port,
            report_interval_secs,
        } => {
            demo::run(DemoOptions {
                dir,
                web_listen: web,
                agent_port,
                report_interval_secs,
            })
            .await?;
        }
        Command::CaFingerprint => {
            let config = CollectorConfig::load(&cli.config)?;
            let pki = CollectorPki::load_or_create(
                &config.data_dir,
                &config.server_names,
                config.tls.as_ref(),
            )?;
            println!("{}", pki.ca_fingerprint());
        }
        Command::Token(command) => {
            let store = open_store(&cli.config)?;
            match command {
                TokenCommand::Create {
                    group,
                    expires,
                    uses,
                } => {
                    admin::create_token(&store, &group, expires, uses, &mut out).await?;
                }
                TokenCommand::List => admin::list_tokens(&store, &mut out).await?,
                TokenCommand::Revoke { id } => admin::revoke_token(&store, &id, &mut out).await?,
            }
        }
        Command::Device(command) => {
            let store = open_store(&cli.config)?;
            match command {
                DeviceCommand::List => admin::list_devices(&store, &mut out).await?,
                DeviceCommand::Show { id } => admin::show_device(&store, &id, &mut out).await?,
                DeviceCommand::Retire { id } => admin::retire_device(&store, &id, &mut out).await?,
            }
        }
        Command::Alerts(command) => {
            let store = open_store(&cli.config)?;
            match command {
                AlertsCommand::List {
                    state,
                    severity,
                    device,
                } => {
                    let filter = AlertFilter {
                        status: state,
                        severity,
                        device_id: device,
                    };
                    alerts_admin::list_alerts(&store, filter, &mut out).await?;
                }
                AlertsCommand::Show { id } => {
                    alerts_admin::show_alert(&store, id, &mut out).await?
                }
                AlertsCommand::Ack { id, note, by } => {
                    alerts_admin::ack_alert(&store, id, &by, &note, &mut out).await?;
                }
            }
        }
        Command::Silence(command) => {
            let store = open_store(&cli.config)?;
            match command {
                SilenceCommand::Add(args) => {
                    let SilenceAddArgs {
                        device,
                        group,
                        rule,
                        subject,
                        starts,
                        duration,
                        every,
                        at,
                        window,
                        comment,
                        by,
                    } = *args;
                    let request = SilenceRequest {
                        device_id: device,
                        group,
                        rule,
                        subject,
                        starts,
                        duration,
                        weekly_on: every,
                        weekly_at: at,
                        window,
                        comment,
                        created_by: by,
                    };
                    alerts_admin::add_silence(&store, request, &mut out).await?;
                }
                SilenceCommand::List => alerts_admin::list_silences(&store, &mut out).await?,
                SilenceCommand::Expire { id } => {
                    alerts_admin::expire_silence(&store, &id, &mut out).await?;
                }
            }
        }
        Command::Tickets(TicketsCommand::Test { connector }) => {
            let config = CollectorConfig::load(&cli.config)?;
            let problems = access::test_connector(&config.tickets, &connector).await;
            if !problems.is_empty() {
                for problem in &problems {
                    println!("problem: {problem}");
                }
                anyhow::bail!(
                    "connector {connector:?} is not ready: {} problem(s)",
                    problems.len()
                );
            }
            println!("connector {connector:?}: address, credentials and permissions are fine");
        }
        Command::Tickets(TicketsCommand::Failed) => {
            tickets_admin::list_failed(&open_store(&cli.config)?, &mut out).await?;
        }
        Command::Tickets(TicketsCommand::RetryFailed) => {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            tickets_admin::retry_failed(&open_store(&cli.config)?, now, &mut out).await?;
        }
    }
    Ok(())
}
