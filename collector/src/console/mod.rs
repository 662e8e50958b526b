//! The console's foundation: sign-in, roles scoped to groups, API tokens,
//! the audit log and the REST API under `/api/v1` (docs/console.md).
//!
//! # Layout
//! - [`authz`]: roles, group scopes and the pure decision `can`.
//! - [`password`]: argon2id password hashes and generated passwords.
//! - [`secrets`]: session ids, CSRF tokens and API token secrets.
//! - [`throttle`]: login throttling per user name and per address.
//! - [`state`]: what handlers share, and the session settings.
//! - [`error`]: the API's one error shape.
//! - [`auth`]: session cookie or bearer token, CSRF, the audit writer.
//! - [`session`]: sign-in and sign-out.
//! - [`oidc`]: single sign-on with an OpenID provider.
//! - [`config`]: the `[console]` config section.
//! - [`api`]: the REST API and its OpenAPI document.
pub mod api;
pub mod auth;
pub mod authz;
pub mod config;
pub mod error;
pub mod oidc;
pub mod password;
pub mod secrets;
pub mod session;
pub mod state;
pub mod throttle;

use axum::Router;

/// The console's routes, to mount on the web port (at `/api/v1`).
pub fn router(state: state::ConsoleState) -> Router {
    Router::new()
        .nest("/api/v1", api::routes().0)
        .with_state(state)
}
