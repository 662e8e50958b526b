//! Watching configured paths for changes, bounded, with a polling fallback.
//!
//! Native notifications are used where they work: inotify on Linux
//! (`inotify.rs`: changes only, read by the agent's own runtime, so an idle
//! agent is woken by nothing), FSEvents and ReadDirectoryChangesW elsewhere
//! (through notify). Where they do not (no inotify instance or watch left:
//! `fs.inotify.max_user_instances` / `max_user_watches`), the watcher polls
//! instead, every [`POLL_INTERVAL`] (rare: polling is work an idle agent
//! should not do), says so in the log once per run, and tries the native
//! way again every [`NATIVE_RETRY`].
//!
//! What is watched is bounded, because a mistyped path must never make the
//! agent watch (or poll) a whole machine:
//! - a configured path that exists is watched itself; a folder also has its
//!   subfolders watched when asked, to a depth, never across a filesystem
//!   boundary (no `/proc`, no network mounts below a local folder), never
//!   through symlinked folders, and at most [`MAX_WATCHED_DIRS`] folders;
//! - a configured path that does not exist is watched through its parent
//!   folder only (flat), so a file that appears later is noticed; when the
//!   parent is missing too nothing is watched, never an ancestor further up;
//! - every watch is a flat one that the agent adds itself, so adding them
//!   costs one call per folder and never walks a tree it did not choose.
//!
//! [`PathWatcher::refresh`] re-resolves the paths (cheap: one `stat` per
//! folder): paths created since are watched from then on. The checks call
//! it at each collection, so a folder created later is covered by the next
//! report, and a change inside a watched folder (which triggers a report)
//! brings its new subfolders in.

#[cfg(target_os = "linux")]
mod inotify;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[cfg(not(target_os = "linux"))]
use notify::RecommendedWatcher;
use notify::{Event, EventKind, PollWatcher, RecursiveMode, Watcher};
use tracing::{debug, info, warn};

use crate::trigger::ReportTrigger;

/// How often the fallback polls. Rare on purpose: each poll lists every
/// watched folder, and a change is also seen at the next report anyway.
pub const POLL_INTERVAL: Duration = Duration::from_secs(60);
/// How often a polling watcher tries native notifications again (they run
/// out while other programs hold them, and come back when those end).
pub const NATIVE_RETRY: Duration = Duration::from_secs(600);
/// Most folders one watcher covers; a bigger tree is watched in part and
/// the rest is seen at the next report interval.
pub const MAX_WATCHED_DIRS: usize = 1024;
/// Depth below a configured folder that `watch_paths(.., recursive = true, ..)` covers.
pub const DEFAULT_WATCH_DEPTH: usize = 8;

/// Whether this process has said that it polls: once per run is enough.
static POLLING_LOGGED: AtomicBool = AtomicBool::new(false);

/// The native notification mechanism of this OS.
#[cfg(target_os = "linux")]
type Native = inotify::Inotify;
#[cfg(not(target_os = "linux"))]
type Native = RecommendedWatcher;

/// A native watcher sending its changes to `handler`.
fn native(handler: &Handler) -> Result<Native, String> {
    #[cfg(target_os = "linux")]
    let native = inotify::Inotify::new(handler.clone()).map_err(|err| err.to_string());
    #[cfg(not(target_os = "linux"))]
    let native = notify::recommended_watcher(handler.clone()).map_err(|err| err.to_string());
    native
}

/// Why a path is not watched.
#[derive(Debug)]
enum WatchError {
    /// The OS has no watch left for this user: polling can still cover it.
    OutOfWatches(String),
    Other(String),
}

/// The notification mechanism in use.
#[derive(Debug)]
enum Backend {
    Native(Native),
    /// Polling, since when (to try native notifications again later).
    Polling(PollWatcher, Instant),
}

impl Backend {
    fn watch(&mut self, path: &Path) -> Result<(), WatchError> {
        match self {
            #[cfg(target_os = "linux")]
            Self::Native(watcher) => watcher.watch(path).map_err(|err| {
                if err.raw_os_error() == Some(rustix::io::Errno::NOSPC.raw_os_error()) {
                    WatchError::OutOfWatches(err.to_string())
                } else {
                    WatchError::Other(err.to_string())
                }
            }),
            #[cfg(not(target_os = "linux"))]
            Self::Native(watcher) => watcher
                .watch(path, RecursiveMode::NonRecursive)
                .map_err(notify_error),
            Self::Polling(watcher, _) => watcher
                .watch(path, RecursiveMode::NonRecursive)
                .map_err(notify_error),
        }
    }

