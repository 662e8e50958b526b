//! The part of the fleet a signed-in person may see: devices of their
//! groups with summaries, and the alerts of those devices counted per device
//! and domain (the collector's own alerts only for people over all groups).
//! Every list page reads through here, so an out-of-scope device is absent
//! from every list and count. Full alert rows are read by each page for
//! what it shows only ([`scope`] bounds those reads the same way).

use std::collections::HashMap;

use crate::alerts::{AlertRecord, AlertStatus};
use crate::console::api::views::{self, DeviceSummary};
use crate::console::authz::{Action, Principal, Scope, can, sees};
use crate::store::pages::AlertCounts;
use crate::store::{DeviceRecord, Store, StoreError};

#[derive(Debug, Default)]
pub struct Fleet {
    pub devices: Vec<(DeviceRecord, DeviceSummary)>,
    /// Visible pending, firing and acknowledged alerts, counted per device
    /// and domain.
    pub counts: Vec<AlertCounts>,
}

impl Fleet {
    /// The group of a visible device (`None`: the collector itself, or a
    /// device out of sight or gone).
    pub fn group_of(&self, device_id: &str) -> Option<&str> {
        self.devices
            .iter()
            .find(|(d, _)| d.id == device_id)
            .map(|(d, _)| d.group.as_str())
    }
}

/// The group of every device (visible or not), to place alerts.
pub type Groups = HashMap<String, String>;

/// Whether `principal` sees an alert of a device in `group` (`None`: the
/// collector's own alerts, or a device that is gone).
pub fn sees_alert(principal: &Principal, group: Option<&str>) -> bool {
    can(principal, Action::Read, group)
}

/// The groups whose alerts `principal` may read, as the store's reads take
/// them (`None`: every alert).
pub fn scope(principal: &Principal) -> Option<Vec<String>> {
    match &principal.scope {
        Scope::All => None,
        Scope::Groups(groups) => Some(groups.iter().cloned().collect()),
    }
}

/// Keeps what `principal` may see of `devices` and of the alert `counts`,
/// and summarizes each device from its counts. Pure.
pub fn visible(
    principal: &Principal,
    devices: Vec<DeviceRecord>,
    counts: Vec<AlertCounts>,
) -> Fleet {
    let groups: Groups = devices
        .iter()
        .map(|d| (d.id.clone(), d.group.clone()))
        .collect();
    let counts: Vec<AlertCounts> = counts
        .into_iter()
        .filter(|c| sees_alert(principal, groups.get(&c.device_id).map(String::as_str)))
        .collect();
    let mut by_device: HashMap<&str, Vec<&AlertCounts>> = HashMap::new();
    for count in &counts {
        by_device.entry(&count.device_id).or_default().push(count);
    }
    let devices = devices
        .into_iter()
        .filter(|d| sees(principal, &d.group))
        .map(|d| {
            let summary = views::summarize_counts(
                &d,
                by_device.get(d.id.as_str()).map_or(&[][..], Vec::as_slice),
            );
            (d, summary)
        })
        .collect();
    Fleet { devices, counts }
}

/// Loads the devices `principal` may see with their summaries, and the
/// counts of their alerts. The store leaves out other groups' alerts
/// already; [`visible`] still decides.
pub async fn load(store: &dyn Store, principal: &Principal) -> Result<Fleet, StoreError> {
    // Two reads at once: on PostgreSQL each takes a pooled connection.
    let (devices, counts) =
        tokio::try_join!(store.list_devices(), store.alert_counts(scope(principal)))?;
    Ok(visible(principal, devices, counts))
}

/// Firing or acknowledged: what still needs someone.
pub fn raised(alert: &AlertRecord) -> bool {
    matches!(
        alert.status,
        AlertStatus::Firing | AlertStatus::Acknowledged
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::console::authz::{Role, Scope};
    use crate::rules::RuleId;
    use crate::severity::Severity;

    pub(crate) fn device(id: &str, group: &str) -> DeviceRecord {
        DeviceRecord {
            id: id.into(),
            group: group.into(),
            hostname: format!("host-{id}"),
            os: "linux".into(),
            agent_version: "0.1.0".into(),
            enrolled_at: 0,
            retired_at: None,
            cert_serial: "01".into(),
            cert_not_after: i64::MAX,
            last_seen_at: Some(100),
            last_seq: 1,
        }
    }

    pub(crate) fn alert(
        id: i64,
        device_id: &str,
        rule: RuleId,
        status: AlertStatus,
    ) -> AlertRecord {
        AlertRecord {
            id,
            device_id: device_id.into(),
            hostname: format!("host-{device_id}"),
            rule,
            subject: "nightly".into(),
            subject_name: String::new(),
            status,
            severity: Some(Severity::Critical),
            flapping: false,
            first_seen: id,
            last_seen: id,
            value: None,
            threshold: None,
            summary: format!("alert {id}"),
            acknowledged_by: None,
            acknowledged_at: None,
        }
    }

    pub(crate) fn principal(role: Role, scope: Scope) -> Principal {
        Principal {
            name: "olga".into(),
            role,
            scope,
        }
    }

    #[test]
    fn scoped_people_see_only_their_groups_devices_and_alerts() {
        let devices = vec![device("a1", "alpha"), device("b1", "beta")];
        let alerts = vec![
            alert(1, "a1", RuleId::BackupFailed, AlertStatus::Firing),
            alert(2, "b1", RuleId::BackupFailed, AlertStatus::Firing),
            alert(
                3,
                "collector",
                RuleId::TicketingFailing,
                AlertStatus::Firing,
            ),
        ];
        let scoped = principal(Role::Operator, Scope::from_stored("alpha"));
        let fleet = visible(&scoped, devices.clone(), AlertCounts::tally(&alerts));
        assert_eq!(
            fleet
                .devices
                .iter()
                .map(|(d, _)| d.id.as_str())
                .collect::<Vec<_>>(),
            ["a1"]
        );
        assert_eq!(
            fleet
                .counts
                .iter()
                .map(|c| c.device_id.as_str())
                .collect::<Vec<_>>(),
            ["a1"]
        );
        assert_eq!(fleet.devices[0].1.problems, ["backups"]);

        let all = principal(Role::Viewer, Scope::All);
        let fleet = visible(&all, devices, AlertCounts::tally(&alerts));
        assert_eq!(fleet.devices.len(), 2);
        assert_eq!(fleet.counts.len(), 3, "the collector's own alert too");
    }
}
