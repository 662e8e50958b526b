//! Windows I/O of the backup check: Windows Server Backup and Veeam Agent
//! for Windows, read from their event logs with `wevtutil` (through the
//! command runner, so the probe has the same timeout and low priority as
//! every other). The agent runs as LocalSystem, which may read both logs.

use std::time::Duration;

use forewarn_proto::pb;

use super::command_error;
use super::config::BackupJobConfig;
use super::event_log::{self, LogEvent};
use crate::command::{CommandRunner, CommandSpec};

const WEVTUTIL: &str = "wevtutil.exe";

pub(super) async fn windows_server_backup(
    config: &BackupJobConfig,
    runner: &dyn CommandRunner,
) -> Result<pb::BackupJobStatus, String> {
    let timeout = Duration::from_secs(config.timeout_secs);
    let outcomes: Vec<u32> = std::iter::once(event_log::SERVER_BACKUP_SUCCESS)
        .chain(event_log::SERVER_BACKUP_FAILURES.iter().copied())
        .collect();
    let latest = newest(
        runner,
        event_log::SERVER_BACKUP_LOG,
        "Windows Server Backup",
        &outcomes,
        1,
        timeout,
    )
    .await?;
    let last_success = match latest.first() {
        Some(event) if event.id == event_log::SERVER_BACKUP_SUCCESS => latest.clone(),
        Some(_) => {
            newest(
                runner,
                event_log::SERVER_BACKUP_LOG,
                "Windows Server Backup",
                &[event_log::SERVER_BACKUP_SUCCESS],
                1,
                timeout,
            )
            .await?
        }
        None => Vec::new(),
    };
    event_log::server_backup_state(latest.first(), last_success.first()).map_err(|e| e.to_string())
}

pub(super) async fn veeam(
    config: &BackupJobConfig,
    runner: &dyn CommandRunner,
) -> Result<pb::BackupJobStatus, String> {
    let timeout = Duration::from_secs(config.timeout_secs);
    let events = newest(
        runner,
        event_log::VEEAM_LOG,
        "Veeam Agent",
        &[event_log::VEEAM_JOB_FINISHED],
        event_log::VEEAM_EVENTS_READ,
        timeout,
    )
    .await?;
    Ok(event_log::veeam_windows_state(
        &events,
        config.veeam_job.as_deref(),
    ))
}

/// The `count` newest events of `log` with one of `ids`.
async fn newest(
    runner: &dyn CommandRunner,
    log: &str,
    product: &str,
    ids: &[u32],
    count: u32,
    timeout: Duration,
) -> Result<Vec<LogEvent>, String> {
    let spec = CommandSpec::new(WEVTUTIL, event_log::wevtutil_args(log, ids, count))
        .timeout(timeout)
        .low_priority();
    let output = runner.run(&spec).await.map_err(|err| command_error(&err))?;
    if !output.success() {
        return Err(event_log::wevtutil_error(log, product, &output));
    }
    event_log::parse_events(&output.stdout_text()).map_err(|e| e.to_string())
}
