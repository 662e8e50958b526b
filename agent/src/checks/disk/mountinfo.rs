//! Linux `/proc/<pid>/mountinfo`: which filesystem each mount shows, and
//! whether the mount and the filesystem itself are read-only. Pure, every OS.
//!
//! Two flags matter and differ: the *mount* options (per mount point, per
//! mount namespace) and the *superblock* options (per filesystem). A service
//! sandbox such as systemd's `ProtectSystem=strict` re-mounts every mount
//! point read-only inside the service's namespace, so `statvfs` there says
//! read-only for every disk, while the filesystem itself stays writable and
//! can still fill up. The superblock options say what the filesystem is.

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// `major:minor` of the filesystem: the same for every mount (bind or
    /// not) of one filesystem, unique among mounted filesystems.
    pub device_number: String,
    /// The folder of the filesystem that this mount shows ("/" for all of it).
    pub root: String,
    pub mount_point: String,
    /// This mount is read-only (in the namespace the file was read from).
    pub mount_read_only: bool,
    pub filesystem: String,
    pub source: String,
    /// The filesystem itself is read-only.
    pub super_read_only: bool,
}

/// Parses mountinfo; lines that do not have its shape are returned as errors.
pub fn parse_mountinfo(text: &str) -> (Vec<MountInfo>, Vec<String>) {
    let mut mounts = Vec::new();
    let mut bad = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match parse_line(line) {
            Some(mount) => mounts.push(mount),
            None => bad.push(format!("unexpected line in mountinfo: {line:?}")),
        }
    }
    (mounts, bad)
}

fn parse_line(line: &str) -> Option<MountInfo> {
    let (before, after) = line.split_once(" - ")?;
    let mut fields = before.split(' ');
    let _mount_id = fields.next()?;
    let _parent_id = fields.next()?;
    let device_number = fields.next()?;
    let root = fields.next()?;
    let mount_point = fields.next()?;
    let mount_options = fields.next()?;
    let (major, minor) = device_number.split_once(':')?;
    if major.parse::<u32>().is_err() || minor.parse::<u32>().is_err() {
        return None;
    }
    let mut tail = after.split(' ');
    let filesystem = tail.next()?;
    let source = tail.next()?;
    let super_options = tail.next()?;
    Some(MountInfo {
        device_number: device_number.to_owned(),
        root: unescape(root),
        mount_point: unescape(mount_point),
        mount_read_only: has_ro(mount_options),
        filesystem: unescape(filesystem),
        source: unescape(source),
        super_read_only: has_ro(super_options),
    })
}

fn has_ro(options: &str) -> bool {
    options.split(',').any(|o| o == "ro")
}

/// Undoes the kernel's octal escapes (`\040` for a space, `\134` for `\`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match octal.and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok()) {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount visible at `mount_point`: the last one listed there, because a
/// later mount on the same point hides the earlier ones.
#[cfg(test)]
pub fn visible_at<'a>(table: &'a [MountInfo], mount_point: &str) -> Option<&'a MountInfo> {
    table.iter().rev().find(|m| m.mount_point == mount_point)
}

/// Filesystem types never measured: the kernel's own pseudo filesystems,
/// package images, optical media, and network filesystems whose `statvfs`
/// hangs while their server is gone (nfs, cifs and autofs mounted `hard`).
const UNMEASURED_TYPES: &[&str] = &[
    "autofs",
    "cgroup",
    "cgroup2",
    "cifs",
    "devpts",
    "devtmpfs",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nfs",
    "nfs4",
    "proc",
    "pstore",
    "rootfs",
    "rpc_pipefs",
    "squashfs",
    "sysfs",
];

