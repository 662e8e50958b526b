//! Failed enrollments, throttled per source address.
//!
//! Tokens are long random secrets, so guessing is not the worry; the cost
//! is: each attempt signs a certificate and writes to the store. A source that
//! keeps failing gets a burst of `burst` failures, then one more every
//! `refill`; meanwhile it is refused before the token is looked at.
//! Successful enrollments cost nothing, so one office behind a NAT enrolling
//! a hundred laptops is never slowed by its own successes.
//!
//! The state per source is one instant (the "theoretical arrival time" of
//! the generic cell rate algorithm): when its failures will have drained.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Sources tracked before drained ones are forgotten.
const TRACKED_SOURCES: usize = 4_096;

#[derive(Debug)]
pub struct EnrollThrottle {
    burst: u32,
    refill: Duration,
    drained_at: Mutex<HashMap<IpAddr, Instant>>,
}

impl EnrollThrottle {
    pub fn new(burst: u32, refill: Duration) -> Self {
        Self {
            burst: burst.max(1),
            refill,
            drained_at: Mutex::new(HashMap::new()),
        }
    }

    /// How long `source` must wait before it may try again, if it must.
    pub fn wait(&self, source: IpAddr, now: Instant) -> Option<Duration> {
        let drained_at = *self.lock().get(&source)?;
        // Allowed while fewer than `burst` failures are still undrained.
        let allowed_until = drained_at.checked_sub(self.refill * (self.burst - 1))?;
        allowed_until
            .checked_duration_since(now)
            .filter(|wait| !wait.is_zero())
    }

    /// Counts one failed enrollment from `source`.
    pub fn failed(&self, source: IpAddr, now: Instant) {
        let mut sources = self.lock();
        if sources.len() >= TRACKED_SOURCES {
            sources.retain(|_, drained_at| *drained_at > now);
        }
        let drained_at = sources.entry(source).or_insert(now);
        *drained_at = (*drained_at).max(now) + self.refill;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Instant>> {
        self.drained_at.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn a_source_gets_its_burst_then_one_more_try_per_refill() {
        let throttle = EnrollThrottle::new(3, MINUTE);
        let laptop = IpAddr::from([10, 0, 0, 7]);
        let now = Instant::now();
        for _ in 0..3 {
            assert_eq!(throttle.wait(laptop, now), None);
            throttle.failed(laptop, now);
        }
        assert_eq!(throttle.wait(laptop, now), Some(MINUTE));
        assert_eq!(throttle.wait(laptop, now + MINUTE / 2), Some(MINUTE / 2));
        assert_eq!(throttle.wait(laptop, now + MINUTE), None);
        throttle.failed(laptop, now + MINUTE);
        assert_eq!(throttle.wait(laptop, now + MINUTE), Some(MINUTE));
        assert_eq!(
            throttle.wait(IpAddr::from([10, 0, 0, 8]), now),
            None,
            "another source is not affected"
        );
        assert_eq!(throttle.wait(laptop, now + 10 * MINUTE), None);
    }
}
