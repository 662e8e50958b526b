//! The four domains of a device's latest report as `device show` prints
//! them: disks with free space and forecast, certificates soonest-expiring
//! first, patches, backup jobs. Pure: the report, the stored forecasts and
//! `now` in, lines of text out.

use forewarn_proto::pb;

use crate::fleet::state::age_text;
use crate::store::DiskForecastRecord;

const DAY_SECS: i64 = 86_400;

/// Every domain of `report`, each under its heading; a domain the report
/// lacks says so, with the errors its check reported.
pub fn render(
    report: &pb::StatusReport,
    forecasts: &[DiskForecastRecord],
    now: i64,
) -> Vec<String> {
    let mut lines = Vec::new();
    disks(&mut lines, report, forecasts);
    certificates(&mut lines, report, now);
    patches(&mut lines, report, now);
    backups(&mut lines, report, now);
    let other: Vec<&pb::CheckError> = report
        .errors
        .iter()
        .filter(|e| !DOMAINS.contains(&e.check.as_str()))
        .collect();
    if !other.is_empty() {
        lines.push("other problems".into());
        lines.extend(other.iter().map(|e| error_line(e)));
    }
    lines
}

const DOMAINS: [&str; 4] = ["disks", "certificates", "patches", "backups"];

fn check_errors(lines: &mut Vec<String>, report: &pb::StatusReport, check: &str) {
    lines.extend(
        report
            .errors
            .iter()
            .filter(|e| e.check == check)
            .map(error_line),
    );
}

fn error_line(error: &pb::CheckError) -> String {
    let item = if error.item.is_empty() {
        String::new()
    } else {
        format!(" {}", error.item)
    };
    format!("  problem [{}]{item}: {}", error.check, error.message)
}

fn missing(lines: &mut Vec<String>, check: &str) {
    lines.push(format!(
        "  not in the latest report: the {check} check did not run (turned off for the group, or it failed; see problems)"
    ));
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

fn disks(lines: &mut Vec<String>, report: &pb::StatusReport, forecasts: &[DiskForecastRecord]) {
    lines.push("disks".into());
    match &report.disks {
        None => missing(lines, "disks"),
        Some(check) if check.filesystems.is_empty() => {
            lines.push("  no filesystems reported".into())
        }
        Some(check) => {
            for fs in &check.filesystems {
                let percent_free = if fs.total_bytes == 0 {
                    0.0
                } else {
                    100.0 * fs.available_bytes.min(fs.total_bytes) as f64 / fs.total_bytes as f64
                };
                let forecast = forecasts
                    .iter()
                    .find(|f| f.mount_point == fs.mount_point)
                    .map_or("not judged", |f| f.description.as_str());
                lines.push(format!(
                    "  {:<24} {:<8} {:>8.1} GiB free of {:>8.1} GiB ({percent_free:.0}% free)  forecast: {forecast}",
                    fs.mount_point,
                    fs.filesystem,
                    gib(fs.available_bytes),
                    gib(fs.total_bytes),
                ));
            }
        }
    }
    check_errors(lines, report, "disks");
}

/// The CN of an RFC 4514 subject, or the whole subject when it has none.
fn common_name(subject: &str) -> &str {
    subject
        .split(',')
        .find_map(|part| part.trim().strip_prefix("CN="))
        .unwrap_or(subject)
}

fn days_left_text(not_after: i64, now: i64) -> String {
    let left = not_after - now;
    if left < 0 {
        format!("expired {} days ago", (-left).div_euclid(DAY_SECS))
    } else {
        format!("{} days left", left.div_euclid(DAY_SECS))
    }
}

fn certificates(lines: &mut Vec<String>, report: &pb::StatusReport, now: i64) {
    lines.push("certificates (soonest expiry first)".into());
    match &report.certificates {
        None => missing(lines, "certificates"),
        Some(check) => {
            if check.certificates.is_empty() {
                lines.push("  no certificates found".into());
            }
            let mut certs: Vec<&pb::CertificateStatus> = check.certificates.iter().collect();
            certs.sort_by_key(|c| c.not_after_unix_secs);
            for cert in certs {
                let places: Vec<&str> =
                    cert.locations.iter().map(|l| l.location.as_str()).collect();
                lines.push(format!(
                    "  {:<32} {:<20} {}",
                    common_name(&cert.subject),
                    days_left_text(cert.not_after_unix_secs, now),
                    places.join(", ")
                ));
            }
            for endpoint in check.endpoints.iter().filter(|e| !e.error.is_empty()) {
                lines.push(format!(
                    "  endpoint {}: {}",
                    endpoint.endpoint, endpoint.error
                ));
            }
        }
    }
    check_errors(lines, report, "certificates");
}

fn scan_state_text(state: i32) -> &'static str {
    match pb::ScanState::try_from(state) {
        Ok(pb::ScanState::Ok) => "fresh",
        Ok(pb::ScanState::Stale) => "stale",
        Ok(pb::ScanState::Error) => "failed",
        Ok(pb::ScanState::Never) => "never succeeded",
        _ => "unknown",
    }
}

