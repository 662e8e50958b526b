//! Storing one report on SQLite, inside the writer's shared transaction
//! (see [`super::writer`]): the seq is judged, the device row updated, the
//! body and disk samples written only when [`history`] says so, and the
//! alert engine's plan persisted (or kept, when the report changes nothing
//! and the last plan still holds: [`engine::plan_still_current`]).

use std::borrow::Cow;

use rusqlite::{Connection, OptionalExtension, params};

use forewarn_proto::pb;

use super::alerts::{self as sqlite_alerts, Planned};
use super::{DEVICE_COLUMNS, device_from_row};
use crate::alerts::engine::{self, PlanMark};
use crate::fleet::certificate;
use crate::rules::RuleBook;
use crate::store::history;
use crate::store::seq::{self, IncomingSeq, SeqVerdict, StoredSeq};
use crate::store::{CurrentCertificate, DeviceRecord, IngestOutcome, ReadyReport, StoreError};

/// What the device row says before this report.
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

fn known(c: &Connection, id: &str) -> rusqlite::Result<Option<Known>> {
    let mut statement = c.prepare_cached(&format!(
        "SELECT {DEVICE_COLUMNS}, last_boot_id, last_collected_at, status_fingerprint, disks_sampled_at,
           next_sweep_at, planned_at, reenrolled_cert_not_before, content_fingerprint
         FROM devices WHERE id = ?1"
    ))?;
    statement
        .query_row([id], |row| {
            Ok(Known {
                device: device_from_row(row)?,
                boot_id: row.get::<_, i64>(11)? as u64,
                collected_at: row.get(12)?,
                fingerprint: row.get(13)?,
                content_fingerprint: row.get(18)?,
                disks_sampled_at: row.get(14)?,
                next_sweep_at: row.get(15)?,
                planned_at: row.get(16)?,
                certificate: CurrentCertificate {
                    serial: row.get(7)?,
                    reenrolled_not_before: row.get(17)?,
                },
            })
        })
        .optional()
}

pub fn ingest(
    c: &Connection,
    ready: ReadyReport,
    rules: &RuleBook,
) -> Result<IngestOutcome, StoreError> {
    let ReadyReport {
        report,
        body,
        fingerprints,
    } = ready;
    let Some(known) = known(c, &report.device_id)? else {
        return Ok(IngestOutcome::UnknownDevice);
    };
    let device = known.device;
    if device.retired_at.is_some() {
        return Ok(IngestOutcome::Retired);
    }
    if let Some(presented) = &report.certificate
        && certificate::superseded(
            &known.certificate,
            &presented.serial_hex,
            presented.not_before,
        )
    {
        return Ok(IngestOutcome::SupersededCertificate);
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
            return Ok(IngestOutcome::Replay {
                group: device.group,
                acked_seq: device.last_seq,
            });
        }
        SeqVerdict::Stale => {
            return Ok(IngestOutcome::Stale {
                group: device.group,
            });
        }
    }
    let seq = i64::try_from(report.seq)
        .map_err(|_| StoreError::Task(format!("seq {} out of range", report.seq)))?;
    let fingerprint = fingerprints.map(|f| f.status);
    let content_fingerprint = fingerprints.map(|f| f.content);
    let history::Changes {
        status: changed,
        content: content_changed,
    } = history::Changes::between(fingerprints, known.fingerprint, known.content_fingerprint);
    let status = body.status.as_ref();
    let sample_disks = status.is_some_and(|s| s.disks.is_some())
        && history::disks_due(changed, known.disks_sampled_at, report.collected_at);
    if let Some(status) = status.filter(|_| sample_disks) {
        record_disk_samples(c, &report.device_id, status, report.collected_at)?;
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
        sqlite_alerts::plan_device(
            c,
            rules.for_group(&device.group),
            &device,
            status,
            report.received_at,
        )?
    };
    c.prepare_cached(
        "UPDATE devices SET hostname = ?2, os = ?3, agent_version = ?4, last_seen_at = ?5,
           last_seq = ?6, last_boot_id = ?7, last_collected_at = ?8, status_fingerprint = ?9,
           disks_sampled_at = ?10, next_sweep_at = ?11, planned_at = ?5, content_fingerprint = ?12
         WHERE id = ?1",
    )?
    .execute(params![
        report.device_id,
        report.hostname,
        report.os,
        report.agent_version,
        report.received_at,
        seq,
        report.boot_id as i64,
        report.collected_at,
        fingerprint,
        if sample_disks {
            Some(report.collected_at)
        } else {
            known.disks_sampled_at
        },
        planned.next_sweep_at,
        content_fingerprint,
    ])?;
    let encoded = if changed || content_changed {
        body.encoded()
    } else {
        Cow::Borrowed(&[][..])
    };
    let encoded: &[u8] = &encoded;
    // A history line has a body only when more than disk usage changed.
    let history_body = if content_changed { encoded } else { &[][..] };
    if changed {
        c.prepare_cached(
            "INSERT INTO device_status (device_id, seq, collected_at, received_at, report) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (device_id) DO UPDATE SET seq = excluded.seq, collected_at = excluded.collected_at,
               received_at = excluded.received_at, report = excluded.report",
        )?
        .execute(params![report.device_id, seq, report.collected_at, report.received_at, encoded])?;
    }
    c.prepare_cached(
        "INSERT INTO status_history (device_id, boot_id, seq, collected_at, received_at, report) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (device_id, boot_id, seq) DO UPDATE SET collected_at = excluded.collected_at,
           received_at = excluded.received_at, report = excluded.report",
    )?
    .execute(params![report.device_id, report.boot_id as i64, seq, report.collected_at, report.received_at, history_body])?;
    let notifications = planned.notifications;
    Ok(match verdict {
        SeqVerdict::Renumbered => IngestOutcome::Renumbered {
            group: device.group,
            previous_seq: stored.seq,
            notifications,
        },
        _ => IngestOutcome::Stored {
            group: device.group,
            notifications,
        },
    })
}

