//! Issue 14.1: a restarted report numbering is never swallowed as a replay.
//! A real agent and collector; the agent's state directory is rolled back to
//! an older copy, as a VM snapshot or a backup restore would.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use forewarn_e2e::{Agent, CollectorProcess, metric, wait_for};

const FAST_REPORTS: &str = "report_interval_secs = 1";

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

#[test]
fn rolled_back_state_directory_keeps_the_device_reporting() -> Result<()> {
    let collector = CollectorProcess::start(FAST_REPORTS)?;
    let token = collector.create_token("laptops", "1h", None)?;
    let mut agent = Agent::new()?;
    let device_id = agent.enroll_ok(&collector, &token)?;
    let snapshot = tempfile::tempdir()?;
    copy_dir(agent.state_dir.path(), snapshot.path())?;

    agent.start()?;
    wait_for("five reports", Duration::from_secs(30), || {
        (collector.device(&device_id).ok()??.last_seq >= 5).then_some(())
    })?;
    agent.stop()?;
    let before = collector
        .latest_report(&device_id)?
        .expect("a stored report");

    // Restore the copy taken at enrollment: the agent's numbering starts over.
    std::fs::remove_dir_all(agent.state_dir.path())?;
    copy_dir(snapshot.path(), agent.state_dir.path())?;
    agent.start()?;
    let after = wait_for(
        "a report of the restarted numbering stored",
        Duration::from_secs(30),
        || {
            let latest = collector.latest_report(&device_id).ok()??;
            (latest.collected_at_unix_secs > before.collected_at_unix_secs
                && latest.boot_id != before.boot_id)
                .then_some(latest)
        },
    )?;
    assert!(after.seq < before.seq, "{} !< {}", after.seq, before.seq);
    // The device keeps reporting after the restart, not just once.
    wait_for(
        "the next report of the new numbering",
        Duration::from_secs(30),
        || (collector.device(&device_id).ok()??.last_seq > after.seq).then_some(()),
    )?;
    agent.stop()?;
    let metrics = collector.metrics()?;
    assert_eq!(
        metric(&metrics, "forewarn_reports_renumbered_total"),
        Some(1.0),
        "{metrics}"
    );
    Ok(())
}
