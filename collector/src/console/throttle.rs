//! Login throttling, per user name and per client address.
//!
//! Each key counts consecutive failed sign-ins. The first `free_failures`
//! cost nothing; each one after locks the key for `base_lockout`, doubling
//! per further failure up to `max_lockout`. While locked, sign-ins with that
//! key are refused before the password is checked (429 with the wait), so a
//! guesser gets a handful of tries per user and per address, not thousands.
//! A success clears the user name's count (not the address's: one office
//! behind a NAT must not unlock a guesser sharing it). Counts live in memory:
//! a restart forgives, which a guesser cannot cause.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked before unlocked ones are forgotten.
const TRACKED_KEYS: usize = 8_192;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    locked_until: Option<Instant>,
}

#[derive(Debug)]
pub struct LoginThrottle {
    free_failures: u32,
    base_lockout: Duration,
    max_lockout: Duration,
    keys: Mutex<HashMap<String, Failures>>,
}

impl LoginThrottle {
    pub fn new(free_failures: u32, base_lockout: Duration, max_lockout: Duration) -> Self {
        Self {
            free_failures,
            base_lockout,
            max_lockout,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// How long the longest-locked of `keys` must still wait, if any is locked.
    pub fn wait(&self, keys: &[String], now: Instant) -> Option<Duration> {
        let map = self.lock();
        keys.iter()
            .filter_map(|key| map.get(key)?.locked_until)
            .filter_map(|until| until.checked_duration_since(now))
            .filter(|wait| !wait.is_zero())
            .max()
    }

    /// Counts one failed sign-in for each of `keys`.
    pub fn failed(&self, keys: &[String], now: Instant) {
        let mut map = self.lock();
        if map.len() >= TRACKED_KEYS {
            map.retain(|_, f| f.locked_until.is_some_and(|until| until > now));
        }
        for key in keys {
            let entry = map.entry(key.clone()).or_insert(Failures {
                count: 0,
                locked_until: None,
            });
            entry.count = entry.count.saturating_add(1);
            if entry.count > self.free_failures {
                let doublings = (entry.count - self.free_failures - 1).min(20);
                let lockout = self
                    .base_lockout
                    .saturating_mul(1 << doublings)
                    .min(self.max_lockout);
                entry.locked_until = Some(now + lockout);
            }
        }
    }

    /// Forgets the failures of `key` after a successful sign-in.
    pub fn succeeded(&self, key: &str) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_starts_after_free_failures_doubles_and_caps() {
        let throttle = LoginThrottle::new(3, Duration::from_secs(30), Duration::from_secs(100));
        let keys = ["user:alice".to_string(), "ip:10.0.0.1".to_string()];
        let t0 = Instant::now();
        for _ in 0..3 {
            throttle.failed(&keys, t0);
        }
        assert_eq!(throttle.wait(&keys, t0), None, "three free failures");
        throttle.failed(&keys, t0);
        assert_eq!(throttle.wait(&keys, t0), Some(Duration::from_secs(30)));
        assert_eq!(throttle.wait(&keys, t0 + Duration::from_secs(30)), None);
        throttle.failed(&keys, t0);
        assert_eq!(throttle.wait(&keys, t0), Some(Duration::from_secs(60)));
        throttle.failed(&keys, t0);
        assert_eq!(
            throttle.wait(&keys, t0),
            Some(Duration::from_secs(100)),
            "capped"
        );
    }

    #[test]
    fn success_clears_the_user_not_the_address() {
        let throttle = LoginThrottle::new(0, Duration::from_secs(30), Duration::from_secs(60));
        let t0 = Instant::now();
        throttle.failed(&["user:alice".into(), "ip:10.0.0.1".into()], t0);
        throttle.succeeded("user:alice");
        assert_eq!(throttle.wait(&["user:alice".into()], t0), None);
        assert!(throttle.wait(&["ip:10.0.0.1".into()], t0).is_some());
        assert_eq!(throttle.wait(&["user:bob".into()], t0), None);
    }
}
