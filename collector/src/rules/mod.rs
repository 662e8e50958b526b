//! Rule evaluation: from a device's latest report, its disk history and the
//! previous state of its alerts to the next state and the notifications due.
//!
//! [`evaluate`] is pure (it takes `now`), so every behaviour — hysteresis,
//! `for` durations, severity changes, flapping — is tested as data in
//! `tests.rs`. The alert engine ([`crate::alerts::engine`]) runs it for the
//! reporting device at ingest and for every device from the sweeper.
//!
//! # Layout
//! - [`config`]: thresholds and their defaults.
//! - [`conditions`]: what each rule measures, with hysteresis and summaries.
//! - [`forecast`]: the disk-full forecast.

pub mod conditions;
pub mod config;
pub mod forecast;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use forewarn_proto::pb;

pub use config::RulesConfig;
pub use forecast::{DiskSample, ForecastState};

pub use crate::severity::Severity;

/// The rules, by the name used in config and in the alerts table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleId {
    /// Free space of a filesystem, judged by percent and by bytes together:
    /// one alert per mount point at the worse of the two.
    DiskFree,
    /// Alerts of releases that judged percent and bytes apart; they resolve
    /// at the device's next disk report, where `disk_free` takes over.
    DiskFreePercent,
    /// See [`RuleId::DiskFreePercent`].
    DiskFreeBytes,
    InodeUsedPercent,
    DiskForecast,
    CertificateDaysLeft,
    SecurityUpdatesPending,
    PatchScanAgeDays,
    PatchScanError,
    RebootPending,
    BackupFailed,
    BackupHoursSinceSuccess,
    BackupProbeError,
    BackupRestoreFailed,
    OfflineMinutes,
    /// The collector's own alert: ticket operations are not being delivered.
    /// Raised by the ticket worker, never by a report.
    TicketingFailing,
}

impl RuleId {
    pub const ALL: [Self; 16] = [
        Self::DiskFree,
        Self::DiskFreePercent,
        Self::DiskFreeBytes,
        Self::InodeUsedPercent,
        Self::DiskForecast,
        Self::CertificateDaysLeft,
        Self::SecurityUpdatesPending,
        Self::PatchScanAgeDays,
        Self::PatchScanError,
        Self::RebootPending,
        Self::BackupFailed,
        Self::BackupHoursSinceSuccess,
        Self::BackupProbeError,
        Self::BackupRestoreFailed,
        Self::OfflineMinutes,
        Self::TicketingFailing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::DiskFree => "disk_free",
            Self::DiskFreePercent => "disk_free_percent",
            Self::DiskFreeBytes => "disk_free_bytes",
            Self::InodeUsedPercent => "inode_used_percent",
            Self::DiskForecast => "disk_forecast",
            Self::CertificateDaysLeft => "certificate_days_left",
            Self::SecurityUpdatesPending => "security_updates_pending",
            Self::PatchScanAgeDays => "patch_scan_age_days",
            Self::PatchScanError => "patch_scan_error",
            Self::RebootPending => "reboot_pending",
            Self::BackupFailed => "backup_failed",
            Self::BackupHoursSinceSuccess => "backup_hours_since_success",
            Self::BackupProbeError => "backup_probe_error",
            Self::BackupRestoreFailed => "backup_restore_failed",
            Self::OfflineMinutes => "offline_minutes",
            Self::TicketingFailing => "ticketing_failing",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|rule| rule.as_str() == text)
    }
}

/// Written by name (`disk_free_percent`), as in config and the alerts table.
impl serde::Serialize for RuleId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for RuleId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown rule {name:?}")))
    }
}

/// One alert of a device: a rule and what it is about (a mount point, a
/// certificate fingerprint, a backup job name; empty for device-wide rules).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AlertKey {
    pub rule: RuleId,
    pub subject: String,
}

/// What the engine remembers about one alert between evaluations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertState {
    /// Current severity; `None` while the alert is clear.
    pub severity: Option<Severity>,
    /// The condition holds at this severity since this time, waiting for `for_secs`.
    pub pending: Option<(Severity, i64)>,
    /// The condition stopped holding at this time, waiting for `clear_after_secs`.
    pub clearing_since: Option<i64>,
    /// The severity people were last told about (`None`: resolved or never told).
    pub notified: Option<Severity>,
    /// Held in the flapping state: one notification, then quiet until it settles.
    pub flapping: bool,
    /// Times of recent severity changes, for flapping detection.
    pub recent_changes: Vec<i64>,
}

