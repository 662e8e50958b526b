//! Conformance cases for the incremental sweep: a sweep plans the devices
//! whose next sweep time has come and leaves every other device as it is;
//! offline alerts still fire at the sweep after their minute; a silence
//! ended early releases what it held at the next sweep; a report that
//! changes nothing keeps the last plan while it holds.

use std::sync::Arc;

use forewarn_proto::pb;

use super::{enroll_d1, entry};
use crate::alerts::silence::Silence;
use crate::alerts::{AlertFilter, AlertRecord};
use crate::rules::config::builtin_group_overrides;
use crate::rules::{RuleBook, RuleId};
use crate::severity::Severity;
use crate::store::console::NewAuditEntry;
use crate::store::outbox::OutboxState;
use crate::store::{IncomingReport, NewDevice, Store, SweepScope};

const T0: i64 = 1_795_000_000;
const GIB: u64 = 1024 * 1024 * 1024;

/// Default rules, `servers` with its built-in overrides (offline: warning
/// at 5 minutes, critical at 10), disks judged by percent only.
fn book() -> Arc<RuleBook> {
    let mut book = RuleBook::default();
    book.default.disk_free_bytes.enabled = false;
    let servers = book
        .default
        .with_overrides(&builtin_group_overrides("servers"))
        .unwrap();
    book.groups.insert("servers".into(), servers);
    Arc::new(book)
}

fn report(device_id: &str, seq: u64, at: i64, available_gib: u64) -> IncomingReport {
    let status = pb::StatusReport {
        seq,
        collected_at_unix_secs: at,
        disks: Some(pb::DiskCheck {
            filesystems: vec![pb::DiskStatus {
                mount_point: "/".into(),
                total_bytes: 100 * GIB,
                free_bytes: available_gib * GIB,
                available_bytes: available_gib * GIB,
                ..Default::default()
            }],
        }),
        ..Default::default()
    };
    IncomingReport {
        device_id: device_id.into(),
        seq,
        boot_id: 0,
        collected_at: at,
        received_at: at,
        hostname: device_id.to_uppercase(),
        os: "linux".into(),
        agent_version: "0.1.0".into(),
        body: status.into(),
        certificate: None,
    }
}

/// Enrolls `d1` and `d2` in `group` (token `t1` of [`enroll_d1`]).
async fn enroll_two(store: &dyn Store, group: &str) {
    enroll_d1(store, group).await;
    store
        .enroll_device(
            "aa",
            NewDevice {
                id: "d2".into(),
                hostname: "D2".into(),
                os: "linux".into(),
                agent_version: "0.1.0".into(),
                enrolled_at: 10,
                cert_serial: "02".into(),
                cert_not_after: i64::MAX,
                hardware: Default::default(),
            },
            10,
        )
        .await
        .unwrap()
        .unwrap();
}

async fn alert_of(store: &dyn Store, device_id: &str, rule: RuleId) -> Option<AlertRecord> {
    let filter = AlertFilter {
        device_id: Some(device_id.into()),
        ..Default::default()
    };
    store
        .list_alerts(filter)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.rule == rule)
}

pub(crate) async fn sweep_plans_due_devices_and_leaves_the_others_untouched(store: &dyn Store) {
    enroll_two(store, "servers").await;
    store
        .ingest_report(report("d1", 1, T0, 50), book())
        .await
        .unwrap();
    // d2 is nearly full: its disk alert fires, and a sweep that planned d2
    // would move the alert's last-seen time.
    store
        .ingest_report(report("d2", 1, T0 + 240, 3), book())
        .await
        .unwrap();
    let d2_disk = alert_of(store, "d2", RuleId::DiskFree).await.unwrap();
    assert_eq!(d2_disk.severity, Some(Severity::Critical));
    assert_eq!(d2_disk.last_seen, T0 + 240);

    // d1 went quiet 5 minutes ago: due. d2 reported 1 minute ago: not due.
    let sent = store
        .sweep_alerts(book(), T0 + 300, SweepScope::Due)
        .await
        .unwrap();
    assert_eq!(sent, 1);
    let offline = alert_of(store, "d1", RuleId::OfflineMinutes).await.unwrap();
    assert_eq!(offline.severity, Some(Severity::Warning));
    assert_eq!(
        alert_of(store, "d2", RuleId::DiskFree).await.unwrap(),
        d2_disk,
        "a device that is not due is not planned"
    );
    assert_eq!(alert_of(store, "d2", RuleId::OfflineMinutes).await, None);

    // A full sweep plans every device, due or not.
    store
        .sweep_alerts(book(), T0 + 301, SweepScope::All)
        .await
        .unwrap();
    let d2_disk = alert_of(store, "d2", RuleId::DiskFree).await.unwrap();
    assert_eq!(d2_disk.last_seen, T0 + 301);
}

