//! Rule cases as data: a series of reports and the notifications expected
//! after each, run through [`evaluate`] with the state carried along.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

mod disk_levels;

const T0: i64 = 1_795_000_000;
const MIN: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;
const GIB: u64 = 1024 * 1024 * 1024;

fn disk(mount: &str, total: u64, available: u64) -> pb::DiskStatus {
    pb::DiskStatus {
        mount_point: mount.into(),
        total_bytes: total,
        free_bytes: available,
        available_bytes: available,
        inodes_total: Some(1000),
        inodes_free: Some(900),
        ..Default::default()
    }
}

fn disks(available_gib: &[(&str, u64)]) -> pb::StatusReport {
    pb::StatusReport {
        disks: Some(pb::DiskCheck {
            filesystems: available_gib
                .iter()
                .map(|(mount, gib)| disk(mount, 100 * GIB, gib * GIB))
                .collect(),
        }),
        ..Default::default()
    }
}

fn certs(certs: &[(&str, i64)]) -> pb::StatusReport {
    pb::StatusReport {
        certificates: Some(pb::CertificateCheck {
            certificates: certs
                .iter()
                .map(|(fp, not_after)| pb::CertificateStatus {
                    sha256_fingerprint: (*fp).into(),
                    subject: "CN=intranet.example".into(),
                    not_after_unix_secs: *not_after,
                    ..Default::default()
                })
                .collect(),
            endpoints: vec![],
        }),
        ..Default::default()
    }
}

fn job(result: pb::BackupResult, last_success: Option<i64>) -> pb::StatusReport {
    pb::StatusReport {
        backups: Some(pb::BackupCheck {
            jobs: vec![pb::BackupJobStatus {
                name: "nightly".into(),
                result: result as i32,
                last_success_unix_secs: last_success,
                message: "repository locked".into(),
                ..Default::default()
            }],
        }),
        ..Default::default()
    }
}

