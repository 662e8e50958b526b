//! The alert engine: a pure planner. From what the store knows about a device
//! (its alerts, the silences in force, its disk history), a report and `now`,
//! it plans every alert change: the alert's next status and state, the entry
//! its history gains, and the typed [`Notification`] the outbox carries.
//!
//! No backend decides an alert's status or writes a notification: a backend
//! loads a [`DeviceContext`], calls [`plan_device`] (or
//! [`plan_ticketing_failing`] for the collector's own alert) inside its
//! transaction, and persists the [`Plan`] as it is, in that transaction.

use std::collections::BTreeMap;

use forewarn_proto::pb;

use super::AlertStatus;
use super::notification::{DeviceDetails, Notification};
use super::silence::Silence;
use super::texts;
use crate::rules::forecast::{ForecastState, disk_forecasts, shown_forecasts};
use crate::rules::{
    AlertKey, AlertState, DeviceInput, DiskSample, Event, RuleId, RulesConfig, Transition,
    evaluate, next_change_at,
};
use crate::severity::Severity;

/// The device id the collector's own alerts are filed under.
pub const COLLECTOR_DEVICE_ID: &str = "collector";

/// What the summary of the "ticketing is failing" alert says once it recovers.
const TICKETING_RECOVERED: &str = "ticket operations are being delivered again";

/// The device being planned for, as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertDevice {
    pub id: String,
    pub group: String,
    pub hostname: String,
    /// When the collector last heard from it (this report's time at ingest).
    pub last_seen_at: Option<i64>,
}

/// An alert as stored: its status and episode start, and the rule state the
/// rules carry from one evaluation to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAlert {
    pub status: AlertStatus,
    pub first_seen: i64,
    pub state: AlertState,
    /// The summary stored with the alert: while it holds, what is wrong.
    pub summary: String,
    /// The subject as people know it (see [`crate::rules::Condition::subject_name`]).
    pub subject_name: String,
    /// What went wrong, in the source's words, while it fired.
    pub cause: String,
}

/// Everything the engine needs to know about a device besides its report.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceContext {
    pub device: AlertDevice,
    /// The device's alerts, whatever their status.
    pub alerts: BTreeMap<AlertKey, StoredAlert>,
    /// Silences that may be in force at `now` (the engine checks each).
    pub silences: Vec<Silence>,
    /// Disk samples by mount point since [`disk_history_since`], or as many
    /// of them as forecast the same (`store::history::forecast_reads`).
    pub disk_history: BTreeMap<String, Vec<DiskSample>>,
}

/// The oldest disk sample the forecast reads at `now`: a backend loads the
/// history from here for [`DeviceContext::disk_history`].
pub fn disk_history_since(rules: &RulesConfig, now: i64) -> i64 {
    let window = i64::try_from(rules.disk_forecast.window_secs).unwrap_or(i64::MAX);
    now.saturating_sub(window)
}

/// One entry of an alert's history; its time is the change's `last_seen`.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub from_severity: Option<Severity>,
    pub to_severity: Option<Severity>,
    pub event: Option<Event>,
    pub value: Option<f64>,
    pub summary: String,
}

/// The next version of one alert (of the planned device), written whole.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertChange {
    pub key: AlertKey,
    /// An acknowledgement is kept only while the status stays `Acknowledged`.
    pub status: AlertStatus,
    pub state: AlertState,
    pub first_seen: i64,
    pub last_seen: i64,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    /// While it holds, what is wrong; once resolved, what *was* wrong (the
    /// resolution's own text is in the history and the notification).
    pub summary: String,
    /// The subject as people know it; the key's subject stays for machines.
    pub subject_name: String,
    /// What went wrong, in the source's words (see [`StoredAlert::cause`]).
    pub cause: String,
    /// Appended to the alert's history, if the change is worth a line there.
    pub history: Option<HistoryEntry>,
    /// Queued in the outbox, in the same transaction as the change.
    pub notification: Option<Notification>,
}

/// Every alert change of one device, in alert-key order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub changes: Vec<AlertChange>,
    /// The disk-full forecast of each judged filesystem, by mount point, when
    /// the report has a disk section (`None`: keep the stored ones).
    pub forecasts: Option<Vec<(String, ForecastState)>>,
    /// When the plan was made.
    pub at: i64,
    /// When the sweeper must plan the device again, with no new report, for
    /// what time alone changes (see [`next_sweep_at`]); `None`: only a
    /// report can change its alerts.
    pub next_sweep_at: Option<i64>,
}

impl Plan {
    /// How many notifications the plan queues.
    pub fn notifications(&self) -> usize {
        self.changes
            .iter()
            .filter(|c| c.notification.is_some())
            .count()
    }
}

fn finite(value: f64) -> Option<f64> {
    value.is_finite().then_some(value)
}