fn patches(lines: &mut Vec<String>, report: &pb::StatusReport, now: i64) {
    lines.push("patches".into());
    match &report.patches {
        None => missing(lines, "patches"),
        Some(check) => {
            let security = check.pending.iter().filter(|p| p.security).count();
            let scan_age = check
                .last_successful_scan_unix_secs
                .map_or("never".into(), |t| format!("{} ago", age_text(now - t)));
            lines.push(format!(
                "  {} pending, {security} security ({}); scan {}, last successful scan {scan_age}",
                check.pending.len(),
                check.package_manager,
                scan_state_text(check.scan_state),
            ));
            if !check.scan_error.is_empty() {
                lines.push(format!("  scan problem: {}", check.scan_error));
            }
            if check.reboot_required {
                lines.push("  reboot required".into());
            }
            for reason in &check.reboot_reasons {
                lines.push(format!(
                    "  reboot reason ({}): {}",
                    reason.source, reason.detail
                ));
            }
        }
    }
    check_errors(lines, report, "patches");
}

fn backup_result_text(result: i32) -> &'static str {
    match pb::BackupResult::try_from(result) {
        Ok(pb::BackupResult::Success) => "succeeded",
        Ok(pb::BackupResult::Warning) => "succeeded with warnings",
        Ok(pb::BackupResult::Failed) => "failed",
        Ok(pb::BackupResult::Running) => "running",
        _ => "unknown",
    }
}

