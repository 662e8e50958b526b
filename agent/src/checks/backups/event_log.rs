//! Pure parsers of Windows event log entries, as `wevtutil qe <log> /rd:true
//! /f:RenderedXml` prints them, and the job states Windows Server Backup and
//! Veeam Agent for Windows events tell. Compiled and tested on every OS.
//!
//! wevtutil prints one `<Event>` element per entry with no enclosing root,
//! newest first with `/rd:true`, and nothing at all when no entry matches.
//! `RenderedXml` adds the message text (`RenderingInfo/Message`) to the raw
//! fields; the parsers use it when present and fall back to the raw fields.
//!
//! Windows Server Backup event ids (channel Microsoft-Windows-Backup): 4 is
//! "The backup operation has finished successfully."; the failure ids below
//! are the ones the provider's manifest declares at level Error (as listed by
//! OTRF/OSSEM's Microsoft-Windows-Backup data dictionary) that backup
//! monitors watch for. Ids that could not be sourced as errors (14 is the
//! informational end of an operation; 49, 100, 612 are not in the manifest
//! list) are left out. Veeam Agent for Windows logs event 190 ("Backup Job
//! Finished": "Veeam Agent <job> finished with <status>.") at level
//! Information, Warning or Error (Veeam Agent for Microsoft Windows User
//! Guide, Appendix A).

use quick_xml::events::Event as XmlEvent;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use forewarn_proto::pb;

use super::parse::ParseError;
use crate::command::CommandOutput;

/// The Windows Server Backup event log.
pub const SERVER_BACKUP_LOG: &str = "Microsoft-Windows-Backup";
/// Event id of a finished, successful Windows Server Backup run.
pub const SERVER_BACKUP_SUCCESS: u32 = 4;
/// Windows Server Backup events that end a backup with an error.
pub const SERVER_BACKUP_FAILURES: &[u32] = &[
    5, 8, 9, 17, 18, 19, 20, 21, 22, 50, 52, 517, 518, 521, 527, 528, 544, 545, 546, 561, 564,
];
/// The Veeam Agent for Windows event log.
pub const VEEAM_LOG: &str = "Veeam Agent";
/// Event id of a finished Veeam Agent backup job, whatever its result.
pub const VEEAM_JOB_FINISHED: u32 = 190;
/// How many event 190 entries are read: enough to find the configured job's
/// latest run and, usually, its last success among several jobs and retries.
pub const VEEAM_EVENTS_READ: u32 = 100;
/// wevtutil's exit code for a log that does not exist (ERROR_EVT_CHANNEL_NOT_FOUND).
const CHANNEL_NOT_FOUND: i32 = 15007;
/// Longest message kept from an event.
const MAX_MESSAGE_CHARS: usize = 500;

/// One event log entry, with the fields the backup parsers use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogEvent {
    pub id: u32,
    /// 1 critical, 2 error, 3 warning, 4 information.
    pub level: u8,
    pub time_unix: i64,
    /// `EventData/Data` values, with their `Name` attribute when they have one.
    pub data: Vec<(Option<String>, String)>,
    /// The rendered message, when wevtutil was asked for `RenderedXml`.
    pub message: Option<String>,
}

impl LogEvent {
    fn data(&self, name: &str) -> Option<&str> {
        self.data
            .iter()
            .find(|(key, _)| key.as_deref() == Some(name))
            .map(|(_, value)| value.as_str())
    }
}

/// The XPath query selecting `ids` in wevtutil's `/q:` syntax.
pub fn event_id_query(ids: &[u32]) -> String {
    let ids: Vec<String> = ids.iter().map(|id| format!("EventID={id}")).collect();
    format!("*[System[({})]]", ids.join(" or "))
}

/// The arguments of `wevtutil` reading the `count` newest entries of `log` matching `ids`.
pub fn wevtutil_args(log: &str, ids: &[u32], count: u32) -> Vec<String> {
    vec![
        "qe".to_owned(),
        log.to_owned(),
        "/rd:true".to_owned(),
        format!("/c:{count}"),
        "/f:RenderedXml".to_owned(),
        format!("/q:{}", event_id_query(ids)),
    ]
}

