//! Windows drive letters (I/O only): what kind each drive is, and mapped
//! network drives, which `sysinfo` does not list.
// The volume API is a C API: calling it needs `unsafe`, kept to this file.
#![allow(unsafe_code)]

use windows_sys::Win32::Storage::FileSystem::{
    GetDiskFreeSpaceExW, GetDriveTypeW, GetLogicalDrives,
};

use super::filter::Mount;
use super::parse::{DriveKind, drive_kind, drive_root};

fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(std::iter::once(0)).collect()
}

/// The kind of drive `mount_point` is on; `None` for mount points that are
/// not drive letters (volumes mounted in folders are left as they are).
pub fn kind_of(mount_point: &str) -> Option<DriveKind> {
    let root = wide(&drive_root(mount_point)?);
    // SAFETY: `root` is a NUL-terminated UTF-16 string alive for the call.
    Some(drive_kind(unsafe { GetDriveTypeW(root.as_ptr()) }))
}

/// Mapped network drives by letter, with their size and free space.
pub fn network_drives() -> Vec<Mount> {
    // SAFETY: no arguments; returns a bitmask of existing drive letters.
    let letters = unsafe { GetLogicalDrives() };
    (0..26u8)
        .filter(|bit| letters & (1 << bit) != 0)
        .map(|bit| format!("{}:\\", char::from(b'A' + bit)))
        .filter(|root| kind_of(root) == Some(DriveKind::Network))
        .filter_map(|root| {
            let path = wide(&root);
            let (mut available, mut total, mut free) = (0u64, 0u64, 0u64);
            // SAFETY: `path` is NUL-terminated; the three out-pointers are valid u64s.
            let ok = unsafe {
                GetDiskFreeSpaceExW(path.as_ptr(), &mut available, &mut total, &mut free)
            };
            // A disconnected mapping fails here; it has no figures to report.
            (ok != 0).then(|| Mount {
                mount_point: root,
                device: String::new(),
                filesystem: String::new(),
                total_bytes: total,
                available_bytes: available,
                removable: false,
                read_only: false,
                mount_read_only: false,
                filesystem_id: None,
                whole_filesystem: true,
                network: true,
            })
        })
        .collect()
}