fn backups(lines: &mut Vec<String>, report: &pb::StatusReport, now: i64) {
    lines.push("backup jobs".into());
    match &report.backups {
        None => missing(lines, "backups"),
        Some(check) if check.jobs.is_empty() => lines.push("  no backup jobs configured".into()),
        Some(check) => {
            for job in &check.jobs {
                let success = job.last_success_unix_secs.map_or("never seen".into(), |t| {
                    format!("{} ago", age_text(now - t))
                });
                let mut line = format!(
                    "  {} ({}): last run {}, last success {success}",
                    job.name,
                    job.kind,
                    backup_result_text(job.result)
                );
                if !job.message.is_empty() {
                    line.push_str(&format!("; {}", job.message));
                }
                lines.push(line);
                if !job.probe_error.is_empty() {
                    lines.push(format!("    cannot read its state: {}", job.probe_error));
                }
            }
        }
    }
    check_errors(lines, report, "backups");
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn cert(subject: &str, not_after: i64, path: &str) -> pb::CertificateStatus {
        pb::CertificateStatus {
            subject: subject.into(),
            not_after_unix_secs: not_after,
            locations: vec![pb::CertificateLocation {
                source: pb::CertificateSource::File as i32,
                location: path.into(),
            }],
            ..Default::default()
        }
    }

    fn full_report() -> pb::StatusReport {
        pb::StatusReport {
            disks: Some(pb::DiskCheck {
                filesystems: vec![pb::DiskStatus {
                    mount_point: "/".into(),
                    filesystem: "ext4".into(),
                    total_bytes: 100 << 30,
                    available_bytes: 10 << 30,
                    ..Default::default()
                }],
            }),
            certificates: Some(pb::CertificateCheck {
                certificates: vec![
                    cert(
                        "O=Example,CN=www.example.com",
                        NOW + 40 * DAY_SECS,
                        "/etc/ssl/www.pem",
                    ),
                    cert("CN=old.example.com", NOW - 2 * DAY_SECS, "/etc/ssl/old.pem"),
                    cert(
                        "CN=mail.example.com,O=Example",
                        NOW + 5 * DAY_SECS + 10,
                        "/etc/ssl/mail.pem",
                    ),
                ],
                endpoints: vec![],
            }),
            patches: Some(pb::PatchCheck {
                package_manager: "apt".into(),
                scan_state: pb::ScanState::Ok as i32,
                last_successful_scan_unix_secs: Some(NOW - 3 * 3_600),
                pending: vec![
                    pb::PendingUpdate {
                        name: "openssl".into(),
                        security: true,
                        ..Default::default()
                    },
                    pb::PendingUpdate {
                        name: "vim".into(),
                        ..Default::default()
                    },
                ],
                reboot_required: true,
                reboot_reasons: vec![pb::RebootReason {
                    source: "/run/reboot-required".into(),
                    detail: "linux-image-6.1.0-18 was installed".into(),
                    patch_related: true,
                    packages: vec![],
                }],
                ..Default::default()
            }),
            backups: Some(pb::BackupCheck {
                jobs: vec![pb::BackupJobStatus {
                    name: "nightly".into(),
                    kind: "restic".into(),
                    result: pb::BackupResult::Failed as i32,
                    last_success_unix_secs: Some(NOW - 2 * DAY_SECS),
                    message: "exit code 1".into(),
                    probe_error: "repository locked".into(),
                    ..Default::default()
                }],
            }),
            ..Default::default()
        }
    }

    #[test]
    fn all_four_domains_are_shown() {
        let forecasts = [DiskForecastRecord {
            mount_point: "/".into(),
            description: "full in ~5 days".into(),
            computed_at: NOW,
        }];
        let lines = render(&full_report(), &forecasts, NOW);
        let expected = [
            "disks",
            "  /                        ext4         10.0 GiB free of    100.0 GiB (10% free)  forecast: full in ~5 days",
            "certificates (soonest expiry first)",
            "  old.example.com                  expired 2 days ago   /etc/ssl/old.pem",
            "  mail.example.com                 5 days left          /etc/ssl/mail.pem",
            "  www.example.com                  40 days left         /etc/ssl/www.pem",
            "patches",
            "  2 pending, 1 security (apt); scan fresh, last successful scan 3 h ago",
            "  reboot required",
            "  reboot reason (/run/reboot-required): linux-image-6.1.0-18 was installed",
            "backup jobs",
            "  nightly (restic): last run failed, last success 2 days ago; exit code 1",
            "    cannot read its state: repository locked",
        ];
        assert_eq!(lines, expected);
    }

    #[test]
    fn a_missing_domain_says_so_with_its_check_errors() {
        let report = pb::StatusReport {
            errors: vec![pb::CheckError {
                check: "patches".into(),
                item: String::new(),
                kind: pb::CheckErrorKind::ToolMissing as i32,
                message: "apt-get not found".into(),
            }],
            ..Default::default()
        };
        let lines = render(&report, &[], NOW);
        let patches = lines.iter().position(|l| l == "patches").unwrap();
        assert!(
            lines[patches + 1].contains("the patches check did not run"),
            "{lines:?}"
        );
        assert_eq!(lines[patches + 2], "  problem [patches]: apt-get not found");
        assert_eq!(
            lines.iter().filter(|l| l.contains("did not run")).count(),
            4
        );
    }

    #[test]
    fn a_disk_without_forecast_says_not_judged() {
        let lines = render(&full_report(), &[], NOW);
        assert!(lines[1].ends_with("forecast: not judged"), "{}", lines[1]);
    }
}
