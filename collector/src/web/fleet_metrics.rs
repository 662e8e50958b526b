//! The fleet series of `/metrics`: devices by state, firing alerts by rule
//! and severity, reports received by result and the ingest latency
//! histogram. Read from the store at each scrape (devices, alerts) and from
//! the ingest counters since this process started (reports, latency).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::alerts::{AlertFilter, AlertStatus};
use crate::fleet::state::{self, DeviceState, ReportIntervals};
use crate::ingest::IngestMetrics;
use crate::store::{Store, StoreError};

pub async fn render_fleet(
    store: &dyn Store,
    intervals: &dyn ReportIntervals,
    now: i64,
) -> Result<String, StoreError> {
    let mut by_state: BTreeMap<DeviceState, u64> =
        DeviceState::ALL.iter().map(|s| (*s, 0)).collect();
    for device in store.list_devices().await? {
        let state = state::classify(&device, intervals.report_interval_secs(&device.group), now);
        *by_state.entry(state).or_default() += 1;
    }
    let mut out = String::from(
        "# HELP forewarn_devices Enrolled devices by state: online (reported within 3 report intervals), offline, retired, never_reported (enrolled, no report yet: check the agent service and its reach to the agent port).\n\
         # TYPE forewarn_devices gauge\n",
    );
    for (state, count) in by_state {
        let _ = writeln!(
            out,
            "forewarn_devices{{state=\"{}\"}} {count}",
            state.label()
        );
    }
    let firing = store
        .list_alerts(AlertFilter {
            status: Some(AlertStatus::Firing),
            ..AlertFilter::default()
        })
        .await?;
    let mut by_rule: BTreeMap<(&'static str, &'static str), u64> = BTreeMap::new();
    for alert in &firing {
        let severity = alert.severity.map_or("none", |s| s.as_str());
        *by_rule.entry((alert.rule.as_str(), severity)).or_default() += 1;
    }
    out.push_str(
        "# HELP forewarn_alerts_firing Firing alerts (acknowledged ones excluded) by rule and severity.\n\
         # TYPE forewarn_alerts_firing gauge\n",
    );
    for ((rule, severity), count) in by_rule {
        let _ = writeln!(
            out,
            "forewarn_alerts_firing{{rule=\"{rule}\",severity=\"{severity}\"}} {count}"
        );
    }
    Ok(out)
}

pub fn render_reports(metrics: &IngestMetrics) -> String {
    let mut out = String::from(
        "# HELP forewarn_reports_received_total Reports received from agents by what became of them: stored, replay (already stored), stale (older than the stored status), invalid (refused as malformed), refused (unknown or retired device, replaced certificate), store_error (agent retries).\n\
         # TYPE forewarn_reports_received_total counter\n",
    );
    for (result, count) in metrics.received_counts() {
        let _ = writeln!(
            out,
            "forewarn_reports_received_total{{result=\"{}\"}} {count}",
            result.as_str()
        );
    }
    let latency = metrics.latency();
    out.push_str(
        "# HELP forewarn_report_ingest_seconds Time to handle one report: validation, the store transaction with its rules and outbox rows.\n\
         # TYPE forewarn_report_ingest_seconds histogram\n",
    );
    for (le, count) in &latency.buckets {
        let _ = writeln!(
            out,
            "forewarn_report_ingest_seconds_bucket{{le=\"{le}\"}} {count}"
        );
    }
    let _ = writeln!(
        out,
        "forewarn_report_ingest_seconds_bucket{{le=\"+Inf\"}} {}\n\
         forewarn_report_ingest_seconds_sum {}\n\
         forewarn_report_ingest_seconds_count {}",
        latency.count, latency.sum_secs, latency.count
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::ReportResult;
    use std::time::Duration;

    #[test]
    fn every_result_is_listed_and_the_histogram_is_complete() {
        let metrics = IngestMetrics::default();
        metrics.received(ReportResult::Stored, Duration::from_millis(2));
        metrics.received(ReportResult::Stored, Duration::from_millis(30));
        metrics.received(ReportResult::Replay, Duration::from_millis(1));
        let text = render_reports(&metrics);
        for line in [
            "forewarn_reports_received_total{result=\"stored\"} 2",
            "forewarn_reports_received_total{result=\"replay\"} 1",
            "forewarn_reports_received_total{result=\"invalid\"} 0",
            "forewarn_report_ingest_seconds_bucket{le=\"0.001\"} 1",
            "forewarn_report_ingest_seconds_bucket{le=\"0.0025\"} 2",
            "forewarn_report_ingest_seconds_bucket{le=\"0.05\"} 3",
            "forewarn_report_ingest_seconds_bucket{le=\"+Inf\"} 3",
            "forewarn_report_ingest_seconds_count 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
    }
}
