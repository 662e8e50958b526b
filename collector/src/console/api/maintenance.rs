//! Maintenance windows: a silence scheduled ahead for a device or a whole
//! group, from a start to an end. Like every silence it holds back
//! notifications, not alert state; an alert still firing when the window
//! ends is notified then (see `alerts::silence`).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use super::alerts::{SilenceView, silence_view};
use crate::alerts::silence::Silence;
use crate::clock::now_unix;
use crate::console::auth::Caller;
use crate::console::authz::{Action, can, sees};
use crate::console::error::{ApiError, ErrorBody};
use crate::console::state::ConsoleState;

/// Longest window accepted.
const MAX_WINDOW_SECS: i64 = 366 * 86_400;

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewMaintenanceWindow {
    /// The device to silence; give this or `group`.
    pub device_id: Option<String>,
    /// The group to silence; give this or `device_id`.
    pub group: Option<String>,
    /// Start, Unix seconds (may be now or later).
    pub starts_at: i64,
    /// End, Unix seconds, after the start and in the future.
    pub ends_at: i64,
    /// Why, for whoever sees the silence (e.g. "disk swap, ticket 4711").
    pub comment: String,
}

/// Schedule a maintenance window for a device or a group (operator).
#[utoipa::path(post, path = "/maintenance-windows", tag = "alerts", request_body = NewMaintenanceWindow,
    responses((status = 200, body = SilenceView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create(
    State(state): State<ConsoleState>,
    caller: Caller,
    Json(request): Json<NewMaintenanceWindow>,
) -> Result<Json<SilenceView>, ApiError> {
    let now = now_unix();
    let (device_id, group, whom) = match (request.device_id.as_deref(), request.group.as_deref()) {
        (Some(id), None) => {
            let device = state
                .store
                .device(id)
                .await?
                .filter(|d| sees(&caller.principal, &d.group))
                .ok_or_else(|| ApiError::not_found("device", id))?;
            (device.id, String::new(), device.group)
        }
        (None, Some(group)) => (
            String::new(),
            group.trim().to_owned(),
            group.trim().to_owned(),
        ),
        _ => {
            return Err(ApiError::invalid("give exactly one of device_id or group"));
        }
    };
    if !can(&caller.principal, Action::Silence, Some(&whom)) {
        return Err(ApiError::forbidden(format!(
            "maintenance windows for {whom} need the operator role over that group; you are {} over {}",
            caller.principal.role,
            caller.principal.scope.to_list().join(", ")
        )));
    }
    if request.ends_at <= request.starts_at || request.ends_at <= now {
        return Err(ApiError::invalid(
            "ends_at must be after starts_at and in the future (Unix seconds)",
        ));
    }
    if request.ends_at - request.starts_at.max(now) > MAX_WINDOW_SECS {
        return Err(ApiError::invalid(
            "a maintenance window lasts at most 366 days",
        ));
    }
    let silence = Silence {
        id: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
        device_id,
        group,
        rule: String::new(),
        subject: String::new(),
        starts_at: request.starts_at,
        ends_at: Some(request.ends_at),
        weekly: None,
        comment: request.comment.trim().into(),
        created_by: caller.principal.name.clone(),
        created_at: now,
        expired_at: None,
    };
    state.store.add_silence(silence.clone()).await?;
    caller
        .audit(
            &state,
            "maintenance.add",
            &silence.id,
            format!(
                "{} from {} to {}: {}",
                if silence.device_id.is_empty() {
                    format!("group {}", silence.group)
                } else {
                    format!("device {}", silence.device_id)
                },
                silence.starts_at,
                request.ends_at,
                silence.comment
            ),
        )
        .await?;
    Ok(Json(silence_view(&silence)))
}
