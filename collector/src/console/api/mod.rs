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
//! - [`connectors`]: testing a ticket connector.

pub mod admin;
pub mod alerts;
pub mod connectors;
pub mod deliveries;
pub mod devices;
pub mod enrollment;
pub mod maintenance;
pub mod page;
pub mod views;

use axum::Json;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::PartialSchema;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, InfoBuilder, OpenApi, Ref, ResponseBuilder};
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
        .routes(routes!(connectors::test))
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
    components
        .schemas
        .insert("Order".into(), page::Order::schema());
    for item in api.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            document_common_errors(operation);
        }
    }
    let document = api.clone();
    let router = router
        .layer(axum::middleware::map_response(rejection_as_api_error))
        .route("/openapi.json", get(move || async move { Json(document) }))
        .fallback(|| async {
            ApiError::not_found("API route", "see /api/v1/openapi.json for the routes")
                .into_response()
        });
    (router, api)
}

/// Answers any route may give, whatever its own list says: a malformed
/// request (400), no or a refused credential (401), the database away (503).
fn document_common_errors(operation: &mut Operation) {
    for (status, description) in [
        (
            "400",
            "Malformed request: a path, query or body that does not parse",
        ),
        ("401", "Not signed in, or the API token is refused"),
        (
            "503",
            "The collector's database (or the OpenID provider) is unavailable",
        ),
    ] {
        operation
            .responses
            .responses
            .entry(status.into())
            .or_insert_with(|| {
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build()
                    .into()
            });
    }
}

/// axum's extractors refuse a malformed path, query or body with plain
/// text and 400, 415 or 422; the API answers every error in its one shape,
/// and a request it cannot read is `invalid` (400).
async fn rejection_as_api_error(response: Response) -> Response {
    let status = response.status();
    let plain_text = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !plain_text
        || !matches!(
            status,
            StatusCode::BAD_REQUEST
                | StatusCode::UNSUPPORTED_MEDIA_TYPE
                | StatusCode::UNPROCESSABLE_ENTITY
        )
    {
        return response;
    }
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    ApiError::invalid(String::from_utf8_lossy(&body).into_owned()).into_response()
}