pub(crate) async fn offline_escalates_at_the_first_sweep_after_its_minute(store: &dyn Store) {
    enroll_two(store, "servers").await;
    store
        .ingest_report(report("d1", 1, T0, 50), book())
        .await
        .unwrap();
    store
        .ingest_report(report("d2", 1, T0, 50), book())
        .await
        .unwrap();
    let sweep = |at| store.sweep_alerts(book(), at, SweepScope::Due);
    assert_eq!(sweep(T0 + 299).await.unwrap(), 0);
    assert_eq!(sweep(T0 + 300).await.unwrap(), 2, "warning for both");
    // d2 reports again: only d1 stays offline.
    store
        .ingest_report(report("d2", 2, T0 + 400, 50), book())
        .await
        .unwrap();
    assert_eq!(sweep(T0 + 599).await.unwrap(), 0);
    assert_eq!(sweep(T0 + 600).await.unwrap(), 1, "critical for d1");
    let d1 = alert_of(store, "d1", RuleId::OfflineMinutes).await.unwrap();
    assert_eq!(d1.severity, Some(Severity::Critical));
    let d2 = alert_of(store, "d2", RuleId::OfflineMinutes).await.unwrap();
    assert_eq!(d2.severity, None, "d2's report resolved it");
    // d2 is due again 5 minutes after its last report.
    assert_eq!(sweep(T0 + 700).await.unwrap(), 1);
    let d2 = alert_of(store, "d2", RuleId::OfflineMinutes).await.unwrap();
    assert_eq!(d2.severity, Some(Severity::Warning));
}

pub(crate) async fn ending_a_silence_early_notifies_what_it_held_at_the_next_sweep(
    store: &dyn Store,
) {
    enroll_d1(store, "laptops").await;
    store
        .add_silence(
            Silence {
                id: "s1".into(),
                device_id: "d1".into(),
                group: String::new(),
                rule: String::new(),
                subject: String::new(),
                starts_at: T0,
                ends_at: None,
                weekly: None,
                comment: "disk swap".into(),
                created_by: "it".into(),
                created_at: T0,
                expired_at: None,
            },
            entry(T0, "silence.add", "s1"),
        )
        .await
        .unwrap();
    store
        .ingest_report(report("d1", 1, T0 + 60, 3), book())
        .await
        .unwrap();
    let sweep = |at| store.sweep_alerts(book(), at, SweepScope::Due);
    assert_eq!(sweep(T0 + 120).await.unwrap(), 0);
    assert!(
        store
            .expire_silence("s1", entry(T0 + 200, "silence.expire", "s1"))
            .await
            .unwrap()
    );
    assert_eq!(sweep(T0 + 201).await.unwrap(), 1);
    let outbox = store.outbox_in_state(OutboxState::Pending).await.unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].event, "opened");
    assert_eq!(sweep(T0 + 260).await.unwrap(), 0);
}

/// A report that changes nothing, while the plan made at the previous report
/// holds, keeps that plan (the firing alert's last-seen time does not move);
/// a changed report, a plan made by a sweep, the plan's next sweep time
/// coming, and a move to another group each make the next report planned.
pub(crate) async fn an_unchanged_report_keeps_the_plan_until_something_can_change(
    store: &dyn Store,
) {
    enroll_d1(store, "servers").await;
    let ingest =
        |seq, at, available_gib| store.ingest_report(report("d1", seq, at, available_gib), book());
    let disk_seen = || async {
        alert_of(store, "d1", RuleId::DiskFree)
            .await
            .unwrap()
            .last_seen
    };
    ingest(1, T0, 3).await.unwrap();
    assert_eq!(disk_seen().await, T0);
    ingest(2, T0 + 60, 3).await.unwrap();
    assert_eq!(disk_seen().await, T0, "unchanged: the plan of T0 holds");
    ingest(3, T0 + 120, 2).await.unwrap();
    assert_eq!(disk_seen().await, T0 + 120, "changed: planned");
    ingest(4, T0 + 180, 2).await.unwrap();
    assert_eq!(disk_seen().await, T0 + 120);

    // Quiet for 5 minutes: the sweep raises offline; the next report, though
    // it says nothing new, is planned and resolves it.
    let sweep = |at| store.sweep_alerts(book(), at, SweepScope::Due);
    assert_eq!(sweep(T0 + 480).await.unwrap(), 1);
    let offline = alert_of(store, "d1", RuleId::OfflineMinutes).await.unwrap();
    assert_eq!(offline.severity, Some(Severity::Warning));
    ingest(5, T0 + 500, 2).await.unwrap();
    let offline = alert_of(store, "d1", RuleId::OfflineMinutes).await.unwrap();
    assert_eq!(offline.severity, None, "the report was planned");
    assert_eq!(disk_seen().await, T0 + 500);
    ingest(6, T0 + 560, 2).await.unwrap();
    assert_eq!(disk_seen().await, T0 + 500);

    // The plan of T0 + 500 is due again at T0 + 800 (offline's first level):
    // a report after that is planned even though no sweep ran.
    ingest(7, T0 + 790, 2).await.unwrap();
    assert_eq!(disk_seen().await, T0 + 500);
    ingest(8, T0 + 810, 2).await.unwrap();
    assert_eq!(disk_seen().await, T0 + 810);

    // Another group has other rules: its first report is planned.
    let moved = NewAuditEntry {
        at: T0 + 815,
        actor: "root".into(),
        action: "device.move".into(),
        target: "d1".into(),
        detail: "laptops".into(),
        source: "127.0.0.1".into(),
    };
    assert!(store.move_device("d1", "laptops", moved).await.unwrap());
    ingest(9, T0 + 820, 2).await.unwrap();
    assert_eq!(disk_seen().await, T0 + 820);
    ingest(10, T0 + 830, 2).await.unwrap();
    assert_eq!(disk_seen().await, T0 + 820);
}

