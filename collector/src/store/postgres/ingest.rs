//! Storing one report on PostgreSQL, and history retention: the same
//! decisions as SQLite's (see [`crate::store::history`]), the device row
//! locked `FOR UPDATE` so collectors sharing the database store a device's
//! reports one after the other.

use std::borrow::Cow;
use std::collections::BTreeMap;

use deadpool_postgres::GenericClient;

use forewarn_proto::pb;

use super::alerts::{self as pg_alerts, Planned};
use super::{DEVICE_COLUMNS, device_from_row};
use crate::alerts::engine::{self, PlanMark};
use crate::fleet::certificate;
use crate::rules::{DiskSample, RuleBook};
use crate::store::history::{self, Cutoffs, DAY_SECS, HOUR_SECS};
use crate::store::seq::{self, IncomingSeq, SeqVerdict, StoredSeq};
use crate::store::{
    CurrentCertificate, DeviceRecord, IngestOutcome, ReadyReport, RetentionBatch, StoreError,
};

type PgResult<T> = Result<T, tokio_postgres::Error>;

/// The device row, locked, with what the report is judged against.
struct Known {
    device: DeviceRecord,
    boot_id: u64,
    collected_at: Option<i64>,
    fingerprint: Option<i64>,
    content_fingerprint: Option<i64>,
    disks_sampled_at: Option<i64>,
    next_sweep_at: Option<i64>,
    planned_at: Option<i64>,
    certificate: CurrentCertificate,
}

async fn lock_known(tx: &impl GenericClient, id: &str) -> PgResult<Option<Known>> {
    let row = tx
        .query_opt(
            &tx.prepare_cached(&format!(
                "SELECT {DEVICE_COLUMNS}, last_boot_id, last_collected_at, status_fingerprint, disks_sampled_at,
                   next_sweep_at, planned_at, reenrolled_cert_not_before, content_fingerprint
                 FROM devices WHERE id = $1 FOR UPDATE"
            )).await?,
            &[&id],
        )
        .await?;
    Ok(row.map(|row| Known {
        device: device_from_row(&row),
        boot_id: row.get::<_, i64>(11) as u64,
        collected_at: row.get(12),
        fingerprint: row.get(13),
        content_fingerprint: row.get(18),
        disks_sampled_at: row.get(14),
        next_sweep_at: row.get(15),
        planned_at: row.get(16),
        certificate: CurrentCertificate {
            serial: row.get(7),
            reenrolled_not_before: row.get(17),
        },
    }))
}

