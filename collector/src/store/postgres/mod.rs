//! PostgreSQL implementation of [`Store`], for fleets that outgrow one
//! machine: several collectors share one database (docs/scaling.md).
//!
//! `tokio-postgres` with a `deadpool-postgres` pool: async all the way, no
//! blocking pool, no database needed at compile time. What keeps replicas
//! from stepping on each other:
//! - a report is judged against the device's row locked `FOR UPDATE`, so two
//!   collectors handed the same report never both store it, and a device's
//!   reports and sweeps are planned one after the other; reports are
//!   group-committed, locking their devices in id order ([`batch`]);
//! - outbox rows are claimed `FOR UPDATE SKIP LOCKED` ([`alerts::claim_outbox`]);
//! - the sweeper and retention run on one collector at a time, the holder
//!   of a session advisory lock on a connection of its own ([`lease`]);
//! - migrations run under a transaction advisory lock, so collectors
//!   starting together migrate once.
//!
//! Advisory lock keys are hashed from the schema and a name, so separate
//! schemas in one database (as the tests use) never share a lock.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use forewarn_secret::Secret;
use prost::Message;
use tokio_postgres::{GenericClient, Row};

use forewarn_proto::pb;

use crate::alerts::silence::Silence;
use crate::alerts::{AlertFilter, AlertRecord, AlertTransitionRecord};
use crate::clock::now_unix;
use crate::rules::RuleBook;
use crate::store::outbox::{OutboxDelivery, OutboxEvent, OutboxState};

mod alerts;
mod batch;
mod connect;
mod console;
mod devices;
mod ingest;
mod lease;
mod pages;
#[cfg(test)]
pub(crate) mod tests;
mod tickets;

use alerts as pg_alerts;

use super::{
    CurrentCertificate, DEFAULT_POSTGRES_CONNECTIONS, DeviceRecord, DiskForecastRecord,
    HistorySummary, IncomingReport, IngestOutcome, LatestStatus, NewDevice, NewToken,
    RetentionBatch, Singleton, Store, StoreError, SweepScope, TokenRecord, TokenRefusal,
};
use crate::fleet::hardware::{HardwareIdentity, KnownMachine};
use crate::store::console::NewAuditEntry;

/// Schema migrations, applied in order and recorded in `schema_migrations`.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        include_str!("../../../migrations/postgres/0002_console_and_hardware.sql"),
    ),
    (
        3,
        include_str!("../../../migrations/postgres/0003_bounded_history.sql"),
    ),
    (
        4,
        include_str!("../../../migrations/postgres/0004_next_sweep_at.sql"),
    ),
    (
        5,
        include_str!("../../../migrations/postgres/0005_planned_at.sql"),
    ),
    (
        6,
        include_str!("../../../migrations/postgres/0006_outbox_skipped.sql"),
    ),
    (
        7,
        include_str!("../../../migrations/postgres/0007_alert_list_indexes.sql"),
    ),
    (
        8,
        include_str!("../../../migrations/postgres/0008_disk_days.sql"),
    ),
    (
        9,
        include_str!("../../../migrations/postgres/0009_content_fingerprint.sql"),
    ),
    (
        10,
        include_str!("../../../migrations/postgres/0010_disk_days_newest.sql"),
    ),
];

/// How long a call waits for a pooled connection, or for a new one.
const POOL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    /// Reports, group-committed ([`batch`]).
    reports: batch::IngestQueue,
    target: connect::Target,
    leases: Arc<lease::Leases>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("location", &self.target.location)
            .finish()
    }
}

/// Every driver error becomes the neutral [`StoreError::Database`], keeping
/// PostgreSQL's own message and the error as source.
impl From<tokio_postgres::Error> for StoreError {
    fn from(err: tokio_postgres::Error) -> Self {
        StoreError::Database(Box::new(err))
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        StoreError::Database(Box::new(err))
    }
}

