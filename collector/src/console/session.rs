//! Sign-in and sign-out: `POST /api/v1/session` (JSON or a form), `GET` to
//! see who one is, `DELETE` to sign out. Failed sign-ins are throttled per
//! user name and per address ([`super::throttle`]) and audited.

use std::time::Instant;

use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{self, CSRF_COOKIE, Caller, Credential, SESSION_COOKIE};
use super::authz::Role;
use super::error::{ApiError, ErrorBody};
use super::password;
use super::secrets;
use super::state::ConsoleState;
use crate::clock::now_unix;
use crate::store::console::{NewAuditEntry, SessionRecord, UserRecord};

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// The signed-in caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfo {
    /// The user name, or `token:<id>` for an API token.
    pub name: String,
    pub role: Role,
    /// `["*"]` for all groups.
    pub groups: Vec<String>,
    /// Echo in `X-CSRF-Token` on POST, PUT, PATCH and DELETE (sessions only).
    pub csrf_token: Option<String>,
    /// When the session ends at the latest (sessions only), Unix seconds.
    pub expires_at: Option<i64>,
}

/// Whether the request's `Origin`, when a browser sends one, is this
/// collector's own: a sign-in form posted from another site is refused.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .unwrap_or_default();
    !host.is_empty() && origin_host == host
}

fn cookies(state: &ConsoleState, session_id: &str, csrf: &str, max_age: i64) -> [HeaderValue; 2] {
    let secure = if state.settings.secure_cookie {
        "; Secure"
    } else {
        ""
    };
    let session = format!(
        "{SESSION_COOKIE}={session_id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    );
    let csrf = format!("{CSRF_COOKIE}={csrf}; Path=/; SameSite=Strict; Max-Age={max_age}{secure}");
    [session, csrf].map(|c| HeaderValue::from_str(&c).unwrap_or(HeaderValue::from_static("")))
}

/// Sign in with a user name and password; sets the session cookie.
#[utoipa::path(post, path = "/session", tag = "session",
    request_body(content((LoginRequest = "application/json"), (LoginRequest = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, body = SessionInfo, description = "Signed in; the session cookie is set"),
        (status = 401, body = ErrorBody, description = "Wrong user name or password"),
        (status = 403, body = ErrorBody, description = "Posted from another site"),
        (status = 429, body = ErrorBody, description = "Too many failed sign-ins; see Retry-After")))]
