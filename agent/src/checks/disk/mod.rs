//! Disk check: space and inodes of every real filesystem.
//!
//! What each OS provides:
//! - macOS and Windows: the mounted filesystems, their type, size, available
//!   space and the removable/read-only flags, through `sysinfo`;
//! - unix (`unix.rs`): free space including the superuser reserve and inode
//!   counts, through `statvfs`;
//! - Linux (`linux.rs`): every mount from `/proc/self/mountinfo` (parsed in
//!   `mountinfo`), kept open and read again only when the mount table
//!   changes, then one `statvfs` per filesystem: the filesystem behind each
//!   mount (so binds are merged by identity) and whether the *filesystem* is
//!   read-only. `statvfs` says whether the *mount* is read-only in this
//!   process's namespace, which under the shipped systemd unit
//!   (`ProtectSystem=strict`) is every mount: a full disk must still alert,
//!   so the superblock's flag is the one reported. (`/proc/1/mountinfo`, the
//!   host's view, is not readable there: the unit keeps no `CAP_SYS_PTRACE`.)
//!   The check runs on the agent's one thread: a cycle costs a few
//!   microseconds per filesystem, less than handing it to another thread.
//! - macOS (`macos.rs`): the BSD device of each mount from `/sbin/mount`, so
//!   APFS volumes sharing a container are reported once and the sealed
//!   system volume is skipped (decided in `parse`);
//! - Windows (`windows.rs`): the drive type of each letter (optical and
//!   unusable drives skipped, removable flagged) and mapped network drives.
//!
//! Which filesystems count as real is decided by the pure `filter` module;
//! the macOS and Windows rules live in the pure `parse` module.

mod filter;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "macos")]
mod macos;
// Only Linux reads mountinfo; the parser is tested on every OS.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
mod mountinfo;
// Each OS calls only its own half (macOS or Windows); all of it is tested on every OS.
#[allow(dead_code)]
mod parse;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

use serde::Deserialize;

use forewarn_proto::limits::MAX_FILESYSTEMS;
use forewarn_proto::pb;

use super::CheckError;
pub use filter::{Mount, is_network_filesystem};

pub const CHECK_NAME: &str = forewarn_proto::CheckKind::Disks.as_str();

/// Local settings of the disk check.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskConfig {
    /// Filesystem types to report although they are skipped by default (e.g. "tmpfs").
    #[serde(default)]
    pub include_types: Vec<String>,
    /// Mount points never to report (e.g. "/mnt/scratch").
    #[serde(default)]
    pub exclude_mount_points: Vec<String>,
}

impl DiskConfig {
    /// Problems with these settings, each prefixed with `key`.
    pub fn problems(&self, key: &str) -> Vec<String> {
        self.include_types
            .iter()
            .filter(|t| t.trim().is_empty())
            .map(|_| format!("{key}.include_types: empty filesystem type"))
            .collect()
    }
}

#[derive(Debug)]
pub struct DiskCheck {
    config: DiskConfig,
    /// The mount table, read again only when it changes.
    #[cfg(target_os = "linux")]
    table: linux::MountTable,
}

impl DiskCheck {
    pub fn new(config: DiskConfig) -> Self {
        Self {
            config,
            #[cfg(target_os = "linux")]
            table: linux::MountTable::default(),
        }
    }

    /// Lists and measures filesystems.
    #[cfg(target_os = "linux")]
    pub async fn collect(&mut self) -> Result<(pb::DiskCheck, Vec<pb::CheckError>), CheckError> {
        let measured = self.table.measure()?;
        let mut figures: Vec<(String, unix::StatvfsFigures)> = measured
            .iter()
            .map(|(mount, figures)| (mount.mount_point.clone(), *figures))
            .collect();
        let mounts = measured.into_iter().map(|(mount, _)| mount).collect();
        let mut filesystems: Vec<pb::DiskStatus> = filter::real_filesystems(mounts, &self.config)
            .into_iter()
            .map(|mount| {
                let at = figures
                    .iter()
                    .position(|(point, _)| *point == mount.mount_point);
                let figures = at.map(|at| figures.swap_remove(at).1);
                let mut status = status_of(mount);
                if let Some(figures) = figures {
                    figures.apply(&mut status);
                }
                status
            })
            .collect();
        filesystems.truncate(MAX_FILESYSTEMS);
        Ok((pb::DiskCheck { filesystems }, Vec::new()))
    }

    /// Lists and measures filesystems; blocking calls run off the async thread.
    #[cfg(not(target_os = "linux"))]
    pub async fn collect(&mut self) -> Result<(pb::DiskCheck, Vec<pb::CheckError>), CheckError> {
        let config = self.config.clone();
        #[cfg(target_os = "macos")]
        let mount_table = macos::mount_table().await;
        #[cfg(not(target_os = "macos"))]
        let mount_table = ();
        tokio::task::spawn_blocking(move || collect_blocking(&config, mount_table))
            .await
            .map_err(|err| CheckError::Failed(format!("disk check task failed: {err}")))?
    }
}

