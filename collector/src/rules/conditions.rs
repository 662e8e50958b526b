//! What each rule measures in a report, the severity that calls for (with
//! hysteresis) and the sentence a person reads.

use std::collections::{BTreeMap, BTreeSet};

use forewarn_proto::{CheckKind, pb};

use super::config::{FlagRule, RulesConfig, ThresholdRule};
use super::forecast::ForecastState;
use super::{AlertKey, AlertState, Condition, DeviceInput, RuleId, Severity, Timing};

/// The part of a report a rule reads; alerts of a section the report lacks are left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    Device,
    /// The part one of the agent's checks fills in.
    Check(CheckKind),
    /// The collector itself; no report carries it.
    Collector,
}

impl Section {
    /// The name ticket policies match on: the check kind, `device` or `collector`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Device => "device",
            Self::Check(kind) => kind.as_str(),
            Self::Collector => "collector",
        }
    }
}

pub fn section(rule: RuleId) -> Section {
    use RuleId::*;
    match rule {
        DiskFree | DiskFreePercent | DiskFreeBytes | InodeUsedPercent | DiskForecast => {
            Section::Check(CheckKind::Disks)
        }
        CertificateDaysLeft => Section::Check(CheckKind::Certificates),
        SecurityUpdatesPending | PatchScanAgeDays | PatchScanError | RebootPending => {
            Section::Check(CheckKind::Patches)
        }
        BackupFailed | BackupHoursSinceSuccess | BackupProbeError | BackupRestoreFailed => {
            Section::Check(CheckKind::Backups)
        }
        OfflineMinutes => Section::Device,
        TicketingFailing => Section::Collector,
    }
}

pub fn timing(rules: &RulesConfig, rule: RuleId) -> Timing {
    let threshold = |r: &ThresholdRule| Timing {
        for_secs: r.for_secs,
        clear_after_secs: 0,
    };
    let flag = |r: &FlagRule| Timing {
        for_secs: r.for_secs,
        clear_after_secs: r.clear_after_secs,
    };
    match rule {
        RuleId::DiskFree => Timing {
            for_secs: rules
                .disk_free_percent
                .for_secs
                .max(rules.disk_free_bytes.for_secs),
            clear_after_secs: 0,
        },
        RuleId::DiskFreePercent => threshold(&rules.disk_free_percent),
        RuleId::DiskFreeBytes => threshold(&rules.disk_free_bytes),
        RuleId::InodeUsedPercent => threshold(&rules.inode_used_percent),
        RuleId::DiskForecast => threshold(&rules.disk_forecast.threshold()),
        RuleId::CertificateDaysLeft => threshold(&rules.certificate_days_left),
        RuleId::SecurityUpdatesPending => flag(&rules.security_updates_pending),
        RuleId::PatchScanAgeDays => threshold(&rules.patch_scan_age_days),
        RuleId::PatchScanError => flag(&rules.patch_scan_error),
        RuleId::RebootPending => flag(&rules.reboot_pending),
        RuleId::BackupFailed => flag(&rules.backup_failed),
        RuleId::BackupHoursSinceSuccess => threshold(&rules.backup_hours_since_success),
        RuleId::BackupProbeError => flag(&rules.backup_probe_error),
        RuleId::BackupRestoreFailed => flag(&rules.backup_restore_failed),
        RuleId::OfflineMinutes => threshold(&rules.offline_minutes),
        RuleId::TicketingFailing => Timing::default(),
    }
}

#[derive(Debug, Default)]
pub struct Measured {
    pub conditions: BTreeMap<AlertKey, Condition>,
    /// Sections the report contains (plus `Device` when the device has reported).
    pub sections: BTreeSet<Section>,
}

/// Which way a value gets worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Worse {
    Lower,
    Higher,
}

/// The severity `value` calls for given the previous one: fires at a level,
/// and holds that level until the value is `hysteresis` back past it.
fn threshold_severity(
    rule: &ThresholdRule,
    worse: Worse,
    value: f64,
    previous: Option<Severity>,
) -> (Option<Severity>, f64) {
    // Work in "badness": bigger is worse.
    let sign = if worse == Worse::Lower { -1.0 } else { 1.0 };
    let bad = sign * value;
    let held = |level: f64, severity: Severity| {
        bad >= sign * level || (previous >= Some(severity) && bad > sign * level - rule.hysteresis)
    };
    if let Some(critical) = rule.critical
        && held(critical, Severity::Critical)
    {
        return (Some(Severity::Critical), critical);
    }
    if let Some(warning) = rule.warning
        && held(warning, Severity::Warning)
    {
        return (Some(Severity::Warning), warning);
    }
    (None, rule.warning.or(rule.critical).unwrap_or(0.0))
}

