//! Issue 14.2: one bad value never poisons a device. A backup status file
//! whose run and success are a year ahead, through a real agent and
//! collector: the report is stored with its disks, the job carries an item
//! error that names it, and the agent does not remember the future time in
//! its `backups.json`.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use forewarn_e2e::{Agent, CollectorProcess, wait_for};
use forewarn_proto::pb;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

const SLOW_REPORTS: &str = "report_interval_secs = 300";

fn rfc3339(at: OffsetDateTime) -> Result<String> {
    Ok(at
        .to_offset(UtcOffset::UTC)
        .replace_nanosecond(0)?
        .format(&Rfc3339)?)
}

fn status_file(path: &Path, job: &str, started: &str, finished: &str) -> Result<()> {
    std::fs::write(
        path,
        format!(
            r#"{{"job":"{job}","status":"success","started_at":"{started}","finished_at":"{finished}","message":"ok"}}"#
        ),
    )?;
    Ok(())
}

#[test]
fn future_backup_time_is_an_item_error_and_never_remembered() -> Result<()> {
    let collector = CollectorProcess::start(SLOW_REPORTS)?;
    let token = collector.create_token("servers", "1h", Some(1))?;
    let mut agent = Agent::new()?;
    let device_id = agent.enroll_ok(&collector, &token)?;

    let work = tempfile::tempdir()?;
    let now = OffsetDateTime::now_utc();
    let year_ahead = now + time::Duration::days(365);
    let nightly = work.path().join("nightly.json");
    status_file(
        &nightly,
        "nightly",
        &rfc3339(year_ahead - time::Duration::minutes(10))?,
        &rfc3339(year_ahead)?,
    )?;
    // A healthy job beside it, so backups.json is written and can be read.
    let yesterday = now - time::Duration::days(1);
    let weekly = work.path().join("weekly.json");
    status_file(
        &weekly,
        "weekly",
        &rfc3339(yesterday - time::Duration::minutes(10))?,
        &rfc3339(yesterday)?,
    )?;
    let config = work.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[checks.patches]
package_manager = "none"

[[checks.backups.jobs]]
name = "nightly"
kind = "status-file"
path = {nightly:?}

[[checks.backups.jobs]]
name = "weekly"
kind = "status-file"
path = {weekly:?}
"#,
            nightly = nightly.display().to_string(),
            weekly = weekly.display().to_string(),
        ),
    )?;
    agent.start_with(|command| {
        command.arg("--config").arg(&config);
    })?;

    let report = wait_for(
        "a report with the backup jobs",
        Duration::from_secs(30),
        || {
            let report = collector.latest_report(&device_id).ok()??;
            report
                .backups
                .as_ref()
                .is_some_and(|b| b.jobs.len() == 2)
                .then_some(report)
        },
    )?;
    agent.stop()?;

    // The whole report is stored: the bad value did not refuse the device.
    let disks = report.disks.as_ref().expect("disks in the stored report");
    assert!(!disks.filesystems.is_empty(), "{report:?}");
    let job = |name: &str| -> &pb::BackupJobStatus {
        report
            .backups
            .as_ref()
            .unwrap()
            .jobs
            .iter()
            .find(|job| job.name == name)
            .unwrap_or_else(|| panic!("job {name} in {report:?}"))
    };
    assert_eq!(job("nightly").last_success_unix_secs, None, "{report:?}");
    assert_eq!(
        job("weekly").last_success_unix_secs,
        Some(yesterday.unix_timestamp())
    );
    let error = report
        .errors
        .iter()
        .find(|e| {
            e.check == "backups"
                && e.item == "nightly"
                && e.message.contains("last_success_unix_secs")
        })
        .unwrap_or_else(|| panic!("no item error for the nightly job: {:?}", report.errors));
    assert!(error.message.contains("future"), "{}", error.message);
    assert!(
        !report.errors.iter().any(|e| e.item == "weekly"),
        "{:?}",
        report.errors
    );

    // The agent does not keep the future time it could not have sent as true.
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(agent.state_dir.path().join("backups.json"))?)?;
    assert_eq!(
        saved["jobs"]["weekly"]["last_success_unix_secs"],
        serde_json::json!(yesterday.unix_timestamp()),
        "{saved}"
    );
    let remembered = &saved["jobs"]["nightly"]["last_success_unix_secs"];
    assert!(
        remembered
            .as_i64()
            .is_none_or(|t| t <= now.unix_timestamp() + 3_600),
        "backups.json keeps {remembered} for nightly: {saved}"
    );
    Ok(())
}