/// Stores `report` in the caller's transaction; `Err(outcome)` when there is
/// nothing to write (unknown or retired device, a replaced certificate,
/// replay, stale report).
pub async fn ingest(
    tx: &impl GenericClient,
    ready: ReadyReport,
    rules: &RuleBook,
) -> Result<Result<IngestOutcome, IngestOutcome>, StoreError> {
    let ReadyReport {
        report,
        body,
        fingerprints,
    } = ready;
    let Some(known) = lock_known(tx, &report.device_id).await? else {
        return Ok(Err(IngestOutcome::UnknownDevice));
    };
    let device = known.device;
    if device.retired_at.is_some() {
        return Ok(Err(IngestOutcome::Retired));
    }
    if let Some(presented) = &report.certificate
        && certificate::superseded(
            &known.certificate,
            &presented.serial_hex,
            presented.not_before,
        )
    {
        return Ok(Err(IngestOutcome::SupersededCertificate));
    }
    let stored = StoredSeq {
        seq: device.last_seq,
        boot_id: known.boot_id,
        collected_at: known.collected_at,
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
            return Ok(Err(IngestOutcome::Replay {
                acked_seq: device.last_seq,
                group: device.group,
            }));
        }
        SeqVerdict::Stale => {
            return Ok(Err(IngestOutcome::Stale {
                group: device.group,
            }));
        }
    }
    let seq = i64::try_from(report.seq)
        .map_err(|_| StoreError::Task(format!("seq {} out of range", report.seq)))?;
    let boot_id = report.boot_id as i64;
    let fingerprint = fingerprints.map(|f| f.status);
    let content_fingerprint = fingerprints.map(|f| f.content);
    let history::Changes {
        status: changed,
        content: content_changed,
    } = history::Changes::between(fingerprints, known.fingerprint, known.content_fingerprint);
    let status = body.status.as_ref();
    let sample_disks = status.is_some_and(|s| s.disks.is_some())
        && history::disks_due(changed, known.disks_sampled_at, report.collected_at);
    let disks_sampled_at = if sample_disks {
        Some(report.collected_at)
    } else {
        known.disks_sampled_at
    };
    if let Some(status) = status.filter(|_| sample_disks) {
        record_disk_samples(tx, &report.device_id, status, report.collected_at).await?;
    }
    let mark = PlanMark {
        planned_at: known.planned_at,
        last_seen_at: device.last_seen_at,
        next_sweep_at: known.next_sweep_at,
        report_changed: changed || sample_disks,
    };
    let device = DeviceRecord {
        hostname: report.hostname.clone(),
        last_seen_at: Some(report.received_at),
        ..device
    };
    // Left as the last plan left them, the alerts count as planned now.
    let planned = if engine::plan_still_current(mark, report.received_at) {
        Planned {
            notifications: 0,
            next_sweep_at: known.next_sweep_at,
        }
    } else {
        pg_alerts::plan_device(
            tx,
            rules.for_group(&device.group),
            &device,
            status,
            report.received_at,
        )
        .await?
    };
    tx.execute(
        &tx.prepare_cached(
            "UPDATE devices SET hostname = $2, os = $3, agent_version = $4, last_seen_at = $5,
           last_seq = $6, last_boot_id = $7, last_collected_at = $8, status_fingerprint = $9,
           disks_sampled_at = $10, next_sweep_at = $11, planned_at = $5, content_fingerprint = $12
         WHERE id = $1",
        )
        .await?,
        &[
            &report.device_id,
            &report.hostname,
            &report.os,
            &report.agent_version,
            &report.received_at,
            &seq,
            &boot_id,
            &report.collected_at,
            &fingerprint,
            &disks_sampled_at,
            &planned.next_sweep_at,
            &content_fingerprint,
        ],
    )
    .await?;
    let encoded = if changed || content_changed {
        body.encoded()
    } else {
        Cow::Borrowed(&[][..])
    };
    let encoded: &[u8] = &encoded;
    // A history line has a body only when more than disk usage changed.
    let history_body = if content_changed { encoded } else { &[][..] };
    if changed {
        tx.execute(
            &tx.prepare_cached("INSERT INTO device_status (device_id, seq, collected_at, received_at, report) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (device_id) DO UPDATE SET seq = excluded.seq, collected_at = excluded.collected_at,
               received_at = excluded.received_at, report = excluded.report").await?,
            &[&report.device_id, &seq, &report.collected_at, &report.received_at, &encoded],
        )
        .await?;
    }
    tx.execute(
        &tx.prepare_cached("INSERT INTO status_history (device_id, boot_id, seq, collected_at, received_at, report) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (device_id, boot_id, seq) DO UPDATE SET collected_at = excluded.collected_at,
           received_at = excluded.received_at, report = excluded.report").await?,
        &[&report.device_id, &boot_id, &seq, &report.collected_at, &report.received_at, &history_body],
    )
    .await?;
    let notifications = planned.notifications;
    Ok(Ok(match verdict {
        SeqVerdict::Renumbered => IngestOutcome::Renumbered {
            group: device.group,
            previous_seq: stored.seq,
            notifications,
        },
        _ => IngestOutcome::Stored {
            group: device.group,
            notifications,
        },
    }))
}

/// Appends the report's filesystems to the disk history (retention thins it)
/// and folds each into its day row (the day's fullest sample, the earliest of
/// equals, with the day's largest size, and its newest sample; see
/// [`history::from_day_rows`]), in one statement; an unknown newest sample
/// (NULL) stays unknown.
async fn record_disk_samples(
    tx: &impl GenericClient,
    device_id: &str,
    report: &pb::StatusReport,
    at: i64,
) -> PgResult<()> {
    let Some(disks) = &report.disks else {
        return Ok(());
    };
    let filesystems = history::disk_sample_columns(disks);
    let mounts: Vec<&str> = filesystems.keys().copied().collect();
    let (totals, available): (Vec<i64>, Vec<i64>) = filesystems.values().copied().unzip();
    tx.execute(
        &tx.prepare_cached(
            "WITH sample AS (
                 INSERT INTO disk_samples (device_id, mount_point, at, total_bytes, available_bytes)
                 SELECT $1, m, $2, t, a FROM unnest($4::text[], $5::bigint[], $6::bigint[]) AS f (m, t, a)
                 ON CONFLICT (device_id, mount_point, at) DO UPDATE SET
                   total_bytes = excluded.total_bytes, available_bytes = excluded.available_bytes)
             INSERT INTO disk_days (device_id, mount_point, day, at, total_bytes, available_bytes,
               newest_at, newest_total_bytes, newest_available_bytes)
             SELECT $1, m, $3, $2, t, a, $2, t, a
             FROM unnest($4::text[], $5::bigint[], $6::bigint[]) AS f (m, t, a)
             ON CONFLICT (device_id, mount_point, day) DO UPDATE SET
               at = CASE WHEN excluded.available_bytes < disk_days.available_bytes
                           OR (excluded.available_bytes = disk_days.available_bytes
                               AND excluded.at < disk_days.at)
                         THEN excluded.at ELSE disk_days.at END,
               available_bytes = LEAST(disk_days.available_bytes, excluded.available_bytes),
               total_bytes = GREATEST(disk_days.total_bytes, excluded.total_bytes),
               newest_at = CASE WHEN excluded.at >= disk_days.newest_at
                                THEN excluded.at ELSE disk_days.newest_at END,
               newest_total_bytes = CASE WHEN excluded.at >= disk_days.newest_at
                                         THEN excluded.total_bytes ELSE disk_days.newest_total_bytes END,
               newest_available_bytes = CASE WHEN excluded.at >= disk_days.newest_at
                                             THEN excluded.available_bytes
                                             ELSE disk_days.newest_available_bytes END",
        )
        .await?,
        &[
            &device_id,
            &at,
            &history::day_of(at),
            &mounts,
            &totals,
            &available,
        ],
    )
    .await?;
    Ok(())
}

