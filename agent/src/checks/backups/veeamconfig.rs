//! Pure parser of `veeamconfig session list` (Veeam Agent for Linux) and the
//! job state it tells. Compiled and tested on every OS.
//!
//! The list is a table with the columns "Job name, Type, ID, State, Started
//! at, Finished at" and a closing "Total amount: N" line. Job names may hold
//! spaces, so a row is read around its `{session id}`: the words before it
//! are the job name and the type, the words after it the state and times
//! ("2026-11-21 23:00"; a running session has no finish time). The probe
//! runs veeamconfig with TZ=UTC so the times it prints are UTC.

use time::PrimitiveDateTime;
use time::macros::format_description;

use forewarn_proto::pb;

use super::parse::ParseError;

/// One row of `veeamconfig session list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VeeamSession {
    pub job: String,
    pub kind: String,
    pub id: String,
    pub state: String,
    pub started_unix: i64,
    pub finished_unix: Option<i64>,
}

fn malformed(message: String) -> ParseError {
    ParseError::Text {
        what: "veeamconfig session list",
        message,
    }
}

pub fn parse_session_list(text: &str) -> Result<Vec<VeeamSession>, ParseError> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    match lines.next() {
        Some(header) if header.starts_with("Job name") => {}
        other => return Err(malformed(format!("expected a table header, got {other:?}"))),
    }
    let mut sessions = Vec::new();
    for line in lines {
        if line.starts_with("Total") {
            continue;
        }
        sessions.push(parse_row(line)?);
    }
    Ok(sessions)
}