/// The mounts worth a `statvfs`: the one visible at each mount point, not
/// of an [`UNMEASURED_TYPES`] type, not below `/proc`, `/sys` or `/run`
/// (but `/run/media`, where desktops mount removable media). These are the
/// mounts sysinfo measured when the agent listed disks through it.
pub fn measured(table: &[MountInfo]) -> Vec<MountInfo> {
    table
        .iter()
        .enumerate()
        .filter(|(index, mount)| {
            let hidden = table[index + 1..]
                .iter()
                .any(|later| later.mount_point == mount.mount_point);
            let point = mount.mount_point.as_str();
            let kernel_folder = ["/proc", "/sys", "/run"]
                .iter()
                .any(|folder| point.starts_with(folder))
                && !point.starts_with("/run/media");
            !hidden
                && !kernel_folder
                && !UNMEASURED_TYPES.contains(&mount.filesystem.as_str())
                && !mount.source.starts_with("sunrpc")
        })
        .map(|(_, mount)| mount.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::captured_output;

    #[test]
    fn protect_system_namespace_shows_read_only_mounts_of_writable_filesystems() {
        let (table, bad) = parse_mountinfo(&captured_output(
            "disk/linux/mountinfo-protect-system-strict.txt",
        ));
        assert!(bad.is_empty(), "{bad:?}");
        let root = visible_at(&table, "/").unwrap();
        assert!(root.mount_read_only, "{root:?}");
        assert!(!root.super_read_only, "{root:?}");
        assert_eq!(root.filesystem, "ext4");
        // ReadWritePaths= is a writable bind of a folder of the root filesystem.
        let state = visible_at(&table, "/var/lib/forewarn-agent-capture").unwrap();
        assert!(!state.mount_read_only);
        assert_eq!(state.device_number, root.device_number);
        assert_eq!(state.root, "/var/lib/forewarn-agent-capture");
        // A filesystem mounted read-only is read-only in its superblock too.
        let image = visible_at(&table, "/tmp/fw-image").unwrap();
        assert!(image.super_read_only && image.mount_read_only);
        // Stacked mounts: the later /dev/shm hides the earlier one.
        assert_eq!(
            visible_at(&table, "/dev/shm").unwrap().device_number,
            "0:27"
        );
    }

    #[test]
    fn escaped_paths_and_optional_fields_are_read() {
        let line = "61 29 0:52 / /media/USB\\040Stick rw,nosuid shared:33 master:1 - vfat /dev/sdc1 rw,fmask=0022\n";
        let (table, bad) = parse_mountinfo(line);
        assert!(bad.is_empty());
        assert_eq!(table[0].mount_point, "/media/USB Stick");
        assert_eq!(table[0].device_number, "0:52");
        assert_eq!(table[0].source, "/dev/sdc1");
        assert!(!table[0].mount_read_only && !table[0].super_read_only);
    }

    #[test]
    fn garbage_lines_are_errors_and_the_rest_is_kept() {
        let text = "not a mountinfo line\n22 1 8:1 / / rw - ext4 /dev/sda1 rw\n1 2 x:y / /a rw - ext4 /dev/sdb rw\n";
        let (table, bad) = parse_mountinfo(text);
        assert_eq!(table.len(), 1);
        assert_eq!(bad.len(), 2, "{bad:?}");
    }

    #[test]
    fn the_last_mount_on_a_point_is_the_visible_one() {
        let text =
            "22 1 8:1 / /data rw - ext4 /dev/sda1 rw\n23 22 0:40 / /data ro - tmpfs tmpfs ro\n";
        let (table, _) = parse_mountinfo(text);
        assert_eq!(visible_at(&table, "/data").unwrap().filesystem, "tmpfs");
        assert!(visible_at(&table, "/other").is_none());
    }

    #[test]
    fn measured_mounts_are_the_visible_real_ones() {
        let text = "\
22 27 0:21 / /proc rw - proc proc rw
24 27 0:6 / /dev rw - devtmpfs devtmpfs rw
25 24 0:23 / /dev/shm rw - tmpfs tmpfs rw
27 1 254:0 / / rw - ext4 /dev/vda rw
30 25 0:27 / /dev/shm rw - tmpfs tmpfs rw
31 27 0:28 / /run rw - tmpfs tmpfs rw
32 31 8:33 / /run/media/usb rw - vfat /dev/sdc1 rw
33 27 0:50 / /srv/share rw - nfs4 nas:/share rw
34 27 8:1 / /data rw - ext4 /dev/sda1 rw
35 34 0:60 / /data ro - tmpfs tmpfs ro
";
        let (table, bad) = parse_mountinfo(text);
        assert!(bad.is_empty(), "{bad:?}");
        let measured = measured(&table);
        let points: Vec<(&str, &str)> = measured
            .iter()
            .map(|m| (m.mount_point.as_str(), m.device_number.as_str()))
            .collect();
        // Not statvfs'd at all: /proc, devtmpfs, /run, nfs4, and the hidden /dev/shm and /data.
        assert_eq!(
            points,
            [
                ("/", "254:0"),
                ("/dev/shm", "0:27"),
                ("/run/media/usb", "8:33"),
                ("/data", "0:60")
            ]
        );
    }

    #[test]
    fn the_sandboxed_capture_measures_root_and_its_binds_once_each() {
        let (table, _) = parse_mountinfo(&captured_output(
            "disk/linux/mountinfo-protect-system-strict.txt",
        ));
        let measured = measured(&table);
        assert!(
            measured
                .iter()
                .any(|m| m.mount_point == "/" && m.filesystem == "ext4")
        );
        for mount in &measured {
            assert_eq!(
                measured
                    .iter()
                    .filter(|m| m.mount_point == mount.mount_point)
                    .count(),
                1,
                "{mount:?}"
            );
            assert!(!mount.mount_point.starts_with("/proc") && mount.filesystem != "proc");
        }
    }
}