fn patches(
    security: usize,
    reboot: bool,
    state: pb::ScanState,
    last_scan: i64,
) -> pb::StatusReport {
    pb::StatusReport {
        patches: Some(pb::PatchCheck {
            package_manager: "apt".into(),
            scan_state: state as i32,
            scan_error: if state == pb::ScanState::Error {
                "apt-get update failed".into()
            } else {
                String::new()
            },
            last_successful_scan_unix_secs: Some(last_scan),
            pending: (0..security)
                .map(|i| pb::PendingUpdate {
                    name: format!("libssl{i}"),
                    security: true,
                    ..Default::default()
                })
                .collect(),
            reboot_required: reboot,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One evaluation: at `at`, with this report (and last seen time), these events.
struct Step {
    at: i64,
    last_seen: Option<i64>,
    report: Option<pb::StatusReport>,
    expect: Vec<(RuleId, &'static str, Event)>,
}

fn step(at: i64, report: pb::StatusReport, expect: Vec<(RuleId, &'static str, Event)>) -> Step {
    Step {
        at,
        last_seen: Some(at),
        report: Some(report),
        expect,
    }
}

struct Run {
    rules: RulesConfig,
    states: BTreeMap<AlertKey, AlertState>,
    summaries: BTreeMap<AlertKey, String>,
}

impl Run {
    fn new(rules: RulesConfig) -> Self {
        Self {
            rules,
            states: BTreeMap::new(),
            summaries: BTreeMap::new(),
        }
    }

    fn apply(&mut self, case: &str, index: usize, s: &Step) {
        let history = BTreeMap::new();
        let device = DeviceInput {
            device_id: "dev-1",
            hostname: "LAPTOP-042",
            last_seen_at: s.last_seen,
            report: s.report.as_ref(),
            disk_forecasts: &history,
        };
        let transitions = evaluate(&self.rules, &self.states, &device, &|_| false, s.at);
        let mut events: Vec<(RuleId, String, Event)> = transitions
            .iter()
            .filter_map(|t| t.event.map(|e| (t.key.rule, t.key.subject.clone(), e)))
            .collect();
        events.sort_by_key(|(rule, subject, _)| (*rule, subject.clone()));
        let mut expected: Vec<(RuleId, String, Event)> = s
            .expect
            .iter()
            .map(|(rule, subject, event)| (*rule, (*subject).to_owned(), *event))
            .collect();
        expected.sort_by_key(|(rule, subject, _)| (*rule, subject.clone()));
        assert_eq!(events, expected, "case {case:?}, step {index}");
        for t in transitions {
            self.summaries
                .insert(t.key.clone(), t.condition.summary.clone());
            self.states.insert(t.key, t.state);
        }
    }
}

fn run(case: &str, rules: RulesConfig, steps: &[Step]) -> Run {
    let mut r = Run::new(rules);
    for (index, s) in steps.iter().enumerate() {
        r.apply(case, index, s);
    }
    r
}

fn rules_with(toml_text: &str) -> RulesConfig {
    RulesConfig::default()
        .with_overrides(&toml_text.parse::<toml::Table>().unwrap())
        .unwrap()
}

use Event::*;
use RuleId::*;

#[test]
fn disk_free_percent_fires_rises_falls_and_clears_with_hysteresis() {
    run(
        "disk percent",
        RulesConfig::default(),
        &[
            step(T0, disks(&[("/", 50)]), vec![]),
            step(T0 + MIN, disks(&[("/", 9)]), vec![(DiskFree, "/", Opened)]),
            step(
                T0 + 2 * MIN,
                disks(&[("/", 4)]),
                vec![(DiskFree, "/", Escalated)],
            ),
            // 6% is inside the critical band's hysteresis (5 + 2): still critical.
            step(T0 + 3 * MIN, disks(&[("/", 6)]), vec![]),
            step(
                T0 + 4 * MIN,
                disks(&[("/", 8)]),
                vec![(DiskFree, "/", Deescalated)],
            ),
            // 11% is above the warning level but inside its hysteresis (10 + 2).
            step(T0 + 5 * MIN, disks(&[("/", 11)]), vec![]),
            step(
                T0 + 6 * MIN,
                disks(&[("/", 13)]),
                vec![(DiskFree, "/", Resolved)],
            ),
        ],
    );
}

#[test]
fn disk_free_bytes_and_summary_text() {
    let r = run(
        "disk bytes",
        rules_with("[disk_free_percent]\nenabled = false\n"),
        &[step(
            T0,
            disks(&[("/data", 1)]),
            vec![(DiskFree, "/data", Opened)],
        )],
    );
    let key = AlertKey {
        rule: DiskFree,
        subject: "/data".into(),
    };
    assert_eq!(
        r.summaries[&key],
        "Disk /data on LAPTOP-042 has 1.0% free (1.0 GiB of 100.0 GiB), below 2.0 GiB"
    );
}

#[test]
fn inode_use_fires_above_its_level() {
    let mut report = disks(&[("/", 50)]);
    report.disks.as_mut().unwrap().filesystems[0].inodes_free = Some(30);
    run(
        "inodes",
        RulesConfig::default(),
        &[step(T0, report, vec![(InodeUsedPercent, "/", Opened)])],
    );
}

#[test]
fn for_duration_delays_firing_and_a_blip_resets_it() {
    let rules = rules_with("[disk_free_percent]\nfor_secs = 600\n");
    run(
        "for",
        rules,
        &[
            step(T0, disks(&[("/", 8)]), vec![]),
            step(T0 + 5 * MIN, disks(&[("/", 8)]), vec![]),
            step(T0 + 7 * MIN, disks(&[("/", 50)]), vec![]),
            step(T0 + 12 * MIN, disks(&[("/", 8)]), vec![]),
            step(T0 + 21 * MIN, disks(&[("/", 8)]), vec![]),
            step(
                T0 + 22 * MIN,
                disks(&[("/", 8)]),
                vec![(DiskFree, "/", Opened)],
            ),
        ],
    );
}

#[test]
fn certificate_expiry_escalates_and_renewal_clears() {
    let expires = T0 + 40 * DAY;
    run(
        "certificates",
        RulesConfig::default(),
        &[
            step(T0, certs(&[("aa", expires)]), vec![]),
            step(
                T0 + 11 * DAY,
                certs(&[("aa", expires)]),
                vec![(CertificateDaysLeft, "aa", Opened)],
            ),
            step(
                T0 + 34 * DAY,
                certs(&[("aa", expires)]),
                vec![(CertificateDaysLeft, "aa", Escalated)],
            ),
            step(T0 + 41 * DAY, certs(&[("aa", expires)]), vec![]),
            // The replacement arrives: the old fingerprint is gone, the new one is fine.
            step(
                T0 + 42 * DAY,
                certs(&[("bb", T0 + 400 * DAY)]),
                vec![(CertificateDaysLeft, "aa", Resolved)],
            ),
        ],
    );
}

#[test]
fn expired_certificate_is_critical_with_a_summary_saying_so() {
    let r = run(
        "expired",
        RulesConfig::default(),
        &[step(
            T0,
            certs(&[("aa", T0 - DAY)]),
            vec![(CertificateDaysLeft, "aa", Opened)],
        )],
    );
    let key = AlertKey {
        rule: CertificateDaysLeft,
        subject: "aa".into(),
    };
    assert_eq!(r.states[&key].severity, Some(Severity::Critical));
    assert!(
        r.summaries[&key].contains("expired on"),
        "{}",
        r.summaries[&key]
    );
}

#[test]
fn backup_dead_man_fires_after_26_hours_and_clears_on_success() {
    let last = T0;
    let r = run(
        "dead-man",
        RulesConfig::default(),
        &[
            step(
                T0 + 20 * HOUR,
                job(pb::BackupResult::Success, Some(last)),
                vec![],
            ),
            step(
                T0 + 27 * HOUR,
                job(pb::BackupResult::Success, Some(last)),
                vec![(BackupHoursSinceSuccess, "nightly", Opened)],
            ),
            step(
                T0 + 3 * DAY + HOUR,
                job(pb::BackupResult::Success, Some(last)),
                vec![(BackupHoursSinceSuccess, "nightly", Escalated)],
            ),
        ],
    );
    let key = AlertKey {
        rule: BackupHoursSinceSuccess,
        subject: "nightly".into(),
    };
    assert_eq!(
        r.summaries[&key],
        format!(
            "Backup job nightly on LAPTOP-042 has not succeeded for 3 days (last success {})",
            conditions::format_minute(last)
        )
    );
    let mut r = r;
    r.apply(
        "dead-man",
        3,
        &step(
            T0 + 4 * DAY,
            job(pb::BackupResult::Success, Some(T0 + 4 * DAY - HOUR)),
            vec![(BackupHoursSinceSuccess, "nightly", Resolved)],
        ),
    );
}

#[test]
fn backup_failure_and_restore_failure() {
    let mut report = job(pb::BackupResult::Failed, Some(T0));
    report.backups.as_mut().unwrap().jobs[0].restore_verification_error =
        "checksum mismatch".into();
    run(
        "backup failed",
        RulesConfig::default(),
        &[
            step(
                T0 + HOUR,
                report,
                vec![
                    (BackupFailed, "nightly", Opened),
                    (BackupRestoreFailed, "nightly", Opened),
                ],
            ),
            step(
                T0 + 2 * HOUR,
                job(pb::BackupResult::Success, Some(T0 + 2 * HOUR)),
                vec![
                    (BackupFailed, "nightly", Resolved),
                    (BackupRestoreFailed, "nightly", Resolved),
                ],
            ),
        ],
    );
}

#[test]
fn backup_probe_error_must_persist_a_day() {
    let mut report = job(pb::BackupResult::Unknown, Some(T0));
    report.backups.as_mut().unwrap().jobs[0].probe_error = "permission denied".into();
    run(
        "probe",
        RulesConfig::default(),
        &[
            step(T0 + HOUR, report.clone(), vec![]),
            step(T0 + 20 * HOUR, report.clone(), vec![]),
            step(
                T0 + 25 * HOUR,
                report,
                vec![(BackupProbeError, "nightly", Opened)],
            ),
        ],
    );
}

#[test]
fn patch_rules_wait_their_grace_periods() {
    let ok = pb::ScanState::Ok;
    run(
        "patches",
        RulesConfig::default(),
        &[
            step(T0, patches(2, true, ok, T0), vec![]),
            step(
                T0 + 7 * DAY,
                patches(2, true, ok, T0 + 7 * DAY),
                vec![(RebootPending, "", Opened)],
            ),
            step(
                T0 + 14 * DAY,
                patches(2, true, ok, T0 + 14 * DAY),
                vec![(SecurityUpdatesPending, "", Opened)],
            ),
            step(
                T0 + 15 * DAY,
                patches(0, false, ok, T0 + 15 * DAY),
                vec![
                    (SecurityUpdatesPending, "", Resolved),
                    (RebootPending, "", Resolved),
                ],
            ),
            // Scans stop succeeding: error after 3 days, stale after 7.
            step(
                T0 + 16 * DAY,
                patches(0, false, pb::ScanState::Error, T0 + 15 * DAY),
                vec![],
            ),
            step(
                T0 + 19 * DAY,
                patches(0, false, pb::ScanState::Error, T0 + 15 * DAY),
                vec![(PatchScanError, "", Opened)],
            ),
            step(
                T0 + 23 * DAY,
                patches(0, false, pb::ScanState::Error, T0 + 15 * DAY),
                vec![(PatchScanAgeDays, "", Opened)],
            ),
        ],
    );
}

#[test]
fn offline_depends_on_the_group() {
    let servers = RulesConfig::default()
        .with_overrides(&config::builtin_group_overrides("servers"))
        .unwrap();
    let offline = |at: i64, expect| Step {
        at,
        last_seen: Some(T0),
        report: None,
        expect,
    };
    run(
        "servers offline",
        servers,
        &[
            offline(T0 + 4 * MIN, vec![]),
            offline(T0 + 6 * MIN, vec![(OfflineMinutes, "", Opened)]),
            offline(T0 + 11 * MIN, vec![(OfflineMinutes, "", Escalated)]),
            step(
                T0 + 12 * MIN,
                pb::StatusReport::default(),
                vec![(OfflineMinutes, "", Resolved)],
            ),
        ],
    );
    run(
        "laptop asleep overnight",
        RulesConfig::default(),
        &[
            offline(T0 + 14 * HOUR, vec![]),
            offline(T0 + 3 * DAY + HOUR, vec![(OfflineMinutes, "", Opened)]),
        ],
    );
}

#[test]
fn a_missing_section_leaves_alerts_alone() {
    run(
        "missing section",
        RulesConfig::default(),
        &[
            step(T0, disks(&[("/", 1)]), vec![(DiskFree, "/", Opened)]),
            step(T0 + MIN, pb::StatusReport::default(), vec![]),
            step(T0 + 2 * MIN, disks(&[]), vec![(DiskFree, "/", Resolved)]),
        ],
    );
}

#[test]
fn flapping_notifies_once_then_settles() {
    let rules = rules_with(
        "[disk_free_bytes]\nenabled = false\n[flapping]\ntransitions = 4\nwindow_secs = 600\n",
    );
    let r = run(
        "flapping",
        rules,
        &[
            step(T0, disks(&[("/", 4)]), vec![(DiskFree, "/", Opened)]),
            step(
                T0 + MIN,
                disks(&[("/", 50)]),
                vec![(DiskFree, "/", Resolved)],
            ),
            step(
                T0 + 2 * MIN,
                disks(&[("/", 4)]),
                vec![(DiskFree, "/", Opened)],
            ),
            step(
                T0 + 3 * MIN,
                disks(&[("/", 50)]),
                vec![(DiskFree, "/", Flapping)],
            ),
            step(T0 + 4 * MIN, disks(&[("/", 4)]), vec![]),
            step(T0 + 5 * MIN, disks(&[("/", 50)]), vec![]),
            step(T0 + 6 * MIN, disks(&[("/", 4)]), vec![]),
            // Quiet for the whole window: settles and tells the current state once.
            step(T0 + 17 * MIN, disks(&[("/", 4)]), vec![]),
        ],
    );
    let key = AlertKey {
        rule: DiskFree,
        subject: "/".into(),
    };
    assert!(!r.states[&key].flapping);
    assert_eq!(r.states[&key].severity, Some(Severity::Critical));
}

#[test]
fn silenced_alert_records_state_and_notifies_when_the_silence_ends() {
    let rules = RulesConfig::default();
    let history = BTreeMap::new();
    let report = disks(&[("/", 4)]);
    let device = DeviceInput {
        device_id: "dev-1",
        hostname: "h",
        last_seen_at: Some(T0),
        report: Some(&report),
        disk_forecasts: &history,
    };
    let silenced = evaluate(&rules, &BTreeMap::new(), &device, &|_| true, T0);
    assert!(silenced.iter().all(|t| t.event.is_none()));
    assert!(
        silenced
            .iter()
            .any(|t| t.state.severity == Some(Severity::Critical))
    );
    let states: BTreeMap<_, _> = silenced.into_iter().map(|t| (t.key, t.state)).collect();
    let after = evaluate(&rules, &states, &device, &|_| false, T0 + MIN);
    assert!(
        after
            .iter()
            .any(|t| t.key.rule == DiskFree && t.event == Some(Opened))
    );
}

#[test]
fn group_override_with_unknown_key_is_an_error_naming_it() {
    let err = RulesConfig::default()
        .with_overrides(
            &"[disk_free_percent]\nwarnnig = 3\n"
                .parse::<toml::Table>()
                .unwrap(),
        )
        .unwrap_err();
    assert!(err.contains("warnnig"), "{err}");
}

proptest! {
    /// Free space wandering between the warning level and its clear level
    /// (10%..12% by default) after firing never notifies again.
    #[test]
    fn wandering_inside_the_hysteresis_band_gives_at_most_one_transition(
        values in proptest::collection::vec(10.01f64..11.99, 1..60)
    ) {
        let rules = rules_with("[disk_free_bytes]\nenabled = false\n");
        let history = BTreeMap::new();
        let mut states = BTreeMap::new();
        let mut events = 0;
        let mut at = T0;
        let first = disks(&[("/", 9)]);
        for report in std::iter::once(first).chain(values.iter().map(|v| {
            let mut r = disks(&[("/", 0)]);
            r.disks.as_mut().unwrap().filesystems[0].available_bytes = (v / 100.0 * (100 * GIB) as f64) as u64;
            r
        })) {
            let device = DeviceInput { device_id: "dev-1", hostname: "h", last_seen_at: Some(at), report: Some(&report), disk_forecasts: &history };
            for t in evaluate(&rules, &states, &device, &|_| false, at) {
                events += usize::from(t.event.is_some());
                states.insert(t.key, t.state);
            }
            at += MIN;
        }
        prop_assert_eq!(events, 1);
    }
}

#[test]
fn security_updates_say_how_long_only_when_it_is_true() {
    let r = run(
        "security wording",
        RulesConfig::default(),
        &[
            step(T0, patches(2, false, pb::ScanState::Ok, T0), vec![]),
            step(
                T0 + 10 * MIN,
                patches(2, false, pb::ScanState::Ok, T0),
                vec![],
            ),
            step(
                T0 + 15 * DAY,
                patches(2, false, pb::ScanState::Ok, T0 + 15 * DAY),
                vec![(SecurityUpdatesPending, "", Opened)],
            ),
        ],
    );
    let key = AlertKey {
        rule: SecurityUpdatesPending,
        subject: String::new(),
    };
    assert_eq!(
        r.summaries[&key],
        "LAPTOP-042 has 2 security update(s) pending for more than 14 days: libssl0, libssl1"
    );
    let early = run(
        "security wording, early",
        RulesConfig::default(),
        &[
            step(T0, patches(2, false, pb::ScanState::Ok, T0), vec![]),
            step(
                T0 + 10 * MIN,
                patches(2, false, pb::ScanState::Ok, T0),
                vec![],
            ),
        ],
    );
    assert_eq!(
        early.summaries[&key],
        "LAPTOP-042 has 2 security update(s) pending since 2026-11-18 11:06 UTC: libssl0, libssl1"
    );
}

/// The events of one device that never reports again, evaluated at `last_seen`
/// and then at each time `next` picks, until `until`.
fn events_with_time_alone(
    rules: &RulesConfig,
    report: &pb::StatusReport,
    last_seen: i64,
    until: i64,
    next: impl Fn(i64, &[Transition]) -> i64,
) -> Vec<(RuleId, Event, i64)> {
    let history = BTreeMap::new();
    let device = DeviceInput {
        device_id: "dev-1",
        hostname: "LAPTOP-042",
        last_seen_at: Some(last_seen),
        report: Some(report),
        disk_forecasts: &history,
    };
    let mut states = BTreeMap::new();
    let mut events = Vec::new();
    let mut at = last_seen;
    while at <= until {
        let transitions = evaluate(rules, &states, &device, &|_| false, at);
        events.extend(
            transitions
                .iter()
                .filter_map(|t| t.event.map(|e| (t.key.rule, e, at))),
        );
        let following = next(at, &transitions);
        states.extend(transitions.into_iter().map(|t| (t.key, t.state)));
        at = following;
    }
    events
}

#[test]
fn evaluating_only_at_the_next_change_time_misses_no_event_of_time_alone() {
    // Offline, a certificate expiring, a patch scan going stale with updates
    // and a reboot waiting their `for` delays, a backup's dead-man: all
    // change with time alone.
    let mut report = certs(&[("aa11", T0 + 40 * DAY)]);
    report.patches = patches(2, true, pb::ScanState::Ok, T0).patches;
    report.backups = job(pb::BackupResult::Success, Some(T0)).backups;
    let rules = RulesConfig::default();
    let until = T0 + 45 * DAY;
    let step = 5 * MIN;
    let every_step = events_with_time_alone(&rules, &report, T0, until, |at, _| at + step);
    let at_changes = events_with_time_alone(&rules, &report, T0, until, |at, transitions| {
        let next = next_change_at(&rules, transitions).unwrap_or(i64::MAX);
        assert!(next > at, "next change {next} not after {at}");
        next
    });
    let rules_of = |events: &[(RuleId, Event, i64)]| {
        events.iter().map(|&(r, e, _)| (r, e)).collect::<Vec<_>>()
    };
    assert_eq!(rules_of(&at_changes), rules_of(&every_step));
    assert!(every_step.len() >= 6, "{every_step:?}");
    for (exact, stepped) in at_changes.iter().zip(&every_step) {
        // Found at the change itself: at most one step before the stepped run.
        assert!(
            exact.2 <= stepped.2 && exact.2 > stepped.2 - step,
            "{exact:?} vs {stepped:?}"
        );
    }
}
