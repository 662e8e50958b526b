//! Maintenance windows: silences of a device or a whole group, one-off
//! (from a start to an end) or weekly (chosen days, a start time and a
//! length). Like every silence they hold back notifications, not alert
//! state; an alert still firing when a window ends is notified then (see
//! `alerts::silence`).
//!
//! This is the one place the console builds such a silence from a request:
//! the API's `POST /maintenance-windows` and the pages' one-click silences
//! (`POST /ui/silences`, [`crate::web::pages::silences`]) both go through
//! [`add_windows`], so scope, rights, limits and the audit row are the same.
//!
//! Weekly windows are kept in UTC, one stored silence per day of the week, as
//! `forewarn-collector silence add --every` stores them: a request for
//! "Saturday and Sunday 01:00 for 4 h" becomes two silences, listed and
//! ended one by one.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use super::alerts::{SilenceView, silence_view};
use crate::alerts::silence::{Silence, Weekly};
use crate::cli::format_time;
use crate::cli::silences::{parse_minute, parse_weekday};
use crate::clock::now_unix;
use crate::console::auth::Caller;
use crate::console::authz::{Action, can, sees, valid_group};
use crate::console::error::{ApiError, ErrorBody};
use crate::console::state::ConsoleState;

/// Longest one-off window, and the furthest a weekly series may be planned.
const MAX_WINDOW_SECS: i64 = 366 * 86_400;
/// Longest single weekly window: a whole week.
const MAX_WEEKLY_MINUTES: u32 = 7 * 24 * 60;

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewMaintenanceWindow {
    /// The device to silence; give this or `group`.
    pub device_id: Option<String>,
    /// The group to silence; give this or `device_id`.
    pub group: Option<String>,
    /// Start, Unix seconds (now or later); now when left out. For a weekly
    /// window, the first moment the series applies.
    pub starts_at: Option<i64>,
    /// End, Unix seconds, after the start and in the future. Required for a
    /// one-off window; for a weekly one, when the series stops (left out: it
    /// recurs until ended).
    pub ends_at: Option<i64>,
    /// Makes this a weekly window.
    pub weekly: Option<WeeklyRecurrence>,
    /// Why, for whoever sees the silence (e.g. "disk swap, ticket 4711").
    pub comment: String,
}

/// A window that comes back every week.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct WeeklyRecurrence {
    /// Days of the week it applies: `monday` … `sunday`, or their first
    /// three letters; at least one.
    pub days: Vec<String>,
    /// When it starts on each of those days, `HH:MM` in UTC (weekly windows
    /// are kept in UTC).
    pub start: String,
    /// How long each window lasts, in minutes (1 to 10080, a week).
    pub duration_minutes: u32,
}

/// What a request asks for, checked: when the silences start and end, and
/// their weekly windows (none for a one-off window). Pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub starts_at: i64,
    pub ends_at: Option<i64>,
    /// One per day of the week asked for; empty for a one-off window.
    pub weekly: Vec<Weekly>,
}

/// Checks the times of a request; the error names the field that is wrong.
pub fn schedule(request: &NewMaintenanceWindow, now: i64) -> Result<Schedule, String> {
    let starts_at = request.starts_at.unwrap_or(now);
    if let Some(end) = request.ends_at {
        if end <= starts_at || end <= now {
            return Err("ends_at: must be after starts_at and in the future (Unix seconds)".into());
        }
        if request.weekly.is_none() && end - starts_at.max(now) > MAX_WINDOW_SECS {
            return Err("ends_at: a one-off maintenance window lasts at most 366 days".into());
        }
    }
    if starts_at > now + MAX_WINDOW_SECS {
        return Err("starts_at: at most 366 days ahead".into());
    }
    let Some(recurrence) = &request.weekly else {
        if request.ends_at.is_none() {
            return Err(
                "ends_at: a one-off maintenance window needs an end (or give `weekly` for a recurring one)"
                    .into(),
            );
        }
        return Ok(Schedule {
            starts_at,
            ends_at: request.ends_at,
            weekly: Vec::new(),
        });
    };
    if recurrence.days.is_empty() {
        return Err("weekly.days: name at least one day of the week (e.g. \"sunday\")".into());
    }
    let start_minute = parse_minute(&recurrence.start).ok_or_else(|| {
        format!(
            "weekly.start: {:?} is not a time of day HH:MM (UTC), e.g. \"01:30\"",
            recurrence.start
        )
    })?;
    if !(1..=MAX_WEEKLY_MINUTES).contains(&recurrence.duration_minutes) {
        return Err(format!(
            "weekly.duration_minutes: from 1 to {MAX_WEEKLY_MINUTES} (a week); got {}",
            recurrence.duration_minutes
        ));
    }
    let mut weekdays = Vec::with_capacity(recurrence.days.len());
    for day in &recurrence.days {
        let weekday = parse_weekday(day.trim()).ok_or_else(|| {
            format!("weekly.days: {day:?} is not a day of the week (monday … sunday)")
        })?;
        if !weekdays.contains(&weekday) {
            weekdays.push(weekday);
        }
    }
    weekdays.sort_unstable();
    Ok(Schedule {
        starts_at,
        ends_at: request.ends_at,
        weekly: weekdays
            .into_iter()
            .map(|weekday| Weekly {
                weekday,
                start_minute,
                duration_secs: recurrence.duration_minutes * 60,
            })
            .collect(),
    })
}