    fn unwatch(&mut self, path: &Path) {
        // A folder that was deleted has already lost its watch; nothing to undo.
        match self {
            #[cfg(target_os = "linux")]
            Self::Native(watcher) => watcher.unwatch(path),
            #[cfg(not(target_os = "linux"))]
            Self::Native(watcher) => {
                let _ = watcher.unwatch(path);
            }
            Self::Polling(watcher, _) => {
                let _ = watcher.unwatch(path);
            }
        }
    }
}

fn notify_error(err: notify::Error) -> WatchError {
    let out_of_watches = matches!(err.kind, notify::ErrorKind::MaxFilesWatch)
        || matches!(&err.kind, notify::ErrorKind::Io(io) if io.raw_os_error() == Some(28));
    if out_of_watches {
        WatchError::OutOfWatches(err.to_string())
    } else {
        WatchError::Other(err.to_string())
    }
}

/// Keeps the watches alive; dropping it stops watching.
#[derive(Debug)]
pub struct PathWatcher {
    backend: Backend,
    handler: Handler,
    roots: Vec<PathBuf>,
    depth: usize,
    /// Watched paths with the identity (device, inode) they had when added,
    /// so a folder deleted and made again is watched again.
    watched: BTreeMap<PathBuf, Option<(u64, u64)>>,
    /// Every configured path is covered: it is watched, or (missing) its
    /// parent folder is, and the folder cap was not reached.
    covers_all: bool,
    check: &'static str,
}

/// Fires the trigger on creation, change or removal, and remembers that
/// something changed.
#[derive(Debug, Clone)]
struct Handler {
    trigger: ReportTrigger,
    changed: Arc<AtomicBool>,
    check: &'static str,
}

impl Handler {
    fn saw_change(&self) {
        self.changed.store(true, Ordering::SeqCst);
        self.trigger.fire();
    }
}

/// What polling (and notify's native watchers off Linux) report.
impl notify::EventHandler for Handler {
    fn handle_event(&mut self, event: notify::Result<Event>) {
        if let Ok(event) = event
            && matches!(
                event.kind,
                EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
            )
        {
            debug!(check = self.check, paths = ?event.paths, "watched path changed");
            self.saw_change();
        }
    }
}

/// Fires `trigger` when anything at `paths` is created, modified or removed;
/// `recursive` covers subfolders to [`DEFAULT_WATCH_DEPTH`] levels.
pub fn watch_paths(
    paths: &[PathBuf],
    recursive: bool,
    trigger: ReportTrigger,
    check: &'static str,
) -> Option<PathWatcher> {
    let depth = if recursive { DEFAULT_WATCH_DEPTH } else { 0 };
    watch_to_depth(paths, depth, trigger, check)
}

/// Fires `trigger` when anything at `paths`, or in their subfolders up to
/// `depth` levels down, is created, modified or removed. On Linux the
/// watch runs on the caller's tokio runtime; without one nothing is
/// watched (`None`), and changes are seen at the next report.
pub fn watch_to_depth(
    paths: &[PathBuf],
    depth: usize,
    trigger: ReportTrigger,
    check: &'static str,
) -> Option<PathWatcher> {
    if paths.is_empty() {
        return None;
    }
    #[cfg(target_os = "linux")]
    if tokio::runtime::Handle::try_current().is_err() {
        debug!(check, "no async runtime: paths not watched");
        return None;
    }
    let handler = Handler {
        trigger,
        changed: Arc::new(AtomicBool::new(false)),
        check,
    };
    let backend = match native(&handler) {
        Ok(watcher) => Backend::Native(watcher),
        Err(err) => polling(&handler, &err)?,
    };
    let mut watcher = PathWatcher {
        backend,
        handler,
        roots: paths.to_vec(),
        depth,
        watched: BTreeMap::new(),
        covers_all: false,
        check,
    };
    watcher.refresh();
    Some(watcher)
}