/// The events in wevtutil's output, in the order printed.
pub fn parse_events(xml: &str) -> Result<Vec<LogEvent>, ParseError> {
    let invalid = |message: String| ParseError::Xml(message);
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut events = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut current: Option<LogEvent> = None;
    let mut text = String::new();
    let mut data_name: Option<String> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|err| invalid(format!("at byte {}: {err}", reader.error_position())))?;
        match event {
            XmlEvent::Start(element) if element.local_name().as_ref() == "Event" => {
                if current.is_some() {
                    return Err(invalid("an Event inside an Event".to_owned()));
                }
                current = Some(LogEvent::default());
                path.push("Event".to_owned());
            }
            XmlEvent::Start(element) => {
                let name = element.local_name().as_ref().to_owned();
                if name == "Data" {
                    data_name = attribute(&element, "Name")?;
                }
                text.clear();
                path.push(name);
            }
            XmlEvent::Empty(element) => {
                if element.local_name().as_ref() == "TimeCreated"
                    && let (Some(event), Some(at)) =
                        (current.as_mut(), attribute(&element, "SystemTime")?)
                {
                    event.time_unix = OffsetDateTime::parse(&at, &Rfc3339)
                        .map_err(|_| ParseError::Time(at.clone()))?
                        .unix_timestamp();
                }
                if element.local_name().as_ref() == "Data"
                    && let Some(event) = current.as_mut()
                {
                    event
                        .data
                        .push((attribute(&element, "Name")?, String::new()));
                }
            }
            XmlEvent::Text(content) => text.push_str(&content.xml10_content()),
            XmlEvent::CData(content) => text.push_str(&content.xml10_content()),
            XmlEvent::GeneralRef(reference) => match reference.resolve_char_ref() {
                Ok(Some(ch)) => text.push(ch),
                _ => text.push(predefined_entity(&reference.into_inner())?),
            },
            XmlEvent::End(element) => {
                let name = element.local_name().as_ref().to_owned();
                if name == "Event" {
                    let event = current
                        .take()
                        .ok_or_else(|| invalid("stray </Event>".into()))?;
                    if event.id == 0 {
                        return Err(invalid("an Event without an EventID".to_owned()));
                    }
                    events.push(event);
                    path.clear();
                    continue;
                }
                let parent = path.len().checked_sub(2).and_then(|i| path.get(i)).cloned();
                path.pop();
                let Some(event) = current.as_mut() else {
                    continue;
                };
                let value = std::mem::take(&mut text);
                match (parent.as_deref(), name.as_str()) {
                    (Some("System"), "EventID") => {
                        event.id = value
                            .trim()
                            .parse()
                            .map_err(|_| invalid(format!("EventID {value:?}")))?;
                    }
                    (Some("System"), "Level") => {
                        event.level = value
                            .trim()
                            .parse()
                            .map_err(|_| invalid(format!("Level {value:?}")))?;
                    }
                    (Some("EventData"), "Data") => event.data.push((data_name.take(), value)),
                    (Some("RenderingInfo"), "Message") => event.message = Some(value),
                    _ => {}
                }
            }
            XmlEvent::Eof => break,
            _ => {}
        }
    }
    if current.is_some() {
        return Err(invalid("output ends inside an Event".to_owned()));
    }
    Ok(events)
}

fn attribute(
    element: &quick_xml::events::BytesStart<'_>,
    name: &str,
) -> Result<Option<String>, ParseError> {
    match element.try_get_attribute(name) {
        Ok(Some(attribute)) => attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map(|value| Some(value.into_owned()))
            .map_err(|err| ParseError::Xml(err.to_string())),
        Ok(None) => Ok(None),
        Err(err) => Err(ParseError::Xml(err.to_string())),
    }
}

fn predefined_entity(name: &str) -> Result<char, ParseError> {
    match name {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "quot" => Ok('"'),
        "apos" => Ok('\''),
        other => Err(ParseError::Xml(format!("unknown entity &{other};"))),
    }
}

