//! Silences and maintenance windows (`/silences`): the list, "end now",
//! and one-click silences of a device or a group for 1 h, 1 day or until a
//! chosen time (`POST /ui/silences`, used by this page and the device page).
//!
//! Silencing a device or a group from now for a while is this page's own
//! route; the silence is built and checked by the API's maintenance windows
//! ([`crate::console::api::maintenance`]): session or token, CSRF token,
//! operator over the group, audited as `silence.add`. Weekly windows are
//! created by this page's form through `POST /api/v1/maintenance-windows`.

use std::collections::HashMap;

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::format::{ago, when};
use super::{Chrome, PageError, SignedIn, render};
use crate::alerts::silence::Silence;
use crate::clock::now_unix;
use crate::console::api::maintenance::{NewMaintenanceWindow, add_windows, weekday_name};
use crate::console::auth::Caller;
use crate::console::authz::{Action, Principal, can, sees};
use crate::console::error::ApiError;
use crate::console::state::ConsoleState;

/// The group a silence touches, for scope: its group, else its device's;
/// `None` for fleet-wide ones and ones of devices that are gone.
fn silence_group(groups: &HashMap<String, String>, s: &Silence) -> Option<String> {
    if !s.group.is_empty() {
        return Some(s.group.clone());
    }
    groups.get(&s.device_id).cloned()
}

/// Whether `principal` sees a silence: one of its groups', or a fleet-wide
/// one (it silences their devices too). Same rule as the API's list.
pub fn sees_silence(principal: &Principal, groups: &HashMap<String, String>, s: &Silence) -> bool {
    match silence_group(groups, s) {
        Some(group) => sees(principal, &group),
        None => s.device_id.is_empty() || principal.scope.is_all(),
    }
}

#[derive(Debug)]
pub struct SilenceRow {
    pub id: String,
    /// "device web-01", "group laptops", "every device".
    pub target: String,
    pub device_id: String,
    pub matcher: String,
    pub window: String,
    pub weekly: bool,
    /// "in force", "next: Sat 02:00 UTC", "scheduled", "ended".
    pub state: String,
    pub ended: bool,
    pub comment: String,
    pub created_by: String,
    pub can_end: bool,
}

/// One silence as the list shows it. Pure.
pub fn row(
    s: &Silence,
    hostnames: &HashMap<String, String>,
    now: i64,
    can_end: bool,
) -> SilenceRow {
    let target = if !s.device_id.is_empty() {
        format!(
            "device {}",
            hostnames
                .get(&s.device_id)
                .map_or(s.device_id.as_str(), String::as_str)
        )
    } else if !s.group.is_empty() {
        format!("group {}", s.group)
    } else {
        "every device".into()
    };
    let matcher = match (s.rule.as_str(), s.subject.as_str()) {
        ("", _) => "all alerts".into(),
        (rule, "") => rule.to_owned(),
        (rule, subject) => format!("{rule} on {subject}"),
    };
    let window = match &s.weekly {
        Some(w) => format!(
            "every {} {:02}:{:02} UTC for {} min",
            weekday_name(w.weekday),
            w.start_minute / 60,
            w.start_minute % 60,
            w.duration_secs / 60
        ),
        None => format!(
            "{} → {}",
            when(Some(s.starts_at)),
            s.ends_at.map_or("no end".into(), |e| format!(
                "{} ({})",
                when(Some(e)),
                ago(now, Some(e))
            ))
        ),
    };
    let (state, ended) = state(s, now);
    SilenceRow {
        id: s.id.clone(),
        target,
        device_id: s.device_id.clone(),
        matcher,
        window,
        weekly: s.weekly.is_some(),
        state,
        ended,
        comment: s.comment.clone(),
        created_by: s.created_by.clone(),
        can_end: can_end && !ended,
    }
}

/// What a silence's row says of it at `now`, and whether it has ended:
/// "in force" while it holds notifications back (a weekly window only
/// inside its windows), else when it next does. Pure.
pub fn state(s: &Silence, now: i64) -> (String, bool) {
    if s.expired_at.is_some_and(|t| t <= now) || s.ends_at.is_some_and(|e| e <= now) {
        return ("ended".into(), true);
    }
    if s.active_at(now) {
        return ("in force".into(), false);
    }
    let text = match (s.next_start(now), s.weekly) {
        (Some(next), Some(_)) => format!("next: {}", next_window(next, now)),
        (Some(_), None) => "scheduled".into(),
        (None, _) => "no window left before it ends".into(),
    };
    (text, false)
}

/// "Sat 02:00 UTC" for a time less than six days ahead, else with its date
/// ("Sat 2027-01-09 02:00 UTC"): a day name alone is only clear within the
/// week. Pure.
pub fn next_window(at: i64, now: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(at) else {
        return when(Some(at));
    };
    let day = weekday_name(t.weekday().number_days_from_monday());
    if at - now < 6 * 86_400 {
        format!("{day} {:02}:{:02} UTC", t.hour(), t.minute())
    } else {
        format!("{day} {}", when(Some(at)))
    }
}

