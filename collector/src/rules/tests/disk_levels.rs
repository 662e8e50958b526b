//! Disk levels that fit the filesystem: bytes levels only where they make sense,
//! percent levels scaled above the reference size, include/exclude lists and
//! per-device/per-mount overrides.

use super::*;

const MIB: u64 = 1024 * 1024;
const TIB: u64 = 1024 * GIB;

/// One filesystem of `total` bytes with `available` free at `mount`.
fn one_disk(mount: &str, fs_type: &str, total: u64, available: u64) -> pb::StatusReport {
    let mut fs = disk(mount, total, available);
    fs.filesystem = fs_type.into();
    pb::StatusReport {
        disks: Some(pb::DiskCheck {
            filesystems: vec![fs],
        }),
        ..Default::default()
    }
}

/// The `disk_free` condition of a single report with the given rules.
fn disk_free(rules: &RulesConfig, report: &pb::StatusReport) -> Option<Condition> {
    let history = BTreeMap::new();
    let device = DeviceInput {
        device_id: "dev-1",
        hostname: "LAPTOP-042",
        last_seen_at: Some(T0),
        report: Some(report),
        disk_forecasts: &history,
    };
    evaluate(rules, &BTreeMap::new(), &device, &|_| false, T0)
        .into_iter()
        .find(|t| t.key.rule == DiskFree)
        .map(|t| t.condition)
}

#[test]
fn percent_scaling_keeps_levels_up_to_the_reference_and_can_be_turned_off() {
    let mut rules = RulesConfig::default();
    let at_reference = 100 * GIB;
    let c = disk_free(&rules, &one_disk("/t", "ext4", at_reference, 9 * GIB)).expect("measured");
    assert_eq!(c.severity, Some(Severity::Warning), "{}", c.summary);
    assert!(c.summary.ends_with("below 10%"), "{}", c.summary);

    let huge = 20 * TIB;
    let c = disk_free(&rules, &one_disk("/t", "ext4", huge, TIB)).expect("measured");
    assert_eq!(c.severity, None, "{}", c.summary);
    rules.disk_free_percent_scaling.exponent = 1.0;
    let c = disk_free(&rules, &one_disk("/t", "ext4", huge, TIB)).expect("measured");
    assert_eq!(c.severity, Some(Severity::Critical), "{}", c.summary);
    assert!(c.summary.ends_with("below 5%"), "{}", c.summary);
}

#[test]
fn disk_free_fits_the_size_of_the_filesystem() {
    // (filesystem size, free bytes, severity, summary)
    let cases: [(u64, u64, Option<Severity>, &str); 10] = [
        // An empty 20 MiB tmpfs is fine: 2 GiB / 512 MiB levels mean nothing for it.
        (
            20 * MIB,
            20 * MIB,
            None,
            "Disk /t on LAPTOP-042 has 100.0% free (20.0 MiB of 20.0 MiB)",
        ),
        // ... and the percent levels judge it alone.
        (
            20 * MIB,
            3 * MIB / 2,
            Some(Severity::Warning),
            "Disk /t on LAPTOP-042 has 7.5% free (1.5 MiB of 20.0 MiB), below 10%",
        ),
        (
            20 * MIB,
            MIB / 2,
            Some(Severity::Critical),
            "Disk /t on LAPTOP-042 has 2.5% free (512.0 KiB of 20.0 MiB), below 5%",
        ),
        // 20 GiB: percent and bytes agree at the warning level; bytes are stricter at critical.
        (
            20 * GIB,
            10 * GIB,
            None,
            "Disk /t on LAPTOP-042 has 50.0% free (10.0 GiB of 20.0 GiB)",
        ),
        (
            20 * GIB,
            3 * GIB / 2,
            Some(Severity::Warning),
            "Disk /t on LAPTOP-042 has 7.5% free (1.5 GiB of 20.0 GiB), below 10% and 2.0 GiB",
        ),
        (
            20 * GIB,
            3 * GIB / 4,
            Some(Severity::Critical),
            "Disk /t on LAPTOP-042 has 3.8% free (768.0 MiB of 20.0 GiB), below 5%",
        ),
        // 20 TiB: a terabyte free is no emergency; the percent levels shrink
        // with the size (10 % / 5 % become 3.4 % / 1.7 %), the alert names both.
        (
            20 * TIB,
            TIB,
            None,
            "Disk /t on LAPTOP-042 has 5.0% free (1.0 TiB of 20.0 TiB)",
        ),
        (
            20 * TIB,
            600 * GIB,
            Some(Severity::Warning),
            "Disk /t on LAPTOP-042 has 2.9% free (600.0 GiB of 20.0 TiB), below 3.4% \
             (its 10% level, scaled for a 20.0 TiB filesystem)",
        ),
        (
            20 * TIB,
            300 * GIB,
            Some(Severity::Critical),
            "Disk /t on LAPTOP-042 has 1.5% free (300.0 GiB of 20.0 TiB), below 1.7% \
             (its 5% level, scaled for a 20.0 TiB filesystem)",
        ),
        (
            20 * TIB,
            GIB,
            Some(Severity::Critical),
            "Disk /t on LAPTOP-042 has 0.0% free (1.0 GiB of 20.0 TiB), below 1.7% \
             (its 5% level, scaled for a 20.0 TiB filesystem)",
        ),
    ];
    let rules = RulesConfig::default();
    for (total, free, severity, summary) in cases {
        let c = disk_free(&rules, &one_disk("/t", "ext4", total, free)).expect("measured");
        assert_eq!(
            (c.severity, c.summary.as_str()),
            (severity, summary),
            "{total} bytes, {free} free"
        );
    }
}

