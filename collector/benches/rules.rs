//! Cost of evaluating every rule for one report: 6 filesystems with 14 days
//! of 5-minute disk history each (the forecast's input), 50 certificates, a
//! patch scan with 40 pending updates, and 3 backup jobs.
//!
//! Run: `cargo bench -p forewarn-collector --bench rules`

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use forewarn_collector::rules::forecast::disk_forecasts;
use forewarn_collector::rules::{
    AlertKey, AlertState, DeviceInput, DiskSample, RulesConfig, Transition, evaluate,
};
use forewarn_proto::pb;

const NOW: i64 = 1_795_000_000;
const GIB: u64 = 1024 * 1024 * 1024;
const MOUNTS: [&str; 6] = ["/", "/boot", "/home", "/var", "/srv/data", "/mnt/backup"];

fn report() -> pb::StatusReport {
    pb::StatusReport {
        disks: Some(pb::DiskCheck {
            filesystems: MOUNTS
                .iter()
                .enumerate()
                .map(|(i, mount)| pb::DiskStatus {
                    mount_point: (*mount).into(),
                    total_bytes: 500 * GIB,
                    free_bytes: (20 + 40 * i as u64) * GIB,
                    available_bytes: (20 + 40 * i as u64) * GIB,
                    inodes_total: Some(30_000_000),
                    inodes_free: Some(25_000_000),
                    ..Default::default()
                })
                .collect(),
        }),
        certificates: Some(pb::CertificateCheck {
            certificates: (0..50)
                .map(|i| pb::CertificateStatus {
                    sha256_fingerprint: format!("{i:064x}"),
                    subject: format!("CN=service-{i}.example.internal"),
                    not_after_unix_secs: NOW + i * 3 * 86_400,
                    locations: vec![pb::CertificateLocation {
                        source: pb::CertificateSource::File as i32,
                        location: format!("/etc/ssl/certs/service-{i}.pem"),
                    }],
                    ..Default::default()
                })
                .collect(),
            endpoints: vec![],
        }),
        patches: Some(pb::PatchCheck {
            package_manager: "apt".into(),
            scan_state: pb::ScanState::Ok as i32,
            last_successful_scan_unix_secs: Some(NOW - 3600),
            pending: (0..40)
                .map(|i| pb::PendingUpdate {
                    name: format!("package-{i}"),
                    security: i % 8 == 0,
                    ..Default::default()
                })
                .collect(),
            reboot_required: true,
            ..Default::default()
        }),
        backups: Some(pb::BackupCheck {
            jobs: ["nightly", "hourly-db", "weekly-offsite"]
                .iter()
                .map(|name| pb::BackupJobStatus {
                    name: (*name).into(),
                    result: pb::BackupResult::Success as i32,
                    last_success_unix_secs: Some(NOW - 30 * 3600),
                    ..Default::default()
                })
                .collect(),
        }),
        ..Default::default()
    }
}

/// 14 days of samples every 5 minutes per mount, slowly filling.
fn history() -> BTreeMap<String, Vec<DiskSample>> {
    MOUNTS
        .iter()
        .enumerate()
        .map(|(i, mount)| {
            let samples = (0..14 * 288)
                .map(|k| {
                    let at = NOW - 14 * 86_400 + k * 300;
                    DiskSample {
                        at,
                        total_bytes: 500 * GIB,
                        available_bytes: (20 + 40 * i as u64) * GIB + (NOW - at) as u64 * 4096,
                    }
                })
                .collect();
            ((*mount).to_owned(), samples)
        })
        .collect()
}

/// The forecasts and then every rule, as the alert engine plans a report.
fn plan(
    rules: &RulesConfig,
    previous: &BTreeMap<AlertKey, AlertState>,
    report: &pb::StatusReport,
    history: &BTreeMap<String, Vec<DiskSample>>,
    now: i64,
) -> Vec<Transition> {
    let forecasts = disk_forecasts(rules, report, history, now);
    let device = DeviceInput {
        device_id: "dev-1",
        hostname: "SRV-DB-01",
        last_seen_at: Some(NOW),
        report: Some(report),
        disk_forecasts: &forecasts,
    };
    evaluate(rules, previous, &device, &|_| false, now)
}

fn bench(c: &mut Criterion) {
    let rules = RulesConfig::default();
    let report = report();
    let history = history();
    let first = plan(&rules, &BTreeMap::new(), &report, &history, NOW);
    let previous: BTreeMap<_, _> = first.into_iter().map(|t| (t.key, t.state)).collect();
    c.bench_function("evaluate/first_report", |b| {
        b.iter(|| plan(&rules, &BTreeMap::new(), black_box(&report), &history, NOW))
    });
    c.bench_function("evaluate/steady_state", |b| {
        b.iter(|| plan(&rules, &previous, black_box(&report), &history, NOW + 300))
    });
    let no_history = BTreeMap::new();
    c.bench_function("evaluate/without_disk_history", |b| {
        b.iter(|| {
            plan(
                &rules,
                &previous,
                black_box(&report),
                &no_history,
                NOW + 300,
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