/// What a rule measured for one subject.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The severity the measurement calls for, after hysteresis.
    pub severity: Option<Severity>,
    pub value: f64,
    /// The level crossed (or, while clear, the warning level).
    pub threshold: f64,
    /// One sentence for a person: while it holds, what is wrong; while
    /// clear, what is true now (the engine builds the resolution from it).
    pub summary: String,
    /// The subject as people know it ("CN=intranet.example at
    /// /etc/ssl/intranet.pem", "/var", "nightly"); empty for device-wide rules.
    pub subject_name: String,
    /// What went wrong, in the source's own words (a backup job's error
    /// message), quoted again when the alert resolves; often empty.
    pub cause: String,
    /// The subject is gone from a section the report contains (a replaced
    /// certificate, a removed job): nothing was measured.
    pub gone: bool,
    /// When the measured value, drifting with time alone (minutes offline,
    /// days to expiry), next reaches a level of its rule: `None` for a value
    /// only a new report changes.
    pub changes_at: Option<i64>,
}

/// A notification the alert's state change calls for; its name is the
/// outbox row's `event` column and the notification's `event` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    Opened,
    Escalated,
    Deescalated,
    Resolved,
    Flapping,
    Reminder,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Escalated => "escalated",
            Self::Deescalated => "deescalated",
            Self::Resolved => "resolved",
            Self::Flapping => "flapping",
            Self::Reminder => "reminder",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Opened,
            Self::Escalated,
            Self::Deescalated,
            Self::Resolved,
            Self::Flapping,
            Self::Reminder,
        ]
        .into_iter()
        .find(|event| event.as_str() == text)
    }
}

/// The outcome of evaluating one alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub key: AlertKey,
    pub previous: AlertState,
    pub state: AlertState,
    pub condition: Condition,
    /// The notification due, if any (already `None` when silenced).
    pub event: Option<Event>,
}

impl Transition {
    /// Whether the stored alert must be written (state or event changed, or
    /// firing or pending: their value and last-seen follow every report).
    pub fn changed(&self) -> bool {
        self.state != self.previous
            || self.event.is_some()
            || self.state.severity.is_some()
            || self.state.pending.is_some()
    }
}

/// Everything known about the device being evaluated.
#[derive(Debug, Clone, Copy)]
pub struct DeviceInput<'a> {
    /// The device's id, which per-device disk overrides may name.
    pub device_id: &'a str,
    pub hostname: &'a str,
    pub last_seen_at: Option<i64>,
    pub report: Option<&'a pb::StatusReport>,
    /// The disk-full forecast of each judged filesystem with history, by
    /// mount point ([`forecast::disk_forecasts`]): computed once per plan,
    /// for the forecast rule and for what the device page shows.
    pub disk_forecasts: &'a BTreeMap<String, ForecastState>,
}

/// Evaluates every rule for one device.
///
/// Returns one [`Transition`] per alert that was measured or already known.
/// Alerts whose subject disappeared from a section the report does contain
/// (a replaced certificate, a removed job) clear; a section missing from the
/// report (the check did not run) leaves its alerts as they were.
/// `silenced` says which alerts may not notify now: they change state, and
/// notify on the first evaluation after the silence ends.
pub fn evaluate(
    rules: &RulesConfig,
    previous: &BTreeMap<AlertKey, AlertState>,
    device: &DeviceInput<'_>,
    silenced: &dyn Fn(&AlertKey) -> bool,
    now: i64,
) -> Vec<Transition> {
    let measured = conditions::measure(rules, previous, device, now);
    let mut keys: BTreeSet<&AlertKey> = measured.conditions.keys().collect();
    keys.extend(previous.keys());
    let mut transitions = Vec::new();
    for key in keys {
        let prev = previous.get(key).cloned().unwrap_or_default();
        let condition = match measured.conditions.get(key) {
            Some(condition) => condition.clone(),
            None if measured.sections.contains(&conditions::section(key.rule)) => Condition {
                severity: None,
                value: f64::NAN,
                threshold: f64::NAN,
                summary: format!("{} is no longer reported", describe_subject(key)),
                subject_name: String::new(),
                cause: String::new(),
                gone: true,
                changes_at: None,
            },
            None => continue,
        };
        let timing = conditions::timing(rules, key.rule);
        let (state, event) = step(&prev, &condition, timing, rules, silenced(key), now);
        transitions.push(Transition {
            key: key.clone(),
            previous: prev,
            state,
            condition,
            event,
        });
    }
    transitions
}