#[test]
fn disk_include_and_exclude_lists_by_mount_and_type() {
    let rules = rules_with(
        "[disks]\ninclude_types = [\"ext4\", \"tmpfs\"]\nexclude_mounts = [\"/dev/shm\", \"/run/*\"]\n",
    );
    // (mount, type, judged)
    let cases = [
        ("/", "ext4", true),
        ("/tmp", "tmpfs", true),
        ("/dev/shm", "tmpfs", false),
        ("/run/user/1000", "tmpfs", false),
        ("/boot/efi", "vfat", false),
    ];
    for (mount, fs_type, judged) in cases {
        let report = one_disk(mount, fs_type, 20 * GIB, GIB / 4);
        assert_eq!(
            disk_free(&rules, &report).is_some(),
            judged,
            "{mount} ({fs_type})"
        );
    }
    let only = rules_with("[disks]\ninclude_mounts = [\"/srv/*\"]\n");
    assert!(disk_free(&only, &one_disk("/srv/data", "xfs", 20 * GIB, GIB / 4)).is_some());
    assert!(disk_free(&only, &one_disk("/", "xfs", 20 * GIB, GIB / 4)).is_none());
}

#[test]
fn disk_overrides_by_device_and_mount_last_match_wins() {
    let rules = rules_with(
        r#"
[[disk_overrides]]
mount = "/var/lib/postgresql"
disk_free_percent = { warning = 25.0, critical = 15.0 }
[[disk_overrides]]
device = "laptop-042"
mount = "/scratch"
disk_free_percent = { enabled = false }
disk_free_bytes = { enabled = false }
"#,
    );
    assert!(
        rules.problems("rules.").is_empty(),
        "{:?}",
        rules.problems("rules.")
    );
    // 20% free: fine by default, a warning on the database volume.
    let db = one_disk("/var/lib/postgresql", "ext4", 100 * GIB, 20 * GIB);
    assert_eq!(
        disk_free(&rules, &db).unwrap().severity,
        Some(Severity::Warning)
    );
    let other = one_disk("/var", "ext4", 100 * GIB, 20 * GIB);
    assert_eq!(disk_free(&rules, &other).unwrap().severity, None);
    // The scratch disk of this device (named by hostname, any case) is not judged.
    let scratch = one_disk("/scratch", "ext4", 100 * GIB, GIB / 4);
    assert!(disk_free(&rules, &scratch).is_none());
}

#[test]
fn a_disk_override_naming_nothing_is_an_error() {
    let rules =
        rules_with("[[disk_overrides]]\ndisk_free_percent = { warning = 1.0, critical = 5.0 }\n");
    let problems = rules.problems("rules.");
    assert!(
        problems.contains(&"rules.disk_overrides[0]: set device or mount (or both)".to_owned()),
        "{problems:?}"
    );
    assert!(
        problems.contains(
            &"rules.disk_overrides[0].disk_free_percent.critical: 5 is less severe than warning 1"
                .to_owned()
        ),
        "{problems:?}"
    );
}
