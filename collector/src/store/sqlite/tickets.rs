//! SQL for tickets on SQLite: alert-to-ticket links, the grouping lookup,
//! outbox statistics and the collector's own "ticketing is failing" alert.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use super::alerts as sqlite_alerts;
use crate::alerts::engine::{self, COLLECTOR_DEVICE_ID};
use crate::store::StoreError;
use crate::store::ledger::{
    LinkedTicket, NewTicket, OpenTicket, OutboxStats, PruneOutcome, TicketClose, TicketLedger,
};
use crate::store::outbox::OutboxState;
use crate::tickets::TicketRef;

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

/// One statement, so every number comes from one snapshot. The total is
/// SQLite's whole-table count, which walks the smallest index's pages without
/// reading entries; the undelivered states are ranges of the
/// `(state, next_attempt_at)` index, small unless delivery is failing; the
/// delivered rows, which are most of the table, are the difference. Grouping
/// by state read every entry instead: 18 ms at 200,000 rows, with ingest
/// waiting behind it on the one connection.
fn outbox_stats(c: &Connection) -> rusqlite::Result<OutboxStats> {
    let (total, pending, claimed, failed, skipped, oldest_undelivered_at): (
        i64,
        i64,
        i64,
        i64,
        i64,
        _,
    ) = c.query_row(
        "SELECT (SELECT COUNT(*) FROM alert_outbox),
                (SELECT COUNT(*) FROM alert_outbox WHERE state = 'pending'),
                (SELECT COUNT(*) FROM alert_outbox WHERE state = 'claimed'),
                (SELECT COUNT(*) FROM alert_outbox WHERE state = 'failed'),
                (SELECT COUNT(*) FROM alert_outbox WHERE skipped = 1),
                (SELECT MIN(created_at) FROM alert_outbox WHERE state IN ('pending', 'claimed'))",
        [],
        |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
            ))
        },
    )?;
    let count = |n: i64| n.max(0) as u64;
    Ok(OutboxStats {
        rows: vec![
            (OutboxState::Pending, count(pending)),
            (OutboxState::Claimed, count(claimed)),
            (
                OutboxState::Delivered,
                count(total - pending - claimed - failed - skipped),
            ),
            (OutboxState::Failed, count(failed)),
        ],
        skipped: count(skipped),
        oldest_undelivered_at,
    })
}

