//! The pure backup parsers (restic, borg, status file, systemd, Time Machine,
//! event log, Veeam), reachable from the `fuzz/` crate. Compiled only with the
//! `fuzzing` feature: the agent itself never needs them public.

pub use super::event_log::{
    LogEvent, VeeamRun, parse_events, server_backup_state, veeam_run, veeam_windows_state,
    wevtutil_error,
};
pub use super::exit_codes::Tool;
pub use super::parse::*;
pub use super::tm_preferences::{
    FailedAttempt, PreferenceDestination, Preferences, PreferencesFile, failure_message,
    parse_preferences, preferences_file,
};
pub use super::tmutil::{
    Destination, LatestBackup, SessionStatus, latest_or_probe_error, parse_destinations,
    parse_latest_backup, parse_status, parse_utc_offset, time_machine_state,
};
pub use super::veeamconfig::{VeeamSession, parse_session_list, veeam_linux_state};