/// Seconds per unit of the values that drift with time alone.
const MINUTE: f64 = 60.0;
const HOUR: f64 = 3600.0;
const DAY: f64 = 86_400.0;

/// A measured value, and how fast it moves with time alone: minutes offline
/// grow by one a minute, days to a certificate's expiry shrink by one a
/// day, free space stays until the next report.
#[derive(Debug, Clone, Copy)]
struct Reading {
    value: f64,
    drift_per_sec: f64,
}

impl Reading {
    fn fixed(value: f64) -> Self {
        Self {
            value,
            drift_per_sec: 0.0,
        }
    }

    fn drifting(value: f64, drift_per_sec: f64) -> Self {
        Self {
            value,
            drift_per_sec,
        }
    }
}

/// How far past a whole second a computed crossing may fall and still count
/// as on that second. The division that finds a crossing rounds: a level
/// 10 s away can come out as 10.000000000000002 s, and rounded up the
/// device would be due a second after the level is reached (the error
/// stays below 1e-8 s for crossings within years). Counting it early costs
/// at most one plan that finds nothing, and the next is a second later.
const CROSSING_ROUNDING_SECS: f64 = 1e-6;

/// When a value that drifts by `drift_per_sec` with time alone (minutes
/// offline, days to a certificate's expiry) next reaches one of the rule's
/// levels or the bound its hysteresis holds them to: from then on its
/// severity may change without a new report. The first whole second at or
/// after the crossing, and after `now`. `None` for a value that does not
/// drift or crosses nothing after `now`.
fn level_crossing(rule: &ThresholdRule, worse: Worse, reading: Reading, now: i64) -> Option<i64> {
    let Reading {
        value,
        drift_per_sec,
    } = reading;
    if drift_per_sec == 0.0 || !value.is_finite() {
        return None;
    }
    let held_back = match worse {
        Worse::Higher => -rule.hysteresis,
        Worse::Lower => rule.hysteresis,
    };
    [rule.warning, rule.critical]
        .into_iter()
        .flatten()
        .flat_map(|level| [level, level + held_back])
        .map(|level| (level - value) / drift_per_sec)
        .filter(|secs| secs.is_finite() && *secs > 0.0)
        .map(|secs| now.saturating_add(((secs - CROSSING_ROUNDING_SECS).ceil() as i64).max(1)))
        .min()
}

fn flag_severity(rule: &FlagRule, holds: bool) -> Option<Severity> {
    holds.then_some(rule.severity)
}

pub fn format_bytes(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `2026-11-20 02:00` (UTC).
pub fn format_minute(unix_secs: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    time::OffsetDateTime::from_unix_timestamp(unix_secs)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| unix_secs.to_string())
}

/// "3 days", "5 hours", "12 minutes".
pub fn format_duration(secs: f64) -> String {
    let (amount, unit) = if secs >= 2.0 * 86_400.0 {
        (secs / 86_400.0, "day")
    } else if secs >= 2.0 * 3600.0 {
        (secs / 3600.0, "hour")
    } else {
        (secs / 60.0, "minute")
    };
    let amount = amount.floor() as i64;
    format!("{amount} {unit}{}", if amount == 1 { "" } else { "s" })
}

struct Measurer<'a> {
    rules: &'a RulesConfig,
    now: i64,
    previous: &'a BTreeMap<AlertKey, AlertState>,
    out: Measured,
    /// The human name of the subject being measured, given to its conditions.
    subject_name: String,
    /// The cause given to the next flag condition that holds.
    cause: String,
}