pub async fn login(State(state): State<ConsoleState>, request: Request) -> Response {
    match login_inner(state, request).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn login_inner(state: ConsoleState, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let source = auth::source(&parts, &state.settings.trusted_proxies);
    if !same_origin(&parts.headers) {
        return Err(ApiError::forbidden(
            "sign-in posted from another site (Origin does not match Host)",
        ));
    }
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let request = Request::from_parts(parts, body);
    let login: LoginRequest = if is_form {
        Form::<LoginRequest>::from_request(request, &state)
            .await
            .map_err(|err| ApiError::invalid(format!("sign-in form: {}", err.body_text())))?
            .0
    } else {
        Json::<LoginRequest>::from_request(request, &state)
            .await
            .map_err(|err| {
                ApiError::invalid(format!(
                    "sign-in body: {}; send {{\"username\": ..., \"password\": ...}}",
                    err.body_text()
                ))
            })?
            .0
    };
    let username = login.username.trim().to_owned();
    let keys = [
        format!("user:{}", username.to_lowercase()),
        format!("ip:{source}"),
    ];
    if let Some(wait) = state.throttle.wait(&keys, Instant::now()) {
        auth::audit(
            &state,
            &username,
            "session.login_throttled",
            &username,
            "",
            &source,
        )
        .await?;
        return Err(ApiError::throttled(wait.as_secs().max(1)));
    }
    let user = state
        .store
        .user(&username)
        .await?
        .filter(|u| u.disabled_at.is_none());
    let attempt = login.password;
    let verified = tokio::task::spawn_blocking(move || match &user {
        Some(u) => password::verify(&attempt, &u.password_hash).then(|| u.clone()),
        None => {
            password::verify_nothing(&attempt);
            None
        }
    })
    .await
    .map_err(|err| ApiError::from(crate::store::StoreError::Task(err.to_string())))?;
    let Some(user) = verified else {
        state.throttle.failed(&keys, Instant::now());
        auth::audit(
            &state,
            &username,
            "session.login_failed",
            &username,
            "",
            &source,
        )
        .await?;
        return Err(ApiError::unauthenticated(
            "wrong user name or password (or the user is disabled)",
        ));
    };
    state.throttle.succeeded(&keys[0]);
    let (info, cookies) = open_session(&state, user, &source, "").await?;
    let mut response = Json(info).into_response();
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// Starts a session for `user` (audited as `session.login` with `detail`):
/// what to answer and the two cookies to set.
pub(super) async fn open_session(
    state: &ConsoleState,
    user: UserRecord,
    source: &str,
    detail: &str,
) -> Result<(SessionInfo, [HeaderValue; 2]), ApiError> {
    let now = now_unix();
    let session_id = secrets::session_id();
    let csrf = secrets::csrf_token();
    let expires_at = now + state.settings.session_lifetime_secs;
    state
        .store
        .create_session(
            SessionRecord {
                id_hash: secrets::hash(&session_id),
                username: user.username.clone(),
                csrf_token: csrf.clone(),
                created_at: now,
                expires_at,
                last_seen_at: now,
                ip: source.to_owned(),
            },
            NewAuditEntry {
                at: now,
                actor: user.username.clone(),
                action: "session.login".into(),
                target: user.username.clone(),
                detail: detail.into(),
                source: source.into(),
            },
        )
        .await?;
    let cookies = cookies(
        state,
        &session_id,
        &csrf,
        state.settings.session_lifetime_secs,
    );
    let info = SessionInfo {
        name: user.username,
        role: user.role,
        groups: user.scope.to_list(),
        csrf_token: Some(csrf),
        expires_at: Some(expires_at),
    };
    Ok((info, cookies))
}

/// Who is signed in (a session or an API token).
#[utoipa::path(get, path = "/session", tag = "session",
    responses((status = 200, body = SessionInfo), (status = 401, body = ErrorBody)))]
pub async fn current(
    State(state): State<ConsoleState>,
    caller: Caller,
) -> Result<Json<SessionInfo>, ApiError> {
    let (csrf_token, expires_at) = match &caller.credential {
        Credential::Session {
            id_hash,
            csrf_token,
        } => (
            Some(csrf_token.clone()),
            state.store.session(id_hash).await?.map(|s| s.expires_at),
        ),
        Credential::ApiToken { .. } => (None, None),
    };
    Ok(Json(SessionInfo {
        name: caller.principal.name,
        role: caller.principal.role,
        groups: caller.principal.scope.to_list(),
        csrf_token,
        expires_at,
    }))
}

/// After a single sign-on session: where the browser goes next.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedOut {
    /// The OpenID provider's end-session address (with `id_token_hint` and
    /// `post_logout_redirect_uri` back to `/login`): open it so the provider
    /// signs the person out too.
    pub end_session_url: String,
}

/// Sign out: ends the session and clears its cookies. A single sign-on
/// session whose provider advertises `end_session_endpoint` answers 200
/// with the address that signs out at the provider too.
#[utoipa::path(delete, path = "/session", tag = "session",
    responses((status = 204, description = "Signed out"),
        (status = 200, body = SignedOut, description = "Signed out here; open end_session_url to sign out at the OpenID provider too"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "Missing X-CSRF-Token")))]
pub async fn logout(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Response, ApiError> {
    let Credential::Session { id_hash, .. } = &caller.credential else {
        return Err(ApiError::invalid(
            "an API token has no session to end: revoke it instead (DELETE /api/v1/api-tokens/{id})",
        ));
    };
    let audit = caller.audit_entry("session.logout", &caller.principal.name, "");
    state.store.delete_session(id_hash, Some(audit)).await?;
    let (end_session_url, forget_id_token) = super::oidc::end_session(&state, &headers).await;
    let mut response = match end_session_url {
        Some(end_session_url) => Json(SignedOut { end_session_url }).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    };
    for cookie in cookies(&state, "", "", 0) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
        .headers_mut()
        .append(header::SET_COOKIE, forget_id_token);
    Ok(response)
}
