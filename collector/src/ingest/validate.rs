//! Bounds checks on incoming messages.
//!
//! Pure functions of the message and `now`: every string and list against the
//! limits in `forewarn_proto::limits`, and every timestamp against the clock.
//! The first problem found is returned with the field path, so an operator
//! reading the agent's log knows exactly what was refused.
//!
//! An observed event time (boot, patch scan, backup run) that is in the future
//! or before 1970 is one bad value, not a bad report: [`drop_implausible_times`]
//! removes it and adds an item error naming the item and the value, so the
//! rest of the device's report (disks, certificates, other jobs) still counts.

use forewarn_proto::limits::*;
use forewarn_proto::pb;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ValidationError {
    pub field: String,
    pub problem: String,
}

type Checked = Result<(), ValidationError>;

fn refuse(field: impl Into<String>, problem: impl Into<String>) -> ValidationError {
    ValidationError {
        field: field.into(),
        problem: problem.into(),
    }
}

fn text(field: &str, value: &str) -> Checked {
    if value.len() > MAX_STRING_BYTES {
        return Err(refuse(
            field,
            format!(
                "{} bytes is over the limit of {MAX_STRING_BYTES}",
                value.len()
            ),
        ));
    }
    Ok(())
}

fn pem(field: &str, value: &str) -> Checked {
    if value.len() > MAX_PEM_BYTES {
        return Err(refuse(
            field,
            format!("{} bytes is over the limit of {MAX_PEM_BYTES}", value.len()),
        ));
    }
    Ok(())
}

fn list<T>(field: &str, items: &[T], max: usize) -> Checked {
    if items.len() > max {
        return Err(refuse(
            field,
            format!("{} entries is over the limit of {max}", items.len()),
        ));
    }
    Ok(())
}

fn texts(field: &str, values: &[String]) -> Checked {
    list(field, values, MAX_LIST_ITEMS)?;
    values.iter().try_for_each(|v| text(field, v))
}

/// Why an observed event time cannot be true, if it cannot.
fn implausible_time(value: i64, now: i64) -> Option<String> {
    if value > now + MAX_FUTURE_SKEW_SECS {
        let ahead = value - now;
        Some(format!(
            "{value} is {ahead} s in the future (allowed skew {MAX_FUTURE_SKEW_SECS} s); check the device clock and the time written by the tool"
        ))
    } else if value < 0 {
        Some(format!("{value} is before 1970"))
    } else {
        None
    }
}

/// Removes every observed event time that cannot be true (see the module
/// doc) and records each as an item error; returns how many were removed.
pub fn drop_implausible_times(report: &mut pb::StatusReport, now: i64) -> usize {
    let mut dropped = Vec::new();
    let mut check = |check: &str, item: &str, field: &str, value: &mut Option<i64>| {
        if let Some(problem) = value.and_then(|t| implausible_time(t, now)) {
            *value = None;
            dropped.push(pb::CheckError {
                check: check.to_owned(),
                item: item.to_owned(),
                kind: pb::CheckErrorKind::Failed.into(),
                message: format!("{field} ignored: {problem}"),
            });
        }
    };
    if let Some(host) = &mut report.host {
        check(
            "host",
            "",
            "boot_time_unix_secs",
            &mut host.boot_time_unix_secs,
        );
    }
    if let Some(patches) = &mut report.patches {
        check(
            "patches",
            "",
            "last_successful_scan_unix_secs",
            &mut patches.last_successful_scan_unix_secs,
        );
        check(
            "patches",
            "",
            "last_successful_install_unix_secs",
            &mut patches.last_successful_install_unix_secs,
        );
    }
    if let Some(backups) = &mut report.backups {
        for job in &mut backups.jobs {
            let name = job.name.clone();
            for (field, value) in [
                (
                    "last_run_started_unix_secs",
                    &mut job.last_run_started_unix_secs,
                ),
                (
                    "last_run_finished_unix_secs",
                    &mut job.last_run_finished_unix_secs,
                ),
                ("last_success_unix_secs", &mut job.last_success_unix_secs),
                (
                    "restore_verified_unix_secs",
                    &mut job.restore_verified_unix_secs,
                ),
            ] {
                check("backups", &name, field, value);
            }
        }
    }
    let count = dropped.len();
    report.errors.extend(dropped);
    count
}