/// The fallback when native notifications fail with `reason`; said at
/// WARN the first time in this run only (a busy machine may make every
/// watcher fall back, and a log line per watcher and retry says nothing new).
fn polling(handler: &Handler, reason: &str) -> Option<Backend> {
    let check = handler.check;
    if POLLING_LOGGED.swap(true, Ordering::SeqCst) {
        debug!(check, error = %reason, "file watching unavailable; polling instead");
    } else {
        warn!(
            check,
            error = %reason,
            interval_secs = POLL_INTERVAL.as_secs(),
            retry_native_secs = NATIVE_RETRY.as_secs(),
            "file watching unavailable (no inotify instance or watch left?); polling instead. \
             Raise fs.inotify.max_user_instances / max_user_watches to have changes seen at once"
        );
    }
    let config = notify::Config::default()
        .with_poll_interval(POLL_INTERVAL)
        .with_compare_contents(false);
    PollWatcher::new(handler.clone(), config)
        .map(|watcher| Backend::Polling(watcher, Instant::now()))
        .map_err(|err| warn!(check, error = %err, "cannot poll watched paths; changes are seen at the next interval"))
        .ok()
}

impl PathWatcher {
    /// Watches what the configured paths resolve to now: new folders are
    /// added, folders gone (or replaced) are dropped (or watched again).
    /// A watcher that has polled for [`NATIVE_RETRY`] tries native
    /// notifications again first.
    pub fn refresh(&mut self) {
        if let Backend::Polling(_, since) = &mut self.backend
            && since.elapsed() >= NATIVE_RETRY
        {
            match native(&self.handler) {
                Ok(native) => {
                    info!(
                        check = self.check,
                        "file watching available again; polling ends"
                    );
                    self.backend = Backend::Native(native);
                    self.watched.clear();
                }
                Err(err) => {
                    debug!(check = self.check, error = %err, "file watching still unavailable");
                    *since = Instant::now();
                }
            }
        }
        self.apply_targets();
    }

    fn apply_targets(&mut self) {
        let targets = watch_targets(&self.roots, self.depth, MAX_WATCHED_DIRS);
        self.covers_all = targets.len() < MAX_WATCHED_DIRS
            && self.roots.iter().all(|root| {
                targets.contains_key(root)
                    || root
                        .parent()
                        .is_some_and(|parent| targets.contains_key(parent))
            });
        let stale: Vec<PathBuf> = self
            .watched
            .iter()
            .filter(|(path, identity)| targets.get(*path) != Some(*identity))
            .map(|(path, _)| path.clone())
            .collect();
        for path in stale {
            self.backend.unwatch(&path);
            self.watched.remove(&path);
        }
        for (path, identity) in targets {
            if self.watched.contains_key(&path) {
                continue;
            }
            match self.backend.watch(&path) {
                Ok(()) => {
                    self.watched.insert(path, identity);
                }
                Err(WatchError::OutOfWatches(err))
                    if matches!(self.backend, Backend::Native(_)) =>
                {
                    let Some(polling) = polling(&self.handler, &err) else {
                        self.covers_all = false;
                        return;
                    };
                    self.backend = polling;
                    self.watched.clear();
                    return self.apply_targets();
                }
                Err(WatchError::OutOfWatches(err) | WatchError::Other(err)) => {
                    self.covers_all = false;
                    debug!(check = self.check, path = %path.display(), error = %err, "cannot watch path");
                }
            }
        }
    }

    /// Whether nothing was reported changed since the last call, while
    /// every configured path was covered: what the paths hold is then what
    /// it was, except behind symlinks to elsewhere (never watched).
    pub fn quiet_since_last_look(&self) -> bool {
        let changed = self.handler.changed.swap(false, Ordering::SeqCst);
        !changed && self.covers_all
    }

    /// The paths watched now.
    pub fn watched(&self) -> impl Iterator<Item = &Path> {
        self.watched.keys().map(PathBuf::as_path)
    }
}

