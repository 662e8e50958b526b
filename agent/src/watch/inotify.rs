//! Linux file watching: inotify, read by the agent's own runtime (I/O only).
//!
//! Not notify's inotify watcher, for two reasons an idle agent showed:
//! - notify (8.x) asks every watch for `IN_OPEN` too, so every program that
//!   merely opened a file in a watched folder woke the agent: `apt-get`,
//!   `apt-cache`, `dpkg -l` and any other agent's package scan open files
//!   in `/var/lib/dpkg` and `/var/lib/apt/lists` by the dozen. The watches
//!   here ask only for changes (created, written, attributes, renamed,
//!   deleted), so reading a watched file wakes nothing.
//! - notify reads its events on a thread of its own per watcher. Here the
//!   inotify descriptor is registered with the tokio reactor the agent
//!   already waits in, and one task reads it: no extra thread, and between
//!   changes nothing in the agent runs.

use std::collections::BTreeMap;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use rustix::io::Errno;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::task::JoinHandle;
use tracing::warn;

use super::Handler;

/// What a watch reports: changes of what the watched folder (or file) holds,
/// never reads (`IN_OPEN`, `IN_ACCESS`, `IN_CLOSE_NOWRITE`).
const CHANGES: WatchFlags = WatchFlags::CREATE
    .union(WatchFlags::MODIFY)
    .union(WatchFlags::CLOSE_WRITE)
    .union(WatchFlags::ATTRIB)
    .union(WatchFlags::MOVED_FROM)
    .union(WatchFlags::MOVED_TO)
    .union(WatchFlags::DELETE)
    .union(WatchFlags::DELETE_SELF)
    .union(WatchFlags::MOVE_SELF);

/// One inotify instance and its watches; dropping it ends them.
#[derive(Debug)]
pub(super) struct Inotify {
    fd: Arc<AsyncFd<OwnedFd>>,
    /// The watch descriptor of each watched path.
    watches: BTreeMap<PathBuf, i32>,
    reader: JoinHandle<()>,
}

impl Inotify {
    /// An instance whose changes go to `handler`. Fails outside a tokio
    /// runtime, and when no instance is left (`fs.inotify.max_user_instances`).
    pub(super) fn new(handler: Handler) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Handle::try_current().map_err(std::io::Error::other)?;
        let _entered = runtime.enter();
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?;
        let fd = Arc::new(register(fd)?);
        let reader = runtime.spawn(read_events(Arc::clone(&fd), handler));
        Ok(Self {
            fd,
            watches: BTreeMap::new(),
            reader,
        })
    }

    /// Watches `path` (a folder: what it holds; a file: the file). `ENOSPC`
    /// means no watch is left (`fs.inotify.max_user_watches`).
    pub(super) fn watch(&mut self, path: &Path) -> std::io::Result<()> {
        let wd = inotify::add_watch(self.fd.get_ref(), path, CHANGES)?;
        self.watches.insert(path.to_path_buf(), wd);
        Ok(())
    }

    pub(super) fn unwatch(&mut self, path: &Path) {
        let Some(wd) = self.watches.remove(path) else {
            return;
        };
        // Two paths to one folder (a bind mount, a symlinked root) get one
        // watch from the kernel: keep it while the other path is watched.
        if self.watches.values().all(|other| *other != wd) {
            // A folder that was deleted has already lost its watch.
            let _ = inotify::remove_watch(self.fd.get_ref(), wd);
        }
    }
}

impl Drop for Inotify {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// `fd` registered with the current runtime's reactor, for reading.
#[allow(unsafe_code)]
fn register(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an `OwnedFd` is an open descriptor that it alone closes, and
    // its `as_raw_fd` is always that descriptor; the `AsyncFd` owns it.
    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(Into::into)
}

/// Reads events as the reactor says they are there; each batch holding a
/// change (anything but the kernel's notice that a watch ended) is one
/// call of the handler. A lost queue (`IN_Q_OVERFLOW`) counts as a change.
async fn read_events(fd: Arc<AsyncFd<OwnedFd>>, handler: Handler) {
    // Room for many events of the longest name at once.
    let mut buffer = [MaybeUninit::<u8>::uninit(); 4096];
    loop {
        let mut ready = match fd.readable().await {
            Ok(ready) => ready,
            Err(err) => {
                warn!(check = handler.check, error = %err, "file watch stopped; changes are seen at the next report");
                return;
            }
        };
        let mut changed = false;
        let mut events = inotify::Reader::new(fd.get_ref(), &mut buffer);
        let outcome = loop {
            match events.next() {
                Ok(event) => changed |= event.events() != ReadFlags::IGNORED,
                Err(Errno::WOULDBLOCK) => break Ok(()),
                Err(Errno::INTR) => {}
                Err(err) => break Err(err),
            }
        };
        if changed {
            handler.saw_change();
        }
        match outcome {
            Ok(()) => ready.clear_ready(),
            Err(err) => {
                handler.saw_change();
                warn!(check = handler.check, error = %err, "file watch stopped; changes are seen at the next report");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::trigger::ReportTrigger;

    /// Whether an event waits on `watcher`'s descriptor (read without the reader task,
    /// which cannot run while the test does not await).
    fn queued(watcher: &Inotify) -> bool {
        let mut buffer = [MaybeUninit::<u8>::uninit(); 4096];
        match inotify::Reader::new(watcher.fd.get_ref(), &mut buffer).next() {
            Ok(_) => true,
            Err(Errno::WOULDBLOCK) => false,
            Err(err) => panic!("{err}"),
        }
    }

    #[tokio::test]
    async fn reading_a_watched_folder_queues_no_event_and_writing_it_does() {
        let dir = tempfile::tempdir().unwrap();
        let status = dir.path().join("status");
        std::fs::write(&status, b"Package: bash\n").unwrap();
        let handler = Handler {
            trigger: ReportTrigger::default(),
            changed: Arc::new(AtomicBool::new(false)),
            check: "test",
        };
        let mut watcher = Inotify::new(handler).unwrap();
        watcher.watch(dir.path()).unwrap();
        std::fs::read(&status).unwrap();
        std::fs::read_dir(dir.path()).unwrap().for_each(drop);
        assert!(!queued(&watcher), "an open or a read was reported");
        std::fs::write(&status, b"Package: zsh\n").unwrap();
        assert!(queued(&watcher), "the write was not reported");
    }
}
