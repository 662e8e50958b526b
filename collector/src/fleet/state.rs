//! What state a device is in, as the device list, `device show` and
//! `/metrics` name it, and what to check for a device that enrolled but
//! never reported.
//!
//! Pure: the caller passes the device's report interval and `now`.

use crate::config::CollectorConfig;
use crate::store::DeviceRecord;

/// Each group's report interval, which says when a device is offline.
pub trait ReportIntervals: Send + Sync {
    fn report_interval_secs(&self, group: &str) -> u32;
}

impl ReportIntervals for CollectorConfig {
    fn report_interval_secs(&self, group: &str) -> u32 {
        self.policy_for(group).report_interval_secs
    }
}

/// A device misses this many report intervals before it counts as offline.
/// One late report (a busy collector, a slow probe) is no outage.
pub const MISSED_INTERVALS_OFFLINE: i64 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeviceState {
    /// Reported within the last [`MISSED_INTERVALS_OFFLINE`] report intervals.
    Online,
    /// Reported once, but not within the last [`MISSED_INTERVALS_OFFLINE`] intervals.
    Offline,
    /// Retired by an admin: its certificate is refused.
    Retired,
    /// Enrolled, and no report ever arrived.
    NeverReported,
}

impl DeviceState {
    pub const ALL: [DeviceState; 4] = [
        DeviceState::Online,
        DeviceState::Offline,
        DeviceState::Retired,
        DeviceState::NeverReported,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeviceState::Online => "online",
            DeviceState::Offline => "offline",
            DeviceState::Retired => "retired",
            DeviceState::NeverReported => "never reported",
        }
    }

    /// The name as a Prometheus label value (no spaces).
    pub fn label(self) -> &'static str {
        match self {
            DeviceState::NeverReported => "never_reported",
            other => other.as_str(),
        }
    }
}

/// The state of `device` at `now`, given its group's report interval.
pub fn classify(device: &DeviceRecord, report_interval_secs: u32, now: i64) -> DeviceState {
    if device.retired_at.is_some() {
        return DeviceState::Retired;
    }
    let Some(last_seen) = device.last_seen_at else {
        return DeviceState::NeverReported;
    };
    let limit = MISSED_INTERVALS_OFFLINE * i64::from(report_interval_secs.max(1));
    if now.saturating_sub(last_seen) <= limit {
        DeviceState::Online
    } else {
        DeviceState::Offline
    }
}

/// For a device that enrolled and never reported: what is true and what to
/// check, in the order that finds the usual causes first.
pub fn never_reported_advice(device: &DeviceRecord, now: i64) -> String {
    format!(
        "enrolled {} ago and never reported. On {}, check that the agent service runs \
         (Linux: systemctl status forewarn-agent; Windows: sc query ForewarnAgent; \
         macOS: launchctl print system/com.forewarn.agent) and what `forewarn-agent status` says; \
         that the device reaches the collector's agent port; and the agent's log for refused reports. \
         A machine re-imaged since enrolling re-enrolls as this device; one that no longer exists can be retired.",
        age_text(now.saturating_sub(device.enrolled_at)),
        device.hostname
    )
}

/// "3 min", "5 h", "2 days": how long, as people say it.
pub fn age_text(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..120 => format!("{secs} s"),
        120..7_200 => format!("{} min", secs / 60),
        7_200..172_800 => format!("{} h", secs / 3_600),
        _ => format!("{} days", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(last_seen_at: Option<i64>, retired_at: Option<i64>) -> DeviceRecord {
        DeviceRecord {
            id: "d1".into(),
            group: "laptops".into(),
            hostname: "LAPTOP-042".into(),
            os: "Debian 12".into(),
            agent_version: "0.1.0".into(),
            enrolled_at: 1_000,
            retired_at,
            cert_serial: "01".into(),
            cert_not_after: 100_000,
            last_seen_at,
            last_seq: 0,
        }
    }

    #[test]
    fn states_follow_the_report_interval() {
        let now = 10_000;
        let cases = [
            (device(Some(now - 10), None), DeviceState::Online),
            (device(Some(now - 180), None), DeviceState::Online),
            (device(Some(now - 181), None), DeviceState::Offline),
            (device(None, None), DeviceState::NeverReported),
            (device(None, Some(5_000)), DeviceState::Retired),
            (device(Some(now), Some(5_000)), DeviceState::Retired),
        ];
        for (record, expected) in cases {
            assert_eq!(classify(&record, 60, now), expected, "{record:?}");
        }
    }

    #[test]
    fn never_reported_advice_names_the_host_and_what_to_check() {
        let text = never_reported_advice(&device(None, None), 1_000 + 3 * 3_600);
        assert!(
            text.starts_with("enrolled 3 h ago and never reported"),
            "{text}"
        );
        assert!(text.contains("On LAPTOP-042"), "{text}");
        assert!(text.contains("systemctl status forewarn-agent"), "{text}");
        assert!(text.contains("agent port"), "{text}");
    }

    #[test]
    fn ages_read_as_people_say_them() {
        for (secs, text) in [
            (5, "5 s"),
            (600, "10 min"),
            (7_200, "2 h"),
            (3 * 86_400, "3 days"),
            (-4, "0 s"),
        ] {
            assert_eq!(age_text(secs), text);
        }
    }
}
