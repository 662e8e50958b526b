//! Driving the load: one mTLS connection per device, Report calls on a schedule.
//!
//! First every device connects and sends its first report, a few at a time
//! (a TLS handshake holds one of the collector's slots for unauthenticated
//! connections until the device certificate is verified). Then the measured
//! window starts for all devices at once. With a target rate, device `i` of
//! `n` sends every `n / rate` seconds, offset by `i / rate`, and skips a slot
//! it is late for rather than bursting to catch up; without one, each device
//! sends its next report as soon as the last is acknowledged. A device starts
//! no call after the window ends; calls in flight then are waited for and
//! counted.
//!
//! Latency is measured from the moment a call is sent, so under saturation a
//! late slot shows as a lower rate, not as higher latency.
//!
//! A rate of zero holds every connection open through the window without a
//! call: what a large fleet between reports costs the collector (memory per
//! connection, idle CPU).

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use forewarn_agent::clock::now_unix;
use forewarn_agent::transport::{self, TransportError};

use crate::identities::Enrolled;
use crate::stats::Tally;
use crate::synth::Device;

/// How hard and how long to push.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Total Report calls per second over all devices; `None`: as fast as
    /// possible; zero: no calls, the connections are only held.
    pub rate: Option<f64>,
    pub duration: Duration,
    /// Share of reports (0–1) that carry a change from the device's previous one.
    pub change_fraction: f64,
    /// Devices connecting (TLS handshake and first report) at once.
    pub connect_concurrency: usize,
}

impl Plan {
    /// Whether the window only holds the connections open, sending nothing.
    pub fn holds_only(&self) -> bool {
        self.rate == Some(0.0)
    }
}

/// A device whose connection is open, ready for the measured window.
pub struct ConnectedDevice {
    enrolled: Enrolled,
    device: Device,
    client: transport::Ingest,
    boot_id: u64,
    seq: u64,
}

/// Connects every device and sends its first report; returns the devices and
/// what the first reports met.
pub async fn connect(
    devices: Vec<Enrolled>,
    plan: &Plan,
) -> Result<(Vec<ConnectedDevice>, Tally), TransportError> {
    let permits = Arc::new(Semaphore::new(plan.connect_concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for enrolled in devices {
        let state = &enrolled.state;
        let channel = transport::channel(
            &state.enrollment.collector_url,
            &state.enrollment.server_name,
            &state.ca_pem,
            Some(&state.identity),
        )?;
        let permit = Arc::clone(&permits);
        tasks.spawn(async move {
            let _permit = permit.acquire_owned().await;
            let mut connected = ConnectedDevice {
                device: Device::new(enrolled.index, now_unix()),
                client: transport::ingest_client(channel),
                boot_id: rand::rng().random_range(1..u64::MAX),
                seq: 0,
                enrolled,
            };
            let mut tally = Tally::default();
            connected.send(false, &mut tally).await;
            (connected, tally)
        });
    }
    let mut connected = Vec::new();
    let mut tally = Tally::default();
    while let Some(joined) = tasks.join_next().await {
        let (device, first) = joined.expect("a device task panicked");
        connected.push(device);
        tally.merge(first);
    }
    Ok((connected, tally))
}

impl std::fmt::Debug for ConnectedDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectedDevice")
            .field("hostname", &self.device.hostname())
            .finish_non_exhaustive()
    }
}

/// Runs the measured window; returns what the calls met and how long the
/// window lasted, including calls still in flight when it ended.
pub async fn run(devices: Vec<ConnectedDevice>, plan: &Plan) -> (Tally, Duration) {
    let count = devices.len().max(1) as f64;
    let start = Instant::now();
    let deadline = start + plan.duration;
    if plan.holds_only() {
        tokio::time::sleep_until(deadline).await;
        drop(devices);
        return (Tally::default(), start.elapsed());
    }
    let mut tasks = JoinSet::new();
    for (position, mut device) in devices.into_iter().enumerate() {
        let schedule = plan.rate.map(|rate| {
            let interval = Duration::from_secs_f64(count / rate);
            let offset = Duration::from_secs_f64(position as f64 / rate);
            (start + offset, interval)
        });
        let change_fraction = plan.change_fraction;
        tasks.spawn(async move {
            let mut tally = Tally::default();
            let mut slots = DeviceSlots::new(schedule, deadline);
            while slots.next_call().await {
                let change = rand::rng().random_bool(change_fraction);
                device.send(change, &mut tally).await;
            }
            tally
        });
    }
    let mut tally = Tally::default();
    while let Some(joined) = tasks.join_next().await {
        tally.merge(joined.expect("a device task panicked"));
    }
    (tally, start.elapsed())
}

