//! Linux I/O of the backup check: Veeam Agent for Linux through
//! `veeamconfig session list`, run with TZ=UTC so its times are UTC.

use std::time::Duration;

use forewarn_proto::pb;

use super::config::BackupJobConfig;
use super::{command_error, program, veeamconfig};
use crate::command::{CommandRunner, CommandSpec};

pub(super) async fn veeam(
    config: &BackupJobConfig,
    runner: &dyn CommandRunner,
) -> Result<pb::BackupJobStatus, String> {
    let spec = CommandSpec::new(program(config, "veeamconfig"), ["session", "list"])
        .env("TZ", "UTC")
        .timeout(Duration::from_secs(config.timeout_secs))
        .low_priority();
    let output = runner.run(&spec).await.map_err(|err| command_error(&err))?;
    if !output.success() {
        let stderr = output.stderr_text();
        let first = stderr.lines().map(str::trim).find(|l| !l.is_empty());
        return Err(format!(
            "veeamconfig failed with exit code {:?}: {}",
            output.exit_code,
            first.unwrap_or("no error output")
        ));
    }
    let sessions =
        veeamconfig::parse_session_list(&output.stdout_text()).map_err(|e| e.to_string())?;
    Ok(veeamconfig::veeam_linux_state(
        &sessions,
        config.veeam_job.as_deref(),
    ))
}

#[cfg(test)]
mod tests {
    use forewarn_proto::pb::BackupResult;

    use super::super::test_repos::job;
    use super::super::{BackupCheck, BackupsConfig};
    use crate::command::scripted::ScriptedCommandRunner;

    const LINE: &[&str] = &["veeamconfig", "session", "list"];

    async fn collect(
        runner: ScriptedCommandRunner,
        extra: &str,
    ) -> forewarn_proto::pb::BackupJobStatus {
        let config = BackupsConfig {
            jobs: vec![job(&format!("name = \"veeam\"\nkind = \"veeam\"\n{extra}"))],
        };
        BackupCheck::with_runner(&config, std::sync::Arc::new(runner))
            .collect()
            .await
            .jobs
            .remove(0)
    }

    #[tokio::test]
    async fn documented_session_list_is_reported_for_the_configured_job() {
        let runner = ScriptedCommandRunner::default();
        let fixture =
            include_str!("../../../tests/fixtures/backups/linux/veeamconfig-session-list.txt");
        runner.answer(LINE, 0, fixture.split_once('\n').unwrap().1, "");
        let status = collect(runner, "veeam_job = \"etc-files\"").await;
        assert_eq!(status.result, BackupResult::Success as i32);
        assert_eq!(status.kind, "veeam");
        assert_eq!(status.destination, "etc-files");
        assert_eq!(status.probe_error, "");
    }

    #[tokio::test]
    async fn missing_veeamconfig_is_a_probe_error() {
        let status = collect(ScriptedCommandRunner::default(), "").await;
        assert!(status.probe_error.starts_with("tool missing"), "{status:?}");
    }

    #[tokio::test]
    async fn veeamconfig_error_is_a_probe_error() {
        let runner = ScriptedCommandRunner::default();
        runner.answer(
            LINE,
            1,
            "",
            "Error: Failed to connect to veeamservice daemon.\n",
        );
        let status = collect(runner, "").await;
        assert_eq!(
            status.probe_error,
            "veeamconfig failed with exit code Some(1): Error: Failed to connect to veeamservice daemon."
        );
        assert_eq!(status.result, BackupResult::Unknown as i32);
    }

    #[tokio::test]
    async fn hanging_veeamconfig_is_killed_at_the_job_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("veeamconfig");
        std::fs::write(&script, "#!/bin/sh\nexec sleep 30\n").unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let config = BackupsConfig {
            jobs: vec![job(&format!(
                "name = \"veeam\"\nkind = \"veeam\"\nprogram = {:?}\ntimeout_secs = 1\n",
                script.display().to_string()
            ))],
        };
        let started = std::time::Instant::now();
        let status = BackupCheck::with_runner(
            &config,
            std::sync::Arc::new(crate::command::SystemCommandRunner),
        )
        .collect()
        .await
        .jobs
        .remove(0);
        assert!(
            status
                .probe_error
                .ends_with("did not finish within 1 s and was killed"),
            "{status:?}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }
}
