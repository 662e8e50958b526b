//! The engine's decisions as data: each case is the stored alert, the rule
//! transition and what the plan must say.

use super::*;
use crate::rules::Condition;

const T0: i64 = 1_795_000_000;
const GIB: u64 = 1 << 30;

fn device() -> AlertDevice {
    AlertDevice {
        id: "d1".into(),
        group: "laptops".into(),
        hostname: "LAPTOP-042".into(),
        last_seen_at: Some(T0),
    }
}

fn disk_key() -> AlertKey {
    AlertKey {
        rule: RuleId::DiskFree,
        subject: "/".into(),
    }
}

fn state(severity: Option<Severity>, notified: Option<Severity>) -> AlertState {
    AlertState {
        severity,
        notified,
        ..AlertState::default()
    }
}

use AlertStatus::{Acknowledged, Firing, Pending, Resolved};
use Severity::{Critical, Warning};

struct Case {
    name: &'static str,
    /// The stored alert: status and severity before.
    stored: Option<(AlertStatus, Option<Severity>)>,
    /// The rule's next severity, whether it is pending, and the event due.
    next: Option<Severity>,
    pending: bool,
    event: Option<Event>,
    /// Expected: written at all, status, episode start, history line.
    written: bool,
    status: AlertStatus,
    first_seen: i64,
    history: bool,
}

const CASES: &[Case] = &[
    Case {
        name: "a new alert opens firing and starts its episode now",
        stored: None,
        next: Some(Warning),
        pending: false,
        event: Some(Event::Opened),
        written: true,
        status: Firing,
        first_seen: T0,
        history: true,
    },
    Case {
        name: "a condition waiting for its `for` is pending, without a history line",
        stored: None,
        next: None,
        pending: true,
        event: None,
        written: true,
        status: Pending,
        first_seen: T0,
        history: false,
    },
    Case {
        name: "an alert never raised that stays clear is not written",
        stored: None,
        next: None,
        pending: false,
        event: None,
        written: false,
        status: Resolved,
        first_seen: T0,
        history: false,
    },
    Case {
        name: "a resolved alert that stays clear is not rewritten",
        stored: Some((Resolved, None)),
        next: None,
        pending: false,
        event: None,
        written: false,
        status: Resolved,
        first_seen: 0,
        history: false,
    },
    Case {
        name: "an acknowledged alert stays acknowledged while it fires on",
        stored: Some((Acknowledged, Some(Warning))),
        next: Some(Warning),
        pending: false,
        event: None,
        written: true,
        status: Acknowledged,
        first_seen: T0 - 600,
        history: false,
    },
    Case {
        name: "an acknowledgement holds through a fall in severity",
        stored: Some((Acknowledged, Some(Critical))),
        next: Some(Warning),
        pending: false,
        event: Some(Event::Deescalated),
        written: true,
        status: Acknowledged,
        first_seen: T0 - 600,
        history: true,
    },
    Case {
        name: "an escalation wakes an acknowledged alert up",
        stored: Some((Acknowledged, Some(Warning))),
        next: Some(Critical),
        pending: false,
        event: Some(Event::Escalated),
        written: true,
        status: Firing,
        first_seen: T0 - 600,
        history: true,
    },
    Case {
        name: "a firing alert resolves and keeps its episode start",
        stored: Some((Firing, Some(Critical))),
        next: None,
        pending: false,
        event: Some(Event::Resolved),
        written: true,
        status: Resolved,
        first_seen: T0 - 600,
        history: true,
    },
    Case {
        name: "a resolved alert firing again starts a new episode",
        stored: Some((Resolved, None)),
        next: Some(Critical),
        pending: false,
        event: Some(Event::Opened),
        written: true,
        status: Firing,
        first_seen: T0,
        history: true,
    },
    Case {
        name: "a silenced rise changes the severity and its history, but notifies nobody",
        stored: Some((Firing, Some(Warning))),
        next: Some(Critical),
        pending: false,
        event: None,
        written: true,
        status: Firing,
        first_seen: T0 - 600,
        history: true,
    },
];