/// Appends the report's filesystems to the disk history (retention thins it)
/// and folds each into its day row (the day's fullest sample, the earliest of
/// equals, with the day's largest size, and its newest sample; see
/// [`history::from_day_rows`]).
fn record_disk_samples(
    c: &Connection,
    device_id: &str,
    report: &pb::StatusReport,
    at: i64,
) -> rusqlite::Result<()> {
    let Some(disks) = &report.disks else {
        return Ok(());
    };
    let mut insert = c.prepare_cached(
        "INSERT INTO disk_samples (device_id, mount_point, at, total_bytes, available_bytes)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (device_id, mount_point, at) DO UPDATE SET
           total_bytes = excluded.total_bytes, available_bytes = excluded.available_bytes",
    )?;
    // An unknown newest sample (NULL) stays unknown: the samples are read.
    let mut fold_day = c.prepare_cached(
        "INSERT INTO disk_days (device_id, mount_point, day, at, total_bytes, available_bytes,
           newest_at, newest_total_bytes, newest_available_bytes)
         VALUES (?1, ?2, ?6, ?3, ?4, ?5, ?3, ?4, ?5)
         ON CONFLICT (device_id, mount_point, day) DO UPDATE SET
           at = CASE WHEN excluded.available_bytes < available_bytes
                       OR (excluded.available_bytes = available_bytes AND excluded.at < at)
                     THEN excluded.at ELSE at END,
           available_bytes = MIN(available_bytes, excluded.available_bytes),
           total_bytes = MAX(total_bytes, excluded.total_bytes),
           newest_at = CASE WHEN excluded.at >= newest_at THEN excluded.at ELSE newest_at END,
           newest_total_bytes = CASE WHEN excluded.at >= newest_at
                                     THEN excluded.total_bytes ELSE newest_total_bytes END,
           newest_available_bytes = CASE WHEN excluded.at >= newest_at
                                         THEN excluded.available_bytes ELSE newest_available_bytes END",
    )?;
    for (mount_point, (total, available)) in history::disk_sample_columns(disks) {
        let sample = params![
            device_id,
            mount_point,
            at,
            total,
            available,
            history::day_of(at)
        ];
        insert.execute(&sample[..5])?;
        fold_day.execute(sample)?;
    }
    Ok(())
}
