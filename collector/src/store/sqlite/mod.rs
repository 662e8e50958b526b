//! SQLite implementation of [`Store`]: the embedded, zero-setup default.
//!
//! One connection in WAL mode behind a mutex; every call runs on tokio's
//! blocking pool so the async runtime never waits on disk. At a few reports
//! per second for a 2,000-device fleet, one writer is plenty, and admin
//! commands in other processes can read and write alongside (busy timeout).

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use prost::Message;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use tracing::warn;

use forewarn_proto::pb;

use crate::alerts::silence::Silence;
use crate::alerts::{AlertFilter, AlertRecord, AlertTransitionRecord};
use crate::clock::now_unix;
use crate::rules::RuleBook;
use crate::store::outbox::{OutboxDelivery, OutboxEvent, OutboxState};

pub(super) mod alerts;
mod console;
mod devices;
mod pages;
mod tickets;

use alerts as sqlite_alerts;

use super::seq::{self, IncomingSeq, SeqVerdict, StoredSeq};
use crate::fleet::hardware::{HardwareIdentity, KnownMachine};

use super::{
    CurrentCertificate, DeviceRecord, DiskForecastRecord, IncomingReport, IngestOutcome,
    LatestStatus, NewDevice, NewToken, Singleton, Store, StoreError, TokenRecord, TokenRefusal,
};

/// Schema migrations, applied in order and recorded in `schema_migrations`.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../../migrations/sqlite/0001_init.sql")),
    (
        2,
        include_str!("../../../migrations/sqlite/0002_alerts.sql"),
    ),
    (
        3,
        include_str!("../../../migrations/sqlite/0003_tickets.sql"),
    ),
    (
        4,
        include_str!("../../../migrations/sqlite/0004_outbox_delivered_at.sql"),
    ),
    (
        5,
        include_str!("../../../migrations/sqlite/0005_report_boot_id.sql"),
    ),
    (
        6,
        include_str!("../../../migrations/sqlite/0006_alert_texts_and_forecasts.sql"),
    ),
    (
        7,
        include_str!("../../../migrations/sqlite/0007_console.sql"),
    ),
    (
        8,
        include_str!("../../../migrations/sqlite/0008_device_hardware_identity.sql"),
    ),
];

#[derive(Debug, Clone)]
pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let mut connection = Connection::open(path).map_err(|source| StoreError::Open {
            location: path.display().to_string(),
            source: Box::new(source),
        })?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        // Off while migrating: a migration may rebuild a table that others
        // reference (SQLite cannot alter constraints); checked before commit.
        connection.pragma_update(None, "foreign_keys", "OFF")?;
        migrate(&mut connection)?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// Runs `work` with the connection on the blocking pool.
    pub(super) async fn with_connection<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            let mut guard = connection
                .lock()
                .map_err(|_| StoreError::Task("database connection lock poisoned".into()))?;
            work(&mut guard)
        })
        .await
        .map_err(|err| StoreError::Task(err.to_string()))?
    }
}

/// Every SQLite error becomes the neutral [`StoreError::Database`], keeping
/// SQLite's own message ("database is locked", ...) and the error as source.
impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::Database(Box::new(err))
    }
}

fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )?;
    let tx = connection.transaction()?;
    for (version, sql) in MIGRATIONS {
        let applied: bool = tx
            .query_row(
                "SELECT 1 FROM schema_migrations WHERE version = ?1",
                [version],
                |_| Ok(true),
            )
            .optional()?
            .unwrap_or(false);
        if !applied {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                params![version, now_unix()],
            )?;
        }
    }
    let dangling: Option<String> = tx
        .query_row("PRAGMA foreign_key_check", [], |row| row.get(0))
        .optional()?;
    if let Some(table) = dangling {
        return Err(StoreError::Task(format!(
            "migration left rows in {table} that reference missing rows"
        )));
    }
    tx.commit()?;
    Ok(())
}

const DEVICE_COLUMNS: &str = "id, group_name, hostname, os, agent_version, enrolled_at, retired_at, cert_serial, cert_not_after, last_seen_at, last_seq";

