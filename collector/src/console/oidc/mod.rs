//! Single sign-on with an OpenID provider: `GET /api/v1/session/oidc` sends
//! the browser to the provider (authorization code flow with PKCE, state and
//! nonce), `GET /api/v1/session/oidc/callback` takes it back, verifies the
//! ID token, maps its role claim to a role and groups, creates or updates
//! the user (audited) and starts a session like a password sign-in.
//!
//! Between the two, the browser keeps the state, PKCE verifier and nonce in
//! a ten-minute `HttpOnly` cookie, so any collector sharing the database can
//! finish a sign-in another started. It is `SameSite=Lax`, not `Strict`:
//! the browser comes back from the provider's site, and a `Strict` cookie
//! would not be sent on that navigation.
//!
//! Users made here have no password (their stored hash is
//! [`password::SINGLE_SIGN_ON`], which no password matches). A local user of
//! the same name is never taken over: that sign-in is refused.
//!
//! A callback that fails answers a browser (one that accepts `text/html`)
//! with a page saying what happened and what to do; other clients get the
//! API's JSON error. After a sign-in the ID token waits in an `HttpOnly`
//! cookie scoped to `/api/v1/session`, so signing out can end the session at
//! the provider too ([`end_session`]); it is no credential here (the
//! collector never accepts an ID token in place of its session).

// utoipa's `params(Type)` expands to a qualified path with the type's span,
// which this lint reports against our code.
#![allow(unused_qualifications)]

pub mod client;
pub mod mapping;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

pub use self::client::OidcLogin;
use self::client::{OidcError, PendingLogin, SignedIn};
use self::mapping::{MappedUser, map_claims};
use super::auth;
use super::error::{ApiError, ErrorBody};
use super::password;
use super::secrets;
use super::session::open_session;
use super::state::ConsoleState;
use crate::clock::now_unix;
use crate::store::console::{UserRecord, UserUpdate};

const PENDING_COOKIE: &str = "forewarn_oidc";
const PENDING_PATH: &str = "/api/v1/session/oidc";
const PENDING_SECS: i64 = 600;
/// The ID token of a single sign-on session, for `id_token_hint` at sign-out.
const ID_TOKEN_COOKIE: &str = "forewarn_oidc_id";
const ID_TOKEN_PATH: &str = "/api/v1/session";

/// An `HttpOnly` cookie of this module: the pending sign-in (`SameSite=Lax`,
/// it comes back from the provider's site) or the ID token (`Strict`).
fn oidc_cookie(
    state: &ConsoleState,
    (name, path, same_site): (&str, &str, &str),
    value: &str,
    max_age: i64,
) -> HeaderValue {
    let secure = if state.settings.secure_cookie {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}"
    ))
    .unwrap_or(HeaderValue::from_static(""))
}

fn id_token_cookie(state: &ConsoleState, value: &str, max_age: i64) -> HeaderValue {
    oidc_cookie(
        state,
        (ID_TOKEN_COOKIE, ID_TOKEN_PATH, "Strict"),
        value,
        max_age,
    )
}

fn pending_cookie(state: &ConsoleState, value: &str, max_age: i64) -> HeaderValue {
    oidc_cookie(state, (PENDING_COOKIE, PENDING_PATH, "Lax"), value, max_age)
}

/// At sign-out: where to send the browser so the provider ends its session
/// too (`None` for a password session, or a provider without
/// `end_session_endpoint`), and the header that forgets the ID token.
pub async fn end_session(
    state: &ConsoleState,
    headers: &HeaderMap,
) -> (Option<String>, HeaderValue) {
    let forget = id_token_cookie(state, "", 0);
    let (Some(login), Some(id_token)) = (
        state.oidc.as_deref(),
        auth::cookie(headers, ID_TOKEN_COOKIE),
    ) else {
        return (None, forget);
    };
    match login.end_session_url(&id_token).await {
        Ok(url) => (url, forget),
        Err(err) => {
            tracing::warn!(error = %err, "single sign-on: cannot end the session at the provider");
            (None, forget)
        }
    }
}

/// Whether the callback's caller is a browser (it accepts HTML).
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

