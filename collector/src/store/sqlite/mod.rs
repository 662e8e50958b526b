//! SQLite implementation of [`Store`]: the embedded, zero-setup default.
//!
//! One connection in WAL mode, owned by one thread ([`writer`]) that runs
//! every call and group-commits reports; admin commands in other processes
//! can read and write alongside (busy timeout).

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use prost::Message;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use forewarn_proto::pb;

use crate::alerts::silence::Silence;
use crate::alerts::{AlertFilter, AlertRecord, AlertTransitionRecord};
use crate::clock::now_unix;
use crate::rules::RuleBook;
use crate::store::outbox::{OutboxDelivery, OutboxEvent, OutboxState};

pub(super) mod alerts;
mod console;
mod devices;
mod history;
mod ingest;
#[cfg(test)]
mod measure;
mod pages;
mod tickets;
mod writer;

use alerts as sqlite_alerts;

use crate::fleet::hardware::{HardwareIdentity, KnownMachine};
use crate::store::console::NewAuditEntry;

use super::{
    CurrentCertificate, DeviceRecord, DiskForecastRecord, HistorySummary, IncomingReport,
    IngestOutcome, LatestStatus, NewDevice, NewToken, RetentionBatch, Singleton, Store, StoreError,
    SweepScope, TokenRecord, TokenRefusal,
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
    (
        9,
        include_str!("../../../migrations/sqlite/0009_bounded_history.sql"),
    ),
    (
        10,
        include_str!("../../../migrations/sqlite/0010_next_sweep_at.sql"),
    ),
    (
        11,
        include_str!("../../../migrations/sqlite/0011_planned_at.sql"),
    ),
    (
        12,
        include_str!("../../../migrations/sqlite/0012_outbox_skipped.sql"),
    ),
    (
        13,
        include_str!("../../../migrations/sqlite/0013_alert_list_indexes.sql"),
    ),
    (
        14,
        include_str!("../../../migrations/sqlite/0014_disk_days.sql"),
    ),
    (
        15,
        include_str!("../../../migrations/sqlite/0015_content_fingerprint.sql"),
    ),
    (
        16,
        include_str!("../../../migrations/sqlite/0016_disk_history_without_rowid.sql"),
    ),
    (
        17,
        include_str!("../../../migrations/sqlite/0017_outbox_queue_index.sql"),
    ),
    (
        18,
        include_str!("../../../migrations/sqlite/0018_disk_days_newest.sql"),
    ),
];

/// Devices the sweeper plans in one transaction.
const SWEEP_BATCH_DEVICES: usize = 50;

/// WAL pages (4 KiB each) between automatic checkpoints.
const WAL_CHECKPOINT_PAGES: i64 = 10_000;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: writer::Writer,
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
        // An ack means the report is on disk: each commit syncs the WAL. Group
        // commit (see `writer`) shares that cost among the reports of a batch.
        connection.pragma_update(None, "synchronous", "FULL")?;
        // Checkpoint (copy the WAL into the database) every ~40 MB of WAL
        // instead of SQLite's 4 MB: a page written again and again under load
        // (a device's row, an index leaf) is copied once per checkpoint, so
        // fewer copies. Measured at 1,000 devices: 16.0 instead of 19.9 KB
        // written to storage per report. The WAL file stays at that size.
        connection.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)?;
        // One plan per statement whatever its bound values (the query planner
        // stability guarantee). Without it, a cached statement whose plan
        // SQLite may tune to a value (a range with ORDER BY ... LIMIT, say) is
        // compiled again every time it is taken from rusqlite's cache, whose
        // clearing of the bindings marks such a statement stale: the
        // forecast's newest-sample query cost 9% of ingest CPU that way. The
        // store runs no ANALYZE, so there are no statistics to tune with.
        connection.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        // Off while migrating: a migration may rebuild a table that others
        // reference (SQLite cannot alter constraints); checked before commit.
        connection.pragma_update(None, "foreign_keys", "OFF")?;
        migrate(&mut connection)?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        let name = format!(
            "sqlite {}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        Ok(Self {
            writer: writer::Writer::start(connection, name)?,
        })
    }

    /// Runs `work` alone on the connection, on the database thread.
    pub(super) async fn with_connection<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer.call(work).await
    }
}

