//! The plain fleet page: devices, their latest status and the firing alerts;
//! `/metrics` for Prometheus; and the console's API ([`crate::console`]).
//!
//! Server-rendered HTML with no scripts; the real dashboard replaces it in a
//! later issue. It reads the store only.
//!
//! # Layout
//! - [`metrics`]: the Prometheus text of `/metrics` (ticketing, ingest counters).
//! - [`fleet_metrics`]: the fleet series of `/metrics`.
//! - [`health`]: `/healthz` and `/readyz`.

pub mod fleet_metrics;
pub mod health;
pub mod metrics;

use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use prost::Message;

use forewarn_proto::pb;

use crate::alerts::{AlertFilter, AlertRecord, AlertStatus};
use crate::console::state::{ConsoleSettings, ConsoleState};
use crate::fleet::state::ReportIntervals;
use crate::ingest::IngestMetrics;
use crate::store::{DeviceRecord, Store};
use crate::tickets::metrics::TicketMetrics;
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
    let console = crate::console::router(ConsoleState::new(Arc::clone(&store), console));
    let app = Router::new()
        .route("/", get(fleet_page))
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
        .merge(console);
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

async fn fleet_page(State(state): State<WebState>) -> Response {
    match render_fleet(state.store.as_ref()).await {
        Ok(html) => Html(html).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "fleet page failed");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response()
        }
    }
}

async fn render_fleet(store: &dyn Store) -> Result<String, crate::store::StoreError> {
    let devices = store.list_devices().await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"10\">\
         <title>Forewarn fleet</title><style>body{font-family:sans-serif;margin:2em}\
         table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}\
         .retired{color:#999}</style></head><body><h1>Forewarn fleet</h1>",
    );
    let _ = write!(html, "<p>{} device(s)</p>", devices.len());
    html.push_str(
        "<table id=\"devices\"><tr><th>Host</th><th>Group</th><th>OS</th><th>Last report</th><th>Filesystems</th></tr>",
    );
    for device in &devices {
        let status = store.latest_status(&device.id).await?;
        let report = status.and_then(|s| pb::StatusReport::decode(s.encoded.as_slice()).ok());
        render_device(&mut html, device, report.as_ref(), now);
    }
    html.push_str("</table>");
    let firing: Vec<AlertRecord> = store
        .list_alerts(AlertFilter {
            status: Some(AlertStatus::Firing),
            ..AlertFilter::default()
        })
        .await?;
    render_alerts(&mut html, &firing);
    html.push_str("</body></html>");
    Ok(html)
}

/// Firing alerts, the collector's own ("ticketing is failing") included.
fn render_alerts(html: &mut String, alerts: &[AlertRecord]) {
    let _ = write!(
        html,
        "<h2>Firing alerts</h2><p>{} alert(s)</p>",
        alerts.len()
    );
    html.push_str(
        "<table id=\"alerts\"><tr><th>Id</th><th>Host</th><th>Rule</th><th>Severity</th><th>Summary</th></tr>",
    );
    for alert in alerts {
        let _ = write!(
            html,
            "<tr data-alert=\"{}\" data-rule=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            alert.id,
            alert.rule.as_str(),
            alert.id,
            escape(&alert.hostname),
            alert.rule.as_str(),
            alert.severity.map_or("", |s| s.as_str()),
            escape(&alert.summary)
        );
    }
    html.push_str("</table>");
}

fn render_device(
    html: &mut String,
    device: &DeviceRecord,
    report: Option<&pb::StatusReport>,
    now: i64,
) {
    let class = if device.retired_at.is_some() {
        " class=\"retired\""
    } else {
        ""
    };
    let last_seen = device
        .last_seen_at
        .map(|t| format!("{} s ago", now - t))
        .unwrap_or_else(|| "never".into());
    let _ = write!(
        html,
        "<tr{class} data-device=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>",
        escape(&device.id),
        escape(&device.hostname),
        escape(&device.group),
        escape(&device.os),
        last_seen
    );
    for fs in report
        .and_then(|r| r.disks.as_ref())
        .map(|d| d.filesystems.as_slice())
        .unwrap_or_default()
    {
        let used_percent = if fs.total_bytes == 0 {
            0.0
        } else {
            100.0 * (fs.total_bytes - fs.available_bytes.min(fs.total_bytes)) as f64
                / fs.total_bytes as f64
        };
        let _ = write!(
            html,
            "<div>{} ({}) {used_percent:.0}% used, {:.1} GiB free of {:.1} GiB</div>",
            escape(&fs.mount_point),
            escape(&fs.filesystem),
            gib(fs.available_bytes),
            gib(fs.total_bytes)
        );
    }
    html.push_str("</td></tr>");
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_are_escaped() {
        assert_eq!(escape("<b>\"x\"&'"), "&lt;b&gt;&quot;x&quot;&amp;&#39;");
    }
}
