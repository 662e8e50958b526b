//! What the backup check keeps across agent restarts, in
//! `<state_dir>/backups.json`: per job, the newest success the agent saw and
//! the last restore verification (when it was tried, when it last passed,
//! why it last failed).
//!
//! Some sources cannot tell a past success again: a touch file that was
//! deleted, a systemd unit that failed since, a Time Machine disk that is
//! unplugged. Without this file a restart would turn "last success two days
//! ago" into "never". A job keeps its entry only under the same name and
//! kind. The file is replaced atomically; a damaged or unreadable file is
//! ignored with a warning and rewritten, never fatal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use forewarn_proto::limits::MAX_FUTURE_SKEW_SECS;
use serde::{Deserialize, Serialize};
use tracing::warn;

use super::CHECK_NAME;
use crate::state::write_atomically;

/// The state of every job, by job name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SavedState {
    #[serde(default)]
    pub jobs: BTreeMap<String, SavedJob>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SavedJob {
    /// The job's kind when this was saved; an entry of another kind is ignored.
    pub kind: String,
    #[serde(default)]
    pub last_success_unix_secs: Option<i64>,
    #[serde(default)]
    pub restore_attempted_unix_secs: Option<i64>,
    #[serde(default)]
    pub restore_verified_unix_secs: Option<i64>,
    #[serde(default)]
    pub restore_verification_error: String,
}

/// Where the state lives, and what was last written there.
#[derive(Debug)]
pub(super) struct StateFile {
    path: PathBuf,
    written: SavedState,
}

impl StateFile {
    /// Opens `path`; a missing file is an empty state, a damaged one is ignored with a warning.
    pub fn open(path: PathBuf) -> (Self, SavedState) {
        let state = load(&path);
        let file = Self {
            path,
            written: state.clone(),
        };
        (file, state)
    }

    /// Writes `state` if it differs from what was last written. The state
    /// directory is the agent's; it is not created here, so a one-off check
    /// on a device that was never enrolled leaves no files behind.
    pub fn save(&mut self, state: &SavedState) {
        if *state == self.written {
            return;
        }
        if !self.path.parent().is_some_and(Path::is_dir) {
            return;
        }
        let text = match serde_json::to_vec_pretty(state) {
            Ok(text) => text,
            Err(err) => {
                warn!(check = CHECK_NAME, error = %err, "cannot encode the backup state");
                return;
            }
        };
        match write_atomically(&self.path, &text) {
            Ok(()) => self.written = state.clone(),
            Err(err) => {
                warn!(check = CHECK_NAME, error = %err, "cannot save the backup state; it lives in memory until the next try")
            }
        }
    }
}

/// A success time the collector would refuse (past the allowed clock skew in
/// the future, or before 1970) is never remembered: it would outrank every
/// real success and come back after each restart, even once the status file
/// is fixed. Such a probe is still sent as it is, so the collector records an
/// item error naming it.
pub(super) fn plausible(value: Option<i64>, now: i64) -> Option<i64> {
    value.filter(|t| (0..=now + MAX_FUTURE_SKEW_SECS).contains(t))
}

fn load(path: &Path) -> SavedState {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return SavedState::default(),
        Err(err) => {
            warn!(check = CHECK_NAME, path = %path.display(), error = %err, "cannot read the saved backup state; starting without it");
            return SavedState::default();
        }
    };
    serde_json::from_slice(&bytes).unwrap_or_else(|err| {
        warn!(check = CHECK_NAME, path = %path.display(), error = %err, "saved backup state is damaged; ignoring it");
        SavedState::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_is_written_only_when_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backups.json");
        let (mut file, state) = StateFile::open(path.clone());
        assert_eq!(state, SavedState::default());
        let mut state = SavedState::default();
        state.jobs.insert(
            "nightly".into(),
            SavedJob {
                kind: "touch-file".into(),
                last_success_unix_secs: Some(1_795_309_440),
                ..Default::default()
            },
        );
        file.save(&state);
        let (_, reread) = StateFile::open(path.clone());
        assert_eq!(reread, state);
        std::fs::remove_file(&path).unwrap();
        file.save(&state);
        assert!(!path.exists(), "an unchanged state was written again");
    }

    #[test]
    fn success_times_in_the_future_or_before_1970_are_not_plausible() {
        let now = 1_790_000_000;
        assert_eq!(plausible(Some(now - 60), now), Some(now - 60));
        assert_eq!(plausible(Some(now + 60), now), Some(now + 60));
        assert_eq!(plausible(Some(now + 86_400), now), None);
        assert_eq!(plausible(Some(-1), now), None);
        assert_eq!(plausible(None, now), None);
    }

    #[test]
    fn damaged_state_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backups.json");
        std::fs::write(&path, "{\"jobs\": {\"nightly\": ").unwrap();
        let (_, state) = StateFile::open(path);
        assert_eq!(state, SavedState::default());
    }

    #[test]
    fn missing_state_directory_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-enrolled").join("backups.json");
        let (mut file, _) = StateFile::open(path.clone());
        let mut state = SavedState::default();
        state.jobs.insert("n".into(), SavedJob::default());
        file.save(&state);
        assert!(!path.parent().unwrap().exists());
    }
}
