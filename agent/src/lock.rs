//! One `run` per state directory.
//!
//! Two agents sharing a state directory would interleave sequence numbers and
//! race on the spool, so `run` takes an exclusive OS file lock on
//! `<state_dir>/agent.lock` and holds it until it exits. The OS drops the lock
//! when the process dies, so a crash never leaves a stale lock behind. The file
//! also holds the holder's process id, only to make the refusal message useful.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside the state directory.
pub const LOCK_FILE: &str = "agent.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another forewarn-agent (process {pid}) is already running with state directory {dir}; \
         stop it first (the service: `forewarn-agent status` shows it), or give this one its own --state-dir"
    )]
    Held { dir: PathBuf, pid: String },
    #[error("cannot lock {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Held for as long as this value lives.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

impl InstanceLock {
    /// Takes the lock for `state_dir` (which must exist), or says who holds it.
    pub fn acquire(state_dir: &Path) -> Result<Self, LockError> {
        let path = state_dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    dir: state_dir.to_path_buf(),
                    pid: holder_pid(&path),
                });
            }
            Err(TryLockError::Error(source)) => return Err(io(source)),
        }
        // The pid only makes a refusal message better: a full disk must not stop the agent.
        let _ = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(std::process::id().to_string().as_bytes()));
        Ok(Self { _file: file })
    }

    /// True when some process holds the lock for `state_dir` (a `run` is active).
    pub fn is_held(state_dir: &Path) -> bool {
        let Ok(file) = File::open(state_dir.join(LOCK_FILE)) else {
            return false;
        };
        matches!(file.try_lock_shared(), Err(TryLockError::WouldBlock))
    }
}

/// The pid written by the holder; "unknown" when it cannot be read (Windows
/// refuses reads of a range another process has locked; a full disk kept it from being written).
fn holder_pid(path: &Path) -> String {
    let mut text = String::new();
    match File::open(path).and_then(|mut file| file.read_to_string(&mut text)) {
        Ok(_) if !text.trim().is_empty() => text.trim().to_owned(),
        _ => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_the_same_directory_is_refused_with_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = InstanceLock::acquire(dir.path()).unwrap();
        assert!(InstanceLock::is_held(dir.path()));
        let err = InstanceLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(&std::process::id().to_string()) && err.contains("already running"),
            "{err}"
        );
        drop(first);
        assert!(!InstanceLock::is_held(dir.path()));
        InstanceLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn a_different_directory_is_independent() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let _held = InstanceLock::acquire(a.path()).unwrap();
        InstanceLock::acquire(b.path()).unwrap();
    }
}
