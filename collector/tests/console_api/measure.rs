//! A measurement run by hand, not a test of behaviour: the server time of
//! the console's pages with 2,000 devices and about 20,000 alerts, through
//! the real web server on a loopback port, signed in as an admin and as an
//! operator scoped to one group, on SQLite and then on PostgreSQL.
//!
//! ```text
//! cargo nextest run -p forewarn-collector --test console_api --run-ignored only \
//!     -E 'test(=measure::page_times_with_2000_devices_and_20000_alerts)' --no-capture
//! ```
//!
//! `FOREWARN_MEASURE_DEVICES` (default 2,000), `FOREWARN_MEASURE_REQUESTS`
//! (requests per page and person, default 40) and `FOREWARN_MEASURE_BACKENDS`
//! (`sqlite,postgres` by default) change the run; PostgreSQL comes from
//! `FOREWARN_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`)
//! and gets a schema of its own, dropped at the end. Times are the time
//! from sending a request to having read its whole answer on loopback, so
//! they include the client's share (small next to the server's).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use forewarn_collector::alerts::{AlertFilter, AlertStatus};
use forewarn_collector::console::authz::Role;
use forewarn_collector::fleet::hardware::HardwareIdentity;
use forewarn_collector::rules::RuleBook;
use forewarn_collector::store::console::NewAuditEntry;
use forewarn_collector::store::postgres::PostgresStore;
use forewarn_collector::store::{IncomingReport, NewDevice, NewToken, Store, SweepScope};
use forewarn_proto::pb;
use forewarn_secret::Secret;
use forewarn_testkit::store::TempStore;

use crate::harness::{Console, Session};

const GROUPS: [&str; 4] = ["laptops", "servers", "kiosks", "lab"];
const MODELS: [&str; 5] = [
    "ThinkPad T14 Gen 4",
    "Latitude 5440",
    "EliteBook 840 G10",
    "PowerEdge R650",
    "OptiPlex 7010",
];
const GIB: u64 = 1 << 30;
const DAY: i64 = 86_400;
/// One device in this many stopped reporting four days ago (offline alert).
const QUIET_ONE_IN: usize = 20;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn hostname(device: usize) -> String {
    let prefix = ["LAPTOP", "SRV", "KIOSK", "LAB"][device % GROUPS.len()];
    format!("{prefix}-{device:05}")
}

/// The report of `device` at `stage` 1 (every problem: two full disks,
/// three certificates near expiry, a pending security update and reboot,
/// an old patch scan, a failed and an overdue backup job) or 2 (some of
/// them mended, so their alerts resolve). Ten alerts per device in all.
fn report(device: usize, stage: u64, at: i64) -> IncomingReport {
    let mended = |one_in: usize, offset: usize| stage == 2 && device % one_in == offset;
    let disk = |mount: &str, available_gib: u64| pb::DiskStatus {
        mount_point: mount.into(),
        device: format!("/dev/nvme0n1p{}", mount.len()),
        filesystem: "ext4".into(),
        total_bytes: 100 * GIB,
        free_bytes: available_gib * GIB,
        available_bytes: available_gib * GIB,
        inodes_total: Some(6_000_000),
        inodes_free: Some(4_000_000),
        ..Default::default()
    };
    let certificate = |n: i64, days_left: i64| pb::CertificateStatus {
        sha256_fingerprint: format!("{device:08}{n:02}{days_left:054}"),
        subject: format!("CN={}.corp.example", hostname(device).to_lowercase()),
        issuer: "CN=Example Issuing CA".into(),
        not_before_unix_secs: at - 300 * DAY,
        not_after_unix_secs: at + days_left * DAY,
        key_type: "RSA".into(),
        key_bits: 2048,
        locations: vec![pb::CertificateLocation {
            source: pb::CertificateSource::File as i32,
            location: format!("/etc/ssl/certs/service-{n}.pem"),
        }],
        ..Default::default()
    };
    let status = pb::StatusReport {
        seq: stage,
        collected_at_unix_secs: at,
        host: Some(pb::HostFacts {
            hostname: hostname(device),
            os_family: "linux".into(),
            os_name: "Debian GNU/Linux".into(),
            os_version: "12".into(),
            architecture: "x86_64".into(),
            model: MODELS[device % MODELS.len()].into(),
            serial_number: format!("PF{device:06}X"),
            primary_user: format!("user{:03}", device % 700),
            agent_version: "0.1.0".into(),
            ..Default::default()
        }),
        disks: Some(pb::DiskCheck {
            filesystems: vec![
                disk("/", if mended(3, 0) { 50 } else { 1 }),
                disk("/home", 4),
                disk("/var", 40),
                disk("/data", 60),
            ],
        }),
        certificates: Some(pb::CertificateCheck {
            certificates: vec![
                certificate(1, 5),
                certificate(2, if mended(3, 1) { 400 } else { 20 }),
                certificate(3, 25),
            ],
            endpoints: vec![],
        }),
        patches: Some(pb::PatchCheck {
            package_manager: "apt".into(),
            scan_state: pb::ScanState::Ok as i32,
            last_successful_scan_unix_secs: Some(at - 10 * DAY),
            pending: vec![pb::PendingUpdate {
                name: "openssl".into(),
                installed_version: "3.0.11-1".into(),
                candidate_version: "3.0.15-1".into(),
                security: true,
                ..Default::default()
            }],
            reboot_required: true,
            ..Default::default()
        }),
        backups: Some(pb::BackupCheck {
            jobs: vec![
                pb::BackupJobStatus {
                    name: "nightly".into(),
                    kind: "restic".into(),
                    result: if mended(4, 0) {
                        pb::BackupResult::Success
                    } else {
                        pb::BackupResult::Failed
                    } as i32,
                    last_success_unix_secs: Some(at - 20 * 3600),
                    message: "repository locked".into(),
                    ..Default::default()
                },
                pb::BackupJobStatus {
                    name: "weekly".into(),
                    kind: "restic".into(),
                    result: pb::BackupResult::Success as i32,
                    last_success_unix_secs: Some(at - 100 * 3600),
                    ..Default::default()
                },
            ],
        }),
        ..Default::default()
    };
    IncomingReport {
        device_id: format!("dev-{device:05}"),
        seq: stage,
        boot_id: 1,
        collected_at: at,
        received_at: at,
        hostname: hostname(device),
        os: "linux".into(),
        agent_version: "0.1.0".into(),
        body: status.into(),
        certificate: None,
    }
}

