//! zypper: `--xmlout list-updates` / `list-patches` and `needs-rebooting`.
//! Properties: no panic; an exit code zypper documents as a failure is never
//! read as a list; every update has a name; merging duplicates is idempotent.
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
    if let Ok(pending) = zypper_updates(run.exit_code, &run.stdout, &run.stderr) {
        assert!(
            matches!(run.exit_code, 0 | 100 | 101),
            "exit {} read as a list",
            run.exit_code
        );
        for update in &pending {
            assert!(!update.name.is_empty(), "update without a name: {update:?}");
        }
        assert_dedupe(pending);
    }
    let reboot = zypper_needs_rebooting(run.exit_code, &run.stdout);
    assert_eq!(reboot.is_ok(), matches!(run.exit_code, 0 | 102));
});
