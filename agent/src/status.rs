//! `forewarn-agent status`: is this device enrolled, is the service running,
//! is it delivering. For people and for deployment tools: the exit code is
//! the answer (documented on [`Health`]), `--json` the details.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::config::AgentConfig;
use crate::last_delivery::{LastDelivery, REWRITE_AFTER};
use crate::lock::InstanceLock;
use crate::service::{self, ServiceState};
use crate::spool::Spool;
use crate::state::{Enrollment, StateDir, StateError};

/// How many report intervals may pass without a delivery before status says deliveries are late.
const LATE_AFTER_INTERVALS: i64 = 3;
/// With short intervals, the delivery record may be older than that (it is
/// rewritten at most every [`REWRITE_AFTER`]): late only after twice that age.
const LATE_AFTER_REWRITES: i64 = 2;

/// The overall answer, and the process exit code for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// 0: enrolled, service running, delivering (or not yet due).
    Healthy,
    /// 3: not enrolled (or the identity cannot be read).
    NotEnrolled,
    /// 4: enrolled, but the service is not running.
    ServiceNotRunning,
    /// 5: running, but no report delivered for three report intervals (two minutes at least).
    DeliveryLate,
}

impl Health {
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Healthy => 0,
            Self::NotEnrolled => 3,
            Self::ServiceNotRunning => 4,
            Self::DeliveryLate => 5,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub health: Health,
    pub state_dir: String,
    /// Who and where, when enrolled.
    pub enrollment: Option<Enrollment>,
    /// Why the identity could not be read, when it could not.
    pub enrollment_problem: Option<String>,
    /// The OS service manager's view.
    pub service: String,
    /// A `run` holds the state directory's lock (the service, or one started by hand).
    pub agent_process_running: bool,
    pub last_delivery: Option<LastDelivery>,
    /// Reports waiting in the spool; None when the spool cannot be read.
    pub queued_reports: Option<usize>,
    pub report_interval_secs: u32,
}

/// Gathers the status from the state directory and the service manager.
pub fn gather(config: &AgentConfig) -> Status {
    let state = StateDir::new(&config.state_dir);
    let loaded = state.load();
    let service = service::state();
    let running = InstanceLock::is_held(state.root());
    let last_delivery = LastDelivery::load(&state).ok().flatten();
    let queued = if state.spool_dir().is_dir() {
        Spool::open(state.spool_dir(), config.spool.clone())
            .ok()
            .map(|spool| spool.len())
    } else {
        Some(0)
    };
    let interval = state.load_policy().report_interval_secs.max(1);
    let enrolled_at = modified_unix(&state.root().join("enrollment.toml"));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let health = judge(
        &loaded,
        &service,
        running,
        last_delivery.as_ref().map(|d| d.delivered_at_unix_secs),
        enrolled_at,
        interval,
        now,
    );
    let (enrollment, enrollment_problem) = match loaded {
        Ok(enrolled) => (Some(enrolled.enrollment), None),
        Err(err) => (None, Some(err.to_string())),
    };
    Status {
        health,
        state_dir: state.root().display().to_string(),
        enrollment,
        enrollment_problem,
        service: service.to_string(),
        agent_process_running: running,
        last_delivery,
        queued_reports: queued,
        report_interval_secs: interval,
    }
}

fn modified_unix(path: &Path) -> Option<i64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(time::OffsetDateTime::from(modified).unix_timestamp())
}

/// The verdict. A running agent that the service manager cannot be asked
/// about (no systemd in a container) still counts as running.
pub fn judge<T>(
    loaded: &Result<T, StateError>,
    service: &ServiceState,
    process_running: bool,
    last_delivered_at: Option<i64>,
    enrolled_at: Option<i64>,
    interval_secs: u32,
    now: i64,
) -> Health {
    if loaded.is_err() {
        return Health::NotEnrolled;
    }
    let running = match service {
        ServiceState::Running => true,
        ServiceState::Unknown(_) => process_running,
        ServiceState::NotRunning(_) | ServiceState::NotInstalled => false,
    };
    if !running {
        return Health::ServiceNotRunning;
    }
    let since = last_delivered_at.or(enrolled_at).unwrap_or(now);
    let late_after = (LATE_AFTER_INTERVALS * i64::from(interval_secs))
        .max(LATE_AFTER_REWRITES * REWRITE_AFTER.as_secs() as i64);
    if now - since > late_after {
        Health::DeliveryLate
    } else {
        Health::Healthy
    }
}

fn when(unix: i64, now: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string());
    let ago = (now - unix).max(0);
    let ago = match ago {
        0..120 => format!("{ago} s"),
        120..7200 => format!("{} min", ago / 60),
        7200..172_800 => format!("{} h", ago / 3600),
        _ => format!("{} days", ago / 86_400),
    };
    format!("{at} ({ago} ago)")
}

