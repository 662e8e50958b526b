//! SQL for the web pages' reads on SQLite ([`PageReads`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, Row, params_from_iter};

use super::SqliteStore;
use super::alerts::{ALERT_COLUMNS, alert_from_row};
use crate::alerts::AlertRecord;
use crate::rules::forecast::DiskSample;
use crate::store::StoreError;
use crate::store::pages::{
    AlertCounts, ChangeMark, FleetAlerts, PageReads, TicketLink, device_matches, domain_named,
    domain_sql,
};
use crate::tickets::TicketRef;

const LINK_COLUMNS: &str = "a.alert_id, t.device_id, t.connector, t.external_id, t.url, t.opened_at, t.closed_at, t.closed_as";

fn link_from_row(row: &Row<'_>) -> rusqlite::Result<TicketLink> {
    Ok(TicketLink {
        alert_id: row.get(0)?,
        device_id: row.get(1)?,
        connector: row.get(2)?,
        reference: TicketRef {
            id: row.get(3)?,
            url: row.get(4)?,
        },
        opened_at: row.get(5)?,
        closed_at: row.get(6)?,
        closed_as: row.get(7)?,
    })
}

/// The `WHERE` of [`FleetAlerts`] over `alerts a`, reading ?1 to ?8 of
/// [`fleet_params`]. The groups bound the alerts' device ids (a
/// semi-join), not a join's column: the planners then read the few devices
/// of the groups once instead of looking up a device per alert. Lists travel as JSON arrays: one
/// statement for any number of groups or rules.
const FLEET_WHERE: &str = "WHERE (NOT ?1 OR a.state IN ('firing', 'acknowledged'))
       AND (?2 IS NULL OR a.state = ?2)
       AND (?3 IS NULL OR a.severity = ?3)
       AND a.rule IN (SELECT value FROM json_each(?4))
       AND (?5 IS NULL OR a.device_id = ?5)
       AND (?6 IS NULL OR a.device_id IN
            (SELECT id FROM devices WHERE group_name IN (SELECT value FROM json_each(?6))))
       AND (?7 IS NULL OR a.last_seen >= ?7)
       AND (?8 IS NULL OR a.last_seen < ?8)";

