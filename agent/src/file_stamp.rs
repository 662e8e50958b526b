//! A file's identity as the OS keeps it, to tell "changed" from "unchanged"
//! without reading the file: checks that parse files (certificates, dpkg's
//! log) parse them again only when the stamp moves.

use std::fs::Metadata;
use std::time::SystemTime;

/// Size, modification and change times, and inode/device (or the Windows
/// creation time). Any write changes the change time (`ctime`) on Unix even
/// when size and mtime are kept, and a replaced file gets a new inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    changed: (i64, i64),
    #[cfg(unix)]
    inode: (u64, u64),
    #[cfg(not(unix))]
    created: Option<SystemTime>,
}

impl FileStamp {
    pub fn of(metadata: &Metadata) -> Self {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        Self {
            len: metadata.len(),
            modified: metadata.modified().ok(),
            #[cfg(unix)]
            changed: (metadata.ctime(), metadata.ctime_nsec()),
            #[cfg(unix)]
            inode: (metadata.dev(), metadata.ino()),
            #[cfg(not(unix))]
            created: metadata.created().ok(),
        }
    }

    /// The stamp of the file at `path` (symlinks followed), None when it cannot be read.
    pub fn read(path: &std::path::Path) -> Option<Self> {
        std::fs::metadata(path).ok().map(|m| Self::of(&m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewrite_of_the_same_size_moves_the_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.pem");
        std::fs::write(&path, b"first").unwrap();
        let before = FileStamp::read(&path).unwrap();
        assert_eq!(FileStamp::read(&path), Some(before));
        // Same size, and even the same mtime put back: still seen as changed.
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, b"other").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        assert_ne!(FileStamp::read(&path), Some(before));
        assert_eq!(FileStamp::read(&dir.path().join("missing")), None);
    }
}
