//! The backup status file a script writes (docs/backup-status-file.md).
//! Properties: no panic; a valid status; a success or warning is its own
//! last success (never older than the run it reports); the message is
//! bounded to 1,000 characters whatever the file holds.
#![no_main]

use forewarn_agent::checks::backups::fuzzing::*;
use forewarn_fuzz::{assert_backup_status, assert_duration_is_the_span};
use forewarn_proto::pb;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((_job, status)) = status_file_state(data) else {
        return;
    };
    assert_backup_status(&status);
    assert_duration_is_the_span(&status);
    assert!(status.message.chars().count() <= 1000);
    let result = pb::BackupResult::try_from(status.result).expect("valid result");
    if matches!(
        result,
        pb::BackupResult::Success | pb::BackupResult::Warning
    ) {
        let run = status
            .last_run_finished_unix_secs
            .or(status.last_run_started_unix_secs);
        assert!(
            run.is_none_or(|run| status.last_success_unix_secs.is_some_and(|s| s >= run)),
            "a successful run is not its own last success: {status:?}"
        );
    }
});
