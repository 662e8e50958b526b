//! Windows event log XML (`wevtutil qe /f:xml`) read as Windows Server
//! Backup and Veeam events. Properties: no panic; every state is a valid
//! status; Veeam's state for a job only ever comes from that job's runs.
#![no_main]

use forewarn_agent::checks::backups::fuzzing::*;
use forewarn_fuzz::assert_backup_status;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(events) = parse_events(&text) else {
        return;
    };
    if let Ok(status) = server_backup_state(events.first(), events.last()) {
        assert_backup_status(&status);
    }
    let runs: Vec<VeeamRun> = events.iter().map(veeam_run).collect();
    assert_backup_status(&veeam_windows_state(&events, None));
    if let Some(run) = runs.first() {
        assert_backup_status(&veeam_windows_state(&events, Some(&run.job)));
    }
});