/// Certificate validity dates may be far in the future, but not absurdly so.
fn certificate_time(field: &str, value: i64) -> Checked {
    /// 9999-12-31T23:59:59Z, the largest time X.509 can express.
    const LATEST: i64 = 253_402_300_799;
    /// 1950-01-01, the earliest UTCTime.
    const EARLIEST: i64 = -631_152_000;
    if !(EARLIEST..=LATEST).contains(&value) {
        return Err(refuse(field, format!("{value} is not a certificate date")));
    }
    Ok(())
}

pub fn enroll_request(request: &pb::EnrollRequest) -> Checked {
    text("token", &request.token)?;
    if request.token.trim().is_empty() {
        return Err(refuse("token", "is empty"));
    }
    pem("csr_pem", &request.csr_pem)?;
    if let Some(host) = &request.host {
        host_facts(host)?;
    }
    Ok(())
}

pub fn renew_request(request: &pb::RenewRequest) -> Checked {
    pem("csr_pem", &request.csr_pem)
}

pub fn status_report(report: &pb::StatusReport, now: i64) -> Checked {
    if report.seq == 0 {
        return Err(refuse("seq", "must start at 1"));
    }
    if i64::try_from(report.seq).is_err() {
        return Err(refuse("seq", format!("{} is too large", report.seq)));
    }
    let collected = report.collected_at_unix_secs;
    if collected > now + MAX_FUTURE_SKEW_SECS {
        return Err(refuse(
            "collected_at_unix_secs",
            format!(
                "{collected} is {} s in the future (allowed skew {MAX_FUTURE_SKEW_SECS} s); check the device clock",
                collected - now
            ),
        ));
    }
    if collected < now - MAX_REPORT_AGE_SECS {
        return Err(refuse(
            "collected_at_unix_secs",
            format!("{collected} is older than {MAX_REPORT_AGE_SECS} s"),
        ));
    }
    text("claimed_device_id", &report.claimed_device_id)?;
    text("policy_version", &report.policy_version)?;
    if let Some(host) = &report.host {
        host_facts(host)?;
    }
    if let Some(disks) = &report.disks {
        disk_check(disks)?;
    }
    if let Some(certificates) = &report.certificates {
        certificate_check(certificates)?;
    }
    if let Some(patches) = &report.patches {
        patch_check(patches)?;
    }
    if let Some(backups) = &report.backups {
        backup_check(backups)?;
    }
    list("check_runs", &report.check_runs, MAX_LIST_ITEMS)?;
    for run in &report.check_runs {
        text("check_runs.check", &run.check)?;
    }
    list("errors", &report.errors, MAX_CHECK_ERRORS)?;
    for error in &report.errors {
        text("errors.check", &error.check)?;
        text("errors.item", &error.item)?;
        text("errors.message", &error.message)?;
    }
    Ok(())
}

fn host_facts(host: &pb::HostFacts) -> Checked {
    for (field, value) in [
        ("host.hostname", &host.hostname),
        ("host.os_family", &host.os_family),
        ("host.os_name", &host.os_name),
        ("host.os_version", &host.os_version),
        ("host.os_build", &host.os_build),
        ("host.architecture", &host.architecture),
        ("host.model", &host.model),
        ("host.serial_number", &host.serial_number),
        ("host.hardware_uuid", &host.hardware_uuid),
        ("host.agent_version", &host.agent_version),
        ("host.primary_user", &host.primary_user),
    ] {
        text(field, value)?;
    }
    Ok(())
}

fn disk_check(disks: &pb::DiskCheck) -> Checked {
    list("disks.filesystems", &disks.filesystems, MAX_FILESYSTEMS)?;
    for fs in &disks.filesystems {
        text("disks.filesystems.mount_point", &fs.mount_point)?;
        text("disks.filesystems.device", &fs.device)?;
        text("disks.filesystems.filesystem", &fs.filesystem)?;
        if fs.free_bytes > fs.total_bytes || fs.available_bytes > fs.total_bytes {
            return Err(refuse(
                "disks.filesystems",
                format!("{}: free space exceeds total size", fs.mount_point),
            ));
        }
        if let (Some(total), Some(free)) = (fs.inodes_total, fs.inodes_free)
            && free > total
        {
            return Err(refuse(
                "disks.filesystems.inodes_free",
                format!("{}: free inodes exceed total", fs.mount_point),
            ));
        }
    }
    Ok(())
}

