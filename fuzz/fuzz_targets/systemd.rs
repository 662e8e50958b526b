//! A systemd-unit backup job: `systemctl show --timestamp=unix` of the
//! service and its timer, read as a unit of no known tool or of restic, borg
//! or rsync (the first byte chooses). Properties: no panic; a valid status;
//! a success time only for a run that saved a backup and only its finish time.
#![no_main]

use forewarn_agent::checks::backups::fuzzing::*;
use forewarn_fuzz::{assert_backup_status, assert_duration_is_the_span};
use forewarn_proto::pb;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let tool = match choice % 4 {
        0 => None,
        1 => Some(Tool::Restic),
        2 => Some(Tool::Borg),
        _ => Some(Tool::Rsync),
    };
    let text = String::from_utf8_lossy(rest);
    let Ok(status) = systemd_job_state(&text, "backup.service", tool) else {
        return;
    };
    assert_backup_status(&status);
    assert_duration_is_the_span(&status);
    if status.last_success_unix_secs.is_some() {
        // A warning is a run that saved its backup (restic 3, borg 1, rsync
        // 24), and only a known tool's exit status can mean one.
        let saved = status.result == pb::BackupResult::Success as i32
            || (tool.is_some() && status.result == pb::BackupResult::Warning as i32);
        assert!(saved, "success time on a run with result {}", status.result);
        assert_eq!(
            status.last_success_unix_secs,
            status.last_run_finished_unix_secs
        );
    }
});