fn parse_row(line: &str) -> Result<VeeamSession, ParseError> {
    let unexpected = || malformed(format!("unexpected line {line:?}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let id_at = words
        .iter()
        .position(|w| w.starts_with('{') && w.ends_with('}'))
        .ok_or_else(unexpected)?;
    if id_at < 2 {
        return Err(unexpected());
    }
    let after = &words[id_at + 1..];
    let (state, times) = after.split_first().ok_or_else(unexpected)?;
    let started = match times {
        [date, clock, ..] => table_time(date, clock)?,
        _ => return Err(unexpected()),
    };
    let finished = match times {
        [_, _] => None,
        [_, _, date, clock] => Some(table_time(date, clock)?),
        _ => return Err(unexpected()),
    };
    Ok(VeeamSession {
        job: words[..id_at - 1].join(" "),
        kind: words[id_at - 1].to_owned(),
        id: words[id_at].trim_matches(['{', '}']).to_owned(),
        state: (*state).to_owned(),
        started_unix: started,
        finished_unix: finished,
    })
}

/// "2026-11-21" "23:00" (seconds optional) as Unix seconds; the probe asks for UTC.
fn table_time(date: &str, clock: &str) -> Result<i64, ParseError> {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute][optional [:[second]]]");
    let text = format!("{date} {clock}");
    PrimitiveDateTime::parse(&text, &format)
        .map(|t| t.assume_utc().unix_timestamp())
        .map_err(|_| ParseError::Time(text))
}

/// The job state from the sessions of backup jobs, for `job` or any job. A
/// session that ended with warnings still produced a restore point, so it
/// counts as a success.
pub fn veeam_linux_state(sessions: &[VeeamSession], job: Option<&str>) -> pb::BackupJobStatus {
    let backups: Vec<&VeeamSession> = sessions
        .iter()
        .filter(|s| s.kind.eq_ignore_ascii_case("backup"))
        .filter(|s| job.is_none_or(|job| s.job == job))
        .collect();
    let Some(latest) = backups.iter().max_by_key(|s| s.started_unix) else {
        return pb::BackupJobStatus {
            result: pb::BackupResult::Unknown as i32,
            message: match job {
                Some(job) => format!("no session of Veeam job {job:?} yet"),
                None => "no Veeam backup session yet".to_owned(),
            },
            ..Default::default()
        };
    };
    let result = match latest.state.to_ascii_lowercase().as_str() {
        "success" => pb::BackupResult::Success,
        "warning" => pb::BackupResult::Warning,
        "failed" | "error" => pb::BackupResult::Failed,
        "running" | "starting" | "stopping" => pb::BackupResult::Running,
        _ => pb::BackupResult::Unknown,
    };
    let last_success = backups
        .iter()
        .filter(|s| {
            s.state.eq_ignore_ascii_case("success") || s.state.eq_ignore_ascii_case("warning")
        })
        .filter_map(|s| s.finished_unix.or(Some(s.started_unix)))
        .max();
    let running = result == pb::BackupResult::Running;
    pb::BackupJobStatus {
        last_run_started_unix_secs: Some(latest.started_unix),
        last_run_finished_unix_secs: latest.finished_unix.filter(|_| !running),
        result: result as i32,
        last_success_unix_secs: last_success,
        message: format!("session {} of {}: {}", latest.id, latest.job, latest.state),
        duration_secs: latest
            .finished_unix
            .filter(|_| !running)
            .and_then(|end| u64::try_from(end - latest.started_unix).ok()),
        destination: latest.job.clone(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        crate::fixtures::captured_output(&format!("backups/linux/{name}"))
    }

    #[test]
    fn documented_session_rows_keep_job_names_with_spaces() {
        let sessions = parse_session_list(&fixture("veeamconfig-session-list.txt")).unwrap();
        assert_eq!(sessions.len(), 4);
        assert_eq!(sessions[0].job, "srv01 daily");
        assert_eq!(sessions[0].kind, "Backup");
        assert_eq!(sessions[0].id, "c2e8d1a4-0c5e-4a5b-9f3e-6b1f0a7d2e11");
        assert_eq!(sessions[3].state, "Running");
        assert_eq!(sessions[3].finished_unix, None);
    }

    #[test]
    fn documented_running_session_keeps_the_last_success() {
        let sessions = parse_session_list(&fixture("veeamconfig-session-list.txt")).unwrap();
        let state = veeam_linux_state(&sessions, Some("srv01 daily"));
        assert_eq!(state.result, pb::BackupResult::Running as i32);
        // 2026-11-21 23:14 UTC: the failed run of the 22nd is no success.
        assert_eq!(state.last_success_unix_secs, Some(1_795_302_840));
        assert_eq!(state.last_run_finished_unix_secs, None);
    }

    #[test]
    fn documented_latest_failed_session_is_a_failure() {
        let text = fixture("veeamconfig-session-list.txt");
        let without_running: String = text
            .lines()
            .filter(|l| !l.contains("Running"))
            .map(|l| format!("{l}\n"))
            .collect();
        let sessions = parse_session_list(&without_running).unwrap();
        let state = veeam_linux_state(&sessions, Some("srv01 daily"));
        assert_eq!(state.result, pb::BackupResult::Failed as i32);
        assert_eq!(state.duration_secs, Some(60));
        assert_eq!(
            state.message,
            "session 0b9f6e3c-7a1d-4f2e-8c4b-5d3a2e1f0c22 of srv01 daily: Failed"
        );
        let other = veeam_linux_state(&sessions, Some("etc-files"));
        assert_eq!(other.result, pb::BackupResult::Success as i32);
    }

    #[test]
    fn documented_empty_session_list_means_never_ran() {
        let sessions = parse_session_list(&fixture("veeamconfig-session-list-empty.txt")).unwrap();
        assert!(sessions.is_empty());
        let state = veeam_linux_state(&sessions, None);
        assert_eq!(state.result, pb::BackupResult::Unknown as i32);
        assert_eq!(state.last_success_unix_secs, None);
        assert_eq!(state.message, "no Veeam backup session yet");
    }

    #[test]
    fn malformed_session_list_is_an_error() {
        for bad in [
            "",
            "Error: Failed to connect to veeamservice daemon.",
            "Job name Type ID State Started at Finished at\nsrv01 Backup Success 2026-11-21 23:00",
            "Job name Type ID State Started at Finished at\nsrv01 Backup {x} Success yesterday 23:00",
            "Job name Type ID State Started at Finished at\nsrv01 Backup {x} Success 2026-11-21",
        ] {
            assert!(parse_session_list(bad).is_err(), "{bad:?}");
        }
    }
}
