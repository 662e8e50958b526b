//! What the console's web pages read beyond the rest of the store: a
//! device's disk history (the chart), the tickets of a device or of a page
//! of alerts (links), and a cheap mark of "something changed" that the live
//! updates poll; and the device list's free-text search.

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use forewarn_proto::pb;
use prost::Message;

use super::StoreError;
use crate::alerts::AlertRecord;
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
    /// The newest audit row: every change a person makes (a device moved,
    /// retired, restored or deleted, a user or token changed) writes one in
    /// the change's own transaction, including those the counts above miss.
    pub audited: i64,
}

/// The host facts of an encoded report and nothing else: the other fields
/// are stepped over, not decoded, so a search over every device stays cheap.
#[derive(Clone, PartialEq, Message)]
struct HostOnly {
    #[prost(message, optional, tag = "5")]
    host: Option<pb::HostFacts>,
}

/// Whether a device is found by the free text `needle` (already trimmed and
/// lowercase): its id starts with it, or its hostname, its group, its
/// serial number (as enrolled or as last reported), its model or its
/// primary user contains it, in any case. `report` is its latest encoded
/// report.
pub fn device_matches(
    needle: &str,
    id: &str,
    hostname: &str,
    group: &str,
    serial_number: &str,
    report: Option<&[u8]>,
) -> bool {
    let hit = |text: &str| text.to_lowercase().contains(needle);
    if id.starts_with(needle) || hit(hostname) || hit(group) || hit(serial_number) {
        return true;
    }
    let host = report.and_then(|r| HostOnly::decode(r).ok()?.host);
    host.is_some_and(|h| hit(&h.serial_number) || hit(&h.model) || hit(&h.primary_user))
}

/// Which alerts the fleet's pages read ([`PageReads::fleet_alerts`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetAlerts {
    /// Only firing and acknowledged ones: what the overview and the device
    /// list summarize (pending and resolved ones change nothing there).
    pub raised_only: bool,
    /// Only those of devices in these groups (the collector's own alerts
    /// have no group and are left out); `None`: every alert.
    pub groups: Option<Vec<String>>,
}

#[async_trait]
pub trait PageReads: Send + Sync {
    /// The alerts `which` asks for, in no order: the pages sort what they
    /// show, and a person scoped to groups costs only their groups' rows.
    async fn fleet_alerts(&self, which: FleetAlerts) -> Result<Vec<AlertRecord>, StoreError>;

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

    /// Ids of the devices (any group, retired too) the free text `text`
    /// finds, as [`device_matches`] decides: the one search of the device
    /// list, in the web pages and the API alike.
    async fn search_devices(&self, text: &str) -> Result<HashSet<String>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_looks_at_names_serials_model_and_user_but_only_the_start_of_the_id() {
        let report = pb::StatusReport {
            host: Some(pb::HostFacts {
                model: "ThinkPad T14".into(),
                serial_number: "PF3XYZ".into(),
                primary_user: "jdoe".into(),
                ..Default::default()
            }),
            disks: Some(pb::DiskCheck::default()),
            ..Default::default()
        }
        .encode_to_vec();
        let found = |needle: &str| {
            device_matches(
                needle,
                "d1f0",
                "LAPTOP-42",
                "lab",
                "ENROLLED-SN",
                Some(&report),
            )
        };
        for needle in [
            "laptop-4",
            "lab",
            "enrolled",
            "pf3x",
            "thinkpad t",
            "jdoe",
            "d1f",
        ] {
            assert!(found(needle), "{needle}");
        }
        for needle in ["f0", "server", "pf3xyz0"] {
            assert!(!found(needle), "{needle}");
        }
        assert!(!device_matches("jdoe", "d2", "vm", "lab", "", None));
        assert!(!device_matches(
            "jdoe",
            "d2",
            "vm",
            "lab",
            "",
            Some(b"not a report")
        ));
    }
}
