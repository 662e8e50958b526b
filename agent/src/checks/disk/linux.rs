//! Linux mount table (I/O only): `/proc/self/mountinfo` refines what sysinfo
//! lists with each filesystem's identity and its own read-only flag.

use super::filter::Mount;
use super::mountinfo::{parse_mountinfo, visible_at};
use crate::checks::CheckError;

/// Where the mount table of this process's namespace is read.
pub const MOUNTINFO: &str = "/proc/self/mountinfo";

/// Sets identity, whole-filesystem and both read-only flags of every mount
/// from mountinfo; mounts it does not list keep sysinfo's flags.
pub fn apply_mountinfo(mounts: &mut [Mount]) -> Result<(), CheckError> {
    let text = std::fs::read_to_string(MOUNTINFO)
        .map_err(|err| CheckError::Failed(format!("cannot read {MOUNTINFO}: {err}")))?;
    let (table, bad) = parse_mountinfo(&text);
    for line in bad {
        tracing::debug!(check = super::CHECK_NAME, %line, "skipped mountinfo line");
    }
    for mount in mounts {
        if let Some(info) = visible_at(&table, &mount.mount_point) {
            mount.filesystem_id = Some(info.device_number.clone());
            mount.whole_filesystem = info.root == "/";
            mount.mount_read_only = info.mount_read_only;
            mount.read_only = info.super_read_only;
        }
    }
    Ok(())
}