/// One batch of [`TicketLedger::prune_delivered_outbox`]: deletes up to
/// `limit` rows after `cursor`, the `(delivered_at, id)` of the last row
/// the previous batch deleted, so the rows kept are stepped over once per
/// prune rather than once per batch. Returns the deleted rows' positions.
fn prune_delivered_batch(
    c: &Connection,
    delivered_before: i64,
    cursor: (i64, i64),
    limit: usize,
) -> rusqlite::Result<Vec<(i64, i64)>> {
    let mut statement = c.prepare_cached(
        "DELETE FROM alert_outbox WHERE id IN (
           SELECT o.id FROM alert_outbox o
           WHERE o.state = 'delivered' AND o.delivered_at < ?1
             AND (o.delivered_at, o.id) > (?2, ?3)
             AND EXISTS (SELECT 1 FROM alert_outbox later
                 WHERE later.alert_id = o.alert_id AND later.id > o.id)
             AND NOT EXISTS (SELECT 1 FROM alert_tickets t
                 WHERE t.alert_id = o.alert_id AND t.last_event_id = o.id)
           ORDER BY o.delivered_at, o.id LIMIT ?4)
         RETURNING delivered_at, id",
    )?;
    statement
        .query_map(
            params![
                delivered_before,
                cursor.0,
                cursor.1,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?
        .collect()
}

fn outbox_backlog(c: &Connection) -> rusqlite::Result<(u64, Option<i64>)> {
    c.query_row(
        "SELECT COUNT(*), MIN(created_at) FROM alert_outbox INDEXED BY alert_outbox_queue
         WHERE state IN ('pending', 'claimed')",
        [],
        |row| Ok((row.get::<_, i64>(0)?.max(0) as u64, row.get(1)?)),
    )
}

/// The collector's alert lives in `alerts` like any other, so `alerts list`
/// and the dashboard show it; its changes are in `alert_transitions`. The
/// engine plans it ([`engine::plan_ticketing_failing`]); this persists the plan.
fn set_ticketing_failing(
    c: &Connection,
    summary: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    let previous = sqlite_alerts::stored_alerts(c, COLLECTOR_DEVICE_ID)?
        .remove(&engine::ticketing_failing_key());
    let plan = engine::plan_ticketing_failing(previous.as_ref(), summary, now);
    sqlite_alerts::persist_plan(c, COLLECTOR_DEVICE_ID, &plan)?;
    Ok(plan.changes.iter().any(|change| change.history.is_some()))
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
            sqlite_alerts::mark_delivered(&tx, event_id, now)?;
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
            sqlite_alerts::mark_delivered(&tx, event_id, now)?;
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
            sqlite_alerts::mark_delivered(&tx, event_id, now)?;
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

    async fn prune_delivered_outbox(
        &self,
        delivered_before: i64,
        batch_rows: usize,
    ) -> Result<PruneOutcome, StoreError> {
        let mut outcome = PruneOutcome::default();
        let mut cursor = (i64::MIN, i64::MIN);
        loop {
            // Each batch takes the connection anew: ingest and the worker get
            // their turn in between.
            let deleted = self
                .with_connection(move |c| {
                    Ok(prune_delivered_batch(
                        c,
                        delivered_before,
                        cursor,
                        batch_rows,
                    )?)
                })
                .await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::outbox::OutboxDelivery;

    const DAY: i64 = 86_400;
    const NOW: i64 = 1_795_000_000;
    const RETAIN_FROM: i64 = NOW - 30 * DAY;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap();
        (dir, store)
    }

    /// Writes outbox rows `(alert id, state, time)` directly (the time is when a
    /// row is due, or when a delivered row was delivered): ages
    /// and states that reports and deliveries would take weeks to produce.
    /// Returns their ids.
    async fn insert(store: &SqliteStore, rows: &[(i64, &str, i64)]) -> Vec<i64> {
        let rows: Vec<(i64, String, i64)> = rows
            .iter()
            .map(|(alert, state, at)| (*alert, (*state).to_owned(), *at))
            .collect();
        store
            .with_connection(move |c| {
                let mut ids = Vec::new();
                for (alert, state, at) in rows {
                    c.execute(
                        "INSERT OR IGNORE INTO alerts (id, device_id, rule, subject, state,
                             first_seen, last_seen, summary)
                         VALUES (?1, 'd1', 'backup_failed', ?1, 'resolved', 0, 0, 'backup')",
                        [alert],
                    )?;
                    ids.push(c.query_row(
                        "INSERT INTO alert_outbox (alert_id, event, payload, created_at, state,
                             next_attempt_at, delivered_at)
                         VALUES (?1, 'opened', '{}', ?3, ?2, ?3,
                             CASE WHEN ?2 = 'delivered' THEN ?3 END) RETURNING id",
                        params![alert, state, at],
                        |row| row.get(0),
                    )?);
                }
                Ok(ids)
            })
            .await
            .unwrap()
    }

    async fn remaining(store: &SqliteStore) -> Vec<i64> {
        store
            .with_connection(|c| {
                let mut statement = c.prepare("SELECT id FROM alert_outbox ORDER BY id")?;
                Ok(statement
                    .query_map([], |row| row.get(0))?
                    .collect::<rusqlite::Result<_>>()?)
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn delivered_rows_past_retention_are_pruned_and_recent_ones_kept() {
        let (_dir, store) = store();
        let ids = insert(
            &store,
            &[
                (1, "delivered", NOW - 40 * DAY),
                (1, "delivered", RETAIN_FROM - 1),
                (1, "delivered", RETAIN_FROM),
                (1, "delivered", NOW - DAY),
            ],
        )
        .await;
        let outcome = store
            .prune_delivered_outbox(RETAIN_FROM, 500)
            .await
            .unwrap();
        assert_eq!(
            outcome,
            PruneOutcome {
                rows: 2,
                batches: 1
            }
        );
        assert_eq!(remaining(&store).await, ids[2..]);
    }

    #[tokio::test]
    async fn pending_claimed_and_failed_rows_are_kept_whatever_their_age() {
        let (_dir, store) = store();
        let ids = insert(
            &store,
            &[
                (1, "pending", NOW - 400 * DAY),
                (1, "claimed", NOW - 400 * DAY),
                (1, "failed", NOW - 400 * DAY),
                (1, "delivered", NOW - DAY),
            ],
        )
        .await;
        let outcome = store
            .prune_delivered_outbox(RETAIN_FROM, 500)
            .await
            .unwrap();
        assert_eq!(outcome.rows, 0);
        assert_eq!(remaining(&store).await, ids);
    }

    #[tokio::test]
    async fn each_alerts_newest_row_and_its_tickets_last_applied_row_are_kept() {
        let (_dir, store) = store();
        let old = NOW - 60 * DAY;
        let ids = insert(
            &store,
            &[
                (1, "delivered", old),
                (2, "delivered", old),
                (2, "delivered", old + 1),
                (2, "delivered", old + 2),
            ],
        )
        .await;
        // Alert 2's ticket last applied its second row (the third was an
        // event its policy ignores).
        let applied = ids[2];
        store
            .with_connection(move |c| {
                c.execute(
                    "INSERT INTO tickets (id, connector, device_id, correlation_key, external_id, opened_at)
                     VALUES (1, 'rt', 'd1', 'd1/backup_failed/2', '42', 0)",
                    [],
                )?;
                c.execute(
                    "INSERT INTO alert_tickets (alert_id, ticket_id, linked_at, last_event_id)
                     VALUES (2, 1, 0, ?1)",
                    [applied],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        let outcome = store
            .prune_delivered_outbox(RETAIN_FROM, 500)
            .await
            .unwrap();
        assert_eq!(outcome.rows, 1);
        assert_eq!(remaining(&store).await, [ids[0], ids[2], ids[3]]);
    }

    #[tokio::test]
    async fn prune_deletes_in_batches_of_at_most_the_batch_size() {
        let (_dir, store) = store();
        let mut rows: Vec<(i64, &str, i64)> = (0..5)
            .map(|i| (1, "delivered", NOW - 90 * DAY + i))
            .collect();
        rows.push((1, "delivered", NOW));
        let ids = insert(&store, &rows).await;
        let outcome = store.prune_delivered_outbox(RETAIN_FROM, 2).await.unwrap();
        assert_eq!(
            outcome,
            PruneOutcome {
                rows: 5,
                batches: 3
            }
        );
        assert_eq!(remaining(&store).await, [ids[5]]);
    }

    #[tokio::test]
    async fn outbox_ids_keep_rising_after_a_prune() {
        let (_dir, store) = store();
        let old = NOW - 90 * DAY;
        let ids = insert(&store, &[(1, "delivered", old), (1, "delivered", old + 1)]).await;
        let outcome = store
            .prune_delivered_outbox(RETAIN_FROM, 500)
            .await
            .unwrap();
        assert_eq!(outcome.rows, 1);
        // SQLite hands out max(id) + 1: were the newest row deleted too, ids
        // would start again from 1, and the worker would skip the next events
        // as applied before (their ids at or below a ticket's last_event_id).
        let next = insert(&store, &[(1, "pending", NOW)]).await;
        assert_eq!(next[0], ids[1] + 1, "{next:?} after {ids:?}");
    }

    #[tokio::test]
    async fn retention_counts_from_delivery_not_from_creation() {
        let (_dir, store) = store();
        let ids = insert(
            &store,
            &[
                (1, "pending", NOW - 40 * DAY),
                (1, "pending", NOW - 40 * DAY),
            ],
        )
        .await;
        // Delivered after the ticket system was down for weeks.
        for id in &ids {
            store.mark_delivered(*id, NOW - DAY).await.unwrap();
        }
        let first = ids[0];
        let (created_at, delivered_at): (i64, i64) = store
            .with_connection(move |c| {
                Ok(c.query_row(
                    "SELECT created_at, delivered_at FROM alert_outbox WHERE id = ?1",
                    [first],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )?)
            })
            .await
            .unwrap();
        assert_eq!((created_at, delivered_at), (NOW - 40 * DAY, NOW - DAY));
        let outcome = store
            .prune_delivered_outbox(RETAIN_FROM, 500)
            .await
            .unwrap();
        assert_eq!(outcome.rows, 0);
    }

    #[tokio::test]
    async fn prune_of_a_locked_database_is_an_error_and_deletes_nothing() {
        let (dir, store) = store();
        let ids = insert(
            &store,
            &[(1, "delivered", NOW - 90 * DAY), (1, "delivered", NOW)],
        )
        .await;
        // Another process (an admin command) holds the write lock past the
        // busy timeout.
        let other = Connection::open(dir.path().join("db.sqlite3")).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let err = store
            .prune_delivered_outbox(RETAIN_FROM, 500)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("locked"), "{err}");
        other.execute_batch("COMMIT").unwrap();
        assert_eq!(remaining(&store).await, ids);
        let outcome = store
            .prune_delivered_outbox(RETAIN_FROM, 500)
            .await
            .unwrap();
        assert_eq!(outcome.rows, 1);
    }

    #[tokio::test]
    async fn outbox_stats_count_every_state_and_the_oldest_undelivered_row() {
        let (_dir, store) = store();
        insert(
            &store,
            &[
                (1, "delivered", NOW - 3 * DAY),
                (1, "delivered", NOW - 2 * DAY),
                (2, "failed", NOW - 2 * DAY),
                (2, "claimed", NOW - 300),
                (3, "delivered", NOW - DAY),
                (3, "pending", NOW - 200),
                (4, "pending", NOW - 100),
            ],
        )
        .await;
        let stats = store.outbox_stats().await.unwrap();
        assert_eq!(
            stats.rows,
            [
                (OutboxState::Pending, 2),
                (OutboxState::Claimed, 1),
                (OutboxState::Delivered, 3),
                (OutboxState::Failed, 1),
            ]
        );
        assert_eq!(stats.oldest_undelivered_at, Some(NOW - 300));
        assert_eq!(store.outbox_backlog().await.unwrap(), (3, Some(NOW - 300)));
    }
}
