//! SQL for the web pages' reads on SQLite ([`PageReads`]).

use std::collections::BTreeMap;

use async_trait::async_trait;
use rusqlite::{Connection, Row, params};

use super::SqliteStore;
use crate::rules::forecast::DiskSample;
use crate::store::StoreError;
use crate::store::pages::{ChangeMark, PageReads, TicketLink};
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

fn disk_history(
    c: &Connection,
    device_id: &str,
    since: i64,
) -> rusqlite::Result<BTreeMap<String, Vec<DiskSample>>> {
    let mut statement = c.prepare_cached(
        "SELECT mount_point, at, total_bytes, available_bytes FROM disk_samples
         WHERE device_id = ?1 AND at >= ?2 ORDER BY mount_point, at",
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
        let (mount_point, sample) = row?;
        history.entry(mount_point).or_default().push(sample);
    }
    Ok(history)
}

fn change_mark(c: &Connection) -> rusqlite::Result<ChangeMark> {
    c.query_row(
        "SELECT
            (SELECT COUNT(*) FROM devices),
            (SELECT COALESCE(SUM(last_seq), 0) FROM devices),
            (SELECT COALESCE(MAX(last_seen_at), 0) FROM devices),
            (SELECT COUNT(retired_at) FROM devices),
            (SELECT COALESCE(MAX(id), 0) FROM alert_transitions),
            (SELECT COUNT(*) + COUNT(expired_at) FROM silences)",
        [],
        |row| {
            Ok(ChangeMark {
                devices: row.get(0)?,
                reports: row.get(1)?,
                last_seen_at: row.get(2)?,
                retired: row.get(3)?,
                alert_changes: row.get(4)?,
                silences: row.get(5)?,
            })
        },
    )
}

#[async_trait]
impl PageReads for SqliteStore {
    async fn disk_history(
        &self,
        device_id: &str,
        since: i64,
    ) -> Result<BTreeMap<String, Vec<DiskSample>>, StoreError> {
        let device_id = device_id.to_owned();
        self.with_connection(move |c| Ok(disk_history(c, &device_id, since)?))
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
}
