//! SQL for alerts on SQLite: disk history, loading a device's context for the
//! alert engine and persisting its plan inside the caller's transaction,
//! silences, acknowledgements and the outbox.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, Row, params};

use forewarn_proto::pb;

use crate::alerts::engine::{self, AlertChange, AlertDevice, DeviceContext, Plan, StoredAlert};
use crate::alerts::silence::{Silence, Weekly};
use crate::alerts::{AlertFilter, AlertRecord, AlertStatus, AlertTransitionRecord};
use crate::rules::forecast::ForecastState;
use crate::rules::{AlertKey, AlertState, DiskSample, Event, RuleId, RulesConfig, Severity};
use crate::store::history;
use crate::store::outbox::{OutboxEvent, OutboxState};
use crate::store::{DeviceRecord, DiskForecastRecord, StoreError};

/// Disk samples of the device at or after `since`, by mount point, oldest
/// first: what the forecast judges, and what the device page charts.
pub(super) fn disk_history(
    tx: &Connection,
    device_id: &str,
    since: i64,
) -> rusqlite::Result<BTreeMap<String, Vec<DiskSample>>> {
    let mut statement = tx.prepare_cached(
        "SELECT mount_point, at, total_bytes, available_bytes FROM disk_samples
         WHERE device_id = ?1 AND at >= ?2 ORDER BY at",
    )?;
    let mut history: BTreeMap<String, Vec<DiskSample>> = BTreeMap::new();
    let rows = statement.query_map(params![device_id, since], |row| {
        Ok((row.get::<_, String>(0)?, disk_sample(row, 1)?))
    })?;
    for row in rows {
        let (mount, sample) = row?;
        history.entry(mount).or_default().push(sample);
    }
    Ok(history)
}

/// A disk sample from the row's columns `at, total_bytes, available_bytes`
/// starting at `first`.
fn disk_sample(row: &Row, first: usize) -> rusqlite::Result<DiskSample> {
    Ok(DiskSample {
        at: row.get(first)?,
        total_bytes: row.get::<_, i64>(first + 1)?.max(0) as u64,
        available_bytes: row.get::<_, i64>(first + 2)?.max(0) as u64,
    })
}

