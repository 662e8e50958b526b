//! Listening so that nobody can lock agents out of the collector.
//!
//! Every open connection costs a file descriptor, and a process has a fixed
//! number of them (1,024 by default on Linux). Without limits, about a
//! thousand idle TCP connections that never start (or never finish) a TLS
//! handshake used them all, and no agent could enroll, renew or reconnect.
//! So:
//! - a TLS handshake must finish within `handshake_timeout_secs`;
//! - connections not (yet) known to belong to a device — handshaking, or
//!   enrolling without a device certificate — share a bounded pool, also
//!   bounded per source address; when it is full the oldest connection of
//!   the address holding the most is closed to make room, so a real agent,
//!   whose handshake takes milliseconds from an address holding one slot,
//!   gets in, while a flood's own connections are the ones that go;
//! - connections with no traffic from the peer are closed after an idle time;
//! - the open file limit is raised to what the system allows at start, and a
//!   warning says when it is below what the caps and the enrolled fleet need,
//!   or when descriptors run low or out at run time (accepting never spins
//!   and never stops the listener);
//! - failed enrollments are throttled per source address (in `ingest`).
//!
//! # Layout
//! - [`slots`]: the pool of unauthenticated connections, and who makes room.
//! - [`guarded`]: a connection closed after idle time or when its slot is taken.
//! - [`agents`]: accept loop and TLS handshakes of the agent port.
//! - [`web`]: the web port's listener.
//! - [`fd_limit`]: the open file limit: raised, checked, watched.

pub mod agents;
pub mod fd_limit;
pub mod guarded;
pub mod slots;
pub mod web;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// `[connections]`: timeouts and caps that keep the ports usable under load or attack.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionsConfig {
    /// Seconds a new agent connection has to finish its TLS handshake. A
    /// connection without a device certificate (an agent enrolling) is also
    /// closed after this long without traffic.
    #[serde(default = "default_handshake_timeout_secs")]
    pub handshake_timeout_secs: u64,
    /// Seconds without traffic from an enrolled device after which its
    /// connection is closed; the agent reconnects for its next report.
    #[serde(default = "default_idle_timeout_secs")]
    pub idle_timeout_secs: u64,
    /// Agent connections without a device certificate (handshaking or
    /// enrolling) held at once; when full, the oldest of the source address
    /// holding the most is closed to make room.
    #[serde(default = "default_max_unauthenticated")]
    pub max_unauthenticated: usize,
    /// Of those, how many one source address may hold; when it has that
    /// many, its own oldest is closed to make room.
    #[serde(default = "default_max_unauthenticated_per_source")]
    pub max_unauthenticated_per_source: usize,
    /// Web page and API connections held at once; when full, the oldest is closed.
    #[serde(default = "default_max_web")]
    pub max_web: usize,
    /// Seconds without traffic after which a web connection is closed.
    #[serde(default = "default_web_idle_timeout_secs")]
    pub web_idle_timeout_secs: u64,
    /// Failed enrollments (bad token, bad request) one source address may
    /// make in a burst; after that its enrollments are refused, without the
    /// token being looked at, until the throttle lets one more through.
    #[serde(default = "default_enroll_failures_per_source")]
    pub enroll_failures_per_source: u32,
    /// Seconds after which a throttled source may try one more enrollment.
    #[serde(default = "default_enroll_failure_refill_secs")]
    pub enroll_failure_refill_secs: u64,
}

fn default_handshake_timeout_secs() -> u64 {
    10
}
fn default_idle_timeout_secs() -> u64 {
    900
}
fn default_max_unauthenticated() -> usize {
    512
}
fn default_max_unauthenticated_per_source() -> usize {
    64
}
fn default_max_web() -> usize {
    128
}
fn default_web_idle_timeout_secs() -> u64 {
    60
}
fn default_enroll_failures_per_source() -> u32 {
    10
}
fn default_enroll_failure_refill_secs() -> u64 {
    60
}

