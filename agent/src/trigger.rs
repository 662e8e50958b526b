//! Asking for a report now instead of at the next interval.
//!
//! Checks that watch files (certificate folders, backup status files, the
//! package database) fire the trigger; the run loop collects shortly after,
//! coalescing a burst of changes into one report.

use std::sync::Arc;

use tokio::sync::Notify;

#[derive(Debug, Clone, Default)]
pub struct ReportTrigger(Arc<Notify>);

impl ReportTrigger {
    /// Requests a report; safe to call from any thread, including notify's.
    pub fn fire(&self) {
        self.0.notify_one();
    }

    /// Completes when a report was requested since the last call.
    pub async fn fired(&self) {
        self.0.notified().await;
    }
}
