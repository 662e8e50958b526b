//! Enrollment tokens: what a device presents once to join a group. An admin
//! of a group lists, creates and revokes that group's tokens; the secret is
//! shown once, at creation, and only its SHA-256 is kept.

// utoipa's `params(Type)` expands to a qualified path with the type's span,
// which this lint reports against our code.
#![allow(unused_qualifications)]

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::page::{Order, Page, PageQuery, number_key, paginate};
use crate::clock::now_unix;
use crate::console::auth::Caller;
use crate::console::authz::{Action, can, sees, valid_group};
use crate::console::error::{ApiError, ErrorBody};
use crate::console::state::ConsoleState;
use crate::store::{NewToken, TokenRecord};
use crate::tokens;

/// Shortest and longest token lifetimes accepted.
const MIN_LIFETIME_SECS: i64 = 60;
const MAX_LIFETIME_SECS: i64 = 366 * 86_400;

#[derive(Debug, Serialize, ToSchema)]
pub struct EnrollmentTokenView {
    pub id: String,
    /// The group devices enrolled with it join.
    pub group: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// `null`: any number of devices.
    pub max_uses: Option<u32>,
    pub uses: u32,
    pub revoked_at: Option<i64>,
    /// usable, used_up, expired or revoked.
    pub state: String,
}

fn token_view(t: &TokenRecord, now: i64) -> EnrollmentTokenView {
    let state = if t.revoked_at.is_some() {
        "revoked"
    } else if t.expires_at <= now {
        "expired"
    } else if t.max_uses.is_some_and(|max| t.uses >= max) {
        "used_up"
    } else {
        "usable"
    };
    EnrollmentTokenView {
        id: t.id.clone(),
        group: t.group.clone(),
        created_at: t.created_at,
        expires_at: t.expires_at,
        max_uses: t.max_uses,
        uses: t.uses,
        revoked_at: t.revoked_at,
        state: state.into(),
    }
}

/// Enrollment tokens of the caller's groups, newest first.
#[utoipa::path(get, path = "/enrollment-tokens", tag = "enrollment", params(PageQuery),
    responses((status = 200, body = Page<EnrollmentTokenView>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<ConsoleState>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<EnrollmentTokenView>>, ApiError> {
    let now = now_unix();
    let keyed = state
        .store
        .list_tokens()
        .await?
        .iter()
        .filter(|t| sees(&caller.principal, &t.group))
        .map(|t| ((number_key(t.created_at), t.id.clone()), token_view(t, now)))
        .collect();
    Ok(Json(paginate(keyed, Order::Desc, &page)?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewEnrollmentToken {
    /// The group enrolled devices join.
    pub group: String,
    /// Lifetime in seconds, 60 to 31622400 (366 days).
    pub expires_in_secs: i64,
    /// How many devices may enroll with it; omit for any number.
    pub max_uses: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedEnrollmentToken {
    pub token: EnrollmentTokenView,
    /// The secret for `forewarn-agent install --token`, shown only this once.
    pub secret: String,
}

/// Make an enrollment token for a group (admin of that group).
#[utoipa::path(post, path = "/enrollment-tokens", tag = "enrollment", request_body = NewEnrollmentToken,
    responses((status = 200, body = CreatedEnrollmentToken), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(state): State<ConsoleState>,
    caller: Caller,
    Json(request): Json<NewEnrollmentToken>,
) -> Result<Json<CreatedEnrollmentToken>, ApiError> {
    let group = request.group.trim();
    if !valid_group(group) {
        return Err(ApiError::invalid(format!(
            "invalid group name {group:?}: use letters, digits, '-', '_' or '.' (at most 64)"
        )));
    }
    if !can(&caller.principal, Action::ManageEnrollment, Some(group)) {
        return Err(ApiError::forbidden(format!(
            "enrollment tokens for {group} need an admin of that group; you are {} over {}",
            caller.principal.role,
            caller.principal.scope.to_list().join(", ")
        )));
    }
    if !(MIN_LIFETIME_SECS..=MAX_LIFETIME_SECS).contains(&request.expires_in_secs) {
        return Err(ApiError::invalid(format!(
            "expires_in_secs must be from {MIN_LIFETIME_SECS} to {MAX_LIFETIME_SECS} (366 days)"
        )));
    }
    if request.max_uses == Some(0) {
        return Err(ApiError::invalid(
            "max_uses must be at least 1; omit it for any number of devices",
        ));
    }
    let generated = tokens::generate();
    let now = now_unix();
    let record = NewToken {
        id: generated.id.clone(),
        token_hash: tokens::hash(&generated.secret),
        group: group.to_owned(),
        created_at: now,
        expires_at: now + request.expires_in_secs,
        max_uses: request.max_uses,
    };
    let audit = caller.audit_entry(
        "enrollment_token.create",
        &record.id,
        format!(
            "group {group}, expires {}, uses {}",
            record.expires_at,
            record
                .max_uses
                .map_or("unlimited".to_owned(), |n| n.to_string())
        ),
    );
    if !state.store.create_token(record.clone(), audit).await? {
        return Err(ApiError::conflict(
            "a token with the same id or secret exists already: ask for another one",
        ));
    }
    let view = TokenRecord {
        id: record.id,
        group: record.group,
        created_at: now,
        expires_at: record.expires_at,
        max_uses: record.max_uses,
        uses: 0,
        revoked_at: None,
    };
    Ok(Json(CreatedEnrollmentToken {
        token: token_view(&view, now),
        secret: generated.secret,
    }))
}

/// Revoke an enrollment token: no device enrolls with it any more
/// (devices already enrolled keep working).
#[utoipa::path(delete, path = "/enrollment-tokens/{id}", tag = "enrollment", params(("id" = String, Path)),
    responses((status = 200, body = EnrollmentTokenView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<EnrollmentTokenView>, ApiError> {
    let find = |tokens: Vec<TokenRecord>| {
        tokens
            .into_iter()
            .find(|t| t.id == id && sees(&caller.principal, &t.group))
            .ok_or_else(|| ApiError::not_found("enrollment token", &id))
    };
    let token = find(state.store.list_tokens().await?)?;
    if !can(
        &caller.principal,
        Action::ManageEnrollment,
        Some(&token.group),
    ) {
        return Err(ApiError::forbidden(format!(
            "revoking enrollment tokens needs the admin role; you are {}",
            caller.principal.role
        )));
    }
    let now = now_unix();
    if token.revoked_at.is_none() {
        let audit = caller.audit_entry(
            "enrollment_token.revoke",
            &id,
            format!("group {}", token.group),
        );
        if !state.store.revoke_token(&id, audit).await? {
            return Err(ApiError::not_found("enrollment token", &id));
        }
    }
    Ok(Json(token_view(
        &find(state.store.list_tokens().await?)?,
        now,
    )))
}
