//! The console's web pages: server-rendered HTML (askama templates under
//! `collector/templates/`, checked when the collector compiles) with one
//! small script for actions, saved views and live updates. Assets are built
//! into the binary ([`assets`]); the page fetches nothing from elsewhere.
//!
//! Every page needs a signed-in person (the API's session cookie): a
//! visitor without one is sent to `/login?next=...`. Pages read the store
//! through [`fleet`], which leaves out what the person's groups do not reach;
//! changes go through the REST API (`/api/v1`, with the CSRF token) or, for
//! silencing a device or group, through [`silences::create`].
//!
//! # Layout
//! - [`fleet`]: what a person may see.
//! - [`format`]: times, sizes and query strings as pages print them.
//! - [`chart`]: the disk chart's geometry (SVG).
//! - [`login`], [`overview`], [`devices`], [`device`], [`alerts`],
//!   [`silences`], [`settings`], [`audit`]: one module per page.
//! - [`events`]: server-sent events telling pages that something changed.
//! - [`assets`]: the stylesheet and script, from `collector/assets/`.

pub mod alerts;
pub mod assets;
pub mod audit;
pub mod chart;
pub mod device;
pub mod devices;
pub mod events;
pub mod fleet;
pub mod format;
pub mod login;
pub mod overview;
pub mod settings;
pub mod silences;

use askama::Template;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::console::auth::{Caller, Credential};
use crate::console::authz::{Action, Role, can};
use crate::console::state::ConsoleState;
use crate::store::StoreError;

/// The pages' routes (state: the console's, whose sessions they use).
pub fn router() -> Router<ConsoleState> {
    Router::new()
        .route("/", get(overview::page))
        .route("/login", get(login::page))
        .route("/devices", get(devices::page))
        .route("/devices/{id}", get(device::page))
        .route("/alerts", get(alerts::page))
        .route("/silences", get(silences::page))
        .route("/settings", get(settings::page))
        .route("/audit", get(audit::page))
        .route("/events", get(events::stream))
        .route("/assets/{name}", get(assets::serve))
        .route("/ui/silences", post(silences::create))
}

/// The signed-in person a page is for; without a session, a redirect to
/// the sign-in page that comes back here.
#[derive(Debug)]
pub struct SignedIn(pub Caller);

impl FromRequestParts<ConsoleState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        match Caller::from_request_parts(parts, state).await {
            Ok(caller) => Ok(Self(caller)),
            Err(err) => {
                let response = err.into_response();
                if response.status() != StatusCode::UNAUTHORIZED {
                    return Err(response);
                }
                let next = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                Err(
                    Redirect::to(&format!("/login?next={}", format::encode_component(next)))
                        .into_response(),
                )
            }
        }
    }
}

/// What every page's frame shows: who is signed in and what they may do.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub title: String,
    /// The navigation entry to mark current.
    pub active: &'static str,
    pub user: String,
    pub role: Role,
    /// Operator or admin (over some group): action buttons are shown.
    pub can_act: bool,
    /// Admin over all groups: users, all tokens, the audit log.
    pub is_admin: bool,
    /// Signed in with a session (not an API token): may sign out.
    pub has_session: bool,
    pub css: &'static str,
    pub js: &'static str,
}

impl Chrome {
    pub fn new(caller: &Caller, title: impl Into<String>, active: &'static str) -> Self {
        let p = &caller.principal;
        Self {
            title: title.into(),
            active,
            user: p.name.clone(),
            role: p.role,
            can_act: p.role >= Role::Operator,
            is_admin: can(p, Action::ManageUsers, None),
            has_session: matches!(caller.credential, Credential::Session { .. }),
            css: assets::CSS_URL.as_str(),
            js: assets::JS_URL.as_str(),
        }
    }
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum PageError {
    Store(StoreError),
    NotFound(String),
    Forbidden(String),
}

impl From<StoreError> for PageError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    message: &'a str,
    css: &'static str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            Self::Store(err) => {
                tracing::error!(error = %err, "web page failed");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The store is not answering; try again in a moment (the collector's log says why).".to_owned(),
                )
            }
            Self::NotFound(what) => (StatusCode::NOT_FOUND, format!("{what} not found.")),
            Self::Forbidden(why) => (StatusCode::FORBIDDEN, why.clone()),
        };
        let page = ErrorPage {
            status: status.as_u16(),
            message: &message,
            css: assets::CSS_URL.as_str(),
        };
        (status, render(&page)).into_response()
    }
}

/// Renders a template; a template error (a bug) is a 500 with a log line.
pub fn render<T: Template>(template: &T) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "page could not be rendered",
            )
                .into_response()
        }
    }
}
