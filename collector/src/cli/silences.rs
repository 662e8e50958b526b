//! `silence add/list/expire`: silences and maintenance windows hold
//! notifications, not state.
//!
//! Like every command, they work on the store directly and write plain text.

use std::io::Write;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::users::audit_entry;
use super::{AdminError, format_time};
use crate::alerts::silence::{Silence, Weekly};
use crate::clock::now_unix;
use crate::rules::RuleId;
use crate::store::Store;
use crate::store::console::NewAuditEntry;

#[derive(Debug, Args)]
pub struct SilenceAddArgs {
    /// Only this device: hostname (any case), device id, or the start of a device id.
    #[arg(long)]
    device: Option<String>,
    /// Only devices of this group.
    #[arg(long)]
    group: Option<String>,
    /// Only this rule (e.g. offline_minutes).
    #[arg(long)]
    rule: Option<String>,
    /// Only this subject (mount point, certificate fingerprint, backup job).
    #[arg(long)]
    subject: Option<String>,
    /// Start: "2026-12-02 10:00", "2026-12-02T10:00:00+02:00" or "2026-12-02"; UTC unless an offset is given (default: now).
    #[arg(long)]
    starts: Option<String>,
    /// How long a one-off silence lasts; for a weekly window, until when it recurs.
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Weekly window: day of the week (e.g. sunday).
    #[arg(long)]
    every: Option<String>,
    /// Weekly window: start time HH:MM (UTC).
    #[arg(long)]
    at: Option<String>,
    /// Weekly window: length (e.g. 4h).
    #[arg(long, value_parser = humantime::parse_duration)]
    window: Option<Duration>,
    /// Why notifications are silenced.
    #[arg(long)]
    comment: String,
    /// Who adds it (default: $USER; refused when neither is given).
    #[arg(long, env = "USER")]
    by: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SilenceCommand {
    /// Add a one-off silence (--duration) or a weekly window (--every --at --window).
    Add(Box<SilenceAddArgs>),
    /// List silences.
    List,
    /// End a silence now.
    Expire {
        id: String,
        /// Who ends it, for the audit log (default: $USER; refused when neither is given).
        #[arg(long, env = "USER")]
        by: Option<String>,
    },
}

pub async fn run(
    command: SilenceCommand,
    store: &dyn Store,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    match command {
        SilenceCommand::Add(args) => {
            let SilenceAddArgs {
                device,
                group,
                rule,
                subject,
                starts,
                duration,
                every,
                at,
                window,
                comment,
                by,
            } = *args;
            let device_id = match device {
                Some(query) => Some(super::devices::find_device(store, &query).await?.id),
                None => None,
            };
            let request = SilenceRequest {
                device_id,
                group,
                rule,
                subject,
                starts,
                duration,
                weekly_on: every,
                weekly_at: at,
                window,
                comment,
                created_by: super::actor(by)?,
            };
            add_silence(store, request, out).await.map(drop)
        }
        SilenceCommand::List => list_silences(store, out).await,
        SilenceCommand::Expire { id, by } => {
            expire_silence(store, &id, &super::actor(by)?, out).await
        }
    }
}

/// What `silence add` matches and when.
#[derive(Debug, Clone, Default)]
pub struct SilenceRequest {
    pub device_id: Option<String>,
    pub group: Option<String>,
    pub rule: Option<String>,
    pub subject: Option<String>,
    /// A date and time ([`parse_start`]); now when absent.
    pub starts: Option<String>,
    /// How long a one-off silence lasts, or until when a weekly window recurs.
    pub duration: Option<Duration>,
    /// Weekly window: day name (`sunday`, `sun`) and `HH:MM` UTC.
    pub weekly_on: Option<String>,
    pub weekly_at: Option<String>,
    /// Length of each weekly window.
    pub window: Option<Duration>,
    pub comment: String,
    pub created_by: String,
}

fn invalid(message: impl Into<String>) -> AdminError {
    AdminError::InvalidSilence(message.into())
}

/// A day of the week (`sunday`, `sun`, any case) as 0 (Monday) … 6.
pub fn parse_weekday(text: &str) -> Option<u8> {
    const DAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let text = text.to_ascii_lowercase();
    DAYS.iter()
        .position(|day| text.len() >= 3 && day.starts_with(&text))
        .and_then(|i| u8::try_from(i).ok())
}

/// `HH:MM` as minutes after midnight.
pub fn parse_minute(text: &str) -> Option<u16> {
    let (hours, minutes) = text.split_once(':')?;
    let (hours, minutes): (u16, u16) = (hours.parse().ok()?, minutes.parse().ok()?);
    (hours < 24 && minutes < 60).then_some(hours * 60 + minutes)
}

/// What `--starts` accepts, for error messages.
const STARTS_EXAMPLES: &str =
    "e.g. \"2026-12-02 10:00\" (UTC), \"2026-12-02T10:00+02:00\" or \"2026-12-02\" (midnight UTC)";

/// Parses `--starts`: a date, or a date and time with minutes or seconds,
/// separated by `T` or a space, in UTC unless an offset (`Z`, `+02:00`) follows.
pub fn parse_start(text: &str) -> Result<i64, String> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    use time::{Date, OffsetDateTime, PrimitiveDateTime};

