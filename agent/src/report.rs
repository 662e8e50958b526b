//! Building one report: host facts plus every enabled check.

use std::time::{Duration, Instant};

use forewarn_proto::pb;
use prost::Message;
use prost::bytes::Bytes;

use crate::checks::CheckSet;
use crate::facts::host_facts;
use crate::last_delivery::LastDelivery;

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

/// A report encoded once: the same bytes are sent and, when sending fails,
/// spooled, so a report kept for a retry is neither copied nor encoded again.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedReport {
    pub seq: u64,
    /// The protobuf encoding of the `StatusReport`.
    pub bytes: Bytes,
    /// Its record for `forewarn-agent status`, written when the collector has it.
    pub delivery: LastDelivery,
}

impl EncodedReport {
    pub fn new(report: &pb::StatusReport) -> Self {
        Self {
            seq: report.seq,
            bytes: report.encode_to_vec().into(),
            delivery: LastDelivery::of(report),
        }
    }

    /// A report encoded earlier (read back from the spool).
    pub fn decode(bytes: Bytes) -> Result<Self, prost::DecodeError> {
        let report = pb::StatusReport::decode(bytes.clone())?;
        Ok(Self {
            seq: report.seq,
            bytes,
            delivery: LastDelivery::of(&report),
        })
    }
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

    /// A snapshot of the running agent's cycle `seq`, encoded; the sections
    /// that can serve again go back to `checks`.
    pub async fn encoded(
        &mut self,
        checks: &mut CheckSet,
        policy: &pb::Policy,
        seq: u64,
        device_id: &str,
        boot_id: u64,
    ) -> EncodedReport {
        let mut report = self.snapshot(checks, policy, seq, device_id).await;
        report.boot_id = boot_id;
        let encoded = EncodedReport::new(&report);
        checks.reclaim(report);
        encoded
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
