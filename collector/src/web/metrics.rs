//! `GET /metrics`: the collector's ticketing health in the Prometheus text
//! format (version 0.0.4). Outbox counts are read from the store at each
//! scrape; delivery counters are the worker's since this process started.

use std::fmt::Write as _;

use crate::ingest::IngestCounts;
use crate::store::{Store, StoreError};
use crate::tickets::metrics::TicketMetrics;

/// Renders every metric, `now` being the scrape time (Unix seconds).
pub async fn render(
    store: &dyn Store,
    metrics: &TicketMetrics,
    now: i64,
) -> Result<String, StoreError> {
    let stats = store.outbox_stats().await?;
    let mut out = String::new();
    out.push_str(
        "# HELP forewarn_outbox_rows Ticket outbox rows by delivery state; skipped: done without sending anything (no ticket policy matched), not counted as delivered.\n\
         # TYPE forewarn_outbox_rows gauge\n",
    );
    for (state, count) in &stats.rows {
        let _ = writeln!(
            out,
            "forewarn_outbox_rows{{state=\"{}\"}} {count}",
            state.as_str()
        );
    }
    let _ = writeln!(
        out,
        "forewarn_outbox_rows{{state=\"skipped\"}} {}",
        stats.skipped
    );
    out.push_str(
        "# HELP forewarn_outbox_oldest_undelivered_age_seconds Age of the oldest pending or claimed outbox row (0 when none).\n\
         # TYPE forewarn_outbox_oldest_undelivered_age_seconds gauge\n",
    );
    let age = stats
        .oldest_undelivered_at
        .map_or(0, |oldest| now.saturating_sub(oldest).max(0));
    let _ = writeln!(out, "forewarn_outbox_oldest_undelivered_age_seconds {age}");
    out.push_str(
        "# HELP forewarn_ticket_deliveries_total Ticket operations done, by connector and result: delivered (sent to the ticket system), skipped (no policy or nothing to do: nothing sent), retry (failed, tried again), failed (failed for good).\n\
         # TYPE forewarn_ticket_deliveries_total counter\n",
    );
    for ((connector, result), count) in metrics.deliveries() {
        let _ = writeln!(
            out,
            "forewarn_ticket_deliveries_total{{connector=\"{}\",result=\"{}\"}} {count}",
            label(&connector),
            result.as_str()
        );
    }
    out.push_str(
        "# HELP forewarn_ticketing_failing 1 while the collector's \"ticketing is failing\" alert is raised.\n\
         # TYPE forewarn_ticketing_failing gauge\n",
    );
    let _ = writeln!(
        out,
        "forewarn_ticketing_failing {}",
        u8::from(metrics.failing())
    );
    Ok(out)
}

/// The ingest counters (issue 14): reports whose seq numbering restarted,
/// stale reports from an earlier agent boot, reports refused as invalid and
/// single values dropped from stored reports.
pub fn render_ingest(counts: IngestCounts) -> String {
    let mut out = String::new();
    for (name, help, value) in [
        (
            "forewarn_reports_renumbered_total",
            "Reports stored although their seq was at or below the stored one, because the agent's numbering restarted (state restored or unwritable).",
            counts.renumbered,
        ),
        (
            "forewarn_reports_stale_total",
            "Reports from an earlier agent boot, older than the stored status: acknowledged, not stored.",
            counts.stale,
        ),
        (
            "forewarn_reports_refused_invalid_total",
            "Whole reports refused as invalid (INVALID_ARGUMENT).",
            counts.refused_invalid,
        ),
        (
            "forewarn_report_items_rejected_total",
            "Single values dropped from stored reports and replaced by an item error (e.g. a backup time in the future).",
            counts.items_rejected,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    }
    out
}

/// Escapes a label value as the text format requires.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn delivered_skipped_and_failed_are_separate_series() {
        use crate::tickets::metrics::DeliveryResult;
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sqlite::SqliteStore::open(&dir.path().join("db")).unwrap();
        let metrics = TicketMetrics::default();
        metrics.count("rt", DeliveryResult::Delivered);
        metrics.count("rt", DeliveryResult::Delivered);
        metrics.count("none", DeliveryResult::Skipped);
        metrics.count("rt", DeliveryResult::Failed);
        let text = render(&store, &metrics, 0).await.unwrap();
        for line in [
            "forewarn_ticket_deliveries_total{connector=\"rt\",result=\"delivered\"} 2",
            "forewarn_ticket_deliveries_total{connector=\"none\",result=\"skipped\"} 1",
            "forewarn_ticket_deliveries_total{connector=\"rt\",result=\"failed\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
