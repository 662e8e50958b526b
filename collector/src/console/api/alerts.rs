//! Alerts (list with filters, one with history, acknowledge, silence from
//! an alert) and silences (list, expire), each bounded by the caller's groups.

// utoipa's `params(Type)` expands to a qualified path with the type's span,
// which this lint reports against our code.
#![allow(unused_qualifications)]

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::maintenance::{AlertMatch, NewMaintenanceWindow, add_windows};
use super::page::{
    Order, Page, PageQuery, limit, number_cursor, number_key, numbers_of_cursor, paginate,
};
use super::views::{self, AlertHistoryEntry, AlertView};
use crate::alerts::AlertStatus;
use crate::alerts::engine::COLLECTOR_DEVICE_ID;
use crate::alerts::silence::Silence;
use crate::clock::now_unix;
use crate::console::auth::Caller;
use crate::console::authz::{Action, Principal, can};
use crate::console::error::{ApiError, ErrorBody};
use crate::console::state::ConsoleState;
use crate::rules::RuleId;
use crate::severity::Severity;
use crate::store::pages::{AlertColumn, AlertOrder, FleetAlerts};
use crate::web::pages::fleet;

/// Device id to group, for every device.
pub(super) async fn groups(state: &ConsoleState) -> Result<HashMap<String, String>, ApiError> {
    Ok(state
        .store
        .list_devices()
        .await?
        .into_iter()
        .map(|d| (d.id, d.group))
        .collect())
}

