//! restic jobs: the newest snapshot of a repository, read with `restic snapshots --json`.
//!
//! restic before 0.17 (Debian 12 ships 0.14) stores no run summary in a
//! snapshot; then `restic stats --json <id>` gives the snapshot's size and
//! file count, and the snapshot time (the run's start) stands for its end.

use std::time::Duration;

use forewarn_proto::pb;
use tracing::debug;

use super::config::BackupJobConfig;
use super::{Credentials, command_error, parse, program};
use crate::command::{CommandRunner, CommandSpec};

/// `restic` with the job's snapshot filters and credentials.
pub(super) fn spec(
    config: &BackupJobConfig,
    credentials: &Credentials,
    args: &[&str],
    timeout: Duration,
) -> CommandSpec {
    let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    if let Some(host) = &config.host {
        args.extend(["--host".to_owned(), host.clone()]);
    }
    for tag in &config.tags {
        args.extend(["--tag".to_owned(), tag.clone()]);
    }
    unfiltered_spec(config, credentials, args, timeout)
}

/// `restic` with the job's credentials, for commands without snapshot filters.
pub(super) fn unfiltered_spec(
    config: &BackupJobConfig,
    credentials: &Credentials,
    args: Vec<String>,
    timeout: Duration,
) -> CommandSpec {
    credentials.apply(
        CommandSpec::new(program(config, "restic"), args)
            .timeout(timeout)
            .low_priority(),
    )
}