fn json_list<T: serde::Serialize>(items: &[T]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

/// The values of [`FLEET_WHERE`]'s ?1 to ?8.
fn fleet_params(which: &FleetAlerts) -> Vec<Value> {
    let text = |t: Option<&str>| t.map_or(Value::Null, |t| Value::Text(t.to_owned()));
    let number = |n: Option<i64>| n.map_or(Value::Null, Value::Integer);
    vec![
        Value::Integer(which.raised_only.into()),
        text(which.state.map(|s| s.as_str())),
        text(which.severity.map(|s| s.as_str())),
        Value::Text(json_list(&which.rule_names())),
        text(which.device_id.as_deref()),
        text(which.groups.as_deref().map(json_list).as_deref()),
        number(which.last_seen_from),
        number(which.last_seen_before),
    ]
}

fn change_mark(c: &Connection) -> rusqlite::Result<ChangeMark> {
    c.query_row(
        "SELECT
            (SELECT COUNT(*) FROM devices),
            (SELECT COALESCE(SUM(last_seq), 0) FROM devices),
            (SELECT COALESCE(MAX(last_seen_at), 0) FROM devices),
            (SELECT COUNT(retired_at) FROM devices),
            (SELECT COALESCE(MAX(id), 0) FROM alert_transitions),
            (SELECT COUNT(*) + COUNT(expired_at) FROM silences),
            (SELECT COALESCE(MAX(id), 0) FROM console_audit)",
        [],
        |row| {
            Ok(ChangeMark {
                devices: row.get(0)?,
                reports: row.get(1)?,
                last_seen_at: row.get(2)?,
                retired: row.get(3)?,
                alert_changes: row.get(4)?,
                silences: row.get(5)?,
                audited: row.get(6)?,
            })
        },
    )
}

#[async_trait]
impl PageReads for SqliteStore {
    async fn fleet_alerts(&self, which: FleetAlerts) -> Result<Vec<AlertRecord>, StoreError> {
        let mut values = fleet_params(&which);
        // SQLite reads a negative LIMIT as none.
        values.push(Value::Integer(
            which
                .limit
                .map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX)),
        ));
        values.push(Value::Integer(
            i64::try_from(which.offset).unwrap_or(i64::MAX),
        ));
        let after = which.after_sql("?11", "?12");
        if let (false, Some((value, id))) = (after.is_empty(), which.after) {
            values.extend([Value::Integer(value), Value::Integer(id)]);
        }
        let order = which.order.sql();
        self.with_connection(move |c| {
            // The page is cut from the alerts alone; only its rows meet their device.
            let mut statement = c.prepare_cached(&format!(
                "SELECT {ALERT_COLUMNS}
                 FROM (SELECT * FROM alerts a {FLEET_WHERE}{after} ORDER BY {order} LIMIT ?9 OFFSET ?10) a
                 LEFT JOIN devices d ON d.id = a.device_id
                 ORDER BY {order}"
            ))?;
            let mut alerts = Vec::new();
            let rows = statement.query_map(params_from_iter(values), alert_from_row)?;
            for alert in rows {
                alerts.extend(alert?);
            }
            Ok(alerts)
        })
        .await
    }

    async fn count_alerts(&self, which: FleetAlerts) -> Result<usize, StoreError> {
        let values = fleet_params(&which);
        self.with_connection(move |c| {
            let count: i64 = c
                .prepare_cached(&format!("SELECT COUNT(*) FROM alerts a {FLEET_WHERE}"))?
                .query_row(params_from_iter(values), |row| row.get(0))?;
            Ok(usize::try_from(count).unwrap_or(0))
        })
        .await
    }

    async fn alert_counts(
        &self,
        groups: Option<Vec<String>>,
    ) -> Result<Vec<AlertCounts>, StoreError> {
        let groups = groups.as_deref().map(json_list);
        let domain = domain_sql();
        self.with_connection(move |c| {
            let mut statement = c.prepare_cached(&format!(
                "SELECT a.device_id, {domain} AS domain,
                        SUM(a.state = 'pending'), SUM(a.state = 'firing'),
                        SUM(a.state = 'acknowledged'),
                        SUM(a.state <> 'pending' AND a.severity = 'critical')
                 FROM alerts a
                 WHERE a.state IN ('pending', 'firing', 'acknowledged')
                   AND (?1 IS NULL OR a.device_id IN
                        (SELECT id FROM devices WHERE group_name IN (SELECT value FROM json_each(?1))))
                 GROUP BY a.device_id, domain
                 ORDER BY a.device_id, domain"
            ))?;
            let mut rows = statement.query([groups])?;
            let mut counts = Vec::new();
            let count = |row: &Row<'_>, i: usize| -> rusqlite::Result<usize> {
                Ok(usize::try_from(row.get::<_, i64>(i)?).unwrap_or(0))
            };
            while let Some(row) = rows.next()? {
                let Some(domain) = domain_named(&row.get::<_, String>(1)?) else {
                    continue;
                };
                counts.push(AlertCounts {
                    device_id: row.get(0)?,
                    domain,
                    pending: count(row, 2)?,
                    firing: count(row, 3)?,
                    acknowledged: count(row, 4)?,
                    critical: count(row, 5)?,
                });
            }
            Ok(counts)
        })
        .await
    }

    async fn ack_notes(&self, alert_ids: &[i64]) -> Result<HashMap<i64, String>, StoreError> {
        if alert_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let ids = json_list(alert_ids);
        self.with_connection(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT t.alert_id, t.note FROM alert_transitions t
                 WHERE t.id IN (SELECT MAX(id) FROM alert_transitions
                                WHERE event = 'acknowledged'
                                  AND alert_id IN (SELECT value FROM json_each(?1))
                                GROUP BY alert_id)
                   AND t.note IS NOT NULL",
            )?;
            let notes = statement
                .query_map([&ids], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<rusqlite::Result<HashMap<_, _>>>()?;
            Ok(notes)
        })
        .await
    }

    async fn disk_history(
        &self,
        device_id: &str,
        since: i64,
    ) -> Result<BTreeMap<String, Vec<DiskSample>>, StoreError> {
        let device_id = device_id.to_owned();
        self.with_connection(move |c| Ok(super::alerts::disk_history(c, &device_id, since)?))
            .await
    }

    async fn device_tickets(&self, device_id: &str) -> Result<Vec<TicketLink>, StoreError> {
        let device_id = device_id.to_owned();
        self.with_connection(move |c| {
            let mut statement = c.prepare_cached(&format!(
                "SELECT {LINK_COLUMNS} FROM alert_tickets a JOIN tickets t ON t.id = a.ticket_id
                 WHERE t.device_id = ?1 ORDER BY t.opened_at DESC, a.alert_id DESC"
            ))?;
            let links = statement
                .query_map([&device_id], link_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(links)
        })
        .await
    }

    async fn alert_tickets(&self, alert_ids: &[i64]) -> Result<Vec<TicketLink>, StoreError> {
        if alert_ids.is_empty() {
            return Ok(Vec::new());
        }
        // The ids travel as one JSON array: one statement for any page size.
        let ids = json_list(alert_ids);
        self.with_connection(move |c| {
            let mut statement = c.prepare_cached(&format!(
                "SELECT {LINK_COLUMNS} FROM alert_tickets a JOIN tickets t ON t.id = a.ticket_id
                 WHERE a.alert_id IN (SELECT value FROM json_each(?1)) ORDER BY a.alert_id"
            ))?;
            let links = statement
                .query_map([&ids], link_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(links)
        })
        .await
    }

    async fn change_mark(&self) -> Result<ChangeMark, StoreError> {
        self.with_connection(|c| Ok(change_mark(c)?)).await
    }

    async fn search_devices(&self, text: &str) -> Result<HashSet<String>, StoreError> {
        let needle = text.trim().to_lowercase();
        self.with_connection(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT d.id, d.hostname, d.group_name, d.serial_number, s.report
                 FROM devices d LEFT JOIN device_status s ON s.device_id = d.id",
            )?;
            let mut rows = statement.query([])?;
            let mut found = HashSet::new();
            while let Some(row) = rows.next()? {
                let id: String = row.get(0)?;
                let report = match row.get_ref(4)? {
                    ValueRef::Blob(report) => Some(report),
                    _ => None,
                };
                if device_matches(
                    &needle,
                    &id,
                    &row.get::<_, String>(1)?,
                    &row.get::<_, String>(2)?,
                    &row.get::<_, String>(3)?,
                    report,
                ) {
                    found.insert(id);
                }
            }
            Ok(found)
        })
        .await
    }
}
