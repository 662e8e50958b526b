//! systemd jobs: a backup service's last result, exit status and times, and
//! its timer's last trigger, from `systemctl show --timestamp=unix` (systemd 251+).
//!
//! systemd keeps only the latest run; the check remembers the newest success
//! it saw while the agent runs.

use std::time::Duration;

use forewarn_proto::pb;

use super::config::BackupJobConfig;
use super::{command_error, parse};
use crate::command::{CommandRunner, CommandSpec};

pub(super) async fn probe(
    config: &BackupJobConfig,
    runner: &dyn CommandRunner,
) -> Result<pb::BackupJobStatus, String> {
    let unit = config.unit.as_deref().ok_or("no unit configured")?;
    let properties = format!(
        "{},{}",
        parse::SYSTEMD_SERVICE_PROPERTIES,
        parse::SYSTEMD_TIMER_PROPERTIES
    );
    let mut args = vec![
        "show".to_owned(),
        "--timestamp=unix".to_owned(),
        "-p".to_owned(),
        properties,
        "--".to_owned(),
        unit.to_owned(),
    ];
    args.extend(config.timer.clone());
    let spec =
        CommandSpec::new("systemctl", args).timeout(Duration::from_secs(config.timeout_secs));
    let output = runner.run(&spec).await.map_err(|err| command_error(&err))?;
    if !output.success() {
        return Err(format!(
            "systemctl show failed with exit code {:?}: {}",
            output.exit_code,
            output.stderr_text().lines().next().unwrap_or_default()
        ));
    }
    parse::systemd_job_state(&output.stdout_text(), unit, config.tool)
        .map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use forewarn_proto::pb::BackupResult;

    use super::super::test_repos::job;
    use super::super::{BackupCheck, BackupsConfig};
    use crate::command::scripted::ScriptedCommandRunner;

    const LINE: &[&str] = &[
        "systemctl",
        "show",
        "--timestamp=unix",
        "-p",
        "LoadState,ActiveState,SubState,Result,ExecMainStatus,ExecMainStartTimestamp,ExecMainExitTimestamp,LoadState,ActiveState,LastTriggerUSec",
        "--",
        "backup.service",
        "backup.timer",
    ];

    async fn collect(runner: ScriptedCommandRunner) -> forewarn_proto::pb::BackupJobStatus {
        collect_with(runner, "").await
    }

    async fn collect_with(
        runner: ScriptedCommandRunner,
        extra: &str,
    ) -> forewarn_proto::pb::BackupJobStatus {
        let config = BackupsConfig {
            jobs: vec![job(&format!(
                "name = \"sys\"\nkind = \"systemd\"\nunit = \"backup.service\"\ntimer = \"backup.timer\"\n{extra}"
            ))],
        };
        BackupCheck::with_runner(&config, Arc::new(runner))
            .collect()
            .await
            .jobs
            .remove(0)
    }

    #[tokio::test]
    async fn failed_service_is_reported_with_its_unit() {
        let runner = ScriptedCommandRunner::default();
        let fixture =
            include_str!("../../../tests/fixtures/backups/linux/systemctl-show-failed.txt");
        let body = fixture.split_once('\n').unwrap().1;
        runner.answer(LINE, 0, body, "");
        let status = collect(runner).await;
        assert_eq!(status.result, BackupResult::Failed as i32);
        assert_eq!(status.destination, "backup.service");
        assert_eq!(status.kind, "systemd");
    }

    /// The captured failed oneshot, as it reads when its program exited `code`.
    fn failed_with(code: i64) -> String {
        let fixture =
            include_str!("../../../tests/fixtures/backups/linux/systemctl-show-failed.txt");
        let body = fixture.split_once('\n').unwrap().1;
        body.replace("ExecMainStatus=2", &format!("ExecMainStatus={code}"))
    }

    #[tokio::test]
    async fn unit_running_restic_that_exited_3_is_a_warning_and_a_success_time() {
        let runner = ScriptedCommandRunner::default();
        runner.answer(LINE, 0, &failed_with(3), "");
        let status = collect_with(runner, "tool = \"restic\"\n").await;
        assert_eq!(status.result, BackupResult::Warning as i32, "{status:?}");
        assert!(
            status
                .message
                .starts_with("restic saved a snapshot, but some source files could not be read"),
            "{status:?}"
        );
        assert_eq!(status.last_success_unix_secs, Some(1_791_248_500));
    }

    #[tokio::test]
    async fn unit_exit_codes_mean_what_their_tool_says() {
        for (tool, code, expected) in [
            ("borg", 1, BackupResult::Warning),
            ("borg", 2, BackupResult::Failed),
            ("restic", 1, BackupResult::Failed),
        ] {
            let runner = ScriptedCommandRunner::default();
            runner.answer(LINE, 0, &failed_with(code), "");
            let status = collect_with(runner, &format!("tool = {tool:?}\n")).await;
            assert_eq!(status.result, expected as i32, "{tool} {code}: {status:?}");
        }
        // Without `tool`, any non-zero exit is a failure, as systemd says.
        let runner = ScriptedCommandRunner::default();
        runner.answer(LINE, 0, &failed_with(3), "");
        assert_eq!(collect(runner).await.result, BackupResult::Failed as i32);
    }

    #[tokio::test]
    async fn systemctl_without_a_bus_is_a_probe_error() {
        let runner = ScriptedCommandRunner::default();
        // What systemctl prints in a container without systemd as PID 1 (captured on this build machine).
        runner.answer(LINE, 1, "", "System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down\n");
        let status = collect(runner).await;
        assert!(
            status.probe_error.starts_with(
                "systemctl show failed with exit code Some(1): System has not been booted"
            ),
            "{status:?}"
        );
    }

    #[tokio::test]
    async fn missing_systemctl_is_a_probe_error() {
        let status = collect(ScriptedCommandRunner::default()).await;
        assert!(status.probe_error.starts_with("tool missing"), "{status:?}");
    }
}
