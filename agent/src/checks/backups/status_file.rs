//! Status-file and touch-file jobs: what a backup script leaves on disk.
//!
//! A status file holds the JSON contract of docs/backup-status-file.md and is
//! replaced atomically by the script (write to a temporary name, then rename).
//! A touch file is only touched after a success: its modification time is the
//! last success. A missing file means the job never ran: not a probe error.

use forewarn_proto::pb;
use time::OffsetDateTime;

use super::config::BackupJobConfig;
use super::parse;

/// Status files are small; anything larger is not one.
const MAX_STATUS_FILE_BYTES: u64 = 64 * 1024;

pub(super) async fn read_status_file(
    config: &BackupJobConfig,
) -> Result<pb::BackupJobStatus, String> {
    let path = config.path.as_deref().ok_or("no path configured")?;
    let metadata = match tokio::fs::metadata(path).await {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok(never_ran("no status file written yet"));
        }
        Err(err) => return Err(format!("cannot read status file {}: {err}", path.display())),
    };
    if metadata.len() > MAX_STATUS_FILE_BYTES {
        return Err(format!(
            "status file {} is {} bytes, more than the {MAX_STATUS_FILE_BYTES} a status file may have",
            path.display(),
            metadata.len()
        ));
    }
    let text = tokio::fs::read(path)
        .await
        .map_err(|err| format!("cannot read status file {}: {err}", path.display()))?;
    let (job, status) = parse::status_file_state(&text)
        .map_err(|err| format!("invalid status file {}: {err}", path.display()))?;
    if job != config.name {
        return Err(format!(
            "status file {} is for job {job:?}, not {:?}",
            path.display(),
            config.name
        ));
    }
    Ok(status)
}

pub(super) async fn read_touch_file(
    config: &BackupJobConfig,
) -> Result<pb::BackupJobStatus, String> {
    let path = config.path.as_deref().ok_or("no path configured")?;
    let modified = match tokio::fs::metadata(path).await {
        Ok(metadata) => metadata.modified().map_err(|err| {
            format!(
                "cannot read the modification time of {}: {err}",
                path.display()
            )
        })?,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok(never_ran("touch file does not exist yet"));
        }
        Err(err) => return Err(format!("cannot read touch file {}: {err}", path.display())),
    };
    let at = OffsetDateTime::from(modified).unix_timestamp();
    Ok(pb::BackupJobStatus {
        last_run_finished_unix_secs: Some(at),
        result: pb::BackupResult::Success as i32,
        last_success_unix_secs: Some(at),
        ..Default::default()
    })
}

