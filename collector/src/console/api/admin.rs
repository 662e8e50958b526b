//! Users, API tokens and the audit log. Users and the audit log need an
//! admin over all groups; anyone may make API tokens of their own, never
//! with more rights than they have.

// utoipa's `params(Type)` expands to a qualified path with the type's span,
// which this lint reports against our code.
#![allow(unused_qualifications)]

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::page::{Order, Page, PageQuery, number_key, paginate};
use crate::clock::now_unix;
use crate::console::auth::Caller;
use crate::console::authz::{Action, Role, Scope, can, may_grant};
use crate::console::error::{ApiError, ErrorBody};
use crate::console::state::ConsoleState;
use crate::console::{password, secrets};
use crate::store::console::{ApiTokenRecord, AuditQuery, UserRecord, UserUpdate};

fn need(caller: &Caller, action: Action, what: &str) -> Result<(), ApiError> {
    if !can(&caller.principal, action, None) {
        return Err(ApiError::forbidden(format!(
            "{what} needs an admin over all groups; you are {} over {}",
            caller.principal.role,
            caller.principal.scope.to_list().join(", ")
        )));
    }
    Ok(())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub username: String,
    pub role: Role,
    /// `["*"]` for all groups.
    pub groups: Vec<String>,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
    pub password_set_at: i64,
}

fn user_view(u: &UserRecord) -> UserView {
    UserView {
        username: u.username.clone(),
        role: u.role,
        groups: u.scope.to_list(),
        created_at: u.created_at,
        disabled_at: u.disabled_at,
        password_set_at: u.password_set_at,
    }
}

/// Every console user.
#[utoipa::path(get, path = "/users", tag = "users", params(PageQuery),
    responses((status = 200, body = Page<UserView>), (status = 403, body = ErrorBody)))]
