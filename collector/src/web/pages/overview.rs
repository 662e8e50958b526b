//! The overview (`/`): what needs attention now, per domain (disks,
//! patches, certificates, backups, offline, ticketing), device states and
//! the newest alerts.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::alerts::AlertRow;
use super::fleet::{self, Fleet};
use super::{Chrome, PageError, SignedIn, render};
use crate::alerts::AlertRecord;
use crate::clock::now_unix;
use crate::console::api::views::domain;
use crate::console::state::ConsoleState;
use crate::rules::RuleId;
use crate::store::StoreError;
use crate::store::pages::{AlertOrder, FleetAlerts};

/// One domain's card: how many devices and alerts need someone, the worst first.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainCard {
    pub key: &'static str,
    pub label: &'static str,
    pub devices: usize,
    pub alerts: usize,
    pub critical: usize,
    /// The first few raised alerts, critical and newest first (filled in
    /// by the page from the store, [`AlertOrder::Worst`]).
    pub top: Vec<AlertRow>,
}

const DOMAINS: [(&str, &str); 6] = [
    ("disks", "Disks"),
    ("patches", "Patches"),
    ("certificates", "Certificates"),
    ("backups", "Backups"),
    ("offline", "Offline"),
    ("ticketing", "Ticketing"),
];

/// How many alerts each card lists.
const TOP: usize = 5;

/// How many of the newest alerts the page lists.
const NEWEST: usize = 15;

/// The cards without their alerts, from the visible fleet's counts. Pure.
pub fn attention(fleet: &Fleet, show_ticketing: bool) -> Vec<DomainCard> {
    DOMAINS
        .iter()
        .filter(|(key, _)| show_ticketing || *key != "ticketing")
        .map(|&(key, label)| {
            let raised = fleet
                .counts
                .iter()
                .filter(|c| c.domain == key && c.raised() > 0);
            DomainCard {
                key,
                label,
                // One count per device and domain: each is one device.
                devices: raised.clone().count(),
                alerts: raised.clone().map(|c| c.raised()).sum(),
                critical: raised.map(|c| c.critical).sum(),
                top: Vec::new(),
            }
        })
        .collect()
}

