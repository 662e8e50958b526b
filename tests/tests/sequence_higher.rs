//! Issue 14.1: the collector once accepted a higher seq than the agent now
//! sends (another copy of the device's identity, or a numbering the agent has
//! since lost). A real agent and collector; the higher seq is sent over the
//! device's own mTLS identity while the agent is stopped.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use forewarn_e2e::{Agent, CollectorProcess, wait_for};
use forewarn_proto::pb::ingest_client::IngestClient;

const FAST_REPORTS: &str = "report_interval_secs = 1";
const JUMP: u64 = 1_000_000;

#[test]
fn reports_below_a_seq_the_collector_once_accepted_are_stored() -> Result<()> {
    let collector = CollectorProcess::start(FAST_REPORTS)?;
    let token = collector.create_token("laptops", "1h", None)?;
    let mut agent = Agent::new()?;
    let device_id = agent.enroll_ok(&collector, &token)?;

    agent.start()?;
    wait_for("two reports", Duration::from_secs(30), || {
        (collector.device(&device_id).ok()??.last_seq >= 2).then_some(())
    })?;
    agent.stop()?;

    // The agent's own last report, sent again far ahead in its numbering.
    let mut ahead = collector
        .latest_report(&device_id)?
        .expect("a stored report");
    ahead.seq += JUMP;
    ahead.collected_at_unix_secs =
        i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())?;
    let runtime = tokio::runtime::Runtime::new()?;
    let ack = runtime.block_on(async {
        let mut client = IngestClient::new(agent.channel(&collector).await?);
        anyhow::Ok(client.report(ahead.clone()).await?.into_inner())
    })?;
    assert_eq!(ack.acked_seq, ahead.seq);
    let accepted = collector.device(&device_id)?.expect("the device");
    assert_eq!(accepted.last_seq, ahead.seq);
    let seen_at_jump = accepted.last_seen_at.expect("a last_seen after a report");

    agent.start()?;
    let after = wait_for(
        "a report of the agent's own numbering stored",
        Duration::from_secs(30),
        || {
            let latest = collector.latest_report(&device_id).ok()??;
            (latest.boot_id != ahead.boot_id
                && latest.collected_at_unix_secs > ahead.collected_at_unix_secs)
                .then_some(latest)
        },
    )?;
    assert!(after.seq < ahead.seq, "{} !< {}", after.seq, ahead.seq);
    assert!(after.disks.is_some(), "{after:?}");
    // The device keeps reporting and is seen, not frozen at the high seq.
    let device = wait_for(
        "the next report of the agent's numbering",
        Duration::from_secs(30),
        || {
            let device = collector.device(&device_id).ok()??;
            (device.last_seq > after.seq && device.last_seq < ahead.seq).then_some(device)
        },
    )?;
    agent.stop()?;
    let seen = device.last_seen_at.expect("a last_seen");
    assert!(seen > seen_at_jump, "last_seen stayed at {seen_at_jump}");
    Ok(())
}
