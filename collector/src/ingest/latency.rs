//! A Prometheus histogram of how long the collector takes to handle one
//! report (validation, the store transaction with its rules and outbox
//! rows), kept in atomics so ingest never waits on a lock to count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds: from a cache-hot replay to a
/// store stalled behind a long write.
pub const BUCKETS_SECS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Observations at or below each bound (not cumulative here; summed when read).
    buckets: [AtomicU64; BUCKETS_SECS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// A snapshot: cumulative bucket counts as the text format wants them.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencySnapshot {
    /// `(le, cumulative count)` for each bound.
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum_secs: f64,
}

impl LatencyHistogram {
    pub fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some(index) = BUCKETS_SECS.iter().position(|bound| secs <= *bound) {
            self.buckets[index].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub fn snapshot(&self) -> LatencySnapshot {
        let mut running = 0;
        let buckets = BUCKETS_SECS
            .iter()
            .zip(&self.buckets)
            .map(|(bound, count)| {
                running += count.load(Ordering::Relaxed);
                (*bound, running)
            })
            .collect();
        LatencySnapshot {
            buckets,
            count: self.count.load(Ordering::Relaxed),
            sum_secs: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_cumulative_buckets_and_the_sum() {
        let histogram = LatencyHistogram::default();
        for ms in [0, 3, 3, 40, 9_000] {
            histogram.observe(Duration::from_millis(ms));
        }
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.count, 5);
        let at = |le: f64| snapshot.buckets.iter().find(|(b, _)| *b == le).unwrap().1;
        assert_eq!((at(0.001), at(0.005), at(0.05), at(5.0)), (1, 3, 4, 4));
        assert!(
            (snapshot.sum_secs - 9.046).abs() < 1e-9,
            "{}",
            snapshot.sum_secs
        );
    }
}
