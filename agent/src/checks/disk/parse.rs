//! Pure readers of macOS and Windows disk facts, compiled and tested on every OS.
//!
//! - macOS: the `mount` table (`/dev/disk3s5 on /System/Volumes/Data (apfs, ...)`)
//!   and which APFS volumes are worth reporting: volumes of one container
//!   share its free space, so a container is reported once; the sealed
//!   read-only system volume and the OS's helper volumes are skipped.
//! - Windows: what `GetDriveTypeW` says about a drive letter.

use super::filter::Mount;

/// One line of macOS `mount` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DarwinMount {
    pub device: String,
    pub mount_point: String,
    pub filesystem: String,
    pub options: Vec<String>,
}

/// Parses macOS `mount` output; lines that do not have the `DEV on PATH (TYPE, ...)`
/// shape are returned as errors, the rest is kept.
pub fn parse_darwin_mount_table(text: &str) -> (Vec<DarwinMount>, Vec<String>) {
    let mut mounts = Vec::new();
    let mut bad = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match parse_darwin_mount_line(line) {
            Some(mount) => mounts.push(mount),
            None => bad.push(format!("unexpected line in mount output: {line:?}")),
        }
    }
    (mounts, bad)
}

fn parse_darwin_mount_line(line: &str) -> Option<DarwinMount> {
    let (device, rest) = line.split_once(" on ")?;
    // Mount points may contain spaces and parentheses; the options are the last group.
    let (mount_point, options) = rest.strip_suffix(')')?.rsplit_once(" (")?;
    let mut options = options.split(", ").map(str::to_owned);
    let filesystem = options.next()?;
    Some(DarwinMount {
        device: device.to_owned(),
        mount_point: mount_point.to_owned(),
        filesystem,
        options: options.collect(),
    })
}

/// The APFS container a volume device belongs to: `/dev/disk3s1s1` → `disk3`.
pub fn apfs_container(device: &str) -> Option<&str> {
    let name = device.strip_prefix("/dev/").unwrap_or(device);
    let digits = name.strip_prefix("disk")?;
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    (end > 0).then(|| &name[..4 + end])
}

/// Helper volumes of macOS that live under `/System/Volumes` but hold no user data.
const DATA_VOLUME: &str = "/System/Volumes/Data";

/// Keeps the APFS volumes worth alerting on: one per container (the Data
/// volume when the container has one, else its shortest mount point), never
/// the sealed read-only system volume at `/` nor the VM, Preboot, Update
/// and other helper volumes. Non-APFS mounts pass through unchanged.
pub fn darwin_volumes(mounts: Vec<Mount>) -> Vec<Mount> {
    let mut kept: Vec<Mount> = Vec::new();
    for mount in mounts {
        if !mount.filesystem.eq_ignore_ascii_case("apfs") {
            kept.push(mount);
            continue;
        }
        let system_snapshot = mount.mount_point == "/" && mount.read_only;
        let helper =
            mount.mount_point.starts_with("/System/Volumes/") && mount.mount_point != DATA_VOLUME;
        if system_snapshot || helper {
            continue;
        }
        let container = apfs_container(&mount.device).map(str::to_owned);
        let sibling = kept.iter_mut().find(|k| {
            k.filesystem.eq_ignore_ascii_case("apfs")
                && container.is_some()
                && apfs_container(&k.device) == container.as_deref()
        });
        match sibling {
            Some(existing) => {
                let better = mount.mount_point == DATA_VOLUME
                    || (existing.mount_point != DATA_VOLUME
                        && mount.mount_point.len() < existing.mount_point.len());
                if better {
                    *existing = mount;
                }
            }
            None => kept.push(mount),
        }
    }
    kept
}

/// What Windows says a drive letter is (`GetDriveTypeW`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveKind {
    Fixed,
    Removable,
    Network,
    CdRom,
    RamDisk,
    /// Unknown type or no volume at that root.
    Unusable,
}

/// Maps a `GetDriveTypeW` return value.
pub fn drive_kind(drive_type: u32) -> DriveKind {
    match drive_type {
        2 => DriveKind::Removable,
        3 => DriveKind::Fixed,
        4 => DriveKind::Network,
        5 => DriveKind::CdRom,
        6 => DriveKind::RamDisk,
        _ => DriveKind::Unusable,
    }
}

/// Whether a drive of this kind is reported: fixed, removable and network
/// drives are; optical media (always full) and unusable roots are not;
/// RAM disks only if their filesystem type is configured, like tmpfs.
pub fn drive_reported(kind: DriveKind) -> bool {
    matches!(
        kind,
        DriveKind::Fixed | DriveKind::Removable | DriveKind::Network
    )
}

