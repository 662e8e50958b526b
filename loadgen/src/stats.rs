//! What a run observed: Report latencies, their percentiles, errors by gRPC code.

use std::collections::BTreeMap;
use std::time::Duration;

/// Outcomes of the Report calls in one run.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    latencies: Vec<Duration>,
    errors: BTreeMap<String, u64>,
    /// One message per gRPC code, the first seen, to say what went wrong.
    first_error: BTreeMap<String, String>,
}

impl Tally {
    pub fn ok(&mut self, latency: Duration) {
        self.latencies.push(latency);
    }

    pub fn error(&mut self, code: tonic::Code, message: &str) {
        let code = format!("{code:?}");
        *self.errors.entry(code.clone()).or_default() += 1;
        self.first_error
            .entry(code)
            .or_insert_with(|| message.to_owned());
    }

    pub fn merge(&mut self, other: Self) {
        self.latencies.extend(other.latencies);
        for (code, count) in other.errors {
            *self.errors.entry(code).or_default() += count;
        }
        for (code, message) in other.first_error {
            self.first_error.entry(code).or_insert(message);
        }
    }

    pub fn succeeded(&self) -> u64 {
        self.latencies.len() as u64
    }

    /// Errors by gRPC code, with the first message seen for each.
    pub fn errors(&self) -> impl Iterator<Item = (&str, u64, &str)> {
        self.errors.iter().map(|(code, count)| {
            let message = self.first_error.get(code).map_or("", String::as_str);
            (code.as_str(), *count, message)
        })
    }

    /// Latency percentiles of the successful calls; `None` when none succeeded.
    pub fn latency(&self) -> Option<Percentiles> {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        Some(Percentiles {
            p50: percentile(&sorted, 50.0)?,
            p90: percentile(&sorted, 90.0)?,
            p99: percentile(&sorted, 99.0)?,
            max: *sorted.last()?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentiles {
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// The nearest-rank percentile `p` (0–100] of `sorted` (ascending): the
/// smallest value with at least p % of the values at or below it.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_millis(*v)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let sorted = ms(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile(&sorted, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&sorted, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&sorted, 100.0), Some(Duration::from_millis(100)));
        let few = ms(&[10, 20, 30]);
        assert_eq!(percentile(&few, 50.0), Some(Duration::from_millis(20)));
        assert_eq!(percentile(&few, 99.0), Some(Duration::from_millis(30)));
        assert_eq!(percentile(&ms(&[7]), 1.0), Some(Duration::from_millis(7)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn merged_tallies_sum_errors_and_keep_the_first_message() {
        let mut a = Tally::default();
        a.ok(Duration::from_millis(5));
        a.error(tonic::Code::Unavailable, "connection refused");
        let mut b = Tally::default();
        b.ok(Duration::from_millis(1));
        b.ok(Duration::from_millis(9));
        b.error(tonic::Code::Unavailable, "reset");
        b.error(tonic::Code::InvalidArgument, "seq: must start at 1");
        a.merge(b);
        assert_eq!(a.succeeded(), 3);
        let errors: Vec<_> = a.errors().collect();
        assert_eq!(
            errors,
            vec![
                ("InvalidArgument", 1, "seq: must start at 1"),
                ("Unavailable", 2, "connection refused"),
            ]
        );
        let latency = a.latency().unwrap();
        assert_eq!(latency.p50, Duration::from_millis(5));
        assert_eq!(latency.max, Duration::from_millis(9));
        assert_eq!(Tally::default().latency(), None);
    }
}
