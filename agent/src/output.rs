//! Human-readable rendering of a report for `check --once`.
//!
//! IT staff run this on a device to see what Forewarn sees, so it favours
//! plain columns and units over completeness; `--json` has everything.

use std::fmt::Write as _;

use forewarn_proto::pb;

pub fn render_table(report: &pb::StatusReport) -> String {
    let mut out = String::new();
    let now = report.collected_at_unix_secs;
    if let Some(host) = &report.host {
        let _ = writeln!(
            out,
            "Host      {} ({} {} {}, {})",
            host.hostname, host.os_name, host.os_version, host.os_build, host.architecture
        );
        if !host.model.is_empty() || !host.serial_number.is_empty() {
            let _ = writeln!(
                out,
                "Hardware  {} serial {}",
                host.model, host.serial_number
            );
        }
        let _ = writeln!(out, "Agent     {}", host.agent_version);
    }
    if let Some(disks) = &report.disks {
        render_disks(&mut out, disks);
    }
    if let Some(certificates) = &report.certificates {
        render_certificates(&mut out, certificates, now);
    }
    if let Some(patches) = &report.patches {
        render_patches(&mut out, patches, now);
    }
    if let Some(backups) = &report.backups {
        render_backups(&mut out, backups, now);
    }
    if !report.errors.is_empty() {
        let _ = writeln!(out, "\nPROBLEMS");
        for error in &report.errors {
            let item = if error.item.is_empty() {
                String::new()
            } else {
                format!(" {}", error.item)
            };
            let _ = writeln!(out, "  {}{item}: {}", error.check, error.message);
        }
    }
    let runs: Vec<String> = report
        .check_runs
        .iter()
        .map(|run| {
            format!(
                "{} {} ({} ms)",
                run.check,
                check_state(report, run),
                run.duration_ms
            )
        })
        .collect();
    let _ = writeln!(out, "\nChecks    {}", runs.join(", "));
    out
}

/// "ok" only when the check ran and nothing in its domain went wrong.
fn check_state(report: &pb::StatusReport, run: &pb::CheckRun) -> String {
    if !run.ok {
        return "FAILED".to_owned();
    }
    let mut problems = report
        .errors
        .iter()
        .filter(|e| e.check == run.check)
        .count();
    if run.check == "backups"
        && let Some(backups) = &report.backups
    {
        problems += backups
            .jobs
            .iter()
            .filter(|job| !job.probe_error.is_empty())
            .count();
    }
    if run.check == "patches"
        && let Some(patches) = &report.patches
        && !patches.scan_error.is_empty()
    {
        problems += 1;
    }
    match problems {
        0 => "ok".to_owned(),
        1 => "1 problem".to_owned(),
        n => format!("{n} problems"),
    }
}

fn render_disks(out: &mut String, disks: &pb::DiskCheck) {
    let _ = writeln!(
        out,
        "\n{:<28} {:<10} {:>10} {:>10} {:>6} {:>7}  DEVICE",
        "MOUNT", "TYPE", "SIZE", "AVAIL", "USE%", "INODE%"
    );
    for fs in &disks.filesystems {
        let inode_use = match (fs.inodes_total, fs.inodes_free) {
            (Some(total), Some(free)) if total > 0 => {
                format!("{:.0}%", percent(total - free, total))
            }
            _ => "-".into(),
        };
        let mut flags = Vec::new();
        if fs.removable {
            flags.push("removable");
        }
        if fs.network {
            flags.push("network");
        }
        if fs.read_only {
            flags.push("read-only");
        }
        let _ = writeln!(
            out,
            "{:<28} {:<10} {:>10} {:>10} {:>5.0}% {:>7}  {}{}",
            fs.mount_point,
            fs.filesystem,
            human_bytes(fs.total_bytes),
            human_bytes(fs.available_bytes),
            percent(
                fs.total_bytes.saturating_sub(fs.available_bytes),
                fs.total_bytes
            ),
            inode_use,
            fs.device,
            if flags.is_empty() {
                String::new()
            } else {
                format!(" [{}]", flags.join(", "))
            }
        );
    }
}

/// Certificates listed in the table; `--json` has them all.
const CERTIFICATE_ROWS: usize = 10;

