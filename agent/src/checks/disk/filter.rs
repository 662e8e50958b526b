//! Which mounted filesystems are real disks worth reporting. Pure, every OS.
//!
//! Skipped by default: pseudo and virtual filesystems, overlays of container
//! runtimes, package images (snap squashfs, loop devices) and RAM disks.
//! A device mounted at several places (bind mounts) is reported once, at its
//! shortest mount point.

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
    pub read_only: bool,
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

pub fn real_filesystems(mounts: Vec<Mount>, config: &DiskConfig) -> Vec<Mount> {
    let mut kept: Vec<Mount> = Vec::new();
    for mount in mounts.into_iter().filter(|m| included(m, config)) {
        // Pseudo devices such as "tmpfs" or "none" name no device: never merge those.
        let real_device = mount.device.starts_with('/') || mount.device.starts_with("\\\\");
        match kept
            .iter_mut()
            .find(|k| real_device && k.device == mount.device)
        {
            Some(existing) if mount.mount_point.len() < existing.mount_point.len() => {
                *existing = mount
            }
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
            network: false,
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
    fn network_types_are_flagged() {
        assert!(is_network_filesystem("NFS4"));
        assert!(is_network_filesystem("cifs"));
        assert!(!is_network_filesystem("ext4"));
    }
}
