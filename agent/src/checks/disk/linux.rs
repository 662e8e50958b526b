//! Linux mount table (I/O only).
//!
//! `/proc/self/mountinfo` alone lists what the check needs of every mount:
//! the filesystem's identity (`major:minor`, shared by every bind of it),
//! its type and source, the folder of it the mount shows, and both
//! read-only flags; `statvfs` (`unix.rs`) gives the figures. The file stays
//! open and is read again only when the kernel says the mount table changed
//! (it flags the open file for `poll` with `POLLPRI` on every mount and
//! unmount), so an unchanged machine costs one `poll` and one `statvfs` per
//! filesystem a cycle. Removable devices are the ones a `usb-*` link in
//! `/dev/disk/by-id` points to; the folder is looked at again only when the
//! mount table changed (a drive's links exist before it is mounted: udev
//! makes them as the device appears, and mounting follows), and listed
//! again only when it changed too.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use rustix::event::{PollFd, PollFlags, Timespec, poll};

use super::filter::Mount;
use super::mountinfo::{MountInfo, measured, parse_mountinfo};
use super::unix::StatvfsFigures;
use crate::checks::CheckError;
use crate::file_stamp::FileStamp;

/// Where the mount table of this process's namespace is read.
pub const MOUNTINFO: &str = "/proc/self/mountinfo";
/// Links to block devices by their hardware id; USB ones are named `usb-*`.
const BY_ID: &str = "/dev/disk/by-id";

/// The mount table as last read, and the open file that says when it changed.
#[derive(Debug, Default)]
pub struct MountTable {
    file: Option<File>,
    text: String,
    /// The mounts worth measuring, from the last read.
    measured: Vec<MountInfo>,
    usb: UsbDevices,
}

impl MountTable {
    /// Every mount worth measuring, with its figures; mounts whose `statvfs`
    /// fails or that have no size are left out (as sysinfo left them out).
    pub fn measure(&mut self) -> Result<Vec<(Mount, StatvfsFigures)>, CheckError> {
        if self.file.is_none() || self.changed() {
            self.read().map_err(|err| {
                self.file = None;
                CheckError::Failed(format!("cannot read {MOUNTINFO}: {err}"))
            })?;
            self.usb.refresh();
        }
        let mut mounts = Vec::with_capacity(self.measured.len());
        for info in &self.measured {
            let figures = match super::unix::statvfs_figures(&info.mount_point) {
                Ok(figures) => figures,
                Err(err) => {
                    tracing::debug!(check = super::CHECK_NAME, error = %err, "filesystem not measured");
                    continue;
                }
            };
            let mount = Mount {
                mount_point: info.mount_point.clone(),
                device: info.source.clone(),
                filesystem: info.filesystem.clone(),
                total_bytes: figures.total_bytes(),
                available_bytes: figures.available_bytes(),
                removable: self.usb.contains(&info.source),
                read_only: info.super_read_only,
                mount_read_only: info.mount_read_only,
                filesystem_id: Some(info.device_number.clone()),
                whole_filesystem: info.root == "/",
                network: false,
            };
            mounts.push((mount, figures));
        }
        Ok(mounts)
    }

    /// Whether the kernel flagged the open table as changed since the last
    /// look (a failed `poll` counts as changed: the table is read again).
    fn changed(&self) -> bool {
        let Some(file) = &self.file else {
            return true;
        };
        let mut fds = [PollFd::new(file, PollFlags::PRI)];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        match poll(&mut fds, Some(&now)) {
            Ok(ready) => ready > 0 && fds[0].revents().intersects(PollFlags::PRI | PollFlags::ERR),
            Err(_) => true,
        }
    }

    fn read(&mut self) -> std::io::Result<()> {
        let file = match &mut self.file {
            Some(file) => {
                file.seek(SeekFrom::Start(0))?;
                file
            }
            None => self.file.insert(File::open(MOUNTINFO)?),
        };
        self.text.clear();
        file.read_to_string(&mut self.text)?;
        let (table, bad) = parse_mountinfo(&self.text);
        for line in bad {
            tracing::debug!(check = super::CHECK_NAME, %line, "skipped mountinfo line");
        }
        self.measured = measured(&table);
        Ok(())
    }
}

/// The devices behind `/dev/disk/by-id/usb-*` links, kept until the folder changes.
#[derive(Debug, Default)]
struct UsbDevices {
    /// The folder's stamp when listed; `None` inside: the folder is missing.
    listed: Option<Option<FileStamp>>,
    devices: Vec<PathBuf>,
}

impl UsbDevices {
    fn refresh(&mut self) {
        let stamp = FileStamp::read(Path::new(BY_ID));
        if self.listed == Some(stamp) {
            return;
        }
        self.listed = Some(stamp);
        self.devices = std::fs::read_dir(BY_ID)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|entry| entry.file_name().to_string_lossy().starts_with("usb-"))
                    .filter_map(|entry| entry.path().canonicalize().ok())
                    .collect()
            })
            .unwrap_or_default();
    }

    fn contains(&self, source: &str) -> bool {
        self.devices
            .iter()
            .any(|device| device.as_os_str() == source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_filesystem_is_measured_the_same_from_the_kept_table() {
        let mut table = MountTable::default();
        let first = table.measure().unwrap();
        let root = first
            .iter()
            .find(|(mount, _)| mount.mount_point == "/")
            .expect("/ is mounted");
        assert!(root.0.total_bytes > 0 && root.0.filesystem_id.is_some());
        let again = table.measure().unwrap();
        let points = |m: &[(Mount, StatvfsFigures)]| -> Vec<String> {
            m.iter()
                .map(|(mount, _)| mount.mount_point.clone())
                .collect()
        };
        assert_eq!(points(&first), points(&again));
    }
}
