//! What each rule measures in a report, the severity that calls for (with
//! hysteresis) and the sentence a person reads.

use std::collections::{BTreeMap, BTreeSet};

use forewarn_proto::{CheckKind, pb};

use super::config::{FlagRule, RulesConfig, ThresholdRule};
use super::forecast::forecast;
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
        DiskFreePercent | DiskFreeBytes | InodeUsedPercent | DiskForecast => {
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
    previous: &'a BTreeMap<AlertKey, AlertState>,
    out: Measured,
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
        value: f64,
        summary: impl FnOnce(Option<Severity>, f64) -> String,
    ) {
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
        previous,
        out: Measured::default(),
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
            minutes,
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

fn measure_disks(m: &mut Measurer<'_>, disks: &pb::DiskCheck, device: &DeviceInput<'_>, now: i64) {
    let rules = m.rules;
    let host = device.hostname;
    for fs in &disks.filesystems {
        // Read-only images (squashfs, ISO) are always full by design.
        if fs.total_bytes == 0 || fs.read_only {
            continue;
        }
        let mount = fs.mount_point.as_str();
        let total = fs.total_bytes as f64;
        let available = fs.available_bytes.min(fs.total_bytes) as f64;
        let percent = available / total * 100.0;
        let free_text = format!(
            "{:.1}% free ({} of {})",
            percent,
            format_bytes(available),
            format_bytes(total)
        );
        m.threshold(
            RuleId::DiskFreePercent,
            &rules.disk_free_percent,
            Worse::Lower,
            mount,
            percent,
            |severity, threshold| match severity {
                Some(_) => format!("Disk {mount} on {host} has {free_text}, below {threshold}%"),
                None => format!("Disk {mount} on {host} has {free_text}"),
            },
        );
        m.threshold(
            RuleId::DiskFreeBytes,
            &rules.disk_free_bytes,
            Worse::Lower,
            mount,
            available,
            |severity, threshold| match severity {
                Some(_) => format!(
                    "Disk {mount} on {host} has {} free, below {}",
                    format_bytes(available),
                    format_bytes(threshold)
                ),
                None => format!(
                    "Disk {mount} on {host} has {} free",
                    format_bytes(available)
                ),
            },
        );
        if let (Some(inodes_total), Some(inodes_free)) = (fs.inodes_total, fs.inodes_free)
            && inodes_total > 0
        {
            let used =
                inodes_total.saturating_sub(inodes_free) as f64 / inodes_total as f64 * 100.0;
            m.threshold(
                RuleId::InodeUsedPercent,
                &rules.inode_used_percent,
                Worse::Higher,
                mount,
                used,
                |_, threshold| {
                    format!("Disk {mount} on {host} has {used:.1}% of its inodes in use (alert at {threshold}%)")
                },
            );
        }
        if let Some(samples) = device.disk_history.get(mount)
            && let Some(prediction) = forecast(&rules.disk_forecast, samples, now)
        {
            let days = prediction.secs_until_full / 86_400.0;
            let full_at = now.saturating_add(prediction.secs_until_full as i64);
            m.threshold(
                RuleId::DiskForecast,
                &rules.disk_forecast.threshold(),
                Worse::Lower,
                mount,
                days,
                |_, _| {
                    format!(
                        "Disk {mount} on {host} is filling by {}/day and will be full in about {} (around {} UTC)",
                        format_bytes(-prediction.bytes_per_day),
                        format_duration(prediction.secs_until_full),
                        format_minute(full_at)
                    )
                },
            );
        } else if device.disk_history.contains_key(mount) {
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
                    summary: format!("Disk {mount} on {host} shows no filling trend"),
                },
            );
        }
    }
}

fn measure_certificates(m: &mut Measurer<'_>, check: &pb::CertificateCheck, host: &str, now: i64) {
    let rules = m.rules;
    for cert in &check.certificates {
        let days = (cert.not_after_unix_secs - now) as f64 / 86_400.0;
        let name = if cert.subject.is_empty() {
            &cert.sha256_fingerprint
        } else {
            &cert.subject
        };
        let location = cert
            .locations
            .first()
            .map(|l| format!(" at {}", l.location))
            .unwrap_or_default();
        let expiry = format_minute(cert.not_after_unix_secs);
        m.threshold(
            RuleId::CertificateDaysLeft,
            &rules.certificate_days_left,
            Worse::Lower,
            &cert.sha256_fingerprint,
            days,
            |_, _| {
                if days < 0.0 {
                    format!("Certificate {name}{location} on {host} expired on {expiry} UTC")
                } else {
                    format!(
                        "Certificate {name}{location} on {host} expires in {} ({expiry} UTC)",
                        format_duration(days * 86_400.0)
                    )
                }
            },
        );
    }
}

fn measure_patches(m: &mut Measurer<'_>, patches: &pb::PatchCheck, host: &str, now: i64) {
    let rules = m.rules;
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
                "{host} has {} security update(s) pending for more than {}: {}{}",
                security.len(),
                format_duration(rules.security_updates_pending.for_secs as f64),
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
            days,
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
            "{host} has needed a reboot to finish installing updates for more than {}",
            format_duration(rules.reboot_pending.for_secs as f64)
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
        m.flag(
            RuleId::BackupFailed,
            &rules.backup_failed,
            name,
            failed,
            f64::from(u8::from(failed)),
            format!("Backup job {name} on {host} failed{when}: {}", job.message),
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
            hours,
            |severity, _| match severity {
                Some(_) => format!("Backup job {name} on {host} {since_text}"),
                None => format!("Backup job {name} on {host} succeeded recently"),
            },
        );
        let probe = !job.probe_error.is_empty();
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
