//! Time Machine's preferences (`com.apple.TimeMachine.plist`, binary or
//! XML). Properties: no panic; the newest snapshot is one of the
//! destinations'; a failed attempt is reported with words and its code.
#![no_main]

use forewarn_agent::checks::backups::fuzzing::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(prefs) = parse_preferences(data) else {
        return;
    };
    if let Some(newest) = prefs.newest_snapshot_unix() {
        assert!(
            prefs
                .destinations
                .iter()
                .any(|d| d.newest_snapshot_unix == Some(newest))
        );
    }
    if let Some(failed) = prefs.failed_attempt() {
        let message = failure_message(failed.code);
        assert!(message.contains(&failed.code.to_string()), "{message}");
    }
});