/// Why wevtutil could not read `log`: a missing log means `product` is not installed.
pub fn wevtutil_error(log: &str, product: &str, output: &CommandOutput) -> String {
    let stderr = output.stderr_text();
    if output.exit_code == Some(CHANNEL_NOT_FOUND) || stderr.contains("channel could not be found")
    {
        return format!("{product} is not installed (no {log:?} event log)");
    }
    let first = stderr.lines().map(str::trim).find(|l| !l.is_empty());
    format!(
        "wevtutil failed with exit code {:?}: {}",
        output.exit_code,
        first.unwrap_or("no error output")
    )
}

/// A message fit for a report: one line, bounded, without the invisible
/// left-to-right marks Windows puts around dates in messages.
fn clean_message(text: &str) -> String {
    text.replace(['\u{200e}', '\u{200f}'], "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .collect()
}

/// The Windows Server Backup job state from the newest outcome event (success
/// or failure) and the newest success event; `None` for both means never ran.
pub fn server_backup_state(
    latest: Option<&LogEvent>,
    last_success: Option<&LogEvent>,
) -> Result<pb::BackupJobStatus, ParseError> {
    let Some(latest) = latest else {
        return Ok(pb::BackupJobStatus {
            result: pb::BackupResult::Unknown as i32,
            message: "no Windows Server Backup run in the event log".to_owned(),
            ..Default::default()
        });
    };
    let started = match latest.data("BackupTime") {
        Some(text) if !text.is_empty() => Some(
            OffsetDateTime::parse(text, &Rfc3339)
                .map_err(|_| ParseError::Time(text.to_owned()))?
                .unix_timestamp(),
        ),
        _ => None,
    };
    let success = latest.id == SERVER_BACKUP_SUCCESS;
    let message = match (&latest.message, success) {
        (Some(message), _) => clean_message(message),
        (None, true) => "The backup operation has finished successfully.".to_owned(),
        (None, false) => {
            let mut message = format!("backup failed (event {})", latest.id);
            if let Some(code) = latest.data("HRESULT") {
                message.push_str(&format!(", error code {code}"));
            }
            // Unrendered messages are message-table references ("%%2155348165").
            if let Some(text) = latest.data("ErrorMessage").filter(|t| !t.starts_with("%%")) {
                message.push_str(&format!(": {}", clean_message(text)));
            }
            message
        }
    };
    Ok(pb::BackupJobStatus {
        last_run_started_unix_secs: started,
        last_run_finished_unix_secs: Some(latest.time_unix),
        result: if success {
            pb::BackupResult::Success
        } else {
            pb::BackupResult::Failed
        } as i32,
        last_success_unix_secs: last_success.map(|event| event.time_unix),
        message,
        duration_secs: started.and_then(|s| u64::try_from(latest.time_unix - s).ok()),
        destination: latest.data("BackupTarget").unwrap_or_default().to_owned(),
        ..Default::default()
    })
}

/// What an event 190 says: the job's name and its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VeeamRun {
    pub job: String,
    pub result: pb::BackupResult,
    pub finished_unix: i64,
    pub message: String,
}

/// Reads an event 190: "Veeam Agent <job> finished with <status>." in the
/// message; without a message the level stands for the result.
pub fn veeam_run(event: &LogEvent) -> VeeamRun {
    let message = event
        .message
        .as_deref()
        .map(clean_message)
        .unwrap_or_default();
    let (job, status) = match message.split_once(" finished with ") {
        Some((head, tail)) => (
            head.trim_start_matches("Veeam Agent")
                .trim()
                .trim_matches(['\'', '"'])
                .to_owned(),
            tail.trim_end_matches('.').trim().to_owned(),
        ),
        None => (String::new(), String::new()),
    };
    let result = match status.to_ascii_lowercase().as_str() {
        "success" => pb::BackupResult::Success,
        "warning" => pb::BackupResult::Warning,
        "failed" | "error" => pb::BackupResult::Failed,
        _ => match event.level {
            4 => pb::BackupResult::Success,
            3 => pb::BackupResult::Warning,
            1 | 2 => pb::BackupResult::Failed,
            _ => pb::BackupResult::Unknown,
        },
    };
    VeeamRun {
        job,
        result,
        finished_unix: event.time_unix,
        message,
    }
}

