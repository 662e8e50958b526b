//! Ingest counters since this process started, rendered by `GET /metrics`:
//! every report received by what became of it, how long handling took,
//! reports whose numbering restarted, stale reports from an earlier agent
//! boot, reports refused as invalid, and single items dropped from a report.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::latency::{LatencyHistogram, LatencySnapshot};

/// What became of one received report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportResult {
    /// Written as the device's status (restarted numbering included).
    Stored,
    /// Already stored: acknowledged, nothing written.
    Replay,
    /// From an earlier agent boot, older than the stored status.
    Stale,
    /// Refused with `INVALID_ARGUMENT`.
    Invalid,
    /// Refused: no such device, a retired one, or a replaced certificate.
    Refused,
    /// The store failed; the agent keeps the report and retries.
    StoreError,
}

impl ReportResult {
    pub const ALL: [ReportResult; 6] = [
        ReportResult::Stored,
        ReportResult::Replay,
        ReportResult::Stale,
        ReportResult::Invalid,
        ReportResult::Refused,
        ReportResult::StoreError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportResult::Stored => "stored",
            ReportResult::Replay => "replay",
            ReportResult::Stale => "stale",
            ReportResult::Invalid => "invalid",
            ReportResult::Refused => "refused",
            ReportResult::StoreError => "store_error",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

#[derive(Debug, Default)]
pub struct IngestMetrics {
    renumbered: AtomicU64,
    stale: AtomicU64,
    refused_invalid: AtomicU64,
    items_rejected: AtomicU64,
    received: [AtomicU64; ReportResult::ALL.len()],
    latency: LatencyHistogram,
}

/// A snapshot of [`IngestMetrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestCounts {
    /// Reports stored although their seq was at or below the stored one,
    /// because the agent's numbering restarted.
    pub renumbered: u64,
    /// Reports from an earlier agent boot, older than the stored one: acknowledged, not stored.
    pub stale: u64,
    /// Whole reports refused with `INVALID_ARGUMENT`.
    pub refused_invalid: u64,
    /// Single values dropped from otherwise stored reports (e.g. a backup time in the future).
    pub items_rejected: u64,
}

impl IngestMetrics {
    pub fn renumbered(&self) {
        self.renumbered.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stale(&self) {
        self.stale.fetch_add(1, Ordering::Relaxed);
    }

    pub fn refused_invalid(&self) {
        self.refused_invalid.fetch_add(1, Ordering::Relaxed);
    }

    pub fn items_rejected(&self, count: usize) {
        self.items_rejected
            .fetch_add(count as u64, Ordering::Relaxed);
    }

    /// One report handled, with what became of it and how long it took.
    pub fn received(&self, result: ReportResult, elapsed: Duration) {
        self.received[result.index()].fetch_add(1, Ordering::Relaxed);
        self.latency.observe(elapsed);
    }

    /// Reports received by result, every result listed (zeros included).
    pub fn received_counts(&self) -> Vec<(ReportResult, u64)> {
        ReportResult::ALL
            .iter()
            .map(|result| {
                (
                    *result,
                    self.received[result.index()].load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    pub fn latency(&self) -> LatencySnapshot {
        self.latency.snapshot()
    }

    pub fn counts(&self) -> IngestCounts {
        IngestCounts {
            renumbered: self.renumbered.load(Ordering::Relaxed),
            stale: self.stale.load(Ordering::Relaxed),
            refused_invalid: self.refused_invalid.load(Ordering::Relaxed),
            items_rejected: self.items_rejected.load(Ordering::Relaxed),
        }
    }
}