/// What to watch for `roots`: each existing root, its subfolders to `depth`
/// on the same filesystem, or the parent folder of a missing root; at most
/// `limit` paths, each with its identity.
fn watch_targets(
    roots: &[PathBuf],
    depth: usize,
    limit: usize,
) -> BTreeMap<PathBuf, Option<(u64, u64)>> {
    let mut targets = BTreeMap::new();
    for root in roots {
        if targets.len() >= limit {
            break;
        }
        match std::fs::metadata(root) {
            Ok(metadata) => {
                targets.insert(root.clone(), identity(&metadata));
                if metadata.is_dir() && depth > 0 {
                    add_subfolders(root, device(&metadata), depth, limit, &mut targets);
                }
            }
            Err(_) => {
                let parent = root.parent().filter(|p| !p.as_os_str().is_empty());
                if let Some(parent) = parent
                    && let Ok(metadata) = std::fs::metadata(parent)
                    && metadata.is_dir()
                {
                    targets.insert(parent.to_path_buf(), identity(&metadata));
                }
            }
        }
    }
    targets
}

/// Adds the real (not symlinked) subfolders of `root` on `root_device`,
/// breadth first, so a cap keeps the folders nearest the root.
fn add_subfolders(
    root: &Path,
    root_device: Option<u64>,
    depth: usize,
    limit: usize,
    targets: &mut BTreeMap<PathBuf, Option<(u64, u64)>>,
) {
    let mut level = vec![root.to_path_buf()];
    for _ in 0..depth {
        let mut next = Vec::new();
        for folder in &level {
            let Ok(entries) = std::fs::read_dir(folder) else {
                continue;
            };
            let mut children: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
                .map(|entry| entry.path())
                .collect();
            children.sort();
            for child in children {
                if targets.len() >= limit {
                    return;
                }
                let Ok(metadata) = std::fs::symlink_metadata(&child) else {
                    continue;
                };
                if device(&metadata) != root_device {
                    debug!(path = %child.display(), "not watched: another filesystem");
                    continue;
                }
                targets.insert(child.clone(), identity(&metadata));
                next.push(child);
            }
        }
        if next.is_empty() {
            return;
        }
        level = next;
    }
}

#[cfg(unix)]
fn identity(metadata: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((metadata.dev(), metadata.ino()))
}