#[test]
fn alert_changes_follow_the_stored_alert_and_the_rule_transition() {
    for case in CASES {
        let stored = case.stored.map(|(status, severity)| StoredAlert {
            status,
            first_seen: T0 - 600,
            state: state(severity, severity),
            summary: "Disk / on LAPTOP-042 has 3.0% free".into(),
            subject_name: "/".into(),
            cause: String::new(),
        });
        let previous = stored.as_ref().map(|s| s.state.clone()).unwrap_or_default();
        let next = AlertState {
            severity: case.next,
            notified: if case.event.is_some() {
                case.next
            } else {
                previous.notified
            },
            pending: case.pending.then_some((Warning, T0)),
            ..AlertState::default()
        };
        let transition = Transition {
            key: disk_key(),
            previous: previous.clone(),
            state: next.clone(),
            condition: Condition {
                severity: case.next,
                value: 3.0,
                threshold: f64::NAN,
                summary: "Disk / on LAPTOP-042 has 3.0% free".into(),
                subject_name: "/".into(),
                cause: String::new(),
                gone: false,
                changes_at: None,
            },
            event: case.event,
        };
        let change = plan_change(&device(), stored.as_ref(), transition, None, None, T0);
        assert_eq!(change.is_some(), case.written, "{}", case.name);
        let Some(change) = change else { continue };
        assert_eq!(change.status, case.status, "{}", case.name);
        assert_eq!(change.first_seen, case.first_seen, "{}", case.name);
        assert_eq!(change.state, next, "{}", case.name);
        assert_eq!(
            (change.value, change.threshold),
            (Some(3.0), None),
            "{}",
            case.name
        );
        assert_eq!(change.history.is_some(), case.history, "{}", case.name);
        if let Some(history) = &change.history {
            assert_eq!(
                (history.from_severity, history.to_severity, history.event),
                (previous.severity, case.next, case.event),
                "{}",
                case.name
            );
        }
        match (&change.notification, case.event) {
            (None, None) => {}
            (Some(n), Some(event)) => {
                assert_eq!(n.event, event, "{}", case.name);
                assert_eq!(
                    (n.severity, n.previous_severity),
                    (case.next, previous.notified),
                    "{}",
                    case.name
                );
                assert_eq!(
                    (n.first_seen, n.at, n.threshold),
                    (case.first_seen, T0, None),
                    "{}",
                    case.name
                );
                assert_eq!(n.correlation_key(), "d1/disk_free//", "{}", case.name);
            }
            (n, event) => panic!("{}: notification {n:?} for event {event:?}", case.name),
        }
    }
}

fn disk_report(available_gib: u64, hostname: &str) -> pb::StatusReport {
    pb::StatusReport {
        seq: 1,
        collected_at_unix_secs: T0,
        host: Some(pb::HostFacts {
            hostname: hostname.into(),
            os_name: "Debian GNU/Linux".into(),
            os_version: "12".into(),
            model: "Latitude 5440".into(),
            serial_number: "ABC123".into(),
            ..Default::default()
        }),
        disks: Some(pb::DiskCheck {
            filesystems: vec![pb::DiskStatus {
                mount_point: "/".into(),
                total_bytes: 100 * GIB,
                free_bytes: available_gib * GIB,
                available_bytes: available_gib * GIB,
                ..Default::default()
            }],
        }),
        ..Default::default()
    }
}

fn context(silences: Vec<Silence>) -> DeviceContext {
    DeviceContext {
        device: device(),
        alerts: BTreeMap::new(),
        silences,
        disk_history: BTreeMap::new(),
    }
}

fn rules() -> RulesConfig {
    let mut rules = RulesConfig::default();
    rules.disk_free_bytes.enabled = false;
    rules
}