impl PostgresStore {
    /// Connects to `url` (a `postgres://` URL; `password`, if given, wins
    /// over one in the URL) and brings the schema up to date, with the
    /// default pool ([`DEFAULT_POSTGRES_CONNECTIONS`]).
    pub async fn open(url: &Secret, password: Option<&Secret>) -> Result<Self, StoreError> {
        Self::open_with_pool(url, password, DEFAULT_POSTGRES_CONNECTIONS).await
    }

    /// [`PostgresStore::open`], opening at most `max_connections` pooled
    /// connections at once; calls beyond them wait for a free one, up to
    /// [`POOL_TIMEOUT`]. (The lock of each singleton job this collector runs
    /// holds one more, outside the pool: [`lease`].)
    pub async fn open_with_pool(
        url: &Secret,
        password: Option<&Secret>,
        max_connections: usize,
    ) -> Result<Self, StoreError> {
        let target = connect::target(url, password)?;
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &target.tls {
            Some(tls) => Manager::from_config(target.config.clone(), tls.clone(), manager_config),
            None => {
                Manager::from_config(target.config.clone(), tokio_postgres::NoTls, manager_config)
            }
        };
        let pool = Pool::builder(manager)
            .max_size(max_connections)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .build()
            .map_err(|err| StoreError::Open {
                location: target.location.clone(),
                source: Box::new(err),
            })?;
        let store = Self {
            reports: batch::IngestQueue::start(pool.clone()),
            pool,
            leases: Arc::new(lease::Leases::default()),
            target,
        };
        let mut client = store.pool.get().await.map_err(|err| StoreError::Open {
            location: store.target.location.clone(),
            source: Box::new(err),
        })?;
        migrate(&mut client).await?;
        Ok(store)
    }

    /// A pooled connection.
    async fn client(&self) -> Result<Object, StoreError> {
        Ok(self.pool.get().await?)
    }
}

