//! Fleet summary and devices: list with filters, one device in full,
//! retire, restore and move. Out-of-scope devices do not exist here (404,
//! left out of lists and counts).

// utoipa's `params(Type)` expands to a qualified path with the type's span,
// which this lint reports against our code.
#![allow(unused_qualifications)]

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::page::{Order, Page, PageQuery, SortKey, number_key, paginate};
use super::views::{self, DeviceDetail, DeviceSummary};
use crate::alerts::{AlertFilter, AlertStatus};
use crate::console::auth::Caller;
use crate::console::authz::{Action, can, sees, valid_group};
use crate::console::error::{ApiError, ErrorBody};
use crate::console::state::ConsoleState;
use crate::store::DeviceRecord;
use crate::web::pages::fleet;

/// The caller's devices with their summaries (out-of-scope ones left out).
async fn visible_devices(
    state: &ConsoleState,
    caller: &Caller,
) -> Result<Vec<(DeviceRecord, DeviceSummary)>, ApiError> {
    Ok(fleet::load(state.store.as_ref(), &caller.principal)
        .await?
        .devices)
}

/// A device the caller may see, or 404.
async fn visible_device(
    state: &ConsoleState,
    caller: &Caller,
    id: &str,
) -> Result<DeviceRecord, ApiError> {
    state
        .store
        .device(id)
        .await?
        .filter(|d| sees(&caller.principal, &d.group))
        .ok_or_else(|| ApiError::not_found("device", id))
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct FleetSummary {
    /// Devices by state: online, offline, retired, never_reported.
    pub devices_by_state: HashMap<String, usize>,
    /// Devices with a raised alert, by domain (disks, certificates, patches, backups, offline).
    pub devices_by_problem: HashMap<String, usize>,
    /// Alerts by state (pending, firing, acknowledged), resolved left out.
    pub alerts_by_state: HashMap<String, usize>,
    pub devices: usize,
}

/// What needs attention, over the caller's groups.
#[utoipa::path(get, path = "/fleet", tag = "fleet",
    responses((status = 200, body = FleetSummary), (status = 401, body = ErrorBody)))]