/// Applies retention to up to `devices` devices whose id sorts after
/// `after`, in the caller's transaction; each device row is locked so an
/// ingest of the same device waits rather than interleaves.
pub async fn retain(
    tx: &impl GenericClient,
    cutoffs: Cutoffs,
    after: &str,
    devices: usize,
) -> Result<RetentionBatch, StoreError> {
    let rows = tx
        .query(
            &tx.prepare_cached(
                "SELECT id, disk_hourly_until, disk_daily_until FROM devices WHERE id > $1
             ORDER BY id LIMIT $2 FOR UPDATE",
            )
            .await?,
            &[&after, &(devices as i64)],
        )
        .await?;
    let mut batch = RetentionBatch {
        last_device: rows.last().map(|row| row.get(0)),
        ..RetentionBatch::default()
    };
    for row in rows {
        let (id, hourly_until, daily_until): (String, i64, i64) =
            (row.get(0), row.get(1), row.get(2));
        batch.reports_deleted += prune_reports(tx, &id, cutoffs.raw_before).await?;
        batch.samples_deleted += thin(tx, &id, hourly_until, cutoffs.raw_before, HOUR_SECS).await?;
        batch.samples_deleted +=
            thin(tx, &id, daily_until, cutoffs.hourly_before, DAY_SECS).await?;
        batch.samples_deleted += tx
            .execute(
                &tx.prepare_cached("DELETE FROM disk_samples WHERE device_id = $1 AND at < $2")
                    .await?,
                &[&id, &cutoffs.daily_before],
            )
            .await?;
        // A day before the hourly cut-off lies before every forecast window.
        tx.execute(
            &tx.prepare_cached("DELETE FROM disk_days WHERE device_id = $1 AND day < $2")
                .await?,
            &[&id, &cutoffs.hourly_before],
        )
        .await?;
        tx.execute(
            &tx.prepare_cached(
                "UPDATE devices SET disk_hourly_until = GREATEST(disk_hourly_until, $2),
               disk_daily_until = GREATEST(disk_daily_until, $3) WHERE id = $1",
            )
            .await?,
            &[&id, &cutoffs.raw_before, &cutoffs.hourly_before],
        )
        .await?;
    }
    Ok(batch)
}