/// Rules of group `fleet` as the failover test sets them: offline after a
/// quarter of a minute (15 s), one level, no hysteresis. The device below
/// goes offline and back more often than flapping detection allows; here
/// each change notifies.
fn quarter_minute_book() -> Arc<RuleBook> {
    let mut book = RuleBook::default();
    let overrides = "[offline_minutes]\nwarning = 0.25\n[flapping]\ntransitions = 100";
    let fleet = book
        .default
        .with_overrides(&toml::from_str(overrides).unwrap())
        .unwrap();
    book.groups.insert("fleet".into(), fleet);
    Arc::new(book)
}

/// A report of a backup job that last succeeded five hours before `at`: its
/// dead-man level (26 hours) is the next thing time alone changes once the
/// device is reported offline.
fn backup_report(seq: u64, at: i64) -> IncomingReport {
    let status = pb::StatusReport {
        seq,
        collected_at_unix_secs: at,
        backups: Some(pb::BackupCheck {
            jobs: vec![pb::BackupJobStatus {
                name: "nightly-0".into(),
                result: pb::BackupResult::Success as i32,
                last_run_finished_unix_secs: Some(T0 - 5 * 3600),
                last_success_unix_secs: Some(T0 - 5 * 3600),
                ..Default::default()
            }],
        }),
        ..Default::default()
    };
    IncomingReport {
        body: status.into(),
        ..report("d1", seq, at, 0)
    }
}

/// Whichever plan last touched the device — a report, a report that kept
/// the last plan, a sweep raising the alert, a sweep whose clock is behind
/// the device's last report — the device is due again no later than the
/// second it has been quiet for its offline level, and a sweep at exactly
/// that second raises the alert.
pub(crate) async fn a_sweep_at_exactly_the_offline_level_raises_it(store: &dyn Store) {
    enroll_d1(store, "fleet").await;
    let book = quarter_minute_book();
    let sweep = |at| store.sweep_alerts(Arc::clone(&book), at, SweepScope::Due);
    let ingest = |seq, at| store.ingest_report(backup_report(seq, at), Arc::clone(&book));
    let offline = || async {
        alert_of(store, "d1", RuleId::OfflineMinutes)
            .await
            .and_then(|a| a.severity)
    };

    ingest(1, T0).await.unwrap();
    assert_eq!(sweep(T0 + 14).await.unwrap(), 0);
    assert_eq!(offline().await, None, "one second before the level");
    assert_eq!(sweep(T0 + 15).await.unwrap(), 1, "at the level");
    assert_eq!(offline().await, Some(Severity::Warning));

    // A report after the sweep's plan is planned (it resolves the alert),
    // and its device is due at its own level.
    ingest(2, T0 + 20).await.unwrap();
    assert_eq!(offline().await, None);
    assert_eq!(sweep(T0 + 34).await.unwrap(), 0);
    assert_eq!(sweep(T0 + 35).await.unwrap(), 1);

    // An unchanged report keeps the plan of the one before: due at that
    // report's level, then at its own.
    ingest(3, T0 + 40).await.unwrap();
    ingest(4, T0 + 50).await.unwrap();
    assert_eq!(sweep(T0 + 55).await.unwrap(), 0);
    assert_eq!(offline().await, None);
    assert_eq!(sweep(T0 + 64).await.unwrap(), 0);
    assert_eq!(sweep(T0 + 65).await.unwrap(), 1);

    // A sweep that took its time before the device's last report was
    // stored (another collector's, in flight) plans from that report.
    ingest(5, T0 + 100).await.unwrap();
    store
        .sweep_alerts(Arc::clone(&book), T0 + 95, SweepScope::All)
        .await
        .unwrap();
    assert_eq!(offline().await, None);
    assert_eq!(sweep(T0 + 114).await.unwrap(), 0);
    assert_eq!(sweep(T0 + 115).await.unwrap(), 1);
    assert_eq!(offline().await, Some(Severity::Warning));
}