/// Plans the alert changes of one device at `now`: after a report (`report`
/// is what it said) or from the sweeper (`report` is the latest stored one,
/// `None` if there is none or it does not decode: only device-wide rules run).
pub fn plan_device(
    rules: &RulesConfig,
    context: &DeviceContext,
    report: Option<&pb::StatusReport>,
    now: i64,
) -> Plan {
    let device = &context.device;
    let previous: BTreeMap<AlertKey, AlertState> = context
        .alerts
        .iter()
        .map(|(key, stored)| (key.clone(), stored.state.clone()))
        .collect();
    let silenced = |key: &AlertKey| {
        context
            .silences
            .iter()
            .any(|s| s.covers(&device.id, &device.group, key, now))
    };
    let disk_forecasts = report
        .map(|r| disk_forecasts(rules, r, &context.disk_history, now))
        .unwrap_or_default();
    let input = DeviceInput {
        device_id: &device.id,
        hostname: &device.hostname,
        last_seen_at: device.last_seen_at,
        report,
        disk_forecasts: &disk_forecasts,
    };
    let details = report.and_then(|r| r.host.as_ref()).map(|host| {
        let mut details = DeviceDetails::from_host(host);
        if details.hostname.is_empty() {
            details.hostname.clone_from(&device.hostname);
        }
        details
    });
    let transitions = evaluate(rules, &previous, &input, &silenced, now);
    let next_sweep_at = next_sweep_at(rules, context, &transitions, now);
    let changes = transitions
        .into_iter()
        .filter_map(|t| {
            plan_change(
                device,
                context.alerts.get(&t.key),
                t,
                report,
                details.as_ref(),
                now,
            )
        })
        .collect();
    let forecasts = report
        .filter(|r| r.disks.is_some())
        .map(|r| shown_forecasts(rules, r, &disk_forecasts, now));
    Plan {
        changes,
        forecasts,
        at: now,
        next_sweep_at,
    }
}

/// The earliest time after `now` at which planning the device again, with
/// no new report, can change its alerts: what [`next_change_at`] finds in
/// the rules (a drifting value reaching a level, a `for` or clear delay
/// running out, a flapping alert settling), and the first silence lifting
/// over an alert it held back (its notified severity lags its real one).
/// The sweeper plans only devices whose time has come, so its cost follows
/// what can change, not the size of the fleet.
pub fn next_sweep_at(
    rules: &RulesConfig,
    context: &DeviceContext,
    transitions: &[Transition],
    now: i64,
) -> Option<i64> {
    let device = &context.device;
    let silence_lifts = transitions
        .iter()
        .filter(|t| !t.state.flapping && t.state.severity != t.state.notified)
        .flat_map(|t| {
            context
                .silences
                .iter()
                .filter(|s| s.covers(&device.id, &device.group, &t.key, now))
                .filter_map(|s| s.lifts_at(now))
        });
    next_change_at(rules, transitions)
        .into_iter()
        .chain(silence_lifts)
        .min()
}

/// What the device row says about its last plan, and what the report brings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanMark {
    /// The `now` of the device's last plan (at a report or in a sweep).
    pub planned_at: Option<i64>,
    /// When the device last reported, before this report.
    pub last_seen_at: Option<i64>,
    /// When the sweeper is due to plan the device again (see [`next_sweep_at`]).
    pub next_sweep_at: Option<i64>,
    /// The report says something the last stored one did not (its content
    /// hash differs), or it adds disk samples (the forecast reads them).
    pub report_changed: bool,
}

/// Whether a report at `now` can leave the device's alerts as its last
/// plan left them, without planning: the report changes nothing, the last
/// plan was made for the previous report (at its arrival, so "minutes
/// offline" was 0 then as now) and its [`Plan::next_sweep_at`] has not come.
/// Planning then would find what the last plan found: every other input is
/// the same, and nothing that time alone changes is due before
/// `next_sweep_at`. Most reports change nothing, so this keeps their cost to
/// the device row and a history line; a firing alert's `last_seen`, value
/// and summary then keep those of its last plan (as between sweeps), brought
/// up to date at the next report that is planned — at the latest once the
/// offline rule's first level is due, since that time is counted from the
/// report the plan was made for.
pub fn plan_still_current(mark: PlanMark, now: i64) -> bool {
    !mark.report_changed
        && mark.planned_at.is_some()
        && mark.planned_at == mark.last_seen_at
        && mark.next_sweep_at.is_none_or(|due| now < due)
}