/// When one device calls in the window: on its schedule (first slot and
/// interval) or back to back without one.
struct DeviceSlots {
    next: Option<Instant>,
    interval: Option<Duration>,
    deadline: Instant,
}

impl DeviceSlots {
    fn new(schedule: Option<(Instant, Duration)>, deadline: Instant) -> Self {
        Self {
            next: schedule.map(|(first, _)| first),
            interval: schedule.map(|(_, interval)| interval),
            deadline,
        }
    }

    /// Waits for the device's next call; false when the window is over. A
    /// slot at or past the deadline is not part of the window, so the device
    /// stops instead of waiting for it — waiting would stretch the window and
    /// understate the rate.
    async fn next_call(&mut self) -> bool {
        if let (Some(at), Some(interval)) = (self.next, self.interval) {
            if at >= self.deadline {
                return false;
            }
            tokio::time::sleep_until(at).await;
            self.next = Some(next_slot(at, interval, Instant::now()));
        }
        Instant::now() < self.deadline
    }
}

/// The slot after `at` that is not already past at `now`.
fn next_slot(at: Instant, interval: Duration, now: Instant) -> Instant {
    let next = at + interval;
    if next >= now || interval.is_zero() {
        return next;
    }
    let behind = (now - next).as_nanos().div_ceil(interval.as_nanos());
    next + interval * u32::try_from(behind).unwrap_or(u32::MAX)
}

impl ConnectedDevice {
    async fn send(&mut self, change: bool, tally: &mut Tally) {
        let now = now_unix();
        if change {
            self.device.change(now);
        }
        self.seq += 1;
        let report = self.device.report(
            &self.enrolled.state.enrollment.device_id,
            &self.enrolled.policy_version,
            self.seq,
            self.boot_id,
            now,
        );
        let sent = Instant::now();
        match self.client.report(report).await {
            Ok(ack) => {
                tally.ok(sent.elapsed());
                if let Some(policy) = ack.into_inner().policy {
                    self.enrolled.policy_version = policy.version;
                }
            }
            Err(status) => tally.error(status.code(), &transport::describe(&status)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_device_skips_missed_slots_instead_of_bursting() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        assert_eq!(next_slot(start, second, start), start + second);
        assert_eq!(
            next_slot(start, second, start + Duration::from_millis(3_500)),
            start + 4 * second
        );
        assert_eq!(
            next_slot(start, second, start + 2 * second),
            start + 2 * second
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_scheduled_device_stops_at_the_deadline_instead_of_waiting_for_its_next_slot() {
        let start = Instant::now();
        let deadline = start + Duration::from_secs(10);
        let mut calls = 0;
        // Slots at 1, 4, 7 and 10 s: the one at 10 s is past the window.
        let schedule = Some((start + Duration::from_secs(1), Duration::from_secs(3)));
        let mut slots = DeviceSlots::new(schedule, deadline);
        while slots.next_call().await {
            calls += 1;
        }
        assert_eq!(calls, 3);
        assert!(Instant::now() < deadline, "{:?}", Instant::now() - start);
    }

    #[tokio::test]
    async fn a_zero_rate_holds_the_window_without_calls() {
        let plan = Plan {
            rate: Some(0.0),
            duration: Duration::from_millis(20),
            change_fraction: 0.5,
            connect_concurrency: 1,
        };
        assert!(plan.holds_only());
        let (tally, window) = run(Vec::new(), &plan).await;
        assert_eq!(tally.succeeded(), 0);
        assert_eq!(tally.errors().count(), 0);
        assert!(window >= plan.duration, "{window:?}");
    }
}
