//! borg jobs: the newest archive of a repository, with `borg list --json`
//! (archive count and the newest name) and `borg info --json` (its times and size).
//!
//! borg prints local times without an offset, so it runs with `TZ=UTC`. It
//! never prompts: stdin is closed and unknown or relocated repositories are refused.

use std::time::Duration;

use forewarn_proto::pb;

use super::config::BackupJobConfig;
use super::{Credentials, command_error, parse, program};
use crate::command::{CommandRunner, CommandSpec};

/// `borg` with the job's credentials and non-interactive settings.
pub(super) fn spec(
    config: &BackupJobConfig,
    credentials: &Credentials,
    args: Vec<String>,
    timeout: Duration,
) -> CommandSpec {
    let spec = CommandSpec::new(program(config, "borg"), args)
        .timeout(timeout)
        .low_priority()
        .env("TZ", "UTC")
        .env("BORG_RELOCATED_REPO_ACCESS_IS_OK", "no")
        .env("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "no");
    credentials.apply(spec)
}

/// Arguments that limit a listing to the job's archives.
fn archive_filter(config: &BackupJobConfig) -> Vec<String> {
    config
        .archive_prefix
        .as_ref()
        .map(|prefix| vec!["--glob-archives".to_owned(), format!("{prefix}*")])
        .unwrap_or_default()
}

/// Runs borg; a failure becomes the probe error.
pub(super) async fn run(
    config: &BackupJobConfig,
    credentials: &Credentials,
    runner: &dyn CommandRunner,
    args: Vec<String>,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let output = runner
        .run(&spec(config, credentials, args, timeout))
        .await
        .map_err(|err| credentials.scrub(command_error(&err)))?;
    if output.success() {
        Ok(output.stdout)
    } else {
        Err(credentials.scrub(parse::repository_error(
            "borg",
            output.exit_code,
            &output.stderr_text(),
        )))
    }
}

/// The name of the newest archive of the job and how many it has.
pub(super) async fn latest_archive(
    config: &BackupJobConfig,
    credentials: &Credentials,
    runner: &dyn CommandRunner,
    timeout: Duration,
) -> Result<(Option<String>, usize), String> {
    let mut args = vec!["list".to_owned(), "--json".to_owned()];
    args.extend(archive_filter(config));
    let listing = run(config, credentials, runner, args, timeout).await?;
    let archives = parse::borg_archives(&listing).map_err(|err| err.to_string())?;
    // borg lists archives oldest first.
    let mut newest: Option<(i64, &str)> = None;
    for archive in &archives {
        let time = archive
            .time
            .as_deref()
            .or(archive.start.as_deref())
            .unwrap_or_default();
        let at = parse::borg_time_unix(time).map_err(|err| err.to_string())?;
        if newest.is_none_or(|(best, _)| at >= best) {
            newest = Some((at, archive.name.as_str()));
        }
    }
    Ok((newest.map(|(_, name)| name.to_owned()), archives.len()))
}

pub(super) async fn probe(
    config: &BackupJobConfig,
    credentials: &Credentials,
    runner: &dyn CommandRunner,
) -> Result<pb::BackupJobStatus, String> {
    let timeout = Duration::from_secs(config.timeout_secs);
    let (newest, count) = latest_archive(config, credentials, runner, timeout).await?;
    let Some(name) = newest else {
        return Ok(pb::BackupJobStatus {
            result: pb::BackupResult::Unknown as i32,
            message: "no archive in the repository yet".to_owned(),
            snapshot_count: Some(0),
            ..Default::default()
        });
    };
    let info = run(
        config,
        credentials,
        runner,
        vec!["info".to_owned(), "--json".to_owned(), format!("::{name}")],
        timeout,
    )
    .await?;
    let archives = parse::borg_archives(&info).map_err(|err| err.to_string())?;
    let archive = archives
        .first()
        .ok_or_else(|| format!("borg info listed no archive {name:?}"))?;
    parse::borg_job_state(archive, count).map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use forewarn_proto::pb::BackupResult;

    use super::super::test_repos::{BorgRepo, PASSWORD, collect_one, now};

    #[tokio::test]
    async fn real_archive_is_a_success_with_time_bytes_and_files() {
        let repo = BorgRepo::new();
        let before = now();
        repo.create("first", &[]);
        repo.create("second", &[]);
        let status = collect_one(repo.job("")).await;
        assert_eq!(status.probe_error, "");
        assert_eq!(status.result, BackupResult::Success as i32);
        let success = status.last_success_unix_secs.expect("last success");
        assert!(
            (before - 2..=now() + 2).contains(&success),
            "{success} not in [{before}, now]"
        );
        assert_eq!(
            status.bytes,
            Some(18_000 + super::super::test_repos::canary().len() as u64)
        );
        assert_eq!(status.files, Some(2));
        assert_eq!(status.snapshot_count, Some(2));
        assert_eq!(status.message, "archive second");
    }

    #[tokio::test]
    async fn empty_repository_never_succeeded() {
        let repo = BorgRepo::new();
        let status = collect_one(repo.job("")).await;
        assert_eq!(status.probe_error, "");
        assert_eq!(status.result, BackupResult::Unknown as i32);
        assert_eq!(status.last_success_unix_secs, None);
    }

    #[tokio::test]
    async fn wrong_passphrase_is_a_probe_error() {
        let repo = BorgRepo::new();
        repo.create("first", &[]);
        let mut job = repo.job("");
        job.password_file = None;
        job.password_command = Some(super::super::Secret::new("echo not-the-passphrase"));
        let status = collect_one(job).await;
        assert!(
            status.probe_error.starts_with("authentication failed"),
            "{status:?}"
        );
        assert!(!status.probe_error.contains(PASSWORD));
    }

    #[tokio::test]
    async fn deleted_repository_is_a_probe_error() {
        let repo = BorgRepo::new();
        repo.create("first", &[]);
        std::fs::remove_dir_all(&repo.0.repo).unwrap();
        let status = collect_one(repo.job("")).await;
        assert!(
            status.probe_error.starts_with("repository not found"),
            "{status:?}"
        );
    }

    #[tokio::test]
    async fn archive_from_three_days_ago_is_the_last_success() {
        let repo = BorgRepo::new();
        let three_days_ago = time::OffsetDateTime::now_utc() - time::Duration::days(3);
        let format =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
        repo.create(
            "old",
            &["--timestamp", &three_days_ago.format(&format).unwrap()],
        );
        let status = collect_one(repo.job("")).await;
        assert_eq!(
            status.last_success_unix_secs,
            Some(three_days_ago.unix_timestamp()),
            "{status:?}"
        );
    }

    #[tokio::test]
    async fn locked_repository_is_a_probe_error() {
        let repo = BorgRepo::new();
        repo.create("first", &[]);
        let mut holder = repo
            .borg()
            // Killed after the probe: a short sleep can end before a loaded machine gets to it.
            .args(["with-lock", "::", "sleep", "60"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let lock = repo.0.repo.join("lock.exclusive");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !lock.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let status = collect_one(repo.job("")).await;
        holder.kill().unwrap();
        holder.wait().unwrap();
        assert!(
            status.probe_error.starts_with("repository is locked"),
            "{status:?}"
        );
    }

    #[tokio::test]
    async fn stale_lock_of_a_dead_process_is_broken_by_borg() {
        let repo = BorgRepo::new();
        repo.create("first", &[]);
        let mut holder = repo
            .borg()
            .args(["with-lock", "::", "sleep", "60"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let lock = repo.0.repo.join("lock.exclusive");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !lock.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // SIGKILL leaves the lock behind; borg removes locks of dead processes on this host.
        holder.kill().unwrap();
        holder.wait().unwrap();
        assert!(lock.exists(), "the killed holder left its lock");
        let status = collect_one(repo.job("")).await;
        assert_eq!(status.probe_error, "");
        assert_eq!(status.result, BackupResult::Success as i32);
    }
}
