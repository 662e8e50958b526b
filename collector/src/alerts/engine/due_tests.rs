//! When a quiet device is due again: the plan's `next_sweep_at` must never
//! come after the first time a rule changes the device's alerts with time
//! alone. Checked at the offline level itself (the second it is reached,
//! one before, one after) and, for a device that stays quiet, against a
//! planner run every second.

use super::*;

const T0: i64 = 1_795_000_007;
const HOUR: i64 = 3600;

/// A report like the load generator's: a backup job that last succeeded
/// five hours before, so its dead-man level (26 hours) is due far later than
/// the offline level, as in the failover test.
fn quiet_report() -> pb::StatusReport {
    pb::StatusReport {
        backups: Some(pb::BackupCheck {
            jobs: vec![pb::BackupJobStatus {
                name: "nightly-0".into(),
                result: pb::BackupResult::Success as i32,
                last_run_finished_unix_secs: Some(T0 - 5 * HOUR),
                last_success_unix_secs: Some(T0 - 5 * HOUR),
                ..Default::default()
            }],
        }),
        ..Default::default()
    }
}

/// Default rules with the offline rule's levels set (minutes).
fn offline_rules(warning: f64, critical: Option<f64>, for_secs: u64) -> RulesConfig {
    let mut rules = RulesConfig::default();
    rules.offline_minutes.warning = Some(warning);
    rules.offline_minutes.critical = critical;
    rules.offline_minutes.for_secs = for_secs;
    rules
}

/// Device `d1`, last heard from at `last_seen`, with no alerts yet.
fn quiet_device(last_seen: i64) -> DeviceContext {
    DeviceContext {
        device: AlertDevice {
            id: "d1".into(),
            group: "fleet".into(),
            hostname: "LAPTOP-042".into(),
            last_seen_at: Some(last_seen),
        },
        alerts: BTreeMap::new(),
        silences: Vec::new(),
        disk_history: BTreeMap::new(),
    }
}

fn offline_key() -> AlertKey {
    AlertKey {
        rule: RuleId::OfflineMinutes,
        subject: String::new(),
    }
}

/// Stores the plan's changes as a backend would.
fn persist(context: &mut DeviceContext, plan: &Plan) {
    for change in &plan.changes {
        context.alerts.insert(
            change.key.clone(),
            StoredAlert {
                status: change.status,
                first_seen: change.first_seen,
                state: change.state.clone(),
                summary: change.summary.clone(),
                subject_name: change.subject_name.clone(),
                cause: change.cause.clone(),
            },
        );
    }
}

/// An alert a plan changed, and the notification it queued, if any.
type VisibleChange = (AlertKey, Option<Event>);

/// What a plan changes about the alerts people see or the engine waits on:
/// severity, pending and clearing times, what was notified, flapping, and
/// notifications. (The list of recent changes, kept for flapping, ages with
/// time alone but changes nothing else until one of these moves.)
fn visible_changes(context: &DeviceContext, plan: &Plan) -> Vec<VisibleChange> {
    plan.changes
        .iter()
        .filter(|change| {
            let before = context
                .alerts
                .get(&change.key)
                .map(|stored| stored.state.clone())
                .unwrap_or_default();
            let after = &change.state;
            change.notification.is_some()
                || (
                    before.severity,
                    before.pending,
                    before.clearing_since,
                    before.notified,
                    before.flapping,
                ) != (
                    after.severity,
                    after.pending,
                    after.clearing_since,
                    after.notified,
                    after.flapping,
                )
        })
        .map(|change| {
            (
                change.key.clone(),
                change.notification.as_ref().map(|n| n.event),
            )
        })
        .collect()
}

fn offline_change(plan: &Plan) -> Option<&AlertChange> {
    plan.changes.iter().find(|c| c.key == offline_key())
}

#[test]
fn a_report_makes_the_device_due_again_at_its_offline_level() {
    let rules = offline_rules(0.25, None, 0);
    let plan = plan_device(&rules, &quiet_device(T0), Some(&quiet_report()), T0);
    assert_eq!(plan.next_sweep_at, Some(T0 + 15), "{plan:#?}");
}

#[test]
fn one_second_before_its_offline_level_a_device_is_due_again_at_the_level() {
    let rules = offline_rules(0.25, None, 0);
    let plan = plan_device(&rules, &quiet_device(T0), Some(&quiet_report()), T0 + 14);
    assert_eq!(offline_change(&plan), None, "{plan:#?}");
    assert_eq!(plan.next_sweep_at, Some(T0 + 15));
}

