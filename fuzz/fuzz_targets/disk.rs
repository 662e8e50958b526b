//! Disks: macOS's `mount` table, the APFS volume choice, Windows drive roots
//! and the mount filter every OS runs. Each mount-table line is also a
//! mount's size on the next line's bytes. Properties: no panic; every
//! non-blank line is either a mount or a bad line; the APFS choice keeps at
//! most one volume per container, only mounts it was given; the filter
//! keeps one mount per real device, sorted, only mounts it was given (the
//! bytes also choose shared filesystem identities and binds).
#![no_main]

use forewarn_agent::checks::disk::fuzzing::*;
use forewarn_agent::checks::disk::{DiskConfig, Mount};
use libfuzzer_sys::fuzz_target;

fn assert_subset(kept: &[Mount], given: &[Mount]) {
    for mount in kept {
        assert!(given.contains(mount), "{mount:?} was not given");
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (parsed, bad) = parse_darwin_mount_table(&text);
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
    assert_eq!(parsed.len() + bad.len(), lines);
    let mounts: Vec<Mount> = parsed
        .iter()
        .enumerate()
        .map(|(i, m)| Mount {
            mount_point: m.mount_point.clone(),
            device: m.device.clone(),
            filesystem: m.filesystem.clone(),
            total_bytes: (data.get(i).copied().unwrap_or(1) as u64) << 20,
            available_bytes: 1 << 19,
            removable: false,
            read_only: m.options.iter().any(|o| o == "read-only"),
            mount_read_only: m.options.iter().any(|o| o == "read-only"),
            // A few shared identities, so binds of one filesystem meet in the filter.
            filesystem_id: data.get(i).map(|b| format!("0:{}", b % 4)),
            whole_filesystem: data.get(i).is_none_or(|b| b % 3 != 0),
            network: false,
        })
        .collect();
    let volumes = darwin_volumes(mounts.clone());
    assert_subset(&volumes, &mounts);
    for (i, volume) in volumes.iter().enumerate() {
        let container = apfs_container(&volume.device);
        if volume.filesystem.eq_ignore_ascii_case("apfs") && container.is_some() {
            assert!(
                !volumes[..i]
                    .iter()
                    .any(|v| v.filesystem.eq_ignore_ascii_case("apfs")
                        && apfs_container(&v.device) == container),
                "two volumes of container {container:?}"
            );
        }
    }
    let real = real_filesystems(mounts.clone(), &DiskConfig::default());
    assert_subset(&real, &mounts);
    assert!(real.is_sorted_by(|a, b| a.mount_point <= b.mount_point));
    for line in text.lines() {
        if let Some(root) = drive_root(line) {
            assert_eq!(root.len(), 3, "{root:?} from {line:?}");
            assert!(root.ends_with(":\\") && root.as_bytes()[0].is_ascii_uppercase());
        }
    }
});