/// A silence made from one alert (`POST /alerts/{id}/silence`) that holds
/// back that alert's rule and subject only, not the whole device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertMatch {
    /// The alert it was made from, for the audit row.
    pub alert_id: i64,
    pub rule: String,
    pub subject: String,
}

/// "device web-01 (a1b2c3)" or "group laptops", for audit rows; with the
/// alert a silence was made from and its rule and subject, if any.
fn describe(device: Option<(&str, &str)>, group: &str, only: Option<&AlertMatch>) -> String {
    let target = match device {
        Some((id, hostname)) => format!("device {hostname} ({id})"),
        None => format!("group {group}"),
    };
    match only {
        Some(only) if only.subject.is_empty() => {
            format!("{target}, {} (from alert {})", only.rule, only.alert_id)
        }
        Some(only) => format!(
            "{target}, {} on {} (from alert {})",
            only.rule, only.subject, only.alert_id
        ),
        None => target,
    }
}

/// Schedules the silences a request asks for, after checking the caller's
/// scope and rights; each silence is stored with its audit row under
/// `action` (`maintenance.add` from the API, `silence.add` from a page's
/// one-click silence or an alert's silence), in one transaction. `only`
/// narrows the silences to one alert's rule and subject. Returns the
/// silences stored.
pub async fn add_windows(
    state: &ConsoleState,
    caller: &Caller,
    request: &NewMaintenanceWindow,
    only: Option<&AlertMatch>,
    action: &str,
) -> Result<Vec<Silence>, ApiError> {
    let now = now_unix();
    let device_id = request.device_id.as_deref().map(str::trim);
    let group = request.group.as_deref().map(str::trim);
    let (device, group) = match (device_id, group) {
        (Some(id), None) if !id.is_empty() => {
            let device = state
                .store
                .device(id)
                .await?
                .filter(|d| sees(&caller.principal, &d.group))
                .ok_or_else(|| ApiError::not_found("device", id))?;
            (Some(device.clone()), device.group)
        }
        (None, Some(group)) if valid_group(group) => (None, group.to_owned()),
        (None, Some(group)) => {
            return Err(ApiError::invalid(format!(
                "group: {group:?} is not a group name (letters, digits, '-', '_', '.')"
            )));
        }
        _ => {
            return Err(ApiError::invalid(
                "device_id, group: give exactly one of them",
            ));
        }
    };
    if !can(&caller.principal, Action::Silence, Some(&group)) {
        return Err(ApiError::forbidden(format!(
            "silencing group {group} needs the operator role over that group; you are {} over {}",
            caller.principal.role,
            caller.principal.scope.to_list().join(", ")
        )));
    }
    let planned = schedule(request, now).map_err(ApiError::invalid)?;
    let weekly: Vec<Option<Weekly>> = if planned.weekly.is_empty() {
        vec![None]
    } else {
        planned.weekly.iter().copied().map(Some).collect()
    };
    let target = describe(
        device
            .as_ref()
            .map(|d| (d.id.as_str(), d.hostname.as_str())),
        &group,
        only,
    );
    let mut stored = Vec::with_capacity(weekly.len());
    for weekly in weekly {
        let silence = Silence {
            id: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
            device_id: device.as_ref().map(|d| d.id.clone()).unwrap_or_default(),
            group: if device.is_some() {
                String::new()
            } else {
                group.clone()
            },
            rule: only.map(|o| o.rule.clone()).unwrap_or_default(),
            subject: only.map(|o| o.subject.clone()).unwrap_or_default(),
            starts_at: planned.starts_at,
            ends_at: planned.ends_at,
            weekly,
            comment: request.comment.trim().to_owned(),
            created_by: caller.principal.name.clone(),
            created_at: now,
            expired_at: None,
        };
        let audit = caller.audit_entry(
            action,
            &silence.id,
            format!("{target}, {}: {}", window_text(&silence), silence.comment),
        );
        state.store.add_silence(silence.clone(), audit).await?;
        stored.push(silence);
    }
    Ok(stored)
}

/// When a silence applies, in words, for audit rows: "every Sun 01:00 UTC
/// for 240 min from … until …" or "from … until …".
pub fn window_text(s: &Silence) -> String {
    let span = match s.ends_at {
        Some(end) => format!(
            "from {} until {}",
            format_time(s.starts_at),
            format_time(end)
        ),
        None => format!("from {}", format_time(s.starts_at)),
    };
    match s.weekly {
        Some(w) => format!(
            "every {} {:02}:{:02} UTC for {} min {span}",
            weekday_name(w.weekday),
            w.start_minute / 60,
            w.start_minute % 60,
            w.duration_secs / 60
        ),
        None => span,
    }
}

