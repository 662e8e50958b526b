//! The PostgreSQL backend against a real server: the conformance suite, and
//! what only a shared database has (two stores on one schema). Each test
//! gets a schema of its own, dropped at its end.
//!
//! The server comes from `FOREWARN_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); without one the tests fail,
//! saying how to start it.

use std::collections::BTreeSet;
use std::time::Duration;

use forewarn_secret::Secret;

use super::*;
use crate::store::conformance::{
    DAY_ROWS_WITHOUT_NEWEST, DayRowNewest, day_rows_with_newest, enroll_d1,
};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn server_url() -> String {
    std::env::var("FOREWARN_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// A plain connection to the test server, or a panic saying how to get one.
async fn admin_client(url: &str) -> tokio_postgres::Client {
    match tokio_postgres::connect(url, tokio_postgres::NoTls).await {
        Ok((client, connection)) => {
            tokio::spawn(connection);
            client
        }
        Err(err) => panic!(
            "PostgreSQL is not reachable at {url}: {err}. The PostgreSQL store tests need a \
             server: start it (Debian: `sudo systemctl start postgresql`, or `bash .ci/run \
             postgres`, which also creates the database), or point FOREWARN_TEST_POSTGRES_URL \
             at one (trust auth, a database the user may create schemas in)."
        ),
    }
}

/// A schema of its own on the test server, dropped (with everything in it)
/// when this goes out of scope.
pub(crate) struct TestSchema {
    url: String,
    name: String,
}

impl TestSchema {
    pub(crate) async fn create() -> Self {
        let url = server_url();
        let name = format!("forewarn_test_{}", uuid::Uuid::new_v4().simple());
        admin_client(&url)
            .await
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap_or_else(|err| panic!("cannot create schema {name} at {url}: {err}"));
        Self { url, name }
    }

    /// The server URL with this schema as every connection's search path,
    /// and as their application name, so the end of the test finds them.
    fn url(&self) -> Secret {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        Secret::new(format!(
            "{}{separator}options=-csearch_path%3D{name}&application_name={name}",
            self.url,
            name = self.name
        ))
    }

    /// A store on this schema, as one collector opens it.
    pub(crate) async fn open(&self) -> PostgresStore {
        PostgresStore::open(&self.url(), None)
            .await
            .unwrap_or_else(|err| panic!("cannot open the store on schema {}: {err}", self.name))
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on:
        // a thread with a runtime of its own drops the schema.
        let (url, name) = (self.url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test schema");
            runtime.block_on(async {
                // The test's own connections cannot run while this waits: end
                // them, so none holds a lock the drop would wait for.
                let admin = admin_client(&url).await;
                admin
                    .execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                         WHERE application_name = $1 AND pid <> pg_backend_pid()",
                        &[&name],
                    )
                    .await?;
                admin
                    .batch_execute(&format!("DROP SCHEMA {name} CASCADE"))
                    .await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("test schema {} was not dropped: {dropped:?}", self.name);
        }
    }
}

/// A fresh, empty store in a schema of its own.
pub(crate) async fn fresh() -> (TestSchema, PostgresStore) {
    let schema = TestSchema::create().await;
    let store = schema.open().await;
    (schema, store)
}

mod conformance {
    use super::fresh;

    crate::store::conformance::store_conformance_suite!(fresh());
}

#[tokio::test]
async fn the_pool_opens_no_more_connections_than_configured() {
    let schema = TestSchema::create().await;
    let store = PostgresStore::open_with_pool(&schema.url(), None, 4)
        .await
        .unwrap();
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(store.client().await.unwrap());
    }
    let fifth = tokio::time::timeout(Duration::from_millis(300), store.client()).await;
    assert!(fifth.is_err(), "a fifth connection was handed out");
    let open: i64 = admin_client(&server_url())
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            &[&schema.name],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(open, 4, "connections the store holds on the server");
    held.pop();
    let _handed_on = tokio::time::timeout(Duration::from_secs(5), store.client())
        .await
        .expect("a connection given back is handed on")
        .unwrap();
}

#[tokio::test]
async fn unreachable_server_is_an_error_naming_it_without_the_password() {
    let err = PostgresStore::open(
        &Secret::new("postgres://forewarn:hunter2@127.0.0.1:1/fleet?connect_timeout=5"),
        None,
    )
    .await
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("postgres://forewarn@127.0.0.1:1/fleet"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
#[should_panic(expected = "PostgreSQL is not reachable at postgres://postgres@127.0.0.1:1/test")]
async fn tests_fail_saying_how_to_start_postgresql_when_it_is_not_running() {
    admin_client("postgres://postgres@127.0.0.1:1/test").await;
}

#[tokio::test]
async fn collectors_opening_one_schema_together_migrate_it_once() {
    let schema = TestSchema::create().await;
    let (a, b) = tokio::join!(schema.open(), schema.open());
    enroll_d1(&a, "laptops").await;
    assert_eq!(b.list_devices().await.unwrap().len(), 1);
    let versions: i64 = a
        .client()
        .await
        .unwrap()
        .query_one("SELECT COUNT(*) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(versions, MIGRATIONS.len() as i64);
}

#[tokio::test]
async fn day_rows_learn_their_newest_sample_from_the_samples_kept() {
    let schema = TestSchema::create().await;
    // The schema as the previous release left it (migrations 1-9).
    let c = admin_client(schema.url().expose()).await;
    c.batch_execute(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .await
    .unwrap();
    for (version, sql) in &MIGRATIONS[..9] {
        c.batch_execute(sql).await.unwrap();
        c.execute("INSERT INTO schema_migrations VALUES ($1, 0)", &[version])
            .await
            .unwrap();
    }
    c.batch_execute(
        "INSERT INTO enrollment_tokens (id, token_hash, group_name, created_at, expires_at) VALUES ('t1', 'aa', 'laptops', 0, 100);
         INSERT INTO devices (id, group_name, hostname, os, agent_version, enrolled_at, token_id, cert_serial, cert_not_after)
           VALUES ('d1', 'laptops', 'host', 'linux', '0.1.0', 10, 't1', '01', 1000);",
    )
    .await
    .unwrap();
    c.batch_execute(DAY_ROWS_WITHOUT_NEWEST).await.unwrap();
    let store = schema.open().await;
    let newest: Vec<DayRowNewest> = store
        .client()
        .await
        .unwrap()
        .query(
            "SELECT mount_point, day, newest_at, newest_total_bytes, newest_available_bytes
             FROM disk_days ORDER BY mount_point, day",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4)))
        .collect();
    assert_eq!(newest, day_rows_with_newest());
}

/// Writes `alerts` alerts of device `d1`, each with one pending outbox row
/// due at 0. Returns the rows' ids.
async fn pending_rows(store: &PostgresStore, alerts: i64) -> BTreeSet<i64> {
    let c = store.client().await.unwrap();
    let mut ids = BTreeSet::new();
    for n in 0..alerts {
        let alert_id: i64 = c
            .query_one(
                "INSERT INTO alerts (device_id, rule, subject, state, first_seen, last_seen, summary)
                 VALUES ('d1', 'backup_failed', $1, 'firing', 0, 0, 'backup') RETURNING id",
                &[&n.to_string()],
            )
            .await
            .unwrap()
            .get(0);
        let id: i64 = c
            .query_one(
                "INSERT INTO alert_outbox (alert_id, event, payload, created_at, next_attempt_at)
                 VALUES ($1, 'opened', '{}', 0, 0) RETURNING id",
                &[&alert_id],
            )
            .await
            .unwrap()
            .get(0);
        ids.insert(id);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_from_two_collectors_never_hand_out_one_row_twice() {
    let schema = TestSchema::create().await;
    let (a, b) = (schema.open().await, schema.open().await);
    enroll_d1(&a, "servers").await;
    let rows = pending_rows(&a, 300).await;
    // Two claimers per collector, each taking small batches until none are due.
    let claimers: Vec<_> = [a.clone(), a, b.clone(), b]
        .into_iter()
        .map(|store| {
            tokio::spawn(async move {
                let mut claimed = Vec::new();
                loop {
                    let batch = store.claim_outbox(7, 300, 100).await.unwrap();
                    if batch.is_empty() {
                        return claimed;
                    }
                    claimed.extend(batch.into_iter().map(|event| event.id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.unwrap());
    }
    let distinct: BTreeSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), distinct.len(), "a row was claimed twice");
    assert_eq!(distinct, rows);
}

#[tokio::test]
async fn a_claim_passes_over_rows_another_collector_holds_locked() {
    let schema = TestSchema::create().await;
    let (a, b) = (schema.open().await, schema.open().await);
    enroll_d1(&a, "servers").await;
    let rows: Vec<i64> = pending_rows(&a, 3).await.into_iter().collect();
    // Collector A is mid-claim: the first row is locked by its transaction.
    let mut holder = a.client().await.unwrap();
    let tx = holder.transaction().await.unwrap();
    tx.execute(
        "SELECT id FROM alert_outbox WHERE id = $1 FOR UPDATE",
        &[&rows[0]],
    )
    .await
    .unwrap();
    let claimed = tokio::time::timeout(Duration::from_secs(10), b.claim_outbox(10, 300, 100))
        .await
        .expect("the claim waited for the locked row instead of passing over it")
        .unwrap();
    let ids: Vec<i64> = claimed.iter().map(|event| event.id).collect();
    assert_eq!(ids, rows[1..]);
    tx.rollback().await.unwrap();
    let rest: Vec<i64> = b
        .claim_outbox(10, 300, 100)
        .await
        .unwrap()
        .iter()
        .map(|event| event.id)
        .collect();
    assert_eq!(rest, rows[..1]);
}

fn report(seq: u64) -> IncomingReport {
    IncomingReport {
        device_id: "d1".into(),
        seq,
        boot_id: 7,
        collected_at: 1_000 + seq as i64,
        received_at: 1_000 + seq as i64,
        hostname: "LAPTOP-042".into(),
        os: "linux".into(),
        agent_version: "0.1.0".into(),
        body: pb::StatusReport::default().into(),
        certificate: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_report_sent_to_two_collectors_is_stored_once() {
    let schema = TestSchema::create().await;
    let (a, b) = (schema.open().await, schema.open().await);
    enroll_d1(&a, "laptops").await;
    let rules = Arc::new(RuleBook::default());
    for seq in 1..=25 {
        // The agent's retry reached the other collector while the first
        // still held the report.
        let (first, second) = tokio::join!(
            a.ingest_report(report(seq), Arc::clone(&rules)),
            b.ingest_report(report(seq), Arc::clone(&rules)),
        );
        let mut outcomes = [first.unwrap(), second.unwrap()];
        outcomes.sort_by_key(|outcome| matches!(outcome, IngestOutcome::Replay { .. }));
        assert_eq!(
            outcomes,
            [
                IngestOutcome::Stored {
                    group: "laptops".into(),
                    notifications: 0
                },
                IngestOutcome::Replay {
                    group: "laptops".into(),
                    acked_seq: seq
                },
            ],
            "seq {seq}"
        );
    }
    let history: i64 = a
        .client()
        .await
        .unwrap()
        .query_one("SELECT COUNT(*) FROM status_history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(history, 25);
    assert_eq!(a.device("d1").await.unwrap().unwrap().last_seq, 25);
}

#[tokio::test]
async fn the_sweeper_moves_to_another_collector_when_its_holder_goes() {
    let schema = TestSchema::create().await;
    let first = schema.open().await;
    let second = schema.open().await;
    assert!(first.hold_singleton(Singleton::Sweeper).await.unwrap());
    assert!(
        first.hold_singleton(Singleton::Sweeper).await.unwrap(),
        "the holder keeps it"
    );
    assert!(!second.hold_singleton(Singleton::Sweeper).await.unwrap());
    // Another schema in the same database is another cluster: its own sweeper.
    let (_other_schema, other) = fresh().await;
    assert!(other.hold_singleton(Singleton::Sweeper).await.unwrap());

    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !second.hold_singleton(Singleton::Sweeper).await.unwrap() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sweeper did not move within 15 s of its holder going"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let third = schema.open().await;
    assert!(!third.hold_singleton(Singleton::Sweeper).await.unwrap());
}

fn reimaged_d1(cert_serial: &str) -> NewDevice {
    NewDevice {
        id: "d1".into(),
        hostname: "LAPTOP-042".into(),
        os: "linux".into(),
        agent_version: "0.2.0".into(),
        enrolled_at: 2_000,
        cert_serial: cert_serial.into(),
        cert_not_after: 90_000,
        hardware: HardwareIdentity {
            serial_number: "SN1".into(),
            hardware_uuid: String::new(),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn collectors_reenrolling_at_once_never_spend_a_token_use_twice() {
    let schema = TestSchema::create().await;
    let (a, b) = (schema.open().await, schema.open().await);
    enroll_d1(&a, "laptops").await;
    for round in 0..20 {
        let hash = format!("single-use-{round}");
        a.create_token(
            NewToken {
                id: format!("t-{round}"),
                token_hash: hash.clone(),
                group: "laptops".into(),
                created_at: 0,
                expires_at: i64::MAX,
                max_uses: Some(1),
            },
            crate::console::auth::audit_entry("test", "enrollment_token.create", "", "", "test"),
        )
        .await
        .unwrap();
        // The re-imaged machine's retry reached the other collector while
        // the first still held its enrollment.
        let (first, second) = tokio::join!(
            a.reenroll_device(&hash, reimaged_d1(&format!("a{round}")), 3_000, 3_000),
            b.reenroll_device(&hash, reimaged_d1(&format!("b{round}")), 3_000, 3_000),
        );
        let outcomes = [first.unwrap(), second.unwrap()];
        let winner = match &outcomes {
            [Ok(device), Err(TokenRefusal::UsedUp)] | [Err(TokenRefusal::UsedUp), Ok(device)] => {
                device.cert_serial.clone()
            }
            other => {
                panic!("round {round}: expected one re-enrollment and one refusal, got {other:?}")
            }
        };
        let current = b.current_certificate("d1").await.unwrap().unwrap();
        assert_eq!(current.serial, winner, "round {round}");
        let token = a
            .list_tokens()
            .await
            .unwrap()
            .into_iter()
            .find(|token| token.id == format!("t-{round}"))
            .unwrap();
        assert_eq!(token.uses, 1, "round {round}");
    }
}

/// Size and validity of the disk samples' indexes: (bytes, all valid).
async fn disk_sample_index(store: &PostgresStore) -> (i64, bool) {
    let row = store
        .client()
        .await
        .unwrap()
        .query_one(
            "SELECT COALESCE(SUM(pg_relation_size(indexrelid)), 0)::BIGINT, bool_and(indisvalid)
             FROM pg_index WHERE indrelid = 'disk_samples'::regclass",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// Inserts the rows `rows` (a query of five columns, `$1` the time) into
/// `disk_samples`.
async fn insert_disk_samples(store: &PostgresStore, rows: &str, at: i64) {
    store
        .client()
        .await
        .unwrap()
        .execute(
            &format!(
                "INSERT INTO disk_samples (device_id, mount_point, at, total_bytes, available_bytes) {rows}"
            ),
            &[&at],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn compaction_rebuilds_the_disk_sample_index_thinning_left_sparse() {
    use crate::store::history::{DAY_SECS, HOUR_SECS, HistoryConfig};
    use crate::store::retention;

    let (_schema, store) = fresh().await;
    enroll_d1(&store, "laptops").await;
    let t0 = 1_795_000_000 - 1_795_000_000 % DAY_SECS;
    // Ten days of 5-minute samples on four filesystems.
    insert_disk_samples(
        &store,
        "SELECT 'd1', '/volume/' || m, $1::BIGINT + k * 300, 1000, 1000 - k
         FROM generate_series(1, 4) AS m, generate_series(0, 2879) AS k",
        t0,
    )
    .await;
    let config = HistoryConfig::default();
    let now = t0 + 10 * DAY_SECS;
    let (_, thinned) = retention::round(&store, &config, now).await.unwrap();
    assert!(thinned > 4 * 2_000, "retention thinned {thinned} samples");
    // An index a rebuild left invalid when it was interrupted (here: a
    // unique index that cannot be built).
    let failed = store
        .client()
        .await
        .unwrap()
        .batch_execute(
            "CREATE UNIQUE INDEX CONCURRENTLY disk_samples_pkey_ccnew ON disk_samples (device_id)",
        )
        .await;
    assert!(failed.is_err(), "the leftover index must fail to build");
    let (sparse, valid) = disk_sample_index(&store).await;
    assert!(!valid, "the leftover index is there and invalid");

    let mut compaction = retention::Compaction::default();
    assert!(compaction.after_round(&store, &config, now).await.unwrap());
    let (compacted, valid) = disk_sample_index(&store).await;
    assert!(valid, "the leftover index is gone, the rebuilt one valid");
    assert!(
        compacted * 2 < sparse,
        "index {sparse} bytes before compaction, {compacted} after"
    );
    // Reads and writes go on through the rebuilt index.
    let before = store.history_summary("d1").await.unwrap();
    insert_disk_samples(
        &store,
        "VALUES ('d1', '/volume/1', $1::BIGINT, 1000, 1)",
        now,
    )
    .await;
    assert_eq!(
        store.history_summary("d1").await.unwrap().disk_samples,
        before.disk_samples + 1
    );
    // Once per day of history thinned.
    let later = now + HOUR_SECS;
    assert!(
        !compaction
            .after_round(&store, &config, later)
            .await
            .unwrap()
    );
    let next_day = now + DAY_SECS;
    assert!(
        compaction
            .after_round(&store, &config, next_day)
            .await
            .unwrap()
    );
}
