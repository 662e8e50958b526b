//! SQL for tickets on SQLite: alert-to-ticket links, the grouping lookup,
//! outbox statistics and the collector's own "ticketing is failing" alert.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::sqlite::SqliteStore;
use super::sqlite_alerts;
use crate::alerts::outbox::OutboxState;
use crate::rules::RuleId;
use crate::tickets::TicketRef;
use crate::tickets::ledger::{
    COLLECTOR_DEVICE_ID, LinkedTicket, NewTicket, OpenTicket, OutboxStats, TicketClose,
    TicketLedger,
};

fn alert_ticket(c: &Connection, alert_id: i64) -> rusqlite::Result<Option<LinkedTicket>> {
    c.query_row(
        "SELECT t.id, t.connector, t.external_id, t.url, a.last_event_id, a.resolved_at
         FROM alert_tickets a JOIN tickets t ON t.id = a.ticket_id WHERE a.alert_id = ?1",
        [alert_id],
        |row| {
            Ok(LinkedTicket {
                ticket_id: row.get(0)?,
                connector: row.get(1)?,
                reference: TicketRef {
                    id: row.get(2)?,
                    url: row.get(3)?,
                },
                last_event_id: row.get(4)?,
                alert_resolved: row.get::<_, Option<i64>>(5)?.is_some(),
            })
        },
    )
    .optional()
}

fn link(
    c: &Connection,
    alert_id: i64,
    ticket_id: i64,
    event_id: i64,
    now: i64,
) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO alert_tickets (alert_id, ticket_id, linked_at, last_event_id, resolved_at)
         VALUES (?1, ?2, ?3, ?4, NULL)
         ON CONFLICT (alert_id) DO UPDATE SET ticket_id = excluded.ticket_id,
           linked_at = excluded.linked_at, last_event_id = excluded.last_event_id, resolved_at = NULL",
        params![alert_id, ticket_id, now, event_id],
    )?;
    Ok(())
}

fn outbox_stats(c: &Connection) -> rusqlite::Result<OutboxStats> {
    let mut statement = c.prepare("SELECT state, COUNT(*) FROM alert_outbox GROUP BY state")?;
    let counted: Vec<(String, i64)> = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let rows = [
        OutboxState::Pending,
        OutboxState::Claimed,
        OutboxState::Delivered,
        OutboxState::Failed,
    ]
    .into_iter()
    .map(|state| {
        let n = counted
            .iter()
            .find(|(s, _)| s == state.as_str())
            .map_or(0, |(_, n)| (*n).max(0) as u64);
        (state, n)
    })
    .collect();
    Ok(OutboxStats {
        rows,
        oldest_undelivered_at: outbox_backlog(c)?.1,
    })
}

fn outbox_backlog(c: &Connection) -> rusqlite::Result<(u64, Option<i64>)> {
    c.query_row(
        "SELECT COUNT(*), MIN(created_at) FROM alert_outbox WHERE state IN ('pending', 'claimed')",
        [],
        |row| Ok((row.get::<_, i64>(0)?.max(0) as u64, row.get(1)?)),
    )
}

/// The collector's alert lives in `alerts` like any other, so `alerts list`
/// and the dashboard show it; its changes are in `alert_transitions`. It has no
/// outbox row: the ticket system is what is failing. An acknowledgement holds
/// until it resolves.
fn set_ticketing_failing(
    c: &Connection,
    summary: Option<&str>,
    now: i64,
) -> rusqlite::Result<bool> {
    let rule = RuleId::TicketingFailing.as_str();
    let firing: Option<i64> = c
        .query_row(
            "SELECT id FROM alerts WHERE device_id = ?1 AND rule = ?2 AND subject = ''
               AND state IN ('firing', 'acknowledged')",
            params![COLLECTOR_DEVICE_ID, rule],
            |row| row.get(0),
        )
        .optional()?;
    match (summary, firing) {
        (Some(summary), Some(id)) => {
            c.execute(
                "UPDATE alerts SET summary = ?2, last_seen = ?3 WHERE id = ?1",
                params![id, summary, now],
            )?;
            Ok(false)
        }
        (Some(summary), None) => {
            let id: i64 = c.query_row(
                "INSERT INTO alerts (device_id, rule, subject, state, severity, notified_severity,
                     first_seen, last_seen, summary)
                 VALUES (?1, ?2, '', 'firing', 'critical', 'critical', ?3, ?3, ?4)
                 ON CONFLICT (device_id, rule, subject) DO UPDATE SET state = 'firing',
                     severity = 'critical', notified_severity = 'critical',
                     first_seen = excluded.first_seen, last_seen = excluded.last_seen,
                     summary = excluded.summary, acknowledged_by = NULL, acknowledged_at = NULL
                 RETURNING id",
                params![COLLECTOR_DEVICE_ID, rule, now, summary],
                |row| row.get(0),
            )?;
            sqlite_alerts::record_transition(
                c,
                id,
                now,
                None,
                Some("critical"),
                "opened",
                summary,
            )?;
            Ok(true)
        }
        (None, Some(id)) => {
            let summary = "ticket operations are being delivered again";
            c.execute(
                "UPDATE alerts SET state = 'resolved', severity = NULL, notified_severity = NULL,
                     last_seen = ?2, summary = ?3, acknowledged_by = NULL, acknowledged_at = NULL
                 WHERE id = ?1",
                params![id, now, summary],
            )?;
            sqlite_alerts::record_transition(
                c,
                id,
                now,
                Some("critical"),
                None,
                "resolved",
                summary,
            )?;
            Ok(true)
        }
        (None, None) => Ok(false),
    }
}

