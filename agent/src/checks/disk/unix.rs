//! `statvfs` figures: free space including the reserve, and inode counts.

use forewarn_proto::pb;

use super::CheckError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatvfsFigures {
    total_bytes: u64,
    free_bytes: u64,
    available_bytes: u64,
    inodes_total: u64,
    inodes_free: u64,
}

impl StatvfsFigures {
    /// Size of the filesystem.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub fn total_bytes(self) -> u64 {
        self.total_bytes
    }

    /// Space an unprivileged user can still write.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub fn available_bytes(self) -> u64 {
        self.available_bytes
    }

    /// Overwrites the figures statvfs knows better; inodes only where the filesystem has them.
    pub fn apply(self, status: &mut pb::DiskStatus) {
        status.total_bytes = self.total_bytes;
        status.free_bytes = self.free_bytes.min(self.total_bytes);
        status.available_bytes = self
            .available_bytes
            .min(self.free_bytes)
            .min(self.total_bytes);
        // Filesystems without inode tables (btrfs, vfat, ...) report zero.
        if self.inodes_total > 0 {
            status.inodes_total = Some(self.inodes_total);
            status.inodes_free = Some(self.inodes_free.min(self.inodes_total));
        }
    }
}

pub fn statvfs_figures(mount_point: &str) -> Result<StatvfsFigures, CheckError> {
    let stat = rustix::fs::statvfs(mount_point).map_err(|err| match err {
        rustix::io::Errno::ACCESS | rustix::io::Errno::PERM => {
            CheckError::PermissionDenied(format!("statvfs {mount_point}: {err}"))
        }
        other => CheckError::Failed(format!("statvfs {mount_point}: {other}")),
    })?;
    let fragment = stat.f_frsize;
    Ok(StatvfsFigures {
        total_bytes: stat.f_blocks.saturating_mul(fragment),
        free_bytes: stat.f_bfree.saturating_mul(fragment),
        available_bytes: stat.f_bavail.saturating_mul(fragment),
        inodes_total: stat.f_files,
        inodes_free: stat.f_ffree,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_filesystem_has_consistent_figures() {
        let figures = statvfs_figures("/").unwrap();
        assert!(figures.total_bytes > 0);
        assert!(figures.free_bytes <= figures.total_bytes);
        assert!(figures.available_bytes <= figures.free_bytes);
    }

    #[test]
    fn missing_mount_point_is_an_error() {
        assert!(statvfs_figures("/nonexistent-forewarn-mount").is_err());
    }
}