/// The macOS mount table (devices of mount points), or why it is missing.
#[cfg(target_os = "macos")]
type MountTable = Result<Vec<parse::DarwinMount>, CheckError>;
/// Windows gets devices from `sysinfo`.
#[cfg(not(any(target_os = "macos", target_os = "linux")))]
type MountTable = ();

#[cfg(not(target_os = "linux"))]
fn collect_blocking(
    config: &DiskConfig,
    mount_table: MountTable,
) -> Result<(pb::DiskCheck, Vec<pb::CheckError>), CheckError> {
    let disks = sysinfo::Disks::new_with_refreshed_list()
        .map_err(|err| CheckError::Failed(format!("cannot list filesystems: {err}")))?;
    #[cfg_attr(not(any(target_os = "macos", windows)), allow(unused_mut))]
    let mut mounts: Vec<Mount> = disks
        .iter()
        .map(|disk| Mount {
            mount_point: disk.mount_point().to_string_lossy().into_owned(),
            device: disk.name().to_string_lossy().into_owned(),
            filesystem: disk.file_system().to_string_lossy().into_owned(),
            total_bytes: disk.total_space(),
            available_bytes: disk.available_space(),
            removable: disk.is_removable(),
            read_only: disk.is_read_only(),
            mount_read_only: disk.is_read_only(),
            filesystem_id: None,
            whole_filesystem: true,
            network: false,
        })
        .collect();
    let mut errors = Vec::new();
    #[cfg(target_os = "macos")]
    match mount_table {
        Ok(table) => {
            for mount in &mut mounts {
                if let Some(row) = table.iter().find(|r| r.mount_point == mount.mount_point) {
                    mount.device.clone_from(&row.device);
                }
            }
        }
        Err(err) => errors.push(err.to_proto(CHECK_NAME, "/sbin/mount")),
    }
    #[cfg(not(target_os = "macos"))]
    let () = mount_table;
    #[cfg(windows)]
    {
        mounts.retain_mut(|mount| match windows::kind_of(&mount.mount_point) {
            Some(kind) => {
                mount.removable |= kind == parse::DriveKind::Removable;
                parse::drive_reported(kind)
            }
            None => true,
        });
        for drive in windows::network_drives() {
            match mounts
                .iter_mut()
                .find(|m| m.mount_point.eq_ignore_ascii_case(&drive.mount_point))
            {
                Some(listed) => listed.network = true,
                None => mounts.push(drive),
            }
        }
    }
    let kept = filter::real_filesystems(mounts, config);
    #[cfg(target_os = "macos")]
    let kept = parse::darwin_volumes(kept);
    let mut filesystems: Vec<pb::DiskStatus> = kept
        .into_iter()
        .map(|mount| measure(mount, &mut errors))
        .collect();
    filesystems.truncate(MAX_FILESYSTEMS);
    Ok((pb::DiskCheck { filesystems }, errors))
}

/// Builds the status of one filesystem, refining sysinfo's figures where the OS allows.
#[cfg(not(target_os = "linux"))]
fn measure(mount: Mount, errors: &mut Vec<pb::CheckError>) -> pb::DiskStatus {
    refine(status_of(mount), errors)
}

/// The status of one filesystem from what its listing said.
fn status_of(mount: Mount) -> pb::DiskStatus {
    pb::DiskStatus {
        network: mount.network || is_network_filesystem(&mount.filesystem),
        mount_point: mount.mount_point,
        device: mount.device,
        filesystem: mount.filesystem,
        total_bytes: mount.total_bytes,
        free_bytes: mount.available_bytes,
        available_bytes: mount.available_bytes,
        inodes_total: None,
        inodes_free: None,
        removable: mount.removable,
        read_only: mount.read_only,
    }
}

/// Free space including the reserve, and inodes, from statvfs.
#[cfg(all(unix, not(target_os = "linux")))]
fn refine(mut status: pb::DiskStatus, errors: &mut Vec<pb::CheckError>) -> pb::DiskStatus {
    match unix::statvfs_figures(&status.mount_point) {
        Ok(figures) => figures.apply(&mut status),
        Err(err) => errors.push(err.to_proto(CHECK_NAME, &status.mount_point)),
    }
    status
}

/// Windows reports no inodes and no reserve; sysinfo's figures stand.
#[cfg(not(unix))]
fn refine(status: pb::DiskStatus, _errors: &mut Vec<pb::CheckError>) -> pb::DiskStatus {
    status
}
