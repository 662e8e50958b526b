//! Store measurements run by hand (ignored tests), the same on every backend:
//! driven through the [`Store`] trait with an injected clock (each report's
//! times, the `now` of sweeps and retention rounds), so a month passes in
//! minutes. Each prints `measured: …` lines, which `loadgen/run-issue11.sh`
//! collects into its summary.
//!
//! - [`month_of_reports`]: what 30+ days of 5-minute laptop reports leave on
//!   disk per device, with retention running every hour as the collector
//!   runs it (and on PostgreSQL a `VACUUM` after each round, standing in
//!   for autovacuum, which a simulated month outruns), and whether the disk forecast on the thinned history is the
//!   forecast of the raw one.
//! - [`ingest_after_history`]: ingest CPU per report, then sweep CPU per
//!   device, on stores holding 14 and 28 days of history (what retention
//!   leaves: 2 days raw, then hourly) against a fresh store, in one run.
//! - [`sweep_fleet`]: one sweep's CPU at 2,000 devices.
//!
//! The SQLite cases live in `store/sqlite/measure.rs`, the PostgreSQL cases
//! here (below); both call these drivers. On PostgreSQL, CPU is this
//! process's plus that of the server processes serving the test's schema.
//!
//! ```text
//! cargo nextest run -p forewarn-collector --run-ignored only \
//!     -E 'test(/::measure::/)' --test-threads 1 --no-capture
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use forewarn_proto::pb;

use super::history::{DAY_SECS, HOUR_SECS, HistoryConfig};
use super::{
    IncomingReport, IngestOutcome, NewDevice, NewToken, ReportBody, Store, SweepScope, retention,
};
use crate::rules::forecast::forecast_state;
use crate::rules::{DiskSample, RuleBook};

/// A midnight, so days in the output are calendar days of the simulation.
pub(crate) const T0: i64 = 1_795_000_000 - 1_795_000_000 % DAY_SECS;
pub(crate) const INTERVAL: i64 = 300;
const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;
/// Reports in flight at once, as many as the PostgreSQL store's pool has
/// connections.
const IN_FLIGHT: usize = 16;