#[test]
fn a_full_disk_plans_one_critical_alert_whose_notification_carries_the_device_details() {
    let plan = plan_device(
        &rules(),
        &context(Vec::new()),
        Some(&disk_report(3, "")),
        T0,
    );
    assert_eq!(plan.changes.len(), 1, "{plan:#?}");
    assert_eq!(plan.notifications(), 1);
    let change = &plan.changes[0];
    assert_eq!((change.key.clone(), change.status), (disk_key(), Firing));
    let notification = change.notification.as_ref().unwrap();
    assert_eq!(notification.event, Event::Opened);
    assert_eq!(notification.severity, Some(Critical));
    assert_eq!(notification.group, "laptops");
    assert_eq!(
        notification.device,
        Some(DeviceDetails {
            // The report named no host: the enrolled name stands in.
            hostname: "LAPTOP-042".into(),
            os: "Debian GNU/Linux 12".into(),
            model: "Latitude 5440".into(),
            serial: "ABC123".into(),
            user: None,
        })
    );
}

#[test]
fn a_healthy_report_of_a_device_without_alerts_plans_no_alert_but_its_forecast() {
    let plan = plan_device(
        &rules(),
        &context(Vec::new()),
        Some(&disk_report(50, "x")),
        T0,
    );
    assert_eq!(plan.changes, Vec::new());
    let forecasts = plan.forecasts.expect("the report has a disk section");
    let described: Vec<(String, String)> = forecasts
        .iter()
        .map(|(mount, state)| (mount.clone(), state.describe()))
        .collect();
    assert_eq!(
        described,
        vec![("/".to_owned(), "needs 4 more days of history".to_owned())]
    );
}

#[test]
fn a_silence_of_the_device_keeps_the_alert_and_holds_its_notification() {
    let silence = Silence {
        id: "s1".into(),
        device_id: "d1".into(),
        group: String::new(),
        rule: String::new(),
        subject: String::new(),
        starts_at: T0 - 60,
        ends_at: Some(T0 + 600),
        weekly: None,
        comment: "disk swap".into(),
        created_by: "it".into(),
        created_at: T0 - 60,
        expired_at: None,
    };
    let plan = plan_device(
        &rules(),
        &context(vec![silence]),
        Some(&disk_report(3, "x")),
        T0,
    );
    assert_eq!(plan.changes.len(), 1);
    assert_eq!(plan.changes[0].state.severity, Some(Critical));
    assert_eq!(plan.changes[0].state.notified, None);
    assert_eq!(plan.notifications(), 0);
}

#[test]
fn the_forecast_window_sets_how_far_back_disk_history_is_loaded() {
    let rules = rules();
    let window = i64::try_from(rules.disk_forecast.window_secs).unwrap();
    assert_eq!(disk_history_since(&rules, T0), T0 - window);
}