pub async fn list_users(
    State(state): State<ConsoleState>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<UserView>>, ApiError> {
    need(&caller, Action::ManageUsers, "listing users")?;
    let keyed = state
        .store
        .list_users()
        .await?
        .iter()
        .map(|u| ((u.username.clone(), String::new()), user_view(u)))
        .collect();
    Ok(Json(paginate(keyed, Order::Asc, &page)?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewUserRequest {
    pub username: String,
    pub role: Role,
    /// Group names, or `["*"]` (the default) for all groups.
    pub groups: Option<Vec<String>>,
    /// At least 12 characters; omit to have one generated and returned once.
    pub password: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUser {
    pub user: UserView,
    /// The generated password, shown only this once (absent when one was given).
    pub password: Option<String>,
}

/// A valid user name: what people type at sign-in.
pub fn valid_username(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
}

/// Makes a user, audited as made by `caller`. Returns the record and the
/// generated password, if one was generated.
async fn create_user(
    state: &ConsoleState,
    caller: &Caller,
    username: &str,
    role: Role,
    scope: Scope,
    given_password: Option<String>,
) -> Result<(UserRecord, Option<String>), ApiError> {
    if !valid_username(username) {
        return Err(ApiError::invalid(format!(
            "invalid user name {username:?}: use letters, digits, '-', '_', '.' or '@' (at most 64)"
        )));
    }
    let (plain, generated) = match given_password {
        Some(p) => (p, None),
        None => {
            let p = password::generate();
            (p.clone(), Some(p))
        }
    };
    password::check_new(&plain).map_err(|e| ApiError::invalid(e.to_string()))?;
    let hash = tokio::task::spawn_blocking(move || password::hash(&plain))
        .await
        .map_err(|e| ApiError::from(crate::store::StoreError::Task(e.to_string())))?
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let now = now_unix();
    let user = UserRecord {
        username: username.into(),
        role,
        scope,
        password_hash: hash,
        created_at: now,
        disabled_at: None,
        password_set_at: now,
    };
    let audit = caller.audit_entry(
        "user.create",
        username,
        format!("{} over {}", user.role, user.scope.to_list().join(",")),
    );
    if !state.store.create_user(user.clone(), audit).await? {
        return Err(ApiError::conflict(format!(
            "user {username:?} already exists"
        )));
    }
    Ok((user, generated))
}

/// Make a user.
#[utoipa::path(post, path = "/users", tag = "users", request_body = NewUserRequest,
    responses((status = 200, body = CreatedUser), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_user(
    State(state): State<ConsoleState>,
    caller: Caller,
    Json(request): Json<NewUserRequest>,
) -> Result<Json<CreatedUser>, ApiError> {
    need(&caller, Action::ManageUsers, "adding users")?;
    let scope = Scope::from_list(request.groups.as_deref()).map_err(ApiError::invalid)?;
    let (user, password) = create_user(
        &state,
        &caller,
        request.username.trim(),
        request.role,
        scope,
        request.password,
    )
    .await?;
    Ok(Json(CreatedUser {
        user: user_view(&user),
        password,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UserChange {
    pub role: Option<Role>,
    pub groups: Option<Vec<String>>,
    /// true disables (and signs the user out), false enables.
    pub disabled: Option<bool>,
}

/// Change a user's role, groups, or disable/enable them.
#[utoipa::path(patch, path = "/users/{username}", tag = "users", params(("username" = String, Path)), request_body = UserChange,
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn change_user(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(username): Path<String>,
    Json(change): Json<UserChange>,
) -> Result<Json<UserView>, ApiError> {
    need(&caller, Action::ManageUsers, "changing users")?;
    let scope = change
        .groups
        .as_deref()
        .map(|g| Scope::from_list(Some(g)))
        .transpose()
        .map_err(ApiError::invalid)?;
    let before = state
        .store
        .user(&username)
        .await?
        .ok_or_else(|| ApiError::not_found("user", &username))?;
    let now = now_unix();
    let update = UserUpdate {
        role: change.role,
        scope,
        disabled_at: change.disabled.map(|d| d.then_some(now)),
        password_hash: None,
    };
    // What the user will be, for the audit row written with the change.
    let role = update.role.unwrap_or(before.role);
    let groups = update.scope.as_ref().unwrap_or(&before.scope).to_list();
    let disabled = update.disabled_at.unwrap_or(before.disabled_at).is_some();
    let audit = caller.audit_entry(
        "user.change",
        &username,
        format!(
            "{role} over {}{}",
            groups.join(","),
            if disabled { ", disabled" } else { "" }
        ),
    );
    if !state.store.update_user(&username, update, audit).await? {
        return Err(ApiError::not_found("user", &username));
    }
    let user = state
        .store
        .user(&username)
        .await?
        .ok_or_else(|| ApiError::not_found("user", &username))?;
    Ok(Json(user_view(&user)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenView {
    pub id: String,
    pub name: String,
    pub owner: Option<String>,
    pub role: Role,
    pub groups: Vec<String>,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub fn token_view(t: &ApiTokenRecord) -> ApiTokenView {
    ApiTokenView {
        id: t.id.clone(),
        name: t.name.clone(),
        owner: t.owner.clone(),
        role: t.role,
        groups: t.scope.to_list(),
        created_by: t.created_by.clone(),
        created_at: t.created_at,
        expires_at: t.expires_at,
        last_used_at: t.last_used_at,
        revoked_at: t.revoked_at,
    }
}

/// API tokens: every token for an admin over all groups, else one's own.
#[utoipa::path(get, path = "/api-tokens", tag = "api-tokens", params(PageQuery),
    responses((status = 200, body = Page<ApiTokenView>), (status = 401, body = ErrorBody)))]
pub async fn list_tokens(
    State(state): State<ConsoleState>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<ApiTokenView>>, ApiError> {
    let all = can(&caller.principal, Action::ManageApiTokens, None);
    let keyed = state
        .store
        .list_api_tokens()
        .await?
        .iter()
        .filter(|t| all || t.owner.as_deref() == Some(caller.principal.name.as_str()))
        .map(|t| ((number_key(t.created_at), t.id.clone()), token_view(t)))
        .collect();
    Ok(Json(paginate(keyed, Order::Desc, &page)?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewApiTokenRequest {
    /// What it is for: "backup report script".
    pub name: String,
    pub role: Role,
    /// Group names, or `["*"]` (the default) for all groups.
    pub groups: Option<Vec<String>>,
    /// Lifetime in seconds, 60 to 400 days' worth.
    pub expires_in_secs: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiToken {
    pub token: ApiTokenView,
    /// Send as "Authorization: Bearer <secret>"; shown only this once.
    pub secret: String,
}

/// Make an API token of one's own, with at most one's own rights.
#[utoipa::path(post, path = "/api-tokens", tag = "api-tokens", request_body = NewApiTokenRequest,
    responses((status = 200, body = CreatedApiToken), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn add_token(
    State(state): State<ConsoleState>,
    caller: Caller,
    Json(request): Json<NewApiTokenRequest>,
) -> Result<Json<CreatedApiToken>, ApiError> {
    if caller.principal.name.starts_with("token:") {
        return Err(ApiError::forbidden(
            "an API token cannot make API tokens: sign in as a user",
        ));
    }
    let scope = Scope::from_list(request.groups.as_deref()).map_err(ApiError::invalid)?;
    if !may_grant(&caller.principal, request.role, &scope) {
        return Err(ApiError::forbidden(format!(
            "a token cannot have more rights than you: you are {} over {}",
            caller.principal.role,
            caller.principal.scope.to_list().join(", ")
        )));
    }
    if !(60..=400 * 86_400).contains(&request.expires_in_secs) {
        return Err(ApiError::invalid(
            "expires_in_secs must be from 60 to 34560000 (400 days)",
        ));
    }
    let now = now_unix();
    let (id, secret) = secrets::api_token();
    let token = ApiTokenRecord {
        id,
        secret_hash: secrets::hash(&secret),
        name: request.name.trim().into(),
        owner: Some(caller.principal.name.clone()),
        role: request.role,
        scope,
        created_by: caller.principal.name.clone(),
        created_at: now,
        expires_at: now + request.expires_in_secs,
        last_used_at: None,
        revoked_at: None,
    };
    let audit = caller.audit_entry(
        "api_token.create",
        &token.id,
        format!(
            "{:?} {} over {}",
            token.name,
            token.role,
            token.scope.to_list().join(",")
        ),
    );
    state.store.create_api_token(token.clone(), audit).await?;
    Ok(Json(CreatedApiToken {
        token: token_view(&token),
        secret,
    }))
}

/// Revoke an API token (one's own, or any for an admin over all groups).
#[utoipa::path(delete, path = "/api-tokens/{id}", tag = "api-tokens", params(("id" = String, Path)),
    responses((status = 200, body = ApiTokenView), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ApiTokenView>, ApiError> {
    let all = can(&caller.principal, Action::ManageApiTokens, None);
    let token = state
        .store
        .list_api_tokens()
        .await?
        .into_iter()
        .find(|t| t.id == id && (all || t.owner.as_deref() == Some(caller.principal.name.as_str())))
        .ok_or_else(|| ApiError::not_found("API token", &id))?;
    let audit = caller.audit_entry("api_token.revoke", &id, token.name.clone());
    state.store.revoke_api_token(&id, audit).await?;
    let token = state
        .store
        .list_api_tokens()
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .unwrap_or(token);
    Ok(Json(token_view(&token)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    /// Client address, or `cli`.
    pub source: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// e.g. session.login_failed, alert.ack, user.create.
    pub action: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 500 (default 50).
    pub limit: Option<usize>,
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditFilter),
    responses((status = 200, body = Page<AuditView>), (status = 403, body = ErrorBody)))]
pub async fn audit_log(
    State(state): State<ConsoleState>,
    caller: Caller,
    Query(filter): Query<AuditFilter>,
) -> Result<Json<Page<AuditView>>, ApiError> {
    need(&caller, Action::ReadAudit, "reading the audit log")?;
    let limit = filter.limit.unwrap_or(super::page::DEFAULT_LIMIT);
    if !(1..=super::page::MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit {limit} is out of range: use 1 to {}",
            super::page::MAX_LIMIT
        )));
    }
    let before_id = filter
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>().map_err(|_| {
                ApiError::invalid(format!("cursor {c:?} is not one this API gave out"))
            })
        })
        .transpose()?;
    let rows = state
        .store
        .list_audit(AuditQuery {
            before_id,
            actor: filter.actor,
            action: filter.action,
            limit: limit + 1,
        })
        .await?;
    let more = rows.len() > limit;
    let items: Vec<AuditView> = rows
        .into_iter()
        .take(limit)
        .map(|r| AuditView {
            id: r.id,
            at: r.entry.at,
            actor: r.entry.actor,
            action: r.entry.action,
            target: r.entry.target,
            detail: r.entry.detail,
            source: r.entry.source,
        })
        .collect();
    let next_cursor = more
        .then(|| items.last().map(|i| i.id.to_string()))
        .flatten();
    Ok(Json(Page {
        total: None,
        items,
        next_cursor,
    }))
}
