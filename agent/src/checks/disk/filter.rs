//! Which mounted filesystems are real disks worth reporting. Pure, every OS.
//!
//! Skipped by default: pseudo and virtual filesystems, overlays of container
//! runtimes, package images (snap squashfs, loop devices) and RAM disks.
//! A filesystem mounted at several places (bind mounts, a device mounted
//! twice) is reported once: by its identity where the OS gives one (Linux:
//! the `major:minor` of mountinfo, which every bind of one filesystem shares,
//! tmpfs and btrfs included), else by its device path. The mount reported is
//! the one that shows the whole filesystem, then a writable one, then the
//! shortest path: a sandbox's writable bind of one folder (systemd's
//! `ReadWritePaths=`) never stands for the root filesystem.

use super::DiskConfig;

/// One mounted filesystem as the OS lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub mount_point: String,
    pub device: String,
    pub filesystem: String,
    pub total_bytes: u64,
    pub available_bytes: u64,
    pub removable: bool,
    /// The filesystem itself is read-only (Linux: its superblock), whatever
    /// this mount or this process's mount namespace says.
    pub read_only: bool,
    /// This mount point is read-only as this process sees it, which under a
    /// service sandbox can differ from the filesystem.
    pub mount_read_only: bool,
    /// The filesystem's identity where the OS gives one (Linux `major:minor`).
    pub filesystem_id: Option<String>,
    /// This mount shows the whole filesystem, not one folder of it (a bind).
    pub whole_filesystem: bool,
    /// The OS says this is a network drive (Windows mapped drives); network
    /// filesystem types are recognised separately by [`is_network_filesystem`].
    pub network: bool,
}

/// Types that never hold user data on a disk.
const SKIPPED_TYPES: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fuse.gvfsd-fuse",
    "fuse.lxcfs",
    "fuse.portal",
    "fuse.snapfuse",
    "fusectl",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nsfs",
    "overlay",
    "proc",
    "pstore",
    "ramfs",
    "rpc_pipefs",
    "securityfs",
    "squashfs",
    "sysfs",
    "tmpfs",
    "tracefs",
    "udf",
];

const NETWORK_TYPES: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smbfs",
    "smb3",
    "afpfs",
    "webdav",
    "9p",
    "fuse.sshfs",
];

pub fn is_network_filesystem(filesystem: &str) -> bool {
    NETWORK_TYPES.contains(&filesystem.to_ascii_lowercase().as_str())
}

fn included(mount: &Mount, config: &DiskConfig) -> bool {
    if config.exclude_mount_points.contains(&mount.mount_point) {
        return false;
    }
    let fs_type = mount.filesystem.to_ascii_lowercase();
    if config
        .include_types
        .iter()
        .any(|t| t.eq_ignore_ascii_case(&fs_type))
    {
        return true;
    }
    let package_image = mount.device.starts_with("/dev/loop");
    !SKIPPED_TYPES.contains(&fs_type.as_str()) && !package_image && mount.total_bytes > 0
}

/// What makes two mounts one filesystem, if anything does.
fn identity(mount: &Mount) -> Option<&str> {
    if let Some(id) = &mount.filesystem_id {
        return Some(id);
    }
    // Pseudo devices such as "tmpfs" or "none" name no device: never merge by those.
    let real_device = mount.device.starts_with('/') || mount.device.starts_with("\\\\");
    real_device.then_some(mount.device.as_str())
}

/// Whether `candidate` stands better for its filesystem than `current`.
fn better_mount(candidate: &Mount, current: &Mount) -> bool {
    let rank = |m: &Mount| (!m.whole_filesystem, m.mount_read_only, m.mount_point.len());
    rank(candidate) < rank(current)
}