    let trimmed = text.trim();
    let mut normalized = trimmed.to_owned();
    if normalized.len() > 10 && normalized.as_bytes()[10] == b' ' {
        normalized.replace_range(10..11, "T");
    }
    if let Some(stripped) = normalized
        .strip_suffix(" UTC")
        .or_else(|| normalized.strip_suffix('Z'))
        .or_else(|| normalized.strip_suffix('z'))
    {
        normalized = format!("{}+00:00", stripped.trim_end());
    }
    let with_offset = format_description!(
        version = 2,
        "[year]-[month]-[day]T[hour]:[minute][optional [:[second][optional [.[subsecond]]]]][offset_hour sign:mandatory]:[offset_minute]"
    );
    let without_offset = format_description!(
        version = 2,
        "[year]-[month]-[day]T[hour]:[minute][optional [:[second][optional [.[subsecond]]]]]"
    );
    let parsed = OffsetDateTime::parse(&normalized, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&normalized, with_offset))
        .or_else(|_| PrimitiveDateTime::parse(&normalized, without_offset).map(|t| t.assume_utc()))
        .or_else(|_| {
            Date::parse(&normalized, format_description!("[year]-[month]-[day]"))
                .map(|d| d.midnight().assume_utc())
        });
    parsed
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|_| format!("--starts: {trimmed:?} is not a date and time; {STARTS_EXAMPLES}"))
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// Builds a silence from the command's options, refusing anything ambiguous.
pub fn build_silence(request: SilenceRequest, now: i64) -> Result<Silence, AdminError> {
    if let Some(rule) = &request.rule
        && RuleId::parse(rule).is_none()
    {
        let known: Vec<&str> = RuleId::ALL.iter().map(|r| r.as_str()).collect();
        return Err(invalid(format!(
            "--rule: unknown rule {rule:?} (known: {})",
            known.join(", ")
        )));
    }
    if request.comment.trim().is_empty() {
        return Err(invalid("--comment: say why notifications are silenced"));
    }
    if request.device_id.is_none() && request.group.is_none() && request.rule.is_none() {
        return Err(invalid("match at least one of --device, --group or --rule"));
    }
    let starts_at = match &request.starts {
        Some(text) => parse_start(text).map_err(invalid)?,
        None => now,
    };
    let ends_at = request.duration.map(|d| starts_at.saturating_add(secs(d)));
    let weekly = match (&request.weekly_on, &request.weekly_at, request.window) {
        (None, None, None) => {
            if ends_at.is_none() {
                return Err(invalid("--duration: a one-off silence needs an end"));
            }
            None
        }
        (Some(day), Some(at), Some(window)) => Some(Weekly {
            weekday: parse_weekday(day)
                .ok_or_else(|| invalid(format!("--every: {day:?} is not a day of the week")))?,
            start_minute: parse_minute(at)
                .ok_or_else(|| invalid(format!("--at: {at:?} is not HH:MM")))?,
            duration_secs: u32::try_from(window.as_secs())
                .ok()
                .filter(|&s| s > 0 && s <= 7 * 24 * 3600)
                .ok_or_else(|| invalid("--window: must be between 1 second and 7 days"))?,
        }),
        _ => {
            return Err(invalid(
                "a weekly window needs --every, --at and --window together",
            ));
        }
    };
    Ok(Silence {
        id: format!("sil-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
        device_id: request.device_id.unwrap_or_default(),
        group: request.group.unwrap_or_default(),
        rule: request.rule.unwrap_or_default(),
        subject: request.subject.unwrap_or_default(),
        starts_at,
        ends_at,
        weekly,
        comment: request.comment,
        created_by: request.created_by,
        created_at: now,
        expired_at: None,
    })
}

pub async fn add_silence(
    store: &dyn Store,
    request: SilenceRequest,
    out: &mut impl Write,
) -> Result<String, AdminError> {
    let silence = build_silence(request, now_unix())?;
    let id = silence.id.clone();
    let audit = audit_entry(
        &silence.created_by,
        "silence.add",
        &id,
        &format!("{}: {}", matchers(&silence), silence.comment),
    );
    store.add_silence(silence, audit).await?;
    writeln!(out, "silence {id} added")?;
    Ok(id)
}

fn matcher(value: &str) -> &str {
    if value.is_empty() { "*" } else { value }
}

/// What a silence matches: "device=… group=… rule=… subject=…".
fn matchers(s: &Silence) -> String {
    format!(
        "device={} group={} rule={} subject={}",
        matcher(&s.device_id),
        matcher(&s.group),
        matcher(&s.rule),
        matcher(&s.subject)
    )
}

pub async fn list_silences(store: &dyn Store, out: &mut impl Write) -> Result<(), AdminError> {
    let now = now_unix();
    writeln!(
        out,
        "{:<17} {:<9} {:<22} {:<22} {:<20} MATCH / COMMENT",
        "ID", "STATE", "STARTS", "ENDS", "WINDOW"
    )?;
    for s in store.list_silences().await? {
        let ended_at = ended_at(&s, now);
        let state = if ended_at.is_some() {
            "ended"
        } else if s.active_at(now) {
            "active"
        } else {
            "scheduled"
        };
        let window = s.weekly.map_or("once".to_owned(), |w| {
            const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
            format!(
                "{} {:02}:{:02} +{}m",
                DAYS[usize::from(w.weekday % 7)],
                w.start_minute / 60,
                w.start_minute % 60,
                w.duration_secs / 60
            )
        });
        writeln!(
            out,
            "{:<17} {:<9} {:<22} {:<22} {:<20} {} / {} ({})",
            s.id,
            state,
            format_time(s.starts_at),
            ended_at.or(s.ends_at).map_or("never".into(), format_time),
            window,
            matchers(&s),
            s.comment,
            s.created_by
        )?;
    }
    Ok(())
}

/// When a silence ended, if it has: expired early by hand or run to its end,
/// whichever came first.
fn ended_at(s: &Silence, now: i64) -> Option<i64> {
    let expired = s.expired_at.filter(|&at| at <= now);
    let ran_out = s.ends_at.filter(|&end| end <= now);
    match (expired, ran_out) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

pub async fn expire_silence(
    store: &dyn Store,
    id: &str,
    by: &str,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let now = now_unix();
    let not_found = || AdminError::NotFound {
        kind: "silence",
        id: id.to_owned(),
    };
    let silence = store
        .list_silences()
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(not_found)?;
    if let Some(at) = ended_at(&silence, now) {
        writeln!(out, "silence {id} already ended at {}", format_time(at))?;
        return Ok(());
    }
    let audit = NewAuditEntry {
        at: now,
        ..audit_entry(by, "silence.expire", id, &silence.comment)
    };
    if !store.expire_silence(id, audit).await? {
        return Err(not_found());
    }
    writeln!(out, "silence {id} expired")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::console::ConsoleStore;

    fn request() -> SilenceRequest {
        SilenceRequest {
            group: Some("servers".into()),
            comment: "patch night".into(),
            created_by: "it".into(),
            ..Default::default()
        }
    }

    #[test]
    fn starts_accepts_common_forms_in_utc_unless_an_offset_is_given() {
        // 2026-12-02T10:00:00Z
        let ten_utc = 1_796_205_600;
        for text in [
            "2026-12-02 10:00",
            "2026-12-02T10:00",
            "2026-12-02 10:00:00",
            "2026-12-02T10:00:00Z",
            "2026-12-02 10:00 UTC",
            "2026-12-02T12:00+02:00",
            "2026-12-02 12:00:00+02:00",
        ] {
            assert_eq!(parse_start(text), Ok(ten_utc), "{text}");
        }
        assert_eq!(parse_start("2026-12-02"), Ok(ten_utc - 10 * 3600));
        let err = parse_start("tomorrow 10am").unwrap_err();
        assert!(err.contains("2026-12-02 10:00"), "{err}");
    }

    #[tokio::test]
    async fn second_expire_says_when_the_silence_ended() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sqlite::SqliteStore::open(&dir.path().join("db")).unwrap();
        let id = add_silence(
            &store,
            SilenceRequest {
                duration: Some(Duration::from_secs(86_400)),
                ..request()
            },
            &mut Vec::new(),
        )
        .await
        .unwrap();
        let mut first = Vec::new();
        expire_silence(&store, &id, "olga", &mut first)
            .await
            .unwrap();
        assert!(String::from_utf8(first).unwrap().contains("expired"));
        let mut second = Vec::new();
        expire_silence(&store, &id, "olga", &mut second)
            .await
            .unwrap();
        let second = String::from_utf8(second).unwrap();
        assert!(second.contains("already ended at"), "{second}");
        let err = expire_silence(&store, "sil-nope", "olga", &mut Vec::new())
            .await
            .unwrap_err();
        assert!(matches!(err, AdminError::NotFound { .. }));
        let audit = store
            .list_audit(crate::store::console::AuditQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        let rows: Vec<(&str, &str, &str, &str)> = audit
            .iter()
            .rev()
            .map(|a| {
                (
                    a.entry.actor.as_str(),
                    a.entry.action.as_str(),
                    a.entry.target.as_str(),
                    a.entry.detail.as_str(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (
                    "cli:it",
                    "silence.add",
                    id.as_str(),
                    "device=* group=servers rule=* subject=*: patch night"
                ),
                ("cli:olga", "silence.expire", id.as_str(), "patch night"),
            ],
            "one row per change; the second expire and the unknown id wrote none"
        );
    }

    #[tokio::test]
    async fn ended_silence_lists_when_it_actually_ended() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sqlite::SqliteStore::open(&dir.path().join("db")).unwrap();
        let mut silence = build_silence(
            SilenceRequest {
                duration: Some(Duration::from_secs(30 * 86_400)),
                ..request()
            },
            1_700_000_000,
        )
        .unwrap();
        silence.expired_at = Some(1_700_000_600);
        let audit = audit_entry("it", "silence.add", &silence.id, "");
        store.add_silence(silence, audit).await.unwrap();
        let mut out = Vec::new();
        list_silences(&store, &mut out).await.unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("ended"), "{out}");
        assert!(out.contains(&format_time(1_700_000_600)), "{out}");
        assert!(
            !out.contains(&format_time(1_700_000_000 + 30 * 86_400)),
            "{out}"
        );
    }

    #[test]
    fn weekly_window_sunday_one_to_five() {
        let s = build_silence(
            SilenceRequest {
                weekly_on: Some("Sun".into()),
                weekly_at: Some("01:00".into()),
                window: Some(Duration::from_secs(4 * 3600)),
                ..request()
            },
            100,
        )
        .unwrap();
        assert_eq!(
            s.weekly,
            Some(Weekly {
                weekday: 6,
                start_minute: 60,
                duration_secs: 14_400
            })
        );
        assert_eq!((s.starts_at, s.ends_at), (100, None));
    }

    #[test]
    fn bad_requests_name_the_option() {
        let cases = [
            (
                SilenceRequest {
                    rule: Some("disk_fre".into()),
                    duration: Some(Duration::from_secs(60)),
                    ..request()
                },
                "--rule",
            ),
            (
                SilenceRequest {
                    duration: Some(Duration::from_secs(60)),
                    comment: " ".into(),
                    ..request()
                },
                "--comment",
            ),
            (request(), "--duration"),
            (
                SilenceRequest {
                    weekly_on: Some("someday".into()),
                    weekly_at: Some("01:00".into()),
                    window: Some(Duration::from_secs(60)),
                    ..request()
                },
                "--every",
            ),
            (
                SilenceRequest {
                    weekly_on: Some("sun".into()),
                    weekly_at: Some("25:00".into()),
                    window: Some(Duration::from_secs(60)),
                    ..request()
                },
                "--at",
            ),
            (
                SilenceRequest {
                    weekly_on: Some("sun".into()),
                    ..request()
                },
                "--every, --at and --window",
            ),
            (
                SilenceRequest {
                    starts: Some("tomorrow".into()),
                    duration: Some(Duration::from_secs(60)),
                    ..request()
                },
                "--starts",
            ),
            (
                SilenceRequest {
                    group: None,
                    duration: Some(Duration::from_secs(60)),
                    ..request()
                },
                "--device",
            ),
        ];
        for (req, option) in cases {
            let err = build_silence(req, 0).unwrap_err().to_string();
            assert!(err.contains(option), "{option}: {err}");
        }
    }
}