fn render_certificates(out: &mut String, check: &pb::CertificateCheck, now: i64) {
    let mut certificates: Vec<&pb::CertificateStatus> = check.certificates.iter().collect();
    certificates.sort_by_key(|c| c.not_after_unix_secs);
    let _ = writeln!(
        out,
        "\nCERTIFICATES  {} found{}",
        certificates.len(),
        if certificates.is_empty() {
            ""
        } else {
            ", soonest expiry first"
        }
    );
    if !certificates.is_empty() {
        let _ = writeln!(
            out,
            "{:>9}  {:<17} {:<40} WHERE",
            "DAYS LEFT", "EXPIRES (UTC)", "SUBJECT"
        );
    }
    for cert in certificates.iter().take(CERTIFICATE_ROWS) {
        let days_left = (cert.not_after_unix_secs - now).div_euclid(DAY_SECS);
        let place = cert
            .locations
            .first()
            .map(|l| l.location.as_str())
            .unwrap_or("-");
        let more = match cert.locations.len() {
            0 | 1 => String::new(),
            n => format!(" (+{} more)", n - 1),
        };
        let expired = if cert.not_after_unix_secs <= now {
            "  EXPIRED"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{days_left:>9}  {:<17} {:<40} {place}{more}{expired}",
            utc_minute(cert.not_after_unix_secs),
            cert.subject
        );
    }
    if certificates.len() > CERTIFICATE_ROWS {
        let _ = writeln!(
            out,
            "{:>9}  and {} more (see --json)",
            "",
            certificates.len() - CERTIFICATE_ROWS
        );
    }
    for endpoint in &check.endpoints {
        let state = if endpoint.error.is_empty() {
            "ok".to_owned()
        } else {
            endpoint.error.clone()
        };
        let expiry = endpoint
            .earliest_chain_expiry_unix_secs
            .map(|at| {
                format!(
                    ", chain expires in {} days",
                    (at - now).div_euclid(DAY_SECS)
                )
            })
            .unwrap_or_default();
        let _ = writeln!(out, "  endpoint {}: {state}{expiry}", endpoint.endpoint);
    }
}

/// Pending update names shown on one line.
const UPDATE_NAMES: usize = 8;

fn render_patches(out: &mut String, patches: &pb::PatchCheck, now: i64) {
    let state = match pb::ScanState::try_from(patches.scan_state) {
        Ok(pb::ScanState::Ok) => "scan ok",
        Ok(pb::ScanState::Stale) => "scan STALE",
        Ok(pb::ScanState::Error) => "scan FAILED",
        Ok(pb::ScanState::Never) => "never scanned",
        _ => "scan state unknown",
    };
    let scanned = patches
        .last_successful_scan_unix_secs
        .map(|at| format!(", last successful scan {}", when(at, now)))
        .unwrap_or_default();
    let manager = if patches.package_manager.is_empty() {
        String::new()
    } else {
        format!("{} ", patches.package_manager)
    };
    let _ = writeln!(out, "\nPATCHES       {manager}{state}{scanned}");
    if !patches.scan_error.is_empty() {
        let _ = writeln!(out, "  scan error: {}", patches.scan_error);
    }
    // The pending list means something only after a scan that worked.
    let trusted = matches!(
        pb::ScanState::try_from(patches.scan_state),
        Ok(pb::ScanState::Ok | pb::ScanState::Stale)
    );
    if trusted {
        render_pending(out, patches);
    }
    if let Some(at) = patches.last_successful_install_unix_secs {
        let _ = writeln!(out, "  last install {}", when(at, now));
    }
    if patches.reboot_required {
        let _ = writeln!(out, "  reboot required");
        for reason in &patches.reboot_reasons {
            let packages = if reason.packages.is_empty() {
                String::new()
            } else {
                format!(" (for {})", reason.packages.join(", "))
            };
            let _ = writeln!(out, "    {}: {}{packages}", reason.source, reason.detail);
        }
    }
}

fn render_pending(out: &mut String, patches: &pb::PatchCheck) {
    let security: Vec<&str> = patches
        .pending
        .iter()
        .filter(|u| u.security)
        .map(|u| u.name.as_str())
        .collect();
    let _ = write!(
        out,
        "  {} update(s) pending, {} security",
        patches.pending.len(),
        security.len()
    );
    let named: Vec<&str> = if security.is_empty() {
        patches.pending.iter().map(|u| u.name.as_str()).collect()
    } else {
        security
    };
    if !named.is_empty() {
        let shown = named[..named.len().min(UPDATE_NAMES)].join(", ");
        let rest = named.len().saturating_sub(UPDATE_NAMES);
        let rest = if rest > 0 {
            format!(" and {rest} more")
        } else {
            String::new()
        };
        let _ = write!(out, ": {shown}{rest}");
    }
    let _ = writeln!(out);
}