/// What a measurement reads from the backend under it.
#[async_trait]
pub(crate) trait Probe: Send + Sync {
    /// "SQLite" or "PostgreSQL".
    fn backend(&self) -> &'static str;
    /// Bytes the store occupies now (SQLite: the file after a checkpoint;
    /// PostgreSQL: tables with their indexes and TOAST).
    async fn bytes(&self) -> u64;
    /// CPU time spent for the store so far: this process, plus the database
    /// server's processes where there is a server.
    async fn cpu(&self) -> Duration;
    /// What the database's own housekeeping has done by now in a real
    /// deployment, run after each retention round of a simulated month:
    /// nothing on SQLite (freed pages are reused at once); on PostgreSQL a
    /// `VACUUM` of the store's tables, as autovacuum (on by default) runs it,
    /// so the space of deleted and updated rows is reused.
    async fn housekeeping(&self) {}
    /// Where the bytes are, one line per relation, largest first; empty
    /// where the backend has no such breakdown.
    async fn breakdown(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Which build measured: the numbers of a debug build are several times a
/// release build's, and their ratios differ too.
const BUILD: &str = if cfg!(debug_assertions) {
    "debug build"
} else {
    "release build"
};

/// CPU time of this process so far, every thread included — also threads
/// that have ended, such as the writer thread of a store already dropped
/// (summing the live threads' schedstat lost theirs and could go backwards).
pub(crate) fn process_cpu() -> Duration {
    let spent = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(spent.tv_sec as u64, spent.tv_nsec as u32)
}

/// A device count from the environment, or `default`.
pub(crate) fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

pub(crate) fn device_id(device: usize) -> String {
    format!("dev-{device:05}")
}

/// Enrolls `devices` laptops in group "laptops".
pub(crate) async fn enroll(store: &dyn Store, devices: usize) {
    store
        .create_token(
            NewToken {
                id: "measure".into(),
                token_hash: "measure".into(),
                group: "laptops".into(),
                created_at: 0,
                expires_at: i64::MAX,
                max_uses: None,
            },
            crate::console::auth::audit_entry(
                "measure",
                "enrollment_token.create",
                "measure",
                "",
                "test",
            ),
        )
        .await
        .unwrap();
    for device in 0..devices {
        store
            .enroll_device(
                "measure",
                NewDevice {
                    id: device_id(device),
                    hostname: format!("LAPTOP-{device:05}"),
                    os: "linux".into(),
                    agent_version: "0.1.0".into(),
                    enrolled_at: 0,
                    cert_serial: format!("{device:x}"),
                    cert_not_after: i64::MAX,
                    hardware: Default::default(),
                },
                0,
            )
            .await
            .unwrap()
            .unwrap();
    }
}

/// One simulated laptop: two filesystems whose free space drifts as logs,
/// caches and downloads come and go (cleaned up every ten days), three
/// certificates, an apt scan every six hours with a few pending updates, and
/// a nightly backup.
pub(crate) struct Laptop {
    device: usize,
    seq: u64,
    /// Available bytes of "/" and "/home".
    available: [u64; 2],
    /// Share of reports (0–1) in which the disks' numbers move; exact free
    /// bytes on a live disk move in nearly every report.
    change: f64,
    rng: StdRng,
}

impl Laptop {
    pub(crate) fn new(device: usize, change: f64) -> Self {
        Self {
            device,
            seq: 0,
            available: [120 * GIB, 300 * GIB],
            change,
            rng: StdRng::seed_from_u64(device as u64),
        }
    }

    pub(crate) fn id(&self) -> String {
        device_id(self.device)
    }

    /// Available bytes of "/" as of the last report.
    pub(crate) fn root_available(&self) -> u64 {
        self.available[0]
    }

    /// The next report, collected at `at`.
    pub(crate) fn report(&mut self, at: i64) -> IncomingReport {
        self.seq += 1;
        if self.rng.random_bool(self.change) {
            // About 300 MiB a day on "/", 150 MiB on "/home", with noise.
            let root = self.rng.random_range(0..2 * MIB);
            let home = self.rng.random_range(0..MIB);
            self.available[0] = self.available[0].saturating_sub(root);
            self.available[1] = self.available[1].saturating_sub(home);
        }
        if at.rem_euclid(10 * DAY_SECS) < INTERVAL {
            self.available = [120 * GIB, 300 * GIB];
        }
        let scan = at - at.rem_euclid(6 * HOUR_SECS) + (self.device as i64 % 600);
        let backup = at - at.rem_euclid(DAY_SECS) + 2 * HOUR_SECS;
        let status = pb::StatusReport {
            seq: self.seq,
            collected_at_unix_secs: at,
            policy_version: "p1".into(),
            boot_id: 1,
            host: Some(pb::HostFacts {
                hostname: format!("LAPTOP-{:05}", self.device),
                os_family: "linux".into(),
                os_name: "Debian GNU/Linux".into(),
                os_version: "12".into(),
                architecture: "x86_64".into(),
                model: "ThinkPad T14 Gen 4".into(),
                serial_number: format!("PF{:06}", self.device),
                agent_version: "0.1.0".into(),
                primary_user: format!("user{}", self.device),
                ..Default::default()
            }),
            disks: Some(pb::DiskCheck {
                filesystems: [
                    ("/", "/dev/nvme0n1p2", 250),
                    ("/home", "/dev/nvme0n1p3", 700),
                ]
                .into_iter()
                .zip(self.available)
                .map(|((mount, dev, gib), available)| pb::DiskStatus {
                    mount_point: mount.into(),
                    device: dev.into(),
                    filesystem: "ext4".into(),
                    total_bytes: gib * GIB,
                    free_bytes: available + 5 * GIB,
                    available_bytes: available,
                    inodes_total: Some(16_000_000),
                    inodes_free: Some(15_000_000 - available / MIB),
                    ..Default::default()
                })
                .collect(),
            }),
            certificates: Some(pb::CertificateCheck {
                certificates: (0..3)
                    .map(|c| pb::CertificateStatus {
                        sha256_fingerprint: format!("{:04}{c:060}", self.device),
                        subject: format!("CN=laptop-{}.corp.example", self.device),
                        issuer: "CN=Example Corp Issuing CA 2".into(),
                        serial: format!("{:032x}", self.device * 3 + c),
                        not_before_unix_secs: T0 - 30 * DAY_SECS,
                        not_after_unix_secs: T0 + (335 + c as i64) * DAY_SECS,
                        key_type: "EC".into(),
                        key_bits: 256,
                        signature_algorithm: "ecdsa-with-SHA256".into(),
                        ..Default::default()
                    })
                    .collect(),
                endpoints: vec![],
            }),
            patches: Some(pb::PatchCheck {
                package_manager: "apt".into(),
                scan_state: pb::ScanState::Ok as i32,
                last_successful_scan_unix_secs: Some(scan),
                pending: (0..4)
                    .map(|p| pb::PendingUpdate {
                        name: format!("libexample{p}"),
                        installed_version: "1.2.3-1".into(),
                        candidate_version: "1.2.3-2".into(),
                        source: "bookworm-security".into(),
                        security: p == 0,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            backups: Some(pb::BackupCheck {
                jobs: vec![pb::BackupJobStatus {
                    name: "restic-home".into(),
                    result: pb::BackupResult::Success as i32,
                    last_run_started_unix_secs: Some(backup - 900),
                    last_run_finished_unix_secs: Some(backup),
                    last_success_unix_secs: Some(backup),
                    ..Default::default()
                }],
            }),
            check_runs: ["disks", "certificates", "patches", "backups"]
                .into_iter()
                .map(|check| pb::CheckRun {
                    check: check.into(),
                    duration_ms: self.rng.random_range(1..40),
                    ok: true,
                })
                .collect(),
            ..Default::default()
        };
        IncomingReport {
            device_id: self.id(),
            seq: self.seq,
            boot_id: 1,
            collected_at: at,
            received_at: at,
            hostname: format!("LAPTOP-{:05}", self.device),
            os: "linux".into(),
            agent_version: "0.1.0".into(),
            body: status.into(),
            certificate: None,
        }
    }
}

/// Stores one report of every laptop at `at` (device `d` a few seconds
/// after the round's start, as a fleet spreads out), up to [`IN_FLIGHT`]
/// at once, as concurrent agents would send them.
pub(crate) async fn report_round(
    store: &Arc<dyn Store>,
    laptops: &mut [Laptop],
    at: i64,
    rules: &Arc<RuleBook>,
) {
    let stored = |done: Result<Result<IngestOutcome, _>, tokio::task::JoinError>| {
        let outcome = done.expect("an ingest task panicked").unwrap();
        assert!(
            matches!(outcome, IngestOutcome::Stored { .. }),
            "{outcome:?}"
        );
    };
    let mut calls = tokio::task::JoinSet::new();
    for laptop in laptops.iter_mut() {
        let report = laptop.report(at + (laptop.device as i64 % 60));
        let (store, rules) = (Arc::clone(store), Arc::clone(rules));
        calls.spawn(async move { store.ingest_report(report, rules).await });
        if calls.len() >= IN_FLIGHT {
            stored(calls.join_next().await.unwrap());
        }
    }
    while let Some(done) = calls.join_next().await {
        stored(done);
    }
}

fn megabytes(bytes: f64) -> String {
    format!("{:.3} MB", bytes / 1e6)
}

/// Stores `days` of 5-minute reports from `devices` laptops (`change`: share
/// of reports whose disk numbers move), running a retention round every
/// `retention_interval_secs` of simulated time, and prints what the store
/// holds per device along the way; then checks the disk forecast on what is
/// left against the forecast of every raw sample.
pub(crate) async fn month_of_reports(
    store: Arc<dyn Store>,
    probe: &dyn Probe,
    devices: usize,
    days: i64,
    change: f64,
) {
    let rules = Arc::new(RuleBook::default());
    let config = HistoryConfig::default();
    enroll(store.as_ref(), devices).await;
    let empty = probe.bytes().await;
    let mut laptops: Vec<Laptop> = (0..devices).map(|d| Laptop::new(d, change)).collect();
    let report_bytes = match Laptop::new(0, change).report(T0).body {
        ReportBody::Decoded(status) => status.encoded_len(),
        ReportBody::Encoded(bytes) => bytes.len(),
    };
    let mut raw_root: Vec<DiskSample> = Vec::new();
    let mut per_device_at_day = Vec::new();
    let mut next_retention = T0 + config.retention_interval_secs as i64;
    let mut compaction = retention::Compaction::default();
    let (cpu, wall) = (probe.cpu().await, Instant::now());
    let rounds = days * DAY_SECS / INTERVAL;
    for round in 0..rounds {
        let at = T0 + round * INTERVAL;
        report_round(&store, &mut laptops, at, &rules).await;
        raw_root.push(DiskSample {
            at,
            total_bytes: 250 * GIB,
            available_bytes: laptops[0].root_available(),
        });
        if at >= next_retention {
            retention::round(store.as_ref(), &config, at).await.unwrap();
            compaction
                .after_round(store.as_ref(), &config, at)
                .await
                .unwrap();
            probe.housekeeping().await;
            next_retention += config.retention_interval_secs as i64;
        }
        let day = (round + 1) * INTERVAL / DAY_SECS;
        if (round + 1) * INTERVAL % DAY_SECS == 0 && [1, 2, 3, 7, 14, 16, 23, 30, 31].contains(&day)
        {
            let per_device = (probe.bytes().await.saturating_sub(empty)) as f64 / devices as f64;
            println!(
                "{}: day {day:>2}: {} per device",
                probe.backend(),
                megabytes(per_device)
            );
            per_device_at_day.push((day, per_device));
        }
    }
    let (cpu, wall) = (probe.cpu().await.saturating_sub(cpu), wall.elapsed());
    for line in probe.breakdown().await {
        println!("measured: {}: {line}", probe.backend());
    }

    // The forecast on the thinned history, after one more round of retention
    // and one more report, against the forecast of every raw sample.
    let end = T0 + rounds * INTERVAL;
    retention::round(store.as_ref(), &config, end)
        .await
        .unwrap();
    report_round(&store, &mut laptops, end, &rules).await;
    raw_root.push(DiskSample {
        at: end,
        total_bytes: 250 * GIB,
        available_bytes: laptops[0].root_available(),
    });
    let rule = RuleBook::default().default.disk_forecast;
    let expected = forecast_state(&rule, &raw_root, end).describe();
    let stored = store
        .disk_forecasts(&laptops[0].id())
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.mount_point == "/")
        .map(|f| f.description);
    let summary = store.history_summary(&laptops[0].id()).await.unwrap();

    let at_day = |wanted: i64| {
        per_device_at_day
            .iter()
            .find(|(day, _)| *day == wanted)
            .map(|(_, bytes)| *bytes)
    };
    let last_day = per_device_at_day.last().map_or(0, |(day, _)| *day);
    let held = per_device_at_day.last().map_or(0.0, |(_, bytes)| *bytes);
    println!(
        "measured: {}: {devices} laptops x {days} days of 5-minute reports ({report_bytes} B each, \
         disks moving in {:.0} % of reports), retention hourly with the default [history]: \
         {} per device after {last_day} days (goal <= 1 MB per device per month) -> {}",
        probe.backend(),
        change * 100.0,
        megabytes(held),
        if held <= 1e6 { "met" } else { "NOT MET" }
    );
    if let (Some(day16), Some(day30)) = (at_day(16), at_day(30)) {
        println!(
            "measured: {}: growth once hourly samples are thinned to daily (days 16-30): {} per device per 30 days",
            probe.backend(),
            megabytes((day30 - day16) * 30.0 / 14.0)
        );
    }
    println!(
        "measured: {}: what one device keeps after {days} days: {} history lines, {} with a body, {} disk samples",
        probe.backend(),
        summary.reports,
        summary.bodies,
        summary.disk_samples
    );
    println!(
        "measured: {}: forecast of \"/\" on the thinned history {:?}, on every raw sample {expected:?} -> {}",
        probe.backend(),
        stored.as_deref().unwrap_or("none"),
        if stored.as_deref() == Some(expected.as_str()) {
            "unchanged"
        } else {
            "CHANGED"
        }
    );
    println!(
        "measured: {}: the simulated month cost {:.1} s CPU, {:.0?} wall ({:.3} ms CPU per report, {BUILD})",
        probe.backend(),
        cpu.as_secs_f64(),
        wall,
        cpu.as_secs_f64() * 1000.0 / (rounds as f64 * devices as f64)
    );
    assert_eq!(
        stored.as_deref(),
        Some(expected.as_str()),
        "the forecast on thinned history must equal the raw one"
    );
}

/// Gives `store` the history `devices` laptops have after `days` days, as
/// retention leaves it: a report an hour until 2 days before `now` (what
/// hourly thinning keeps of the disk samples), then one every 5 minutes;
/// then a retention round at `now`.
pub(crate) async fn seed_history(
    store: &Arc<dyn Store>,
    laptops: &mut [Laptop],
    now: i64,
    days: i64,
    rules: &Arc<RuleBook>,
) {
    let config = HistoryConfig::default();
    let raw_from = now - i64::from(config.raw_days) * DAY_SECS;
    let mut at = now - days * DAY_SECS;
    while at < now {
        report_round(store, laptops, at, rules).await;
        at += if at < raw_from { HOUR_SECS } else { INTERVAL };
    }
    retention::round(store.as_ref(), &config, now)
        .await
        .unwrap();
}

/// One store of [`ingest_after_history`]: its laptops, their history, and
/// what its reports cost so far.
struct HistoryCase<'a> {
    store: Arc<dyn Store>,
    probe: &'a dyn Probe,
    days: i64,
    laptops: Vec<Laptop>,
    cpu: Duration,
    wall: Duration,
}

/// Ingest, then sweeps ([`sweep_after_history`]), on stores holding 14 and
/// 28 days of history against a fresh one (the same devices, one report
/// each), the same reports, in one run: the stores take turns a round of
/// reports at a time, so drift in the machine is shared. The forecast reads at most its window (14 days), so 28 days
/// must cost what 14 do; against the fresh store, what is left is the
/// forecast itself (the fresh devices have no trend to fit yet).
pub(crate) async fn ingest_after_history(
    stores: [(Arc<dyn Store>, &dyn Probe); 3],
    devices: usize,
) {
    let rules = Arc::new(RuleBook::default());
    let now = T0 + 28 * DAY_SECS;
    let rounds = env_count("FOREWARN_MEASURE_ROUNDS", 36) as i64;
    let mut cases = Vec::new();
    for ((store, probe), days) in stores.into_iter().zip([0, 14, 28]) {
        let started = Instant::now();
        let mut laptops: Vec<Laptop> = (0..devices).map(|d| Laptop::new(d, 1.0)).collect();
        enroll(store.as_ref(), devices).await;
        seed_history(&store, &mut laptops, now - INTERVAL, days, &rules).await;
        // A fresh device has reported once, as the others have.
        report_round(&store, &mut laptops, now - INTERVAL, &rules).await;
        let summary = store.history_summary(&device_id(0)).await.unwrap();
        println!(
            "{}: seeded {devices} laptops with {days} days of history in {:.0?} ({} lines, {} disk samples per device)",
            probe.backend(),
            started.elapsed(),
            summary.reports,
            summary.disk_samples
        );
        cases.push(HistoryCase {
            store,
            probe,
            days,
            laptops,
            cpu: Duration::ZERO,
            wall: Duration::ZERO,
        });
    }
    // Each at rest, as a collector's database is between bursts: SQLite's
    // write-ahead log checkpointed, PostgreSQL vacuumed as autovacuum would
    // have after retention's deletes. Otherwise the seeding's checkpoint and
    // dead index entries are charged to the first reports measured.
    for case in &cases {
        case.probe.bytes().await;
        case.probe.housekeeping().await;
    }
    for round in 0..rounds {
        for case in &mut cases {
            let (cpu, wall) = (case.probe.cpu().await, Instant::now());
            report_round(
                &case.store,
                &mut case.laptops,
                now + round * INTERVAL,
                &rules,
            )
            .await;
            case.cpu += case.probe.cpu().await.saturating_sub(cpu);
            case.wall += wall.elapsed();
        }
    }
    let reports = (rounds as usize * devices) as u32;
    let per_report = |case: &HistoryCase<'_>| case.cpu.as_secs_f64() * 1000.0 / f64::from(reports);
    let rate = |case: &HistoryCase<'_>| f64::from(reports) / case.wall.as_secs_f64();
    let fresh = &cases[0];
    for case in &cases[1..] {
        println!(
            "measured: {}: ingest CPU per report with {} days of history {:.3} ms vs fresh {:.3} ms \
             ({:.2}x); {:.0} vs {:.0} reports/s one round at a time \
             ({devices} laptops x {rounds} rounds, every report moving its disks, {BUILD})",
            case.probe.backend(),
            case.days,
            per_report(case),
            per_report(fresh),
            per_report(case) / per_report(fresh).max(1e-9),
            rate(case),
            rate(fresh),
        );
    }
    println!(
        "measured: {}: ingest CPU per report with 28 days of history vs 14: {:.2}x (goal: unchanged)",
        fresh.probe.backend(),
        per_report(&cases[2]) / per_report(&cases[1]).max(1e-9)
    );
    sweep_after_history(&cases, now + rounds * INTERVAL, &rules).await;
}

/// Sweeps of every device (what the sweeper does once at start, and what a
/// device due does) on the stores of [`ingest_after_history`], taking turns:
/// each device is planned with its history, so the forecast's reads and fit
/// are what differ.
async fn sweep_after_history(cases: &[HistoryCase<'_>], at: i64, rules: &Arc<RuleBook>) {
    let sweeps = env_count("FOREWARN_MEASURE_SWEEPS", 20) as i64;
    let mut cpu = vec![Duration::ZERO; cases.len()];
    for sweep in 0..sweeps {
        for (case, spent) in cases.iter().zip(&mut cpu) {
            let before = case.probe.cpu().await;
            case.store
                .sweep_alerts(Arc::clone(rules), at + sweep * 30, SweepScope::All)
                .await
                .unwrap();
            *spent += case.probe.cpu().await.saturating_sub(before);
        }
    }
    let planned = (sweeps as usize * cases[0].laptops.len()) as f64;
    let per_device = |spent: Duration| spent.as_secs_f64() * 1000.0 / planned;
    let fresh = per_device(cpu[0]);
    for (case, spent) in cases.iter().zip(&cpu).skip(1) {
        println!(
            "measured: {}: sweep CPU per device planned with {} days of history {:.3} ms vs fresh {fresh:.3} ms \
             ({:.2}x; {sweeps} sweeps of all {} devices, {BUILD})",
            case.probe.backend(),
            case.days,
            per_device(*spent),
            per_device(*spent) / fresh.max(1e-9),
            case.laptops.len(),
        );
    }
}

/// One full sweep (the first after a start) and one sweep of the devices
/// due, at `devices` laptops that each reported once; one in a hundred went
/// quiet three days ago, so its offline and dead-man alerts are due.
pub(crate) async fn sweep_fleet(store: Arc<dyn Store>, probe: &dyn Probe, devices: usize) {
    let rules = Arc::new(RuleBook::default());
    let now = T0 + 30 * DAY_SECS;
    enroll(store.as_ref(), devices).await;
    // A few reports at a time: thousands at once outwait the PostgreSQL
    // pool's connection timeout.
    let mut calls = tokio::task::JoinSet::new();
    for device in 0..devices {
        let mut laptop = Laptop::new(device, 1.0);
        let at = if device % 100 == 0 {
            now - 3 * DAY_SECS
        } else {
            now - (device as i64 % INTERVAL)
        };
        let (store, rules) = (Arc::clone(&store), Arc::clone(&rules));
        calls.spawn(async move { store.ingest_report(laptop.report(at), rules).await });
        if calls.len() >= IN_FLIGHT {
            calls.join_next().await.unwrap().unwrap().unwrap();
        }
    }
    while let Some(done) = calls.join_next().await {
        done.unwrap().unwrap();
    }
    let sweep = async |scope: SweepScope, at: i64| {
        let (cpu, wall) = (probe.cpu().await, Instant::now());
        let sent = store
            .sweep_alerts(Arc::clone(&rules), at, scope)
            .await
            .unwrap();
        (sent, probe.cpu().await.saturating_sub(cpu), wall.elapsed())
    };
    let (sent_all, cpu_all, wall_all) = sweep(SweepScope::All, now + 30).await;
    let (sent_due, cpu_due, wall_due) = sweep(SweepScope::Due, now + 60).await;
    println!(
        "measured: {}: one sweep at {devices} devices: every device (the first after a start) \
         {:.0} ms CPU, {:.0?} wall, {sent_all} notifications; the devices due {:.1} ms CPU, \
         {:.0?} wall, {sent_due} notifications ({BUILD})",
        probe.backend(),
        cpu_all.as_secs_f64() * 1000.0,
        wall_all,
        cpu_due.as_secs_f64() * 1000.0,
        wall_due
    );
    assert!(sent_all > 0, "the quiet devices' alerts are due");
}

mod postgres {
    //! The PostgreSQL cases, each in a schema of its own on the test server
    //! (`FOREWARN_TEST_POSTGRES_URL`, as the store tests), dropped at the end.

    use super::*;
    use crate::store::postgres::PostgresStore;
    use forewarn_secret::Secret;

    /// A schema for one measurement, and an admin connection to read sizes
    /// and find the server processes serving it (by application name).
    struct Schema {
        name: String,
        url: String,
        admin: tokio_postgres::Client,
    }

    impl Schema {
        async fn create() -> Self {
            let url = std::env::var("FOREWARN_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
            let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|err| panic!("PostgreSQL is not reachable at {url}: {err}"));
            tokio::spawn(connection);
            let name = format!("forewarn_measure_{}", uuid::Uuid::new_v4().simple());
            admin
                .batch_execute(&format!("CREATE SCHEMA {name}"))
                .await
                .unwrap();
            Self { name, url, admin }
        }

        async fn open(&self) -> Arc<dyn Store> {
            let separator = if self.url.contains('?') { '&' } else { '?' };
            let url = format!(
                "{}{separator}options=-csearch_path%3D{name}&application_name={name}",
                self.url,
                name = self.name
            );
            Arc::new(PostgresStore::open(&Secret::new(url), None).await.unwrap())
        }

        async fn drop_schema(self) {
            self.admin
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                    &[&self.name],
                )
                .await
                .unwrap();
            self.admin
                .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name))
                .await
                .unwrap();
        }
    }

    #[async_trait]
    impl Probe for Schema {
        fn backend(&self) -> &'static str {
            "PostgreSQL"
        }

        async fn bytes(&self) -> u64 {
            let row = self
                .admin
                .query_one(
                    "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::BIGINT
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')",
                    &[&self.name],
                )
                .await
                .unwrap();
            u64::try_from(row.get::<_, i64>(0)).unwrap_or(0)
        }

        async fn cpu(&self) -> Duration {
            let rows = self
                .admin
                .query(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
                    &[&self.name],
                )
                .await
                .unwrap();
            let server: u64 = rows
                .iter()
                .filter_map(|row| {
                    let pid: i32 = row.get(0);
                    std::fs::read_to_string(format!("/proc/{pid}/schedstat")).ok()
                })
                .filter_map(|line| line.split_whitespace().next()?.parse::<u64>().ok())
                .sum();
            process_cpu() + Duration::from_nanos(server)
        }

        async fn breakdown(&self) -> Vec<String> {
            let rows = self
                .admin
                .query(
                    "SELECT c.relname::TEXT, c.relkind::TEXT,
                       pg_relation_size(c.oid, 'main'), pg_relation_size(c.oid, 'fsm'),
                       pg_relation_size(c.oid, 'vm'), COALESCE(c.reltuples, 0)::BIGINT
                     FROM pg_class c
                     WHERE c.relnamespace = $1::TEXT::regnamespace
                        OR c.oid IN (SELECT reltoastrelid FROM pg_class
                                     WHERE relnamespace = $1::TEXT::regnamespace)
                        OR c.oid IN (SELECT i.indexrelid FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
                                     WHERE t.relnamespace = $1::TEXT::regnamespace AND t.relkind = 't')
                     ORDER BY pg_total_relation_size(c.oid) DESC",
                    &[&self.name],
                )
                .await
                .unwrap();
            rows.iter()
                .filter(|row| row.get::<_, i64>(2) > 0)
                .map(|row| {
                    format!(
                        "{} ({}): main {} KB, free-space map {} KB, visibility map {} KB, ~{} rows",
                        row.get::<_, String>(0),
                        row.get::<_, String>(1),
                        row.get::<_, i64>(2) / 1024,
                        row.get::<_, i64>(3) / 1024,
                        row.get::<_, i64>(4) / 1024,
                        row.get::<_, i64>(5)
                    )
                })
                .collect()
        }

        async fn housekeeping(&self) {
            let tables = self
                .admin
                .query(
                    "SELECT tablename FROM pg_tables WHERE schemaname = $1",
                    &[&self.name],
                )
                .await
                .unwrap();
            for table in tables {
                let table: String = table.get(0);
                self.admin
                    .batch_execute(&format!("VACUUM {}.{table}", self.name))
                    .await
                    .unwrap();
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement run by hand (minutes); see the module docs"]
    async fn postgres_month_of_reports_per_device() {
        let schema = Schema::create().await;
        let devices = env_count("FOREWARN_MEASURE_MONTH_DEVICES", 10);
        let days = env_count("FOREWARN_MEASURE_DAYS", 31) as i64;
        month_of_reports(schema.open().await, &schema, devices, days, 1.0).await;
        schema.drop_schema().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement run by hand (minutes); see the module docs"]
    async fn postgres_ingest_with_two_weeks_of_history() {
        let schemas = [
            Schema::create().await,
            Schema::create().await,
            Schema::create().await,
        ];
        let devices = env_count("FOREWARN_MEASURE_HISTORY_DEVICES", 50);
        ingest_after_history(
            [
                (schemas[0].open().await, &schemas[0]),
                (schemas[1].open().await, &schemas[1]),
                (schemas[2].open().await, &schemas[2]),
            ],
            devices,
        )
        .await;
        for schema in schemas {
            schema.drop_schema().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement run by hand (a minute); see the module docs"]
    async fn postgres_sweep_at_2000_devices() {
        let schema = Schema::create().await;
        let devices = env_count("FOREWARN_MEASURE_DEVICES", 2000);
        sweep_fleet(schema.open().await, &schema, devices).await;
        schema.drop_schema().await;
    }
}