/// The drive letter root (`C:\`) of a Windows mount point, if it is one.
pub fn drive_root(mount_point: &str) -> Option<String> {
    let mut chars = mount_point.chars();
    let letter = chars.next().filter(char::is_ascii_alphabetic)?;
    (chars.next() == Some(':')).then(|| format!("{}:\\", letter.to_ascii_uppercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/disk")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
    }

    /// The mount table as sysinfo would list it: one size for the whole container.
    fn as_mounts(table: &[DarwinMount]) -> Vec<Mount> {
        table
            .iter()
            .map(|m| Mount {
                mount_point: m.mount_point.clone(),
                device: m.device.clone(),
                filesystem: m.filesystem.clone(),
                total_bytes: 500 << 30,
                available_bytes: 200 << 30,
                removable: false,
                read_only: m.options.iter().any(|o| o == "read-only"),
                mount_read_only: m.options.iter().any(|o| o == "read-only"),
                filesystem_id: None,
                whole_filesystem: true,
                network: false,
            })
            .collect()
    }

    #[test]
    fn mount_table_parses_device_point_type_and_options() {
        let (table, bad) = parse_darwin_mount_table(&fixture("macos/mount-apfs-system-volume.txt"));
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(table.len(), 5);
        assert_eq!(
            table[0],
            DarwinMount {
                device: "/dev/disk4s5s1".into(),
                mount_point: "/".into(),
                filesystem: "apfs".into(),
                options: ["sealed", "local", "read-only", "journaled"]
                    .map(String::from)
                    .to_vec(),
            }
        );
        assert_eq!(table[1].filesystem, "devfs");
    }

    #[test]
    fn one_container_is_reported_once_as_its_data_volume() {
        let (table, _) = parse_darwin_mount_table(&fixture("macos/mount-apfs-system-volume.txt"));
        let kept = darwin_volumes(as_mounts(&table));
        let points: Vec<&str> = kept.iter().map(|m| m.mount_point.as_str()).collect();
        // devfs passes through here; the type filter drops it.
        assert_eq!(points, ["/dev", "/System/Volumes/Data"]);
    }

    #[test]
    fn external_apfs_disks_and_other_filesystems_stay_separate() {
        let text = "\
/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)
/dev/disk3s5 on /System/Volumes/Data (apfs, local, journaled, nobrowse, protect)
/dev/disk5s1 on /Volumes/Backup Drive (apfs, local, nodev, nosuid, journaled, noowners)
/dev/disk5s2 on /Volumes/Backup Drive (Archive) (apfs, local, nodev, nosuid, journaled, noowners)
/dev/disk4s1 on /Volumes/USB (msdos, local, nodev, nosuid, noowners)
";
        let (table, bad) = parse_darwin_mount_table(text);
        assert!(bad.is_empty());
        assert_eq!(table[3].mount_point, "/Volumes/Backup Drive (Archive)");
        let kept = darwin_volumes(as_mounts(&table));
        let points: Vec<&str> = kept.iter().map(|m| m.mount_point.as_str()).collect();
        assert_eq!(
            points,
            [
                "/System/Volumes/Data",
                "/Volumes/Backup Drive",
                "/Volumes/USB"
            ]
        );
    }

    #[test]
    fn garbage_lines_are_reported_and_the_rest_kept() {
        let (table, bad) = parse_darwin_mount_table(
            "mount: something odd\n/dev/disk3s5 on /System/Volumes/Data (apfs, local)\n",
        );
        assert_eq!(table.len(), 1);
        assert_eq!(
            bad,
            ["unexpected line in mount output: \"mount: something odd\""]
        );
    }

    #[test]
    fn container_of_volume_devices() {
        assert_eq!(apfs_container("/dev/disk3s1s1"), Some("disk3"));
        assert_eq!(apfs_container("disk12s5"), Some("disk12"));
        assert_eq!(apfs_container("/dev/disk"), None);
        assert_eq!(apfs_container("map auto_home"), None);
    }

    #[test]
    fn documented_drive_types_map_to_kinds() {
        let kinds: Vec<(u32, DriveKind)> = fixture("windows/getdrivetype-values.txt")
            .lines()
            .map(|line| {
                let value: u32 = line.split_whitespace().next().unwrap().parse().unwrap();
                (value, drive_kind(value))
            })
            .collect();
        assert_eq!(
            kinds,
            [
                (0, DriveKind::Unusable),
                (1, DriveKind::Unusable),
                (2, DriveKind::Removable),
                (3, DriveKind::Fixed),
                (4, DriveKind::Network),
                (5, DriveKind::CdRom),
                (6, DriveKind::RamDisk),
            ]
        );
        let reported: Vec<u32> = (0..7).filter(|v| drive_reported(drive_kind(*v))).collect();
        assert_eq!(reported, [2, 3, 4]);
    }

    #[test]
    fn drive_roots_from_mount_points() {
        assert_eq!(drive_root("C:\\").as_deref(), Some("C:\\"));
        assert_eq!(drive_root("z:").as_deref(), Some("Z:\\"));
        assert_eq!(drive_root("\\\\?\\Volume{1234}\\"), None);
        assert_eq!(drive_root("/"), None);
    }
}