/// The change one rule transition calls for, or `None` when nothing is to be
/// written (an alert never raised that stays clear, or no change at all).
fn plan_change(
    device: &AlertDevice,
    existing: Option<&StoredAlert>,
    t: Transition,
    report: Option<&pb::StatusReport>,
    details: Option<&DeviceDetails>,
    now: i64,
) -> Option<AlertChange> {
    if existing.is_none() && t.state == AlertState::default() {
        return None;
    }
    if !t.changed() {
        return None;
    }
    let state = &t.state;
    let new_episode = t.previous.severity.is_none() && state.severity.is_some();
    // An acknowledgement holds while the alert fires on, through a fall in
    // severity; a rise or a new episode wakes it up.
    let status = match state.severity {
        Some(_)
            if existing.is_some_and(|e| e.status == AlertStatus::Acknowledged)
                && !new_episode
                && t.event != Some(Event::Escalated) =>
        {
            AlertStatus::Acknowledged
        }
        Some(_) => AlertStatus::Firing,
        None if state.pending.is_some() => AlertStatus::Pending,
        None => AlertStatus::Resolved,
    };
    let first_seen = match existing {
        Some(e) if !new_episode => e.first_seen,
        _ => now,
    };
    let value = finite(t.condition.value);
    let threshold = finite(t.condition.threshold);
    let subject_name = match (&t.condition.subject_name, existing) {
        (name, Some(e)) if name.is_empty() => e.subject_name.clone(),
        (name, _) => name.clone(),
    };
    let resolved = t.previous.severity.is_some() && state.severity.is_none();
    // A resolution says what is true now and what it ends; the alert keeps
    // the summary of what was wrong (and the cause) for its record.
    let (message, summary, cause) = match existing {
        Some(e) if resolved => (
            texts::resolution(&device.hostname, &t.key, e, &t.condition, report, now),
            e.summary.clone(),
            e.cause.clone(),
        ),
        _ => (
            t.condition.summary.clone(),
            t.condition.summary.clone(),
            t.condition.cause.clone(),
        ),
    };
    let worth_a_line = t.previous.severity != state.severity
        || t.event.is_some()
        || t.previous.flapping != state.flapping;
    let history = worth_a_line.then(|| HistoryEntry {
        from_severity: t.previous.severity,
        to_severity: state.severity,
        event: t.event,
        value,
        summary: message.clone(),
    });
    let notification = t.event.map(|event| Notification {
        event,
        device_id: device.id.clone(),
        hostname: device.hostname.clone(),
        group: device.group.clone(),
        rule: t.key.rule,
        subject: t.key.subject.clone(),
        subject_name: subject_name.clone(),
        severity: state.severity,
        previous_severity: t.previous.notified,
        value,
        threshold,
        summary: message,
        first_seen,
        at: now,
        device: details.cloned(),
    });
    Some(AlertChange {
        key: t.key,
        status,
        state: t.state,
        first_seen,
        last_seen: now,
        value,
        threshold,
        summary,
        subject_name,
        cause,
        history,
        notification,
    })
}

/// The key of the collector's "ticketing is failing" alert.
pub fn ticketing_failing_key() -> AlertKey {
    AlertKey {
        rule: RuleId::TicketingFailing,
        subject: String::new(),
    }
}

/// Plans the collector's "ticketing is failing" alert: raised (critical) while
/// `failing` holds a summary, its summary kept current while it fires,
/// resolved when `failing` is `None`. `previous` is the stored alert of
/// [`ticketing_failing_key`] under [`COLLECTOR_DEVICE_ID`].
///
/// It queues no notification: the ticket system is what is failing. An
/// acknowledgement holds until it resolves. [`Plan::changes`] has a history
/// entry exactly when the alert moved between firing and resolved.
pub fn plan_ticketing_failing(
    previous: Option<&StoredAlert>,
    failing: Option<&str>,
    now: i64,
) -> Plan {
    let firing =
        previous.filter(|p| matches!(p.status, AlertStatus::Firing | AlertStatus::Acknowledged));
    let change = match (failing, firing) {
        (Some(summary), Some(firing)) => AlertChange {
            key: ticketing_failing_key(),
            status: firing.status,
            state: firing.state.clone(),
            first_seen: firing.first_seen,
            last_seen: now,
            value: None,
            threshold: None,
            summary: summary.to_owned(),
            subject_name: String::new(),
            cause: String::new(),
            history: None,
            notification: None,
        },
        (Some(summary), None) => AlertChange {
            key: ticketing_failing_key(),
            status: AlertStatus::Firing,
            state: AlertState {
                severity: Some(Severity::Critical),
                notified: Some(Severity::Critical),
                ..AlertState::default()
            },
            first_seen: now,
            last_seen: now,
            value: None,
            threshold: None,
            summary: summary.to_owned(),
            subject_name: String::new(),
            cause: String::new(),
            history: Some(HistoryEntry {
                from_severity: None,
                to_severity: Some(Severity::Critical),
                event: Some(Event::Opened),
                value: None,
                summary: summary.to_owned(),
            }),
            notification: None,
        },
        (None, Some(firing)) => AlertChange {
            key: ticketing_failing_key(),
            status: AlertStatus::Resolved,
            state: AlertState {
                severity: None,
                notified: None,
                ..firing.state.clone()
            },
            first_seen: firing.first_seen,
            last_seen: now,
            value: None,
            threshold: None,
            summary: firing.summary.clone(),
            subject_name: String::new(),
            cause: String::new(),
            history: Some(HistoryEntry {
                from_severity: firing.state.severity,
                to_severity: None,
                event: Some(Event::Resolved),
                value: None,
                summary: TICKETING_RECOVERED.to_owned(),
            }),
            notification: None,
        },
        (None, None) => return Plan::default(),
    };
    Plan {
        changes: vec![change],
        forecasts: None,
        at: now,
        next_sweep_at: None,
    }
}

#[cfg(test)]
mod due_tests;
#[cfg(test)]
mod tests;
