//! The notification the alert engine writes to the outbox and the ticket
//! worker reads back: one type, serialized and deserialized as is, so the
//! writer and the reader cannot drift apart. The JSON is the outbox row's
//! `payload` (`docs/outbox.md`); the row's own columns carry its id, its
//! alert's id and its delivery state.

use serde::{Deserialize, Serialize};

use crate::rules::{Event, RuleId};
use crate::severity::Severity;

/// What happened to one alert, with everything a notifier needs to say so
/// without going back to the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub event: Event,
    pub device_id: String,
    /// The device's host name as the collector knows it.
    pub hostname: String,
    pub group: String,
    pub rule: RuleId,
    /// What the alert is about on the device (mount point, fingerprint, job).
    pub subject: String,
    /// The subject as people know it ("CN=… at /path", "/var", "nightly");
    /// empty for device-wide rules and in rows written before it existed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject_name: String,
    /// The severity now; `None` on `resolved`.
    pub severity: Option<Severity>,
    /// The severity people were last told about; `None` on `opened`.
    pub previous_severity: Option<Severity>,
    /// `None` when not finite (e.g. hours since a backup that never succeeded).
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    /// One sentence for a person.
    pub summary: String,
    /// Start of the alert's current episode.
    pub first_seen: i64,
    /// When the change happened.
    pub at: i64,
    /// What the device's last report said about it; absent in rows written
    /// before notifications carried it (their tickets show the host name only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceDetails>,
}

impl Notification {
    /// Stable key of the problem (one per device, rule and subject), carried
    /// into ticket systems so an existing ticket is found again.
    pub fn correlation_key(&self) -> String {
        format!("{}/{}/{}", self.device_id, self.rule.as_str(), self.subject)
    }

    /// The severity a ticket policy is chosen by: the current one, or on
    /// recovery the one people were last told.
    pub fn policy_severity(&self) -> Severity {
        self.severity
            .or(self.previous_severity)
            .unwrap_or(Severity::Warning)
    }
}

/// Facts about the device from its last report, for ticket bodies. Fields
/// the agent did not report are empty, never guesses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceDetails {
    /// The host name the agent reported (may differ from the enrolled one).
    pub hostname: String,
    /// OS name and version, e.g. "Debian GNU/Linux 12".
    pub os: String,
    pub model: String,
    pub serial: String,
    /// The logged-in or primary user, if the OS tells.
    pub user: Option<String>,
}

impl DeviceDetails {
    /// The details in a report's host facts; `None` when the report has none.
    pub fn from_host(host: &forewarn_proto::pb::HostFacts) -> Self {
        Self {
            hostname: host.hostname.clone(),
            os: [host.os_name.as_str(), host.os_version.as_str()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
            model: host.model.clone(),
            serial: host.serial_number.clone(),
            user: Some(host.primary_user.clone()).filter(|u| !u.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row as the store wrote it before this type existed (`docs/outbox.md`).
    const STORED_BEFORE: &str = r#"{"alert_id":17,"event":"escalated","device_id":"dev-1","hostname":"LAPTOP-042","group":"laptops","rule":"disk_free_percent","subject":"/","severity":"critical","previous_severity":"warning","value":3.0,"threshold":5.0,"summary":"Disk / on LAPTOP-042 has 3.0% free","first_seen":1795000060,"at":1795000120}"#;

    fn escalated() -> Notification {
        Notification {
            event: Event::Escalated,
            device_id: "dev-1".into(),
            hostname: "LAPTOP-042".into(),
            group: "laptops".into(),
            rule: RuleId::DiskFreePercent,
            subject: "/".into(),
            severity: Some(Severity::Critical),
            previous_severity: Some(Severity::Warning),
            value: Some(3.0),
            threshold: Some(5.0),
            summary: "Disk / on LAPTOP-042 has 3.0% free".into(),
            first_seen: 1_795_000_060,
            at: 1_795_000_120,
            subject_name: String::new(),
            device: None,
        }
    }

    #[test]
    fn rows_written_before_the_typed_notification_still_read() {
        let read: Notification = serde_json::from_str(STORED_BEFORE).unwrap();
        assert_eq!(read, escalated());
        assert_eq!(read.correlation_key(), "dev-1/disk_free_percent//");
    }

    #[test]
    fn a_notification_reads_back_as_written_with_its_device_details() {
        let mut written = escalated();
        written.event = Event::Resolved;
        written.severity = None;
        written.value = None;
        written.device = Some(DeviceDetails {
            hostname: "laptop-042".into(),
            os: "Windows 11 Pro 23H2".into(),
            model: "Latitude 5440".into(),
            serial: "ABC123".into(),
            user: Some("alice".into()),
        });
        let json = serde_json::to_value(&written).unwrap();
        assert_eq!(json["event"], "resolved");
        assert_eq!(json["rule"], "disk_free_percent");
        assert_eq!(json["severity"], serde_json::Value::Null);
        let read: Notification = serde_json::from_value(json).unwrap();
        assert_eq!(read, written);
        assert_eq!(read.policy_severity(), Severity::Warning);
    }

    #[test]
    fn an_unknown_rule_or_event_is_an_error_naming_it() {
        let renamed = STORED_BEFORE.replace("disk_free_percent", "disk_full");
        let err = serde_json::from_str::<Notification>(&renamed).unwrap_err();
        assert!(
            err.to_string().contains("unknown rule \"disk_full\""),
            "{err}"
        );
        let event = STORED_BEFORE.replace("escalated", "exploded");
        assert!(serde_json::from_str::<Notification>(&event).is_err());
    }
}
