//! SQL for alerts on SQLite: disk history, loading a device's context for the
//! alert engine and persisting its plan inside the caller's transaction,
//! silences, acknowledgements and the outbox.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, Row, params};

use forewarn_proto::pb;

use crate::alerts::engine::{self, AlertChange, AlertDevice, DeviceContext, Plan, StoredAlert};
use crate::alerts::silence::{Silence, Weekly};
use crate::alerts::{AlertFilter, AlertRecord, AlertStatus, AlertTransitionRecord};
use crate::rules::{AlertKey, AlertState, DiskSample, Event, RuleId, RulesConfig, Severity};
use crate::store::outbox::{OutboxEvent, OutboxState};
use crate::store::{DeviceRecord, StoreError};

/// Disk samples older than this are deleted when a device reports.
const DISK_HISTORY_KEEP_SECS: i64 = 35 * 24 * 3600;

/// Appends the report's filesystems to the disk history and trims old samples.
pub fn record_disk_samples(
    tx: &Connection,
    device_id: &str,
    report: &pb::StatusReport,
    at: i64,
) -> rusqlite::Result<()> {
    let Some(disks) = &report.disks else {
        return Ok(());
    };
    let mut insert = tx.prepare_cached(
        "INSERT INTO disk_samples (device_id, mount_point, at, total_bytes, available_bytes)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (device_id, mount_point, at) DO UPDATE SET
           total_bytes = excluded.total_bytes, available_bytes = excluded.available_bytes",
    )?;
    for fs in &disks.filesystems {
        insert.execute(params![
            device_id,
            fs.mount_point,
            at,
            i64::try_from(fs.total_bytes).unwrap_or(i64::MAX),
            i64::try_from(fs.available_bytes).unwrap_or(i64::MAX),
        ])?;
    }
    tx.execute(
        "DELETE FROM disk_samples WHERE device_id = ?1 AND at < ?2",
        params![device_id, at - DISK_HISTORY_KEEP_SECS],
    )?;
    Ok(())
}

fn disk_history(
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
        Ok((
            row.get::<_, String>(0)?,
            DiskSample {
                at: row.get(1)?,
                total_bytes: row.get::<_, i64>(2)?.max(0) as u64,
                available_bytes: row.get::<_, i64>(3)?.max(0) as u64,
            },
        ))
    })?;
    for row in rows {
        let (mount, sample) = row?;
        history.entry(mount).or_default().push(sample);
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
                pending_since, clearing_since, flapping, recent_changes, first_seen
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
        disk_history: disk_history(tx, &device.id, engine::disk_history_since(rules, now))?,
    })
}

/// Plans one device's alerts with the engine and persists the plan, in the
/// caller's transaction. Returns the number of notifications queued.
pub fn plan_device(
    tx: &Connection,
    rules: &RulesConfig,
    device: &DeviceRecord,
    report: Option<&pb::StatusReport>,
    now: i64,
) -> Result<usize, StoreError> {
    let context = device_context(tx, rules, device, now)?;
    let plan = engine::plan_device(rules, &context, report, now);
    persist_plan(tx, &device.id, &plan)?;
    Ok(plan.notifications())
}

/// Writes a plan as it is: each alert whole, its history line, its outbox row.
pub fn persist_plan(tx: &Connection, device_id: &str, plan: &Plan) -> Result<(), StoreError> {
    for change in &plan.changes {
        persist_change(tx, device_id, change)?;
    }
    Ok(())
}