fn login(state: &ConsoleState) -> Result<&OidcLogin, ApiError> {
    state.oidc.as_deref().ok_or_else(|| {
        ApiError::not_found(
            "single sign-on",
            "not configured: add [console.oidc] to the collector's config",
        )
    })
}

/// Start single sign-on: redirects to the OpenID provider.
#[utoipa::path(get, path = "/session/oidc", tag = "session",
    responses(
        (status = 303, description = "To the provider's sign-in page; sets the forewarn_oidc cookie"),
        (status = 404, body = ErrorBody, description = "Single sign-on is not configured"),
        (status = 503, body = ErrorBody, description = "The provider does not answer")))]
pub async fn start(State(state): State<ConsoleState>) -> Result<Response, ApiError> {
    let (url, pending) = login(&state)?.begin().await.map_err(|err| {
        tracing::warn!(error = %err, "single sign-on: cannot start");
        ApiError::unavailable(format!("{err}; try again, or sign in with a password"))
    })?;
    let location =
        HeaderValue::from_str(&url).map_err(|_| ApiError::unavailable("bad provider URL"))?;
    let mut response = StatusCode::SEE_OTHER.into_response();
    response.headers_mut().insert(header::LOCATION, location);
    response.headers_mut().insert(
        header::SET_COOKIE,
        pending_cookie(&state, &pending.to_cookie(), PENDING_SECS),
    );
    Ok(response)
}

/// What the provider sends back.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code.
    pub code: Option<String>,
    /// Must equal the state this browser left with.
    pub state: Option<String>,
    /// Set instead of `code` when the provider refused.
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Back from the OpenID provider: verifies the sign-in and starts a session.
/// A failure answers a browser (`Accept: text/html`) with an HTML page
/// saying what happened and what to do, other clients with the JSON error.
#[utoipa::path(get, path = "/session/oidc/callback", tag = "session", params(CallbackQuery),
    responses(
        (status = 200, description = "Signed in: the session cookies are set and the page moves on to the console", content_type = "text/html", body = String),
        (status = 400, body = ErrorBody, description = "Neither code nor error"),
        (status = 401, body = ErrorBody, description = "The sign-in failed: state, PKCE, ID token, or the provider refused"),
        (status = 403, body = ErrorBody, description = "No role is mapped to the user, or the user is disabled"),
        (status = 404, body = ErrorBody, description = "Single sign-on is not configured"),
        (status = 409, body = ErrorBody, description = "A local user of that name exists"),
        (status = 503, body = ErrorBody, description = "The provider does not answer")))]
pub async fn callback(State(state): State<ConsoleState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let source = auth::source(&parts, &state.settings.trusted_proxies);
    let pending = auth::cookie(&parts.headers, PENDING_COOKIE);
    let query = Query::<CallbackQuery>::try_from_uri(&parts.uri);
    let result = match query {
        Ok(Query(query)) => finish(&state, query, pending.as_deref(), &source).await,
        Err(err) => Err(ApiError::invalid(format!(
            "single sign-on callback: {}",
            err.body_text()
        ))),
    };
    let mut response = match result {
        Ok(response) => response,
        Err(err) if wants_html(&parts.headers) => {
            crate::web::pages::login::sign_in_failed(err.status(), err.message())
        }
        Err(err) => err.into_response(),
    };
    // The pending sign-in is spent either way.
    response
        .headers_mut()
        .append(header::SET_COOKIE, pending_cookie(&state, "", 0));
    response
}

