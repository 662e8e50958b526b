//! `forewarn-demo`: a collector with its embedded store and an agent for this
//! machine, in one command. Parses arguments, sets up logging and calls
//! [`demo::run`].

mod demo;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use demo::DemoOptions;

/// Start a collector and an agent for this machine in a local directory.
#[derive(Debug, Parser)]
#[command(name = "forewarn-demo", version, about)]
struct Cli {
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
            eprintln!("forewarn-demo: cannot start runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let options = DemoOptions {
        dir: cli.dir,
        web_listen: cli.web,
        agent_port: cli.agent_port,
        report_interval_secs: cli.report_interval_secs,
    };
    match runtime.block_on(demo::run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let report = forewarn_collector::cli::error_report(&err.into())
                .unwrap_or_else(|| "output closed".to_owned());
            eprintln!("forewarn-demo: {report}");
            ExitCode::FAILURE
        }
    }
}