fn never_ran(message: &str) -> pb::BackupJobStatus {
    pb::BackupJobStatus {
        result: pb::BackupResult::Unknown as i32,
        message: message.to_owned(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use forewarn_proto::pb::BackupResult;

    use super::super::test_repos::{BorgRepo, ResticRepo, collect_one, job};

    fn status_job(kind: &str, path: &std::path::Path) -> super::super::BackupJobConfig {
        job(&format!(
            "name = \"nightly\"\nkind = {kind:?}\npath = {:?}\n",
            path.display().to_string()
        ))
    }

    #[tokio::test]
    async fn failure_written_by_a_script_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        std::fs::write(&path, r#"{"job":"nightly","status":"failed","finished_at":"2026-11-23T01:05:00Z","message":"disk full"}"#).unwrap();
        let status = collect_one(status_job("status-file", &path)).await;
        assert_eq!(status.result, BackupResult::Failed as i32);
        assert_eq!(status.message, "disk full");
        assert_eq!(status.kind, "status-file");
        assert_eq!(status.probe_error, "");
        assert_eq!(status.last_success_unix_secs, None);
    }

    #[tokio::test]
    async fn missing_status_file_means_never_ran() {
        let dir = tempfile::tempdir().unwrap();
        let status = collect_one(status_job("status-file", &dir.path().join("status.json"))).await;
        assert_eq!(status.result, BackupResult::Unknown as i32);
        assert_eq!(status.probe_error, "");
        assert_eq!(status.last_success_unix_secs, None);
    }

    #[tokio::test]
    async fn truncated_status_file_is_a_probe_error_of_its_job() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        std::fs::write(&path, r#"{"job":"nightly","stat"#).unwrap();
        let status = collect_one(status_job("status-file", &path)).await;
        assert!(
            status.probe_error.starts_with("invalid status file"),
            "{status:?}"
        );
        assert_eq!(status.name, "nightly");
    }

    #[tokio::test]
    async fn status_file_of_another_job_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        std::fs::write(&path, r#"{"job":"weekly","status":"success"}"#).unwrap();
        let status = collect_one(status_job("status-file", &path)).await;
        assert!(
            status.probe_error.contains("is for job \"weekly\""),
            "{status:?}"
        );
    }

    #[tokio::test]
    async fn oversized_status_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        std::fs::write(&path, vec![b' '; 100_000]).unwrap();
        let status = collect_one(status_job("status-file", &path)).await;
        assert!(status.probe_error.contains("more than"), "{status:?}");
    }

    #[tokio::test]
    async fn touch_file_time_is_the_last_success() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("done");
        let file = std::fs::File::create(&path).unwrap();
        let two_days_ago =
            std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
        file.set_modified(two_days_ago).unwrap();
        let status = collect_one(status_job("touch-file", &path)).await;
        let expected = time::OffsetDateTime::from(two_days_ago).unix_timestamp();
        assert_eq!(status.last_success_unix_secs, Some(expected));
        assert_eq!(status.result, BackupResult::Success as i32);
        std::fs::remove_file(&path).unwrap();
        let never = collect_one(status_job("touch-file", &path)).await;
        assert_eq!(never.result, BackupResult::Unknown as i32);
        assert_eq!(never.last_success_unix_secs, None);
    }

    /// The wrapper docs/backup-status-file.md suggests: run the backup, then
    /// record the tool and its exit code, whatever it was.
    const WRAPPER: &str = r#"status="$1"; tool="$2"; shift 2
"$@"
rc=$?
tmp="$(mktemp "$status.XXXXXX")"
printf '{"job":"nightly","tool":"%s","exit_code":%d,"finished_at":"%s"}\n' \
    "$tool" "$rc" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$tmp"
mv -f "$tmp" "$status"
"#;

    /// Runs `backup` through the wrapper with one source file it cannot
    /// read (for root, by dropping the capabilities that bypass file modes).
    fn back_up_with_an_unreadable_file(
        repo: &super::super::test_repos::TestRepo,
        tool: &str,
        backup: &mut std::process::Command,
    ) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let locked = repo.data.join("locked.txt");
        std::fs::write(&locked, "payroll\n").unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        let status = repo.dir.path().join("nightly.status.json");
        let mut command = std::process::Command::new("sh");
        command
            .args(["-c", WRAPPER, "wrapper"])
            .arg(&status)
            .arg(tool);
        if std::fs::read(&locked).is_ok() {
            command.args(["setpriv", "--bounding-set=-dac_override,-dac_read_search"]);
        }
        command.arg(backup.get_program()).args(backup.get_args());
        for (key, value) in backup.get_envs() {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{output:?}");
        status
    }

    #[tokio::test]
    async fn restic_exit_3_for_an_unreadable_file_is_a_warning() {
        let repo = ResticRepo::new();
        let mut backup = repo.restic();
        backup.args(["backup", "--quiet"]).arg(&repo.0.data);
        let path = back_up_with_an_unreadable_file(&repo.0, "restic", &mut backup);
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(written.contains(r#""exit_code":3"#), "{written}");

        let status = collect_one(status_job("status-file", &path)).await;
        assert_eq!(status.probe_error, "");
        assert_eq!(status.result, BackupResult::Warning as i32, "{status:?}");
        assert_eq!(
            status.message,
            "restic saved a snapshot, but some source files could not be read (exit code 3)"
        );
        // A snapshot was saved: the run is the last success, with its warning.
        assert_eq!(
            status.last_success_unix_secs,
            status.last_run_finished_unix_secs
        );
        assert!(status.last_success_unix_secs.is_some());
    }

    #[tokio::test]
    async fn borg_exit_1_for_an_unreadable_file_is_a_warning() {
        let repo = BorgRepo::new();
        let mut backup = repo.borg();
        backup.args(["create", "::nightly"]).arg(&repo.0.data);
        let path = back_up_with_an_unreadable_file(&repo.0, "borg", &mut backup);
        let status = collect_one(status_job("status-file", &path)).await;
        assert_eq!(status.result, BackupResult::Warning as i32, "{status:?}");
        assert!(status.message.contains("exit code 1"), "{status:?}");
        assert!(status.last_success_unix_secs.is_some());
    }

    #[tokio::test]
    async fn failed_run_by_exit_code_and_exit_code_without_tool() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        std::fs::write(
            &path,
            r#"{"job":"nightly","tool":"restic","exit_code":12,"message":"nightly to NAS"}"#,
        )
        .unwrap();
        let status = collect_one(status_job("status-file", &path)).await;
        assert_eq!(status.result, BackupResult::Failed as i32);
        assert_eq!(
            status.message,
            "nightly to NAS; restic failed with exit code 12"
        );
        assert_eq!(status.last_success_unix_secs, None);
        std::fs::write(&path, r#"{"job":"nightly","exit_code":3}"#).unwrap();
        let status = collect_one(status_job("status-file", &path)).await;
        assert!(
            status.probe_error.contains("\"exit_code\" needs \"tool\""),
            "{status:?}"
        );
    }

    #[tokio::test]
    async fn last_success_survives_a_later_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        let config = super::super::BackupsConfig {
            jobs: vec![status_job("status-file", &path)],
        };
        let mut check = super::super::BackupCheck::with_runner(
            &config,
            std::sync::Arc::new(crate::command::SystemCommandRunner),
        );
        std::fs::write(
            &path,
            r#"{"job":"nightly","status":"success","finished_at":"2026-11-22T01:00:00Z"}"#,
        )
        .unwrap();
        let first = check.collect().await.jobs.remove(0);
        std::fs::write(
            &path,
            r#"{"job":"nightly","status":"failed","finished_at":"2026-11-23T01:00:00Z"}"#,
        )
        .unwrap();
        let second = check.collect().await.jobs.remove(0);
        assert_eq!(second.result, BackupResult::Failed as i32);
        assert_eq!(second.last_success_unix_secs, first.last_success_unix_secs);
        assert!(second.last_success_unix_secs.is_some());
    }
}
