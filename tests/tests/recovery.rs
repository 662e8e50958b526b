//! An agent whose collector goes away for a while: reports made meanwhile
//! are kept, delivery resumes within seconds of the collector's return (not
//! at the end of a long backoff), the agent says once that it delivered the
//! queue, and its error lines say each cause once.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Result;
use forewarn_e2e::{Agent, CollectorProcess, wait_for};

/// Long enough for the agent's backoff to grow past 16 s, so a prompt
/// delivery after the return can only come from the reachability check.
const OUTAGE: Duration = Duration::from_secs(40);

#[test]
fn agent_delivers_its_queue_within_seconds_of_the_collector_coming_back() -> Result<()> {
    let mut collector = CollectorProcess::start("report_interval_secs = 1")?;
    let token = collector.create_token("laptops", "1h", None)?;
    let mut agent = Agent::new()?;
    let device_id = agent.enroll_ok(&collector, &token)?;
    let log_path = agent.state_dir.path().join("agent.log");
    let log_file = std::fs::File::create(&log_path)?;
    agent.start_with(|command| {
        command
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stderr(Stdio::from(log_file));
    })?;
    wait_for(
        "a report before the outage",
        Duration::from_secs(20),
        || (collector.history_len(&device_id).ok()? >= 2).then_some(()),
    )?;

    collector.stop()?;
    let stopped = Instant::now();
    std::thread::sleep(OUTAGE);
    let queued = std::fs::read_dir(agent.state_dir.path().join("spool"))?.count();
    assert!(
        queued >= 10,
        "reports made during the outage are spooled: {queued}"
    );
    let before = collector.history_len(&device_id)?;
    collector.start_again()?;
    let back = Instant::now();
    wait_for("the queue delivered", Duration::from_secs(10), || {
        (collector.history_len(&device_id).ok()? >= before + queued as i64).then_some(())
    })?;
    let delay = back.elapsed();
    assert!(
        delay < Duration::from_secs(8),
        "delivered {delay:?} after the collector came back (outage {:?})",
        back - stopped
    );
    // The next cycle writes the log line; give it a moment.
    std::thread::sleep(Duration::from_secs(2));
    agent.stop()?;

    let log = std::fs::read_to_string(&log_path)?;
    let delivered: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("queued reports") && line.contains("delivered"))
        .collect();
    assert_eq!(
        delivered.len(),
        1,
        "one 'delivered N queued reports' line:\n{log}"
    );
    let count: usize = delivered[0]
        .split("delivered ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(count >= queued, "{queued} were queued: {}", delivered[0]);
    let failures: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("report not delivered"))
        .collect();
    assert!(!failures.is_empty(), "the outage is logged:\n{log}");
    for line in failures {
        let error = line
            .split("error=")
            .nth(1)
            .and_then(|rest| rest.split(" retry_in_secs").next())
            .unwrap_or(line);
        let causes: Vec<&str> = error.split(": ").collect();
        for (i, cause) in causes.iter().enumerate() {
            assert!(
                !causes[i + 1..].contains(cause),
                "{cause:?} said twice in: {line}"
            );
        }
    }
    Ok(())
}