impl Default for ConnectionsConfig {
    fn default() -> Self {
        Self {
            handshake_timeout_secs: default_handshake_timeout_secs(),
            idle_timeout_secs: default_idle_timeout_secs(),
            max_unauthenticated: default_max_unauthenticated(),
            max_unauthenticated_per_source: default_max_unauthenticated_per_source(),
            max_web: default_max_web(),
            web_idle_timeout_secs: default_web_idle_timeout_secs(),
            enroll_failures_per_source: default_enroll_failures_per_source(),
            enroll_failure_refill_secs: default_enroll_failure_refill_secs(),
        }
    }
}

impl ConnectionsConfig {
    /// Every problem, each naming its key under `connections.`.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut range = |key: &str, value: u64, min: u64, max: u64| {
            if !(min..=max).contains(&value) {
                problems.push(format!(
                    "connections.{key}: {value} is outside {min}..={max}"
                ));
            }
        };
        range(
            "handshake_timeout_secs",
            self.handshake_timeout_secs,
            1,
            300,
        );
        range("idle_timeout_secs", self.idle_timeout_secs, 10, 7 * 86_400);
        range(
            "max_unauthenticated",
            self.max_unauthenticated as u64,
            1,
            1_000_000,
        );
        range(
            "max_unauthenticated_per_source",
            self.max_unauthenticated_per_source as u64,
            1,
            self.max_unauthenticated as u64,
        );
        range("max_web", self.max_web as u64, 1, 1_000_000);
        range(
            "web_idle_timeout_secs",
            self.web_idle_timeout_secs,
            1,
            86_400,
        );
        range(
            "enroll_failures_per_source",
            u64::from(self.enroll_failures_per_source),
            1,
            1_000_000,
        );
        range(
            "enroll_failure_refill_secs",
            self.enroll_failure_refill_secs,
            1,
            86_400,
        );
        problems
    }

    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.handshake_timeout_secs)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    pub fn web_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.web_idle_timeout_secs)
    }
}

/// A warning worth logging at most once per interval: under attack the same
/// event happens thousands of times a second, and the log must stay readable.
#[derive(Debug)]
pub(crate) struct WarnEvery {
    interval: Duration,
    state: Mutex<WarnState>,
}

#[derive(Debug, Default)]
struct WarnState {
    last: Option<Instant>,
    /// Events since the last warning that was logged.
    unlogged: u64,
}

impl WarnEvery {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            state: Mutex::new(WarnState::default()),
        }
    }

    /// Counts one event; returns how many happened since the last logged
    /// warning (this one included) when it is time to log again.
    pub(crate) fn event(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.unlogged += 1;
        if state
            .last
            .is_some_and(|last| now.duration_since(last) < self.interval)
        {
            return None;
        }
        state.last = Some(now);
        Some(std::mem::take(&mut state.unlogged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_warnings_are_logged_once_per_interval_with_their_count() {
        let warn = WarnEvery::new(Duration::from_secs(60));
        let start = Instant::now();
        assert_eq!(warn.event(start), Some(1));
        for s in 1..=10 {
            assert_eq!(warn.event(start + Duration::from_secs(s)), None);
        }
        assert_eq!(warn.event(start + Duration::from_secs(61)), Some(11));
    }

    #[test]
    fn connection_limits_that_cannot_work_name_their_keys() {
        let config: ConnectionsConfig = toml::from_str(
            "handshake_timeout_secs = 0\nmax_unauthenticated = 10\nmax_unauthenticated_per_source = 20\n",
        )
        .unwrap();
        assert_eq!(
            config.problems(),
            [
                "connections.handshake_timeout_secs: 0 is outside 1..=300",
                "connections.max_unauthenticated_per_source: 20 is outside 1..=10",
            ]
        );
        assert!(ConnectionsConfig::default().problems().is_empty());
    }
}