/// The status as people read it.
pub fn render(status: &Status, now: i64) -> String {
    let mut out = String::new();
    let verdict = match status.health {
        Health::Healthy => "healthy",
        Health::NotEnrolled => {
            "not enrolled: run `forewarn-agent install --url ... --token ... --ca-fingerprint ...`"
        }
        Health::ServiceNotRunning => "the agent service is not running",
        Health::DeliveryLate => "reports are not reaching the collector",
    };
    let _ = writeln!(
        out,
        "status:          {verdict} (exit {})",
        status.health.exit_code()
    );
    match (&status.enrollment, &status.enrollment_problem) {
        (Some(enrollment), _) => {
            let _ = writeln!(
                out,
                "enrolled as:     device {} in group {}",
                enrollment.device_id, enrollment.group
            );
            let _ = writeln!(out, "collector:       {}", enrollment.collector_url);
        }
        (None, Some(problem)) => {
            let _ = writeln!(out, "enrolled as:     - ({problem})");
        }
        (None, None) => {}
    }
    let _ = writeln!(out, "state directory: {}", status.state_dir);
    let process = if status.agent_process_running {
        "an agent process is running"
    } else {
        "no agent process is running"
    };
    let _ = writeln!(out, "service:         {} ({process})", status.service);
    match &status.last_delivery {
        Some(delivery) => {
            let _ = writeln!(
                out,
                "last delivery:   {} (report {}, collected {})",
                when(delivery.delivered_at_unix_secs, now),
                delivery.seq,
                when(delivery.collected_at_unix_secs, now)
            );
        }
        None => {
            let _ = writeln!(out, "last delivery:   none yet");
        }
    }
    let queued = status.queued_reports.map_or_else(
        || "unknown (cannot read the spool)".to_owned(),
        |n| n.to_string(),
    );
    let _ = writeln!(out, "queued reports:  {queued}");
    let _ = writeln!(out, "report interval: {} s", status.report_interval_secs);
    if let Some(delivery) = &status.last_delivery {
        let _ = writeln!(out, "checks in the last delivered report:");
        for check in &delivery.checks {
            let result = match (check.ok, check.problems.len()) {
                (true, 0) => "ok".to_owned(),
                (true, n) => format!("ok, {n} item(s) could not be read"),
                (false, _) => "FAILED".to_owned(),
            };
            let _ = writeln!(out, "  {:<13} {result}", check.check);
            for problem in &check.problems {
                let _ = writeln!(out, "    - {problem}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;

    fn enrolled() -> Result<(), StateError> {
        Ok(())
    }

    #[test]
    fn exit_codes_follow_the_first_problem() {
        let not_enrolled: Result<(), StateError> = Err(StateError::NotEnrolled {
            path: "enrollment.toml".into(),
        });
        let running = ServiceState::Running;
        assert_eq!(
            judge(&not_enrolled, &running, true, Some(NOW), None, 300, NOW),
            Health::NotEnrolled
        );
        let stopped = ServiceState::NotRunning("failed, failed".into());
        assert_eq!(
            judge(&enrolled(), &stopped, false, Some(NOW), None, 300, NOW),
            Health::ServiceNotRunning
        );
        assert_eq!(
            judge(&enrolled(), &running, true, Some(NOW - 901), None, 300, NOW),
            Health::DeliveryLate
        );
        assert_eq!(
            judge(&enrolled(), &running, true, Some(NOW - 899), None, 300, NOW),
            Health::Healthy
        );
        assert_eq!(Health::DeliveryLate.exit_code(), 5);
    }

    #[test]
    fn short_intervals_allow_for_the_delivery_record_rewritten_once_a_minute() {
        let running = ServiceState::Running;
        let late_after = LATE_AFTER_REWRITES * REWRITE_AFTER.as_secs() as i64;
        assert_eq!(
            judge(
                &enrolled(),
                &running,
                true,
                Some(NOW - late_after),
                None,
                1,
                NOW
            ),
            Health::Healthy
        );
        assert_eq!(
            judge(
                &enrolled(),
                &running,
                true,
                Some(NOW - late_after - 1),
                None,
                1,
                NOW
            ),
            Health::DeliveryLate
        );
    }

    #[test]
    fn a_fresh_install_is_healthy_until_three_intervals_pass_without_a_delivery() {
        let running = ServiceState::Running;
        assert_eq!(
            judge(&enrolled(), &running, true, None, Some(NOW - 10), 300, NOW),
            Health::Healthy
        );
        assert_eq!(
            judge(
                &enrolled(),
                &running,
                true,
                None,
                Some(NOW - 1000),
                300,
                NOW
            ),
            Health::DeliveryLate
        );
    }

    #[test]
    fn without_a_service_manager_the_running_process_decides() {
        let unknown = ServiceState::Unknown("systemd is not running".into());
        assert_eq!(
            judge(&enrolled(), &unknown, true, Some(NOW), None, 300, NOW),
            Health::Healthy
        );
        assert_eq!(
            judge(&enrolled(), &unknown, false, Some(NOW), None, 300, NOW),
            Health::ServiceNotRunning
        );
    }

    #[test]
    fn rendering_names_device_collector_and_each_check() {
        let status = Status {
            health: Health::Healthy,
            state_dir: "/var/lib/forewarn-agent".into(),
            enrollment: Some(Enrollment {
                collector_url: "https://collector:7443".into(),
                server_name: "collector".into(),
                device_id: "dev-7".into(),
                group: "servers".into(),
            }),
            enrollment_problem: None,
            service: "running".into(),
            agent_process_running: true,
            last_delivery: Some(LastDelivery {
                delivered_at_unix_secs: NOW - 30,
                seq: 12,
                collected_at_unix_secs: NOW - 31,
                checks: vec![crate::last_delivery::CheckOutcome {
                    check: "backups".into(),
                    ok: false,
                    problems: vec!["nightly: repository locked".into()],
                }],
            }),
            queued_reports: Some(0),
            report_interval_secs: 300,
        };
        let text = render(&status, NOW);
        for expected in [
            "healthy (exit 0)",
            "device dev-7 in group servers",
            "https://collector:7443",
            "(30 s ago)",
            "queued reports:  0",
            "backups       FAILED",
            "nightly: repository locked",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }
}