fn render_backups(out: &mut String, backups: &pb::BackupCheck, now: i64) {
    let _ = writeln!(
        out,
        "\n{:<20} {:<12} {:<8} {:<30} DETAIL",
        "BACKUP JOB", "KIND", "RESULT", "LAST SUCCESS"
    );
    for job in &backups.jobs {
        let result = match pb::BackupResult::try_from(job.result) {
            Ok(pb::BackupResult::Success) => "success",
            Ok(pb::BackupResult::Warning) => "WARNING",
            Ok(pb::BackupResult::Failed) => "FAILED",
            Ok(pb::BackupResult::Running) => "running",
            _ => "unknown",
        };
        let last_success = job
            .last_success_unix_secs
            .map_or_else(|| "never seen".to_owned(), |at| when(at, now));
        let detail = if job.probe_error.is_empty() {
            job.message.clone()
        } else {
            format!("cannot read its state: {}", job.probe_error)
        };
        let _ = writeln!(
            out,
            "{:<20} {:<12} {:<8} {:<30} {detail}",
            job.name, job.kind, result, last_success
        );
        if !job.restore_verification_error.is_empty() {
            let _ = writeln!(
                out,
                "{:<20} restore test failed: {}",
                "", job.restore_verification_error
            );
        }
    }
}

const DAY_SECS: i64 = 86_400;

/// "2026-12-01 14:05".
fn utc_minute(unix_secs: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    time::OffsetDateTime::from_unix_timestamp(unix_secs)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| format!("unix time {unix_secs}"))
}

/// "2026-12-01 14:05 UTC (3 h ago)".
fn when(unix_secs: i64, now: i64) -> String {
    let ago = now - unix_secs;
    let age = if ago < 0 {
        "in the future".to_owned()
    } else if ago < 3600 {
        format!("{} min ago", ago / 60)
    } else if ago < 2 * DAY_SECS {
        format!("{} h ago", ago / 3600)
    } else {
        format!("{} d ago", ago / DAY_SECS)
    };
    format!("{} UTC ({age})", utc_minute(unix_secs))
}

