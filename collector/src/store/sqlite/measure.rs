//! Measurements run by hand on SQLite, not tests of behaviour.
//!
//! - What one sweep and one CLI command cost on a database holding two weeks
//!   of 5-minute disk history for a 2,000-device fleet, before and after, in
//!   one run (`sweep_and_store_open_with_two_weeks_of_history`). The seeded
//!   database is copied, so "before" (every device planned, as every sweep
//!   did) and "after" (only the devices due) start from the same rows.
//! - The backend-neutral measurements of [`crate::store::measure`] on SQLite:
//!   bytes per device per month, ingest with 14 days of history against a
//!   fresh store, one sweep at 2,000 devices.
//!
//! ```text
//! cargo nextest run -p forewarn-collector --run-ignored only \
//!     -E 'test(/^store::sqlite::measure::/)' --test-threads 1 --no-capture
//! ```
//!
//! `FOREWARN_MEASURE_DEVICES` changes the fleet size (default 2,000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use forewarn_proto::pb;

use super::SqliteStore;
use crate::rules::RuleBook;
use crate::store::ledger::TicketLedger;
use crate::store::measure::{self, Probe, env_count, process_cpu};
use crate::store::outbox::OutboxDelivery;
use crate::store::{IncomingReport, Store, SweepScope};

const T: i64 = 1_795_000_000;
const DAY: i64 = 86_400;
const INTERVAL: i64 = 300;
const HISTORY_DAYS: i64 = 14;
const GIB: u64 = 1 << 30;
/// One device in this many went quiet three days ago: their offline alert
/// is due at the measured sweep.
const QUIET_ONE_IN: usize = 100;

/// What a laptop reports: two filesystems, three certificates far from
/// expiry, patches scanned an hour ago, a backup that succeeded last night.
fn report(device: usize, seq: u64, at: i64) -> IncomingReport {
    let status = pb::StatusReport {
        seq,
        collected_at_unix_secs: at,
        disks: Some(pb::DiskCheck {
            filesystems: ["/", "/home"]
                .into_iter()
                .map(|mount| pb::DiskStatus {
                    mount_point: mount.into(),
                    filesystem: "ext4".into(),
                    total_bytes: 500 * GIB,
                    free_bytes: 216 * GIB,
                    available_bytes: 216 * GIB,
                    ..Default::default()
                })
                .collect(),
        }),
        certificates: Some(pb::CertificateCheck {
            certificates: (0..3)
                .map(|c| pb::CertificateStatus {
                    sha256_fingerprint: format!("{device:04}{c:060}"),
                    subject: format!("CN=host-{device}.example"),
                    not_after_unix_secs: T + (90 + (device % 200) as i64 + c) * DAY,
                    ..Default::default()
                })
                .collect(),
            endpoints: vec![],
        }),
        patches: Some(pb::PatchCheck {
            package_manager: "apt".into(),
            scan_state: pb::ScanState::Ok as i32,
            last_successful_scan_unix_secs: Some(at - 3600),
            ..Default::default()
        }),
        backups: Some(pb::BackupCheck {
            jobs: vec![pb::BackupJobStatus {
                name: "nightly".into(),
                result: pb::BackupResult::Success as i32,
                last_success_unix_secs: Some(at - 6 * 3600),
                ..Default::default()
            }],
        }),
        ..Default::default()
    };
    IncomingReport {
        device_id: measure::device_id(device),
        seq,
        boot_id: 1,
        collected_at: at,
        received_at: at,
        hostname: format!("LAPTOP-{device:05}"),
        os: "linux".into(),
        agent_version: "0.1.0".into(),
        body: status.into(),
        certificate: None,
    }
}