/// Windows: no stable (device, inode) pair without opening the folder.
#[cfg(not(unix))]
fn identity(_metadata: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

fn device(metadata: &std::fs::Metadata) -> Option<u64> {
    identity(metadata).map(|(dev, _)| dev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_change_ends_the_quiet_and_a_missing_grandparent_never_is_quiet() {
        let dir = tempfile::tempdir().unwrap();
        let trigger = ReportTrigger::default();
        let watcher = watch_to_depth(&[dir.path().into()], 2, trigger.clone(), "test").unwrap();
        assert!(watcher.quiet_since_last_look());
        std::fs::write(dir.path().join("new.pem"), b"x").unwrap();
        tokio::time::timeout(Duration::from_secs(5), trigger.fired())
            .await
            .expect("the write is seen");
        assert!(
            !watcher.quiet_since_last_look(),
            "changed since the last look"
        );
        assert!(watcher.quiet_since_last_look(), "nothing since");

        let unwatchable = dir.path().join("no/such/folder");
        let watcher = watch_to_depth(&[unwatchable], 2, trigger, "test").unwrap();
        assert!(
            !watcher.quiet_since_last_look(),
            "nothing can tell it appeared"
        );
    }

    #[tokio::test]
    async fn reading_a_watched_folder_wakes_nothing_and_writing_it_does() {
        let dir = tempfile::tempdir().unwrap();
        let status = dir.path().join("status");
        std::fs::write(&status, b"Package: bash\n").unwrap();
        let trigger = ReportTrigger::default();
        let watcher = watch_to_depth(&[dir.path().into()], 0, trigger.clone(), "test").unwrap();
        // What `apt-get` and `dpkg -l` do to /var/lib/dpkg all day.
        for _ in 0..20 {
            std::fs::read(&status).unwrap();
            std::fs::read_dir(dir.path()).unwrap().for_each(drop);
        }
        let woken = tokio::time::timeout(Duration::from_millis(500), trigger.fired()).await;
        assert!(woken.is_err(), "reads fired the trigger");
        assert!(watcher.quiet_since_last_look());
        std::fs::write(&status, b"Package: bash\nStatus: install ok installed\n").unwrap();
        tokio::time::timeout(Duration::from_secs(5), trigger.fired())
            .await
            .expect("the write is seen");
        assert!(!watcher.quiet_since_last_look());
    }

    #[tokio::test]
    async fn a_polling_watcher_goes_back_to_native_notifications() {
        let dir = tempfile::tempdir().unwrap();
        let trigger = ReportTrigger::default();
        let mut watcher = watch_to_depth(&[dir.path().into()], 0, trigger.clone(), "test").unwrap();
        let Some(Backend::Polling(polling, _)) = polling(&watcher.handler, "test") else {
            panic!("no polling watcher");
        };
        let long_ago = Instant::now().checked_sub(NATIVE_RETRY).unwrap();
        watcher.backend = Backend::Polling(polling, long_ago);
        watcher.watched.clear();
        watcher.refresh();
        assert!(matches!(watcher.backend, Backend::Native(_)));
        assert_eq!(watcher.watched().collect::<Vec<_>>(), [dir.path()]);
        std::fs::write(dir.path().join("new.pem"), b"x").unwrap();
        tokio::time::timeout(Duration::from_secs(5), trigger.fired())
            .await
            .expect("seen at once, not at the next poll");
    }

    #[tokio::test]
    async fn writing_a_watched_file_fires_the_trigger() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("status.json");
        let trigger = ReportTrigger::default();
        let _watcher =
            watch_paths(std::slice::from_ref(&file), false, trigger.clone(), "test").unwrap();
        std::fs::write(&file, b"{}").unwrap();
        tokio::time::timeout(Duration::from_secs(5), trigger.fired())
            .await
            .expect("trigger fired within 5 s");
    }

    #[test]
    fn missing_path_is_watched_through_its_parent_only() {
        let dir = tempfile::tempdir().unwrap();
        let targets = watch_targets(&[dir.path().join("c.pem")], 8, 100);
        assert_eq!(targets.keys().collect::<Vec<_>>(), [dir.path()]);
        // Two levels missing: never the nearest existing ancestor.
        let targets = watch_targets(&[dir.path().join("a/b/c.pem")], 8, 100);
        assert!(targets.is_empty(), "{targets:?}");
        let targets = watch_targets(&[PathBuf::from("/forewarn-missing/certs")], 8, 100);
        assert!(targets.is_empty(), "{targets:?}");
    }

    #[test]
    fn subfolders_are_watched_to_the_depth_and_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b/c")).unwrap();
        std::fs::create_dir_all(dir.path().join("x")).unwrap();
        std::os::unix::fs::symlink("/", dir.path().join("root-link")).unwrap();
        let root = dir.path().to_path_buf();
        let names = |targets: BTreeMap<PathBuf, Option<(u64, u64)>>| -> Vec<String> {
            targets
                .keys()
                .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
                .collect()
        };
        let all = names(watch_targets(std::slice::from_ref(&root), 8, 100));
        assert_eq!(all, ["", "a", "a/b", "a/b/c", "x"]);
        let two_levels = names(watch_targets(std::slice::from_ref(&root), 2, 100));
        assert_eq!(two_levels, ["", "a", "a/b", "x"]);
        let flat = names(watch_targets(std::slice::from_ref(&root), 0, 100));
        assert_eq!(flat, [""]);
        // Breadth first: the cap keeps the folders nearest the root.
        let capped = names(watch_targets(std::slice::from_ref(&root), 8, 3));
        assert_eq!(capped, ["", "a", "x"]);
    }

    #[test]
    fn subfolders_on_another_filesystem_are_not_watched() {
        // /proc is its own filesystem below /; a walk from / must not enter it.
        let targets = watch_targets(&[PathBuf::from("/")], 1, MAX_WATCHED_DIRS);
        assert!(targets.contains_key(Path::new("/")));
        assert!(!targets.contains_key(Path::new("/proc")), "{targets:?}");
        assert!(!targets.contains_key(Path::new("/sys")), "{targets:?}");
    }

    #[tokio::test]
    async fn folder_created_later_is_watched_after_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("later/tls");
        let trigger = ReportTrigger::default();
        let mut watcher =
            watch_to_depth(std::slice::from_ref(&folder), 4, trigger.clone(), "test").unwrap();
        assert_eq!(watcher.watched().count(), 0);
        std::fs::create_dir_all(&folder).unwrap();
        watcher.refresh();
        assert_eq!(watcher.watched().collect::<Vec<_>>(), [folder.as_path()]);
        std::fs::write(folder.join("site.pem"), b"x").unwrap();
        tokio::time::timeout(Duration::from_secs(5), trigger.fired())
            .await
            .expect("trigger fired within 5 s");
    }
}
