//! macOS I/O of the backup check: Time Machine through its preferences plist
//! and `tmutil`.
//!
//! Full Disk Access: `tmutil latestbackup` refuses to run without it
//! ("requires Full Disk Access privileges") and the preferences plist cannot
//! be read without it, so the agent's binary must be allowed under System
//! Settings > Privacy & Security > Full Disk Access, or through an MDM PPPC
//! profile (SystemPolicyAllFiles) on managed Macs. Without it the job reports
//! a probe error that says so.
//!
//! `tmutil latestbackup` names the backup by its local start time; `date -j`
//! gives the UTC offset in force at that moment, so a backup made before a
//! daylight-saving change gets its own offset, not today's.

use std::time::Duration;

use forewarn_proto::pb;

use super::command_error;
use super::config::BackupJobConfig;
use super::tm_preferences::{self, PreferencesFile};
use super::tmutil::{self, LatestBackup};
use crate::command::{CommandOutput, CommandRunner, CommandSpec};

const TMUTIL: &str = "/usr/bin/tmutil";

pub(super) async fn time_machine(
    config: &BackupJobConfig,
    runner: &dyn CommandRunner,
) -> Result<pb::BackupJobStatus, String> {
    let timeout = Duration::from_secs(config.timeout_secs);
    // A small local file, read before any tmutil run: missing means Time
    // Machine was never set up, and there is nothing to ask tmutil.
    let read = std::fs::read(tm_preferences::PREFERENCES_PATH);
    let prefs = match tm_preferences::preferences_file(read)? {
        PreferencesFile::NeverConfigured => return Ok(tmutil::never_configured_state()),
        PreferencesFile::Configured(prefs) => prefs,
    };
    let destinations = run(runner, TMUTIL, &["destinationinfo", "-X"], timeout).await?;
    if !destinations.success() {
        return Err(tmutil_failed("destinationinfo", &destinations));
    }
    let destinations =
        tmutil::parse_destinations(&destinations.stdout).map_err(|e| e.to_string())?;
    if destinations.is_empty() {
        return Ok(tmutil::time_machine_state(
            &destinations,
            &tmutil::SessionStatus::default(),
            &LatestBackup::None,
            None,
            &prefs,
        ));
    }
    let status = run(runner, TMUTIL, &["status"], timeout).await?;
    if !status.success() {
        return Err(tmutil_failed("status", &status));
    }
    let session = tmutil::parse_status(&status.stdout_text()).map_err(|e| e.to_string())?;
    let latest_output = run(runner, TMUTIL, &["latestbackup"], timeout).await?;
    let latest =
        tmutil::latest_or_probe_error(tmutil::parse_latest_backup(&latest_output), &prefs)?;
    let latest_unix = match &latest {
        LatestBackup::Completed { stamp, local } => {
            let args = ["-j", "-f", "%Y-%m-%d-%H%M%S", stamp.as_str(), "+%z"];
            let offset = run(runner, "/bin/date", &args, timeout).await?;
            let offset =
                tmutil::parse_utc_offset(&offset.stdout_text()).map_err(|e| e.to_string())?;
            Some(local.assume_offset(offset).unix_timestamp())
        }
        LatestBackup::None => None,
    };
    Ok(tmutil::time_machine_state(
        &destinations,
        &session,
        &latest,
        latest_unix,
        &prefs,
    ))
}

async fn run(
    runner: &dyn CommandRunner,
    program: &str,
    args: &[&str],
    timeout: Duration,
) -> Result<CommandOutput, String> {
    runner
        .run(&CommandSpec::new(program, args).timeout(timeout))
        .await
        .map_err(|err| command_error(&err))
}

fn tmutil_failed(verb: &str, output: &CommandOutput) -> String {
    let text = format!("{}\n{}", output.stderr_text(), output.stdout_text());
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no error output");
    if text.contains("Full Disk Access") {
        return tmutil::full_disk_access_error(first);
    }
    format!(
        "tmutil {verb} failed with exit code {:?}: {first}",
        output.exit_code
    )
}