/// Devices by state, in a fixed order for the page.
pub fn states(fleet: &Fleet) -> Vec<(&'static str, usize)> {
    ["online", "offline", "never_reported", "retired"]
        .into_iter()
        .map(|state| {
            (
                state,
                fleet
                    .devices
                    .iter()
                    .filter(|(_, s)| s.state == state)
                    .count(),
            )
        })
        .collect()
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    chrome: Chrome,
    devices: usize,
    states: Vec<(&'static str, usize)>,
    cards: Vec<DomainCard>,
    newest: Vec<AlertRow>,
}

pub async fn page(
    State(state): State<ConsoleState>,
    SignedIn(caller): SignedIn,
) -> Result<Response, PageError> {
    let principal = &caller.principal;
    let raised = |order, rules: Vec<RuleId>, limit| FleetAlerts {
        raised_only: true,
        rules,
        groups: fleet::scope(principal),
        order,
        limit: Some(limit),
        ..FleetAlerts::default()
    };
    // Every read at once (on PostgreSQL each takes a pooled connection):
    // the cards' alerts are read before the counts say which cards have
    // any, since an empty card's read costs next to nothing.
    let mut reads = tokio::task::JoinSet::new();
    for (slot, (key, _)) in DOMAINS.iter().enumerate() {
        let rules = RuleId::ALL
            .into_iter()
            .filter(|r| domain(*r) == *key)
            .collect();
        let which = raised(AlertOrder::Worst, rules, TOP);
        let store = Arc::clone(&state.store);
        reads.spawn(async move { (Some(slot), store.fleet_alerts(which).await) });
    }
    let which = raised(AlertOrder::Newest, Vec::new(), NEWEST);
    let store = Arc::clone(&state.store);
    reads.spawn(async move { (None, store.fleet_alerts(which).await) });
    let fleet = fleet::load(state.store.as_ref(), principal).await?;
    let mut worst: HashMap<&str, Vec<AlertRecord>> = HashMap::new();
    let mut newest = Vec::new();
    while let Some(read) = reads.join_next().await {
        let (slot, alerts) = read.map_err(|err| StoreError::Task(err.to_string()))?;
        match slot {
            Some(slot) => {
                worst.insert(DOMAINS[slot].0, alerts?);
            }
            None => newest = alerts?,
        }
    }
    let now = now_unix();
    let rows = |alerts: &[AlertRecord]| -> Vec<AlertRow> {
        alerts
            .iter()
            .filter(|a| fleet::sees_alert(principal, fleet.group_of(&a.device_id)))
            .map(|a| AlertRow::new(a, now))
            .collect()
    };
    let mut cards = attention(&fleet, principal.scope.is_all());
    for card in cards.iter_mut().filter(|c| c.alerts > 0) {
        card.top = rows(worst.get(card.key).map_or(&[][..], Vec::as_slice));
    }
    let page = OverviewPage {
        chrome: Chrome::new(&caller, "Overview", "overview"),
        devices: fleet.devices.len(),
        states: states(&fleet),
        cards,
        newest: rows(&newest),
    };
    Ok(render(&page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::AlertStatus;
    use crate::console::authz::{Role, Scope};
    use crate::severity::Severity;
    use crate::store::pages::AlertCounts;
    use crate::web::pages::fleet::tests::{alert, device, principal};
    use crate::web::pages::fleet::visible;

    #[test]
    fn cards_count_raised_alerts_and_their_devices_per_domain() {
        let mut warning = alert(
            4,
            "d2",
            RuleId::BackupHoursSinceSuccess,
            AlertStatus::Firing,
        );
        warning.severity = Some(Severity::Warning);
        let alerts = vec![
            alert(1, "d1", RuleId::BackupFailed, AlertStatus::Firing),
            alert(
                2,
                "d1",
                RuleId::BackupHoursSinceSuccess,
                AlertStatus::Acknowledged,
            ),
            alert(3, "d1", RuleId::DiskFreePercent, AlertStatus::Resolved),
            warning,
            alert(5, "d2", RuleId::CertificateDaysLeft, AlertStatus::Pending),
        ];
        let fleet = visible(
            &principal(Role::Viewer, Scope::All),
            vec![device("d1", "a"), device("d2", "a")],
            AlertCounts::tally(&alerts),
        );
        let cards = attention(&fleet, false);
        assert_eq!(
            cards.iter().map(|c| c.key).collect::<Vec<_>>(),
            ["disks", "patches", "certificates", "backups", "offline"],
            "ticketing only for people over all groups"
        );
        let backups = cards.iter().find(|c| c.key == "backups").unwrap();
        assert_eq!(
            (backups.devices, backups.alerts, backups.critical),
            (2, 3, 2)
        );
        let disks = cards.iter().find(|c| c.key == "disks").unwrap();
        assert_eq!(disks.alerts, 0, "resolved alerts need no one");
        let certificates = cards.iter().find(|c| c.key == "certificates").unwrap();
        assert_eq!(
            (certificates.devices, certificates.alerts),
            (0, 0),
            "pending alerts have not fired yet"
        );
        assert_eq!(attention(&fleet, true).len(), 6);
    }

    #[test]
    fn states_count_every_visible_device_once() {
        let mut retired = device("d3", "a");
        retired.retired_at = Some(5);
        let mut never = device("d4", "a");
        never.last_seen_at = None;
        let fleet = visible(
            &principal(Role::Viewer, Scope::All),
            vec![device("d1", "a"), device("d2", "b"), retired, never],
            AlertCounts::tally(&[alert(1, "d2", RuleId::OfflineMinutes, AlertStatus::Firing)]),
        );
        assert_eq!(
            states(&fleet),
            [
                ("online", 1),
                ("offline", 1),
                ("never_reported", 1),
                ("retired", 1)
            ]
        );
    }
}
