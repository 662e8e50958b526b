//! The overview (`/`): what needs attention now, per domain (disks,
//! patches, certificates, backups, offline, ticketing), device states and
//! the newest alerts.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::alerts::AlertRow;
use super::fleet::{self, Fleet, raised};
use super::{Chrome, PageError, SignedIn, render};
use crate::clock::now_unix;
use crate::console::api::views::domain;
use crate::console::state::ConsoleState;
use crate::severity::Severity;

/// One domain's card: how many devices and alerts need someone, the worst first.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainCard {
    pub key: &'static str,
    pub label: &'static str,
    pub devices: usize,
    pub alerts: usize,
    pub critical: usize,
    /// The first few raised alerts, critical and newest first.
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

/// The cards, from the visible fleet at `now`. Pure.
pub fn attention(fleet: &Fleet, now: i64, show_ticketing: bool) -> Vec<DomainCard> {
    DOMAINS
        .iter()
        .filter(|(key, _)| show_ticketing || *key != "ticketing")
        .map(|&(key, label)| {
            let mut raised: Vec<_> = fleet
                .alerts
                .iter()
                .filter(|a| raised(a) && domain(a.rule) == key)
                .collect();
            raised.sort_by_key(|a| {
                (
                    std::cmp::Reverse(a.severity),
                    std::cmp::Reverse(a.last_seen),
                    a.id,
                )
            });
            let mut devices: Vec<&str> = raised.iter().map(|a| a.device_id.as_str()).collect();
            devices.sort_unstable();
            devices.dedup();
            DomainCard {
                key,
                label,
                devices: devices.len(),
                alerts: raised.len(),
                critical: raised
                    .iter()
                    .filter(|a| a.severity == Some(Severity::Critical))
                    .count(),
                top: raised
                    .iter()
                    .take(TOP)
                    .map(|a| AlertRow::new(a, now))
                    .collect(),
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
    let fleet = fleet::load(state.store.as_ref(), &caller.principal, true).await?;
    let now = now_unix();
    let mut newest: Vec<_> = fleet.alerts.iter().filter(|a| raised(a)).collect();
    newest.sort_by_key(|a| (std::cmp::Reverse(a.first_seen), std::cmp::Reverse(a.id)));
    let page = OverviewPage {
        chrome: Chrome::new(&caller, "Overview", "overview"),
        devices: fleet.devices.len(),
        states: states(&fleet),
        cards: attention(&fleet, now, caller.principal.scope.is_all()),
        newest: newest
            .into_iter()
            .take(15)
            .map(|a| AlertRow::new(a, now))
            .collect(),
    };
    Ok(render(&page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::AlertStatus;
    use crate::console::authz::{Role, Scope};
    use crate::rules::RuleId;
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
            alerts,
        );
        let cards = attention(&fleet, 100, false);
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
        assert_eq!(
            backups.top.iter().map(|r| r.id).collect::<Vec<_>>(),
            [2, 1, 4],
            "critical first, then newest"
        );
        let disks = cards.iter().find(|c| c.key == "disks").unwrap();
        assert_eq!(disks.alerts, 0, "resolved alerts need no one");
        let certificates = cards.iter().find(|c| c.key == "certificates").unwrap();
        assert_eq!(certificates.alerts, 0, "pending alerts have not fired yet");
        assert_eq!(attention(&fleet, 100, true).len(), 6);
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
            vec![alert(1, "d2", RuleId::OfflineMinutes, AlertStatus::Firing)],
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
