//! Pure parsers of what macOS `tmutil` prints, and the Time Machine job state
//! they tell. Compiled and tested on every OS.
//!
//! - `tmutil destinationinfo -X`: an XML property list with `Destinations`
//!   (Name, Kind, ID, URL or MountPoint, LastDestination); an empty
//!   dictionary when no destination is configured.
//! - `tmutil status`: an old-style (NeXTSTEP) property list after a
//!   "Backup session status:" line: `Running = 1;`, `BackupPhase = Copying;`,
//!   and a nested `Progress = { Percent = "0.59"; ... };` while copying.
//!   Percent is a fraction; "-1" means no estimate.
//! - `tmutil latestbackup`: the path of the newest completed backup, whose
//!   last component is its local start time `YYYY-MM-DD-HHMMSS` (HFS+:
//!   `.../Backups.backupdb/<mac>/2011-08-26-104514`; APFS: a snapshot named
//!   `2026-06-14-145122.backup`). It exits 0 on some failures ("Failed to
//!   mount backup destination"), so the text decides, not the exit code.
//!   Without Full Disk Access it says "requires Full Disk Access privileges".
//!
//! Time Machine keeps no failure record that tmutil shows; the latest
//! attempt's result code is in the preferences plist (`tm_preferences`),
//! and `time_machine_state` merges the two.

use serde::Deserialize;
use time::macros::format_description;
use time::{PrimitiveDateTime, UtcOffset};

use forewarn_proto::pb;

use super::parse::{ParseError, destination_without_credentials};
use super::tm_preferences::{Preferences, failure_message, is_deferral};
use crate::command::CommandOutput;

/// What `tmutil status` says about a running backup.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionStatus {
    pub running: bool,
    pub phase: Option<String>,
    /// Progress of the copy, 0.0 to 1.0, when Time Machine has an estimate.
    pub fraction_done: Option<f64>,
}

/// One Time Machine destination from `tmutil destinationinfo -X`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Destination {
    #[serde(rename = "Name", default)]
    pub name: String,
    /// "Local" or "Network".
    #[serde(rename = "Kind", default)]
    pub kind: String,
    #[serde(rename = "ID", default)]
    pub id: String,
    #[serde(rename = "URL", default)]
    pub url: Option<String>,
    #[serde(rename = "MountPoint", default)]
    pub mount_point: Option<String>,
    /// 1 for the destination of the most recent backup.
    #[serde(rename = "LastDestination", default)]
    pub last_destination: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct DestinationInfo {
    #[serde(rename = "Destinations", default)]
    destinations: Vec<Destination>,
}

/// What `tmutil latestbackup` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LatestBackup {
    /// The newest completed backup and its local start time.
    Completed {
        stamp: String,
        local: PrimitiveDateTime,
    },
    /// The destination holds no backup of this Mac.
    None,
}

/// What to do when Time Machine's state is refused for lack of Full Disk Access.
pub const FULL_DISK_ACCESS_ADVICE: &str =
    "allow forewarn-agent under System Settings > Privacy & Security > Full Disk Access";

/// Why the Time Machine state could not be read; each is a probe error.
pub fn full_disk_access_error(tmutil_says: &str) -> String {
    format!(
        "permission denied: tmutil needs Full Disk Access; {FULL_DISK_ACCESS_ADVICE} (tmutil: {tmutil_says})"
    )
}

pub fn parse_destinations(xml: &[u8]) -> Result<Vec<Destination>, ParseError> {
    plist::from_bytes::<DestinationInfo>(xml)
        .map(|info| info.destinations)
        .map_err(|err| ParseError::Text {
            what: "tmutil destinationinfo",
            message: err.to_string(),
        })
}