/// "Mon" … "Sun" for 0 … 6.
pub fn weekday_name(day: u8) -> &'static str {
    ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        .get(usize::from(day))
        .copied()
        .unwrap_or("?")
}

/// Schedule a maintenance window for a device or a group (operator): one-off
/// (`starts_at`, `ends_at`) or weekly (`weekly`: days, start time in UTC,
/// length). Answers the silences stored: one for a one-off window, one per
/// day of the week for a weekly one.
#[utoipa::path(post, path = "/maintenance-windows", tag = "alerts", request_body = NewMaintenanceWindow,
    responses((status = 200, body = Vec<SilenceView>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create(
    State(state): State<ConsoleState>,
    caller: Caller,
    Json(request): Json<NewMaintenanceWindow>,
) -> Result<Json<Vec<SilenceView>>, ApiError> {
    let stored = add_windows(&state, &caller, &request, None, "maintenance.add").await?;
    let now = now_unix();
    Ok(Json(stored.iter().map(|s| silence_view(s, now)).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;

    fn request(starts_at: Option<i64>, ends_at: Option<i64>) -> NewMaintenanceWindow {
        NewMaintenanceWindow {
            device_id: None,
            group: Some("laptops".into()),
            starts_at,
            ends_at,
            weekly: None,
            comment: "disk swap".into(),
        }
    }

    fn weekly(days: &[&str], start: &str, duration_minutes: u32) -> NewMaintenanceWindow {
        NewMaintenanceWindow {
            weekly: Some(WeeklyRecurrence {
                days: days.iter().map(|d| (*d).to_owned()).collect(),
                start: start.into(),
                duration_minutes,
            }),
            ..request(None, None)
        }
    }

    #[test]
    fn a_one_off_window_needs_an_end_after_its_start_and_within_366_days() {
        assert_eq!(
            schedule(&request(Some(NOW + 60), Some(NOW + 3600)), NOW),
            Ok(Schedule {
                starts_at: NOW + 60,
                ends_at: Some(NOW + 3600),
                weekly: Vec::new()
            })
        );
        assert_eq!(
            schedule(&request(None, Some(NOW + 60)), NOW).map(|s| s.starts_at),
            Ok(NOW),
            "starts now when left out"
        );
        for (starts, ends, field) in [
            (None, None, "ends_at:"),
            (Some(NOW + 60), Some(NOW + 30), "ends_at:"),
            (None, Some(NOW + 400 * 86_400), "ends_at:"),
            (
                Some(NOW + 400 * 86_400),
                Some(NOW + 401 * 86_400),
                "starts_at:",
            ),
        ] {
            let err = schedule(&request(starts, ends), NOW).unwrap_err();
            assert!(err.starts_with(field), "{starts:?}..{ends:?}: {err}");
        }
    }

    #[test]
    fn a_weekly_window_is_one_silence_per_day_in_utc() {
        let planned = schedule(&weekly(&["sunday", "Sat", "sun"], "01:30", 240), NOW).unwrap();
        assert_eq!(planned.ends_at, None, "recurs until ended");
        assert_eq!(
            planned.weekly,
            [5, 6].map(|weekday| Weekly {
                weekday,
                start_minute: 90,
                duration_secs: 4 * 3600
            })
        );
    }

    #[test]
    fn weekly_errors_name_the_field() {
        for (request, field) in [
            (weekly(&[], "01:00", 60), "weekly.days:"),
            (weekly(&["funday"], "01:00", 60), "weekly.days:"),
            (weekly(&["mon"], "25:00", 60), "weekly.start:"),
            (weekly(&["mon"], "1am", 60), "weekly.start:"),
            (weekly(&["mon"], "01:00", 0), "weekly.duration_minutes:"),
            (
                weekly(&["mon"], "01:00", 10_081),
                "weekly.duration_minutes:",
            ),
        ] {
            let err = schedule(&request, NOW).unwrap_err();
            assert!(err.starts_with(field), "{request:?}: {err}");
        }
    }

    #[test]
    fn audit_text_says_when_a_window_applies() {
        let silence = Silence {
            id: "s1".into(),
            device_id: String::new(),
            group: "laptops".into(),
            rule: String::new(),
            subject: String::new(),
            starts_at: 100,
            ends_at: None,
            weekly: Some(Weekly {
                weekday: 6,
                start_minute: 60,
                duration_secs: 7200,
            }),
            comment: String::new(),
            created_by: "olga".into(),
            created_at: 100,
            expired_at: None,
        };
        assert_eq!(
            window_text(&silence),
            "every Sun 01:00 UTC for 120 min from 1970-01-01T00:01:40Z"
        );
    }
}
