//! History retention on SQLite: one batch of devices per transaction (see
//! [`crate::store::history`] for what is kept).

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use crate::rules::DiskSample;
use crate::store::history::{self, Cutoffs, DAY_SECS, HOUR_SECS};
use crate::store::{HistorySummary, RetentionBatch, StoreError};

/// Applies retention to up to `devices` devices whose id sorts after `after`.
pub fn retain(
    c: &mut Connection,
    cutoffs: Cutoffs,
    after: &str,
    devices: usize,
) -> Result<RetentionBatch, StoreError> {
    let tx = c.transaction()?;
    let ids: Vec<(String, i64, i64)> = tx
        .prepare_cached(
            "SELECT id, disk_hourly_until, disk_daily_until FROM devices WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?
        .query_map(params![after, devices as i64], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut batch = RetentionBatch {
        last_device: ids.last().map(|(id, _, _)| id.clone()),
        ..RetentionBatch::default()
    };
    for (id, hourly_until, daily_until) in ids {
        batch.reports_deleted += prune_reports(&tx, &id, cutoffs.raw_before)?;
        let hourly = hourly_until.max(cutoffs.raw_before);
        batch.samples_deleted += thin(&tx, &id, hourly_until, cutoffs.raw_before, HOUR_SECS)?;
        batch.samples_deleted += thin(&tx, &id, daily_until, cutoffs.hourly_before, DAY_SECS)?;
        batch.samples_deleted += tx
            .prepare_cached("DELETE FROM disk_samples WHERE device_id = ?1 AND at < ?2")?
            .execute(params![id, cutoffs.daily_before])? as u64;
        // A day before the hourly cut-off lies before every forecast window.
        tx.prepare_cached("DELETE FROM disk_days WHERE device_id = ?1 AND day < ?2")?
            .execute(params![id, cutoffs.hourly_before])?;
        tx.prepare_cached(
            "UPDATE devices SET disk_hourly_until = ?2, disk_daily_until = MAX(disk_daily_until, ?3) WHERE id = ?1",
        )?
        .execute(params![id, hourly, cutoffs.hourly_before])?;
    }
    tx.commit()?;
    Ok(batch)
}

/// Deletes the device's reports received before `before`; the newest
/// deleted body moves to the oldest kept line if that one has none.
fn prune_reports(c: &Connection, device_id: &str, before: i64) -> rusqlite::Result<u64> {
    let oldest_kept: Option<(i64, i64, bool)> = c
        .prepare_cached(
            "SELECT boot_id, seq, length(report) = 0 FROM status_history
             WHERE device_id = ?1 AND received_at >= ?2 ORDER BY received_at, seq LIMIT 1",
        )?
        .query_row(params![device_id, before], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()?;
    if let Some((boot_id, seq, true)) = oldest_kept {
        c.prepare_cached(
            "UPDATE status_history SET report = (
                 SELECT report FROM status_history WHERE device_id = ?1 AND received_at < ?4
                   AND length(report) > 0 ORDER BY received_at DESC, seq DESC LIMIT 1)
             WHERE device_id = ?1 AND boot_id = ?2 AND seq = ?3
               AND EXISTS (SELECT 1 FROM status_history WHERE device_id = ?1 AND received_at < ?4
                   AND length(report) > 0)",
        )?
        .execute(params![device_id, boot_id, seq, before])?;
    }
    Ok(
        c.prepare_cached("DELETE FROM status_history WHERE device_id = ?1 AND received_at < ?2")?
            .execute(params![device_id, before])? as u64,
    )
}

/// Thins the device's disk samples in `[from, until)` to one per `slot_secs`.
fn thin(
    c: &Connection,
    device_id: &str,
    from: i64,
    until: i64,
    slot_secs: i64,
) -> rusqlite::Result<u64> {
    if from >= until {
        return Ok(0);
    }
    let mut samples: BTreeMap<String, Vec<DiskSample>> = BTreeMap::new();
    let mut read = c.prepare_cached(
        "SELECT mount_point, at, total_bytes, available_bytes FROM disk_samples
         WHERE device_id = ?1 AND at >= ?2 AND at < ?3",
    )?;
    let rows = read.query_map(params![device_id, from, until], |row| {
        Ok((
            row.get::<_, String>(0)?,
            DiskSample {
                at: row.get(1)?,
                total_bytes: row.get::<_, i64>(2)?.max(0) as u64,
                available_bytes: row.get::<_, i64>(3)?.max(0) as u64,
            },
        ))
    })?;
    let mut read_count = 0u64;
    for row in rows {
        let (mount, sample) = row?;
        samples.entry(mount).or_default().push(sample);
        read_count += 1;
    }
    let kept = history::thin_all(samples, slot_secs);
    let kept_count: u64 = kept.values().map(|s| s.len() as u64).sum();
    if kept_count == read_count {
        return Ok(0);
    }
    c.prepare_cached("DELETE FROM disk_samples WHERE device_id = ?1 AND at >= ?2 AND at < ?3")?
        .execute(params![device_id, from, until])?;
    let mut insert = c.prepare_cached(
        "INSERT INTO disk_samples (device_id, mount_point, at, total_bytes, available_bytes)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (mount, samples) in &kept {
        for s in samples {
            insert.execute(params![
                device_id,
                mount,
                s.at,
                i64::try_from(s.total_bytes).unwrap_or(i64::MAX),
                i64::try_from(s.available_bytes).unwrap_or(i64::MAX),
            ])?;
        }
    }
    // A day whose newest sample was in the range takes its newest kept one.
    c.prepare_cached(
        "UPDATE disk_days SET (newest_at, newest_total_bytes, newest_available_bytes) = (
             SELECT at, total_bytes, available_bytes FROM disk_samples AS s
             WHERE s.device_id = disk_days.device_id AND s.mount_point = disk_days.mount_point
               AND s.at >= disk_days.day AND s.at < disk_days.day + 86400
             ORDER BY s.at DESC LIMIT 1)
         WHERE device_id = ?1 AND newest_at >= ?2 AND newest_at < ?3",
    )?
    .execute(params![device_id, from, until])?;
    Ok(read_count - kept_count)
}

pub fn summary(c: &Connection, device_id: &str) -> rusqlite::Result<HistorySummary> {
    c.query_row(
        "SELECT (SELECT COUNT(*) FROM status_history WHERE device_id = ?1),
                (SELECT COUNT(*) FROM status_history WHERE device_id = ?1 AND length(report) > 0),
                (SELECT COUNT(*) FROM disk_samples WHERE device_id = ?1)",
        [device_id],
        |row| {
            Ok(HistorySummary {
                reports: row.get::<_, i64>(0)? as u64,
                bodies: row.get::<_, i64>(1)? as u64,
                disk_samples: row.get::<_, i64>(2)? as u64,
            })
        },
    )
}