/// Enrolls `devices` devices over four groups, stores two reports of each
/// through ingest (the engine raises and resolves their alerts), sweeps
/// (the quiet ones go offline) and acknowledges one firing alert in four.
async fn seed(store: &Arc<dyn Store>, devices: usize, now: i64) {
    for group in GROUPS {
        store
            .create_token(
                NewToken {
                    id: format!("t-{group}"),
                    token_hash: format!("hash-{group}"),
                    group: group.into(),
                    created_at: 0,
                    expires_at: i64::MAX,
                    max_uses: None,
                },
                forewarn_collector::console::auth::audit_entry(
                    "measure",
                    "enrollment_token.create",
                    "",
                    "",
                    "test",
                ),
            )
            .await
            .unwrap();
    }
    let rules = Arc::new(RuleBook::default());
    let mut tasks = tokio::task::JoinSet::new();
    for device in 0..devices {
        if tasks.len() >= 16 {
            tasks.join_next().await.unwrap().unwrap();
        }
        let (store, rules) = (Arc::clone(store), Arc::clone(&rules));
        tasks.spawn(async move {
            let group = GROUPS[device % GROUPS.len()];
            store
                .enroll_device(
                    &format!("hash-{group}"),
                    NewDevice {
                        id: format!("dev-{device:05}"),
                        hostname: hostname(device),
                        os: "linux".into(),
                        agent_version: "0.1.0".into(),
                        enrolled_at: now - 30 * DAY,
                        cert_serial: format!("{device:x}"),
                        cert_not_after: i64::MAX,
                        hardware: HardwareIdentity::from_facts(&format!("PF{device:06}X"), ""),
                    },
                    now - 30 * DAY,
                )
                .await
                .unwrap()
                .unwrap();
            let last = if device % QUIET_ONE_IN == 0 {
                now - 4 * DAY
            } else {
                now - (device as i64 % 300)
            };
            for (stage, at) in [(1, last - 3600), (2, last)] {
                store
                    .ingest_report(report(device, stage, at), Arc::clone(&rules))
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    store
        .sweep_alerts(Arc::clone(&rules), now, SweepScope::All)
        .await
        .unwrap();
    let firing = store
        .list_alerts(AlertFilter {
            status: Some(AlertStatus::Firing),
            ..AlertFilter::default()
        })
        .await
        .unwrap();
    for alert in firing.iter().step_by(4) {
        store
            .ack_alert(
                alert.id,
                "ana",
                "on it: ticket booked",
                NewAuditEntry {
                    at: now,
                    actor: "ana".into(),
                    action: "alert.ack".into(),
                    target: alert.id.to_string(),
                    detail: "on it: ticket booked".into(),
                    source: "127.0.0.1".into(),
                },
            )
            .await
            .unwrap();
    }
}

/// Alerts by state, severity and rule, to show what the store holds.
async fn census(store: &dyn Store) -> String {
    let alerts = store.list_alerts(AlertFilter::default()).await.unwrap();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for alert in &alerts {
        *counts
            .entry(format!("state={}", alert.status.as_str()))
            .or_default() += 1;
        *counts
            .entry(format!(
                "severity={}",
                alert.severity.map_or("none", |s| s.as_str())
            ))
            .or_default() += 1;
        *counts
            .entry(format!("rule={}", alert.rule.as_str()))
            .or_default() += 1;
    }
    let parts: Vec<String> = counts.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("{} alerts ({})", alerts.len(), parts.join(", "))
}

/// p50 and p99 (nearest rank) of `times`.
fn percentiles(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    let rank = |p: f64| times[((p * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1];
    (rank(0.50), rank(0.99))
}

/// `requests` GETs of `path` with the session cookie, after two to warm up;
/// the answer must be 200.
async fn time_page(
    console: &Console,
    session: &Session,
    path: &str,
    requests: usize,
) -> (Duration, Duration, usize) {
    let mut times = Vec::with_capacity(requests);
    let mut bytes = 0;
    for n in 0..requests + 2 {
        let started = Instant::now();
        let response = console
            .http
            .get(format!("http://{}{path}", console.addr))
            .header("cookie", &session.cookie)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.bytes().await.unwrap();
        let elapsed = started.elapsed();
        assert_eq!(
            status,
            StatusCode::OK,
            "{path}: {}",
            String::from_utf8_lossy(&body)
        );
        bytes = body.len();
        if n >= 2 {
            times.push(elapsed);
        }
    }
    let (p50, p99) = percentiles(times);
    (p50, p99, bytes)
}

/// A schema of its own on the test server; dropped by [`drop_schema`].
async fn postgres_store(name: &str) -> Arc<dyn Store> {
    let url = std::env::var("FOREWARN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is not reachable at {url}: {e}"));
    tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE SCHEMA {name}"))
        .await
        .unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    let url = Secret::new(format!(
        "{url}{separator}options=-csearch_path%3D{name}&application_name={name}"
    ));
    Arc::new(PostgresStore::open(&url, None).await.unwrap())
}

async fn drop_schema(name: &str) {
    let url = std::env::var("FOREWARN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = $1 AND pid <> pg_backend_pid()",
            &[&name],
        )
        .await
        .unwrap();
    client
        .batch_execute(&format!("DROP SCHEMA {name} CASCADE"))
        .await
        .unwrap();
}

async fn measure(backend: &str, store: Arc<dyn Store>, fixture: Box<dyn std::any::Any + Send>) {
    let devices: usize = env_or("FOREWARN_MEASURE_DEVICES", 2000);
    let requests: usize = env_or("FOREWARN_MEASURE_REQUESTS", 40);
    let now = forewarn_collector::clock::now_unix();
    let started = Instant::now();
    seed(&store, devices, now).await;
    println!(
        "{backend}: seeded {devices} devices in {:.1?}: {}",
        started.elapsed(),
        census(store.as_ref()).await
    );
    let console = Console::serve(store, fixture, |_| {}).await;
    console.add_user("ana", Role::Admin, &["*"]).await;
    console.add_user("olga", Role::Operator, &["servers"]).await;
    let people = [
        ("admin", console.login("ana").await),
        ("operator(servers)", console.login("olga").await),
    ];
    let pages = [
        ("overview", "/".to_owned()),
        ("devices", "/devices".to_owned()),
        ("devices group", "/devices?group=servers".to_owned()),
        ("devices state", "/devices?state=offline".to_owned()),
        ("devices text (host)", "/devices?q=srv-0004".to_owned()),
        ("devices text (model)", "/devices?q=poweredge".to_owned()),
        ("device page", "/devices/dev-00005".to_owned()),
        ("alerts", "/alerts".to_owned()),
        (
            "alerts critical page 3",
            "/alerts?severity=critical&page=3".to_owned(),
        ),
        ("api fleet", "/api/v1/fleet".to_owned()),
        ("api devices", "/api/v1/devices?limit=50".to_owned()),
        (
            "api devices text",
            "/api/v1/devices?q=poweredge&limit=50".to_owned(),
        ),
        ("api device", "/api/v1/devices/dev-00005".to_owned()),
        ("api alerts", "/api/v1/alerts?limit=50".to_owned()),
    ];
    println!("{backend}: page | person | p50 ms | p99 ms | bytes ({requests} requests each)");
    for (page, path) in &pages {
        for (person, session) in &people {
            let (p50, p99, bytes) = time_page(&console, session, path, requests).await;
            println!(
                "{backend}: {page} | {person} | {:.1} | {:.1} | {bytes}",
                p50.as_secs_f64() * 1e3,
                p99.as_secs_f64() * 1e3
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement run by hand (minutes); see the module docs"]
async fn page_times_with_2000_devices_and_20000_alerts() {
    let backends: String = env_or("FOREWARN_MEASURE_BACKENDS", "sqlite,postgres".to_owned());
    for backend in backends.split(',') {
        match backend {
            "sqlite" => {
                let fixture = TempStore::new().unwrap();
                let store = Arc::clone(&fixture.store);
                measure(backend, store, Box::new(fixture)).await;
            }
            "postgres" => {
                let name = format!("forewarn_measure_{}", uuid::Uuid::new_v4().simple());
                let store = postgres_store(&name).await;
                measure(backend, store, Box::new(())).await;
                drop_schema(&name).await;
            }
            other => panic!("unknown backend {other:?}: use sqlite or postgres"),
        }
    }
}
