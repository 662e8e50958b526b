//! The web port: the console's pages ([`pages`], behind sign-in), its API
//! ([`crate::console`]), `/metrics` for Prometheus and the health checks.
//!
//! # Layout
//! - [`pages`]: the console's web pages, their assets and live updates.
//! - [`metrics`]: the Prometheus text of `/metrics` (ticketing, ingest counters).
//! - [`fleet_metrics`]: the fleet series of `/metrics`.
//! - [`health`]: `/healthz` and `/readyz`.

pub mod fleet_metrics;
pub mod health;
pub mod metrics;
pub mod pages;

use std::future::Future;
use std::sync::Arc;

use crate::console::state::{ConsoleSettings, ConsoleState};
use crate::fleet::state::ReportIntervals;
use crate::ingest::IngestMetrics;
use crate::store::Store;
use crate::tickets::metrics::TicketMetrics;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use health::Readiness;

#[derive(Clone)]
struct WebState {
    store: Arc<dyn Store>,
    ticket_metrics: Arc<TicketMetrics>,
    ingest_metrics: Arc<IngestMetrics>,
    readiness: Arc<Readiness>,
    intervals: Arc<dyn ReportIntervals>,
}

#[allow(clippy::too_many_arguments)]
pub async fn serve<L>(
    listener: L,
    store: Arc<dyn Store>,
    ticket_metrics: Arc<TicketMetrics>,
    ingest_metrics: Arc<IngestMetrics>,
    readiness: Arc<Readiness>,
    intervals: Arc<dyn ReportIntervals>,
    console: ConsoleSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    // The collector passes its bounded listener; tests pass a plain TcpListener.
    L: axum::serve::Listener<Addr = std::net::SocketAddr>,
    crate::console::auth::ClientAddr:
        for<'a> axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    let console_state = ConsoleState::new(Arc::clone(&store), console);
    let pages = pages::router().with_state(console_state.clone());
    let console = crate::console::router(console_state);
    let app = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_page))
        .with_state(WebState {
            store,
            ticket_metrics,
            ingest_metrics,
            readiness,
            intervals,
        })
        .merge(console)
        .merge(pages);
    axum::serve(
        listener,
        // The client address: the console throttles and audits by it.
        app.into_make_service_with_connect_info::<crate::console::auth::ClientAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

async fn readyz(State(state): State<WebState>) -> Response {
    health::readyz(state.store.as_ref(), &state.readiness)
        .await
        .into_response()
}

/// Every series: ticketing, ingest counters, then the fleet.
async fn metrics_text(state: &WebState, now: i64) -> Result<String, crate::store::StoreError> {
    let mut text = metrics::render(state.store.as_ref(), &state.ticket_metrics, now).await?;
    text.push_str(&metrics::render_ingest(state.ingest_metrics.counts()));
    text.push_str(&fleet_metrics::render_reports(&state.ingest_metrics));
    text.push_str(
        &fleet_metrics::render_fleet(state.store.as_ref(), state.intervals.as_ref(), now).await?,
    );
    Ok(text)
}

async fn metrics_page(State(state): State<WebState>) -> Response {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    match metrics_text(&state, now).await {
        Ok(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "metrics failed");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response()
        }
    }
}
