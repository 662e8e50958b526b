//! Pure parsers of what backup tools and scripts print; compiled and tested on every OS.
//!
//! Tool output is parsed with serde and unknown fields are ignored, so newer
//! restic and borg versions that add fields still parse. Error text on stderr
//! is sorted into the few causes a person acts on (wrong password, missing
//! repository, lock held); anything else keeps the tool's first error line.

use serde::Deserialize;

use super::exit_codes::{Tool, saved_something};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use forewarn_proto::pb;

/// A restic snapshot as `restic snapshots --json` prints it.
#[derive(Debug, Clone, Deserialize)]
pub struct ResticSnapshot {
    /// Start of the backup (or the `--time` it was given).
    pub time: String,
    pub id: String,
    #[serde(default)]
    pub hostname: String,
    /// Present from restic 0.17 on.
    #[serde(default)]
    pub summary: Option<ResticSummary>,
}

/// What restic 0.17+ records about the run that made a snapshot.
#[derive(Debug, Clone, Deserialize)]
pub struct ResticSummary {
    pub backup_start: Option<String>,
    pub backup_end: Option<String>,
    pub total_files_processed: Option<u64>,
    pub total_bytes_processed: Option<u64>,
}

/// `restic stats --json <id>` in its default restore-size mode.
#[derive(Debug, Clone, Deserialize)]
pub struct ResticStats {
    pub total_size: Option<u64>,
    pub total_file_count: Option<u64>,
}

