//! The sign-in page (`/login`). The form posts to the API's
//! `POST /api/v1/session` from the script, then goes to `next` (a path on
//! this site only). With `[console.oidc]` configured it also offers single
//! sign-on. A single sign-on that fails comes back to [`sign_in_failed`].

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::format::local_path;
use super::{assets, render};
use crate::console::state::ConsoleState;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoginQuery {
    pub next: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    next: String,
    /// Whether single sign-on is configured.
    oidc: bool,
    css: &'static str,
    js: &'static str,
}

pub async fn page(State(state): State<ConsoleState>, Query(query): Query<LoginQuery>) -> Response {
    render(&LoginPage {
        next: local_path(query.next.as_deref()),
        oidc: state.oidc.is_some(),
        css: assets::CSS_URL.as_str(),
        js: assets::JS_URL.as_str(),
    })
}

#[derive(Template)]
#[template(path = "sign_in_failed.html")]
struct SignInFailed<'a> {
    message: &'a str,
    advice: &'static str,
    css: &'static str,
}

/// What to do after a failed single sign-on, by how it failed.
fn advice(status: StatusCode) -> &'static str {
    match status {
        StatusCode::FORBIDDEN => {
            "Your sign-in at the provider worked, but Forewarn gives you no role: a Forewarn admin maps your provider group to a role in [console.oidc] mappings, or re-enables your user."
        }
        StatusCode::CONFLICT => {
            "Forewarn has a local user of that name; an admin renames or disables it, or you sign in with its password."
        }
        StatusCode::SERVICE_UNAVAILABLE => {
            "The OpenID provider did not answer; try again in a moment, or sign in with a password."
        }
        StatusCode::NOT_FOUND => {
            "Single sign-on is not set up on this collector; sign in with a password."
        }
        _ => {
            "Start again from the sign-in page; if it keeps failing, your Forewarn admin finds the reason in the audit log (session.login_failed) and the collector's log."
        }
    }
}

/// The page a browser sees when single sign-on fails: what happened and
/// what to do next (API clients get the API's JSON error instead).
pub fn sign_in_failed(status: StatusCode, message: &str) -> Response {
    let page = SignInFailed {
        message,
        advice: advice(status),
        css: assets::CSS_URL.as_str(),
    };
    (status, render(&page)).into_response()
}
