//! SQL for tickets on PostgreSQL: alert-to-ticket links, the grouping lookup,
//! outbox statistics and retention, and the collector's own "ticketing is
//! failing" alert (planned under a transaction-scoped advisory lock, so two
//! collectors' ticket workers never both open it).

use async_trait::async_trait;
use tokio_postgres::GenericClient;

use super::PostgresStore;
use super::alerts as pg_alerts;
use crate::alerts::engine::{self, COLLECTOR_DEVICE_ID};
use crate::store::StoreError;
use crate::store::ledger::{
    LinkedTicket, NewTicket, OpenTicket, OutboxStats, PruneOutcome, TicketClose, TicketLedger,
};
use crate::store::outbox::OutboxState;
use crate::tickets::TicketRef;

/// The advisory lock that serialises changes to the collector's own alerts
/// (keyed by schema, so schemas sharing one database do not share it).
const COLLECTOR_ALERTS_LOCK: &str = "collector-alerts";

async fn link(
    c: &impl GenericClient,
    alert_id: i64,
    ticket_id: i64,
    event_id: i64,
    now: i64,
) -> Result<(), tokio_postgres::Error> {
    c.execute(
        "INSERT INTO alert_tickets (alert_id, ticket_id, linked_at, last_event_id, resolved_at)
         VALUES ($1, $2, $3, $4, NULL)
         ON CONFLICT (alert_id) DO UPDATE SET ticket_id = excluded.ticket_id,
           linked_at = excluded.linked_at, last_event_id = excluded.last_event_id, resolved_at = NULL",
        &[&alert_id, &ticket_id, &now, &event_id],
    )
    .await?;
    Ok(())
}

/// One batch of [`TicketLedger::prune_delivered_outbox`]: deletes up to
/// `limit` rows after `cursor`, the `(delivered_at, id)` of the last row the
/// previous batch deleted. Returns the deleted rows' positions.
async fn prune_delivered_batch(
    c: &impl GenericClient,
    delivered_before: i64,
    cursor: (i64, i64),
    limit: usize,
) -> Result<Vec<(i64, i64)>, tokio_postgres::Error> {
    let rows = c
        .query(
            "DELETE FROM alert_outbox WHERE id IN (
               SELECT o.id FROM alert_outbox o
               WHERE o.state = 'delivered' AND o.delivered_at < $1
                 AND (o.delivered_at, o.id) > ($2, $3)
                 AND EXISTS (SELECT 1 FROM alert_outbox later
                     WHERE later.alert_id = o.alert_id AND later.id > o.id)
                 AND NOT EXISTS (SELECT 1 FROM alert_tickets t
                     WHERE t.alert_id = o.alert_id AND t.last_event_id = o.id)
               ORDER BY o.delivered_at, o.id LIMIT $4)
             RETURNING delivered_at, id",
            &[
                &delivered_before,
                &cursor.0,
                &cursor.1,
                &i64::try_from(limit).unwrap_or(i64::MAX),
            ],
        )
        .await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}