fn device_from_row(row: &Row<'_>) -> rusqlite::Result<DeviceRecord> {
    Ok(DeviceRecord {
        id: row.get(0)?,
        group: row.get(1)?,
        hostname: row.get(2)?,
        os: row.get(3)?,
        agent_version: row.get(4)?,
        enrolled_at: row.get(5)?,
        retired_at: row.get(6)?,
        cert_serial: row.get(7)?,
        cert_not_after: row.get(8)?,
        last_seen_at: row.get(9)?,
        last_seq: row.get::<_, i64>(10)?.max(0) as u64,
    })
}

fn device_by_id(tx: &Connection, id: &str) -> rusqlite::Result<Option<DeviceRecord>> {
    tx.query_row(
        &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?1"),
        [id],
        device_from_row,
    )
    .optional()
}

/// Spends one use of a token, or says why it cannot be spent.
fn spend_token(
    tx: &Transaction<'_>,
    token_hash: &str,
    now: i64,
) -> rusqlite::Result<Result<(String, String), TokenRefusal>> {
    let token = tx
        .query_row(
            "SELECT id, group_name, expires_at, max_uses, uses, revoked_at FROM enrollment_tokens WHERE token_hash = ?1",
            [token_hash],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, Option<i64>>(3)?,
                    row.get::<_, i64>(4)?,
                    row.get::<_, Option<i64>>(5)?,
                ))
            },
        )
        .optional()?;
    let Some((id, group, expires_at, max_uses, uses, revoked_at)) = token else {
        return Ok(Err(TokenRefusal::Unknown));
    };
    if revoked_at.is_some() {
        return Ok(Err(TokenRefusal::Revoked));
    }
    if expires_at <= now {
        return Ok(Err(TokenRefusal::Expired));
    }
    if max_uses.is_some_and(|max| uses >= max) {
        return Ok(Err(TokenRefusal::UsedUp));
    }
    tx.execute(
        "UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = ?1",
        [&id],
    )?;
    Ok(Ok((id, group)))
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.with_connection(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    async fn create_token(&self, token: NewToken) -> Result<(), StoreError> {
        self.with_connection(move |c| {
            c.execute(
                "INSERT INTO enrollment_tokens (id, token_hash, group_name, created_at, expires_at, max_uses) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![token.id, token.token_hash, token.group, token.created_at, token.expires_at, token.max_uses],
            )?;
            Ok(())
        })
        .await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.with_connection(|c| {
            let mut statement = c.prepare(
                "SELECT id, group_name, created_at, expires_at, max_uses, uses, revoked_at FROM enrollment_tokens ORDER BY created_at, id",
            )?;
            let rows = statement.query_map([], |row| {
                Ok(TokenRecord {
                    id: row.get(0)?,
                    group: row.get(1)?,
                    created_at: row.get(2)?,
                    expires_at: row.get(3)?,
                    max_uses: row.get(4)?,
                    uses: row.get(5)?,
                    revoked_at: row.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn revoke_token(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.with_connection(move |c| {
            let changed = c.execute(
                "UPDATE enrollment_tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                params![id, now],
            )?;
            Ok(changed > 0)
        })
        .await
    }

    async fn enroll_device(
        &self,
        token_hash: &str,
        device: NewDevice,
        now: i64,
    ) -> Result<Result<DeviceRecord, TokenRefusal>, StoreError> {
        let token_hash = token_hash.to_owned();
        self.with_connection(move |c| {
            let tx = c.transaction()?;
            let (token_id, group) = match spend_token(&tx, &token_hash, now)? {
                Ok(token) => token,
                Err(refusal) => return Ok(Err(refusal)),
            };
            tx.execute(
                "INSERT INTO devices (id, group_name, hostname, os, agent_version, enrolled_at, token_id, cert_serial, cert_not_after, serial_number, hardware_uuid) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    device.id,
                    group,
                    device.hostname,
                    device.os,
                    device.agent_version,
                    device.enrolled_at,
                    token_id,
                    device.cert_serial,
                    device.cert_not_after,
                    device.hardware.serial_number,
                    device.hardware.hardware_uuid
                ],
            )?;
            let record = device_by_id(&tx, &device.id)?
                .ok_or_else(|| StoreError::Task("enrolled device vanished".into()))?;
            tx.commit()?;
            Ok(Ok(record))
        })
        .await
    }

    async fn token_group(&self, token_hash: &str) -> Result<Option<String>, StoreError> {
        let token_hash = token_hash.to_owned();
        self.with_connection(move |c| Ok(devices::token_group(c, &token_hash)?))
            .await
    }

    async fn known_machines(
        &self,
        hardware: &HardwareIdentity,
    ) -> Result<Vec<KnownMachine>, StoreError> {
        let hardware = hardware.clone();
        self.with_connection(move |c| Ok(devices::known_machines(c, &hardware)?))
            .await
    }

    async fn reenroll_device(
        &self,
        token_hash: &str,
        device: NewDevice,
        cert_not_before: i64,
        now: i64,
    ) -> Result<Result<DeviceRecord, TokenRefusal>, StoreError> {
        let token_hash = token_hash.to_owned();
        self.with_connection(move |c| {
            devices::reenroll(c, &token_hash, &device, cert_not_before, now)
        })
        .await
    }

    async fn current_certificate(
        &self,
        device_id: &str,
    ) -> Result<Option<CurrentCertificate>, StoreError> {
        let device_id = device_id.to_owned();
        self.with_connection(move |c| Ok(devices::current_certificate(c, &device_id)?))
            .await
    }

    async fn device(&self, id: &str) -> Result<Option<DeviceRecord>, StoreError> {
        let id = id.to_owned();
        self.with_connection(move |c| Ok(device_by_id(c, &id)?))
            .await
    }

    async fn list_devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        self.with_connection(|c| {
            let mut statement = c.prepare(&format!(
                "SELECT {DEVICE_COLUMNS} FROM devices ORDER BY hostname, id"
            ))?;
            let rows = statement.query_map([], device_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn retire_device(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.with_connection(move |c| {
            let changed = c.execute(
                "UPDATE devices SET retired_at = COALESCE(retired_at, ?2) WHERE id = ?1",
                params![id, now],
            )?;
            Ok(changed > 0)
        })
        .await
    }

    async fn record_certificate(
        &self,
        device_id: &str,
        serial: &str,
        not_after: i64,
    ) -> Result<(), StoreError> {
        let (device_id, serial) = (device_id.to_owned(), serial.to_owned());
        self.with_connection(move |c| {
            c.execute(
                "UPDATE devices SET cert_serial = ?2, cert_not_after = ?3 WHERE id = ?1",
                params![device_id, serial, not_after],
            )?;
            Ok(())
        })
        .await
    }

    async fn ingest_report(
        &self,
        report: IncomingReport,
        rules: Arc<RuleBook>,
    ) -> Result<IngestOutcome, StoreError> {
        self.with_connection(move |c| {
            let tx = c.transaction()?;
            let Some(device) = device_by_id(&tx, &report.device_id)? else {
                return Ok(IngestOutcome::UnknownDevice);
            };
            if device.retired_at.is_some() {
                return Ok(IngestOutcome::Retired);
            }
            let stored = StoredSeq {
                seq: device.last_seq,
                boot_id: tx.query_row(
                    "SELECT last_boot_id FROM devices WHERE id = ?1",
                    [&report.device_id],
                    |row| row.get::<_, i64>(0),
                )? as u64,
                collected_at: tx
                    .query_row(
                        "SELECT collected_at FROM device_status WHERE device_id = ?1",
                        [&report.device_id],
                        |row| row.get(0),
                    )
                    .optional()?,
            };
            let verdict = seq::judge(
                stored,
                IncomingSeq {
                    seq: report.seq,
                    boot_id: report.boot_id,
                    collected_at: report.collected_at,
                },
            );
            match verdict {
                SeqVerdict::Next | SeqVerdict::Renumbered => {}
                SeqVerdict::Replay => {
                    return Ok(IngestOutcome::Replay {
                        group: device.group,
                        acked_seq: device.last_seq,
                    });
                }
                SeqVerdict::Stale => return Ok(IngestOutcome::Stale { group: device.group }),
            }
            let seq = i64::try_from(report.seq)
                .map_err(|_| StoreError::Task(format!("seq {} out of range", report.seq)))?;
            tx.execute(
                "UPDATE devices SET hostname = ?2, os = ?3, agent_version = ?4, last_seen_at = ?5, last_seq = ?6, last_boot_id = ?7 WHERE id = ?1",
                params![report.device_id, report.hostname, report.os, report.agent_version, report.received_at, seq, report.boot_id as i64],
            )?;
            tx.execute(
                "INSERT INTO device_status (device_id, seq, collected_at, received_at, report) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (device_id) DO UPDATE SET seq = excluded.seq, collected_at = excluded.collected_at,
                   received_at = excluded.received_at, report = excluded.report",
                params![report.device_id, seq, report.collected_at, report.received_at, report.encoded],
            )?;
            tx.execute(
                "INSERT INTO status_history (device_id, boot_id, seq, collected_at, received_at, report) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (device_id, boot_id, seq) DO UPDATE SET collected_at = excluded.collected_at,
                   received_at = excluded.received_at, report = excluded.report",
                params![report.device_id, report.boot_id as i64, seq, report.collected_at, report.received_at, report.encoded],
            )?;
            let status = match pb::StatusReport::decode(report.encoded.as_slice()) {
                Ok(status) => Some(status),
                Err(err) => {
                    warn!(device_id = %report.device_id, error = %err, "stored report does not decode; only device-wide rules run");
                    None
                }
            };
            if let Some(status) = &status {
                sqlite_alerts::record_disk_samples(&tx, &report.device_id, status, report.collected_at)?;
            }
            let device = DeviceRecord {
                hostname: report.hostname.clone(),
                last_seen_at: Some(report.received_at),
                ..device
            };
            sqlite_alerts::plan_device(
                &tx,
                rules.for_group(&device.group),
                &device,
                status.as_ref(),
                report.received_at,
            )?;
            tx.commit()?;
            Ok(match verdict {
                SeqVerdict::Renumbered => IngestOutcome::Renumbered {
                    group: device.group,
                    previous_seq: stored.seq,
                },
                _ => IngestOutcome::Stored {
                    group: device.group,
                },
            })
        })
        .await
    }

    async fn disk_forecasts(&self, device_id: &str) -> Result<Vec<DiskForecastRecord>, StoreError> {
        let device_id = device_id.to_owned();
        self.with_connection(move |c| Ok(sqlite_alerts::disk_forecasts(c, &device_id)?))
            .await
    }

    async fn latest_status(&self, device_id: &str) -> Result<Option<LatestStatus>, StoreError> {
        let device_id = device_id.to_owned();
        self.with_connection(move |c| {
            Ok(c.query_row(
                "SELECT seq, collected_at, received_at, report FROM device_status WHERE device_id = ?1",
                [device_id],
                |row| {
                    Ok(LatestStatus {
                        seq: row.get::<_, i64>(0)?.max(0) as u64,
                        collected_at: row.get(1)?,
                        received_at: row.get(2)?,
                        encoded: row.get(3)?,
                    })
                },
            )
            .optional()?)
        })
        .await
    }

    async fn sweep_alerts(&self, rules: Arc<RuleBook>, now: i64) -> Result<usize, StoreError> {
        self.with_connection(move |c| {
            let tx = c.transaction()?;
            let devices: Vec<(DeviceRecord, Option<Vec<u8>>)> = {
                let mut statement = tx.prepare(&format!(
                    "SELECT {DEVICE_COLUMNS}, s.report FROM devices
                     LEFT JOIN device_status s ON s.device_id = devices.id
                     WHERE retired_at IS NULL AND last_seen_at IS NOT NULL"
                ))?;
                statement
                    .query_map([], |row| Ok((device_from_row(row)?, row.get(11)?)))?
                    .collect::<rusqlite::Result<_>>()?
            };
            let mut notifications = 0;
            for (device, encoded) in devices {
                let status =
                    encoded.and_then(|bytes| pb::StatusReport::decode(bytes.as_slice()).ok());
                notifications += sqlite_alerts::plan_device(
                    &tx,
                    rules.for_group(&device.group),
                    &device,
                    status.as_ref(),
                    now,
                )?;
            }
            tx.commit()?;
            Ok(notifications)
        })
        .await
    }

    async fn list_alerts(&self, filter: AlertFilter) -> Result<Vec<AlertRecord>, StoreError> {
        self.with_connection(move |c| Ok(sqlite_alerts::list_alerts(c, &filter)?))
            .await
    }

    async fn alert(
        &self,
        id: i64,
    ) -> Result<Option<(AlertRecord, Vec<AlertTransitionRecord>)>, StoreError> {
        self.with_connection(move |c| Ok(sqlite_alerts::alert_with_history(c, id)?))
            .await
    }

    async fn ack_alert(&self, id: i64, by: &str, note: &str, now: i64) -> Result<bool, StoreError> {
        let (by, note) = (by.to_owned(), note.to_owned());
        self.with_connection(move |c| {
            let tx = c.transaction()?;
            let acked = sqlite_alerts::ack_alert(&tx, id, &by, &note, now)?;
            tx.commit()?;
            Ok(acked)
        })
        .await
    }

    async fn add_silence(&self, silence: Silence) -> Result<(), StoreError> {
        self.with_connection(move |c| Ok(sqlite_alerts::insert_silence(c, &silence)?))
            .await
    }

    async fn list_silences(&self) -> Result<Vec<Silence>, StoreError> {
        self.with_connection(|c| Ok(sqlite_alerts::list_silences(c)?))
            .await
    }

    async fn expire_silence(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.with_connection(move |c| Ok(sqlite_alerts::expire_silence(c, &id, now)?))
            .await
    }

    /// One collector per database file: it runs every job.
    async fn hold_singleton(&self, _job: Singleton) -> Result<bool, StoreError> {
        Ok(true)
    }
}

#[async_trait]
impl OutboxDelivery for SqliteStore {
    async fn claim_outbox(
        &self,
        limit: usize,
        lease_secs: u64,
        now: i64,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        self.with_connection(move |c| {
            let tx = c.transaction()?;
            let claimed = sqlite_alerts::claim_outbox(&tx, limit, lease_secs, now)?;
            tx.commit()?;
            Ok(claimed)
        })
        .await
    }

    async fn mark_delivered(&self, id: i64, now: i64) -> Result<(), StoreError> {
        self.with_connection(move |c| Ok(sqlite_alerts::mark_delivered(c, id, now)?))
            .await
    }

    async fn mark_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        let error = error.to_owned();
        self.with_connection(move |c| Ok(sqlite_alerts::mark_failed(c, id, &error, retry_at)?))
            .await
    }

    async fn outbox_in_state(&self, state: OutboxState) -> Result<Vec<OutboxEvent>, StoreError> {
        self.with_connection(move |c| Ok(sqlite_alerts::outbox_in_state(c, state)?))
            .await
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::conformance::enroll_d1;

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

    mod conformance {
        use super::fresh;

        crate::store::conformance::store_conformance_suite!(fresh());
    }

    #[tokio::test]
    async fn tickets_migration_keeps_existing_alerts_and_their_outbox_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        {
            // A database as the previous release left it: migrations 1 and 2, with an alert.
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL);
                 INSERT INTO schema_migrations VALUES (1, 0), (2, 0);",
            )
            .unwrap();
            c.execute_batch(MIGRATIONS[0].1).unwrap();
            c.execute_batch(MIGRATIONS[1].1).unwrap();
            c.execute_batch(
                "INSERT INTO enrollment_tokens (id, token_hash, group_name, created_at, expires_at) VALUES ('t1', 'aa', 'laptops', 0, 100);
                 INSERT INTO devices (id, group_name, hostname, os, agent_version, enrolled_at, token_id, cert_serial, cert_not_after)
                   VALUES ('d1', 'laptops', 'host', 'linux', '0.1.0', 10, 't1', '01', 1000);
                 INSERT INTO alerts (id, device_id, rule, subject, state, severity, first_seen, last_seen, summary)
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
        let err = store
            .with_connection(|c| {
                Ok(c.execute(
                    "INSERT INTO alert_outbox (alert_id, event, payload, created_at, next_attempt_at) VALUES (99, 'opened', '{}', 0, 0)",
                    [],
                )?)
            })
            .await;
        assert!(err.is_err(), "{err:?}");
    }

    #[tokio::test]
    async fn reopening_keeps_data_and_does_not_rerun_migrations() {
        let (dir, store) = store_with_device("laptops").await;
        drop(store);
        let reopened = SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap();
        assert_eq!(reopened.list_tokens().await.unwrap().len(), 1);
    }
}
