//! `forewarn-loadgen`: arguments in, the run's table out. See docs/loadgen.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;

use forewarn_loadgen::drive::Plan;
use forewarn_loadgen::identities::Collector;
use forewarn_loadgen::run::{self, Options, Progress};

/// Enrolls simulated devices against a running collector and drives realistic
/// reports over one mTLS connection each, then prints reports/s, Report
/// latency, errors and (with --collector-pid, --db) what the collector spent.
#[derive(Debug, Parser)]
#[command(name = "forewarn-loadgen", version)]
struct Args {
    /// The collector's agent port, as agents use it: https://HOST:PORT.
    #[arg(long)]
    url: String,
    /// The collector's CA certificate (DATA_DIR/pki/ca.pem).
    #[arg(long)]
    ca_cert: PathBuf,
    /// Enrollment token for devices not in the cache yet
    /// (`forewarn-collector token create --uses N`).
    #[arg(long, env = "FOREWARN_LOADGEN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Directory that keeps enrolled identities between runs.
    #[arg(long, default_value = "loadgen-devices")]
    cache: PathBuf,
    /// Number of simulated devices.
    #[arg(long, default_value_t = 100)]
    devices: u32,
    /// Number of the first device (devices are load-NNNNN): load generators
    /// sharing one collector take disjoint ranges.
    #[arg(long, default_value_t = 0)]
    first_device: u32,
    /// Total Report calls per second over all devices; leave out to send as
    /// fast as possible; 0 holds the connections open without reports.
    #[arg(long)]
    rate: Option<f64>,
    /// Length of the measured window (e.g. 60s, 5m).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Share of reports (0 to 1) that change something since the device's previous one.
    #[arg(long, default_value_t = 0.1)]
    change_fraction: f64,
    /// Devices enrolling at once.
    #[arg(long, default_value_t = 8)]
    enroll_concurrency: usize,
    /// Devices connecting at once before the window (the collector holds at
    /// most 64 unauthenticated connections per source address by default).
    #[arg(long, default_value_t = 32)]
    connect_concurrency: usize,
    /// The collector's process id: report its CPU time and memory over the window.
    #[arg(long)]
    collector_pid: Option<u32>,
    /// The collector's SQLite database file (DATA_DIR/forewarn.db): report its growth per report.
    #[arg(long)]
    db: Option<PathBuf>,
}

struct Stderr;

impl Progress for Stderr {
    fn say(&self, line: &str) {
        eprintln!("{line}");
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match tokio::runtime::Runtime::new()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(load(args)))
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("forewarn-loadgen: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn load(args: Args) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&args.change_fraction) {
        anyhow::bail!(
            "--change-fraction {} must be between 0 and 1",
            args.change_fraction
        );
    }
    if let Some(rate) = args.rate.filter(|rate| !(*rate >= 0.0 && rate.is_finite())) {
        anyhow::bail!(
            "--rate {rate} must be a number of reports per second (0 holds the connections only)"
        );
    }
    raise_open_file_limit();
    let ca_pem = std::fs::read_to_string(&args.ca_cert)
        .with_context(|| format!("cannot read --ca-cert {}", args.ca_cert.display()))?;
    let options = Options {
        collector: Collector {
            address: run::address(&args.url)?,
            ca_pem,
            token: args.token,
        },
        cache: args.cache,
        first_device: args.first_device,
        devices: args.devices,
        plan: Plan {
            rate: args.rate,
            duration: args.duration,
            change_fraction: args.change_fraction,
            connect_concurrency: args.connect_concurrency,
        },
        enroll_concurrency: args.enroll_concurrency,
        collector_pid: args.collector_pid,
        database: args.db,
    };
    let summary = run::run(&options, &Stderr).await?;
    print!("{}", summary.render());
    Ok(())
}

/// One connection per device needs one descriptor each: raise the soft
/// limit to the hard one, as the collector does.
fn raise_open_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    if let Err(err) = setrlimit(Resource::Nofile, limit) {
        eprintln!("cannot raise the open file limit ({err}); many devices may fail to connect");
    }
}