/// The disk history the forecast judges at `now` (see
/// [`history::forecast_reads`]): the day rows of the window, then only where
/// they cannot stand in ([`history::from_day_rows`]) the part-day's samples
/// or the newest sample, each a search by device and mount point; every
/// sample in the window when the forecast does not bucket by day.
fn forecast_history(
    tx: &Connection,
    device_id: &str,
    rules: &RulesConfig,
    now: i64,
) -> rusqlite::Result<BTreeMap<String, Vec<DiskSample>>> {
    let Some(reads) = history::forecast_reads(rules, now) else {
        return disk_history(tx, device_id, engine::disk_history_since(rules, now));
    };
    let rows: Vec<(String, history::DayRow)> = tx
        .prepare_cached(
            "SELECT mount_point, day, at, total_bytes, available_bytes,
                    newest_at, newest_total_bytes, newest_available_bytes
             FROM disk_days WHERE device_id = ?1 AND day >= ?2",
        )?
        .query_map(params![device_id, reads.first_day], |row| {
            let newest = row
                .get::<_, Option<i64>>(5)?
                .map(|_| disk_sample(row, 5))
                .transpose()?;
            Ok((
                row.get(0)?,
                history::DayRow {
                    day: row.get(1)?,
                    fullest: disk_sample(row, 2)?,
                    newest,
                },
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut history = BTreeMap::new();
    for (mount, from_days) in history::from_day_rows(&reads, rows) {
        let mut samples = from_days.samples;
        if from_days.read_part_day {
            let mut part_day = tx.prepare_cached(
                "SELECT at, total_bytes, available_bytes FROM disk_samples
                 WHERE device_id = ?1 AND mount_point = ?2 AND at >= ?3 AND at < ?4",
            )?;
            for read in part_day.query_map(
                params![device_id, mount, reads.since, reads.whole_days_from],
                |row| disk_sample(row, 0),
            )? {
                samples.push(read?);
            }
        }
        if from_days.read_newest {
            let mut newest = tx.prepare_cached(
                "SELECT at, total_bytes, available_bytes FROM disk_samples
                 WHERE device_id = ?1 AND mount_point = ?2 AND at >= ?3 AND at <= ?4
                 ORDER BY at DESC LIMIT 1",
            )?;
            samples.extend(
                newest
                    .query_row(
                        params![device_id, mount, reads.since, reads.newest_until],
                        |row| disk_sample(row, 0),
                    )
                    .optional()?,
            );
        }
        history.insert(mount, history::forecast_order(samples));
    }
    Ok(history)
}

fn severity_column(severity: Option<Severity>) -> Option<&'static str> {
    severity.map(Severity::as_str)
}

fn parse_severity(text: Option<String>) -> Option<Severity> {
    text.as_deref().and_then(Severity::parse)
}

/// The device's alerts as the engine needs them.
pub fn stored_alerts(
    tx: &Connection,
    device_id: &str,
) -> rusqlite::Result<BTreeMap<AlertKey, StoredAlert>> {
    let mut statement = tx.prepare_cached(
        "SELECT rule, subject, state, severity, notified_severity, pending_severity,
                pending_since, clearing_since, flapping, recent_changes, first_seen,
                summary, subject_name, cause
         FROM alerts WHERE device_id = ?1",
    )?;
    let rows = statement.query_map([device_id], |row| {
        let rule: String = row.get(0)?;
        let pending_severity = parse_severity(row.get(5)?);
        let pending_since: Option<i64> = row.get(6)?;
        let recent: String = row.get(9)?;
        Ok((
            RuleId::parse(&rule),
            row.get::<_, String>(1)?,
            StoredAlert {
                status: AlertStatus::parse(&row.get::<_, String>(2)?)
                    .unwrap_or(AlertStatus::Firing),
                first_seen: row.get(10)?,
                summary: row.get(11)?,
                subject_name: row.get(12)?,
                cause: row.get(13)?,
                state: AlertState {
                    severity: parse_severity(row.get(3)?),
                    notified: parse_severity(row.get(4)?),
                    pending: pending_severity.zip(pending_since),
                    clearing_since: row.get(7)?,
                    flapping: row.get::<_, i64>(8)? != 0,
                    recent_changes: recent.split(',').filter_map(|t| t.parse().ok()).collect(),
                },
            },
        ))
    })?;
    let mut alerts = BTreeMap::new();
    for row in rows {
        // A rule this version does not know (renamed or removed) is left as it is.
        if let (Some(rule), subject, stored) = row? {
            alerts.insert(AlertKey { rule, subject }, stored);
        }
    }
    Ok(alerts)
}

/// Loads what the engine needs to plan `device`'s alerts at `now`.
fn device_context(
    tx: &Connection,
    rules: &RulesConfig,
    device: &DeviceRecord,
    now: i64,
) -> rusqlite::Result<DeviceContext> {
    Ok(DeviceContext {
        device: AlertDevice {
            id: device.id.clone(),
            group: device.group.clone(),
            hostname: device.hostname.clone(),
            last_seen_at: device.last_seen_at,
        },
        alerts: stored_alerts(tx, &device.id)?,
        silences: active_silences(tx, now)?,
        disk_history: forecast_history(tx, &device.id, rules, now)?,
    })
}

/// What planning a device left: the notifications it queued and when the
/// sweeper is next due to plan it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    pub notifications: usize,
    pub next_sweep_at: Option<i64>,
}

/// Plans one device's alerts with the engine and persists the plan, in the
/// caller's transaction; the caller records [`Planned::next_sweep_at`] and
/// the plan's time on the device row (at ingest, with the report's update).
pub fn plan_device(
    tx: &Connection,
    rules: &RulesConfig,
    device: &DeviceRecord,
    report: Option<&pb::StatusReport>,
    now: i64,
) -> Result<Planned, StoreError> {
    let context = device_context(tx, rules, device, now)?;
    let plan = engine::plan_device(rules, &context, report, now);
    persist_plan(tx, &device.id, &plan)?;
    Ok(Planned {
        notifications: plan.notifications(),
        next_sweep_at: plan.next_sweep_at,
    })
}

/// Plans a device in a sweep: [`plan_device`], and the plan's times on the
/// device row. Returns the number of notifications queued.
pub fn sweep_device(
    tx: &Connection,
    rules: &RulesConfig,
    device: &DeviceRecord,
    report: Option<&pb::StatusReport>,
    now: i64,
) -> Result<usize, StoreError> {
    let planned = plan_device(tx, rules, device, report, now)?;
    tx.prepare_cached("UPDATE devices SET next_sweep_at = ?2, planned_at = ?3 WHERE id = ?1")?
        .execute(params![device.id, planned.next_sweep_at, now])?;
    Ok(planned.notifications)
}

/// Writes a plan as it is: each alert whole, its history line, its outbox row.
pub fn persist_plan(tx: &Connection, device_id: &str, plan: &Plan) -> Result<(), StoreError> {
    for change in &plan.changes {
        persist_change(tx, device_id, change)?;
    }
    if let Some(forecasts) = &plan.forecasts {
        persist_forecasts(tx, device_id, forecasts, plan.at)?;
    }
    Ok(())
}

/// Replaces the device's stored forecasts with the plan's.
fn persist_forecasts(
    tx: &Connection,
    device_id: &str,
    forecasts: &[(String, ForecastState)],
    at: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM disk_forecasts WHERE device_id = ?1")?
        .execute([device_id])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO disk_forecasts (device_id, mount_point, state, secs, description, computed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (mount, state) in forecasts {
        let (name, secs) = match state {
            ForecastState::FullIn(f) => ("full", Some(f.secs_until_full)),
            ForecastState::NeedsHistory { secs } => ("needs_history", Some(*secs as f64)),
            ForecastState::NoTrend => ("no_trend", None),
        };
        insert.execute(params![device_id, mount, name, secs, state.describe(), at])?;
    }
    Ok(())
}

/// The device's stored forecasts, by mount point.
pub fn disk_forecasts(
    c: &Connection,
    device_id: &str,
) -> rusqlite::Result<Vec<DiskForecastRecord>> {
    let mut statement = c.prepare(
        "SELECT mount_point, description, computed_at FROM disk_forecasts
         WHERE device_id = ?1 ORDER BY mount_point",
    )?;
    statement
        .query_map([device_id], |row| {
            Ok(DiskForecastRecord {
                mount_point: row.get(0)?,
                description: row.get(1)?,
                computed_at: row.get(2)?,
            })
        })?
        .collect()
}

fn persist_change(
    tx: &Connection,
    device_id: &str,
    change: &AlertChange,
) -> Result<(), StoreError> {
    let state = &change.state;
    let recent: Vec<String> = state.recent_changes.iter().map(i64::to_string).collect();
    let alert_id: i64 = tx.prepare_cached(
        "INSERT INTO alerts (device_id, rule, subject, state, severity, notified_severity,
             pending_severity, pending_since, clearing_since, flapping, recent_changes,
             first_seen, last_seen, value, threshold, summary, subject_name, cause)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
         ON CONFLICT (device_id, rule, subject) DO UPDATE SET
             state = excluded.state, severity = excluded.severity,
             notified_severity = excluded.notified_severity,
             pending_severity = excluded.pending_severity, pending_since = excluded.pending_since,
             clearing_since = excluded.clearing_since, flapping = excluded.flapping,
             recent_changes = excluded.recent_changes, first_seen = excluded.first_seen,
             last_seen = excluded.last_seen, value = excluded.value,
             threshold = excluded.threshold, summary = excluded.summary,
             subject_name = excluded.subject_name, cause = excluded.cause,
             acknowledged_by = CASE WHEN excluded.state = 'acknowledged' THEN alerts.acknowledged_by END,
             acknowledged_at = CASE WHEN excluded.state = 'acknowledged' THEN alerts.acknowledged_at END
         RETURNING id",
    )?.query_row(
        params![
            device_id,
            change.key.rule.as_str(),
            change.key.subject,
            change.status.as_str(),
            severity_column(state.severity),
            severity_column(state.notified),
            severity_column(state.pending.map(|(s, _)| s)),
            state.pending.map(|(_, since)| since),
            state.clearing_since,
            i64::from(state.flapping),
            recent.join(","),
            change.first_seen,
            change.last_seen,
            change.value,
            change.threshold,
            change.summary,
            change.subject_name,
            change.cause,
        ],
        |row| row.get(0),
    )?;
    if let Some(history) = &change.history {
        tx.prepare_cached(
            "INSERT INTO alert_transitions (alert_id, at, from_severity, to_severity, event, value, summary)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?.execute(
            params![
                alert_id,
                change.last_seen,
                severity_column(history.from_severity),
                severity_column(history.to_severity),
                history.event.map(Event::as_str),
                history.value,
                history.summary,
            ],
        )?;
    }
    if let Some(notification) = &change.notification {
        let payload = serde_json::to_string(notification)
            .map_err(|err| StoreError::Task(format!("cannot encode a notification: {err}")))?;
        tx.prepare_cached(
            "INSERT INTO alert_outbox (alert_id, event, payload, created_at, next_attempt_at)
             VALUES (?1, ?2, ?3, ?4, ?4)",
        )?
        .execute(params![
            alert_id,
            notification.event.as_str(),
            payload,
            change.last_seen
        ])?;
    }
    Ok(())
}

const SILENCE_COLUMNS: &str = "id, device_id, group_name, rule, subject, starts_at, ends_at, weekday, start_minute, duration_secs, comment, created_by, created_at, expired_at";

fn silence_from_row(row: &Row<'_>) -> rusqlite::Result<Silence> {
    let weekday: Option<i64> = row.get(7)?;
    let start_minute: Option<i64> = row.get(8)?;
    let duration: Option<i64> = row.get(9)?;
    Ok(Silence {
        id: row.get(0)?,
        device_id: row.get(1)?,
        group: row.get(2)?,
        rule: row.get(3)?,
        subject: row.get(4)?,
        starts_at: row.get(5)?,
        ends_at: row.get(6)?,
        weekly: match (weekday, start_minute, duration) {
            (Some(weekday), Some(start_minute), Some(duration)) => Some(Weekly {
                weekday: weekday.clamp(0, 6) as u8,
                start_minute: start_minute.clamp(0, 24 * 60 - 1) as u16,
                duration_secs: duration.clamp(0, i64::from(u32::MAX)) as u32,
            }),
            _ => None,
        },
        comment: row.get(10)?,
        created_by: row.get(11)?,
        created_at: row.get(12)?,
        expired_at: row.get(13)?,
    })
}

fn active_silences(tx: &Connection, now: i64) -> rusqlite::Result<Vec<Silence>> {
    let mut statement = tx.prepare_cached(&format!(
        "SELECT {SILENCE_COLUMNS} FROM silences
         WHERE (expired_at IS NULL OR expired_at > ?1) AND starts_at <= ?1 AND (ends_at IS NULL OR ends_at > ?1)"
    ))?;
    statement.query_map([now], silence_from_row)?.collect()
}

pub fn insert_silence(c: &Connection, s: &Silence) -> rusqlite::Result<()> {
    c.execute(
        &format!("INSERT INTO silences ({SILENCE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"),
        params![
            s.id,
            s.device_id,
            s.group,
            s.rule,
            s.subject,
            s.starts_at,
            s.ends_at,
            s.weekly.map(|w| i64::from(w.weekday)),
            s.weekly.map(|w| i64::from(w.start_minute)),
            s.weekly.map(|w| i64::from(w.duration_secs)),
            s.comment,
            s.created_by,
            s.created_at,
            s.expired_at,
        ],
    )?;
    Ok(())
}

pub fn list_silences(c: &Connection) -> rusqlite::Result<Vec<Silence>> {
    let mut statement = c.prepare(&format!(
        "SELECT {SILENCE_COLUMNS} FROM silences ORDER BY created_at, id"
    ))?;
    statement.query_map([], silence_from_row)?.collect()
}

/// Ends a silence at `now`, in the caller's transaction; false if it is
/// neither in force nor scheduled (unknown, expired, or run to its end).
/// The devices with alerts it may have held back are due for the sweeper at
/// once (their next sweep was set for its end).
pub fn expire_silence(tx: &Connection, id: &str, now: i64) -> rusqlite::Result<bool> {
    let expired = tx.execute(
        "UPDATE silences SET expired_at = ?2
         WHERE id = ?1 AND (expired_at IS NULL OR expired_at > ?2) AND (ends_at IS NULL OR ends_at > ?2)",
        params![id, now],
    )? > 0;
    if expired {
        tx.execute(
            "UPDATE devices SET next_sweep_at = ?1
             WHERE retired_at IS NULL AND (next_sweep_at IS NULL OR next_sweep_at > ?1)
               AND id IN (SELECT device_id FROM alerts WHERE severity IS NOT notified_severity)",
            [now],
        )?;
    }
    Ok(expired)
}

/// The columns [`alert_from_row`] reads, from `alerts a LEFT JOIN devices d`.
pub(super) const ALERT_COLUMNS: &str = "a.id, a.device_id, COALESCE(d.hostname, a.device_id), a.rule, a.subject, a.state, a.severity, a.flapping, a.first_seen, a.last_seen, a.value, a.threshold, a.summary, a.acknowledged_by, a.acknowledged_at, a.subject_name";

pub(super) fn alert_from_row(row: &Row<'_>) -> rusqlite::Result<Option<AlertRecord>> {
    let Some(rule) = RuleId::parse(&row.get::<_, String>(3)?) else {
        return Ok(None);
    };
    Ok(Some(AlertRecord {
        id: row.get(0)?,
        device_id: row.get(1)?,
        hostname: row.get(2)?,
        rule,
        subject: row.get(4)?,
        status: AlertStatus::parse(&row.get::<_, String>(5)?).unwrap_or(AlertStatus::Firing),
        severity: parse_severity(row.get(6)?),
        flapping: row.get::<_, i64>(7)? != 0,
        first_seen: row.get(8)?,
        last_seen: row.get(9)?,
        value: row.get(10)?,
        threshold: row.get(11)?,
        summary: row.get(12)?,
        acknowledged_by: row.get(13)?,
        acknowledged_at: row.get(14)?,
        subject_name: row.get(15)?,
    }))
}

pub fn list_alerts(c: &Connection, filter: &AlertFilter) -> rusqlite::Result<Vec<AlertRecord>> {
    let mut statement = c.prepare(&format!(
        "SELECT {ALERT_COLUMNS} FROM alerts a LEFT JOIN devices d ON d.id = a.device_id
         WHERE (?1 IS NULL OR a.state = ?1) AND (?2 IS NULL OR a.severity = ?2)
           AND (?3 IS NULL OR a.device_id = ?3)
         ORDER BY a.last_seen DESC, a.id"
    ))?;
    let rows = statement.query_map(
        params![
            filter.status.map(AlertStatus::as_str),
            filter.severity.map(Severity::as_str),
            filter.device_id
        ],
        alert_from_row,
    )?;
    let mut alerts = Vec::new();
    for row in rows {
        alerts.extend(row?);
    }
    Ok(alerts)
}

pub fn alert_with_history(
    c: &Connection,
    id: i64,
) -> rusqlite::Result<Option<(AlertRecord, Vec<AlertTransitionRecord>)>> {
    let Some(alert) = c
        .query_row(
            &format!("SELECT {ALERT_COLUMNS} FROM alerts a LEFT JOIN devices d ON d.id = a.device_id WHERE a.id = ?1"),
            [id],
            alert_from_row,
        )
        .optional()?
        .flatten()
    else {
        return Ok(None);
    };
    let mut statement = c.prepare(
        "SELECT at, from_severity, to_severity, event, value, summary, actor, note
         FROM alert_transitions WHERE alert_id = ?1 ORDER BY id",
    )?;
    let history = statement
        .query_map([id], |row| {
            Ok(AlertTransitionRecord {
                at: row.get(0)?,
                from_severity: parse_severity(row.get(1)?),
                to_severity: parse_severity(row.get(2)?),
                event: row.get(3)?,
                value: row.get(4)?,
                summary: row.get(5)?,
                actor: row.get(6)?,
                note: row.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some((alert, history)))
}

/// Acknowledges a firing alert; false if there is no firing alert with that id.
pub fn ack_alert(
    tx: &Connection,
    id: i64,
    by: &str,
    note: &str,
    now: i64,
) -> rusqlite::Result<bool> {
    let changed = tx.execute(
        "UPDATE alerts SET state = 'acknowledged', acknowledged_by = ?2, acknowledged_at = ?3
         WHERE id = ?1 AND state IN ('firing', 'acknowledged')",
        params![id, by, now],
    )?;
    if changed == 0 {
        return Ok(false);
    }
    tx.execute(
        "INSERT INTO alert_transitions (alert_id, at, from_severity, to_severity, event, value, summary, actor, note)
         SELECT id, ?2, severity, severity, 'acknowledged', value, summary, ?3, ?4 FROM alerts WHERE id = ?1",
        params![id, now, by, note],
    )?;
    Ok(true)
}

const OUTBOX_COLUMNS: &str =
    "id, alert_id, event, payload, created_at, state, attempts, next_attempt_at, last_error";

fn outbox_from_row(row: &Row<'_>) -> rusqlite::Result<OutboxEvent> {
    let payload: String = row.get(3)?;
    Ok(OutboxEvent {
        id: row.get(0)?,
        alert_id: row.get(1)?,
        event: row.get(2)?,
        notification: serde_json::from_str(&payload)
            .map_err(|err| format!("the stored payload is not a notification: {err}")),
        created_at: row.get(4)?,
        state: OutboxState::parse(&row.get::<_, String>(5)?).unwrap_or(OutboxState::Pending),
        attempts: row.get::<_, i64>(6)?.clamp(0, i64::from(u32::MAX)) as u32,
        next_attempt_at: row.get(7)?,
        last_error: row.get(8)?,
    })
}

pub fn claim_outbox(
    tx: &Connection,
    limit: usize,
    lease_secs: u64,
    now: i64,
) -> rusqlite::Result<Vec<OutboxEvent>> {
    let until = now.saturating_add(i64::try_from(lease_secs).unwrap_or(i64::MAX));
    let limit_param = i64::try_from(limit).unwrap_or(i64::MAX);
    // Pending rows that are due and rows whose lease ran out, each walked in
    // id order on the queue index (migration 0017) up to the batch size; the
    // first `limit` of both by id are claimed.
    macro_rules! claimable {
        ($ready:literal) => {
            concat!(
                "SELECT id FROM alert_outbox o INDEXED BY alert_outbox_queue WHERE ",
                $ready,
                " AND NOT EXISTS (SELECT 1 FROM alert_outbox e
                     WHERE e.alert_id = o.alert_id AND e.id < o.id
                       AND e.state IN ('pending', 'claimed'))
                 ORDER BY o.id LIMIT ?2"
            )
        };
    }
    let mut ids: Vec<i64> = Vec::with_capacity(limit);
    for sql in [
        claimable!("o.state = 'pending' AND o.next_attempt_at <= ?1"),
        claimable!("o.state = 'claimed' AND o.claimed_until <= ?1"),
    ] {
        let mut statement = tx.prepare_cached(sql)?;
        for id in statement.query_map(params![now, limit_param], |row| row.get(0))? {
            ids.push(id?);
        }
    }
    ids.sort_unstable();
    ids.truncate(limit);
    let mut claimed = Vec::with_capacity(ids.len());
    for id in ids {
        claimed.push(tx.query_row(
            &format!(
                "UPDATE alert_outbox SET state = 'claimed', claimed_until = ?2, attempts = attempts + 1
                 WHERE id = ?1 RETURNING {OUTBOX_COLUMNS}"
            ),
            params![id, until],
            outbox_from_row,
        )?);
    }
    Ok(claimed)
}

/// Records when the row was delivered: retention counts from it.
pub fn mark_delivered(c: &Connection, id: i64, now: i64) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE alert_outbox SET state = 'delivered', claimed_until = NULL, last_error = NULL,
           delivered_at = ?2
         WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

/// Like [`mark_delivered`], for a row that needed nothing sent.
pub fn mark_skipped(c: &Connection, id: i64, now: i64) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE alert_outbox SET state = 'delivered', claimed_until = NULL, last_error = NULL,
           delivered_at = ?2, skipped = 1
         WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

pub fn mark_failed(
    c: &Connection,
    id: i64,
    error: &str,
    retry_at: Option<i64>,
) -> rusqlite::Result<()> {
    match retry_at {
        Some(at) => c.execute(
            "UPDATE alert_outbox SET state = 'pending', claimed_until = NULL, last_error = ?2, next_attempt_at = ?3 WHERE id = ?1",
            params![id, error, at],
        )?,
        None => c.execute(
            "UPDATE alert_outbox SET state = 'failed', claimed_until = NULL, last_error = ?2 WHERE id = ?1",
            params![id, error],
        )?,
    };
    Ok(())
}

pub fn outbox_in_state(c: &Connection, state: OutboxState) -> rusqlite::Result<Vec<OutboxEvent>> {
    let mut statement = c.prepare(&format!(
        "SELECT {OUTBOX_COLUMNS} FROM alert_outbox WHERE state = ?1 ORDER BY id"
    ))?;
    statement
        .query_map([state.as_str()], outbox_from_row)?
        .collect()
}
