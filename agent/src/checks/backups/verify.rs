//! Restore verification: restore the canary file from the newest snapshot or
//! archive and compare its SHA-256 with the configured one.
//!
//! restic restores into a fresh temporary directory (`restic restore latest
//! --include`); borg streams the file (`borg extract --stdout`), which needs no
//! working directory. Either way the repository's data is read and decrypted,
//! so a damaged pack or segment file fails here.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::config::{BackupJobConfig, JobKind, RestoreVerificationConfig};
use super::{Credentials, borg, command_error, parse, restic};
use crate::command::CommandRunner;

pub(super) async fn verify(
    config: &BackupJobConfig,
    verify: &RestoreVerificationConfig,
    credentials: &Credentials,
    runner: &dyn CommandRunner,
) -> Result<(), String> {
    let timeout = Duration::from_secs(verify.timeout_secs);
    let content = match config.kind {
        JobKind::Restic => restore_restic(config, verify, credentials, runner, timeout).await?,
        JobKind::Borg => extract_borg(config, verify, credentials, runner, timeout).await?,
        _ => {
            return Err("restore verification needs a restic or borg job".to_owned());
        }
    };
    let actual = hex::encode(Sha256::digest(&content));
    if !actual.eq_ignore_ascii_case(&verify.expected_sha256) {
        return Err(format!(
            "restored canary {} has SHA-256 {actual}, expected {}",
            verify.canary_path, verify.expected_sha256
        ));
    }
    if let Some(subset) = &verify.read_data_subset {
        let args = vec!["check".to_owned(), format!("--read-data-subset={subset}")];
        let spec = restic::unfiltered_spec(config, credentials, args, timeout);
        let output = runner
            .run(&spec)
            .await
            .map_err(|err| credentials.scrub(command_error(&err)))?;
        if !output.success() {
            let detail = parse::repository_error("restic", output.exit_code, &output.stderr_text());
            return Err(credentials.scrub(format!("restic check found problems: {detail}")));
        }
    }
    Ok(())
}

async fn restore_restic(
    config: &BackupJobConfig,
    verify: &RestoreVerificationConfig,
    credentials: &Credentials,
    runner: &dyn CommandRunner,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let target =
        tempfile::tempdir().map_err(|err| format!("cannot create a restore directory: {err}"))?;
    let target_arg = target.path().display().to_string();
    let spec = restic::spec(
        config,
        credentials,
        &[
            "restore",
            "latest",
            "--target",
            target_arg.as_str(),
            "--include",
            verify.canary_path.as_str(),
        ],
        timeout,
    );
    let output = runner
        .run(&spec)
        .await
        .map_err(|err| credentials.scrub(command_error(&err)))?;
    if !output.success() {
        let detail = parse::repository_error("restic", output.exit_code, &output.stderr_text());
        return Err(credentials.scrub(format!(
            "restore of {} failed: {detail}",
            verify.canary_path
        )));
    }
    let restored = target
        .path()
        .join(verify.canary_path.trim_start_matches(['/', '\\']));
    tokio::fs::read(&restored)
        .await
        .map_err(|err| format!("canary {} was not restored: {err}", verify.canary_path))
}

async fn extract_borg(
    config: &BackupJobConfig,
    verify: &RestoreVerificationConfig,
    credentials: &Credentials,
    runner: &dyn CommandRunner,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let (newest, _) = borg::latest_archive(config, credentials, runner, timeout).await?;
    let name = newest.ok_or("no archive to restore from")?;
    // borg stores paths without the leading slash.
    let path = verify.canary_path.trim_start_matches('/').to_owned();
    let args = vec![
        "extract".to_owned(),
        "--stdout".to_owned(),
        format!("::{name}"),
        path,
    ];
    let content = borg::run(config, credentials, runner, args, timeout)
        .await
        .map_err(|err| format!("restore of {} failed: {err}", verify.canary_path))?;
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::super::test_repos::{BorgRepo, ResticRepo, canary_sha256, collect_one};

    fn verification(canary: &str, sha256: &str, extra: &str) -> String {
        format!(
            "[checks.backups.jobs.restore_verification]\ncanary_path = {canary:?}\nexpected_sha256 = {sha256:?}\n{extra}"
        )
    }

    #[tokio::test]
    async fn restic_canary_restores_on_a_good_repository() {
        let repo = ResticRepo::new();
        repo.backup(&[]);
        let job = repo.job(&verification(
            &repo.0.canary_path(),
            &canary_sha256(),
            "read_data_subset = \"100%\"",
        ));
        let status = collect_one(job).await;
        assert_eq!(status.restore_verification_error, "");
        assert!(status.restore_verified_unix_secs.is_some(), "{status:?}");
    }

    #[tokio::test]
    async fn restic_corrupted_pack_fails_verification_and_names_the_job() {
        let repo = ResticRepo::new();
        repo.backup(&[]);
        repo.0.corrupt("data");
        let job = repo.job(&verification(&repo.0.canary_path(), &canary_sha256(), ""));
        let status = collect_one(job).await;
        assert!(
            status
                .restore_verification_error
                .starts_with("job \"restic-job\": "),
            "{status:?}"
        );
        assert_eq!(status.restore_verified_unix_secs, None);
    }

    #[tokio::test]
    async fn changed_canary_fails_verification() {
        let repo = ResticRepo::new();
        repo.backup(&[]);
        let job = repo.job(&verification(&repo.0.canary_path(), &"0".repeat(64), ""));
        let status = collect_one(job).await;
        assert!(
            status.restore_verification_error.contains("expected 0000"),
            "{status:?}"
        );
    }

    #[tokio::test]
    async fn borg_canary_restores_on_a_good_repository() {
        let repo = BorgRepo::new();
        repo.create("first", &[]);
        let job = repo.job(&verification(&repo.0.canary_path(), &canary_sha256(), ""));
        let status = collect_one(job).await;
        assert_eq!(status.restore_verification_error, "");
        assert!(status.restore_verified_unix_secs.is_some(), "{status:?}");
    }

    #[tokio::test]
    async fn borg_corrupted_segment_fails_verification_and_names_the_job() {
        let repo = BorgRepo::new();
        repo.create("first", &[]);
        repo.0.corrupt("data");
        let job = repo.job(&verification(&repo.0.canary_path(), &canary_sha256(), ""));
        let status = collect_one(job).await;
        assert!(
            status
                .restore_verification_error
                .starts_with("job \"borg-job\": "),
            "{status:?}"
        );
        assert_eq!(status.restore_verified_unix_secs, None);
    }
}
