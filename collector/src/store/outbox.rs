//! The notification outbox: rows written in the same transaction as the
//! alert change that calls for them (schema in `docs/outbox.md`), each
//! carrying one typed [`Notification`], and the interface a notifier (the
//! ticket worker) uses to deliver them.
//!
//! Delivery is at-least-once: a claim is a lease; a notifier that dies
//! mid-batch leaves its rows to be claimed again once the lease runs out, so
//! consumers deduplicate on the event id.

use async_trait::async_trait;

use super::StoreError;
use crate::alerts::notification::Notification;

/// Where an outbox row is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    Pending,
    Claimed,
    Delivered,
    /// Gave up after too many attempts; kept for the operator.
    Failed,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Claimed => "claimed",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Claimed, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// One notification to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    pub id: i64,
    pub alert_id: i64,
    /// The `event` column: `opened`, `escalated`, `deescalated`, `resolved`,
    /// `flapping` or `reminder` (as stored, for listings).
    pub event: String,
    /// The notification the engine wrote, or why the stored payload is not
    /// one (a notifier gives such a row up with that reason; it never stops
    /// the rows behind it).
    pub notification: Result<Notification, String>,
    pub created_at: i64,
    pub state: OutboxState,
    pub attempts: u32,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
}

/// What a notifier needs from the store.
#[async_trait]
pub trait OutboxDelivery: Send + Sync {
    /// Claims up to `limit` due rows (pending, or claimed with an expired
    /// lease) in creation order, for `lease_secs`; counts an attempt on each.
    async fn claim_outbox(
        &self,
        limit: usize,
        lease_secs: u64,
        now: i64,
    ) -> Result<Vec<OutboxEvent>, StoreError>;
    /// The row was delivered; it is never claimed again.
    async fn mark_delivered(&self, id: i64, now: i64) -> Result<(), StoreError>;
    /// The row needed nothing sent (no ticket policy matched it): done like
    /// a delivered one, but counted apart in [`super::ledger::OutboxStats`].
    async fn mark_skipped(&self, id: i64, now: i64) -> Result<(), StoreError>;
    /// Delivery failed; retry at `retry_at`, or give up (`failed`) when `None`.
    async fn mark_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StoreError>;
    /// Rows in `state`, oldest first (for operators and tests).
    async fn outbox_in_state(&self, state: OutboxState) -> Result<Vec<OutboxEvent>, StoreError>;
}