fn sees_alert(principal: &Principal, group: Option<&str>) -> bool {
    can(principal, Action::Read, group)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AlertQuery {
    /// pending, firing, acknowledged, resolved.
    pub state: Option<String>,
    /// info, warning, critical.
    pub severity: Option<String>,
    /// A rule id, e.g. backup_failed.
    pub rule: Option<String>,
    pub group: Option<String>,
    /// A device id.
    pub device: Option<String>,
    /// Last seen at or after (Unix seconds).
    pub since: Option<i64>,
    /// Last seen before (Unix seconds).
    pub until: Option<i64>,
    /// last_seen (default), first_seen, severity.
    pub sort: Option<String>,
    /// Default desc (newest first).
    pub order: Option<Order>,
}

/// The groups whose alerts `principal` reads when `asked` names one or
/// none (`None`: every alert, the collector's own too). Pure.
fn readable_groups(principal: &Principal, asked: Option<&str>) -> Option<Vec<String>> {
    match asked {
        Some(group) => Some(
            sees_alert(principal, Some(group))
                .then(|| group.to_owned())
                .into_iter()
                .collect(),
        ),
        None => fleet::scope(principal),
    }
}

/// Alerts of the caller's groups, filtered and sorted.
///
/// Filtered, sorted and cut in the store: the page is read with one row
/// more than asked (is there a next one?) after the cursor's
/// `(sort value, id)`, and counted in a second query.
#[utoipa::path(get, path = "/alerts", tag = "alerts", params(AlertQuery, PageQuery),
    responses((status = 200, body = Page<AlertView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<ConsoleState>,
    caller: Caller,
    Query(query): Query<AlertQuery>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<AlertView>>, ApiError> {
    let status = query
        .state
        .as_deref()
        .map(|s| {
            AlertStatus::parse(s).ok_or_else(|| {
                ApiError::invalid(format!(
                    "state {s:?} is not known: use pending, firing, acknowledged or resolved"
                ))
            })
        })
        .transpose()?;
    let severity = query
        .severity
        .as_deref()
        .map(|s| {
            Severity::parse(s).ok_or_else(|| {
                ApiError::invalid(format!(
                    "severity {s:?} is not known: use info, warning or critical"
                ))
            })
        })
        .transpose()?;
    let rule = query
        .rule
        .as_deref()
        .map(|r| {
            RuleId::parse(r).ok_or_else(|| {
                let known: Vec<&str> = RuleId::ALL.iter().map(|r| r.as_str()).collect();
                ApiError::invalid(format!(
                    "rule {r:?} is not known: use one of {}",
                    known.join(", ")
                ))
            })
        })
        .transpose()?;
    let column = match query.sort.as_deref().unwrap_or("last_seen") {
        "last_seen" => AlertColumn::LastSeen,
        "first_seen" => AlertColumn::FirstSeen,
        "severity" => AlertColumn::Severity,
        other => {
            return Err(ApiError::invalid(format!(
                "sort {other:?} is not known: use last_seen, first_seen or severity"
            )));
        }
    };
    let limit = limit(&page)?;
    let after = page.cursor.as_deref().map(numbers_of_cursor).transpose()?;
    let which = FleetAlerts {
        state: status,
        severity,
        rules: rule.into_iter().collect(),
        device_id: query.device.clone(),
        groups: readable_groups(&caller.principal, query.group.as_deref()),
        last_seen_from: query.since,
        last_seen_before: query.until,
        order: AlertOrder::Keyed {
            column,
            descending: query.order.unwrap_or(Order::Desc) == Order::Desc,
        },
        after,
        limit: Some(limit + 1),
        ..FleetAlerts::default()
    };
    let (mut alerts, total) = tokio::try_join!(
        state.store.fleet_alerts(which.clone()),
        state.store.count_alerts(which)
    )?;
    let next_cursor = if alerts.len() > limit {
        alerts.truncate(limit);
        alerts.last().map(|a| number_cursor(column.value(a), a.id))
    } else {
        None
    };
    Ok(Json(Page {
        items: alerts.iter().map(views::alert_view).collect(),
        total: Some(total),
        next_cursor,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertDetail {
    pub alert: AlertView,
    pub history: Vec<AlertHistoryEntry>,
}

async fn visible_alert(
    state: &ConsoleState,
    caller: &Caller,
    id: i64,
) -> Result<(AlertDetail, Option<String>), ApiError> {
    let Some((alert, history)) = state.store.alert(id).await? else {
        return Err(ApiError::not_found("alert", &id.to_string()));
    };
    // Its device's group (one device read, not the fleet); `None` for the
    // collector's own alerts, which only callers over all groups see.
    let group = state.store.device(&alert.device_id).await?.map(|d| d.group);
    if !sees_alert(&caller.principal, group.as_deref()) {
        return Err(ApiError::not_found("alert", &id.to_string()));
    }
    Ok((
        AlertDetail {
            alert: views::alert_view(&alert),
            history: history.iter().map(views::history_entry).collect(),
        },
        group,
    ))
}

/// One alert with its history (changes, notifications, acknowledgements).
#[utoipa::path(get, path = "/alerts/{id}", tag = "alerts", params(("id" = i64, Path)),
    responses((status = 200, body = AlertDetail), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<AlertDetail>, ApiError> {
    Ok(Json(visible_alert(&state, &caller, id).await?.0))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AckRequest {
    /// Why, for the next person: "disk replaced, monitoring".
    pub note: String,
}

/// Acknowledge a firing alert with a note.
#[utoipa::path(post, path = "/alerts/{id}/ack", tag = "alerts", params(("id" = i64, Path)), request_body = AckRequest,
    responses((status = 200, body = AlertDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn ack(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(request): Json<AckRequest>,
) -> Result<Json<AlertDetail>, ApiError> {
    let (detail, group) = visible_alert(&state, &caller, id).await?;
    if !can(&caller.principal, Action::AckAlert, group.as_deref()) {
        return Err(ApiError::forbidden(format!(
            "acknowledging needs the operator role; you are {}",
            caller.principal.role
        )));
    }
    let note = request.note.trim();
    let audit = caller.audit_entry("alert.ack", &id.to_string(), note);
    if !state
        .store
        .ack_alert(id, &caller.principal.name, note, audit)
        .await?
    {
        return Err(ApiError::conflict(format!(
            "alert {id} is {}: only a firing alert can be acknowledged",
            detail.alert.state
        )));
    }
    Ok(Json(visible_alert(&state, &caller, id).await?.0))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SilenceFromAlert {
    /// How long, in seconds (e.g. 3600 for 1 h).
    pub duration_secs: i64,
    pub comment: String,
    /// Silence every alert of the device, not only this rule and subject.
    #[serde(default)]
    pub whole_device: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SilenceView {
    pub id: String,
    /// Empty matchers match everything.
    pub device_id: String,
    pub group: String,
    pub rule: String,
    pub subject: String,
    pub starts_at: i64,
    pub ends_at: Option<i64>,
    /// Weekly window (maintenance), when it is one.
    pub weekly: bool,
    /// Whether it holds notifications back now (for a weekly window: now
    /// is inside one of its windows).
    pub in_force: bool,
    /// When it next comes into force (Unix seconds): its start, or a weekly
    /// window's next opening; absent while in force or when it never will
    /// be again.
    pub next_start_at: Option<i64>,
    pub comment: String,
    pub created_by: String,
    pub created_at: i64,
    pub expired_at: Option<i64>,
}

/// A silence as the API shows it at `now`.
pub(super) fn silence_view(s: &Silence, now: i64) -> SilenceView {
    SilenceView {
        id: s.id.clone(),
        device_id: s.device_id.clone(),
        group: s.group.clone(),
        rule: s.rule.clone(),
        subject: s.subject.clone(),
        starts_at: s.starts_at,
        ends_at: s.ends_at,
        weekly: s.weekly.is_some(),
        in_force: s.active_at(now),
        next_start_at: s.next_start(now),
        comment: s.comment.clone(),
        created_by: s.created_by.clone(),
        created_at: s.created_at,
        expired_at: s.expired_at,
    }
}

/// Silence an alert's device (its rule and subject, or all of it) for a while.
#[utoipa::path(post, path = "/alerts/{id}/silence", tag = "alerts", params(("id" = i64, Path)), request_body = SilenceFromAlert,
    responses((status = 200, body = SilenceView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn silence(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(request): Json<SilenceFromAlert>,
) -> Result<Json<SilenceView>, ApiError> {
    let (_, group) = visible_alert(&state, &caller, id).await?;
    if !can(&caller.principal, Action::Silence, group.as_deref()) {
        return Err(ApiError::forbidden(format!(
            "silencing needs the operator role; you are {}",
            caller.principal.role
        )));
    }
    if !(60..=366 * 86_400).contains(&request.duration_secs) {
        return Err(ApiError::invalid(
            "duration_secs must be from 60 (1 min) to 31622400 (366 days)",
        ));
    }
    let Some((alert, _)) = state.store.alert(id).await? else {
        return Err(ApiError::not_found("alert", &id.to_string()));
    };
    if alert.device_id == COLLECTOR_DEVICE_ID {
        return Err(ApiError::invalid(format!(
            "alert {id} is the collector's own ({}): it has no device to silence; fix what it reports, or silence its rule with `forewarn-collector silence add --rule {}`",
            alert.summary,
            alert.rule.as_str()
        )));
    }
    let now = now_unix();
    let window = NewMaintenanceWindow {
        device_id: Some(alert.device_id.clone()),
        group: None,
        starts_at: Some(now),
        ends_at: Some(now + request.duration_secs),
        weekly: None,
        comment: request.comment,
    };
    let only = (!request.whole_device).then(|| AlertMatch {
        alert_id: id,
        rule: alert.rule.as_str().into(),
        subject: alert.subject.clone(),
    });
    let stored = add_windows(&state, &caller, &window, only.as_ref(), "silence.add").await?;
    let silence = stored
        .first()
        .ok_or_else(|| ApiError::invalid("no silence was made from this request"))?;
    Ok(Json(silence_view(silence, now)))
}

/// The group a silence touches, for scope: its group, else its device's;
/// `None` when it matches every group.
fn silence_group(groups: &HashMap<String, String>, s: &Silence) -> Option<String> {
    if !s.group.is_empty() {
        return Some(s.group.clone());
    }
    if s.device_id.is_empty() {
        return None;
    }
    // A silence for a device that no longer exists stays with all-groups callers.
    groups.get(&s.device_id).cloned()
}

/// Silences and maintenance windows that touch the caller's groups.
#[utoipa::path(get, path = "/silences", tag = "silences", params(PageQuery),
    responses((status = 200, body = Page<SilenceView>), (status = 401, body = ErrorBody)))]
pub async fn list_silences(
    State(state): State<ConsoleState>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<SilenceView>>, ApiError> {
    let groups = groups(&state).await?;
    let now = now_unix();
    let keyed = state
        .store
        .list_silences()
        .await?
        .iter()
        .filter(|s| match silence_group(&groups, s) {
            Some(group) => can(&caller.principal, Action::Read, Some(&group)),
            // Fleet-wide silences silence the caller's devices too: shown to all.
            None => s.device_id.is_empty(),
        })
        .map(|s| {
            (
                (number_key(s.created_at), s.id.clone()),
                silence_view(s, now),
            )
        })
        .collect();
    Ok(Json(paginate(keyed, Order::Desc, &page)?))
}

/// End a silence now.
#[utoipa::path(delete, path = "/silences/{id}", tag = "silences", params(("id" = String, Path)),
    responses((status = 200, body = SilenceView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn expire_silence(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SilenceView>, ApiError> {
    let groups = groups(&state).await?;
    let silence = state
        .store
        .list_silences()
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| ApiError::not_found("silence", &id))?;
    let group = silence_group(&groups, &silence);
    if group.is_some() && !can(&caller.principal, Action::Read, group.as_deref()) {
        return Err(ApiError::not_found("silence", &id));
    }
    if !can(&caller.principal, Action::Silence, group.as_deref()) {
        return Err(ApiError::forbidden(
            "ending this silence needs the operator role over its groups",
        ));
    }
    let audit = caller.audit_entry("silence.expire", &id, silence.comment.clone());
    let now = audit.at;
    if !state.store.expire_silence(&id, audit).await? {
        return Err(ApiError::conflict(format!(
            "silence {id} has already ended"
        )));
    }
    Ok(Json(silence_view(
        &Silence {
            expired_at: Some(now),
            ..silence
        },
        now,
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NoteRequest {
    /// What was done or found, for the next person (1 to 2000 characters).
    pub note: String,
}

/// Add a note to an alert's history without acknowledging it.
#[utoipa::path(post, path = "/alerts/{id}/notes", tag = "alerts", params(("id" = i64, Path)), request_body = NoteRequest,
    responses((status = 200, body = AlertDetail), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn note(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(request): Json<NoteRequest>,
) -> Result<Json<AlertDetail>, ApiError> {
    let (_, group) = visible_alert(&state, &caller, id).await?;
    if !can(&caller.principal, Action::AckAlert, group.as_deref()) {
        return Err(ApiError::forbidden(format!(
            "adding notes needs the operator role; you are {}",
            caller.principal.role
        )));
    }
    let note = request.note.trim();
    if note.is_empty() || note.chars().count() > 2000 {
        return Err(ApiError::invalid("note must be 1 to 2000 characters"));
    }
    let audit = caller.audit_entry("alert.note", &id.to_string(), note);
    if !state
        .store
        .note_alert(id, &caller.principal.name, note, audit)
        .await?
    {
        return Err(ApiError::not_found("alert", &id.to_string()));
    }
    Ok(Json(visible_alert(&state, &caller, id).await?.0))
}
