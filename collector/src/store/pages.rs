//! What the console's web pages read beyond the rest of the store: a
//! device's disk history (the chart), the tickets of a device or of a page
//! of alerts (links), and a cheap mark of "something changed" that the live
//! updates poll.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::StoreError;
use crate::rules::forecast::DiskSample;
use crate::tickets::TicketRef;

/// The ticket linked to an alert's current (or last) episode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketLink {
    pub alert_id: i64,
    pub device_id: String,
    /// Name of the connector (`[tickets.connectors.NAME]`) the ticket lives in.
    pub connector: String,
    pub reference: TicketRef,
    pub opened_at: i64,
    /// When the collector stopped tracking it, and how (`resolved`, `left_open`).
    pub closed_at: Option<i64>,
    pub closed_as: Option<String>,
}

/// Numbers that change whenever a page could show something new: a report
/// stored, a device enrolled, retired or moved, an alert changed or
/// acknowledged, a silence added or ended. Compared for equality only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChangeMark {
    pub devices: i64,
    pub reports: i64,
    pub last_seen_at: i64,
    pub retired: i64,
    pub alert_changes: i64,
    pub silences: i64,
}

#[async_trait]
pub trait PageReads: Send + Sync {
    /// Disk samples of the device at or after `since`, by mount point,
    /// oldest first.
    async fn disk_history(
        &self,
        device_id: &str,
        since: i64,
    ) -> Result<BTreeMap<String, Vec<DiskSample>>, StoreError>;

    /// Tickets linked to the device's alerts, newest first.
    async fn device_tickets(&self, device_id: &str) -> Result<Vec<TicketLink>, StoreError>;

    /// Tickets linked to these alerts (those without one are left out).
    async fn alert_tickets(&self, alert_ids: &[i64]) -> Result<Vec<TicketLink>, StoreError>;

    /// The current [`ChangeMark`]; cheap enough to ask every second.
    async fn change_mark(&self) -> Result<ChangeMark, StoreError>;
}