/// An error and its causes on one line, each said once: many errors put
/// their cause in their own message *and* return it as `source()`, so
/// printing the chain as is repeats it ("No such file or directory (os error
/// 2): No such file or directory (os error 2)"). A cause whose text is
/// already in the line is left out.
pub fn error_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// Bytes in binary units with one decimal ("931.5 GiB").
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(10 * (1 << 30)), "10.0 GiB");
    }

    #[test]
    fn disk_table_lists_space_inodes_flags_and_item_errors() {
        let report = pb::StatusReport {
            disks: Some(pb::DiskCheck {
                filesystems: vec![pb::DiskStatus {
                    mount_point: "/data".into(),
                    filesystem: "ext4".into(),
                    total_bytes: 100 << 30,
                    available_bytes: 25 << 30,
                    inodes_total: Some(1000),
                    inodes_free: Some(900),
                    removable: true,
                    ..Default::default()
                }],
            }),
            errors: vec![pb::CheckError {
                check: "disks".into(),
                item: "/mnt/nfs".into(),
                message: "timed out".into(),
                ..Default::default()
            }],
            check_runs: vec![run("disks")],
            ..Default::default()
        };
        let table = render_table(&report);
        assert!(table.contains("/data"), "{table}");
        assert!(
            table.contains("25.0 GiB") && table.contains("75%") && table.contains("10%"),
            "{table}"
        );
        assert!(table.contains("[removable]"), "{table}");
        assert!(table.contains("disks /mnt/nfs: timed out"), "{table}");
        assert!(table.contains("disks 1 problem (3 ms)"), "{table}");
    }

    fn run(check: &str) -> pb::CheckRun {
        pb::CheckRun {
            check: check.into(),
            duration_ms: 3,
            ok: true,
        }
    }

    /// 2026-12-01 12:00 UTC.
    const NOW: i64 = 1_764_590_400 + 365 * DAY_SECS;

    #[test]
    fn certificate_table_lists_soonest_expiry_first_with_days_left() {
        use crate::checks::certificates::parse;
        // Read whole: this fixture's source is noted in a file beside it.
        let pem = include_str!(
            "../tests/fixtures/certificates/macos/security-find-certificate-system-roots.txt"
        );
        let (ders, problems) = parse::split_certificates(pem.as_bytes());
        assert!(problems.is_empty());
        let mut certificates: Vec<pb::CertificateStatus> = ders
            .iter()
            .map(|der| {
                let mut status = parse::describe(der).unwrap();
                status.locations.push(pb::CertificateLocation {
                    source: pb::CertificateSource::OsStore as i32,
                    location: "/Library/Keychains/System.keychain".into(),
                });
                status
            })
            .collect();
        let isrg = certificates
            .iter()
            .find(|c| c.subject.ends_with("CN=ISRG Root X1"))
            .unwrap()
            .clone();
        // Ten short-lived leaves, one already expired, so the cap shows.
        for i in 0..11 {
            certificates.push(pb::CertificateStatus {
                subject: format!("CN=leaf-{i}.example.test"),
                not_after_unix_secs: NOW + (i - 1) * DAY_SECS + 3600,
                locations: vec![
                    pb::CertificateLocation {
                        source: pb::CertificateSource::File as i32,
                        location: format!("/etc/tls/leaf-{i}.pem"),
                    };
                    2
                ],
                ..Default::default()
            });
        }
        let report = pb::StatusReport {
            collected_at_unix_secs: NOW,
            certificates: Some(pb::CertificateCheck {
                certificates,
                endpoints: vec![pb::TlsEndpointStatus {
                    endpoint: "db.example.test:5432".into(),
                    error: "hostname mismatch: certificate is for other.test".into(),
                    earliest_chain_expiry_unix_secs: Some(NOW + 30 * DAY_SECS),
                    ..Default::default()
                }],
            }),
            check_runs: vec![run("certificates")],
            ..Default::default()
        };
        let table = render_table(&report);
        let rows: Vec<&str> = table
            .lines()
            .filter(|l| l.contains("CN=") || l.contains("O="))
            .collect();
        assert_eq!(rows.len(), CERTIFICATE_ROWS, "{table}");
        assert!(rows[0].trim_start().starts_with("-1 "), "{table}");
        assert!(
            rows[0].contains("EXPIRED") && rows[0].contains("leaf-0"),
            "{table}"
        );
        assert!(rows[0].contains("/etc/tls/leaf-0.pem (+1 more)"), "{table}");
        assert!(rows[6].trim_start().starts_with("5 "), "{table}");
        assert!(table.contains("13 found, soonest expiry first"), "{table}");
        // The two roots expire last: beyond the ten rows, counted.
        assert!(table.contains("and 3 more (see --json)"), "{table}");
        assert!(!table.contains(&isrg.subject), "{table}");
        assert!(
            table.contains("endpoint db.example.test:5432: hostname mismatch"),
            "{table}"
        );
        assert!(table.contains("chain expires in 30 days"), "{table}");
        assert!(table.contains("certificates ok"), "{table}");
    }

    #[test]
    fn patch_table_shows_pending_security_scan_age_and_reboot_reasons() {
        let update = |name: &str, security: bool| pb::PendingUpdate {
            name: name.into(),
            security,
            ..Default::default()
        };
        let report = pb::StatusReport {
            collected_at_unix_secs: NOW,
            patches: Some(pb::PatchCheck {
                package_manager: "apt".into(),
                scan_state: pb::ScanState::Stale as i32,
                scan_error: "apt lists are 9 days old".into(),
                last_successful_scan_unix_secs: Some(NOW - 9 * DAY_SECS),
                last_successful_install_unix_secs: Some(NOW - 3 * 3600),
                pending: vec![
                    update("libssl3", true),
                    update("openssl", true),
                    update("tzdata", false),
                ],
                reboot_required: true,
                reboot_reasons: vec![pb::RebootReason {
                    source: "/run/reboot-required".into(),
                    detail: "a package asked for a reboot".into(),
                    patch_related: true,
                    packages: vec!["linux-image-6.1.0-28-amd64".into()],
                }],
            }),
            check_runs: vec![run("patches")],
            ..Default::default()
        };
        let table = render_table(&report);
        assert!(
            table.contains("apt scan STALE, last successful scan 2026-11-22 12:00 UTC (9 d ago)"),
            "{table}"
        );
        assert!(
            table.contains("scan error: apt lists are 9 days old"),
            "{table}"
        );
        assert!(
            table.contains("3 update(s) pending, 2 security: libssl3, openssl"),
            "{table}"
        );
        assert!(
            table.contains("last install 2026-12-01 09:00 UTC (3 h ago)"),
            "{table}"
        );
        assert!(
            table.contains(
                "/run/reboot-required: a package asked for a reboot (for linux-image-6.1.0-28-amd64)"
            ),
            "{table}"
        );
        assert!(table.contains("patches 1 problem"), "{table}");
    }

    #[test]
    fn backup_table_shows_each_jobs_result_last_success_and_probe_error() {
        let report = pb::StatusReport {
            collected_at_unix_secs: NOW,
            backups: Some(pb::BackupCheck {
                jobs: vec![
                    pb::BackupJobStatus {
                        name: "nightly".into(),
                        kind: "restic".into(),
                        result: pb::BackupResult::Success as i32,
                        last_success_unix_secs: Some(NOW - 11 * 3600),
                        message: "snapshot 1a2b3c4d of host web1".into(),
                        ..Default::default()
                    },
                    pb::BackupJobStatus {
                        name: "offsite".into(),
                        kind: "systemd".into(),
                        result: pb::BackupResult::Warning as i32,
                        last_success_unix_secs: Some(NOW - 3 * DAY_SECS),
                        message: "finished with warnings: exit status 3".into(),
                        ..Default::default()
                    },
                    pb::BackupJobStatus {
                        name: "laptop".into(),
                        kind: "borg".into(),
                        result: pb::BackupResult::Unknown as i32,
                        probe_error: "repository is locked: lock.exclusive".into(),
                        ..Default::default()
                    },
                ],
            }),
            check_runs: vec![run("backups")],
            ..Default::default()
        };
        let table = render_table(&report);
        let line = |job: &str| {
            table
                .lines()
                .find(|l| l.starts_with(job))
                .unwrap_or_else(|| panic!("no {job}: {table}"))
        };
        assert!(line("nightly").contains("success"), "{table}");
        assert!(
            line("nightly").contains("2026-12-01 01:00 UTC (11 h ago)"),
            "{table}"
        );
        assert!(line("offsite").contains("WARNING"), "{table}");
        assert!(line("offsite").contains("exit status 3"), "{table}");
        assert!(line("laptop").contains("never seen"), "{table}");
        assert!(
            line("laptop").contains("cannot read its state: repository is locked"),
            "{table}"
        );
        assert!(table.contains("backups 1 problem"), "{table}");
    }

    #[test]
    fn each_cause_of_an_error_is_said_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot read config file /etc/forewarn/agent.toml: {0}")]
        struct Wrapped(#[source] std::io::Error);
        let err = anyhow::Error::new(Wrapped(std::io::Error::from_raw_os_error(2)))
            .context("cannot start");
        assert_eq!(
            error_text(err.as_ref()),
            "cannot start: cannot read config file /etc/forewarn/agent.toml: No such file or directory (os error 2)"
        );
        // Causes that add something are kept, in order.
        let err = anyhow::anyhow!("connection refused")
            .context("tcp connect error")
            .context("cannot reach the collector");
        assert_eq!(
            error_text(err.as_ref()),
            "cannot reach the collector: tcp connect error: connection refused"
        );
    }

    #[test]
    fn failed_scan_shows_its_error_and_no_pending_count() {
        let report = pb::StatusReport {
            patches: Some(pb::PatchCheck {
                package_manager: "dnf".into(),
                scan_state: pb::ScanState::Error as i32,
                scan_error: "dnf check-update failed: Cannot download repomd.xml".into(),
                ..Default::default()
            }),
            check_runs: vec![run("patches")],
            ..Default::default()
        };
        let table = render_table(&report);
        assert!(table.contains("dnf scan FAILED"), "{table}");
        assert!(table.contains("Cannot download repomd.xml"), "{table}");
        assert!(
            !table.contains("pending"),
            "an untrusted list is not shown: {table}"
        );
        assert!(table.contains("patches 1 problem"), "{table}");
    }

    #[test]
    fn failed_check_says_failed() {
        let report = pb::StatusReport {
            check_runs: vec![pb::CheckRun {
                check: "patches".into(),
                duration_ms: 1,
                ok: false,
            }],
            ..Default::default()
        };
        assert!(render_table(&report).contains("patches FAILED (1 ms)"));
    }
}