async fn migrate(client: &mut Object) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    // Collectors starting together: the first migrates, the others wait here
    // and then find every version applied.
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || '/migrations', 0))",
        &[],
    )
    .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .await?;
    for (version, sql) in MIGRATIONS {
        let applied = tx
            .query_opt(
                "SELECT 1 FROM schema_migrations WHERE version = $1",
                &[version],
            )
            .await?
            .is_some();
        if !applied {
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                &[version, &now_unix()],
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

pub(super) const DEVICE_COLUMNS: &str = "id, group_name, hostname, os, agent_version, enrolled_at, retired_at, cert_serial, cert_not_after, last_seen_at, last_seq";

pub(super) fn device_from_row(row: &Row) -> DeviceRecord {
    DeviceRecord {
        id: row.get(0),
        group: row.get(1),
        hostname: row.get(2),
        os: row.get(3),
        agent_version: row.get(4),
        enrolled_at: row.get(5),
        retired_at: row.get(6),
        cert_serial: row.get(7),
        cert_not_after: row.get(8),
        last_seen_at: row.get(9),
        last_seq: row.get::<_, i64>(10).max(0) as u64,
    }
}

async fn device_by_id(
    c: &impl GenericClient,
    id: &str,
) -> Result<Option<DeviceRecord>, tokio_postgres::Error> {
    let row = c
        .query_opt(
            &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1"),
            &[&id],
        )
        .await?;
    Ok(row.as_ref().map(device_from_row))
}

/// The device row locked until the transaction ends, with its stored
/// report's bytes: the other collectors' ingest and sweep of this device
/// wait for this transaction.
struct LockedDevice {
    device: DeviceRecord,
    report: Option<Vec<u8>>,
}

async fn lock_device(
    tx: &impl GenericClient,
    id: &str,
) -> Result<Option<LockedDevice>, tokio_postgres::Error> {
    let Some(row) = tx
        .query_opt(
            &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1 FOR UPDATE"),
            &[&id],
        )
        .await?
    else {
        return Ok(None);
    };
    let status = tx
        .query_opt(
            "SELECT report FROM device_status WHERE device_id = $1",
            &[&id],
        )
        .await?;
    Ok(Some(LockedDevice {
        device: device_from_row(&row),
        report: status.map(|s| s.get(0)),
    }))
}

/// Spends one use of a token (its row locked), or says why it cannot be spent.
async fn spend_token(
    tx: &impl GenericClient,
    token_hash: &str,
    now: i64,
) -> Result<Result<(String, String), TokenRefusal>, tokio_postgres::Error> {
    let Some(row) = tx
        .query_opt(
            "SELECT id, group_name, expires_at, max_uses, uses, revoked_at FROM enrollment_tokens
             WHERE token_hash = $1 FOR UPDATE",
            &[&token_hash],
        )
        .await?
    else {
        return Ok(Err(TokenRefusal::Unknown));
    };
    let (id, group): (String, String) = (row.get(0), row.get(1));
    let (expires_at, max_uses, uses, revoked_at): (i64, Option<i64>, i64, Option<i64>) =
        (row.get(2), row.get(3), row.get(4), row.get(5));
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
        "UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = $1",
        &[&id],
    )
    .await?;
    Ok(Ok((id, group)))
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.query_one("SELECT 1", &[]).await?;
        Ok(())
    }

    async fn create_token(
        &self,
        token: NewToken,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError> {
        self.execute_audited(
                "INSERT INTO enrollment_tokens (id, token_hash, group_name, created_at, expires_at, max_uses)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                &[
                    &token.id,
                    &token.token_hash,
                    &token.group,
                    &token.created_at,
                    &token.expires_at,
                    &token.max_uses.map(i64::from),
                ],
            &audit,
        )
        .await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT id, group_name, created_at, expires_at, max_uses, uses, revoked_at
                 FROM enrollment_tokens ORDER BY created_at, id",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| TokenRecord {
                id: row.get(0),
                group: row.get(1),
                created_at: row.get(2),
                expires_at: row.get(3),
                max_uses: row
                    .get::<_, Option<i64>>(4)
                    .map(|n| n.clamp(0, i64::from(u32::MAX)) as u32),
                uses: row.get::<_, i64>(5).clamp(0, i64::from(u32::MAX)) as u32,
                revoked_at: row.get(6),
            })
            .collect())
    }

    async fn revoke_token(&self, id: &str, audit: NewAuditEntry) -> Result<bool, StoreError> {
        self.execute_audited(
            "UPDATE enrollment_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
            &[&id, &audit.at],
            &audit,
        )
        .await
    }

    async fn enroll_device(
        &self,
        token_hash: &str,
        device: NewDevice,
        now: i64,
    ) -> Result<Result<DeviceRecord, TokenRefusal>, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let (token_id, group) = match spend_token(&*tx, token_hash, now).await? {
            Ok(token) => token,
            Err(refusal) => {
                tx.rollback().await?;
                return Ok(Err(refusal));
            }
        };
        tx.execute(
            "INSERT INTO devices (id, group_name, hostname, os, agent_version, enrolled_at, token_id, cert_serial, cert_not_after,
               serial_number, hardware_uuid)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &device.id,
                &group,
                &device.hostname,
                &device.os,
                &device.agent_version,
                &device.enrolled_at,
                &token_id,
                &device.cert_serial,
                &device.cert_not_after,
                &device.hardware.serial_number,
                &device.hardware.hardware_uuid,
            ],
        )
        .await?;
        let record = device_by_id(&*tx, &device.id)
            .await?
            .ok_or_else(|| StoreError::Task("enrolled device vanished".into()))?;
        tx.commit().await?;
        Ok(Ok(record))
    }

    async fn token_group(&self, token_hash: &str) -> Result<Option<String>, StoreError> {
        let c = self.client().await?;
        Ok(devices::token_group(&**c, token_hash).await?)
    }

    async fn known_machines(
        &self,
        hardware: &HardwareIdentity,
    ) -> Result<Vec<KnownMachine>, StoreError> {
        let c = self.client().await?;
        Ok(devices::known_machines(&**c, hardware).await?)
    }

    async fn reenroll_device(
        &self,
        token_hash: &str,
        device: NewDevice,
        cert_not_before: i64,
        now: i64,
    ) -> Result<Result<DeviceRecord, TokenRefusal>, StoreError> {
        let mut c = self.client().await?;
        devices::reenroll(&mut c, token_hash, &device, cert_not_before, now).await
    }

    async fn current_certificate(
        &self,
        device_id: &str,
    ) -> Result<Option<CurrentCertificate>, StoreError> {
        let c = self.client().await?;
        Ok(devices::current_certificate(&**c, device_id).await?)
    }

    async fn device(&self, id: &str) -> Result<Option<DeviceRecord>, StoreError> {
        let c = self.client().await?;
        Ok(device_by_id(&**c, id).await?)
    }

    async fn list_devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY hostname, id"),
                &[],
            )
            .await?;
        Ok(rows.iter().map(device_from_row).collect())
    }

    async fn retire_device(&self, id: &str, audit: NewAuditEntry) -> Result<bool, StoreError> {
        self.execute_audited(
            "UPDATE devices SET retired_at = COALESCE(retired_at, $2) WHERE id = $1",
            &[&id, &audit.at],
            &audit,
        )
        .await
    }

    async fn record_certificate(
        &self,
        device_id: &str,
        serial: &str,
        not_after: i64,
    ) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "UPDATE devices SET cert_serial = $2, cert_not_after = $3 WHERE id = $1",
            &[&device_id, &serial, &not_after],
        )
        .await?;
        Ok(())
    }

    async fn ingest_report(
        &self,
        report: IncomingReport,
        rules: Arc<RuleBook>,
    ) -> Result<IngestOutcome, StoreError> {
        self.reports.ingest(report, rules).await
    }

    async fn latest_status(&self, device_id: &str) -> Result<Option<LatestStatus>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT d.last_seq, COALESCE(d.last_collected_at, s.collected_at),
                   COALESCE(d.last_seen_at, s.received_at), s.report
                 FROM device_status s JOIN devices d ON d.id = s.device_id WHERE s.device_id = $1",
                &[&device_id],
            )
            .await?;
        Ok(row.map(|row| LatestStatus {
            seq: row.get::<_, i64>(0).max(0) as u64,
            collected_at: row.get(1),
            received_at: row.get(2),
            encoded: row.get(3),
        }))
    }

    async fn disk_forecasts(&self, device_id: &str) -> Result<Vec<DiskForecastRecord>, StoreError> {
        let c = self.client().await?;
        Ok(pg_alerts::disk_forecasts(&c, device_id).await?)
    }

    /// One transaction per device, each under the device's row lock: a
    /// report arriving meanwhile on any collector waits for that device's
    /// plan only, and plans from the state the sweep just wrote.
    async fn sweep_alerts(
        &self,
        rules: Arc<RuleBook>,
        now: i64,
        scope: SweepScope,
    ) -> Result<usize, StoreError> {
        let mut c = self.client().await?;
        c.execute(
            "UPDATE devices SET next_sweep_at = NULL WHERE next_sweep_at <= $1 AND retired_at IS NOT NULL",
            &[&now],
        )
        .await?;
        let ids: Vec<String> = match scope {
            SweepScope::Due => {
                c.query(
                    "SELECT id FROM devices WHERE next_sweep_at <= $1 AND retired_at IS NULL ORDER BY id",
                    &[&now],
                )
                .await?
            }
            SweepScope::All => {
                c.query(
                    "SELECT id FROM devices WHERE retired_at IS NULL AND last_seen_at IS NOT NULL ORDER BY id",
                    &[],
                )
                .await?
            }
        }
        .iter()
        .map(|row| row.get(0))
        .collect();
        let mut notifications = 0;
        for id in ids {
            let tx = c.transaction().await?;
            let locked = match lock_device(&*tx, &id).await? {
                Some(locked) if locked.device.retired_at.is_none() => locked,
                _ => {
                    tx.rollback().await?;
                    continue;
                }
            };
            let status = locked
                .report
                .as_deref()
                .and_then(|bytes| pb::StatusReport::decode(bytes).ok());
            notifications += pg_alerts::sweep_device(
                &tx,
                rules.for_group(&locked.device.group),
                &locked.device,
                status.as_ref(),
                now,
            )
            .await?;
            tx.commit().await?;
        }
        Ok(notifications)
    }

    async fn list_alerts(&self, filter: AlertFilter) -> Result<Vec<AlertRecord>, StoreError> {
        let c = self.client().await?;
        Ok(pg_alerts::list_alerts(&c, &filter).await?)
    }

    async fn alert(
        &self,
        id: i64,
    ) -> Result<Option<(AlertRecord, Vec<AlertTransitionRecord>)>, StoreError> {
        let c = self.client().await?;
        Ok(pg_alerts::alert_with_history(&c, id).await?)
    }

    async fn ack_alert(
        &self,
        id: i64,
        by: &str,
        note: &str,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let acked = pg_alerts::ack_alert(&tx, id, by, note, audit.at).await?;
        if acked {
            console::append_audit_in(&*tx, &audit).await?;
        }
        tx.commit().await?;
        Ok(acked)
    }

    async fn add_silence(&self, silence: Silence, audit: NewAuditEntry) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        pg_alerts::insert_silence(&tx, &silence).await?;
        console::append_audit_in(&*tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_silences(&self) -> Result<Vec<Silence>, StoreError> {
        let c = self.client().await?;
        Ok(pg_alerts::list_silences(&c).await?)
    }

    async fn expire_silence(&self, id: &str, audit: NewAuditEntry) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let expired = pg_alerts::expire_silence(&tx, id, audit.at).await?;
        if expired {
            console::append_audit_in(&*tx, &audit).await?;
        }
        tx.commit().await?;
        Ok(expired)
    }

    async fn history_summary(&self, device_id: &str) -> Result<HistorySummary, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_one(
                "SELECT (SELECT COUNT(*) FROM status_history WHERE device_id = $1),
                        (SELECT COUNT(*) FROM status_history WHERE device_id = $1 AND length(report) > 0),
                        (SELECT COUNT(*) FROM disk_samples WHERE device_id = $1)",
                &[&device_id],
            )
            .await?;
        Ok(HistorySummary {
            reports: row.get::<_, i64>(0) as u64,
            bodies: row.get::<_, i64>(1) as u64,
            disk_samples: row.get::<_, i64>(2) as u64,
        })
    }

    async fn retain_history(
        &self,
        cutoffs: super::history::Cutoffs,
        after: &str,
        devices: usize,
    ) -> Result<RetentionBatch, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let batch = ingest::retain(&tx, cutoffs, after, devices).await?;
        tx.commit().await?;
        Ok(batch)
    }

    async fn compact_history(&self) -> Result<(), StoreError> {
        let c = self.client().await?;
        ingest::rebuild_disk_sample_index(&c).await?;
        Ok(())
    }

    async fn hold_singleton(&self, job: Singleton) -> Result<bool, StoreError> {
        self.leases.hold(&self.target, job).await
    }
}

#[async_trait]
impl OutboxDelivery for PostgresStore {
    async fn claim_outbox(
        &self,
        limit: usize,
        lease_secs: u64,
        now: i64,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let c = self.client().await?;
        Ok(pg_alerts::claim_outbox(&c, limit, lease_secs, now).await?)
    }

    async fn mark_skipped(&self, id: i64, now: i64) -> Result<(), StoreError> {
        let c = self.client().await?;
        Ok(pg_alerts::mark_skipped(&c, id, now).await?)
    }

    async fn mark_delivered(&self, id: i64, now: i64) -> Result<(), StoreError> {
        let c = self.client().await?;
        Ok(pg_alerts::mark_delivered(&c, id, now).await?)
    }

    async fn mark_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError> {
        let c = self.client().await?;
        Ok(pg_alerts::mark_failed(&c, id, error, retry_at).await?)
    }

    async fn outbox_in_state(&self, state: OutboxState) -> Result<Vec<OutboxEvent>, StoreError> {
        let c = self.client().await?;
        Ok(pg_alerts::outbox_in_state(&c, state).await?)
    }
}
