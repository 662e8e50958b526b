//! Veeam Agent for Linux: `veeamconfig session list`. Properties: no
//! panic; every state is a valid status, for all jobs and for one.
#![no_main]

use forewarn_agent::checks::backups::fuzzing::*;
use forewarn_fuzz::assert_backup_status;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(sessions) = parse_session_list(&text) else {
        return;
    };
    assert_backup_status(&veeam_linux_state(&sessions, None));
    if let Some(session) = sessions.first() {
        assert_backup_status(&veeam_linux_state(&sessions, Some(&session.job)));
    }
});
