//! SQL for the web pages' reads on SQLite ([`PageReads`]).

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row, params};

use super::SqliteStore;
use super::alerts::{ALERT_COLUMNS, alert_from_row};
use crate::alerts::AlertRecord;
use crate::rules::forecast::DiskSample;
use crate::store::StoreError;
use crate::store::pages::{ChangeMark, FleetAlerts, PageReads, TicketLink, device_matches};
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
        // The groups travel as one JSON array, like the ids of alert_tickets.
        let groups = which
            .groups
            .map(|groups| serde_json::to_string(&groups).unwrap_or_else(|_| "[]".into()));
        self.with_connection(move |c| {
            let mut statement = c.prepare_cached(&format!(
                "SELECT {ALERT_COLUMNS} FROM alerts a LEFT JOIN devices d ON d.id = a.device_id
                 WHERE (NOT ?1 OR a.state IN ('firing', 'acknowledged'))
                   AND (?2 IS NULL OR d.group_name IN (SELECT value FROM json_each(?2)))"
            ))?;
            let mut alerts = Vec::new();
            for alert in statement.query_map(params![which.raised_only, groups], alert_from_row)? {
                alerts.extend(alert?);
            }
            Ok(alerts)
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
        let ids = serde_json::to_string(alert_ids).unwrap_or_else(|_| "[]".into());
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