/// A borg archive as `borg list --json` / `borg info --json` print it.
#[derive(Debug, Clone, Deserialize)]
pub struct BorgArchive {
    pub name: String,
    /// Local time without offset; the probe runs borg with TZ=UTC so it is UTC.
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
    #[serde(default)]
    pub time: Option<String>,
    #[serde(default)]
    pub duration: Option<f64>,
    #[serde(default)]
    pub stats: Option<BorgArchiveStats>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BorgArchiveStats {
    pub original_size: Option<u64>,
    pub nfiles: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct BorgArchives {
    archives: Vec<BorgArchive>,
}

/// Why output could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("unexpected {what} output: {message}")]
    Json { what: &'static str, message: String },
    #[error("invalid time {0:?}")]
    Time(String),
    #[error("{0}")]
    Systemd(String),
    #[error("unexpected event log XML: {0}")]
    Xml(String),
    #[error("unexpected {what} output: {message}")]
    Text { what: &'static str, message: String },
    #[error("{0}")]
    StatusFile(&'static str),
}

pub fn restic_snapshots(json: &[u8]) -> Result<Vec<ResticSnapshot>, ParseError> {
    serde_json::from_slice(json).map_err(|err| ParseError::Json {
        what: "restic snapshots",
        message: err.to_string(),
    })
}

pub fn restic_stats(json: &[u8]) -> Result<ResticStats, ParseError> {
    serde_json::from_slice(json).map_err(|err| ParseError::Json {
        what: "restic stats",
        message: err.to_string(),
    })
}

/// The `archives` of `borg list --json` or `borg info --json`.
pub fn borg_archives(json: &[u8]) -> Result<Vec<BorgArchive>, ParseError> {
    serde_json::from_slice::<BorgArchives>(json)
        .map(|parsed| parsed.archives)
        .map_err(|err| ParseError::Json {
            what: "borg",
            message: err.to_string(),
        })
}

/// The newest snapshot, by time; ties keep the later one listed.
pub fn latest_restic_snapshot(
    snapshots: &[ResticSnapshot],
) -> Result<Option<&ResticSnapshot>, ParseError> {
    let mut latest: Option<(i64, &ResticSnapshot)> = None;
    for snapshot in snapshots {
        let at = rfc3339_unix(&snapshot.time)?;
        if latest.is_none_or(|(best, _)| at >= best) {
            latest = Some((at, snapshot));
        }
    }
    Ok(latest.map(|(_, snapshot)| snapshot))
}

/// restic's RFC 3339 time (nanoseconds, any offset) as Unix seconds.
pub fn rfc3339_unix(text: &str) -> Result<i64, ParseError> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|_| ParseError::Time(text.to_owned()))
}

/// borg's ISO time without offset ("2026-11-23T11:52:30.000000"), taken as UTC.
pub fn borg_time_unix(text: &str) -> Result<i64, ParseError> {
    let format = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    time::PrimitiveDateTime::parse(text, &format)
        .map(|t| t.assume_utc().unix_timestamp())
        .map_err(|_| ParseError::Time(text.to_owned()))
}

/// The job state a restic snapshot tells. `stats` fills bytes and files when
/// the snapshot has no summary (restic before 0.17).
pub fn restic_job_state(
    snapshot: &ResticSnapshot,
    stats: Option<&ResticStats>,
    count: usize,
) -> Result<pb::BackupJobStatus, ParseError> {
    let time = rfc3339_unix(&snapshot.time)?;
    let summary = snapshot.summary.as_ref();
    let started = match summary.and_then(|s| s.backup_start.as_deref()) {
        Some(text) => rfc3339_unix(text)?,
        None => time,
    };
    let finished = match summary.and_then(|s| s.backup_end.as_deref()) {
        Some(text) => Some(rfc3339_unix(text)?),
        None => None,
    };
    let bytes = summary
        .and_then(|s| s.total_bytes_processed)
        .or_else(|| stats.and_then(|s| s.total_size));
    let files = summary
        .and_then(|s| s.total_files_processed)
        .or_else(|| stats.and_then(|s| s.total_file_count));
    Ok(pb::BackupJobStatus {
        last_run_started_unix_secs: Some(started),
        last_run_finished_unix_secs: finished,
        result: pb::BackupResult::Success as i32,
        // Without a summary restic only records the start; a snapshot exists only once the run completed.
        last_success_unix_secs: Some(finished.unwrap_or(started)),
        message: format!(
            "snapshot {} of host {}",
            short_id(&snapshot.id),
            snapshot.hostname
        ),
        duration_secs: finished.and_then(|end| u64::try_from(end - started).ok()),
        bytes,
        files,
        snapshot_count: Some(count as u64),
        ..Default::default()
    })
}

/// The job state a borg archive (from `borg info --json`) tells.
pub fn borg_job_state(
    archive: &BorgArchive,
    count: usize,
) -> Result<pb::BackupJobStatus, ParseError> {
    let start_text = archive
        .start
        .as_deref()
        .or(archive.time.as_deref())
        .ok_or_else(|| ParseError::Time(String::new()))?;
    let started = borg_time_unix(start_text)?;
    let finished = match archive.end.as_deref() {
        Some(text) => Some(borg_time_unix(text)?),
        None => None,
    };
    let stats = archive.stats.as_ref();
    Ok(pb::BackupJobStatus {
        last_run_started_unix_secs: Some(started),
        last_run_finished_unix_secs: finished,
        result: pb::BackupResult::Success as i32,
        last_success_unix_secs: Some(finished.unwrap_or(started)),
        message: format!("archive {}", archive.name),
        duration_secs: archive
            .duration
            .filter(|d| d.is_finite() && *d >= 0.0)
            .map(|d| d.round() as u64),
        bytes: stats.and_then(|s| s.original_size),
        files: stats.and_then(|s| s.nfiles),
        snapshot_count: Some(count as u64),
        ..Default::default()
    })
}

/// A repository location fit for a report: a password in a URL's user info is dropped.
pub fn destination_without_credentials(repository: &str) -> String {
    let Some(scheme_end) = repository.find("://") else {
        return repository.to_owned();
    };
    let authority_start = scheme_end + 3;
    let authority_end = repository[authority_start..]
        .find('/')
        .map_or(repository.len(), |i| authority_start + i);
    match repository[authority_start..authority_end].rfind('@') {
        Some(at) => format!(
            "{}{}",
            &repository[..authority_start],
            &repository[authority_start + at + 1..]
        ),
        None => repository.to_owned(),
    }
}

fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// Why a repository probe failed, from the tool's exit code and stderr.
pub fn repository_error(tool: &str, exit_code: Option<i32>, stderr: &str) -> String {
    let lower = stderr.to_lowercase();
    let first = first_error_line(stderr);
    // 126/127: the shell or `nice` could not start the program.
    if matches!(exit_code, Some(126 | 127)) {
        return format!("tool missing: {first}");
    }
    if lower.contains("wrong password")
        || lower.contains("no key found")
        || lower.contains("passphrase supplied in")
        || lower.contains("passphrase is incorrect")
        || (tool == "restic" && exit_code == Some(12))
    {
        return format!("authentication failed: {first}");
    }
    if lower.contains("already locked")
        || lower.contains("failed to create/acquire the lock")
        || lower.contains("unable to create lock")
        || (tool == "restic" && exit_code == Some(11))
    {
        let stale = if lower.contains("stale") {
            " (a stale lock may need `unlock`)"
        } else {
            ""
        };
        return format!("repository is locked{stale}: {first}");
    }
    if lower.contains("does not exist")
        || lower.contains("unable to open config file")
        || lower.contains("is not a valid repository")
        || lower.contains("no such file or directory")
        || (tool == "restic" && exit_code == Some(10))
    {
        return format!("repository not found: {first}");
    }
    match exit_code {
        Some(code) => format!("{tool} failed with exit code {code}: {first}"),
        None => format!("{tool} was killed by a signal: {first}"),
    }
}

/// The first line that reads as an error, trimmed and bounded.
fn first_error_line(stderr: &str) -> String {
    let line = stderr
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no error output");
    let line = line.strip_prefix("Fatal: ").unwrap_or(line);
    line.chars().take(300).collect()
}

/// The backup status file a script writes (docs/backup-status-file.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusFile {
    pub job: String,
    /// The run's result; may be left out when `exit_code` and `tool` say it.
    #[serde(default)]
    pub status: Option<StatusFileResult>,
    /// Exit code of the backup program, read the way `tool` documents it.
    #[serde(default)]
    pub exit_code: Option<i64>,
    /// The backup program whose exit code this is: "restic", "borg" or "rsync".
    #[serde(default)]
    pub tool: Option<Tool>,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub finished_at: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub bytes: Option<u64>,
    #[serde(default)]
    pub files: Option<u64>,
    #[serde(default)]
    pub last_success_at: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusFileResult {
    Success,
    Warning,
    Failed,
    Running,
}

/// The job state a status file tells.
pub fn status_file_state(text: &[u8]) -> Result<(String, pb::BackupJobStatus), ParseError> {
    let file: StatusFile = serde_json::from_slice(text).map_err(|err| ParseError::Json {
        what: "status file",
        message: err.to_string(),
    })?;
    let parse = |t: &Option<String>| t.as_deref().map(rfc3339_unix).transpose();
    let started = parse(&file.started_at)?;
    let finished = parse(&file.finished_at)?;
    let mut last_success = parse(&file.last_success_at)?;
    let (result, judged) = match (file.status, file.tool, file.exit_code) {
        (Some(status), _, _) => (
            match status {
                StatusFileResult::Success => pb::BackupResult::Success,
                StatusFileResult::Warning => pb::BackupResult::Warning,
                StatusFileResult::Failed => pb::BackupResult::Failed,
                StatusFileResult::Running => pb::BackupResult::Running,
            },
            None,
        ),
        (None, Some(tool), Some(code)) => {
            let (result, sentence) = tool.judge(code);
            (result, Some(sentence))
        }
        (None, None, Some(_)) => {
            return Err(ParseError::StatusFile(
                "\"exit_code\" needs \"tool\" (\"restic\", \"borg\" or \"rsync\") to say what it means; or write \"status\"",
            ));
        }
        (None, _, None) => {
            return Err(ParseError::StatusFile(
                "the file needs \"status\", or \"tool\" and \"exit_code\"",
            ));
        }
    };
    if saved_something(result) {
        let end = finished.or(started);
        last_success = last_success.max(end);
    }
    // The script's own words first; the exit code's meaning when it wrote none.
    let message = match judged {
        Some(sentence) if file.message.trim().is_empty() => sentence,
        Some(sentence) => format!("{}; {sentence}", file.message.trim()),
        None => file.message,
    };
    let duration = match (started, finished) {
        (Some(s), Some(f)) => u64::try_from(f - s).ok(),
        _ => None,
    };
    Ok((
        file.job,
        pb::BackupJobStatus {
            last_run_started_unix_secs: started,
            last_run_finished_unix_secs: finished,
            result: result as i32,
            last_success_unix_secs: last_success,
            message: message.chars().take(1000).collect(),
            duration_secs: duration,
            bytes: file.bytes,
            files: file.files,
            ..Default::default()
        },
    ))
}

/// The properties `systemctl show` is asked for, service then timer.
pub const SYSTEMD_SERVICE_PROPERTIES: &str = "LoadState,ActiveState,SubState,Result,ExecMainStatus,ExecMainStartTimestamp,ExecMainExitTimestamp";
pub const SYSTEMD_TIMER_PROPERTIES: &str = "LoadState,ActiveState,LastTriggerUSec";

/// The job state `systemctl show --timestamp=unix <service> <timer>` tells:
/// one block of `Key=value` lines per unit, separated by a blank line. When
/// the unit runs a known `tool`, its exit status is read as that tool means
/// it (restic's 3 is a warning, not a failure).
pub fn systemd_job_state(
    text: &str,
    unit: &str,
    tool: Option<Tool>,
) -> Result<pb::BackupJobStatus, ParseError> {
    let mut blocks = text.split("\n\n").map(|block| {
        block
            .lines()
            .filter_map(|line| line.split_once('='))
            .collect::<std::collections::HashMap<&str, &str>>()
    });
    let service = blocks.next().unwrap_or_default();
    let timer = blocks.next();
    let get = |key: &str| service.get(key).copied().unwrap_or_default();
    if get("LoadState") != "loaded" {
        return Err(ParseError::Systemd(format!(
            "unit {unit} is not loaded (LoadState={:?})",
            get("LoadState")
        )));
    }
    let started = systemd_time(get("ExecMainStartTimestamp"))?;
    let finished = systemd_time(get("ExecMainExitTimestamp"))?;
    let exit_status: Option<i64> = get("ExecMainStatus").parse().ok();
    let result_word = get("Result");
    let active = get("ActiveState");
    let (result, message) = if matches!(active, "activating" | "active" | "reloading")
        && finished.is_none_or(|f| started.is_some_and(|s| s > f))
        && started.is_some()
    {
        (pb::BackupResult::Running, "running".to_owned())
    } else if started.is_none() && finished.is_none() {
        (pb::BackupResult::Unknown, "never ran".to_owned())
    } else if result_word == "success" && exit_status.unwrap_or(0) == 0 {
        (pb::BackupResult::Success, "succeeded".to_owned())
    } else if let (Some(tool), Some(code), "success" | "exit-code") =
        (tool, exit_status, result_word)
    {
        tool.judge(code)
    } else {
        let status = exit_status.map_or_else(|| "unknown".to_owned(), |s| s.to_string());
        (
            pb::BackupResult::Failed,
            format!("failed: result {result_word}, exit status {status}"),
        )
    };
    let mut message = message;
    if let Some(timer) = timer {
        match timer
            .get("LastTriggerUSec")
            .copied()
            .map(systemd_time)
            .transpose()?
            .flatten()
        {
            Some(at) => message.push_str(&format!("; timer last triggered at unix time {at}")),
            None if timer.get("LoadState") == Some(&"loaded") => {
                message.push_str("; timer never triggered")
            }
            None => {}
        }
    }
    Ok(pb::BackupJobStatus {
        last_run_started_unix_secs: started,
        last_run_finished_unix_secs: if result == pb::BackupResult::Running {
            None
        } else {
            finished
        },
        result: result as i32,
        last_success_unix_secs: saved_something(result).then_some(finished).flatten(),
        message,
        // `@` timestamps are whatever systemd printed: a difference that does
        // not fit (or is negative) is no duration, never a panic or a wrap.
        duration_secs: match (started, finished) {
            (Some(s), Some(f)) if result != pb::BackupResult::Running => {
                f.checked_sub(s).and_then(|d| u64::try_from(d).ok())
            }
            _ => None,
        },
        ..Default::default()
    })
}

/// A `--timestamp=unix` value ("@1789266086"); empty or "n/a" means never.
fn systemd_time(text: &str) -> Result<Option<i64>, ParseError> {
    let text = text.trim();
    if text.is_empty() || text == "n/a" || text == "0" {
        return Ok(None);
    }
    text.strip_prefix('@')
        .and_then(|secs| secs.parse().ok())
        .map(Some)
        .ok_or_else(|| ParseError::Time(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/backups/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
    }

    /// Fixture files open with a `# source` line; the JSON follows.
    fn fixture_body(name: &str) -> Vec<u8> {
        let raw = fixture(name);
        let start = raw.iter().position(|b| *b == b'\n').map_or(0, |i| i + 1);
        raw[start..].to_vec()
    }

    #[test]
    fn restic_0_14_snapshots_pick_the_newest_without_summary() {
        let snapshots = restic_snapshots(&fixture_body("linux/restic-0.14-snapshots.txt")).unwrap();
        assert_eq!(snapshots.len(), 2);
        let latest = latest_restic_snapshot(&snapshots).unwrap().unwrap();
        assert_eq!(latest.hostname, "h1");
        let stats =
            restic_stats(b"{\"total_size\":100006,\"total_file_count\":3,\"snapshots_count\":1}")
                .unwrap();
        let state = restic_job_state(latest, Some(&stats), snapshots.len()).unwrap();
        assert_eq!(state.last_success_unix_secs, Some(1_795_434_724));
        assert_eq!(state.bytes, Some(100_006));
        assert_eq!(state.files, Some(3));
        assert_eq!(state.snapshot_count, Some(2));
        assert_eq!(state.duration_secs, None);
        assert_eq!(state.message, "snapshot 73fbf5ef of host h1");
    }

    #[test]
    fn restic_0_17_summary_gives_start_end_bytes_and_files() {
        let snapshots = restic_snapshots(&fixture_body("linux/restic-0.17-snapshots.txt")).unwrap();
        let latest = latest_restic_snapshot(&snapshots).unwrap().unwrap();
        let state = restic_job_state(latest, None, snapshots.len()).unwrap();
        let start = state.last_run_started_unix_secs.unwrap();
        let end = state.last_run_finished_unix_secs.unwrap();
        assert!(end >= start);
        assert_eq!(state.last_success_unix_secs, Some(end));
        assert!(state.bytes.unwrap() > 0, "{state:?}");
        assert!(state.files.unwrap() > 0, "{state:?}");
    }

    #[test]
    fn empty_repository_has_no_latest_snapshot() {
        assert!(
            latest_restic_snapshot(&restic_snapshots(b"[]").unwrap())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn garbage_restic_output_is_an_error_not_a_panic() {
        assert!(restic_snapshots(b"[{\"time\":").is_err());
        let snapshots = restic_snapshots(b"[{\"time\":\"yesterday\",\"id\":\"x\"}]").unwrap();
        assert_eq!(
            latest_restic_snapshot(&snapshots).unwrap_err(),
            ParseError::Time("yesterday".into())
        );
    }

    #[test]
    fn borg_info_gives_times_size_and_files() {
        let archives = borg_archives(&fixture_body("linux/borg-1.2-info.txt")).unwrap();
        let state = borg_job_state(&archives[0], 2).unwrap();
        assert_eq!(state.last_run_started_unix_secs, Some(1_795_434_750));
        assert_eq!(state.last_success_unix_secs, Some(1_795_434_750));
        assert_eq!(state.bytes, Some(100_006));
        assert_eq!(state.files, Some(2));
        assert_eq!(state.duration_secs, Some(0));
        assert_eq!(state.message, "archive a1");
    }

    #[test]
    fn tool_errors_are_sorted_by_cause() {
        let cases = [
            (
                "restic",
                1,
                "Fatal: wrong password or no key found\n",
                "authentication failed: wrong password or no key found",
            ),
            (
                "borg",
                2,
                "passphrase supplied in BORG_PASSPHRASE, by BORG_PASSCOMMAND or via BORG_PASSPHRASE_FD is incorrect.\n",
                "authentication failed: ",
            ),
            (
                "restic",
                1,
                "Fatal: unable to open config file: stat /r/config: no such file or directory\nIs there a repository at the following location?\n",
                "repository not found: unable to open config file",
            ),
            (
                "borg",
                2,
                "Repository /srv/nope does not exist.\n",
                "repository not found: Repository /srv/nope does not exist.",
            ),
            (
                "restic",
                1,
                "unable to create lock in backend: repository is already locked exclusively by PID 1605 on vm by root (UID 0, GID 0)\nlock was created at 2026-11-23 11:52:59 (458.252722ms ago)\nstorage ID 6cd34dc6\nthe `unlock` command can be used to remove stale locks\n",
                "repository is locked (a stale lock may need `unlock`): unable to create lock in backend",
            ),
            (
                "borg",
                2,
                "Failed to create/acquire the lock /srv/backup/borg/lock.exclusive (timeout).\n",
                "repository is locked: Failed to create/acquire",
            ),
            (
                "restic",
                1,
                "Fatal: something new\n",
                "restic failed with exit code 1: something new",
            ),
            (
                "restic",
                127,
                "nice: 'restic': No such file or directory\n",
                "tool missing: nice: 'restic'",
            ),
        ];
        for (tool, code, stderr, expected) in cases {
            let message = repository_error(tool, Some(code), stderr);
            assert!(
                message.starts_with(expected),
                "{message:?} should start with {expected:?}"
            );
        }
    }

    #[test]
    fn status_file_failure_keeps_the_last_success_it_names() {
        let (job, state) = status_file_state(
            br#"{"job":"nightly","status":"failed","started_at":"2026-11-23T01:00:00Z","finished_at":"2026-11-23T01:05:00+00:00","message":"disk full","bytes":12,"last_success_at":"2026-11-22T01:04:00Z"}"#,
        )
        .unwrap();
        assert_eq!(job, "nightly");
        assert_eq!(state.result, pb::BackupResult::Failed as i32);
        assert_eq!(state.duration_secs, Some(300));
        assert_eq!(state.last_success_unix_secs, Some(1_795_309_440));
        assert_eq!(state.message, "disk full");
        assert_eq!(state.bytes, Some(12));
    }

    fn systemd(case: &str) -> Result<pb::BackupJobStatus, ParseError> {
        let text =
            String::from_utf8(fixture_body(&format!("linux/systemctl-show-{case}.txt"))).unwrap();
        systemd_job_state(&text, "backup.service", None)
    }

    #[test]
    fn systemd_success_gives_times_and_timer() {
        let state = systemd("success").unwrap();
        assert_eq!(state.result, pb::BackupResult::Success as i32);
        assert_eq!(state.last_run_started_unix_secs, Some(1_789_260_048));
        assert_eq!(state.last_success_unix_secs, Some(1_789_266_086));
        assert_eq!(state.duration_secs, Some(6038));
        assert!(
            state
                .message
                .contains("timer last triggered at unix time 1789260048"),
            "{state:?}"
        );
    }

    #[test]
    fn systemd_failure_names_result_and_exit_status() {
        let state = systemd("failed").unwrap();
        assert_eq!(state.result, pb::BackupResult::Failed as i32);
        assert_eq!(state.last_success_unix_secs, None);
        assert!(
            state
                .message
                .starts_with("failed: result exit-code, exit status 2"),
            "{state:?}"
        );
    }

    #[test]
    fn systemd_unit_that_never_ran() {
        let state = systemd("never-ran").unwrap();
        assert_eq!(state.result, pb::BackupResult::Unknown as i32);
        assert_eq!(state.message, "never ran; timer never triggered");
        assert_eq!(state.last_success_unix_secs, None);
    }

    #[test]
    fn systemd_running_backup() {
        let state = systemd("running").unwrap();
        assert_eq!(state.result, pb::BackupResult::Running as i32);
        assert_eq!(state.last_run_started_unix_secs, Some(1_791_191_596));
        assert_eq!(state.last_run_finished_unix_secs, None);
    }

    #[test]
    fn systemd_missing_unit_is_an_error() {
        let err = systemd("not-found").unwrap_err().to_string();
        assert!(err.contains("backup.service is not loaded"), "{err}");
    }

    #[test]
    fn systemd_localized_time_is_refused_not_guessed() {
        let err = systemd_job_state(
            "LoadState=loaded\nActiveState=inactive\nResult=success\nExecMainStatus=0\nExecMainExitTimestamp=Fri 2026-10-09 18:10:53 CST\n",
            "b.service",
            None,
        )
        .unwrap_err();
        assert_eq!(err, ParseError::Time("Fri 2026-10-09 18:10:53 CST".into()));
    }

    #[test]
    fn systemd_extreme_timestamps_give_no_duration_instead_of_overflowing() {
        for (start, exit) in [(i64::MIN, i64::MAX), (-1, i64::MAX), (i64::MIN, 1)] {
            let text = format!(
                "LoadState=loaded\nActiveState=inactive\nResult=success\nExecMainStatus=0\nExecMainStartTimestamp=@{start}\nExecMainExitTimestamp=@{exit}\n"
            );
            let state = systemd_job_state(&text, "b.service", None).unwrap();
            assert_eq!(state.duration_secs, None, "{start}..{exit}");
            assert_eq!(state.result, pb::BackupResult::Success as i32);
            assert_eq!(state.last_success_unix_secs, Some(exit));
        }
        let text = format!(
            "LoadState=loaded\nActiveState=inactive\nResult=success\nExecMainStatus=0\nExecMainStartTimestamp=@{}\nExecMainExitTimestamp=@{}\n",
            i64::MAX - 5,
            i64::MAX
        );
        let state = systemd_job_state(&text, "b.service", None).unwrap();
        assert_eq!(state.duration_secs, Some(5));
    }

    #[test]
    fn credentials_in_repository_urls_are_not_reported() {
        assert_eq!(
            destination_without_credentials("rest:https://u:hunter2@backup.example:8000/repo"),
            "rest:https://backup.example:8000/repo"
        );
        assert_eq!(
            destination_without_credentials("/srv/restic"),
            "/srv/restic"
        );
        assert_eq!(
            destination_without_credentials("ssh://borg@nas/./repo"),
            "ssh://nas/./repo"
        );
        assert_eq!(
            destination_without_credentials("s3:https://s3.example/bucket"),
            "s3:https://s3.example/bucket"
        );
    }

    #[test]
    fn status_file_success_is_its_own_last_success() {
        let (_, state) = status_file_state(
            br#"{"job":"n","status":"success","started_at":"2026-11-23T01:00:00Z","finished_at":"2026-11-23T01:05:00Z"}"#,
        )
        .unwrap();
        assert_eq!(
            state.last_success_unix_secs,
            state.last_run_finished_unix_secs
        );
    }

    #[test]
    fn bad_status_files_are_errors() {
        for bad in [
            &br#"{"job":"n","status":"fail"#[..],
            br#"{"job":"n","status":"exploded"}"#,
            br#"{"job":"n","status":"failed","finished_at":"yesterday"}"#,
            br#"{"job":"n","status":"failed","extra":1}"#,
            b"",
        ] {
            assert!(
                status_file_state(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
