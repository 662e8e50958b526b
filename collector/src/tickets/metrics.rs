//! Counters the ticket worker keeps for `/metrics`: deliveries per connector
//! and outcome, and whether the "ticketing is failing" alert is raised. Outbox
//! row counts are read from the store when scraped, so they survive restarts.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// How one outbox row's delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeliveryResult {
    /// Done in the ticket system (opened, commented, resolved...).
    Delivered,
    /// No policy applies, or nothing to do for this event: done, nothing sent.
    /// Counted apart from `Delivered` so `/metrics` never shows a skip as a send.
    Skipped,
    /// Failed; will be tried again.
    Retry,
    /// Failed for good (a 4xx, a bad template): kept as `failed` with its error.
    Failed,
}

impl DeliveryResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Skipped => "skipped",
            Self::Retry => "retry",
            Self::Failed => "failed",
        }
    }
}

#[derive(Debug, Default)]
pub struct TicketMetrics {
    deliveries: Mutex<BTreeMap<(String, DeliveryResult), u64>>,
    failing: AtomicBool,
}

impl TicketMetrics {
    pub fn count(&self, connector: &str, result: DeliveryResult) {
        if let Ok(mut map) = self.deliveries.lock() {
            *map.entry((connector.to_owned(), result)).or_default() += 1;
        }
    }

    /// Counts so far, by connector and result.
    pub fn deliveries(&self) -> Vec<((String, DeliveryResult), u64)> {
        self.deliveries
            .lock()
            .map(|map| map.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }

    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::Relaxed);
    }

    pub fn failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }
}
