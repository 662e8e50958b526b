//! Watching paths for changes, with a polling fallback.
//!
//! Native notifications (inotify, FSEvents, ReadDirectoryChangesW) are used
//! where they work. Where they do not (network filesystems, exhausted inotify
//! watches), the watcher falls back to polling and says so in the log, so a
//! change is still seen within the poll interval.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{Event, EventKind, PollWatcher, RecommendedWatcher, RecursiveMode, Watcher};
use tracing::{debug, warn};

use crate::trigger::ReportTrigger;

/// How often the fallback polls.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Keeps the underlying watcher alive; dropping it stops watching.
#[derive(Debug)]
pub enum PathWatcher {
    Native(RecommendedWatcher),
    Polling(PollWatcher),
}

/// Fires `trigger` when anything under `paths` is created, modified or removed.
///
/// Paths that do not exist yet are watched through their parent directory, so
/// a file that appears later is noticed. `recursive` applies to directories.
pub fn watch_paths(
    paths: &[PathBuf],
    recursive: bool,
    trigger: ReportTrigger,
    check: &'static str,
) -> Option<PathWatcher> {
    if paths.is_empty() {
        return None;
    }
    let targets: Vec<PathBuf> = paths.iter().map(|p| watch_target(p)).collect();
    let mode = if recursive {
        RecursiveMode::Recursive
    } else {
        RecursiveMode::NonRecursive
    };
    let handler = {
        let trigger = trigger.clone();
        move |event: notify::Result<Event>| {
            if let Ok(event) = event
                && matches!(
                    event.kind,
                    EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
                )
            {
                debug!(check, paths = ?event.paths, "watched path changed");
                trigger.fire();
            }
        }
    };
    let native = notify::recommended_watcher(handler.clone()).and_then(|mut watcher| {
        for target in &targets {
            watcher.watch(target, mode)?;
        }
        Ok(watcher)
    });
    match native {
        Ok(watcher) => Some(PathWatcher::Native(watcher)),
        Err(err) => {
            warn!(check, error = %err, interval_secs = POLL_INTERVAL.as_secs(), "file watching unavailable; polling instead");
            let config = notify::Config::default()
                .with_poll_interval(POLL_INTERVAL)
                .with_compare_contents(false);
            let polling = PollWatcher::new(handler, config).and_then(|mut watcher| {
                for target in &targets {
                    watcher.watch(target, mode)?;
                }
                Ok(watcher)
            });
            match polling {
                Ok(watcher) => Some(PathWatcher::Polling(watcher)),
                Err(err) => {
                    warn!(check, error = %err, "cannot poll watched paths; changes are seen at the next interval");
                    None
                }
            }
        }
    }
}

/// The path itself if it exists, else its nearest existing ancestor.
fn watch_target(path: &Path) -> PathBuf {
    path.ancestors()
        .find(|p| p.exists())
        .unwrap_or(path)
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn missing_path_is_watched_through_its_parent() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(watch_target(&dir.path().join("a/b/c.pem")), dir.path());
    }
}
