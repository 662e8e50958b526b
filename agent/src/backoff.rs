//! Retry delays: exponential with jitter, so a fleet that lost its collector
//! does not come back in lockstep when it returns.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            failures: 0,
        }
    }

    /// True when the last attempt succeeded (or none failed yet).
    pub fn is_idle(&self) -> bool {
        self.failures == 0
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// The delay before the next attempt: half the exponential step plus a random share of the other half.
    pub fn next_delay(&mut self) -> Duration {
        let step = self
            .initial
            .saturating_mul(2u32.saturating_pow(self.failures.min(20)))
            .min(self.max);
        self.failures = self.failures.saturating_add(1);
        let half = step / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

/// `interval` moved by up to ±10 %, so devices started together drift apart.
pub fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(0.9 + 0.2 * rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_then_stay_under_the_cap() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let delays: Vec<Duration> = (0..12).map(|_| backoff.next_delay()).collect();
        assert!(delays[0] >= Duration::from_millis(500) && delays[0] <= Duration::from_secs(1));
        assert!(delays[3] >= Duration::from_secs(4) && delays[3] <= Duration::from_secs(8));
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(60)));
        assert!(delays[11] >= Duration::from_secs(30));
        assert!(!backoff.is_idle());
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(100));
            assert!(d >= Duration::from_secs(90) && d <= Duration::from_secs(110));
        }
    }
}
