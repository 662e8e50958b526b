//! apt: `apt-get -s dist-upgrade` output, the dpkg log and
//! `/var/run/reboot-required(.pkgs)`. Properties: no panic; every listed
//! update has a name (and a candidate version unless phased); at most one
//! update per word; the local-time offset guessed from the dpkg log stays
//! within a real time zone's ±14 h; reboot-required packages are listed once
//! each, sorted, trimmed.
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
    if let Ok(pending) = apt_simulation(&run.stdout) {
        let words = run.stdout.split_whitespace().count();
        assert!(
            pending.len() <= words,
            "{} updates from {words} words",
            pending.len()
        );
        for update in &pending {
            assert!(!update.name.is_empty(), "update without a name: {update:?}");
            assert!(
                update.phased || !update.candidate_version.is_empty(),
                "update without a candidate: {update:?}"
            );
        }
        assert_dedupe(pending);
    }
    let _ = dpkg_log_last_install(&run.stdout);
    if let Some(last_entry) = dpkg_log_last_entry(&run.stdout) {
        let modified = i64::from(run.exit_code) * 3_600 + 1_780_272_000;
        let offset = utc_offset_from_last_write(last_entry, modified);
        assert!(offset.abs() <= 14 * 3_600, "offset {offset} s");
        let _ = last_entry.to_unix(offset);
    }
    let reason = reboot_required_reason("/var/run/reboot-required", Some(&run.stdout));
    assert_eq!(reason.source, "/var/run/reboot-required");
    for package in &reason.packages {
        assert!(
            !package.is_empty() && package.trim() == package,
            "{package:?}"
        );
    }
    assert!(
        reason.packages.is_sorted(),
        "packages not sorted: {reason:?}"
    );
    assert!(
        reason.packages.windows(2).all(|w| w[0] != w[1]),
        "{reason:?}"
    );
});
