//! Time Machine's `tmutil`: `destinationinfo -X` (plist XML), `status`,
//! `latestbackup` (stdout and stderr) and the zone offset, put together
//! into the job state with preferences parsed from the same input.
//! Properties: no panic; a valid status.
#![no_main]

use forewarn_agent::checks::backups::fuzzing::*;
use forewarn_agent::command::CommandOutput;
use forewarn_fuzz::{ToolRun, assert_backup_status};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let run = ToolRun::from_bytes(data);
    let body = data.get(1..).unwrap_or_default();
    let destinations = parse_destinations(body).unwrap_or_default();
    let session = parse_status(&run.stdout);
    let _ = parse_utc_offset(&run.stdout);
    let output = CommandOutput {
        exit_code: Some(run.exit_code),
        stdout: run.stdout.clone().into_bytes(),
        stderr: run.stderr.clone().into_bytes(),
    };
    let prefs = parse_preferences(body).unwrap_or_default();
    let latest = latest_or_probe_error(parse_latest_backup(&output), &prefs);
    if let (Ok(session), Ok(latest)) = (session, latest) {
        let latest_unix = match &latest {
            LatestBackup::Completed { local, .. } => Some(local.assume_utc().unix_timestamp()),
            LatestBackup::None => None,
        };
        let status = time_machine_state(&destinations, &session, &latest, latest_unix, &prefs);
        assert_backup_status(&status);
    }
});
