//! restic: `snapshots --json`, `stats --json` (the same input is read as
//! both) and the error text of a failed run. Properties: no panic; the
//! latest snapshot is one of the list and none is newer; a job state is a
//! valid status counting every snapshot; removing credentials from a
//! repository address is idempotent.
#![no_main]

use forewarn_agent::checks::backups::fuzzing::*;
use forewarn_fuzz::{ToolRun, assert_backup_status, assert_duration_is_the_span};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let stats = restic_stats(data).ok();
    if let Ok(snapshots) = restic_snapshots(data)
        && let Ok(Some(latest)) = latest_restic_snapshot(&snapshots)
    {
        let newest = rfc3339_unix(&latest.time).expect("the latest snapshot has a time");
        for snapshot in &snapshots {
            assert!(rfc3339_unix(&snapshot.time).is_ok_and(|at| at <= newest));
        }
        if let Ok(status) = restic_job_state(latest, stats.as_ref(), snapshots.len()) {
            assert_backup_status(&status);
            assert_duration_is_the_span(&status);
            assert_eq!(status.snapshot_count, Some(snapshots.len() as u64));
        }
    }
    let run = ToolRun::from_bytes(data);
    assert!(!repository_error("restic", Some(run.exit_code), &run.stderr).is_empty());
    let destination = destination_without_credentials(&run.stdout);
    assert_eq!(destination_without_credentials(&destination), destination);
});
