//! Ingest counters since this process started, rendered by `GET /metrics`:
//! reports whose numbering restarted, stale reports from an earlier agent boot,
//! reports refused as invalid, and single items dropped from a report.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct IngestMetrics {
    renumbered: AtomicU64,
    stale: AtomicU64,
    refused_invalid: AtomicU64,
    items_rejected: AtomicU64,
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

    pub fn counts(&self) -> IngestCounts {
        IngestCounts {
            renumbered: self.renumbered.load(Ordering::Relaxed),
            stale: self.stale.load(Ordering::Relaxed),
            refused_invalid: self.refused_invalid.load(Ordering::Relaxed),
            items_rejected: self.items_rejected.load(Ordering::Relaxed),
        }
    }
}