impl Measurer<'_> {
    fn previous_severity(&self, key: &AlertKey) -> Option<Severity> {
        self.previous
            .get(key)
            .and_then(|s| s.severity.or(s.pending.map(|(severity, _)| severity)))
    }

    fn threshold(
        &mut self,
        rule_id: RuleId,
        rule: &ThresholdRule,
        worse: Worse,
        subject: &str,
        reading: Reading,
        summary: impl FnOnce(Option<Severity>, f64) -> String,
    ) {
        let value = reading.value;
        if !rule.enabled {
            return;
        }
        let key = AlertKey {
            rule: rule_id,
            subject: subject.to_owned(),
        };
        let (severity, threshold) =
            threshold_severity(rule, worse, value, self.previous_severity(&key));
        let summary = summary(severity, threshold);
        self.out.conditions.insert(
            key,
            Condition {
                severity,
                value,
                threshold,
                summary,
                subject_name: self.subject_name.clone(),
                cause: String::new(),
                gone: false,
                changes_at: level_crossing(rule, worse, reading, self.now),
            },
        );
    }

    fn flag(
        &mut self,
        rule_id: RuleId,
        rule: &FlagRule,
        subject: &str,
        holds: bool,
        value: f64,
        summary: String,
    ) {
        if !rule.enabled {
            return;
        }
        self.out.conditions.insert(
            AlertKey {
                rule: rule_id,
                subject: subject.to_owned(),
            },
            Condition {
                severity: flag_severity(rule, holds),
                value,
                threshold: 0.0,
                summary,
                subject_name: self.subject_name.clone(),
                cause: if holds {
                    std::mem::take(&mut self.cause)
                } else {
                    String::new()
                },
                gone: false,
                changes_at: None,
            },
        );
    }
}

/// Measures every enabled rule against the device's report and history.
pub fn measure(
    rules: &RulesConfig,
    previous: &BTreeMap<AlertKey, AlertState>,
    device: &DeviceInput<'_>,
    now: i64,
) -> Measured {
    let mut m = Measurer {
        rules,
        now,
        previous,
        out: Measured::default(),
        subject_name: String::new(),
        cause: String::new(),
    };
    let host = device.hostname;
    if let Some(last_seen) = device.last_seen_at {
        m.out.sections.insert(Section::Device);
        let minutes = now.saturating_sub(last_seen) as f64 / 60.0;
        m.threshold(
            RuleId::OfflineMinutes,
            &rules.offline_minutes,
            Worse::Higher,
            "",
            Reading::drifting(minutes, 1.0 / MINUTE),
            |severity, _| match severity {
                Some(_) => format!(
                    "{host} has not reported for {} (last report {} UTC)",
                    format_duration(minutes * 60.0),
                    format_minute(last_seen)
                ),
                None => format!(
                    "{host} is reporting (last report {} UTC)",
                    format_minute(last_seen)
                ),
            },
        );
    }
    let Some(report) = device.report else {
        return m.out;
    };
    if let Some(disks) = &report.disks {
        m.out.sections.insert(Section::Check(CheckKind::Disks));
        measure_disks(&mut m, disks, device, now);
    }
    if let Some(certificates) = &report.certificates {
        m.out
            .sections
            .insert(Section::Check(CheckKind::Certificates));
        measure_certificates(&mut m, certificates, host, now);
    }
    if let Some(patches) = &report.patches {
        m.out.sections.insert(Section::Check(CheckKind::Patches));
        measure_patches(&mut m, patches, host, now);
    }
    if let Some(backups) = &report.backups {
        m.out.sections.insert(Section::Check(CheckKind::Backups));
        measure_backups(&mut m, backups, host, now);
    }
    m.out
}

/// A bytes level applies only to filesystems at least this many times its
/// size: 2 GiB free is a fine warning for a 20 GiB disk, meaningless for a
/// 20 MiB tmpfs, which the percent levels judge alone.
const BYTES_LEVEL_MIN_SIZE_FACTOR: f64 = 4.0;

/// `rule` without the levels too large for a filesystem of `total` bytes.
fn bytes_rule_for_size(rule: &ThresholdRule, total: f64) -> ThresholdRule {
    let fits = |level: Option<f64>| level.filter(|l| l * BYTES_LEVEL_MIN_SIZE_FACTOR <= total);
    ThresholdRule {
        warning: fits(rule.warning),
        critical: fits(rule.critical),
        enabled: rule.enabled && (fits(rule.warning).is_some() || fits(rule.critical).is_some()),
        ..rule.clone()
    }
}

/// `rule` with its levels and hysteresis (percent) multiplied by `scale`.
fn scaled_percent_rule(rule: &ThresholdRule, scale: f64) -> ThresholdRule {
    ThresholdRule {
        warning: rule.warning.map(|l| l * scale),
        critical: rule.critical.map(|l| l * scale),
        hysteresis: rule.hysteresis * scale,
        ..rule.clone()
    }
}

