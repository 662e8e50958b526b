//! borg: `info --json` / `list --json` archives and the error text of a
//! failed run. Properties: no panic; a job state is a valid status counting
//! every archive, with a duration only when borg's is a real number.
#![no_main]

use forewarn_agent::checks::backups::fuzzing::*;
use forewarn_fuzz::{ToolRun, assert_backup_status};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(archives) = borg_archives(data) {
        for archive in &archives {
            if let Ok(status) = borg_job_state(archive, archives.len()) {
                assert_backup_status(&status);
                assert_eq!(status.snapshot_count, Some(archives.len() as u64));
                assert_eq!(
                    status.duration_secs.is_some(),
                    archive.duration.is_some_and(|d| d.is_finite() && d >= 0.0)
                );
            }
        }
    }
    let run = ToolRun::from_bytes(data);
    assert!(!repository_error("borg", Some(run.exit_code), &run.stderr).is_empty());
    let _ = borg_time_unix(&run.stdout);
});
