//! The REST API under `/api/v1`: each route is registered together with its
//! OpenAPI operation (utoipa-axum), so the document at
//! `/api/v1/openapi.json` lists exactly the routes served, with schemas
//! derived from the Rust types.
//!
//! # Layout
//! - [`page`]: sorting and cursor pagination of lists.
//! - [`views`]: the JSON shapes of devices and alerts.
//! - [`devices`]: fleet summary and devices.
//! - [`alerts`]: alerts and silences.
//! - [`admin`]: users, API tokens, audit log.
//! - [`enrollment`]: enrollment tokens.
//! - [`deliveries`]: ticket deliveries and their retry.
//! - [`maintenance`]: maintenance windows (scheduled silences).

pub mod admin;
pub mod alerts;
pub mod deliveries;
pub mod devices;
pub mod enrollment;
pub mod maintenance;
pub mod page;
pub mod views;

use axum::Json;
use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{InfoBuilder, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::state::ConsoleState;
use super::{oidc, session};

/// Every route of the API and the OpenAPI document describing them.
pub fn routes() -> (Router<ConsoleState>, OpenApi) {
    let (router, mut api) = OpenApiRouter::<ConsoleState>::new()
        .routes(routes!(session::login, session::current, session::logout))
        .routes(routes!(oidc::start))
        .routes(routes!(oidc::callback))
        .routes(routes!(devices::fleet))
        .routes(routes!(devices::list))
        .routes(routes!(devices::show, devices::delete))
        .routes(routes!(devices::retire))
        .routes(routes!(devices::restore))
        .routes(routes!(devices::move_group))
        .routes(routes!(alerts::list))
        .routes(routes!(alerts::show))
        .routes(routes!(alerts::ack))
        .routes(routes!(alerts::silence))
        .routes(routes!(alerts::note))
        .routes(routes!(maintenance::create))
        .routes(routes!(enrollment::list, enrollment::create))
        .routes(routes!(enrollment::revoke))
        .routes(routes!(deliveries::list))
        .routes(routes!(deliveries::retry))
        .routes(routes!(alerts::list_silences))
        .routes(routes!(alerts::expire_silence))
        .routes(routes!(admin::list_users, admin::add_user))
        .routes(routes!(admin::change_user))
        .routes(routes!(admin::list_tokens, admin::add_token))
        .routes(routes!(admin::revoke_token))
        .routes(routes!(admin::audit_log))
        .split_for_parts();
    api.info = InfoBuilder::new()
        .title("Forewarn console API")
        .version("1")
        .description(Some(
            "Fleet, devices, alerts, silences, users, API tokens and audit log. \
             Authenticate with the session cookie from POST /session (then send \
             X-CSRF-Token on changes) or with Authorization: Bearer <API token>. \
             Errors are {\"error\": {\"code\", \"message\"}}. See docs/console.md.",
        ))
        .build();
    api.servers = Some(vec![utoipa::openapi::Server::new("/api/v1")]);
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "session",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
            super::auth::SESSION_COOKIE,
        ))),
    );
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    let document = api.clone();
    let router = router
        .route("/openapi.json", get(move || async move { Json(document) }))
        .fallback(|| async {
            ApiError::not_found("API route", "see /api/v1/openapi.json for the routes")
                .into_response()
        });
    (router, api)
}