/// Every SQLite error becomes the neutral [`StoreError::Database`], keeping
/// SQLite's own message ("database is locked", ...) and the error as source.
impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::Database(Box::new(err))
    }
}

/// Applies the migrations not yet applied. Only when one was applied are the
/// foreign keys checked: the check reads every row of every referencing
/// table (most of a second per gigabyte), and a database no migration
/// touched has kept them since the last check, with `foreign_keys` on.
fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )?;
    let tx = connection.transaction()?;
    let mut applied_any = false;
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
            applied_any = true;
        }
    }
    // Only a migration can leave dangling rows (foreign keys are on
    // otherwise); checking the whole database on every open would cost a
    // command-line call seconds on a large one.
    if !applied_any {
        tx.commit()?;
        return Ok(());
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

pub(super) const DEVICE_COLUMNS: &str = "id, group_name, hostname, os, agent_version, enrolled_at, retired_at, cert_serial, cert_not_after, last_seen_at, last_seq";

pub(super) fn device_from_row(row: &Row<'_>) -> rusqlite::Result<DeviceRecord> {
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

    async fn create_token(
        &self,
        token: NewToken,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError> {
        self.with_connection(move |c| {
            Ok(console::audited(
                c,
                Some(&audit),
                |tx| {
                    Ok(tx.execute(
                        "INSERT INTO enrollment_tokens (id, token_hash, group_name, created_at, expires_at, max_uses)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                        params![token.id, token.token_hash, token.group, token.created_at, token.expires_at, token.max_uses],
                    )? > 0)
                },
                |&created| created,
            )?)
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

    async fn revoke_token(&self, id: &str, audit: NewAuditEntry) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.with_connection(move |c| {
            Ok(console::audited(
                c,
                Some(&audit),
                |tx| {
                    Ok(tx.execute(
                        "UPDATE enrollment_tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                        params![id, audit.at],
                    )? > 0)
                },
                |&revoked| revoked,
            )?)
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

    async fn retire_device(&self, id: &str, audit: NewAuditEntry) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.with_connection(move |c| {
            Ok(console::audited(
                c,
                Some(&audit),
                |tx| {
                    Ok(tx.execute(
                        "UPDATE devices SET retired_at = COALESCE(retired_at, ?2) WHERE id = ?1",
                        params![id, audit.at],
                    )? > 0)
                },
                |&retired| retired,
            )?)
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
        let report = report.ready();
        self.writer
            .batched(move |c| ingest::ingest(c, report, &rules))
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
                "SELECT d.last_seq, COALESCE(d.last_collected_at, s.collected_at),
                   COALESCE(d.last_seen_at, s.received_at), s.report
                 FROM device_status s JOIN devices d ON d.id = s.device_id WHERE s.device_id = ?1",
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

    /// Devices are planned [`SWEEP_BATCH_DEVICES`] to a transaction, so
    /// reports queued behind the one connection wait for a batch, not for
    /// the whole sweep.
    async fn sweep_alerts(
        &self,
        rules: Arc<RuleBook>,
        now: i64,
        scope: SweepScope,
    ) -> Result<usize, StoreError> {
        let ids = self
            .with_connection(move |c| {
                c.execute(
                    "UPDATE devices SET next_sweep_at = NULL WHERE next_sweep_at <= ?1 AND retired_at IS NOT NULL",
                    [now],
                )?;
                let (filter, due_by) = match scope {
                    SweepScope::Due => ("next_sweep_at <= ?1 AND retired_at IS NULL", Some(now)),
                    SweepScope::All => ("retired_at IS NULL AND last_seen_at IS NOT NULL", None),
                };
                let mut statement =
                    c.prepare(&format!("SELECT id FROM devices WHERE {filter} ORDER BY id"))?;
                Ok(statement
                    .query_map(rusqlite::params_from_iter(due_by), |row| row.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await?;
        let mut notifications = 0;
        for batch in ids.chunks(SWEEP_BATCH_DEVICES) {
            let batch = batch.to_vec();
            let rules = Arc::clone(&rules);
            notifications += self
                .with_connection(move |c| {
                    let tx = c.transaction()?;
                    let mut notifications = 0;
                    for id in batch {
                        let Some((device, encoded)) = tx
                            .query_row(
                                &format!(
                                    "SELECT {DEVICE_COLUMNS}, s.report FROM devices
                                     LEFT JOIN device_status s ON s.device_id = devices.id
                                     WHERE id = ?1 AND retired_at IS NULL AND last_seen_at IS NOT NULL"
                                ),
                                [&id],
                                |row| Ok((device_from_row(row)?, row.get::<_, Option<Vec<u8>>>(11)?)),
                            )
                            .optional()?
                        else {
                            continue;
                        };
                        let status = encoded
                            .and_then(|bytes| pb::StatusReport::decode(bytes.as_slice()).ok());
                        notifications += sqlite_alerts::sweep_device(
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
                .await?;
        }
        Ok(notifications)
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

    async fn ack_alert(
        &self,
        id: i64,
        by: &str,
        note: &str,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError> {
        let (by, note) = (by.to_owned(), note.to_owned());
        self.with_connection(move |c| {
            Ok(console::audited(
                c,
                Some(&audit),
                |tx| sqlite_alerts::ack_alert(tx, id, &by, &note, audit.at),
                |&acked| acked,
            )?)
        })
        .await
    }

    async fn add_silence(&self, silence: Silence, audit: NewAuditEntry) -> Result<(), StoreError> {
        self.with_connection(move |c| {
            Ok(console::audited(
                c,
                Some(&audit),
                |tx| sqlite_alerts::insert_silence(tx, &silence),
                |()| true,
            )?)
        })
        .await
    }

    async fn list_silences(&self) -> Result<Vec<Silence>, StoreError> {
        self.with_connection(|c| Ok(sqlite_alerts::list_silences(c)?))
            .await
    }

    async fn expire_silence(&self, id: &str, audit: NewAuditEntry) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.with_connection(move |c| {
            Ok(console::audited(
                c,
                Some(&audit),
                |tx| sqlite_alerts::expire_silence(tx, &id, audit.at),
                |&expired| expired,
            )?)
        })
        .await
    }

    async fn history_summary(&self, device_id: &str) -> Result<HistorySummary, StoreError> {
        let device_id = device_id.to_owned();
        self.with_connection(move |c| Ok(history::summary(c, &device_id)?))
            .await
    }

    async fn retain_history(
        &self,
        cutoffs: super::history::Cutoffs,
        after: &str,
        devices: usize,
    ) -> Result<RetentionBatch, StoreError> {
        let after = after.to_owned();
        self.with_connection(move |c| history::retain(c, cutoffs, &after, devices))
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

    // A delivery's outcome is group-committed like a report: the worker
    // delivers a claimed batch in parallel, and their outcomes share one
    // transaction (and one sync) instead of one each.
    async fn mark_skipped(&self, id: i64, now: i64) -> Result<(), StoreError> {
        self.writer
            .batched(move |c| Ok(sqlite_alerts::mark_skipped(c, id, now)?))
            .await
    }

    async fn mark_delivered(&self, id: i64, now: i64) -> Result<(), StoreError> {
        self.writer
            .batched(move |c| Ok(sqlite_alerts::mark_delivered(c, id, now)?))
            .await
    }

    async fn mark_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        let error = error.to_owned();
        self.writer
            .batched(move |c| Ok(sqlite_alerts::mark_failed(c, id, &error, retry_at)?))
            .await
    }

    async fn outbox_in_state(&self, state: OutboxState) -> Result<Vec<OutboxEvent>, StoreError> {
        self.with_connection(move |c| Ok(sqlite_alerts::outbox_in_state(c, state)?))
            .await
    }
}

#[cfg(test)]
pub(crate) mod tests;
