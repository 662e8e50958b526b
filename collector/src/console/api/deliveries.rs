//! Ticket deliveries: the outbox rows the ticket worker delivers (one per
//! alert notification), their state and last error, and a retry for one
//! that failed. Each belongs to its alert's device's group; the
//! collector's own alerts' deliveries only to callers over all groups.

// utoipa's `params(Type)` expands to a qualified path with the type's span,
// which this lint reports against our code.
#![allow(unused_qualifications)]

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::alerts::groups;
use super::page::{Order, Page, PageQuery, number_key, paginate};
use crate::alerts::AlertFilter;
use crate::console::auth::Caller;
use crate::console::authz::{Action, can};
use crate::console::error::{ApiError, ErrorBody};
use crate::console::state::ConsoleState;
use crate::store::outbox::{OutboxEvent, OutboxState};

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    pub alert_id: i64,
    /// The alert's device id (the collector's own alerts have none).
    pub device_id: Option<String>,
    pub hostname: Option<String>,
    /// opened, escalated, deescalated, resolved, flapping or reminder.
    pub event: String,
    /// pending, claimed, delivered or failed.
    pub state: String,
    pub attempts: u32,
    pub created_at: i64,
    /// When the worker tries next (pending rows).
    pub next_attempt_at: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DeliveryQuery {
    /// pending, claimed, delivered or failed; omit for all.
    pub state: Option<String>,
}

/// The alert id to (device id, hostname, group) of every alert.
async fn alert_owners(
    state: &ConsoleState,
) -> Result<HashMap<i64, (String, String, Option<String>)>, ApiError> {
    let groups = groups(state).await?;
    Ok(state
        .store
        .list_alerts(AlertFilter::default())
        .await?
        .into_iter()
        .map(|a| {
            let group = groups.get(&a.device_id).cloned();
            (a.id, (a.device_id, a.hostname, group))
        })
        .collect())
}

fn delivery_view(
    e: &OutboxEvent,
    owner: Option<&(String, String, Option<String>)>,
) -> DeliveryView {
    let known = owner.filter(|(_, _, group)| group.is_some());
    DeliveryView {
        id: e.id,
        alert_id: e.alert_id,
        device_id: known.map(|(id, _, _)| id.clone()),
        hostname: known.map(|(_, host, _)| host.clone()),
        event: e.event.clone(),
        state: e.state.as_str().into(),
        attempts: e.attempts,
        created_at: e.created_at,
        next_attempt_at: e.next_attempt_at,
        last_error: e.last_error.clone(),
    }
}

/// Whether the caller may see a delivery of an alert owned as `owner`.
fn sees(caller: &Caller, owner: Option<&(String, String, Option<String>)>) -> bool {
    let group = owner.and_then(|(_, _, group)| group.as_deref());
    can(&caller.principal, Action::Read, group)
}

/// Ticket deliveries of the caller's groups, newest first.
#[utoipa::path(get, path = "/deliveries", tag = "tickets", params(DeliveryQuery, PageQuery),
    responses((status = 200, body = Page<DeliveryView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<ConsoleState>,
    caller: Caller,
    Query(query): Query<DeliveryQuery>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<DeliveryView>>, ApiError> {
    let states = match query.state.as_deref() {
        None => vec![
            OutboxState::Pending,
            OutboxState::Claimed,
            OutboxState::Delivered,
            OutboxState::Failed,
        ],
        Some(text) => vec![OutboxState::parse(text).ok_or_else(|| {
            ApiError::invalid(format!(
                "unknown state {text:?}: use pending, claimed, delivered or failed"
            ))
        })?],
    };
    let owners = alert_owners(&state).await?;
    let mut keyed = Vec::new();
    for outbox_state in states {
        for event in state.store.outbox_in_state(outbox_state).await? {
            let owner = owners.get(&event.alert_id);
            if sees(&caller, owner) {
                keyed.push((
                    (number_key(event.id), String::new()),
                    delivery_view(&event, owner),
                ));
            }
        }
    }
    Ok(Json(paginate(keyed, Order::Desc, &page)?))
}

/// Retry a failed delivery now (operator): it goes back in line with its
/// attempts reset.
#[utoipa::path(post, path = "/deliveries/{id}/retry", tag = "tickets", params(("id" = i64, Path)),
    responses((status = 200, body = DeliveryView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn retry(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<DeliveryView>, ApiError> {
    let owners = alert_owners(&state).await?;
    let failed = state.store.outbox_in_state(OutboxState::Failed).await?;
    let Some(event) = failed.iter().find(|e| e.id == id) else {
        return Err(ApiError::not_found("failed delivery", &id.to_string()));
    };
    let owner = owners.get(&event.alert_id);
    if !sees(&caller, owner) {
        return Err(ApiError::not_found("failed delivery", &id.to_string()));
    }
    let group = owner.and_then(|(_, _, group)| group.as_deref());
    if !can(&caller.principal, Action::RetryDelivery, group) {
        return Err(ApiError::forbidden(format!(
            "retrying deliveries needs the operator role; you are {}",
            caller.principal.role
        )));
    }
    let audit = caller.audit_entry(
        "delivery.retry",
        &id.to_string(),
        format!("{} of alert {}", event.event, event.alert_id),
    );
    if !state.store.retry_delivery(id, audit).await? {
        return Err(ApiError::conflict(format!(
            "delivery {id} can no longer be retried: a later notification of alert {} replaced it, or it was retried already",
            event.alert_id
        )));
    }
    let pending = state.store.outbox_in_state(OutboxState::Pending).await?;
    let retried = pending
        .iter()
        .find(|e| e.id == id)
        .ok_or_else(|| ApiError::not_found("delivery", &id.to_string()))?;
    Ok(Json(delivery_view(retried, owner)))
}