#[async_trait]
impl TicketLedger for SqliteStore {
    async fn alert_ticket(&self, alert_id: i64) -> Result<Option<LinkedTicket>, StoreError> {
        self.with_connection(move |c| Ok(alert_ticket(c, alert_id)?))
            .await
    }

    async fn device_open_ticket(
        &self,
        device_id: &str,
        connector: &str,
        opened_since: i64,
    ) -> Result<Option<OpenTicket>, StoreError> {
        let (device_id, connector) = (device_id.to_owned(), connector.to_owned());
        self.with_connection(move |c| {
            Ok(c.query_row(
                "SELECT id, external_id, url, opened_at FROM tickets
                 WHERE device_id = ?1 AND connector = ?2 AND closed_at IS NULL AND opened_at >= ?3
                 ORDER BY opened_at DESC, id DESC LIMIT 1",
                params![device_id, connector, opened_since],
                |row| {
                    Ok(OpenTicket {
                        ticket_id: row.get(0)?,
                        reference: TicketRef {
                            id: row.get(1)?,
                            url: row.get(2)?,
                        },
                        opened_at: row.get(3)?,
                    })
                },
            )
            .optional()?)
        })
        .await
    }

    async fn store_new_ticket(
        &self,
        alert_id: i64,
        event_id: i64,
        ticket: NewTicket,
        now: i64,
    ) -> Result<(), StoreError> {
        self.with_connection(move |c| {
            let tx = c.transaction()?;
            let ticket_id: i64 = tx.query_row(
                "INSERT INTO tickets (connector, device_id, correlation_key, external_id, url, opened_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
                params![
                    ticket.connector,
                    ticket.device_id,
                    ticket.correlation_key,
                    ticket.reference.id,
                    ticket.reference.url,
                    now
                ],
                |row| row.get(0),
            )?;
            link(&tx, alert_id, ticket_id, event_id, now)?;
            sqlite_alerts::mark_delivered(&tx, event_id)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn link_to_ticket(
        &self,
        alert_id: i64,
        event_id: i64,
        ticket_id: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        self.with_connection(move |c| {
            let tx = c.transaction()?;
            link(&tx, alert_id, ticket_id, event_id, now)?;
            sqlite_alerts::mark_delivered(&tx, event_id)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn record_ticket_event(
        &self,
        alert_id: i64,
        event_id: i64,
        alert_resolved: bool,
        close: Option<TicketClose>,
        now: i64,
    ) -> Result<(), StoreError> {
        self.with_connection(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE alert_tickets SET last_event_id = ?2,
                   resolved_at = CASE WHEN ?3 THEN ?4 ELSE resolved_at END
                 WHERE alert_id = ?1",
                params![alert_id, event_id, alert_resolved, now],
            )?;
            if let Some(close) = close {
                tx.execute(
                    "UPDATE tickets SET closed_at = ?2, closed_as = ?3
                     WHERE id = (SELECT ticket_id FROM alert_tickets WHERE alert_id = ?1)",
                    params![alert_id, now, close.as_str()],
                )?;
            }
            sqlite_alerts::mark_delivered(&tx, event_id)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn other_open_alerts(&self, ticket_id: i64, alert_id: i64) -> Result<u64, StoreError> {
        self.with_connection(move |c| {
            let n: i64 = c.query_row(
                "SELECT COUNT(*) FROM alert_tickets
                 WHERE ticket_id = ?1 AND alert_id <> ?2 AND resolved_at IS NULL",
                params![ticket_id, alert_id],
                |row| row.get(0),
            )?;
            Ok(n.max(0) as u64)
        })
        .await
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        self.with_connection(|c| Ok(outbox_stats(c)?)).await
    }

    async fn outbox_backlog(&self) -> Result<(u64, Option<i64>), StoreError> {
        self.with_connection(|c| Ok(outbox_backlog(c)?)).await
    }

    async fn requeue_failed(&self, now: i64) -> Result<u64, StoreError> {
        self.with_connection(move |c| {
            let n = c.execute(
                "UPDATE alert_outbox SET state = 'pending', attempts = 0, next_attempt_at = ?1,
                   claimed_until = NULL
                 WHERE state = 'failed' AND NOT EXISTS (SELECT 1 FROM alert_outbox later
                   WHERE later.alert_id = alert_outbox.alert_id AND later.id > alert_outbox.id)",
                [now],
            )?;
            Ok(n as u64)
        })
        .await
    }

    async fn set_ticketing_failing(
        &self,
        summary: Option<String>,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.with_connection(move |c| {
            let tx = c.transaction()?;
            let changed = set_ticketing_failing(&tx, summary.as_deref(), now)?;
            tx.commit()?;
            Ok(changed)
        })
        .await
    }
}