fn describe_subject(key: &AlertKey) -> String {
    if key.subject.is_empty() {
        key.rule.as_str().to_owned()
    } else {
        format!("{} {}", key.rule.as_str(), key.subject)
    }
}

/// The earliest time after an evaluation at which evaluating the device
/// again, with no new report, can change anything: a drifting value reaching
/// a level, a `for` or clear delay running out, a flapping alert settling.
/// Until then the sweeper may leave the device alone; `None`: only a report
/// changes it. (Silences ending are the alert engine's part.)
pub fn next_change_at(rules: &RulesConfig, transitions: &[Transition]) -> Option<i64> {
    let after =
        |since: i64, secs: u64| since.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX));
    let flap_window = rules.flapping.window_secs;
    transitions
        .iter()
        .flat_map(|t| {
            let timing = conditions::timing(rules, t.key.rule);
            let state = &t.state;
            [
                t.condition.changes_at,
                state
                    .pending
                    .map(|(_, since)| after(since, timing.for_secs)),
                state
                    .clearing_since
                    .map(|since| after(since, timing.clear_after_secs)),
                state
                    .flapping
                    .then(|| {
                        state
                            .recent_changes
                            .iter()
                            .max()
                            .map(|&at| after(at, flap_window))
                    })
                    .flatten(),
            ]
        })
        .flatten()
        .min()
}

/// `for` and clear delays of a rule, in seconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    pub for_secs: u64,
    pub clear_after_secs: u64,
}

fn elapsed(since: i64, now: i64, secs: u64) -> bool {
    now.saturating_sub(since) >= i64::try_from(secs).unwrap_or(i64::MAX)
}

/// One alert's next state: `for`, clear delay, flapping and the event due.
fn step(
    prev: &AlertState,
    condition: &Condition,
    timing: Timing,
    rules: &RulesConfig,
    silenced: bool,
    now: i64,
) -> (AlertState, Option<Event>) {
    let mut state = prev.clone();
    match condition.severity {
        Some(wanted) => {
            state.clearing_since = None;
            if prev.severity.is_some() {
                state.severity = Some(wanted);
                state.pending = None;
            } else {
                let since = match prev.pending {
                    Some((_, since)) => since,
                    None => now,
                };
                if elapsed(since, now, timing.for_secs) {
                    state.severity = Some(wanted);
                    state.pending = None;
                } else {
                    state.pending = Some((wanted, since));
                }
            }
        }
        None => {
            state.pending = None;
            if prev.severity.is_some() {
                let since = prev.clearing_since.unwrap_or(now);
                if elapsed(since, now, timing.clear_after_secs) {
                    state.severity = None;
                    state.clearing_since = None;
                } else {
                    state.clearing_since = Some(since);
                }
            }
        }
    }
    let window = i64::try_from(rules.flapping.window_secs).unwrap_or(i64::MAX);
    state
        .recent_changes
        .retain(|&at| now.saturating_sub(at) < window);
    if state.severity != prev.severity {
        state.recent_changes.push(now);
    }
    if !state.flapping && state.recent_changes.len() >= rules.flapping.transitions {
        state.flapping = true;
        return (state, (!silenced).then_some(Event::Flapping));
    }
    if state.flapping {
        if !state.recent_changes.is_empty() {
            return (state, None);
        }
        state.flapping = false;
    }
    if silenced || state.severity == state.notified {
        return (state, None);
    }
    let event = match (state.notified, state.severity) {
        (None, Some(_)) => Event::Opened,
        (Some(_), None) => Event::Resolved,
        (Some(old), Some(new)) if new > old => Event::Escalated,
        _ => Event::Deescalated,
    };
    state.notified = state.severity;
    (state, Some(event))
}

/// The rules of every group, resolved from the config once.
#[derive(Debug, Clone, Default)]
pub struct RuleBook {
    /// Rules of groups without their own.
    pub default: RulesConfig,
    pub groups: BTreeMap<String, RulesConfig>,
}

impl RuleBook {
    pub fn for_group(&self, group: &str) -> &RulesConfig {
        self.groups.get(group).unwrap_or(&self.default)
    }
}