fn certificate_check(check: &pb::CertificateCheck) -> Checked {
    list(
        "certificates.certificates",
        &check.certificates,
        MAX_CERTIFICATES,
    )?;
    for cert in &check.certificates {
        for (field, value) in [
            ("certificates.sha256_fingerprint", &cert.sha256_fingerprint),
            ("certificates.subject", &cert.subject),
            ("certificates.issuer", &cert.issuer),
            ("certificates.serial", &cert.serial),
            ("certificates.key_type", &cert.key_type),
            (
                "certificates.signature_algorithm",
                &cert.signature_algorithm,
            ),
        ] {
            text(field, value)?;
        }
        texts("certificates.subject_alt_names", &cert.subject_alt_names)?;
        certificate_time(
            "certificates.not_before_unix_secs",
            cert.not_before_unix_secs,
        )?;
        certificate_time("certificates.not_after_unix_secs", cert.not_after_unix_secs)?;
        list("certificates.locations", &cert.locations, MAX_LIST_ITEMS)?;
        for location in &cert.locations {
            text("certificates.locations.location", &location.location)?;
        }
    }
    list(
        "certificates.endpoints",
        &check.endpoints,
        MAX_TLS_ENDPOINTS,
    )?;
    for endpoint in &check.endpoints {
        text("certificates.endpoints.endpoint", &endpoint.endpoint)?;
        text("certificates.endpoints.server_name", &endpoint.server_name)?;
        text("certificates.endpoints.error", &endpoint.error)?;
        text(
            "certificates.endpoints.leaf_sha256_fingerprint",
            &endpoint.leaf_sha256_fingerprint,
        )?;
        if let Some(expiry) = endpoint.earliest_chain_expiry_unix_secs {
            certificate_time(
                "certificates.endpoints.earliest_chain_expiry_unix_secs",
                expiry,
            )?;
        }
    }
    Ok(())
}

fn patch_check(check: &pb::PatchCheck) -> Checked {
    text("patches.package_manager", &check.package_manager)?;
    text("patches.scan_error", &check.scan_error)?;
    list("patches.pending", &check.pending, MAX_PENDING_UPDATES)?;
    for update in &check.pending {
        for (field, value) in [
            ("patches.pending.name", &update.name),
            (
                "patches.pending.installed_version",
                &update.installed_version,
            ),
            (
                "patches.pending.candidate_version",
                &update.candidate_version,
            ),
            ("patches.pending.source", &update.source),
            ("patches.pending.severity", &update.severity),
        ] {
            text(field, value)?;
        }
        texts("patches.pending.advisories", &update.advisories)?;
    }
    list(
        "patches.reboot_reasons",
        &check.reboot_reasons,
        MAX_LIST_ITEMS,
    )?;
    for reason in &check.reboot_reasons {
        text("patches.reboot_reasons.source", &reason.source)?;
        text("patches.reboot_reasons.detail", &reason.detail)?;
        texts("patches.reboot_reasons.packages", &reason.packages)?;
    }
    Ok(())
}

