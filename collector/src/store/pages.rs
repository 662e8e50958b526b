//! What the console's web pages read beyond the rest of the store: a
//! device's disk history (the chart), the tickets of a device or of a page
//! of alerts (links), and a cheap mark of "something changed" that the live
//! updates poll; and the device list's free-text search.
//!
//! The list pages of a fleet of thousands read what they show, not the
//! whole fleet: alerts counted per device and domain in one grouped query
//! ([`PageReads::alert_counts`]), and full alert rows only for the page or
//! card shown, filtered, sorted and cut in SQL ([`PageReads::fleet_alerts`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use forewarn_proto::pb;
use prost::Message;

use super::StoreError;
use crate::alerts::{AlertRecord, AlertStatus};
use crate::console::api::views::domain;
use crate::rules::RuleId;
use crate::rules::forecast::DiskSample;
use crate::severity::Severity;
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

/// The order of [`PageReads::fleet_alerts`]; ties end on the alert id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AlertOrder {
    /// One column, then the id, both ascending or both descending: the
    /// API's sorts, whose pages follow a keyset ([`FleetAlerts::after`]).
    Keyed {
        column: AlertColumn,
        descending: bool,
    },
    /// Last change first (`last_seen`, then id, both descending): the alert list.
    #[default]
    LastSeen,
    /// Worst first: critical, warning, info, none; then last change first;
    /// then the lowest id: the overview's cards.
    Worst,
    /// Newest first (`first_seen`, then id, both descending): the
    /// overview's newest alerts.
    Newest,
}

/// The column an [`AlertOrder::Keyed`] order sorts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertColumn {
    LastSeen,
    FirstSeen,
    /// By [`severity_rank`]: none, info, warning, critical.
    Severity,
}

impl AlertColumn {
    /// The SQL expression of this column over `alerts a` (both backends).
    fn sql(self) -> &'static str {
        match self {
            AlertColumn::LastSeen => "a.last_seen",
            AlertColumn::FirstSeen => "a.first_seen",
            AlertColumn::Severity => SEVERITY_RANK_SQL,
        }
    }

    /// This column's value for `alert`, as [`AlertColumn::sql`] reads it:
    /// what a keyset cursor holds.
    pub fn value(self, alert: &AlertRecord) -> i64 {
        match self {
            AlertColumn::LastSeen => alert.last_seen,
            AlertColumn::FirstSeen => alert.first_seen,
            AlertColumn::Severity => severity_rank(alert.severity),
        }
    }
}

/// Which alerts the fleet's pages read ([`PageReads::fleet_alerts`],
/// [`PageReads::count_alerts`]). The default: every alert, last change first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetAlerts {
    /// Only firing and acknowledged ones: what needs someone (pending and
    /// resolved ones change nothing on the overview and the device list).
    pub raised_only: bool,
    /// Only alerts in this state.
    pub state: Option<AlertStatus>,
    /// Only alerts of this severity.
    pub severity: Option<Severity>,
    /// Only alerts of these rules; empty: every rule.
    pub rules: Vec<RuleId>,
    /// Only alerts of this device.
    pub device_id: Option<String>,
    /// Only those of devices in these groups (the collector's own alerts
    /// have no group and are left out); `None`: every alert.
    pub groups: Option<Vec<String>>,
    /// Only alerts last seen at or after this time (Unix seconds).
    pub last_seen_from: Option<i64>,
    /// Only alerts last seen before this time.
    pub last_seen_before: Option<i64>,
    pub order: AlertOrder,
    /// Only those after this `(column value, id)` in an
    /// [`AlertOrder::Keyed`] order (ignored by the others and by
    /// [`PageReads::count_alerts`]): the next page starts right after the
    /// last row of the previous one, whatever changed meanwhile.
    pub after: Option<(i64, i64)>,
    /// At most this many, after skipping `offset` ([`PageReads::count_alerts`]
    /// ignores both); `None`: all.
    pub limit: Option<usize>,
    pub offset: usize,
}

impl FleetAlerts {
    /// The rule ids to keep, as stored: every known rule when none is
    /// named, so rows of rules this version no longer knows are left out
    /// of counts as they are of lists.
    pub fn rule_names(&self) -> Vec<&'static str> {
        if self.rules.is_empty() {
            RuleId::ALL.iter().map(|r| r.as_str()).collect()
        } else {
            self.rules.iter().map(|r| r.as_str()).collect()
        }
    }
}

/// The pending, firing and acknowledged alerts of one device (or of the
/// collector itself) in one domain (see [`domain`]), counted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AlertCounts {
    pub device_id: String,
    pub domain: &'static str,
    pub pending: usize,
    pub firing: usize,
    pub acknowledged: usize,
    /// Firing or acknowledged ones of critical severity.
    pub critical: usize,
}

impl AlertCounts {
    /// Firing or acknowledged: what needs someone.
    pub fn raised(&self) -> usize {
        self.firing + self.acknowledged
    }