/// Deletes the device's reports received before `before`; the newest
/// deleted body moves to the oldest kept line if that one has none.
async fn prune_reports(tx: &impl GenericClient, device_id: &str, before: i64) -> PgResult<u64> {
    tx.execute(
        &tx.prepare_cached(
            "UPDATE status_history SET report = (
             SELECT report FROM status_history WHERE device_id = $1 AND received_at < $2
               AND length(report) > 0 ORDER BY received_at DESC, seq DESC LIMIT 1)
         WHERE (device_id, boot_id, seq) = (
             SELECT device_id, boot_id, seq FROM status_history
             WHERE device_id = $1 AND received_at >= $2 ORDER BY received_at, seq LIMIT 1)
           AND length(report) = 0
           AND EXISTS (SELECT 1 FROM status_history WHERE device_id = $1 AND received_at < $2
               AND length(report) > 0)",
        )
        .await?,
        &[&device_id, &before],
    )
    .await?;
    tx.execute(
        &tx.prepare_cached("DELETE FROM status_history WHERE device_id = $1 AND received_at < $2")
            .await?,
        &[&device_id, &before],
    )
    .await
}

/// Thins the device's disk samples in `[from, until)` to one per `slot_secs`.
async fn thin(
    tx: &impl GenericClient,
    device_id: &str,
    from: i64,
    until: i64,
    slot_secs: i64,
) -> PgResult<u64> {
    if from >= until {
        return Ok(0);
    }
    let rows = tx
        .query(
            &tx.prepare_cached(
                "SELECT mount_point, at, total_bytes, available_bytes FROM disk_samples
             WHERE device_id = $1 AND at >= $2 AND at < $3",
            )
            .await?,
            &[&device_id, &from, &until],
        )
        .await?;
    let read = rows.len() as u64;
    let mut samples: BTreeMap<String, Vec<DiskSample>> = BTreeMap::new();
    for row in rows {
        samples
            .entry(row.get::<_, String>(0))
            .or_default()
            .push(DiskSample {
                at: row.get(1),
                total_bytes: row.get::<_, i64>(2).max(0) as u64,
                available_bytes: row.get::<_, i64>(3).max(0) as u64,
            });
    }
    let kept = history::thin_all(samples, slot_secs);
    let kept_count: u64 = kept.values().map(|s| s.len() as u64).sum();
    if kept_count == read {
        return Ok(0);
    }
    tx.execute(
        &tx.prepare_cached(
            "DELETE FROM disk_samples WHERE device_id = $1 AND at >= $2 AND at < $3",
        )
        .await?,
        &[&device_id, &from, &until],
    )
    .await?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO disk_samples (device_id, mount_point, at, total_bytes, available_bytes)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .await?;
    for (mount, samples) in &kept {
        for s in samples {
            tx.execute(
                &insert,
                &[
                    &device_id,
                    mount,
                    &s.at,
                    &i64::try_from(s.total_bytes).unwrap_or(i64::MAX),
                    &i64::try_from(s.available_bytes).unwrap_or(i64::MAX),
                ],
            )
            .await?;
        }
    }
    // A day whose newest sample was in the range takes its newest kept one.
    tx.execute(
        &tx.prepare_cached(
            "UPDATE disk_days SET (newest_at, newest_total_bytes, newest_available_bytes) = (
                 SELECT at, total_bytes, available_bytes FROM disk_samples AS s
                 WHERE s.device_id = disk_days.device_id AND s.mount_point = disk_days.mount_point
                   AND s.at >= disk_days.day AND s.at < disk_days.day + 86400
                 ORDER BY s.at DESC LIMIT 1)
             WHERE device_id = $1 AND newest_at >= $2 AND newest_at < $3",
        )
        .await?,
        &[&device_id, &from, &until],
    )
    .await?;
    Ok(read - kept_count)
}

/// Rebuilds the disk samples' index without blocking writes. Thinning
/// deletes most but not all keys of each range, and PostgreSQL reuses only
/// index pages left empty, so the index grew to several times its size (a
/// pattern PostgreSQL's manual, "Routine Reindexing", names). An index left
/// invalid by a rebuild that was interrupted is dropped first.
pub async fn rebuild_disk_sample_index(c: &impl GenericClient) -> PgResult<()> {
    let leftovers = c
        .query(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(ix.relname)
             FROM pg_index i JOIN pg_class ix ON ix.oid = i.indexrelid
               JOIN pg_namespace n ON n.oid = ix.relnamespace
             WHERE i.indrelid = 'disk_samples'::regclass AND NOT i.indisvalid",
            &[],
        )
        .await?;
    for leftover in leftovers {
        let name: String = leftover.get(0);
        c.batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"))
            .await?;
    }
    c.batch_execute("REINDEX TABLE CONCURRENTLY disk_samples")
        .await
}
