//! macOS: `softwareupdate --list` and the SoftwareUpdate preferences plist
//! (binary or XML; the input after the exit-code byte is also read as a
//! plist). Properties: no panic; a failed run is never read as a list; every
//! update names its label; merging duplicates is idempotent.
#![no_main]

use forewarn_agent::checks::patches::fuzzing::*;
use forewarn_fuzz::ToolRun;
use forewarn_proto::pb;
use libfuzzer_sys::fuzz_target;

/// Merging duplicates never adds entries and merging twice changes nothing.
fn assert_dedupe(pending: Vec<pb::PendingUpdate>) {
    let count = pending.len();
    let merged = dedupe_updates(pending);
    assert!(merged.len() <= count);
    assert_eq!(
        dedupe_updates(merged.clone()),
        merged,
        "dedupe is not idempotent"
    );
}

fuzz_target!(|data: &[u8]| {
    let run = ToolRun::from_bytes(data);
    if let Ok(pending) = softwareupdate_list(run.exit_code, &run.stdout, &run.stderr) {
        assert_eq!(run.exit_code, 0, "a failed run read as a list");
        for update in &pending {
            assert_eq!(update.advisories.len(), 1, "{update:?}");
        }
        assert_dedupe(pending);
    }
    if let Ok(preferences) = softwareupdate_preferences(data.get(1..).unwrap_or_default()) {
        assert_dedupe(preferences.recommended);
    }
});
