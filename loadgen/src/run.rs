//! The whole run, in order: identities, connections, the measured window,
//! and readings of the collector and its database around that window.

use std::path::{Path, PathBuf};

use forewarn_agent::transport::CollectorAddress;

use crate::drive::{self, Plan};
use crate::identities::{self, Collector};
use crate::procfs::{self, Sample};
use crate::summary::Summary;

/// What to run against and how.
#[derive(Debug, Clone)]
pub struct Options {
    pub collector: Collector,
    /// Where enrolled identities are kept between runs.
    pub cache: PathBuf,
    /// The first device's number: this run drives devices
    /// `first_device..first_device + devices`.
    pub first_device: u32,
    pub devices: u32,
    pub plan: Plan,
    pub enroll_concurrency: usize,
    /// The collector's process id, to read its CPU time and memory.
    pub collector_pid: Option<u32>,
    /// The collector's SQLite database, to measure its growth.
    pub database: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Identity(#[from] identities::IdentityError),
    #[error(transparent)]
    Transport(#[from] forewarn_agent::transport::TransportError),
    #[error(transparent)]
    Proc(#[from] procfs::ProcError),
    #[error("cannot read the size of {path}: {source}; is --db the collector's database file?")]
    Database {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Progress lines for the person running the tool.
pub trait Progress {
    fn say(&self, line: &str);
}

pub async fn run(options: &Options, progress: &dyn Progress) -> Result<Summary, RunError> {
    let (devices, enrolled_now) = identities::load_or_enroll_range(
        &options.collector,
        &options.cache,
        options.first_device..options.first_device.saturating_add(options.devices),
        options.enroll_concurrency,
    )
    .await?;
    progress.say(&format!(
        "{} devices ready ({enrolled_now} enrolled now, {} from {})",
        devices.len(),
        devices.len() - enrolled_now,
        options.cache.display()
    ));
    let (connected, first_reports) = drive::connect(devices, &options.plan).await?;
    let window = if options.plan.holds_only() {
        "holding the connections without reports"
    } else {
        "measuring"
    };
    progress.say(&format!(
        "{} devices connected, {} first reports stored; {window} for {} s",
        connected.len(),
        first_reports.succeeded(),
        options.plan.duration.as_secs()
    ));
    let collector_at_start = collector_sample(options)?;
    let loadgen_at_start = own_sample();
    let database_at_start = database_bytes(options)?;
    let (tally, window) = drive::run(connected, &options.plan).await;
    let loadgen = match (loadgen_at_start, own_sample()) {
        (Some(start), Some(end)) => Some((start, end)),
        _ => None,
    };
    let collector = match (collector_at_start, collector_sample(options)?) {
        (Some(start), Some(end)) => Some((start, end)),
        _ => None,
    };
    let database_bytes = match (database_at_start, database_bytes(options)?) {
        (Some(start), Some(end)) => Some((start, end)),
        _ => None,
    };
    Ok(Summary {
        devices: options.devices as usize,
        target_rate: options.plan.rate,
        change_fraction: options.plan.change_fraction,
        window,
        tally,
        first_reports,
        collector,
        loadgen,
        database_bytes,
        load_average: std::fs::read_to_string("/proc/loadavg")
            .ok()
            .map(|text| text.trim().to_owned()),
    })
}

fn collector_sample(options: &Options) -> Result<Option<Sample>, RunError> {
    options
        .collector_pid
        .map(|pid| procfs::sample(Path::new("/proc"), pid))
        .transpose()
        .map_err(Into::into)
}

/// This process, whose CPU competes with the collector's on a shared machine.
fn own_sample() -> Option<Sample> {
    procfs::sample(Path::new("/proc"), std::process::id()).ok()
}

/// The database file plus its write-ahead log, which holds what is not yet checkpointed.
fn database_bytes(options: &Options) -> Result<Option<u64>, RunError> {
    let Some(path) = &options.database else {
        return Ok(None);
    };
    let size = |path: &Path| {
        std::fs::metadata(path)
            .map(|meta| meta.len())
            .map_err(|source| RunError::Database {
                path: path.to_owned(),
                source,
            })
    };
    let mut wal = path.clone().into_os_string();
    wal.push("-wal");
    let wal = PathBuf::from(wal);
    let wal_bytes = if wal.exists() { size(&wal)? } else { 0 };
    Ok(Some(size(path)? + wal_bytes))
}

/// Parses `https://HOST:PORT` as the agent does.
pub fn address(url: &str) -> Result<CollectorAddress, RunError> {
    Ok(CollectorAddress::parse(url)?)
}