#[derive(Template)]
#[template(path = "silences.html")]
struct SilencesPage {
    chrome: Chrome,
    current: Vec<SilenceRow>,
    ended: Vec<SilenceRow>,
    groups: Vec<String>,
    /// The weekly window form's days: (value the API takes, label).
    weekdays: [(&'static str, &'static str); 7],
}

const WEEKDAYS: [(&str, &str); 7] = [
    ("monday", "Mon"),
    ("tuesday", "Tue"),
    ("wednesday", "Wed"),
    ("thursday", "Thu"),
    ("friday", "Fri"),
    ("saturday", "Sat"),
    ("sunday", "Sun"),
];

pub async fn page(
    State(state): State<ConsoleState>,
    SignedIn(caller): SignedIn,
) -> Result<Response, PageError> {
    let devices = state.store.list_devices().await?;
    let groups: HashMap<String, String> = devices
        .iter()
        .map(|d| (d.id.clone(), d.group.clone()))
        .collect();
    let hostnames: HashMap<String, String> = devices
        .iter()
        .map(|d| (d.id.clone(), d.hostname.clone()))
        .collect();
    let now = now_unix();
    let mut silences = state.store.list_silences().await?;
    silences.sort_by_key(|s| std::cmp::Reverse(s.created_at));
    let (mut current, mut ended) = (Vec::new(), Vec::new());
    for s in silences
        .iter()
        .filter(|s| sees_silence(&caller.principal, &groups, s))
    {
        let group = silence_group(&groups, s);
        let can_end = can(&caller.principal, Action::Silence, group.as_deref());
        let r = row(s, &hostnames, now, can_end);
        if r.ended {
            ended.push(r);
        } else {
            current.push(r);
        }
    }
    ended.truncate(50);
    let mut group_names: Vec<String> = devices
        .iter()
        .filter(|d| can(&caller.principal, Action::Silence, Some(&d.group)))
        .map(|d| d.group.clone())
        .collect();
    group_names.sort();
    group_names.dedup();
    let page = SilencesPage {
        chrome: Chrome::new(&caller, "Silences", "silences"),
        current,
        ended,
        groups: group_names,
        weekdays: WEEKDAYS,
    };
    Ok(render(&page))
}

/// A silence of a device or a group, from now.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    #[serde(default)]
    pub device_id: String,
    #[serde(default)]
    pub group: String,
    /// For how long, in seconds; or `until` (Unix seconds).
    pub duration_secs: Option<i64>,
    pub until: Option<i64>,
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Serialize)]
pub struct Created {
    pub id: String,
    pub ends_at: i64,
}

/// When a new silence ends, or why it cannot be made. Pure.
pub fn ends_at(request: &NewSilence, now: i64) -> Result<i64, String> {
    let end = match (request.duration_secs, request.until) {
        (Some(secs), None) => now.saturating_add(secs),
        (None, Some(until)) => until,
        _ => return Err("give duration_secs or until (one of them)".into()),
    };
    if !(now + 60..=now + 366 * 86_400).contains(&end) {
        return Err(
            "a silence lasts from 1 minute to 366 days: pick a later or an earlier end".into(),
        );
    }
    Ok(end)
}