/// The session status from `tmutil status`.
pub fn parse_status(text: &str) -> Result<SessionStatus, ParseError> {
    let malformed = |message: String| ParseError::Text {
        what: "tmutil status",
        message,
    };
    let mut depth = 0usize;
    let mut section: Vec<String> = Vec::new();
    let mut status = SessionStatus::default();
    let mut saw_running = false;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line == "Backup session status:" {
            continue;
        }
        if line == "{" {
            depth += 1;
            continue;
        }
        if line == "}" || line == "};" {
            depth = depth
                .checked_sub(1)
                .ok_or_else(|| malformed("unbalanced braces".to_owned()))?;
            section.pop();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| malformed(format!("unexpected line {line:?}")))?;
        let key = key.trim().trim_matches('"');
        let value = value.trim();
        if value.starts_with('{') {
            depth += 1;
            section.push(key.to_owned());
            continue;
        }
        if depth == 0 {
            return Err(malformed(format!("{line:?} outside the braces")));
        }
        let value = value
            .strip_suffix(';')
            .ok_or_else(|| malformed(format!("unexpected line {line:?}")))?
            .trim()
            .trim_matches('"');
        match (section.last().map(String::as_str), key) {
            (None, "Running") => {
                saw_running = true;
                status.running = value == "1";
            }
            (None, "BackupPhase") => status.phase = Some(value.to_owned()),
            (None | Some("Progress"), "Percent") => {
                let fraction: f64 = value
                    .parse()
                    .map_err(|_| malformed(format!("Percent {value:?}")))?;
                status.fraction_done = (0.0..=1.0).contains(&fraction).then_some(fraction);
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(malformed("output ends inside braces".to_owned()));
    }
    if !saw_running {
        return Err(malformed("no Running key".to_owned()));
    }
    Ok(status)
}

/// The newest backup from `tmutil latestbackup`, or the probe error it shows.
pub fn parse_latest_backup(output: &CommandOutput) -> Result<LatestBackup, String> {
    let text = format!("{}\n{}", output.stdout_text(), output.stderr_text());
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .to_owned();
    if text.contains("Full Disk Access") {
        return Err(full_disk_access_error(&first));
    }
    if text.contains("No machine directory found") || text.contains("No backups found") {
        return Ok(LatestBackup::None);
    }
    for line in text.lines().map(str::trim) {
        let stamp = line
            .rsplit('/')
            .map(|component| component.trim_end_matches(".backup"))
            .find(|component| backup_stamp(component).is_some());
        if let Some(stamp) = stamp
            && line.starts_with('/')
            && let Some(local) = backup_stamp(stamp)
        {
            return Ok(LatestBackup::Completed {
                stamp: stamp.to_owned(),
                local,
            });
        }
    }
    if text.contains("Failed to mount") {
        return Err(format!("backup destination unreachable: {first}"));
    }
    if first.is_empty() && output.success() {
        return Ok(LatestBackup::None);
    }
    Err(format!("unexpected tmutil latestbackup output: {first:?}"))
}

/// A backup's name `YYYY-MM-DD-HHMMSS` as a local time.
fn backup_stamp(text: &str) -> Option<PrimitiveDateTime> {
    let format = format_description!("[year]-[month]-[day]-[hour][minute][second]");
    PrimitiveDateTime::parse(text, &format).ok()
}

/// The offset `date +%z` printed ("+0100", "-0500") for a backup's local time.
pub fn parse_utc_offset(text: &str) -> Result<UtcOffset, ParseError> {
    let format = format_description!("[offset_hour sign:mandatory][offset_minute]");
    UtcOffset::parse(text.trim(), &format).map_err(|_| ParseError::Time(text.trim().to_owned()))
}

/// The destination a report names: the one of the latest backup, else the first.
fn report_destination(destinations: &[Destination]) -> String {
    let Some(destination) = destinations
        .iter()
        .find(|d| d.last_destination == Some(1))
        .or_else(|| destinations.first())
    else {
        return String::new();
    };
    let place = destination
        .url
        .as_deref()
        .map(destination_without_credentials)
        .or_else(|| destination.mount_point.clone());
    match place {
        Some(place) => format!("{} ({}, {place})", destination.name, destination.kind),
        None => format!("{} ({})", destination.name, destination.kind),
    }
}

/// The job state of a Mac without Time Machine preferences: never set up.
pub fn never_configured_state() -> pb::BackupJobStatus {
    pb::BackupJobStatus {
        result: pb::BackupResult::Unknown as i32,
        message: "Time Machine has never been configured on this Mac".to_owned(),
        ..Default::default()
    }
}

/// `tmutil latestbackup`'s answer, except that an unreachable destination is
/// no probe error when the preferences already say the latest attempt failed:
/// that failure is the news, and the last success comes from the preferences.
pub fn latest_or_probe_error(
    latest: Result<LatestBackup, String>,
    prefs: &Preferences,
) -> Result<LatestBackup, String> {
    match latest {
        Err(err) if err.starts_with("backup destination unreachable") => {
            match prefs.failed_attempt() {
                Some(_) => Ok(LatestBackup::None),
                None => Err(err),
            }
        }
        other => other,
    }
}

/// The Time Machine job state. `latest_unix` is the latest backup's time,
/// converted from local time by the caller; the preferences add the latest
/// attempt's result, their snapshot dates and whether backups are automatic.
pub fn time_machine_state(
    destinations: &[Destination],
    session: &SessionStatus,
    latest: &LatestBackup,
    latest_unix: Option<i64>,
    prefs: &Preferences,
) -> pb::BackupJobStatus {
    // Snapshot dates are UTC and cover destinations that are not mounted now.
    let last_success = latest_unix.max(prefs.newest_snapshot_unix());
    let mut status = pb::BackupJobStatus {
        destination: report_destination(destinations),
        last_success_unix_secs: last_success,
        last_run_finished_unix_secs: last_success,
        ..Default::default()
    };
    if destinations.is_empty() {
        status.result = pb::BackupResult::Unknown as i32;
        status.message = "Time Machine has no backup destination configured".to_owned();
        return status;
    }
    if session.running {
        status.result = pb::BackupResult::Running as i32;
        let phase = session.phase.as_deref().unwrap_or("starting");
        status.message = match session.fraction_done {
            Some(fraction) => format!("backing up: {phase}, {:.0}% done", fraction * 100.0),
            None => format!("backing up: {phase}"),
        };
    } else if let Some(failed) = prefs.failed_attempt() {
        status.result = if is_deferral(failed.code) {
            pb::BackupResult::Warning
        } else {
            pb::BackupResult::Failed
        } as i32;
        status.message = failure_message(failed.code);
        status.last_run_finished_unix_secs = failed.attempt_unix;
    } else {
        match latest {
            LatestBackup::Completed { stamp, .. } => {
                status.result = pb::BackupResult::Success as i32;
                status.message = format!("latest backup {stamp}");
            }
            LatestBackup::None => {
                status.result = pb::BackupResult::Unknown as i32;
                status.message = "no Time Machine backup of this Mac yet".to_owned();
            }
        }
    }
    if prefs.auto_backup == Some(false) {
        // Backups happen only when someone starts one; IT staff need to know.
        if status.result == pb::BackupResult::Success as i32 {
            status.result = pb::BackupResult::Warning as i32;
        }
        status.message = format!("automatic backups are turned off; {}", status.message);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::super::tm_preferences::parse_preferences;
    use super::*;

    fn fixture(name: &str) -> String {
        crate::fixtures::captured_output(&format!("backups/macos/{name}"))
    }

    fn stdout(name: &str) -> CommandOutput {
        CommandOutput {
            exit_code: Some(0),
            stdout: fixture(name).into_bytes(),
            stderr: Vec::new(),
        }
    }

    #[test]
    fn idle_status_is_not_running() {
        let status = parse_status(&fixture("tmutil-status-idle.txt")).unwrap();
        assert_eq!(status, SessionStatus::default());
    }

    #[test]
    fn copying_status_gives_phase_and_progress() {
        let status = parse_status(&fixture("tmutil-status-copying.txt")).unwrap();
        assert!(status.running);
        assert_eq!(status.phase.as_deref(), Some("Copying"));
        let fraction = status.fraction_done.unwrap();
        assert!((fraction - 0.5919).abs() < 0.001, "{fraction}");
        let finding = parse_status(&fixture("tmutil-status-finding-changes.txt")).unwrap();
        assert!(finding.running);
        assert_eq!(finding.phase.as_deref(), Some("FindingChanges"));
        assert_eq!(finding.fraction_done, None);
    }

    #[test]
    fn malformed_status_is_an_error() {
        for bad in [
            "",
            "Backup session status:\n{\n    ClientID = \"com.apple.backupd\";\n}",
            "Backup session status:\n{\n    Running = 1;\n",
            "Backup session status:\n{\n    Running = 1\n}",
            "tmutil: status requires root privileges.",
        ] {
            assert!(parse_status(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn captured_hfs_and_documented_apfs_backup_paths_give_their_local_time() {
        let hfs = parse_latest_backup(&stdout("tmutil-latestbackup-hfs.txt")).unwrap();
        let LatestBackup::Completed { stamp, local } = hfs else {
            panic!("{hfs:?}")
        };
        assert_eq!(stamp, "2011-08-26-104514");
        assert_eq!(local.to_string(), "2011-08-26 10:45:14.0");
        let apfs = parse_latest_backup(&stdout("tmutil-latestbackup-apfs.txt")).unwrap();
        assert!(
            matches!(&apfs, LatestBackup::Completed { stamp, .. } if stamp == "2026-06-14-145122"),
            "{apfs:?}"
        );
    }

    #[test]
    fn missing_full_disk_access_is_a_probe_error_with_advice() {
        let output = CommandOutput {
            exit_code: Some(80),
            stdout: Vec::new(),
            stderr: fixture("tmutil-latestbackup-no-full-disk-access.txt").into_bytes(),
        };
        let err = parse_latest_backup(&output).unwrap_err();
        assert!(
            err.starts_with("permission denied: tmutil needs Full Disk Access"),
            "{err}"
        );
        assert!(
            err.contains("Privacy & Security > Full Disk Access"),
            "{err}"
        );
        assert!(
            err.ends_with("(tmutil: tmutil: latestbackup requires Full Disk Access privileges.)"),
            "{err}"
        );
    }

    #[test]
    fn unmountable_destination_is_a_probe_error_despite_exit_0() {
        let err = parse_latest_backup(&stdout("tmutil-latestbackup-mount-failed.txt")).unwrap_err();
        assert_eq!(
            err,
            "backup destination unreachable: Failed to mount backup destination,"
        );
    }

    #[test]
    fn no_backup_of_this_mac_means_never_ran() {
        let output = CommandOutput {
            exit_code: Some(1),
            stdout: Vec::new(),
            stderr: fixture("tmutil-latestbackup-never.txt").into_bytes(),
        };
        assert_eq!(parse_latest_backup(&output), Ok(LatestBackup::None));
        let garbage = CommandOutput {
            exit_code: Some(0),
            stdout: b"something else entirely\n".to_vec(),
            stderr: Vec::new(),
        };
        assert!(
            parse_latest_backup(&garbage)
                .unwrap_err()
                .starts_with("unexpected")
        );
    }

    #[test]
    fn local_backup_time_becomes_unix_time_with_its_offset() {
        let LatestBackup::Completed { local, .. } =
            parse_latest_backup(&stdout("tmutil-latestbackup-hfs.txt")).unwrap()
        else {
            panic!()
        };
        let offset = parse_utc_offset("+0200\n").unwrap();
        // 2011-08-26 10:45:14 +02:00 is 08:45:14 UTC.
        assert_eq!(local.assume_offset(offset).unix_timestamp(), 1_314_348_314);
        assert!(parse_utc_offset("CEST").is_err());
    }

    #[test]
    fn destinations_and_the_job_state() {
        let destinations =
            parse_destinations(fixture("tmutil-destinationinfo-local.txt").as_bytes()).unwrap();
        assert_eq!(destinations.len(), 1);
        assert_eq!(destinations[0].id, "511D3A0B-8810-4704-B45B-E2A2FFC26DAE");
        let idle = parse_status(&fixture("tmutil-status-idle.txt")).unwrap();
        let latest = parse_latest_backup(&stdout("tmutil-latestbackup-hfs.txt")).unwrap();
        // Preferences without destinations: tmutil alone decides.
        let no_prefs = Preferences::default();
        let state = time_machine_state(
            &destinations,
            &idle,
            &latest,
            Some(1_314_348_314),
            &no_prefs,
        );
        assert_eq!(state.result, pb::BackupResult::Success as i32);
        assert_eq!(state.last_success_unix_secs, Some(1_314_348_314));
        assert_eq!(state.destination, "9168227426-F4 (Local)");
        assert_eq!(state.message, "latest backup 2011-08-26-104514");

        let copying = parse_status(&fixture("tmutil-status-copying.txt")).unwrap();
        let running = time_machine_state(
            &destinations,
            &copying,
            &latest,
            Some(1_314_348_314),
            &no_prefs,
        );
        assert_eq!(running.result, pb::BackupResult::Running as i32);
        assert_eq!(running.message, "backing up: Copying, 59% done");
        assert_eq!(running.last_success_unix_secs, Some(1_314_348_314));

        let never = time_machine_state(&destinations, &idle, &LatestBackup::None, None, &no_prefs);
        assert_eq!(never.result, pb::BackupResult::Unknown as i32);
        assert_eq!(never.last_success_unix_secs, None);
    }

    #[test]
    fn no_destination_means_never_ran() {
        let destinations =
            parse_destinations(fixture("tmutil-destinationinfo-none.txt").as_bytes()).unwrap();
        assert!(destinations.is_empty());
        let state = time_machine_state(
            &destinations,
            &SessionStatus::default(),
            &LatestBackup::None,
            None,
            &Preferences::default(),
        );
        assert_eq!(state.result, pb::BackupResult::Unknown as i32);
        assert_eq!(
            state.message,
            "Time Machine has no backup destination configured"
        );
        assert!(parse_destinations(b"<plist><dict><key>Destinations</key>").is_err());
    }

    /// The newest SnapshotDates entry of the real preferences dump,
    /// 2014-01-04 13:38:38 UTC; newer than the tmutil fixtures' 2011 backup.
    const PREFS_NEWEST_SNAPSHOT: i64 = 1_388_842_718;

    fn real_preferences() -> Preferences {
        let path = format!(
            "{}/tests/fixtures/backups/macos/com.apple.TimeMachine-result-100.plist",
            env!("CARGO_MANIFEST_DIR")
        );
        parse_preferences(&std::fs::read(&path).unwrap()).unwrap()
    }

    fn documented_preferences(name: &str) -> Preferences {
        parse_preferences(fixture(name).as_bytes()).unwrap()
    }

    fn idle_local_state(prefs: &Preferences) -> pb::BackupJobStatus {
        let destinations =
            parse_destinations(fixture("tmutil-destinationinfo-local.txt").as_bytes()).unwrap();
        let idle = parse_status(&fixture("tmutil-status-idle.txt")).unwrap();
        let latest = parse_latest_backup(&stdout("tmutil-latestbackup-hfs.txt")).unwrap();
        time_machine_state(&destinations, &idle, &latest, Some(1_314_348_314), prefs)
    }

    #[test]
    fn real_attempt_skipped_on_battery_is_a_warning_and_keeps_the_last_success() {
        let state = idle_local_state(&real_preferences());
        assert_eq!(state.result, pb::BackupResult::Warning as i32);
        assert_eq!(
            state.message,
            "last backup skipped: the Mac was running on battery power (Time Machine code 100)"
        );
        assert_eq!(state.last_success_unix_secs, Some(PREFS_NEWEST_SNAPSHOT));
        // The dump has no AttemptDates: when the attempt ran is unknown.
        assert_eq!(state.last_run_finished_unix_secs, None);
        assert_eq!(state.destination, "9168227426-F4 (Local)");
    }

    #[test]
    fn failed_attempt_after_a_success_is_failed_and_keeps_the_last_success() {
        // The real dump with its RESULT turned into "backup disk not found".
        let mut prefs = real_preferences();
        prefs.destinations[0].result = Some(18);
        let state = idle_local_state(&prefs);
        assert_eq!(state.result, pb::BackupResult::Failed as i32);
        assert_eq!(
            state.message,
            "last backup failed: the backup disk could not be found (Time Machine error code 18)"
        );
        assert_eq!(state.last_success_unix_secs, Some(PREFS_NEWEST_SNAPSHOT));
    }

    #[test]
    fn documented_success_in_the_preferences_is_success() {
        let state = idle_local_state(&documented_preferences("com.apple.TimeMachine-success.txt"));
        assert_eq!(state.result, pb::BackupResult::Success as i32);
        assert_eq!(state.message, "latest backup 2011-08-26-104514");
        // The newer of tmutil's latest backup and the preferences' snapshots.
        assert_eq!(state.last_success_unix_secs, Some(PREFS_NEWEST_SNAPSHOT));
    }

    #[test]
    fn documented_auto_backup_off_is_a_warning_that_says_so() {
        let prefs = documented_preferences("com.apple.TimeMachine-auto-backup-off.txt");
        let state = idle_local_state(&prefs);
        assert_eq!(state.result, pb::BackupResult::Warning as i32);
        assert_eq!(
            state.message,
            "automatic backups are turned off; latest backup 2011-08-26-104514"
        );
        assert_eq!(state.last_success_unix_secs, Some(PREFS_NEWEST_SNAPSHOT));
        // A failure stays a failure, and still says backups are manual.
        let mut failing = prefs;
        failing.destinations[0].result = Some(18);
        let state = idle_local_state(&failing);
        assert_eq!(state.result, pb::BackupResult::Failed as i32);
        assert_eq!(
            state.message,
            "automatic backups are turned off; last backup failed: the backup disk could not be found (Time Machine error code 18)"
        );
    }

    #[test]
    fn a_running_backup_is_running_whatever_the_previous_result() {
        let destinations =
            parse_destinations(fixture("tmutil-destinationinfo-local.txt").as_bytes()).unwrap();
        let copying = parse_status(&fixture("tmutil-status-copying.txt")).unwrap();
        let state = time_machine_state(
            &destinations,
            &copying,
            &LatestBackup::None,
            None,
            &real_preferences(),
        );
        assert_eq!(state.result, pb::BackupResult::Running as i32);
        assert_eq!(state.last_success_unix_secs, Some(PREFS_NEWEST_SNAPSHOT));
    }

    #[test]
    fn unreachable_destination_after_a_failed_attempt_reports_the_failure() {
        let mount_failed = || parse_latest_backup(&stdout("tmutil-latestbackup-mount-failed.txt"));
        let mut failed = real_preferences();
        failed.destinations[0].result = Some(18);
        let latest = latest_or_probe_error(mount_failed(), &failed).unwrap();
        assert_eq!(latest, LatestBackup::None);
        let destinations =
            parse_destinations(fixture("tmutil-destinationinfo-local.txt").as_bytes()).unwrap();
        let state = time_machine_state(
            &destinations,
            &SessionStatus::default(),
            &latest,
            None,
            &failed,
        );
        assert_eq!(state.result, pb::BackupResult::Failed as i32);
        assert_eq!(state.last_success_unix_secs, Some(PREFS_NEWEST_SNAPSHOT));
        // Without a failed attempt, an unreachable destination stays a probe error.
        let ok = documented_preferences("com.apple.TimeMachine-success.txt");
        let err = latest_or_probe_error(mount_failed(), &ok).unwrap_err();
        assert!(err.starts_with("backup destination unreachable"), "{err}");
        let denied = Err(full_disk_access_error("no"));
        assert_eq!(latest_or_probe_error(denied.clone(), &failed), denied);
    }

    #[test]
    fn never_configured_means_never_ran() {
        let state = never_configured_state();
        assert_eq!(state.result, pb::BackupResult::Unknown as i32);
        assert_eq!(state.last_success_unix_secs, None);
        assert_eq!(
            state.message,
            "Time Machine has never been configured on this Mac"
        );
    }

    #[test]
    fn network_destination_url_loses_its_credentials() {
        let destinations = [Destination {
            name: "Backups".into(),
            kind: "Network".into(),
            url: Some("smb://alice:hunter2@nas.local/Backups".into()),
            last_destination: Some(1),
            ..Default::default()
        }];
        assert_eq!(
            report_destination(&destinations),
            "Backups (Network, smb://nas.local/Backups)"
        );
    }
}