#[test]
fn a_device_offline_for_exactly_its_level_is_alerted_then() {
    let rules = offline_rules(0.25, None, 0);
    let plan = plan_device(&rules, &quiet_device(T0), Some(&quiet_report()), T0 + 15);
    let change = offline_change(&plan).expect("the offline alert is planned");
    assert_eq!(change.state.severity, Some(Severity::Warning));
    assert_eq!(
        change.notification.as_ref().map(|n| n.event),
        Some(Event::Opened)
    );
    // Only a report changes a firing offline alert with one level; the
    // backup job's dead-man level is what comes next.
    assert_eq!(plan.next_sweep_at, Some(T0 - 5 * HOUR + 26 * HOUR));
}

#[test]
fn a_device_offline_one_second_past_its_level_is_alerted_then() {
    let rules = offline_rules(0.25, None, 0);
    let plan = plan_device(&rules, &quiet_device(T0), Some(&quiet_report()), T0 + 16);
    let change = offline_change(&plan).expect("the offline alert is planned");
    assert_eq!(change.state.severity, Some(Severity::Warning));
}

#[test]
fn a_device_offline_for_exactly_its_warning_level_is_due_again_at_its_critical_one() {
    let rules = offline_rules(0.25, Some(0.5), 0);
    let plan = plan_device(&rules, &quiet_device(T0), Some(&quiet_report()), T0 + 15);
    let change = offline_change(&plan).expect("the offline alert is planned");
    assert_eq!(change.state.severity, Some(Severity::Warning));
    assert_eq!(plan.next_sweep_at, Some(T0 + 30));
}

/// For a device that stays quiet after reporting at `last_seen`: plans it
/// every second from its report until `until`, and checks that every plan's
/// `next_sweep_at` is after the plan and no later than the next second at
/// which a plan changes something. Returns the seconds at which something
/// changed, with what.
fn check_due_times(
    rules: &RulesConfig,
    report: &pb::StatusReport,
    last_seen: i64,
    until: i64,
) -> Vec<(i64, Vec<VisibleChange>)> {
    let mut context = quiet_device(last_seen);
    let mut dues = Vec::new();
    let mut changes = Vec::new();
    for now in last_seen..=until {
        let plan = plan_device(rules, &context, Some(report), now);
        let visible = visible_changes(&context, &plan);
        if !visible.is_empty() {
            changes.push((now, visible));
        }
        if let Some(due) = plan.next_sweep_at {
            assert!(due > now, "due at {due}, not after the plan at {now}");
        }
        dues.push((now, plan.next_sweep_at.unwrap_or(i64::MAX)));
        persist(&mut context, &plan);
    }
    for (planned, due) in dues {
        if let Some((changed, what)) = changes.iter().find(|(at, _)| *at > planned) {
            assert!(
                due <= *changed,
                "planned at {} (last seen + {} s): due at +{} s, but {what:?} changes at +{} s",
                planned,
                planned - last_seen,
                due - last_seen,
                changed - last_seen,
            );
        }
    }
    changes
}

#[test]
fn a_quiet_device_is_due_again_no_later_than_anything_changes() {
    // Levels in minutes that are not whole seconds in binary, or are;
    // with a critical level, and with a `for` delay.
    let cases = [
        offline_rules(0.1, None, 0),
        offline_rules(0.25, None, 0),
        offline_rules(0.3, None, 0),
        offline_rules(0.7, Some(1.3), 0),
        offline_rules(1.0 / 3.0, Some(2.0 / 3.0), 0),
        offline_rules(1.5, None, 20),
        offline_rules(7.3, Some(9.9), 0),
    ];
    // A certificate whose 30-day level comes within the window too.
    let mut report = quiet_report();
    report.certificates = Some(pb::CertificateCheck {
        certificates: vec![pb::CertificateStatus {
            sha256_fingerprint: "aa11".into(),
            subject: "CN=intranet.example".into(),
            not_after_unix_secs: T0 + 30 * 86_400 + 377,
            ..Default::default()
        }],
        endpoints: vec![],
    });
    for rules in cases {
        let level = rules.offline_minutes.warning.unwrap();
        let changes = check_due_times(&rules, &report, T0, T0 + 20 * 60);
        let first_offline = changes
            .iter()
            .find(|(_, what)| what.iter().any(|(key, _)| *key == offline_key()))
            .map(|(at, _)| at - T0);
        let for_secs = rules.offline_minutes.for_secs as i64;
        assert_eq!(
            first_offline,
            Some((level * 60.0).ceil() as i64),
            "offline at {level} min (for {for_secs} s): first change"
        );
        assert!(
            changes.iter().any(|(_, what)| what
                .iter()
                .any(|(key, _)| key.rule == RuleId::CertificateDaysLeft)),
            "the certificate's level is reached in the window: {changes:?}"
        );
    }
}