pub(super) async fn probe(
    config: &BackupJobConfig,
    credentials: &Credentials,
    runner: &dyn CommandRunner,
) -> Result<pb::BackupJobStatus, String> {
    let timeout = Duration::from_secs(config.timeout_secs);
    let output = runner
        .run(&spec(
            config,
            credentials,
            &["snapshots", "--json"],
            timeout,
        ))
        .await
        .map_err(|err| credentials.scrub(command_error(&err)))?;
    if !output.success() {
        return Err(credentials.scrub(parse::repository_error(
            "restic",
            output.exit_code,
            &output.stderr_text(),
        )));
    }
    let snapshots = parse::restic_snapshots(&output.stdout).map_err(|err| err.to_string())?;
    let Some(latest) = parse::latest_restic_snapshot(&snapshots).map_err(|err| err.to_string())?
    else {
        return Ok(pb::BackupJobStatus {
            result: pb::BackupResult::Unknown as i32,
            message: "no snapshot in the repository yet".to_owned(),
            snapshot_count: Some(0),
            ..Default::default()
        });
    };
    let stats = if latest.summary.is_none() {
        // Only the snapshot ID varies; host and tag filters do not apply to an ID.
        let stats_args = vec!["stats".to_owned(), "--json".to_owned(), latest.id.clone()];
        let stats_spec = unfiltered_spec(config, credentials, stats_args, timeout);
        match runner.run(&stats_spec).await {
            Ok(output) if output.success() => parse::restic_stats(&output.stdout).ok(),
            Ok(output) => {
                debug!(job = %config.name, exit_code = ?output.exit_code, "restic stats failed; bytes and files unknown");
                None
            }
            Err(err) => {
                debug!(job = %config.name, error = %err, "restic stats did not run; bytes and files unknown");
                None
            }
        }
    } else {
        None
    };
    parse::restic_job_state(latest, stats.as_ref(), snapshots.len()).map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use forewarn_proto::pb::BackupResult;

    use super::super::test_repos::{ResticRepo, collect_one, now};

    #[tokio::test]
    async fn real_backup_is_a_success_with_time_bytes_and_files() {
        let repo = ResticRepo::new();
        let before = now();
        repo.backup(&[]);
        let status = collect_one(repo.job("")).await;
        assert_eq!(status.probe_error, "");
        assert_eq!(status.result, BackupResult::Success as i32);
        assert_eq!(status.kind, "restic");
        assert_eq!(status.destination, repo.0.repo.display().to_string());
        let success = status.last_success_unix_secs.expect("last success");
        assert!(
            (before - 2..=now() + 2).contains(&success),
            "{success} not in [{before}, now]"
        );
        // report.txt (18000 bytes) + canary (64 KiB); restic 0.14 counts the directory as a file too.
        assert!(status.bytes.unwrap() >= 18_000 + 65_536, "{status:?}");
        assert!(status.files.unwrap() >= 2, "{status:?}");
        assert_eq!(status.snapshot_count, Some(1));
    }

    #[tokio::test]
    async fn empty_repository_never_succeeded() {
        let repo = ResticRepo::new();
        let status = collect_one(repo.job("")).await;
        assert_eq!(status.probe_error, "");
        assert_eq!(status.result, BackupResult::Unknown as i32);
        assert_eq!(status.last_success_unix_secs, None);
        assert_eq!(status.snapshot_count, Some(0));
    }

    #[tokio::test]
    async fn wrong_password_is_a_probe_error_not_a_failure() {
        let repo = ResticRepo::new();
        repo.backup(&[]);
        let wrong = repo.0.dir.path().join("wrong");
        std::fs::write(&wrong, "not the password\n").unwrap();
        let mut job = repo.job("");
        job.password_file = Some(wrong);
        let status = collect_one(job).await;
        assert!(
            status.probe_error.starts_with("authentication failed"),
            "{status:?}"
        );
        assert_eq!(status.result, BackupResult::Unknown as i32);
        assert_eq!(status.last_success_unix_secs, None);
    }

    #[tokio::test]
    async fn deleted_repository_is_a_probe_error() {
        let repo = ResticRepo::new();
        repo.backup(&[]);
        std::fs::remove_dir_all(&repo.0.repo).unwrap();
        let status = collect_one(repo.job("")).await;
        assert!(
            status.probe_error.starts_with("repository not found"),
            "{status:?}"
        );
    }

    #[tokio::test]
    async fn snapshot_from_three_days_ago_is_the_last_success() {
        let repo = ResticRepo::new();
        let three_days_ago = time::OffsetDateTime::now_utc() - time::Duration::days(3);
        let format =
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
        repo.backup(&["--time", &three_days_ago.format(&format).unwrap()]);
        let status = collect_one(repo.job("")).await;
        assert_eq!(
            status.last_success_unix_secs,
            Some(three_days_ago.unix_timestamp())
        );
    }

    #[tokio::test]
    async fn stale_lock_is_recognised() {
        let repo = ResticRepo::new();
        repo.backup(&[]);
        repo.leave_stale_lock();
        let status = collect_one(repo.job("")).await;
        assert!(
            status.probe_error.starts_with("repository is locked"),
            "{status:?}"
        );
    }

    #[tokio::test]
    async fn host_and_tag_filters_choose_the_snapshots() {
        let repo = ResticRepo::new();
        repo.backup(&["--host", "laptop", "--tag", "nightly"]);
        repo.backup(&["--host", "laptop", "--tag", "weekly"]);
        repo.backup(&["--host", "desktop", "--tag", "nightly"]);
        let status = collect_one(repo.job("host = \"laptop\"\ntags = [\"nightly\"]")).await;
        assert_eq!(status.snapshot_count, Some(1), "{status:?}");
        assert!(status.message.ends_with("of host laptop"), "{status:?}");
        let nobody = collect_one(repo.job("host = \"server\"")).await;
        assert_eq!(nobody.result, BackupResult::Unknown as i32);
        assert_eq!(nobody.snapshot_count, Some(0));
    }

    #[tokio::test]
    async fn missing_restic_is_a_probe_error() {
        let repo = ResticRepo::new();
        let status = collect_one(repo.job("program = \"/nonexistent/restic\"")).await;
        assert!(status.probe_error.starts_with("tool missing"), "{status:?}");
    }

    #[tokio::test]
    async fn hung_restic_is_killed_at_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("restic");
        std::fs::write(&script, "#!/bin/sh\nsleep 30\n").unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let repo = ResticRepo::new();
        let started = std::time::Instant::now();
        let status = collect_one(repo.job(&format!(
            "program = {:?}\ntimeout_secs = 1",
            script.display().to_string()
        )))
        .await;
        assert!(
            status.probe_error.contains("did not finish within 1 s"),
            "{status:?}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
}
