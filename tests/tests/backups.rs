//! Backup jobs end to end: a status file written by a script reaches the
//! collector through the file watch (not the 300 s report interval), a broken
//! status file is that job's error while the agent keeps running, and the
//! repository password appears in no report and no log line.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use forewarn_e2e::{Agent, CollectorProcess, wait_for};
use forewarn_proto::pb;
use prost::Message;

/// Long enough that only the file-watch trigger explains a fast update.
const SLOW_REPORTS: &str = "report_interval_secs = 300";
const PASSWORD: &str = "forewarn-e2e-pw-Kd93v";

/// Replaces `path` the way the documented contract asks: write aside, then rename.
fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let aside = path.with_extension("json.tmp");
    std::fs::write(&aside, text)?;
    std::fs::rename(&aside, path)?;
    Ok(())
}

fn job<'a>(report: &'a pb::StatusReport, name: &str) -> Option<&'a pb::BackupJobStatus> {
    report
        .backups
        .as_ref()?
        .jobs
        .iter()
        .find(|job| job.name == name)
}

fn restic(repo: &Path, password_file: &Path, args: &[&str]) -> Result<()> {
    let output = Command::new("restic")
        .env("RESTIC_REPOSITORY", repo)
        .env("RESTIC_PASSWORD_FILE", password_file)
        .args(args)
        .output()?;
    ensure!(
        output.status.success(),
        "restic {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

#[test]
fn status_file_failure_reaches_the_collector_within_five_seconds() -> Result<()> {
    let collector = CollectorProcess::start(SLOW_REPORTS)?;
    let token = collector.create_token("servers", "1h", Some(1))?;
    let mut agent = Agent::new()?;
    let device_id = agent.enroll_ok(&collector, &token)?;

    let work = tempfile::tempdir()?;
    let status_dir = work.path().join("status");
    std::fs::create_dir(&status_dir)?;
    let status_file = status_dir.join("nightly.json");
    write_atomically(
        &status_file,
        r#"{"job":"nightly","status":"success","started_at":"2026-11-22T01:00:00Z","finished_at":"2026-11-22T01:10:00Z","message":"ok","bytes":1024}"#,
    )?;
    // A real restic repository with a known password, so logs and reports can be searched for it.
    let password_file = work.path().join("restic-password");
    std::fs::write(&password_file, format!("{PASSWORD}\n"))?;
    let repo = work.path().join("restic-repo");
    let data = work.path().join("data");
    std::fs::create_dir(&data)?;
    std::fs::write(data.join("file.txt"), "payload\n")?;
    restic(&repo, &password_file, &["init", "--quiet"])?;
    restic(
        &repo,
        &password_file,
        &["backup", "--quiet", &data.display().to_string()],
    )?;

    let config = work.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            r#"
# No patch probe: this test times the status-file path, not this host's apt.
[checks.patches]
package_manager = "none"

[[checks.backups.jobs]]
name = "nightly"
kind = "status-file"
path = {status:?}

[[checks.backups.jobs]]
name = "offsite"
kind = "restic"
repository = {repo:?}
password_file = {password:?}
"#,
            status = status_file.display().to_string(),
            repo = repo.display().to_string(),
            password = password_file.display().to_string(),
        ),
    )?;
    let log = work.path().join("agent.log");
    let log_file = std::fs::File::create(&log)?;
    agent.start_with(|command| {
        command
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "trace")
            .stderr(Stdio::from(log_file));
    })?;

    let first = wait_for(
        "first report with both jobs",
        Duration::from_secs(30),
        || {
            let report = collector.latest_report(&device_id).ok()??;
            (job(&report, "nightly").is_some() && job(&report, "offsite").is_some())
                .then_some(report)
        },
    )?;
    let nightly = job(&first, "nightly").unwrap();
    assert_eq!(nightly.result, pb::BackupResult::Success as i32);
    assert_eq!(nightly.bytes, Some(1024));
    let offsite = job(&first, "offsite").unwrap();
    assert_eq!(offsite.probe_error, "");
    assert_eq!(offsite.result, pb::BackupResult::Success as i32);

    // The script reports a failure: it must arrive long before the 300 s interval.
    let written = Instant::now();
    write_atomically(
        &status_file,
        r#"{"job":"nightly","status":"failed","started_at":"2026-11-23T01:00:00Z","finished_at":"2026-11-23T01:02:00Z","message":"destination full"}"#,
    )?;
    let failed = wait_for("failure in a report", Duration::from_secs(10), || {
        let report = collector.latest_report(&device_id).ok()??;
        let nightly = job(&report, "nightly")?;
        (nightly.result == pb::BackupResult::Failed as i32).then(|| nightly.clone())
    })?;
    let elapsed = written.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "failure took {elapsed:?} to reach the collector"
    );
    assert_eq!(failed.message, "destination full");
    // The success seen before is kept.
    assert_eq!(failed.last_success_unix_secs, Some(1_795_309_800));

    // A script dies mid-write: that job reports an error, the agent keeps going.
    std::fs::write(&status_file, r#"{"job":"nightly","sta"#)?;
    let broken = wait_for("probe error in a report", Duration::from_secs(10), || {
        let report = collector.latest_report(&device_id).ok()??;
        let nightly = job(&report, "nightly")?;
        (!nightly.probe_error.is_empty()).then(|| report.clone())
    })?;
    assert!(
        job(&broken, "nightly")
            .unwrap()
            .probe_error
            .starts_with("invalid status file")
    );
    assert_eq!(
        job(&broken, "offsite").unwrap().result,
        pb::BackupResult::Success as i32
    );
    assert!(
        agent.is_running()?,
        "agent stopped after a broken status file"
    );
    write_atomically(
        &status_file,
        r#"{"job":"nightly","status":"success","finished_at":"2026-11-23T02:00:00Z"}"#,
    )?;
    wait_for("recovery in a report", Duration::from_secs(10), || {
        let report = collector.latest_report(&device_id).ok()??;
        (job(&report, "nightly")?.result == pb::BackupResult::Success as i32).then_some(())
    })?;
    agent.stop()?;

    // The password is in no stored report (wire bytes and JSON) and no log line.
    for report in [&first, &broken] {
        let bytes = report.encode_to_vec();
        assert!(
            !bytes
                .windows(PASSWORD.len())
                .any(|w| w == PASSWORD.as_bytes()),
            "password in a report"
        );
        assert!(
            !serde_json::to_string(report)?.contains(PASSWORD),
            "password in a report as JSON"
        );
    }
    let log_text = std::fs::read_to_string(&log)?;
    ensure!(
        log_text.contains("backup job probed"),
        "the trace log was not captured: {log_text}"
    );
    assert!(!log_text.contains(PASSWORD), "password in the agent's log");
    Ok(())
}
