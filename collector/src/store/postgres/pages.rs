//! SQL for the web pages' reads on PostgreSQL ([`PageReads`]).

use std::collections::BTreeMap;

use async_trait::async_trait;
use tokio_postgres::Row;

use super::PostgresStore;
use crate::rules::forecast::DiskSample;
use crate::store::StoreError;
use crate::store::pages::{ChangeMark, PageReads, TicketLink};
use crate::tickets::TicketRef;

const LINK_COLUMNS: &str = "a.alert_id, t.device_id, t.connector, t.external_id, t.url, t.opened_at, t.closed_at, t.closed_as";

fn link_from_row(row: &Row) -> TicketLink {
    TicketLink {
        alert_id: row.get(0),
        device_id: row.get(1),
        connector: row.get(2),
        reference: TicketRef {
            id: row.get(3),
            url: row.get(4),
        },
        opened_at: row.get(5),
        closed_at: row.get(6),
        closed_as: row.get(7),
    }
}

#[async_trait]
impl PageReads for PostgresStore {
    async fn disk_history(
        &self,
        device_id: &str,
        since: i64,
    ) -> Result<BTreeMap<String, Vec<DiskSample>>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT mount_point, at, total_bytes, available_bytes FROM disk_samples
                 WHERE device_id = $1 AND at >= $2 ORDER BY mount_point, at",
                &[&device_id, &since],
            )
            .await?;
        let mut history: BTreeMap<String, Vec<DiskSample>> = BTreeMap::new();
        for row in rows {
            history.entry(row.get(0)).or_default().push(DiskSample {
                at: row.get(1),
                total_bytes: row.get::<_, i64>(2).max(0) as u64,
                available_bytes: row.get::<_, i64>(3).max(0) as u64,
            });
        }
        Ok(history)
    }

    async fn device_tickets(&self, device_id: &str) -> Result<Vec<TicketLink>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {LINK_COLUMNS} FROM alert_tickets a JOIN tickets t ON t.id = a.ticket_id
                     WHERE t.device_id = $1 ORDER BY t.opened_at DESC, a.alert_id DESC"
                ),
                &[&device_id],
            )
            .await?;
        Ok(rows.iter().map(link_from_row).collect())
    }

    async fn alert_tickets(&self, alert_ids: &[i64]) -> Result<Vec<TicketLink>, StoreError> {
        if alert_ids.is_empty() {
            return Ok(Vec::new());
        }
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {LINK_COLUMNS} FROM alert_tickets a JOIN tickets t ON t.id = a.ticket_id
                     WHERE a.alert_id = ANY($1) ORDER BY a.alert_id"
                ),
                &[&alert_ids],
            )
            .await?;
        Ok(rows.iter().map(link_from_row).collect())
    }

    async fn change_mark(&self) -> Result<ChangeMark, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_one(
                "SELECT
                    (SELECT COUNT(*) FROM devices),
                    (SELECT COALESCE(SUM(last_seq), 0)::BIGINT FROM devices),
                    (SELECT COALESCE(MAX(last_seen_at), 0) FROM devices),
                    (SELECT COUNT(retired_at) FROM devices),
                    (SELECT COALESCE(MAX(id), 0) FROM alert_transitions),
                    (SELECT COUNT(*) + COUNT(expired_at) FROM silences)",
                &[],
            )
            .await?;
        Ok(ChangeMark {
            devices: row.get(0),
            reports: row.get(1),
            last_seen_at: row.get(2),
            retired: row.get(3),
            alert_changes: row.get(4),
            silences: row.get(5),
        })
    }
}