struct TicketingCase {
    name: &'static str,
    stored: Option<(AlertStatus, Option<Severity>)>,
    failing: Option<&'static str>,
    /// Expected: status, summary, history event (a move between firing and resolved).
    planned: Option<(AlertStatus, &'static str, Option<Event>)>,
}

const TICKETING: &[TicketingCase] = &[
    TicketingCase {
        name: "failing with no alert opens it, critical",
        stored: None,
        failing: Some("3 ticket operation(s) undelivered"),
        planned: Some((
            Firing,
            "3 ticket operation(s) undelivered",
            Some(Event::Opened),
        )),
    },
    TicketingCase {
        name: "failing again after it resolved opens a new episode",
        stored: Some((Resolved, None)),
        failing: Some("jira refused the credentials"),
        planned: Some((Firing, "jira refused the credentials", Some(Event::Opened))),
    },
    TicketingCase {
        name: "still failing only updates the summary",
        stored: Some((Firing, Some(Critical))),
        failing: Some("4 ticket operation(s) undelivered"),
        planned: Some((Firing, "4 ticket operation(s) undelivered", None)),
    },
    TicketingCase {
        name: "an acknowledgement holds while it still fails",
        stored: Some((Acknowledged, Some(Critical))),
        failing: Some("4 ticket operation(s) undelivered"),
        planned: Some((Acknowledged, "4 ticket operation(s) undelivered", None)),
    },
    TicketingCase {
        name: "recovery resolves it, acknowledged or not",
        stored: Some((Acknowledged, Some(Critical))),
        failing: None,
        planned: Some((Resolved, TICKETING_RECOVERED, Some(Event::Resolved))),
    },
    TicketingCase {
        name: "nothing failing and nothing firing plans nothing",
        stored: Some((Resolved, None)),
        failing: None,
        planned: None,
    },
];

#[test]
fn the_ticketing_failing_alert_opens_updates_and_resolves_without_notifying() {
    for case in TICKETING {
        let stored = case.stored.map(|(status, severity)| StoredAlert {
            status,
            first_seen: T0 - 600,
            state: state(severity, severity),
            summary: "Disk / on LAPTOP-042 has 3.0% free".into(),
            subject_name: "/".into(),
            cause: String::new(),
        });
        let plan = plan_ticketing_failing(stored.as_ref(), case.failing, T0);
        assert_eq!(plan.notifications(), 0, "{}", case.name);
        let Some((status, summary, event)) = case.planned else {
            assert_eq!(plan, Plan::default(), "{}", case.name);
            continue;
        };
        assert_eq!(plan.changes.len(), 1, "{}", case.name);
        let change = &plan.changes[0];
        assert_eq!(change.key, ticketing_failing_key(), "{}", case.name);
        // What people read of this change: its history line, else the summary.
        let message = change
            .history
            .as_ref()
            .map_or(change.summary.as_str(), |h| h.summary.as_str());
        assert_eq!((change.status, message), (status, summary), "{}", case.name);
        if status == Resolved {
            // The record keeps what was wrong; the resolution is in the history.
            assert_eq!(change.summary, "Disk / on LAPTOP-042 has 3.0% free");
        }
        assert_eq!(
            change.history.as_ref().and_then(|h| h.event),
            event,
            "{}",
            case.name
        );
        let firing = status != Resolved;
        assert_eq!(change.state.severity.is_some(), firing, "{}", case.name);
        assert_eq!(change.state.notified.is_some(), firing, "{}", case.name);
        let new_episode = event == Some(Event::Opened);
        assert_eq!(
            change.first_seen,
            if new_episode { T0 } else { T0 - 600 },
            "{}",
            case.name
        );
    }
}

/// Plans each report in turn, keeping the alerts as a store would, and
/// returns every history line written: (event, value, message).
fn history_of(reports: &[(i64, pb::StatusReport)]) -> Vec<(Option<Event>, Option<f64>, String)> {
    let mut context = context(Vec::new());
    let mut lines = Vec::new();
    for (at, report) in reports {
        context.device.last_seen_at = Some(*at);
        let plan = plan_device(&RulesConfig::default(), &context, Some(report), *at);
        for change in plan.changes {
            if let Some(h) = &change.history {
                lines.push((h.event, h.value, h.summary.clone()));
            }
            context.alerts.insert(
                change.key.clone(),
                StoredAlert {
                    status: change.status,
                    first_seen: change.first_seen,
                    state: change.state,
                    summary: change.summary,
                    subject_name: change.subject_name,
                    cause: change.cause,
                },
            );
        }
    }
    lines
}

fn backup(result: pb::BackupResult, finished: i64, message: &str) -> pb::StatusReport {
    pb::StatusReport {
        backups: Some(pb::BackupCheck {
            jobs: vec![pb::BackupJobStatus {
                name: "nightly".into(),
                result: result as i32,
                last_run_finished_unix_secs: Some(finished),
                last_success_unix_secs: Some(T0 - 3600),
                message: message.into(),
                ..Default::default()
            }],
        }),
        ..Default::default()
    }
}

#[test]
fn a_backup_failure_keeps_its_error_and_resolves_with_its_own_text() {
    let lines = history_of(&[
        (
            T0,
            backup(pb::BackupResult::Failed, T0 - 60, "repository locked"),
        ),
        (
            T0 + 3600,
            backup(pb::BackupResult::Success, T0 + 3000, "ok"),
        ),
    ]);
    assert_eq!(
        lines,
        vec![
            (
                Some(Event::Opened),
                Some(1.0),
                "Backup job nightly on LAPTOP-042 failed at 2026-11-18 11:05 UTC: repository locked".to_owned()
            ),
            (
                Some(Event::Resolved),
                Some(0.0),
                "Backup job nightly on LAPTOP-042 succeeded at 2026-11-18 11:56 UTC; it had failed since 2026-11-18 11:06 UTC with: repository locked".to_owned()
            ),
        ]
    );
}

fn certificate(fingerprint: &str, not_after: i64) -> pb::StatusReport {
    pb::StatusReport {
        certificates: Some(pb::CertificateCheck {
            certificates: vec![pb::CertificateStatus {
                sha256_fingerprint: fingerprint.into(),
                subject: "CN=intranet.example".into(),
                not_after_unix_secs: not_after,
                locations: vec![pb::CertificateLocation {
                    location: "/etc/ssl/intranet.pem".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            endpoints: vec![],
        }),
        ..Default::default()
    }
}

#[test]
fn a_renewed_certificate_resolves_by_name_and_path_with_the_new_expiry() {
    let day = 86_400;
    let lines = history_of(&[
        (T0, certificate("afde0f19", T0 + 5 * day)),
        (T0 + 60, certificate("b0b0cafe", T0 + 90 * day)),
    ]);
    assert_eq!(
        lines,
        vec![
            (
                Some(Event::Opened),
                Some(5.0),
                "Certificate CN=intranet.example at /etc/ssl/intranet.pem on LAPTOP-042 expires in 5 days (2026-11-23 11:06 UTC)".to_owned()
            ),
            (
                Some(Event::Resolved),
                None,
                "Certificate CN=intranet.example at /etc/ssl/intranet.pem on LAPTOP-042 replaced; the new one expires 2027-02-16 11:06 UTC, in 89 days".to_owned()
            ),
        ]
    );
}

#[test]
fn a_pending_alert_follows_every_report() {
    let rules = RulesConfig::default();
    let mut context = context(Vec::new());
    let report = |security: usize| pb::StatusReport {
        patches: Some(pb::PatchCheck {
            scan_state: pb::ScanState::Ok as i32,
            last_successful_scan_unix_secs: Some(T0),
            pending: (0..security)
                .map(|i| pb::PendingUpdate {
                    name: format!("libssl{i}"),
                    security: true,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let first = plan_device(&rules, &context, Some(&report(2)), T0);
    let change = first
        .changes
        .into_iter()
        .find(|c| c.key.rule == RuleId::SecurityUpdatesPending)
        .expect("pending alert written");
    assert_eq!(change.status, Pending);
    context.alerts.insert(
        change.key.clone(),
        StoredAlert {
            status: change.status,
            first_seen: change.first_seen,
            state: change.state,
            summary: change.summary,
            subject_name: change.subject_name,
            cause: change.cause,
        },
    );
    let later = plan_device(&rules, &context, Some(&report(3)), T0 + 3600);
    let change = later
        .changes
        .iter()
        .find(|c| c.key.rule == RuleId::SecurityUpdatesPending)
        .expect("a pending alert is written again");
    assert_eq!(
        (change.status, change.value, change.last_seen),
        (Pending, Some(3.0), T0 + 3600)
    );
    assert!(change.history.is_none(), "no transition, no history line");
}