    /// What [`PageReads::alert_counts`] answers for these alerts, counted
    /// in Rust, sorted by device and domain. Pure; the reference the
    /// stores are checked against and what the pages' tests count with.
    pub fn tally(alerts: &[AlertRecord]) -> Vec<AlertCounts> {
        let mut counts: BTreeMap<(&str, &'static str), AlertCounts> = BTreeMap::new();
        for alert in alerts {
            if alert.status == AlertStatus::Resolved {
                continue;
            }
            let domain = domain(alert.rule);
            let entry = counts
                .entry((&alert.device_id, domain))
                .or_insert_with(|| AlertCounts {
                    device_id: alert.device_id.clone(),
                    domain,
                    pending: 0,
                    firing: 0,
                    acknowledged: 0,
                    critical: 0,
                });
            match alert.status {
                AlertStatus::Pending => entry.pending += 1,
                AlertStatus::Firing => entry.firing += 1,
                AlertStatus::Acknowledged => entry.acknowledged += 1,
                AlertStatus::Resolved => {}
            }
            if alert.status != AlertStatus::Pending && alert.severity == Some(Severity::Critical) {
                entry.critical += 1;
            }
        }
        counts.into_values().collect()
    }
}

/// The SQL expression (both backends) naming the domain of the rule in
/// `a.rule`, NULL for a rule this version does not know.
pub fn domain_sql() -> String {
    let mut sql = String::from("CASE a.rule");
    for rule in RuleId::ALL {
        sql.push_str(&format!(
            " WHEN '{}' THEN '{}'",
            rule.as_str(),
            domain(rule)
        ));
    }
    sql.push_str(" END");
    sql
}

/// The domain named `text` by [`domain_sql`].
pub fn domain_named(text: &str) -> Option<&'static str> {
    RuleId::ALL
        .into_iter()
        .map(domain)
        .find(|domain| *domain == text)
}

/// The SQL expression (both backends) ranking `a.severity` for
/// [`AlertOrder::Worst`]: critical highest, no severity lowest.
pub const SEVERITY_RANK_SQL: &str =
    "CASE a.severity WHEN 'critical' THEN 3 WHEN 'warning' THEN 2 WHEN 'info' THEN 1 ELSE 0 END";

/// A severity's rank, as [`SEVERITY_RANK_SQL`] computes it.
pub fn severity_rank(severity: Option<Severity>) -> i64 {
    match severity {
        Some(Severity::Critical) => 3,
        Some(Severity::Warning) => 2,
        Some(Severity::Info) => 1,
        None => 0,
    }
}

impl FleetAlerts {
    /// The keyset condition of [`FleetAlerts::after`] (`AND ...`, both
    /// backends), comparing with the placeholders `value` and `id`; empty
    /// when there is none.
    pub fn after_sql(&self, value: &str, id: &str) -> String {
        match (self.order, self.after) {
            (AlertOrder::Keyed { column, descending }, Some(_)) => format!(
                " AND ({}, a.id) {} ({value}, {id})",
                column.sql(),
                if descending { "<" } else { ">" }
            ),
            _ => String::new(),
        }
    }
}

impl AlertOrder {
    /// The `ORDER BY` terms of this order (both backends).
    pub fn sql(self) -> String {
        match self {
            AlertOrder::Keyed { column, descending } => {
                let direction = if descending { "DESC" } else { "ASC" };
                format!("{} {direction}, a.id {direction}", column.sql())
            }
            AlertOrder::LastSeen => "a.last_seen DESC, a.id DESC".into(),
            AlertOrder::Worst => format!("{SEVERITY_RANK_SQL} DESC, a.last_seen DESC, a.id"),
            AlertOrder::Newest => "a.first_seen DESC, a.id DESC".into(),
        }
    }
}

#[async_trait]
pub trait PageReads: Send + Sync {
    /// The alerts `which` asks for, in its order, cut to its page: a page
    /// reads the rows it shows, and a person scoped to groups costs only
    /// their groups' rows.
    async fn fleet_alerts(&self, which: FleetAlerts) -> Result<Vec<AlertRecord>, StoreError>;

    /// How many alerts `which` finds, all pages together.
    async fn count_alerts(&self, which: FleetAlerts) -> Result<usize, StoreError>;

    /// Pending, firing and acknowledged alerts counted per device and
    /// domain, in one grouped query, as [`AlertCounts::tally`] counts them;
    /// `groups` as in [`FleetAlerts::groups`].
    async fn alert_counts(
        &self,
        groups: Option<Vec<String>>,
    ) -> Result<Vec<AlertCounts>, StoreError>;

    /// The note of each alert's last acknowledgement, by alert id (alerts
    /// never acknowledged, or acknowledged without a note, are left out).
    async fn ack_notes(&self, alert_ids: &[i64]) -> Result<HashMap<i64, String>, StoreError>;

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