/// A percentage as people write it: `10`, `3.5`.
fn format_percent(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

/// Free space of one filesystem: percent and bytes levels judged together,
/// the alert at the worse of the two; the value and threshold are percent.
fn measure_free_space(
    m: &mut Measurer<'_>,
    fs: &pb::DiskStatus,
    rules: &super::config::DiskRules<'_>,
    host: &str,
) {
    let mount = fs.mount_point.as_str();
    let key = AlertKey {
        rule: RuleId::DiskFree,
        subject: mount.to_owned(),
    };
    let total = fs.total_bytes as f64;
    let available = fs.available_bytes.min(fs.total_bytes) as f64;
    let percent = available / total * 100.0;
    let previous = m.previous_severity(&key);
    let scale = m.rules.disk_free_percent_scaling.factor(total);
    let percent_rule = scaled_percent_rule(rules.free_percent, scale);
    let by_percent = percent_rule
        .enabled
        .then(|| threshold_severity(&percent_rule, Worse::Lower, percent, previous));
    let bytes_rule = bytes_rule_for_size(rules.free_bytes, total);
    let by_bytes = bytes_rule
        .enabled
        .then(|| threshold_severity(&bytes_rule, Worse::Lower, available, previous));
    if by_percent.is_none() && by_bytes.is_none() {
        return;
    }
    let severity = by_percent
        .and_then(|(s, _)| s)
        .max(by_bytes.and_then(|(s, _)| s));
    let free_text = format!(
        "{:.1}% free ({} of {})",
        percent,
        format_bytes(available),
        format_bytes(total)
    );
    let mut crossed = Vec::new();
    let mut threshold = None;
    if let Some((s, level)) = by_percent
        && severity.is_some()
        && s == severity
    {
        crossed.push(if scale < 1.0 {
            format!(
                "{}% (its {}% level, scaled for a {} filesystem)",
                format_percent(level),
                format_percent(level / scale),
                format_bytes(total)
            )
        } else {
            format!("{}%", format_percent(level))
        });
        threshold = Some(level);
    }
    if let Some((s, level)) = by_bytes
        && severity.is_some()
        && s == severity
    {
        crossed.push(format_bytes(level));
        threshold = threshold.or(Some(level / total * 100.0));
    }
    let threshold = threshold
        .or(by_percent.map(|(_, level)| level))
        .or(by_bytes.map(|(_, level)| level / total * 100.0))
        .unwrap_or(0.0);
    let summary = if crossed.is_empty() {
        format!("Disk {mount} on {host} has {free_text}")
    } else {
        format!(
            "Disk {mount} on {host} has {free_text}, below {}",
            crossed.join(" and ")
        )
    };
    m.out.conditions.insert(
        key,
        Condition {
            severity,
            value: percent,
            threshold,
            summary,
            subject_name: mount.to_owned(),
            cause: String::new(),
            gone: false,
            changes_at: None,
        },
    );
}

fn measure_disks(m: &mut Measurer<'_>, disks: &pb::DiskCheck, device: &DeviceInput<'_>, now: i64) {
    let rules = m.rules;
    let host = device.hostname;
    for fs in &disks.filesystems {
        // Read-only images (squashfs, ISO) are always full by design.
        if fs.total_bytes == 0 || fs.read_only {
            continue;
        }
        let mount = fs.mount_point.as_str();
        if !rules.disks.judges(mount, &fs.filesystem) {
            continue;
        }
        m.subject_name = mount.to_owned();
        let disk_rules = rules.disk_rules(device.device_id, host, mount);
        measure_free_space(m, fs, &disk_rules, host);
        if let (Some(inodes_total), Some(inodes_free)) = (fs.inodes_total, fs.inodes_free)
            && inodes_total > 0
        {
            let used =
                inodes_total.saturating_sub(inodes_free) as f64 / inodes_total as f64 * 100.0;
            m.threshold(
                RuleId::InodeUsedPercent,
                disk_rules.inode_used_percent,
                Worse::Higher,
                mount,
                Reading::fixed(used),
                |_, threshold| {
                    format!("Disk {mount} on {host} has {used:.1}% of its inodes in use (alert at {threshold}%)")
                },
            );
        }
        let Some(&state) = device.disk_forecasts.get(mount) else {
            continue;
        };
        match state {
            ForecastState::FullIn(prediction) => {
                let days = prediction.secs_until_full / 86_400.0;
                let full_at = now.saturating_add(prediction.secs_until_full as i64);
                m.threshold(
                    RuleId::DiskForecast,
                    &rules.disk_forecast.threshold(),
                    Worse::Lower,
                    mount,
                    Reading::drifting(days, -1.0 / DAY),
                    |_, _| {
                        format!(
                            "Disk {mount} on {host} is filling by {}/day and will be full in about {} (around {} UTC)",
                            format_bytes(-prediction.bytes_per_day),
                            format_duration(prediction.secs_until_full),
                            format_minute(full_at)
                        )
                    },
                );
            }
            state => {
                // No trend (any more): a forecast alert for this mount clears.
                m.out.conditions.insert(
                    AlertKey {
                        rule: RuleId::DiskForecast,
                        subject: mount.to_owned(),
                    },
                    Condition {
                        severity: None,
                        value: f64::INFINITY,
                        threshold: rules.disk_forecast.warning.unwrap_or(0.0),
                        summary: format!("Disk {mount} on {host}: {}", state.describe()),
                        subject_name: mount.to_owned(),
                        cause: String::new(),
                        gone: false,
                        changes_at: None,
                    },
                );
            }
        }
    }
    m.subject_name.clear();
}

/// A certificate as people know it: its subject (or, without one, its
/// fingerprint) and where it was found, e.g. "CN=intranet.example at
/// /etc/ssl/intranet.pem".
pub fn certificate_name(cert: &pb::CertificateStatus) -> String {
    let name = if cert.subject.is_empty() {
        &cert.sha256_fingerprint
    } else {
        &cert.subject
    };
    match cert.locations.first() {
        Some(l) => format!("{name} at {}", l.location),
        None => name.clone(),
    }
}

fn measure_certificates(m: &mut Measurer<'_>, check: &pb::CertificateCheck, host: &str, now: i64) {
    let rules = m.rules;
    for cert in &check.certificates {
        let days = (cert.not_after_unix_secs - now) as f64 / 86_400.0;
        let label = certificate_name(cert);
        let expiry = format_minute(cert.not_after_unix_secs);
        m.subject_name.clone_from(&label);
        m.threshold(
            RuleId::CertificateDaysLeft,
            &rules.certificate_days_left,
            Worse::Lower,
            &cert.sha256_fingerprint,
            Reading::drifting(days, -1.0 / DAY),
            |_, _| {
                if days < 0.0 {
                    format!("Certificate {label} on {host} expired on {expiry} UTC")
                } else {
                    format!(
                        "Certificate {label} on {host} expires in {} ({expiry} UTC)",
                        format_duration(days * 86_400.0)
                    )
                }
            },
        );
    }
}

/// "for more than 14 days" when the flag's condition has held that long
/// (it fires, or has been pending for `for_secs`), else since when it holds.
fn held_for_text(m: &Measurer<'_>, rule: RuleId, for_secs: u64, now: i64) -> String {
    let key = AlertKey {
        rule,
        subject: String::new(),
    };
    let previous = m.previous.get(&key);
    let since = previous.and_then(|s| s.pending.map(|(_, since)| since));
    let held = previous.is_some_and(|s| s.severity.is_some())
        || since.is_some_and(|since| now.saturating_sub(since) >= for_secs as i64);
    match since {
        _ if held && for_secs > 0 => format!(" for more than {}", format_duration(for_secs as f64)),
        Some(since) => format!(" since {} UTC", format_minute(since)),
        None => String::new(),
    }
}

fn measure_patches(m: &mut Measurer<'_>, patches: &pb::PatchCheck, host: &str, now: i64) {
    let rules = m.rules;
    m.subject_name.clear();
    let security: Vec<&str> = patches
        .pending
        .iter()
        .filter(|p| p.security)
        .map(|p| p.name.as_str())
        .collect();
    let scanned = patches.scan_state != pb::ScanState::Error as i32
        && patches.scan_state != pb::ScanState::Never as i32;
    if scanned {
        let shown: Vec<&str> = security.iter().take(5).copied().collect();
        m.flag(
            RuleId::SecurityUpdatesPending,
            &rules.security_updates_pending,
            "",
            !security.is_empty(),
            security.len() as f64,
            format!(
                "{host} has {} security update(s) pending{}: {}{}",
                security.len(),
                held_for_text(
                    m,
                    RuleId::SecurityUpdatesPending,
                    rules.security_updates_pending.for_secs,
                    now
                ),
                shown.join(", "),
                if security.len() > shown.len() {
                    ", …"
                } else {
                    ""
                }
            ),
        );
    }
    if let Some(last) = patches.last_successful_scan_unix_secs {
        let days = (now - last) as f64 / 86_400.0;
        m.threshold(
            RuleId::PatchScanAgeDays,
            &rules.patch_scan_age_days,
            Worse::Higher,
            "",
            Reading::drifting(days, 1.0 / DAY),
            |_, _| {
                format!(
                    "{host} last checked for updates successfully {} ago ({} UTC)",
                    format_duration(days * 86_400.0),
                    format_minute(last)
                )
            },
        );
    }
    let error = patches.scan_state == pb::ScanState::Error as i32;
    m.flag(
        RuleId::PatchScanError,
        &rules.patch_scan_error,
        "",
        error,
        f64::from(u8::from(error)),
        format!(
            "Update check on {host} ({}) is failing: {}",
            patches.package_manager, patches.scan_error
        ),
    );
    let for_patches = patches.reboot_required
        && (patches.reboot_reasons.is_empty()
            || patches.reboot_reasons.iter().any(|r| r.patch_related));
    m.flag(
        RuleId::RebootPending,
        &rules.reboot_pending,
        "",
        for_patches,
        f64::from(u8::from(for_patches)),
        format!(
            "{host} has needed a reboot to finish installing updates{}",
            held_for_text(m, RuleId::RebootPending, rules.reboot_pending.for_secs, now)
        ),
    );
}

fn measure_backups(m: &mut Measurer<'_>, backups: &pb::BackupCheck, host: &str, now: i64) {
    let rules = m.rules;
    for job in &backups.jobs {
        let name = job.name.as_str();
        let failed = job.result == pb::BackupResult::Failed as i32;
        let when = job
            .last_run_finished_unix_secs
            .or(job.last_run_started_unix_secs)
            .map(|t| format!(" at {} UTC", format_minute(t)))
            .unwrap_or_default();
        m.subject_name = name.to_owned();
        m.cause.clone_from(&job.message);
        let summary = if failed {
            format!("Backup job {name} on {host} failed{when}: {}", job.message)
        } else {
            format!("Backup job {name} on {host} succeeded{when}")
        };
        m.flag(
            RuleId::BackupFailed,
            &rules.backup_failed,
            name,
            failed,
            f64::from(u8::from(failed)),
            summary,
        );
        let (hours, since_text) = match job.last_success_unix_secs {
            Some(last) => {
                let secs = (now - last) as f64;
                (
                    secs / 3600.0,
                    format!(
                        "has not succeeded for {} (last success {})",
                        format_duration(secs),
                        format_minute(last)
                    ),
                )
            }
            None => (f64::INFINITY, "has never succeeded".to_owned()),
        };
        m.threshold(
            RuleId::BackupHoursSinceSuccess,
            &rules.backup_hours_since_success,
            Worse::Higher,
            name,
            Reading::drifting(hours, 1.0 / HOUR),
            |severity, _| match severity {
                Some(_) => format!("Backup job {name} on {host} {since_text}"),
                None => format!("Backup job {name} on {host} succeeded recently"),
            },
        );
        let probe = !job.probe_error.is_empty();
        m.cause.clone_from(&job.probe_error);
        m.flag(
            RuleId::BackupProbeError,
            &rules.backup_probe_error,
            name,
            probe,
            f64::from(u8::from(probe)),
            format!(
                "Status of backup job {name} on {host} cannot be read: {}",
                job.probe_error
            ),
        );
        let restore = !job.restore_verification_error.is_empty();
        m.cause.clone_from(&job.restore_verification_error);
        m.flag(
            RuleId::BackupRestoreFailed,
            &rules.backup_restore_failed,
            name,
            restore,
            f64::from(u8::from(restore)),
            format!(
                "Restore test of backup job {name} on {host} failed: {}",
                job.restore_verification_error
            ),
        );
    }
}
