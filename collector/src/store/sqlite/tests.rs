//! The SQLite store's own tests: migrations from earlier releases, the
//! statement cache, and the conformance suite every backend runs.

use super::*;
use crate::store::conformance::{
    DAY_ROWS_WITHOUT_NEWEST, DayRowNewest, day_rows_with_newest, enroll_d1,
};

/// A fresh, empty store in a temp dir.
pub(crate) async fn fresh() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap();
    (dir, store)
}

/// A fresh store with one enrolled device `d1` (LAPTOP-042) in `group`;
/// for other modules' tests that need a device to report.
pub(crate) async fn store_with_device(group: &str) -> (tempfile::TempDir, SqliteStore) {
    let (dir, store) = fresh().await;
    enroll_d1(&store, group).await;
    (dir, store)
}

#[tokio::test]
async fn a_cached_statement_is_not_compiled_again_when_taken_from_the_cache() {
    let (_dir, store) = fresh().await;
    // The shape of the forecast's newest-sample query: a range with
    // ORDER BY ... LIMIT, whose plan SQLite would otherwise tune to the
    // bound values.
    const NEWEST: &str = "SELECT at FROM disk_samples
         WHERE device_id = ?1 AND mount_point = ?2 AND at >= ?3 AND at <= ?4
         ORDER BY at DESC LIMIT 1";
    let recompiled = store
        .with_connection(|c| {
            for round in 0..3_i64 {
                let mut statement = c.prepare_cached(NEWEST)?;
                statement
                    .query_row(params!["d1", "/", round, 1_000 + round], |row| {
                        row.get::<_, i64>(0)
                    })
                    .optional()?;
            }
            Ok(c.prepare_cached(NEWEST)?
                .get_status(rusqlite::StatementStatus::RePrepare))
        })
        .await
        .unwrap();
    assert_eq!(recompiled, 0, "the statement was compiled again");
}

mod conformance {
    use super::fresh;

    crate::store::conformance::store_conformance_suite!(fresh());
}

/// A database file at `path` with the first `version` migrations applied
/// (as a release that had only those left it) and device `d1` enrolled.
fn database_after_migration(path: &Path, version: usize) -> Connection {
    let c = Connection::open(path).unwrap();
    c.execute_batch(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .unwrap();
    for (version, sql) in &MIGRATIONS[..version] {
        c.execute_batch(sql).unwrap();
        c.execute("INSERT INTO schema_migrations VALUES (?1, 0)", [version])
            .unwrap();
    }
    c.execute_batch(
        "INSERT INTO enrollment_tokens (id, token_hash, group_name, created_at, expires_at) VALUES ('t1', 'aa', 'laptops', 0, 100);
         INSERT INTO devices (id, group_name, hostname, os, agent_version, enrolled_at, token_id, cert_serial, cert_not_after)
           VALUES ('d1', 'laptops', 'host', 'linux', '0.1.0', 10, 't1', '01', 1000);",
    )
    .unwrap();
    c
}

/// Asserts the database refuses `insert` (a row referring to nothing).
async fn assert_refused(store: &SqliteStore, insert: &'static str) {
    let outcome = store
        .with_connection(move |c| Ok(c.execute(insert, [])?))
        .await;
    assert!(outcome.is_err(), "{insert}: {outcome:?}");
}

#[tokio::test]
async fn tickets_migration_keeps_existing_alerts_and_their_outbox_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    {
        // A database as the previous release left it: migrations 1 and 2, with an alert.
        let c = database_after_migration(&path, 2);
        c.execute_batch(
            "INSERT INTO alerts (id, device_id, rule, subject, state, severity, first_seen, last_seen, summary)
               VALUES (7, 'd1', 'backup_failed', 'nightly', 'firing', 'warning', 20, 20, 'Backup job nightly failed');
             INSERT INTO alert_outbox (alert_id, event, payload, created_at, next_attempt_at)
               VALUES (7, 'opened', '{}', 20, 20);",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let alerts = store.list_alerts(AlertFilter::default()).await.unwrap();
    assert_eq!(
        (alerts.len(), alerts[0].id, alerts[0].hostname.as_str()),
        (1, 7, "host")
    );
    let pending = store.outbox_in_state(OutboxState::Pending).await.unwrap();
    assert_eq!(pending[0].alert_id, 7);
    // Foreign keys are back on after migrating.
    assert_refused(
        &store,
        "INSERT INTO alert_outbox (alert_id, event, payload, created_at, next_attempt_at) VALUES (99, 'opened', '{}', 0, 0)",
    )
    .await;
}

#[tokio::test]
async fn disk_history_keeps_its_rows_when_rebuilt_without_rowid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    {
        // A database as the previous release left it: migrations 1-15,
        // with a device's disk samples and day rows.
        let c = database_after_migration(&path, 15);
        c.execute_batch(
            "INSERT INTO disk_samples (device_id, mount_point, at, total_bytes, available_bytes)
               VALUES ('d1', '/', 86400, 100, 60), ('d1', '/', 90000, 100, 55), ('d1', '/home', 86400, 500, 400);
             INSERT INTO disk_days (device_id, mount_point, day, at, total_bytes, available_bytes)
               VALUES ('d1', '/', 86400, 90000, 100, 55), ('d1', '/home', 86400, 86400, 500, 400);",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let (samples, days, rowid) = store
        .with_connection(|c| {
            let samples: Vec<(String, i64, i64)> = c
                .prepare("SELECT mount_point, at, available_bytes FROM disk_samples ORDER BY mount_point, at")?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let days: Vec<(String, i64, i64)> = c
                .prepare("SELECT mount_point, at, available_bytes FROM disk_days ORDER BY mount_point")?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let rowid = c.prepare("SELECT rowid FROM disk_samples").is_ok();
            Ok((samples, days, rowid))
        })
        .await
        .unwrap();
    assert_eq!(
        samples,
        [
            ("/".to_owned(), 86400, 60),
            ("/".to_owned(), 90000, 55),
            ("/home".to_owned(), 86400, 400)
        ]
    );
    assert_eq!(
        days,
        [
            ("/".to_owned(), 90000, 55),
            ("/home".to_owned(), 86400, 400)
        ]
    );
    assert!(!rowid, "disk_samples is a WITHOUT ROWID table");
    // The rebuilt tables still refer to their device.
    assert_refused(
        &store,
        "INSERT INTO disk_samples (device_id, mount_point, at, total_bytes, available_bytes) VALUES ('nobody', '/', 0, 1, 1)",
    )
    .await;
}

#[tokio::test]
async fn day_rows_learn_their_newest_sample_from_the_samples_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    // A database as the previous release left it (migrations 1-17).
    database_after_migration(&path, 17)
        .execute_batch(DAY_ROWS_WITHOUT_NEWEST)
        .unwrap();
    let store = SqliteStore::open(&path).unwrap();
    let newest = store
        .with_connection(|c| {
            Ok(c.prepare(
                "SELECT mount_point, day, newest_at, newest_total_bytes, newest_available_bytes
                 FROM disk_days ORDER BY mount_point, day",
            )?
            .query_map([], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<DayRowNewest>>>()?)
        })
        .await
        .unwrap();
    assert_eq!(newest, day_rows_with_newest());
}

#[tokio::test]
async fn reopening_keeps_data_and_does_not_rerun_migrations() {
    let (dir, store) = store_with_device("laptops").await;
    drop(store);
    let reopened = SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap();
    assert_eq!(reopened.list_tokens().await.unwrap().len(), 1);
}