async fn finish(
    state: &ConsoleState,
    query: CallbackQuery,
    pending: Option<&str>,
    source: &str,
) -> Result<Response, ApiError> {
    let login = login(state)?;
    let issuer = login.config.issuer_url.as_str();
    let failed = |why: String| async move {
        auth::audit(
            state,
            "-",
            "session.login_failed",
            "-",
            format!("single sign-on via {issuer}: {why}"),
            source,
        )
        .await?;
        Err::<Response, ApiError>(ApiError::unauthenticated(format!(
            "single sign-on failed: {why}; start again at /api/v1/session/oidc"
        )))
    };
    if let Some(error) = query.error {
        let description = query.error_description.unwrap_or_default();
        return failed(format!("the provider refused: {error} {description}")).await;
    }
    let (Some(code), Some(returned_state)) = (query.code, query.state) else {
        return Err(ApiError::invalid(
            "single sign-on callback without code and state: this page is for the OpenID provider's redirect",
        ));
    };
    let Some(pending) = pending.and_then(PendingLogin::from_cookie) else {
        return failed(
            "no sign-in was started in this browser, or it is older than 10 minutes".into(),
        )
        .await;
    };
    if !secrets::same(&returned_state, &pending.state) {
        return failed(
            "the state the provider returned is not this browser's (a forged or crossed sign-in)"
                .into(),
        )
        .await;
    }
    let SignedIn { claims, id_token } = match login.finish(code, &pending).await {
        Ok(signed_in) => signed_in,
        Err(err @ OidcError::Unreachable { .. }) => {
            return Err(ApiError::unavailable(err.to_string()));
        }
        Err(err) => {
            tracing::warn!(error = %err, "single sign-on refused");
            return failed(err.to_string()).await;
        }
    };
    let mapped = match map_claims(&claims, &login.config) {
        Ok(mapped) => mapped,
        Err(err) => {
            auth::audit(
                state,
                "-",
                "session.login_failed",
                "-",
                format!("single sign-on via {issuer}: {err}"),
                source,
            )
            .await?;
            return Err(ApiError::forbidden(err.to_string()));
        }
    };
    let user = upsert_user(state, &mapped, issuer, source).await?;
    let (_, cookies) =
        open_session(state, user, source, &format!("single sign-on via {issuer}")).await?;
    // A page, not a redirect: the session cookie is SameSite=Strict, and a
    // browser would not send it on a redirect chain that began at the
    // provider's site; a same-site navigation from this page does.
    let mut response = Html(
        "<!doctype html><meta http-equiv=\"refresh\" content=\"0;url=/\">\
         <title>Signed in</title><p>Signed in. <a href=\"/\">Continue to Forewarn</a>.</p>",
    )
    .into_response();
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response.headers_mut().append(
        header::SET_COOKIE,
        id_token_cookie(state, &id_token, state.settings.session_lifetime_secs),
    );
    Ok(response)
}

/// Creates the user, or brings its role and groups in line with the
/// provider's claim; each change is audited.
async fn upsert_user(
    state: &ConsoleState,
    mapped: &MappedUser,
    issuer: &str,
    source: &str,
) -> Result<UserRecord, ApiError> {
    let actor = format!("oidc:{issuer}");
    let grant = format!(
        "role {} groups {} from claim value {:?}",
        mapped.role,
        mapped.scope.to_list().join(","),
        mapped.matched
    );
    let now = now_unix();
    match state.store.user(&mapped.username).await? {
        Some(user) if user.password_hash != password::SINGLE_SIGN_ON => {
            Err(ApiError::conflict(format!(
                "a local user named {} exists, so single sign-on will not take it over: an admin can rename or disable the local user",
                mapped.username
            )))
        }
        Some(user) if user.disabled_at.is_some() => Err(ApiError::forbidden(format!(
            "user {} is disabled in Forewarn: ask an admin",
            mapped.username
        ))),
        Some(user) if user.role == mapped.role && user.scope == mapped.scope => Ok(user),
        Some(user) => {
            state
                .store
                .update_user(
                    &user.username,
                    UserUpdate {
                        role: Some(mapped.role),
                        scope: Some(mapped.scope.clone()),
                        ..UserUpdate::default()
                    },
                    auth::audit_entry(&actor, "user.change", &user.username, grant, source),
                )
                .await?;
            Ok(UserRecord {
                role: mapped.role,
                scope: mapped.scope.clone(),
                ..user
            })
        }
        None => {
            let user = UserRecord {
                username: mapped.username.clone(),
                role: mapped.role,
                scope: mapped.scope.clone(),
                password_hash: password::SINGLE_SIGN_ON.into(),
                created_at: now,
                disabled_at: None,
                password_set_at: now,
            };
            let audit = auth::audit_entry(&actor, "user.create", &user.username, grant, source);
            if !state.store.create_user(user.clone(), audit).await? {
                return Err(ApiError::conflict(format!(
                    "user {} was created at the same moment: sign in again",
                    mapped.username
                )));
            }
            Ok(user)
        }
    }
}
