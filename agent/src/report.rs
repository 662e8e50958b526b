//! Building one report: host facts plus every enabled check.

use forewarn_proto::pb;

use crate::checks::CheckSet;
use crate::facts::host_facts;

/// A snapshot of this device now. `seq` and `device_id` are 0/empty for a local `check --once`.
pub async fn snapshot(
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
        host: Some(host_facts()),
        ..Default::default()
    };
    checks.collect(policy, &mut report).await;
    report
}
