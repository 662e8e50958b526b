//! Measurement, not a pass/fail timing: how long from the collector receiving a
//! failing backup report to the ticket existing in a real Request Tracker 5, over
//! 100 alerts (100 distinct backup jobs of one enrolled device, one after the
//! other: the next report is sent once the previous alert's ticket reference is
//! stored, so each alert meets an idle worker). Reports are sent by this test over the device's real mTLS channel
//! (not by a real agent), so the moment a report leaves is known exactly; the
//! moment the ticket exists is when RT answers 201 to the create, as the
//! recording proxy between the collector and RT sees it. The collector runs
//! with the default outbox timings. It also prints where the time goes: from
//! the report to the collector's first request to RT about the alert (its
//! search for an open ticket), and how long RT took to answer the search and
//! the create.
//!
//! Run: `cargo nextest run -p forewarn-e2e --test tickets_latency --run-ignored only --no-capture`

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use forewarn_e2e::request_tracker::RequestTracker;
use forewarn_e2e::ticket_proxy::TicketProxy;
use forewarn_e2e::{Agent, CollectorProcess, runtime, wait_for};
use forewarn_proto::pb;
use forewarn_proto::pb::ingest_client::IngestClient;

const ALERTS: usize = 100;

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn job(index: usize, result: pb::BackupResult, now: i64) -> pb::BackupJobStatus {
    pb::BackupJobStatus {
        name: format!("job-{index:03}"),
        kind: "status-file".into(),
        last_run_started_unix_secs: Some(now - 60),
        last_run_finished_unix_secs: Some(now - 30),
        result: result as i32,
        // A recent success, so only `backup_failed` fires (not the dead-man rule).
        last_success_unix_secs: Some(now - 3600),
        message: if result == pb::BackupResult::Failed {
            "destination full".into()
        } else {
            "ok".into()
        },
        ..Default::default()
    }
}

/// Jobs `0..failed` failed, the rest succeeded.
fn report(seq: u64, failed: usize) -> pb::StatusReport {
    let now = now_unix();
    pb::StatusReport {
        seq,
        collected_at_unix_secs: now,
        host: Some(pb::HostFacts {
            hostname: "latency-bench".into(),
            ..Default::default()
        }),
        backups: Some(pb::BackupCheck {
            jobs: (0..ALERTS)
                .map(|i| {
                    let result = if i < failed {
                        pb::BackupResult::Failed
                    } else {
                        pb::BackupResult::Success
                    };
                    job(i, result, now)
                })
                .collect(),
        }),
        ..Default::default()
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[test]
#[ignore = "measurement: run explicitly (see the module docs)"]
fn latency_from_failing_report_to_rt_ticket_over_100_alerts() -> Result<()> {
    let rt = RequestTracker::start()?;
    let proxy = TicketProxy::start(rt.port)?;
    let work = tempfile::tempdir()?;
    let token_file = rt.bot_token_file(work.path())?;
    let rt_url = proxy.rt_url();
    let connector = format!(
        "\n[tickets.connectors.rt]\nkind = \"request_tracker\"\nurl = \"{rt_url}\"\n\
         token = {{ file = {:?} }}\nqueue = \"{}\"\n",
        token_file.display().to_string(),
        forewarn_e2e::request_tracker::QUEUE,
    );
    let collector = CollectorProcess::start(&connector)?;
    let token = collector.create_token("laptops", "1h", Some(1))?;
    let agent = Agent::new()?;
    let device = agent.enroll_ok(&collector, &token)?;
    let mut client = runtime()
        .block_on(async { anyhow::Ok(IngestClient::new(agent.channel(&collector).await?)) })?;

    // All jobs fine first, so each later report adds exactly one failure.
    runtime().block_on(client.report(report(1, 0)))?;
    let mut latencies = Vec::with_capacity(ALERTS);
    let mut acks = Vec::with_capacity(ALERTS);
    let mut to_first_request = Vec::with_capacity(ALERTS);
    let mut searches = Vec::with_capacity(ALERTS);
    let mut creates = Vec::with_capacity(ALERTS);
    for failed in 1..=ALERTS {
        let job = format!("job-{:03}", failed - 1);
        let key = format!("{device}/backup_failed/{job}");
        let sent = Instant::now();
        runtime().block_on(client.report(report(failed as u64 + 1, failed)))?;
        acks.push(millis(sent.elapsed()));
        let created = wait_for(
            &format!("ticket for {key}"),
            Duration::from_secs(60),
            || proxy.creations().into_iter().find(|c| c.key == key),
        )?;
        latencies.push(millis(created.at.duration_since(sent)));
        // The search's query string carries the key URL-encoded; the job name is plain.
        let exchanges = proxy.exchanges();
        let search = exchanges
            .iter()
            .find(|e| e.received >= sent && e.method == "GET" && e.path.contains(&job))
            .with_context(|| format!("no search for {job}"))?;
        let create = exchanges
            .iter()
            .find(|e| e.answered == created.at)
            .with_context(|| format!("no create for {job}"))?;
        to_first_request.push(millis(search.received.duration_since(sent)));
        searches.push(millis(search.answered.duration_since(search.received)));
        creates.push(millis(create.answered.duration_since(create.received)));
        // The worker still reads the ticket back and stores the reference: the next
        // alert starts when this one is done, so each is measured on an idle worker.
        wait_for("the reference stored", Duration::from_secs(60), || {
            let stored: i64 = collector
                .db()
                .ok()?
                .query_row("SELECT COUNT(*) FROM alert_tickets", [], |row| row.get(0))
                .ok()?;
            (stored == failed as i64).then_some(())
        })?;
    }

    let creations = proxy.creations();
    ensure!(
        creations.len() == ALERTS,
        "{} tickets created for {ALERTS} alerts",
        creations.len()
    );
    let tickets = rt.tickets_with_key_containing(&device)?;
    ensure!(tickets.len() == ALERTS, "{} tickets in RT", tickets.len());

    let mut sorted = latencies.clone();
    sorted.sort_by(f64::total_cmp);
    let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
    println!(
        "report -> RT ticket over {ALERTS} alerts (sequential): median {:.1} ms, p99 {:.1} ms, min {:.1} ms, max {:.1} ms, mean {:.1} ms",
        percentile(&sorted, 50.0),
        percentile(&sorted, 99.0),
        sorted[0],
        sorted.last().context("no samples")?,
        mean,
    );
    for (what, mut values) in [
        ("report ack (gRPC round trip)", acks),
        ("report -> collector's first RT request", to_first_request),
        ("RT answering the search", searches),
        ("RT answering the create", creates),
    ] {
        values.sort_by(f64::total_cmp);
        println!(
            "  {what}: median {:.1} ms, p99 {:.1} ms",
            percentile(&values, 50.0),
            percentile(&values, 99.0)
        );
    }
    Ok(())
}
