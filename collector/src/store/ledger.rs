//! What the ticket worker keeps in the store: which ticket belongs to which
//! alert, and the collector's own "ticketing is failing" alert.
//!
//! Every method that records the effect of an outbox row also marks that row
//! delivered, in the same transaction: the ticket reference is stored before,
//! or together with, the row's end, never after it.

use async_trait::async_trait;

use super::StoreError;
use super::outbox::OutboxState;
use crate::tickets::TicketRef;

/// The ticket of an alert's current (or last) episode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedTicket {
    /// Row id in the `tickets` table.
    pub ticket_id: i64,
    /// Name of the connector (`[tickets.connectors.NAME]`) the ticket lives in.
    pub connector: String,
    pub reference: TicketRef,
    /// The last outbox row applied to this alert's ticket.
    pub last_event_id: i64,
    /// The alert recovered (its episode on this ticket is over).
    pub alert_resolved: bool,
}

/// A ticket the collector still tracks, for the grouping window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenTicket {
    pub ticket_id: i64,
    pub reference: TicketRef,
    pub opened_at: i64,
}

/// A ticket just opened (or found open) for an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTicket {
    pub connector: String,
    pub device_id: String,
    pub correlation_key: String,
    pub reference: TicketRef,
}

/// How the collector stops tracking a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketClose {
    /// Resolved in the ticket system on recovery.
    Resolved,
    /// Left open: a technician worked it, or the policy does not resolve.
    LeftOpen,
}

impl TicketClose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Resolved => "resolved",
            Self::LeftOpen => "left_open",
        }
    }
}

/// Outbox rows per state and the age of the oldest undelivered one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Every state with its row count (states without rows count 0);
    /// `Delivered` leaves out the skipped rows.
    pub rows: Vec<(OutboxState, u64)>,
    /// Rows done without sending anything ([`super::outbox::OutboxDelivery::mark_skipped`]).
    pub skipped: u64,
    /// `created_at` of the oldest pending or claimed row.
    pub oldest_undelivered_at: Option<i64>,
}

/// What one prune of delivered outbox rows did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneOutcome {
    /// Rows deleted.
    pub rows: u64,
    /// Transactions it took (each deleted at most the batch size).
    pub batches: u64,
}

#[async_trait]
pub trait TicketLedger: Send + Sync {
    /// The alert's ticket link, if it ever had one.
    async fn alert_ticket(&self, alert_id: i64) -> Result<Option<LinkedTicket>, StoreError>;

    /// The newest ticket on `connector` for `device_id` that is still tracked
    /// and was opened at or after `opened_since`.
    async fn device_open_ticket(
        &self,
        device_id: &str,
        connector: &str,
        opened_since: i64,
    ) -> Result<Option<OpenTicket>, StoreError>;

    /// Records a ticket opened (or found) for the alert's new episode and
    /// marks the outbox row delivered, in one transaction.
    async fn store_new_ticket(
        &self,
        alert_id: i64,
        event_id: i64,
        ticket: NewTicket,
        now: i64,
    ) -> Result<(), StoreError>;

    /// Links the alert's new episode to an existing ticket (grouping) and marks
    /// the outbox row delivered, in one transaction.
    async fn link_to_ticket(
        &self,
        alert_id: i64,
        event_id: i64,
        ticket_id: i64,
        now: i64,
    ) -> Result<(), StoreError>;

    /// Records an event applied to the alert's ticket (a comment, the alert's
    /// recovery, the ticket's close) and marks the outbox row delivered.
    async fn record_ticket_event(
        &self,
        alert_id: i64,
        event_id: i64,
        alert_resolved: bool,
        close: Option<TicketClose>,
        now: i64,
    ) -> Result<(), StoreError>;

    /// Alerts other than `alert_id` on the ticket that have not recovered.
    async fn other_open_alerts(&self, ticket_id: i64, alert_id: i64) -> Result<u64, StoreError>;

    /// Rows per state and the oldest undelivered row, for `/metrics`.
    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError>;

    /// Undelivered (pending or claimed) rows and the oldest one's `created_at`.
    /// Cheaper than [`Self::outbox_stats`]: it never counts delivered rows,
    /// which pile up; the worker asks after every round.
    async fn outbox_backlog(&self) -> Result<(u64, Option<i64>), StoreError>;

    /// Deletes `delivered` rows delivered before `delivered_before`, at most
    /// `batch_rows` per transaction so ingest never waits long behind it.
    /// Pending, claimed and failed rows are never deleted, nor two kinds of
    /// delivered row the outbox's logic still reads: each alert's newest row
    /// (it keeps ids rising, as the worker skips an id at or below
    /// `last_event_id`, and keeps [`Self::requeue_failed`] from reviving a
    /// superseded failure) and the row each ticket link last applied.
    async fn prune_delivered_outbox(
        &self,
        delivered_before: i64,
        batch_rows: usize,
    ) -> Result<PruneOutcome, StoreError>;

    /// Returns `failed` rows that are their alert's newest event to `pending`,
    /// due at `now` with a fresh attempt count. Returns how many.
    async fn requeue_failed(&self, now: i64) -> Result<u64, StoreError>;

    /// Raises (`Some(summary)`, updating the summary while it fires) or
    /// resolves (`None`) the collector's "ticketing is failing" alert. Returns
    /// whether it changed between firing and resolved.
    async fn set_ticketing_failing(
        &self,
        summary: Option<String>,
        now: i64,
    ) -> Result<bool, StoreError>;
}