fn backup_check(check: &pb::BackupCheck) -> Checked {
    list("backups.jobs", &check.jobs, MAX_BACKUP_JOBS)?;
    for job in &check.jobs {
        for (field, value) in [
            ("backups.jobs.name", &job.name),
            ("backups.jobs.kind", &job.kind),
            ("backups.jobs.destination", &job.destination),
            ("backups.jobs.message", &job.message),
            ("backups.jobs.probe_error", &job.probe_error),
            (
                "backups.jobs.restore_verification_error",
                &job.restore_verification_error,
            ),
        ] {
            text(field, value)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000;

    fn report() -> pb::StatusReport {
        pb::StatusReport {
            seq: 1,
            collected_at_unix_secs: NOW,
            host: Some(pb::HostFacts {
                hostname: "laptop-042".into(),
                ..Default::default()
            }),
            disks: Some(pb::DiskCheck {
                filesystems: vec![pb::DiskStatus {
                    mount_point: "/".into(),
                    total_bytes: 100,
                    free_bytes: 40,
                    available_bytes: 30,
                    ..Default::default()
                }],
            }),
            ..Default::default()
        }
    }

    #[test]
    fn plausible_report_passes() {
        assert_eq!(status_report(&report(), NOW), Ok(()));
    }

    #[test]
    fn timestamp_years_in_the_future_is_refused() {
        let mut r = report();
        r.collected_at_unix_secs = NOW + 3 * 365 * 24 * 3600;
        assert_eq!(
            status_report(&r, NOW).unwrap_err().field,
            "collected_at_unix_secs"
        );
    }

    #[test]
    fn small_clock_skew_is_tolerated() {
        let mut r = report();
        r.collected_at_unix_secs = NOW + 60;
        assert_eq!(status_report(&r, NOW), Ok(()));
    }

    #[test]
    fn overlong_string_is_refused_with_its_field() {
        let mut r = report();
        r.host.as_mut().unwrap().hostname = "x".repeat(MAX_STRING_BYTES + 1);
        assert_eq!(status_report(&r, NOW).unwrap_err().field, "host.hostname");
    }

    #[test]
    fn too_many_filesystems_is_refused() {
        let mut r = report();
        let fs = r.disks.as_ref().unwrap().filesystems[0].clone();
        r.disks.as_mut().unwrap().filesystems = vec![fs; MAX_FILESYSTEMS + 1];
        assert_eq!(
            status_report(&r, NOW).unwrap_err().field,
            "disks.filesystems"
        );
    }

    #[test]
    fn free_space_larger_than_disk_is_refused() {
        let mut r = report();
        r.disks.as_mut().unwrap().filesystems[0].free_bytes = 101;
        assert!(status_report(&r, NOW).is_err());
    }

    #[test]
    fn zero_seq_is_refused() {
        let mut r = report();
        r.seq = 0;
        assert_eq!(status_report(&r, NOW).unwrap_err().field, "seq");
    }

    #[test]
    fn future_backup_time_is_dropped_with_an_item_error_and_the_report_passes() {
        let mut r = report();
        r.backups = Some(pb::BackupCheck {
            jobs: vec![
                pb::BackupJobStatus {
                    name: "nightly".into(),
                    last_success_unix_secs: Some(NOW + 86_400),
                    last_run_finished_unix_secs: Some(NOW - 60),
                    ..Default::default()
                },
                pb::BackupJobStatus {
                    name: "weekly".into(),
                    last_success_unix_secs: Some(NOW - 3_600),
                    ..Default::default()
                },
            ],
        });
        assert_eq!(status_report(&r, NOW), Ok(()));
        assert_eq!(drop_implausible_times(&mut r, NOW), 1);
        let jobs = &r.backups.as_ref().unwrap().jobs;
        assert_eq!(jobs[0].last_success_unix_secs, None);
        assert_eq!(jobs[0].last_run_finished_unix_secs, Some(NOW - 60));
        assert_eq!(jobs[1].last_success_unix_secs, Some(NOW - 3_600));
        assert_eq!(r.errors.len(), 1);
        assert_eq!(
            (r.errors[0].check.as_str(), r.errors[0].item.as_str()),
            ("backups", "nightly")
        );
        assert!(
            r.errors[0]
                .message
                .contains("last_success_unix_secs ignored"),
            "{}",
            r.errors[0].message
        );
        assert_eq!(r.disks.as_ref().unwrap().filesystems.len(), 1);
    }

    #[test]
    fn boot_and_patch_times_before_1970_or_ahead_are_dropped() {
        let mut r = report();
        r.host.as_mut().unwrap().boot_time_unix_secs = Some(-5);
        r.patches = Some(pb::PatchCheck {
            last_successful_scan_unix_secs: Some(NOW + 7 * 86_400),
            last_successful_install_unix_secs: Some(NOW - 86_400),
            ..Default::default()
        });
        assert_eq!(drop_implausible_times(&mut r, NOW), 2);
        assert_eq!(r.host.as_ref().unwrap().boot_time_unix_secs, None);
        let patches = r.patches.as_ref().unwrap();
        assert_eq!(patches.last_successful_scan_unix_secs, None);
        assert_eq!(
            patches.last_successful_install_unix_secs,
            Some(NOW - 86_400)
        );
    }

    #[test]
    fn empty_enrollment_token_is_refused() {
        let request = pb::EnrollRequest {
            token: "  ".into(),
            ..Default::default()
        };
        assert_eq!(enroll_request(&request).unwrap_err().field, "token");
    }
}