#[async_trait]
impl TicketLedger for PostgresStore {
    async fn alert_ticket(&self, alert_id: i64) -> Result<Option<LinkedTicket>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT t.id, t.connector, t.external_id, t.url, a.last_event_id, a.resolved_at
                 FROM alert_tickets a JOIN tickets t ON t.id = a.ticket_id WHERE a.alert_id = $1",
                &[&alert_id],
            )
            .await?;
        Ok(row.map(|row| LinkedTicket {
            ticket_id: row.get(0),
            connector: row.get(1),
            reference: TicketRef {
                id: row.get(2),
                url: row.get(3),
            },
            last_event_id: row.get(4),
            alert_resolved: row.get::<_, Option<i64>>(5).is_some(),
        }))
    }

    async fn device_open_ticket(
        &self,
        device_id: &str,
        connector: &str,
        opened_since: i64,
    ) -> Result<Option<OpenTicket>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT id, external_id, url, opened_at FROM tickets
                 WHERE device_id = $1 AND connector = $2 AND closed_at IS NULL AND opened_at >= $3
                 ORDER BY opened_at DESC, id DESC LIMIT 1",
                &[&device_id, &connector, &opened_since],
            )
            .await?;
        Ok(row.map(|row| OpenTicket {
            ticket_id: row.get(0),
            reference: TicketRef {
                id: row.get(1),
                url: row.get(2),
            },
            opened_at: row.get(3),
        }))
    }

    async fn store_new_ticket(
        &self,
        alert_id: i64,
        event_id: i64,
        ticket: NewTicket,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let ticket_id: i64 = tx
            .query_one(
                "INSERT INTO tickets (connector, device_id, correlation_key, external_id, url, opened_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[
                    &ticket.connector,
                    &ticket.device_id,
                    &ticket.correlation_key,
                    &ticket.reference.id,
                    &ticket.reference.url,
                    &now,
                ],
            )
            .await?
            .get(0);
        link(&*tx, alert_id, ticket_id, event_id, now).await?;
        pg_alerts::mark_delivered(&tx, event_id, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn link_to_ticket(
        &self,
        alert_id: i64,
        event_id: i64,
        ticket_id: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        link(&*tx, alert_id, ticket_id, event_id, now).await?;
        pg_alerts::mark_delivered(&tx, event_id, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_ticket_event(
        &self,
        alert_id: i64,
        event_id: i64,
        alert_resolved: bool,
        close: Option<TicketClose>,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        tx.execute(
            "UPDATE alert_tickets SET last_event_id = $2,
               resolved_at = CASE WHEN $3 THEN $4 ELSE resolved_at END
             WHERE alert_id = $1",
            &[&alert_id, &event_id, &alert_resolved, &now],
        )
        .await?;
        if let Some(close) = close {
            tx.execute(
                "UPDATE tickets SET closed_at = $2, closed_as = $3
                 WHERE id = (SELECT ticket_id FROM alert_tickets WHERE alert_id = $1)",
                &[&alert_id, &now, &close.as_str()],
            )
            .await?;
        }
        pg_alerts::mark_delivered(&tx, event_id, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn other_open_alerts(&self, ticket_id: i64, alert_id: i64) -> Result<u64, StoreError> {
        let c = self.client().await?;
        let n: i64 = c
            .query_one(
                "SELECT COUNT(*) FROM alert_tickets
                 WHERE ticket_id = $1 AND alert_id <> $2 AND resolved_at IS NULL",
                &[&ticket_id, &alert_id],
            )
            .await?
            .get(0);
        Ok(n.max(0) as u64)
    }

    /// One statement, so every number comes from one snapshot.
    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_one(
                "SELECT COUNT(*) FILTER (WHERE state = 'pending'),
                        COUNT(*) FILTER (WHERE state = 'claimed'),
                        COUNT(*) FILTER (WHERE state = 'delivered' AND NOT skipped),
                        COUNT(*) FILTER (WHERE state = 'failed'),
                        MIN(created_at) FILTER (WHERE state IN ('pending', 'claimed')),
                        COUNT(*) FILTER (WHERE state = 'delivered' AND skipped)
                 FROM alert_outbox",
                &[],
            )
            .await?;
        let count = |i: usize| row.get::<_, i64>(i).max(0) as u64;
        Ok(OutboxStats {
            rows: vec![
                (OutboxState::Pending, count(0)),
                (OutboxState::Claimed, count(1)),
                (OutboxState::Delivered, count(2)),
                (OutboxState::Failed, count(3)),
            ],
            skipped: count(5),
            oldest_undelivered_at: row.get(4),
        })
    }

    async fn outbox_backlog(&self) -> Result<(u64, Option<i64>), StoreError> {
        let c = self.client().await?;
        let row = c
            .query_one(
                "SELECT COUNT(*), MIN(created_at) FROM alert_outbox WHERE state IN ('pending', 'claimed')",
                &[],
            )
            .await?;
        Ok((row.get::<_, i64>(0).max(0) as u64, row.get(1)))
    }

    async fn prune_delivered_outbox(
        &self,
        delivered_before: i64,
        batch_rows: usize,
    ) -> Result<PruneOutcome, StoreError> {
        let c = self.client().await?;
        let mut outcome = PruneOutcome::default();
        let mut cursor = (i64::MIN, i64::MIN);
        loop {
            // Each batch is its own transaction: short locks, ingest goes on.
            let deleted = prune_delivered_batch(&**c, delivered_before, cursor, batch_rows).await?;
            let Some(last) = deleted.iter().max() else {
                break;
            };
            cursor = *last;
            outcome.rows += deleted.len() as u64;
            outcome.batches += 1;
            if deleted.len() < batch_rows {
                break;
            }
        }
        Ok(outcome)
    }

    async fn requeue_failed(&self, now: i64) -> Result<u64, StoreError> {
        let c = self.client().await?;
        let n = c
            .execute(
                "UPDATE alert_outbox SET state = 'pending', attempts = 0, next_attempt_at = $1,
                   claimed_until = NULL
                 WHERE state = 'failed' AND NOT EXISTS (SELECT 1 FROM alert_outbox later
                   WHERE later.alert_id = alert_outbox.alert_id AND later.id > alert_outbox.id)",
                &[&now],
            )
            .await?;
        Ok(n)
    }

    /// The collector's alert lives in `alerts` like any other; the engine
    /// plans it ([`engine::plan_ticketing_failing`]) and this persists the
    /// plan, with the other collectors' workers waiting on the lock.
    async fn set_ticketing_failing(
        &self,
        summary: Option<String>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || '/' || $1, 0))",
            &[&COLLECTOR_ALERTS_LOCK],
        )
        .await?;
        let previous = pg_alerts::stored_alerts(&tx, COLLECTOR_DEVICE_ID)
            .await?
            .remove(&engine::ticketing_failing_key());
        let plan = engine::plan_ticketing_failing(previous.as_ref(), summary.as_deref(), now);
        pg_alerts::persist_plan(&tx, COLLECTOR_DEVICE_ID, &plan).await?;
        tx.commit().await?;
        Ok(plan.changes.iter().any(|change| change.history.is_some()))
    }
}
