//! A systemd-unit backup job: `systemctl show --timestamp=unix` of the
//! service and its timer. Properties: no panic; a valid status; a success
//! time only for a successful run and only its finish time.
#![no_main]

use forewarn_agent::checks::backups::fuzzing::*;
use forewarn_fuzz::{assert_backup_status, assert_duration_is_the_span};
use forewarn_proto::pb;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(status) = systemd_job_state(&text, "backup.service") else {
        return;
    };
    assert_backup_status(&status);
    assert_duration_is_the_span(&status);
    if status.last_success_unix_secs.is_some() {
        assert_eq!(status.result, pb::BackupResult::Success as i32);
        assert_eq!(
            status.last_success_unix_secs,
            status.last_run_finished_unix_secs
        );
    }
});
