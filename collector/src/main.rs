//! `forewarn-collector`: command-line entry point. Parses arguments, sets up
//! logging, and calls into the library's [`forewarn_collector::cli`].

use std::process::ExitCode;

use clap::Parser;

use forewarn_collector::cli::{self, Cli};

/// Ingest allocates per report (the decoded report's strings and lists);
/// mimalloc serves that in a fraction of glibc malloc's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    match runtime.block_on(cli::run(cli, &mut std::io::stdout())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => match cli::error_report(&err) {
            Some(report) => {
                eprintln!("forewarn-collector: {report}");
                ExitCode::FAILURE
            }
            None => ExitCode::SUCCESS,
        },
    }
}