fn persist_change(
    tx: &Connection,
    device_id: &str,
    change: &AlertChange,
) -> Result<(), StoreError> {
    let state = &change.state;
    let recent: Vec<String> = state.recent_changes.iter().map(i64::to_string).collect();
    let alert_id: i64 = tx.query_row(
        "INSERT INTO alerts (device_id, rule, subject, state, severity, notified_severity,
             pending_severity, pending_since, clearing_since, flapping, recent_changes,
             first_seen, last_seen, value, threshold, summary)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
         ON CONFLICT (device_id, rule, subject) DO UPDATE SET
             state = excluded.state, severity = excluded.severity,
             notified_severity = excluded.notified_severity,
             pending_severity = excluded.pending_severity, pending_since = excluded.pending_since,
             clearing_since = excluded.clearing_since, flapping = excluded.flapping,
             recent_changes = excluded.recent_changes, first_seen = excluded.first_seen,
             last_seen = excluded.last_seen, value = excluded.value,
             threshold = excluded.threshold, summary = excluded.summary,
             acknowledged_by = CASE WHEN excluded.state = 'acknowledged' THEN alerts.acknowledged_by END,
             acknowledged_at = CASE WHEN excluded.state = 'acknowledged' THEN alerts.acknowledged_at END
         RETURNING id",
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
        ],
        |row| row.get(0),
    )?;
    if let Some(history) = &change.history {
        tx.execute(
            "INSERT INTO alert_transitions (alert_id, at, from_severity, to_severity, event, value, summary)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
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
        tx.execute(
            "INSERT INTO alert_outbox (alert_id, event, payload, created_at, next_attempt_at)
             VALUES (?1, ?2, ?3, ?4, ?4)",
            params![
                alert_id,
                notification.event.as_str(),
                payload,
                change.last_seen
            ],
        )?;
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

pub fn expire_silence(c: &Connection, id: &str, now: i64) -> rusqlite::Result<bool> {
    Ok(c.execute(
        "UPDATE silences SET expired_at = ?2 WHERE id = ?1 AND (expired_at IS NULL OR expired_at > ?2)",
        params![id, now],
    )? > 0)
}

const ALERT_COLUMNS: &str = "a.id, a.device_id, COALESCE(d.hostname, a.device_id), a.rule, a.subject, a.state, a.severity, a.flapping, a.first_seen, a.last_seen, a.value, a.threshold, a.summary, a.acknowledged_by, a.acknowledged_at";

fn alert_from_row(row: &Row<'_>) -> rusqlite::Result<Option<AlertRecord>> {
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
    let ids: Vec<i64> = {
        let mut statement = tx.prepare_cached(
            "SELECT id FROM alert_outbox o
             WHERE ((state = 'pending' AND next_attempt_at <= ?1)
                 OR (state = 'claimed' AND claimed_until <= ?1))
               AND NOT EXISTS (SELECT 1 FROM alert_outbox e
                   WHERE e.alert_id = o.alert_id AND e.id < o.id
                     AND e.state IN ('pending', 'claimed'))
             ORDER BY id LIMIT ?2",
        )?;
        statement
            .query_map(
                params![now, i64::try_from(limit).unwrap_or(i64::MAX)],
                |row| row.get(0),
            )?
            .collect::<rusqlite::Result<_>>()?
    };
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

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use prost::Message;

    use super::*;
    use crate::rules::RuleBook;
    use crate::store::outbox::OutboxDelivery;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{IncomingReport, NewDevice, NewToken, Store};

    const T0: i64 = 1_795_000_000;
    const GIB: u64 = 1024 * 1024 * 1024;

    /// A fresh store with one enrolled device `d1` (LAPTOP-042) in `group`;
    /// also used by other modules' tests that need a device to report.
    pub(crate) async fn store_with_device(group: &str) -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap();
        store
            .create_token(NewToken {
                id: "t1".into(),
                token_hash: "aa".into(),
                group: group.into(),
                created_at: 0,
                expires_at: i64::MAX,
                max_uses: None,
            })
            .await
            .unwrap();
        store
            .enroll_device(
                "aa",
                NewDevice {
                    id: "d1".into(),
                    hostname: "LAPTOP-042".into(),
                    os: "linux".into(),
                    agent_version: "0.1.0".into(),
                    enrolled_at: 10,
                    cert_serial: "01".into(),
                    cert_not_after: i64::MAX,
                },
                10,
            )
            .await
            .unwrap()
            .unwrap();
        (dir, store)
    }

    fn report(seq: u64, at: i64, available_gib: u64) -> IncomingReport {
        let status = pb::StatusReport {
            seq,
            collected_at_unix_secs: at,
            disks: Some(pb::DiskCheck {
                filesystems: vec![pb::DiskStatus {
                    mount_point: "/".into(),
                    total_bytes: 100 * GIB,
                    free_bytes: available_gib * GIB,
                    available_bytes: available_gib * GIB,
                    ..Default::default()
                }],
            }),
            ..Default::default()
        };
        IncomingReport {
            device_id: "d1".into(),
            seq,
            collected_at: at,
            received_at: at,
            hostname: "LAPTOP-042".into(),
            os: "linux".into(),
            agent_version: "0.1.0".into(),
            encoded: status.encode_to_vec(),
        }
    }

    fn rules() -> Arc<RuleBook> {
        let mut book = RuleBook::default();
        book.default.disk_free_bytes.enabled = false;
        Arc::new(book)
    }

    fn silence(id: &str, starts_at: i64, ends_at: Option<i64>) -> Silence {
        Silence {
            id: id.into(),
            device_id: "d1".into(),
            group: String::new(),
            rule: String::new(),
            subject: String::new(),
            starts_at,
            ends_at,
            weekly: None,
            comment: "disk swap".into(),
            created_by: "it".into(),
            created_at: starts_at,
            expired_at: None,
        }
    }

    #[tokio::test]
    async fn ingest_opens_escalates_and_resolves_with_outbox_rows() {
        let (_dir, store) = store_with_device("laptops").await;
        store
            .ingest_report(report(1, T0, 50), rules())
            .await
            .unwrap();
        assert!(
            store
                .list_alerts(AlertFilter::default())
                .await
                .unwrap()
                .is_empty()
        );
        store
            .ingest_report(report(2, T0 + 60, 8), rules())
            .await
            .unwrap();
        store
            .ingest_report(report(3, T0 + 120, 3), rules())
            .await
            .unwrap();
        let alerts = store.list_alerts(AlertFilter::default()).await.unwrap();
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let alert = &alerts[0];
        assert_eq!(alert.status, AlertStatus::Firing);
        assert_eq!(alert.severity, Some(Severity::Critical));
        assert_eq!(alert.first_seen, T0 + 60);
        assert_eq!(
            alert.summary,
            "Disk / on LAPTOP-042 has 3.0% free (3.0 GiB of 100.0 GiB), below 5%"
        );
        store
            .ingest_report(report(4, T0 + 180, 40), rules())
            .await
            .unwrap();
        let (alert, history) = store.alert(alert.id).await.unwrap().unwrap();
        assert_eq!(alert.status, AlertStatus::Resolved);
        let events: Vec<_> = history.iter().filter_map(|h| h.event.clone()).collect();
        assert_eq!(events, ["opened", "escalated", "resolved"]);
        let outbox = store.outbox_in_state(OutboxState::Pending).await.unwrap();
        let kinds: Vec<_> = outbox.iter().map(|o| o.event.as_str()).collect();
        assert_eq!(kinds, ["opened", "escalated", "resolved"]);
        let escalated = outbox[1].notification.as_ref().unwrap();
        assert_eq!(escalated.severity, Some(Severity::Critical));
        assert_eq!(escalated.previous_severity, Some(Severity::Warning));
        assert_eq!(escalated.hostname, "LAPTOP-042");
        assert_eq!(outbox[0].alert_id, alert.id);
    }

    #[tokio::test]
    async fn outbox_claim_keeps_alert_order_retries_and_lease_expiry() {
        let (_dir, store) = store_with_device("laptops").await;
        store
            .ingest_report(report(1, T0, 8), rules())
            .await
            .unwrap();
        store
            .ingest_report(report(2, T0 + 60, 3), rules())
            .await
            .unwrap();
        store
            .ingest_report(report(3, T0 + 120, 40), rules())
            .await
            .unwrap();
        let now = T0 + 200;
        // Three events of one alert: only the first is handed out.
        let batch = store.claim_outbox(10, 60, now).await.unwrap();
        let kinds: Vec<_> = batch.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(kinds, ["opened"]);
        assert_eq!(
            (batch[0].state, batch[0].attempts),
            (OutboxState::Claimed, 1)
        );
        // While it is claimed, neither it nor the later events are handed out.
        assert!(store.claim_outbox(10, 60, now).await.unwrap().is_empty());
        store.mark_delivered(batch[0].id, now).await.unwrap();
        let escalated = store.claim_outbox(10, 60, now).await.unwrap();
        assert_eq!(escalated[0].event, "escalated");
        store
            .mark_failed(escalated[0].id, "helpdesk returned 503", Some(now + 300))
            .await
            .unwrap();
        // Waiting for its retry time, it still holds back the `resolved` behind it.
        assert!(
            store
                .claim_outbox(10, 60, now + 10)
                .await
                .unwrap()
                .is_empty()
        );
        let again = store.claim_outbox(10, 60, now + 300).await.unwrap();
        assert_eq!(
            (again.len(), again[0].id, again[0].attempts),
            (1, escalated[0].id, 2)
        );
        assert_eq!(
            again[0].last_error.as_deref(),
            Some("helpdesk returned 503")
        );
        // A worker that died holding it: the lease runs out and it is handed out again.
        let after_lease = store.claim_outbox(10, 60, now + 360).await.unwrap();
        assert_eq!(
            (after_lease[0].id, after_lease[0].attempts),
            (escalated[0].id, 3)
        );
        // Given up: it no longer holds back the next event.
        store
            .mark_failed(escalated[0].id, "gave up", None)
            .await
            .unwrap();
        let resolved = store.claim_outbox(10, 60, now + 360).await.unwrap();
        assert_eq!(resolved[0].event, "resolved");
        assert_eq!(
            store
                .outbox_in_state(OutboxState::Failed)
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            store
                .outbox_in_state(OutboxState::Delivered)
                .await
                .unwrap()
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn silence_suppresses_notification_not_state_and_sweep_notifies_after() {
        let (_dir, store) = store_with_device("laptops").await;
        store
            .add_silence(silence("s1", T0, Some(T0 + 600)))
            .await
            .unwrap();
        store
            .ingest_report(report(1, T0 + 60, 3), rules())
            .await
            .unwrap();
        let alerts = store.list_alerts(AlertFilter::default()).await.unwrap();
        assert_eq!(alerts[0].severity, Some(Severity::Critical));
        assert!(
            store
                .outbox_in_state(OutboxState::Pending)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.sweep_alerts(rules(), T0 + 300).await.unwrap(), 0);
        assert_eq!(store.sweep_alerts(rules(), T0 + 601).await.unwrap(), 1);
        let outbox = store.outbox_in_state(OutboxState::Pending).await.unwrap();
        assert_eq!(outbox.len(), 1);
        assert_eq!(outbox[0].event, "opened");
        assert_eq!(store.sweep_alerts(rules(), T0 + 700).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn silences_are_listed_and_expired() {
        let (_dir, store) = store_with_device("laptops").await;
        store.add_silence(silence("s1", T0, None)).await.unwrap();
        assert!(store.expire_silence("s1", T0 + 5).await.unwrap());
        assert!(!store.expire_silence("s1", T0 + 6).await.unwrap());
        assert!(!store.expire_silence("nope", T0 + 6).await.unwrap());
        let listed = store.list_silences().await.unwrap();
        assert_eq!(listed[0].expired_at, Some(T0 + 5));
        store
            .ingest_report(report(1, T0 + 60, 3), rules())
            .await
            .unwrap();
        assert_eq!(
            store
                .outbox_in_state(OutboxState::Pending)
                .await
                .unwrap()
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn acknowledgement_is_recorded_and_cleared_by_a_new_episode() {
        let (_dir, store) = store_with_device("laptops").await;
        store
            .ingest_report(report(1, T0, 8), rules())
            .await
            .unwrap();
        let id = store.list_alerts(AlertFilter::default()).await.unwrap()[0].id;
        assert!(
            store
                .ack_alert(id, "alice", "replacing the disk friday", T0 + 10)
                .await
                .unwrap()
        );
        assert!(
            !store
                .ack_alert(id + 100, "alice", "", T0 + 10)
                .await
                .unwrap()
        );
        store
            .ingest_report(report(2, T0 + 60, 9), rules())
            .await
            .unwrap();
        let (alert, history) = store.alert(id).await.unwrap().unwrap();
        assert_eq!(alert.status, AlertStatus::Acknowledged);
        assert_eq!(alert.acknowledged_by.as_deref(), Some("alice"));
        let ack = history
            .iter()
            .find(|h| h.event.as_deref() == Some("acknowledged"))
            .unwrap();
        assert_eq!(ack.note.as_deref(), Some("replacing the disk friday"));
        // Escalation wakes it up again.
        store
            .ingest_report(report(3, T0 + 120, 3), rules())
            .await
            .unwrap();
        let (alert, _) = store.alert(id).await.unwrap().unwrap();
        assert_eq!(alert.status, AlertStatus::Firing);
        assert_eq!(alert.acknowledged_by, None);
        let filter = AlertFilter {
            status: Some(AlertStatus::Firing),
            severity: Some(Severity::Critical),
            device_id: Some("d1".into()),
        };
        assert_eq!(store.list_alerts(filter).await.unwrap().len(), 1);
        let filter = AlertFilter {
            device_id: Some("d2".into()),
            ..Default::default()
        };
        assert!(store.list_alerts(filter).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn sweep_raises_offline_for_servers_and_a_report_resolves_it() {
        let (_dir, store) = store_with_device("servers").await;
        let mut book = RuleBook::default();
        book.groups.insert(
            "servers".into(),
            book.default
                .with_overrides(&crate::rules::config::builtin_group_overrides("servers"))
                .unwrap(),
        );
        let book = Arc::new(book);
        store
            .ingest_report(report(1, T0, 50), Arc::clone(&book))
            .await
            .unwrap();
        assert_eq!(
            store
                .sweep_alerts(Arc::clone(&book), T0 + 4 * 60)
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .sweep_alerts(Arc::clone(&book), T0 + 11 * 60)
                .await
                .unwrap(),
            1
        );
        let alerts = store.list_alerts(AlertFilter::default()).await.unwrap();
        assert_eq!(alerts[0].rule, RuleId::OfflineMinutes);
        assert_eq!(alerts[0].severity, Some(Severity::Critical));
        assert!(
            alerts[0]
                .summary
                .starts_with("LAPTOP-042 has not reported for 11 minutes"),
            "{}",
            alerts[0].summary
        );
        store
            .ingest_report(report(2, T0 + 12 * 60, 50), Arc::clone(&book))
            .await
            .unwrap();
        let alerts = store.list_alerts(AlertFilter::default()).await.unwrap();
        assert_eq!(alerts[0].status, AlertStatus::Resolved);
    }

    #[tokio::test]
    async fn disk_history_feeds_the_forecast() {
        let (_dir, store) = store_with_device("laptops").await;
        // Filling 4 GiB a day from 60 GiB free, a report every 6 hours.
        for i in 0..=40u64 {
            let at = T0 + i as i64 * 6 * 3600;
            let free = 60 - i;
            store
                .ingest_report(report(i + 1, at, free), rules())
                .await
                .unwrap();
        }
        // 20 GiB left at 4 GiB/day: 5 days, a warning.
        let alerts = store.list_alerts(AlertFilter::default()).await.unwrap();
        let forecast = alerts
            .iter()
            .find(|a| a.rule == RuleId::DiskForecast)
            .expect("forecast alert");
        assert_eq!(forecast.severity, Some(Severity::Warning));
        assert!(
            forecast.summary.contains("full in about 5 days"),
            "{}",
            forecast.summary
        );
    }
}