/// `POST /ui/silences`: silence a device or a group from now, through the
/// same checks and audit as the API's maintenance windows.
pub async fn create(
    State(state): State<ConsoleState>,
    caller: Caller,
    Json(request): Json<NewSilence>,
) -> Result<Json<Created>, ApiError> {
    let now = now_unix();
    let end = ends_at(&request, now).map_err(ApiError::invalid)?;
    let window = NewMaintenanceWindow {
        device_id: Some(request.device_id).filter(|id| !id.is_empty()),
        group: Some(request.group).filter(|g| !g.is_empty()),
        starts_at: Some(now),
        ends_at: Some(end),
        weekly: None,
        comment: request.comment,
    };
    let stored = add_windows(&state, &caller, &window, None, "silence.add").await?;
    let id = stored.into_iter().next().map(|s| s.id).unwrap_or_default();
    Ok(Json(Created { id, ends_at: end }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::silence::Weekly;
    use crate::console::authz::{Role, Scope};
    use crate::web::pages::fleet::tests::principal;

    fn silence(device_id: &str, group: &str) -> Silence {
        Silence {
            id: "s1".into(),
            device_id: device_id.into(),
            group: group.into(),
            rule: String::new(),
            subject: String::new(),
            starts_at: 100,
            ends_at: Some(3700),
            weekly: None,
            comment: "disk swap".into(),
            created_by: "olga".into(),
            created_at: 100,
            expired_at: None,
        }
    }

    #[test]
    fn scoped_people_see_their_groups_silences_and_fleet_wide_ones() {
        let groups = HashMap::from([
            ("a1".to_owned(), "alpha".to_owned()),
            ("b1".to_owned(), "beta".to_owned()),
        ]);
        let alpha = principal(Role::Operator, Scope::from_stored("alpha"));
        assert!(sees_silence(&alpha, &groups, &silence("a1", "")));
        assert!(!sees_silence(&alpha, &groups, &silence("b1", "")));
        assert!(!sees_silence(&alpha, &groups, &silence("", "beta")));
        assert!(
            sees_silence(&alpha, &groups, &silence("", "")),
            "fleet-wide"
        );
        assert!(
            !sees_silence(&alpha, &groups, &silence("gone", "")),
            "a removed device's"
        );
    }

    #[test]
    fn rows_say_what_is_silenced_and_when() {
        let hostnames = HashMap::from([("a1".to_owned(), "web-01".to_owned())]);
        let r = row(&silence("a1", ""), &hostnames, 200, true);
        assert_eq!(
            (r.target.as_str(), r.matcher.as_str(), r.state.as_str()),
            ("device web-01", "all alerts", "in force")
        );
        assert!(r.can_end);
        let r = row(&silence("", "laptops"), &hostnames, 4000, true);
        assert_eq!(
            (r.target.as_str(), r.state.as_str(), r.ended, r.can_end),
            ("group laptops", "ended", true, false)
        );
        let weekly = Silence {
            weekly: Some(Weekly {
                weekday: 6,
                start_minute: 120,
                duration_secs: 7200,
            }),
            ends_at: None,
            ..silence("", "")
        };
        let r = row(&weekly, &hostnames, 200, false);
        assert_eq!(r.window, "every Sun 02:00 UTC for 120 min");
        assert_eq!(r.target, "every device");
    }

    fn at(text: &str) -> i64 {
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .unwrap()
            .unix_timestamp()
    }

    #[test]
    fn a_weekly_window_is_in_force_only_inside_its_windows_and_says_when_it_next_is() {
        // Saturdays 02:00 for 2 h, from 2026-11-01.
        let weekly = Silence {
            starts_at: at("2026-11-01T00:00:00Z"),
            ends_at: None,
            weekly: Some(Weekly {
                weekday: 5,
                start_minute: 120,
                duration_secs: 7200,
            }),
            ..silence("", "laptops")
        };
        let state_at = |text| state(&weekly, at(text));
        assert_eq!(
            state_at("2026-12-02T18:00:00Z"),
            ("next: Sat 02:00 UTC".to_owned(), false),
            "a Wednesday, between its windows"
        );
        assert_eq!(
            state_at("2026-12-05T03:00:00Z"),
            ("in force".to_owned(), false)
        );
        assert_eq!(
            state_at("2026-12-05T04:00:00Z"),
            ("next: Sat 2026-12-12 02:00 UTC".to_owned(), false),
            "just closed: a week ahead, so with its date"
        );
        let ending = Silence {
            ends_at: Some(at("2026-12-04T00:00:00Z")),
            ..weekly.clone()
        };
        assert_eq!(
            state(&ending, at("2026-12-02T18:00:00Z")),
            ("no window left before it ends".to_owned(), false)
        );
        assert_eq!(
            state(&ending, at("2026-12-04T00:00:00Z")),
            ("ended".to_owned(), true)
        );
        let r = row(&weekly, &HashMap::new(), at("2026-12-02T18:00:00Z"), true);
        assert_eq!(
            (r.state.as_str(), r.ended, r.can_end),
            ("next: Sat 02:00 UTC", false, true),
            "a window between its openings can still be ended"
        );
    }

    #[test]
    fn a_one_off_silence_is_scheduled_until_its_start() {
        let one_off = silence("a1", "");
        assert_eq!(state(&one_off, 50), ("scheduled".to_owned(), false));
        assert_eq!(state(&one_off, 100), ("in force".to_owned(), false));
    }

    #[test]
    fn a_new_silence_needs_one_end_within_bounds() {
        let new = |duration_secs, until| NewSilence {
            device_id: "a1".into(),
            group: String::new(),
            duration_secs,
            until,
            comment: String::new(),
        };
        assert_eq!(ends_at(&new(Some(3600), None), 1000), Ok(4600));
        assert_eq!(ends_at(&new(None, Some(90_000)), 1000), Ok(90_000));
        assert!(ends_at(&new(None, None), 1000).is_err());
        assert!(ends_at(&new(Some(60), Some(5000)), 1000).is_err());
        assert!(
            ends_at(&new(Some(10), None), 1000).is_err(),
            "under a minute"
        );
        assert!(ends_at(&new(Some(400 * 86_400), None), 1000).is_err());
    }
}
