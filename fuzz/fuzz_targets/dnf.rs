//! dnf/yum: `check-update` (exit 100 = updates), `updateinfo list --security`,
//! `rpm -q` installed versions and `needs-restarting -r`. Properties: no
//! panic; every update has a name; applying advisories and installed
//! versions never adds or drops updates; merging duplicates is idempotent.
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
    let advisories = dnf_security_advisories(&run.stdout).unwrap_or_default();
    let installed = rpm_installed_versions(&run.stdout).unwrap_or_default();
    if let Ok(mut pending) = dnf_check_update(run.exit_code, &run.stdout, &run.stderr) {
        let count = pending.len();
        for update in &pending {
            assert!(!update.name.is_empty(), "update without a name: {update:?}");
        }
        apply_dnf_advisories(&mut pending, &advisories);
        apply_installed_versions(&mut pending, &installed);
        assert_eq!(pending.len(), count);
        assert_dedupe(pending);
    }
    let _ = needs_restarting(run.exit_code, &run.stdout);
});