/// The Veeam Agent for Windows job state from event 190 entries (newest
/// first), for `job` or any job. A run that finished with warnings still
/// produced a restore point, so it counts as a success.
pub fn veeam_windows_state(events: &[LogEvent], job: Option<&str>) -> pb::BackupJobStatus {
    let runs: Vec<VeeamRun> = events
        .iter()
        .filter(|event| event.id == VEEAM_JOB_FINISHED)
        .map(veeam_run)
        .filter(|run| job.is_none_or(|job| run.job == job))
        .collect();
    let Some(latest) = runs.iter().max_by_key(|run| run.finished_unix) else {
        return pb::BackupJobStatus {
            result: pb::BackupResult::Unknown as i32,
            message: match job {
                Some(job) => format!("no finished run of Veeam job {job:?} in the event log"),
                None => "no finished Veeam Agent job in the event log".to_owned(),
            },
            ..Default::default()
        };
    };
    let last_success = runs
        .iter()
        .filter(|run| {
            matches!(
                run.result,
                pb::BackupResult::Success | pb::BackupResult::Warning
            )
        })
        .map(|run| run.finished_unix)
        .max();
    pb::BackupJobStatus {
        last_run_finished_unix_secs: Some(latest.finished_unix),
        result: latest.result as i32,
        last_success_unix_secs: last_success,
        message: latest.message.clone(),
        destination: latest.job.clone(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        crate::fixtures::captured_output(&format!("backups/windows/{name}"))
    }

    #[test]
    fn captured_success_event_gives_time_target_and_duration() {
        let events = parse_events(&fixture("wevtutil-backup-success.txt")).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].id, 4);
        assert_eq!(events[0].level, 4);
        let state = server_backup_state(Some(&events[0]), Some(&events[0])).unwrap();
        assert_eq!(state.result, pb::BackupResult::Success as i32);
        // 2016-11-13T09:23:21Z, started 2016-11-13T09:00:09Z.
        assert_eq!(state.last_run_finished_unix_secs, Some(1_479_029_001));
        assert_eq!(state.last_success_unix_secs, Some(1_479_029_001));
        assert_eq!(state.last_run_started_unix_secs, Some(1_479_027_609));
        assert_eq!(state.duration_secs, Some(1392));
        assert_eq!(state.destination, r"\\path");
        assert_eq!(
            state.message,
            "The backup operation has finished successfully."
        );
    }

    #[test]
    fn documented_failure_event_reports_its_message_and_keeps_the_older_success() {
        let success = parse_events(&fixture("wevtutil-backup-success.txt")).unwrap();
        let failed = parse_events(&fixture("wevtutil-backup-failed.txt")).unwrap();
        assert_eq!(failed[0].id, 5);
        assert_eq!(failed[0].data("HRESULT"), Some("0x807800c5"));
        let state = server_backup_state(Some(&failed[0]), Some(&success[0])).unwrap();
        assert_eq!(state.result, pb::BackupResult::Failed as i32);
        assert_eq!(state.last_success_unix_secs, Some(1_479_029_001));
        assert!(
            state.message.starts_with(
                "The backup operation that started at '2016-11-14T09:00:08.527112300Z' has failed with following error code '0x807800C5'"
            ),
            "{state:?}"
        );
    }

    #[test]
    fn documented_unrendered_failure_names_event_and_error_code() {
        let mut failed = parse_events(&fixture("wevtutil-backup-failed.txt")).unwrap();
        failed[0].message = None;
        let state = server_backup_state(Some(&failed[0]), None).unwrap();
        assert_eq!(
            state.message,
            "backup failed (event 5), error code 0x807800c5"
        );
        assert_eq!(state.last_success_unix_secs, None);
    }

    #[test]
    fn no_backup_event_means_never_ran() {
        // wevtutil prints nothing at all when no entry matches the query.
        let events = parse_events("").unwrap();
        let state = server_backup_state(events.first(), None).unwrap();
        assert_eq!(state.result, pb::BackupResult::Unknown as i32);
        assert_eq!(state.last_success_unix_secs, None);
    }

    #[test]
    fn missing_backup_log_means_not_installed() {
        let stderr = fixture("wevtutil-channel-missing.txt");
        let output = CommandOutput {
            exit_code: Some(15007),
            stdout: Vec::new(),
            stderr: stderr.into_bytes(),
        };
        assert_eq!(
            wevtutil_error(SERVER_BACKUP_LOG, "Windows Server Backup", &output),
            "Windows Server Backup is not installed (no \"Microsoft-Windows-Backup\" event log)"
        );
        let denied = CommandOutput {
            exit_code: Some(5),
            stdout: Vec::new(),
            stderr: b"Failed to read events. Access is denied.\r\n".to_vec(),
        };
        assert_eq!(
            wevtutil_error(VEEAM_LOG, "Veeam Agent", &denied),
            "wevtutil failed with exit code Some(5): Failed to read events. Access is denied."
        );
    }

    #[test]
    fn malformed_event_xml_is_an_error() {
        for bad in [
            "<Event><System><EventID>4</EventID></System>",
            "<Event><System><EventID>four</EventID></System></Event>",
            "<Event><System><Level>4</Level></System></Event>",
            "<Event><System><EventID>4</EventID><TimeCreated SystemTime='yesterday'/></System></Event>",
            "<Event><System><EventID>4</EventID></Sys></Event>",
        ] {
            assert!(parse_events(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn query_selects_success_and_failure_ids() {
        let args = wevtutil_args(SERVER_BACKUP_LOG, &[4, 5], 1);
        assert_eq!(
            args,
            [
                "qe",
                "Microsoft-Windows-Backup",
                "/rd:true",
                "/c:1",
                "/f:RenderedXml",
                "/q:*[System[(EventID=4 or EventID=5)]]"
            ]
        );
    }

    #[test]
    fn documented_veeam_190_events_give_latest_result_and_last_success() {
        let events = parse_events(&fixture("wevtutil-veeam-190.txt")).unwrap();
        assert_eq!(events.len(), 3);
        let state = veeam_windows_state(&events, Some("Backup Job LAPTOP-17"));
        assert_eq!(state.result, pb::BackupResult::Failed as i32);
        assert_eq!(
            state.message,
            "Veeam Agent 'Backup Job LAPTOP-17' finished with Failed."
        );
        // The warning run of 2026-11-23T01:09:40Z still made a restore point.
        assert_eq!(state.last_success_unix_secs, Some(1_795_396_180));
        assert_eq!(state.last_run_finished_unix_secs, Some(1_795_482_432));
        assert_eq!(state.destination, "Backup Job LAPTOP-17");
    }

    #[test]
    fn documented_veeam_result_falls_back_to_the_level() {
        let events = parse_events(&fixture("wevtutil-veeam-190.txt")).unwrap();
        let unrendered: Vec<LogEvent> = events
            .into_iter()
            .map(|event| LogEvent {
                message: None,
                ..event
            })
            .collect();
        let results: Vec<pb::BackupResult> =
            unrendered.iter().map(|e| veeam_run(e).result).collect();
        assert_eq!(
            results,
            [
                pb::BackupResult::Failed,
                pb::BackupResult::Warning,
                pb::BackupResult::Success
            ]
        );
    }

    #[test]
    fn documented_veeam_job_that_never_ran() {
        let events = parse_events(&fixture("wevtutil-veeam-190.txt")).unwrap();
        let state = veeam_windows_state(&events, Some("Other Job"));
        assert_eq!(state.result, pb::BackupResult::Unknown as i32);
        assert_eq!(state.last_success_unix_secs, None);
        assert!(state.message.contains("Other Job"), "{state:?}");
        assert_eq!(
            veeam_windows_state(&[], None).message,
            "no finished Veeam Agent job in the event log"
        );
    }
}
