//! Building one report: host facts plus every enabled check.

use std::time::{Duration, Instant};

use forewarn_proto::pb;

use crate::checks::CheckSet;
use crate::facts::host_facts;

/// How long host facts other than the hostname are reused. They change with
/// an OS upgrade or new hardware, which restarts the agent anyway; reading
/// them (os-release) every cycle would cost file reads for nothing.
const FACTS_REFRESH: Duration = Duration::from_secs(3600);

/// A snapshot of this device now. `seq` and `device_id` are 0/empty for a local `check --once`.
pub async fn snapshot(
    checks: &mut CheckSet,
    policy: &pb::Policy,
    seq: u64,
    device_id: &str,
) -> pb::StatusReport {
    Reporter::default()
        .snapshot(checks, policy, seq, device_id)
        .await
}

/// Builds the reports of a running agent, reusing what does not change
/// from one cycle to the next.
#[derive(Debug, Default)]
pub struct Reporter {
    /// The facts last read, and when to read them again.
    facts: Option<(Instant, pb::HostFacts)>,
}

impl Reporter {
    /// Like [`snapshot`]; host facts are read again every [`FACTS_REFRESH`],
    /// the hostname every time.
    pub async fn snapshot(
        &mut self,
        checks: &mut CheckSet,
        policy: &pb::Policy,
        seq: u64,
        device_id: &str,
    ) -> pb::StatusReport {
        let mut report = pb::StatusReport {
            seq,
            collected_at_unix_secs: time::OffsetDateTime::now_utc().unix_timestamp(),
            claimed_device_id: device_id.to_owned(),
            policy_version: policy.version.clone(),
            host: Some(self.facts().await),
            ..Default::default()
        };
        checks.collect(policy, &mut report).await;
        report
    }

    async fn facts(&mut self) -> pb::HostFacts {
        match &mut self.facts {
            Some((refresh_at, facts)) if Instant::now() < *refresh_at => {
                if let Ok(hostname) = sysinfo::System::host_name()
                    && hostname != facts.hostname
                {
                    facts.hostname = hostname;
                }
                facts.clone()
            }
            _ => {
                let facts = host_facts().await;
                self.facts = Some((Instant::now() + FACTS_REFRESH, facts.clone()));
                facts
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cached_facts_are_the_facts_and_expire() {
        let mut reporter = Reporter::default();
        let first = reporter.facts().await;
        assert_eq!(first, host_facts().await);
        assert_eq!(reporter.facts().await, first);
        // Pretend the cache is old: the next call reads the facts again.
        if let Some((refresh_at, facts)) = &mut reporter.facts {
            *refresh_at = Instant::now();
            facts.os_name = "stale".into();
        }
        assert_eq!(reporter.facts().await, host_facts().await);
    }
}