pub async fn fleet(
    State(state): State<ConsoleState>,
    caller: Caller,
) -> Result<Json<FleetSummary>, ApiError> {
    let fleet = fleet::load(state.store.as_ref(), &caller.principal).await?;
    let mut summary = FleetSummary {
        devices: fleet.devices.len(),
        ..FleetSummary::default()
    };
    for (_, d) in &fleet.devices {
        *summary.devices_by_state.entry(d.state.clone()).or_default() += 1;
        for problem in &d.problems {
            *summary
                .devices_by_problem
                .entry(problem.clone())
                .or_default() += 1;
        }
    }
    for count in &fleet.counts {
        for (state, n) in [
            (AlertStatus::Pending, count.pending),
            (AlertStatus::Firing, count.firing),
            (AlertStatus::Acknowledged, count.acknowledged),
        ] {
            if n > 0 {
                *summary
                    .alerts_by_state
                    .entry(state.as_str().into())
                    .or_default() += n;
            }
        }
    }
    Ok(Json(summary))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DeviceQuery {
    /// Only this group.
    pub group: Option<String>,
    /// Only this OS (as the agent names it: linux, windows, macos).
    pub os: Option<String>,
    /// online, offline, retired, never_reported.
    pub state: Option<String>,
    /// disks, certificates, patches, backups, offline, or `any`.
    pub problem: Option<String>,
    /// Free text: id prefix, hostname, group, serial number, model or primary user.
    pub q: Option<String>,
    /// hostname (default), group, last_seen, enrolled.
    pub sort: Option<String>,
    pub order: Option<Order>,
}

/// Devices of the caller's groups, filtered and sorted.
#[utoipa::path(get, path = "/devices", tag = "devices", params(DeviceQuery, PageQuery),
    responses((status = 200, body = Page<DeviceSummary>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<ConsoleState>,
    caller: Caller,
    Query(query): Query<DeviceQuery>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<DeviceSummary>>, ApiError> {
    let sort = query.sort.as_deref().unwrap_or("hostname");
    if !matches!(sort, "hostname" | "group" | "last_seen" | "enrolled") {
        return Err(ApiError::invalid(format!(
            "sort {sort:?} is not known: use hostname, group, last_seen or enrolled"
        )));
    }
    let found = match query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        Some(text) => Some(state.store.search_devices(text).await?),
        None => None,
    };
    let mut keyed: Vec<(SortKey, DeviceSummary)> = Vec::new();
    for (device, summary) in visible_devices(&state, &caller).await? {
        let keep = query.group.as_ref().is_none_or(|g| *g == device.group)
            && query.os.as_ref().is_none_or(|o| *o == device.os)
            && query.state.as_ref().is_none_or(|s| *s == summary.state)
            && query.problem.as_ref().is_none_or(|p| {
                if p == "any" {
                    !summary.problems.is_empty()
                } else {
                    summary.problems.contains(p)
                }
            })
            && found
                .as_ref()
                .is_none_or(|found| found.contains(&device.id));
        if !keep {
            continue;
        }
        let value = match sort {
            "group" => device.group.clone(),
            "last_seen" => number_key(device.last_seen_at.unwrap_or(i64::MIN)),
            "enrolled" => number_key(device.enrolled_at),
            _ => device.hostname.to_lowercase(),
        };
        keyed.push(((value, device.id.clone()), summary));
    }
    Ok(Json(paginate(
        keyed,
        query.order.unwrap_or_default(),
        &page,
    )?))
}

/// One device in full: facts, disks with forecasts, certificates, patches,
/// backup jobs and every alert.
#[utoipa::path(get, path = "/devices/{id}", tag = "devices", params(("id" = String, Path, description = "Device id")),
    responses((status = 200, body = DeviceDetail), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DeviceDetail>, ApiError> {
    let device = visible_device(&state, &caller, &id).await?;
    let alerts = state
        .store
        .list_alerts(AlertFilter {
            device_id: Some(id.clone()),
            ..AlertFilter::default()
        })
        .await?;
    let summary = views::summarize(&device, &alerts.iter().collect::<Vec<_>>());
    let status = state.store.latest_status(&id).await?;
    let forecasts = state.store.disk_forecasts(&id).await?;
    Ok(Json(views::detail(
        summary,
        status.as_ref(),
        &forecasts,
        alerts.iter().map(views::alert_view).collect(),
    )))
}

async fn changed(state: &ConsoleState, id: &str) -> Result<Json<DeviceSummary>, ApiError> {
    let device = state
        .store
        .device(id)
        .await?
        .ok_or_else(|| ApiError::not_found("device", id))?;
    let alerts = state
        .store
        .list_alerts(AlertFilter {
            device_id: Some(id.into()),
            ..AlertFilter::default()
        })
        .await?;
    Ok(Json(views::summarize(
        &device,
        &alerts.iter().collect::<Vec<_>>(),
    )))
}

fn may_manage(caller: &Caller, group: &str) -> Result<(), ApiError> {
    if !can(&caller.principal, Action::ManageDevice, Some(group)) {
        return Err(ApiError::forbidden(format!(
            "changing devices needs the operator role; you are {}",
            caller.principal.role
        )));
    }
    Ok(())
}

/// Retire a device: its reports are refused from now on.
#[utoipa::path(post, path = "/devices/{id}/retire", tag = "devices", params(("id" = String, Path)),
    responses((status = 200, body = DeviceSummary), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn retire(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DeviceSummary>, ApiError> {
    let device = visible_device(&state, &caller, &id).await?;
    may_manage(&caller, &device.group)?;
    let audit = caller.audit_entry("device.retire", &id, &device.hostname);
    if !state.store.retire_device(&id, audit).await? {
        return Err(ApiError::not_found("device", &id));
    }
    changed(&state, &id).await
}

/// Bring a retired device back: its reports are accepted again.
#[utoipa::path(post, path = "/devices/{id}/restore", tag = "devices", params(("id" = String, Path)),
    responses((status = 200, body = DeviceSummary), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn restore(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DeviceSummary>, ApiError> {
    let device = visible_device(&state, &caller, &id).await?;
    may_manage(&caller, &device.group)?;
    let audit = caller.audit_entry("device.restore", &id, &device.hostname);
    state.store.restore_device(&id, audit).await?;
    changed(&state, &id).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MoveRequest {
    /// The group to move the device to; its rules and policy apply from the next report.
    pub group: String,
}

/// Move a device to another group (the caller must reach both groups).
#[utoipa::path(post, path = "/devices/{id}/move", tag = "devices", params(("id" = String, Path)), request_body = MoveRequest,
    responses((status = 200, body = DeviceSummary), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn move_group(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(request): Json<MoveRequest>,
) -> Result<Json<DeviceSummary>, ApiError> {
    let device = visible_device(&state, &caller, &id).await?;
    may_manage(&caller, &device.group)?;
    if !valid_group(&request.group) {
        return Err(ApiError::invalid(format!(
            "invalid group name {:?}: use letters, digits, '-', '_' or '.' (at most 64)",
            request.group
        )));
    }
    if !can(
        &caller.principal,
        Action::ManageDevice,
        Some(&request.group),
    ) {
        return Err(ApiError::forbidden(format!(
            "you cannot move devices into group {:?}: it is outside your groups",
            request.group
        )));
    }
    let audit = caller.audit_entry(
        "device.move",
        &id,
        format!(
            "{} from {} to {}",
            device.hostname, device.group, request.group
        ),
    );
    state.store.move_device(&id, &request.group, audit).await?;
    changed(&state, &id).await
}

/// What deleting a device removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedDeviceView {
    pub id: String,
    pub hostname: String,
    pub group: String,
    /// Stored reports (status history).
    pub reports: u64,
    pub disk_samples: u64,
    /// Alerts, with their histories and pending or failed ticket deliveries.
    pub alerts: u64,
    /// Rows of the collector's ticket ledger. The tickets in the helpdesk are
    /// left as they are: close them there.
    pub tickets: u64,
    /// Silences of this device.
    pub silences: u64,
}

/// Delete a device and everything the collector keeps about it (admin).
/// Its certificate is refused from then on; the machine can enroll again
/// with a new token. To keep the history, retire it instead.
#[utoipa::path(delete, path = "/devices/{id}", tag = "devices", params(("id" = String, Path)),
    responses((status = 200, body = DeletedDeviceView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DeletedDeviceView>, ApiError> {
    let device = visible_device(&state, &caller, &id).await?;
    if !can(&caller.principal, Action::DeleteDevice, Some(&device.group)) {
        return Err(ApiError::forbidden(format!(
            "deleting devices needs the admin role; you are {} (retire it instead)",
            caller.principal.role
        )));
    }
    let audit = caller.audit_entry("device.delete", &id, &device.hostname);
    let deleted = state
        .store
        .delete_device(&id, audit)
        .await?
        .ok_or_else(|| ApiError::not_found("device", &id))?;
    Ok(Json(DeletedDeviceView {
        id,
        hostname: deleted.hostname,
        group: deleted.group,
        reports: deleted.reports,
        disk_samples: deleted.disk_samples,
        alerts: deleted.alerts,
        tickets: deleted.tickets,
        silences: deleted.silences,
    }))
}