pub fn real_filesystems(mounts: Vec<Mount>, config: &DiskConfig) -> Vec<Mount> {
    let mut kept: Vec<Mount> = Vec::new();
    for mount in mounts.into_iter().filter(|m| included(m, config)) {
        let same =
            identity(&mount).and_then(|id| kept.iter().position(|k| identity(k) == Some(id)));
        match same {
            Some(index) if better_mount(&mount, &kept[index]) => kept[index] = mount,
            Some(_) => {}
            None => kept.push(mount),
        }
    }
    kept.sort_by(|a, b| a.mount_point.cmp(&b.mount_point));
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(mount_point: &str, device: &str, filesystem: &str) -> Mount {
        Mount {
            mount_point: mount_point.into(),
            device: device.into(),
            filesystem: filesystem.into(),
            total_bytes: 1 << 30,
            available_bytes: 1 << 29,
            removable: false,
            read_only: false,
            mount_read_only: false,
            filesystem_id: None,
            whole_filesystem: true,
            network: false,
        }
    }

    /// A mount as Linux mountinfo describes it.
    fn bind(mount_point: &str, id: &str, whole: bool, mount_read_only: bool) -> Mount {
        Mount {
            filesystem_id: Some(id.into()),
            whole_filesystem: whole,
            mount_read_only,
            ..mount(mount_point, "tmpfs", "tmpfs")
        }
    }

    #[test]
    fn pseudo_overlay_snap_and_loop_mounts_are_skipped() {
        let mounts = vec![
            mount("/", "/dev/nvme0n1p2", "ext4"),
            mount("/proc", "proc", "proc"),
            mount("/var/lib/docker/overlay2/x/merged", "overlay", "overlay"),
            mount("/snap/core/1", "/dev/loop3", "squashfs"),
            mount("/mnt/image", "/dev/loop4", "ext4"),
            mount("/dev/shm", "tmpfs", "tmpfs"),
            mount("/home", "/dev/nvme0n1p3", "xfs"),
        ];
        let kept: Vec<_> = real_filesystems(mounts, &DiskConfig::default())
            .into_iter()
            .map(|m| m.mount_point)
            .collect();
        assert_eq!(kept, ["/", "/home"]);
    }

    #[test]
    fn configured_types_are_included_and_mount_points_excluded() {
        let config = DiskConfig {
            include_types: vec!["tmpfs".into()],
            exclude_mount_points: vec!["/home".into()],
        };
        let mounts = vec![
            mount("/scratch", "tmpfs", "tmpfs"),
            mount("/home", "/dev/sda1", "ext4"),
        ];
        let kept = real_filesystems(mounts, &config);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].mount_point, "/scratch");
    }

    #[test]
    fn bind_mounts_of_one_device_are_reported_once_at_shortest_path() {
        let mounts = vec![
            mount("/srv/data/bind", "/dev/sdb1", "ext4"),
            mount("/srv", "/dev/sdb1", "ext4"),
        ];
        let kept = real_filesystems(mounts, &DiskConfig::default());
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].mount_point, "/srv");
    }

    #[test]
    fn binds_of_one_filesystem_merge_by_identity_and_report_the_whole_writable_mount() {
        let config = DiskConfig {
            include_types: vec!["tmpfs".into()],
            ..DiskConfig::default()
        };
        let mounts = vec![
            bind("/srv/ro", "0:40", true, true),
            bind("/srv/scratch", "0:40", true, false),
            bind("/s", "0:40", false, false),
            bind("/other", "0:41", true, false),
        ];
        let kept: Vec<String> = real_filesystems(mounts, &config)
            .into_iter()
            .map(|m| m.mount_point)
            .collect();
        assert_eq!(kept, ["/other", "/srv/scratch"]);
    }

    #[test]
    fn sandbox_state_bind_never_stands_for_the_root_filesystem() {
        // ProtectSystem=strict: / read-only here, the state folder a writable bind.
        let mut root = mount("/", "/dev/vda", "ext4");
        root.filesystem_id = Some("254:0".into());
        root.mount_read_only = true;
        let mut state = mount("/var/lib/forewarn-agent", "/dev/vda", "ext4");
        state.filesystem_id = Some("254:0".into());
        state.whole_filesystem = false;
        let kept = real_filesystems(vec![state, root], &DiskConfig::default());
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].mount_point, "/");
    }

    #[test]
    fn network_types_are_flagged() {
        assert!(is_network_filesystem("NFS4"));
        assert!(is_network_filesystem("cifs"));
        assert!(!is_network_filesystem("ext4"));
    }
}