/// Enrolls `devices` laptops, writes 14 days of 5-minute disk samples for
/// both filesystems of each with their day rows (one transaction), then stores each device's
/// latest report through ingest, so the engine sets when each is due.
async fn seed(store: &SqliteStore, devices: usize, rules: &Arc<RuleBook>) {
    measure::enroll(store, devices).await;
    store
        .with_connection(move |c| {
            let tx = c.transaction()?;
            {
                let mut insert = tx.prepare(
                    "INSERT INTO disk_samples (device_id, mount_point, at, total_bytes, available_bytes)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                let samples = HISTORY_DAYS * DAY / INTERVAL;
                for device in 0..devices {
                    let id = measure::device_id(device);
                    for mount in ["/", "/home"] {
                        for k in 0..samples {
                            // Filling by ~280 MiB a day: full in years, no alert.
                            let available = 220 * GIB as i64 - k * (1 << 20);
                            insert.execute(rusqlite::params![
                                id,
                                mount,
                                T - HISTORY_DAYS * DAY + k * INTERVAL - INTERVAL,
                                500 * GIB as i64,
                                available
                            ])?;
                        }
                    }
                }
            }
            // The day rows of those samples, as the migration that added
            // day rows fills them from samples already stored.
            let migration = include_str!("../../../migrations/sqlite/0014_disk_days.sql");
            let fill = migration
                .find("INSERT INTO disk_days")
                .expect("the migration fills day rows");
            tx.execute_batch(&migration[fill..])?;
            tx.commit()?;
            Ok(())
        })
        .await
        .unwrap();
    for device in 0..devices {
        let at = if device % QUIET_ONE_IN == 0 {
            T - 3 * DAY + (device / QUIET_ONE_IN % 30) as i64
        } else {
            T - (device as i64 % INTERVAL)
        };
        store
            .ingest_report(report(device, 1, at), Arc::clone(rules))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
#[ignore = "a measurement run by hand (minutes, about 1 GB of temp disk); see the module docs"]
async fn sweep_and_store_open_with_two_weeks_of_history() {
    let devices = env_count("FOREWARN_MEASURE_DEVICES", 2000);
    let rules = Arc::new(RuleBook::default());
    let dir = tempfile::tempdir().unwrap();
    let seeded = dir.path().join("seeded.sqlite3");
    let started = Instant::now();
    {
        let store = SqliteStore::open(&seeded).unwrap();
        seed(&store, devices, &rules).await;
        // Everything into the main file before it is copied: the writer
        // thread closes the connection after the store is dropped, not at once.
        store
            .with_connection(|c| Ok(c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?))
            .await
            .unwrap();
    }
    let bytes = std::fs::metadata(&seeded).unwrap().len();
    println!(
        "SQLite: seeded {devices} devices with {HISTORY_DAYS} days of disk history: {:.0} MB in {:.0?}",
        bytes as f64 / 1e6,
        started.elapsed()
    );
    let before_db = dir.path().join("before.sqlite3");
    let after_db = dir.path().join("after.sqlite3");
    std::fs::copy(&seeded, &before_db).unwrap();
    std::fs::rename(&seeded, &after_db).unwrap();

    // A CLI command: open the store and list the devices (`device list`).
    let cli = |path: std::path::PathBuf, check_foreign_keys: bool| async move {
        let started = Instant::now();
        let store = SqliteStore::open(&path).unwrap();
        if check_foreign_keys {
            // What every open ran before: a full foreign key check.
            store
                .with_connection(|c| {
                    let mut check = c.prepare("PRAGMA foreign_key_check")?;
                    assert!(check.query([])?.next()?.is_none());
                    Ok(())
                })
                .await
                .unwrap();
        }
        assert_eq!(store.list_devices().await.unwrap().len(), devices);
        started.elapsed()
    };
    let cli_before = cli(before_db.clone(), true).await;
    let cli_after = cli(after_db.clone(), false).await;

    let sweep_at = T + 30;
    let sweep = |path: std::path::PathBuf, scope: SweepScope| {
        let rules = Arc::clone(&rules);
        async move {
            let store = SqliteStore::open(&path).unwrap();
            let (cpu, wall) = (process_cpu(), Instant::now());
            let notifications = store.sweep_alerts(rules, sweep_at, scope).await.unwrap();
            (notifications, process_cpu() - cpu, wall.elapsed())
        }
    };
    let (sent_before, cpu_before, wall_before) = sweep(before_db, SweepScope::All).await;
    let (sent_after, cpu_after, wall_after) = sweep(after_db, SweepScope::Due).await;
    // A quiet device is reported offline, and its backup's dead-man fires.
    let quiet = devices.div_ceil(QUIET_ONE_IN);
    assert_eq!(
        sent_before,
        2 * quiet,
        "offline and dead-man, per quiet device"
    );
    assert_eq!(
        sent_after, sent_before,
        "the due devices are the quiet ones"
    );

    let ratio =
        |before: Duration, after: Duration| before.as_secs_f64() / after.as_secs_f64().max(1e-9);
    println!(
        "measured: SQLite, 14 days of history: sweep of every device (before): {cpu_before:.3?} CPU, {wall_before:.3?} wall, {sent_before} notifications"
    );
    println!(
        "measured: SQLite, 14 days of history: sweep of the devices due (after): {cpu_after:.3?} CPU, {wall_after:.3?} wall, {sent_after} notifications"
    );
    println!(
        "measured: SQLite, 14 days of history: sweep CPU before/after: {:.0}x",
        ratio(cpu_before, cpu_after)
    );
    println!(
        "measured: SQLite: CLI `device list` on {:.0} MB: {cli_before:.3?} with the foreign key check at open (before), {cli_after:.3?} without (after): {:.0}x",
        bytes as f64 / 1e6,
        ratio(cli_before, cli_after)
    );
}

/// Sizes and CPU of one SQLite store.
struct SqliteProbe {
    store: Arc<SqliteStore>,
    path: std::path::PathBuf,
}

impl SqliteProbe {
    fn open(path: std::path::PathBuf) -> (Arc<dyn Store>, Self) {
        let store = Arc::new(SqliteStore::open(&path).unwrap());
        (Arc::clone(&store) as Arc<dyn Store>, Self { store, path })
    }
}

#[async_trait]
impl Probe for SqliteProbe {
    fn backend(&self) -> &'static str {
        "SQLite"
    }

    /// The database file after a checkpoint has moved the write-ahead log
    /// into it (and truncated the log), as it sits on disk at rest.
    async fn bytes(&self) -> u64 {
        self.store
            .with_connection(|c| {
                c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
                Ok(())
            })
            .await
            .unwrap();
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        std::fs::metadata(&self.path).unwrap().len()
            + std::fs::metadata(wal).map_or(0, |meta| meta.len())
    }

    async fn cpu(&self) -> Duration {
        process_cpu()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement run by hand (minutes); see the module docs"]
async fn month_of_reports_per_device() {
    let dir = tempfile::tempdir().unwrap();
    let (store, probe) = SqliteProbe::open(dir.path().join("month.sqlite3"));
    let devices = env_count("FOREWARN_MEASURE_MONTH_DEVICES", 10);
    let days = env_count("FOREWARN_MEASURE_DAYS", 31) as i64;
    measure::month_of_reports(store, &probe, devices, days, 1.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement run by hand (minutes); see the module docs"]
async fn ingest_with_two_weeks_of_history() {
    let dir = tempfile::tempdir().unwrap();
    let (fresh, fresh_probe) = SqliteProbe::open(dir.path().join("fresh.sqlite3"));
    let (two_weeks, two_weeks_probe) = SqliteProbe::open(dir.path().join("14-days.sqlite3"));
    let (four_weeks, four_weeks_probe) = SqliteProbe::open(dir.path().join("28-days.sqlite3"));
    let devices = env_count("FOREWARN_MEASURE_HISTORY_DEVICES", 50);
    measure::ingest_after_history(
        [
            (fresh, &fresh_probe),
            (two_weeks, &two_weeks_probe),
            (four_weeks, &four_weeks_probe),
        ],
        devices,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement run by hand (a minute); see the module docs"]
async fn sweep_at_2000_devices() {
    let dir = tempfile::tempdir().unwrap();
    let (store, probe) = SqliteProbe::open(dir.path().join("sweep.sqlite3"));
    let devices = env_count("FOREWARN_MEASURE_DEVICES", 2000);
    measure::sweep_fleet(store, &probe, devices).await;
}

/// A backlog of `rows` undelivered notifications, one alert each, on one
/// device: what a burst of first reports or a ticket system back from a
/// long outage leaves.
async fn outbox_backlog_of(rows: usize) -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("outbox.sqlite3")).unwrap();
    measure::enroll(&store, 1).await;
    store
        .with_connection(move |c| {
            let tx = c.transaction()?;
            for row in 0..rows as i64 {
                tx.execute(
                    "INSERT INTO alerts (id, device_id, rule, subject, state, first_seen, last_seen, summary)
                     VALUES (?1, ?2, 'cert_expiry', ?3, 'firing', ?4, ?4, 'expires soon')",
                    rusqlite::params![row + 1, measure::device_id(0), format!("cert-{row}"), T],
                )?;
                tx.execute(
                    "INSERT INTO alert_outbox (alert_id, event, payload, created_at, next_attempt_at)
                     VALUES (?1, 'opened', '{}', ?2, ?2)",
                    rusqlite::params![row + 1, T],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
        .unwrap();
    (dir, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement run by hand (a minute); see the module docs"]
async fn outbox_drain_cost_by_backlog() {
    let mut per_row = Vec::new();
    for rows in [1_000, 4_000, 16_000] {
        let (_dir, store) = outbox_backlog_of(rows).await;
        let store = Arc::new(store);
        let (cpu, wall) = (process_cpu(), Instant::now());
        let mut drained = 0;
        loop {
            // One ticket worker round with no connector configured.
            let batch = store.claim_outbox(32, 60, T + 1).await.unwrap();
            if batch.is_empty() {
                break;
            }
            // Delivered in parallel, as the worker does.
            let mut marks = tokio::task::JoinSet::new();
            for event in &batch {
                let (store, id) = (Arc::clone(&store), event.id);
                marks.spawn(async move { store.mark_skipped(id, T + 1).await });
            }
            while let Some(marked) = marks.join_next().await {
                marked.unwrap().unwrap();
            }
            drained += batch.len();
            store.outbox_backlog().await.unwrap();
        }
        assert_eq!(drained, rows, "every row is claimed once");
        let cpu = process_cpu().saturating_sub(cpu);
        per_row.push(cpu.as_secs_f64() * 1000.0 / rows as f64);
        println!(
            "measured: SQLite: draining {rows} notifications with no connector: {:.3} ms CPU per notification, {:.1?} wall",
            per_row.last().unwrap(),
            wall.elapsed()
        );
    }
    println!(
        "measured: SQLite: CPU per notification at a backlog of 16,000 vs 1,000: {:.1}x (goal: about 1x)",
        per_row[2] / per_row[0]
    );
}
