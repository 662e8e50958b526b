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
//! A second measurement sends the 100 failures in one report (a burst).
//!
//! Run: `cargo nextest run -p forewarn-e2e --test tickets_latency --run-ignored only --no-capture --test-threads 1`

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use forewarn_collector::clock::now_unix;
use forewarn_e2e::{Agent, CollectorProcess, wait_for};
use forewarn_proto::pb;
use forewarn_proto::pb::ingest_client::IngestClient;
use forewarn_testkit::request_tracker::RequestTracker;
use forewarn_testkit::runtime;
use forewarn_testkit::ticket_proxy::TicketProxy;

const ALERTS: usize = 100;

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

/// RT, the proxy, a collector ticketing through it with the default outbox
/// timings, and one enrolled device whose mTLS channel the test reports on.
struct Bench {
    rt: RequestTracker,
    proxy: TicketProxy,
    collector: CollectorProcess,
    device: String,
    client: IngestClient<tonic::transport::Channel>,
    _agent: Agent,
    _work: tempfile::TempDir,
}

impl Bench {
    fn start() -> Result<Self> {
        let rt = RequestTracker::start()?;
        let proxy = TicketProxy::start(rt.port)?;
        let work = tempfile::tempdir()?;
        let token_file = rt.bot_token_file(work.path())?;
        let connector = format!(
            "\n[tickets.connectors.rt]\nkind = \"request_tracker\"\nurl = \"{}\"\n\
             token = {{ file = {:?} }}\nqueue = \"{}\"\n",
            proxy.rt_url(),
            token_file.display().to_string(),
            forewarn_testkit::request_tracker::QUEUE,
        );
        let collector = CollectorProcess::start(&connector)?;
        let token = collector.create_token("laptops", "1h", Some(1))?;
        let agent = Agent::new()?;
        let device = agent.enroll_ok(&collector, &token)?;
        let mut client = runtime()
            .block_on(async { anyhow::Ok(IngestClient::new(agent.channel(&collector).await?)) })?;
        // All jobs fine first, so the alerts come only from the measured reports.
        runtime().block_on(client.report(report(1, 0)))?;
        Ok(Self {
            rt,
            proxy,
            collector,
            device,
            client,
            _agent: agent,
            _work: work,
        })
    }

    fn key(&self, index: usize) -> String {
        format!("{}/backup_failed/job-{index:03}", self.device)
    }

    /// Sends a report with jobs `0..failed` failed; returns when it was sent and the ack time.
    fn send(&mut self, seq: u64, failed: usize) -> Result<(Instant, f64)> {
        let sent = Instant::now();
        runtime().block_on(self.client.report(report(seq, failed)))?;
        Ok((sent, millis(sent.elapsed())))
    }

    /// One ticket per alert in RT, and the proxy saw each created once.
    fn check_one_ticket_each(&self) -> Result<()> {
        let creations = self.proxy.creations();
        ensure!(
            creations.len() == ALERTS,
            "{} tickets created for {ALERTS} alerts",
            creations.len()
        );
        let tickets = self.rt.tickets_with_key_containing(&self.device)?;
        ensure!(tickets.len() == ALERTS, "{} tickets in RT", tickets.len());
        Ok(())
    }
}

/// Prints median and p99 (and for the headline, min, max and mean) of `values` in ms.
fn print_figures(what: &str, mut values: Vec<f64>, headline: bool) -> Result<()> {
    values.sort_by(f64::total_cmp);
    let (median, p99) = (percentile(&values, 50.0), percentile(&values, 99.0));
    if headline {
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let max = values.last().context("no samples")?;
        println!(
            "{what}: median {median:.1} ms, p99 {p99:.1} ms, min {:.1} ms, max {max:.1} ms, mean {mean:.1} ms",
            values[0]
        );
    } else {
        println!("  {what}: median {median:.1} ms, p99 {p99:.1} ms");
    }
    Ok(())
}

#[test]
#[ignore = "measurement: run explicitly (see the module docs)"]
fn latency_from_failing_report_to_rt_ticket_over_100_alerts() -> Result<()> {
    let mut bench = Bench::start()?;
    let mut latencies = Vec::with_capacity(ALERTS);
    let mut acks = Vec::with_capacity(ALERTS);
    let mut to_first_request = Vec::with_capacity(ALERTS);
    let mut searches = Vec::with_capacity(ALERTS);
    let mut creates = Vec::with_capacity(ALERTS);
    for failed in 1..=ALERTS {
        let job = format!("job-{:03}", failed - 1);
        let key = bench.key(failed - 1);
        let (sent, ack) = bench.send(failed as u64 + 1, failed)?;
        acks.push(ack);
        let created = wait_for(
            &format!("ticket for {key}"),
            Duration::from_secs(60),
            || bench.proxy.creations().into_iter().find(|c| c.key == key),
        )?;
        latencies.push(millis(created.at.duration_since(sent)));
        // The search's query string carries the key URL-encoded; the job name is plain.
        let exchanges = bench.proxy.exchanges();
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
            let store = bench.collector.store().ok()?;
            let alerts = bench.collector.alerts(&bench.device).ok()?;
            let stored = alerts
                .iter()
                .filter(|alert| {
                    matches!(
                        runtime().block_on(store.alert_ticket(alert.id)),
                        Ok(Some(_))
                    )
                })
                .count();
            (stored == failed).then_some(())
        })?;
    }
    bench.check_one_ticket_each()?;

    print_figures(
        &format!("report -> RT ticket over {ALERTS} alerts (sequential)"),
        latencies,
        true,
    )?;
    print_figures("report ack (gRPC round trip)", acks, false)?;
    print_figures(
        "report -> collector's first RT request",
        to_first_request,
        false,
    )?;
    print_figures("RT answering the search", searches, false)?;
    print_figures("RT answering the create", creates, false)
}

/// The same 100 alerts arriving in one report: what queueing adds when a bad
/// night fails every job at once (the worker delivers several in parallel; RT
/// runs two server workers).
#[test]
#[ignore = "measurement: run explicitly (see the module docs)"]
fn latency_of_100_alerts_arriving_in_one_report() -> Result<()> {
    let mut bench = Bench::start()?;
    let (sent, _) = bench.send(2, ALERTS)?;
    let keys: Vec<String> = (0..ALERTS).map(|i| bench.key(i)).collect();
    let creations = wait_for("all tickets", Duration::from_secs(600), || {
        let creations = bench.proxy.creations();
        (creations.len() >= ALERTS).then_some(creations)
    })?;
    let latencies = keys
        .iter()
        .map(|key| {
            let created = creations
                .iter()
                .find(|c| c.key == *key)
                .with_context(|| format!("no ticket for {key}"))?;
            Ok(millis(created.at.duration_since(sent)))
        })
        .collect::<Result<Vec<f64>>>()?;
    bench.check_one_ticket_each()?;
    print_figures(
        &format!("report -> RT ticket for {ALERTS} alerts in one report (burst)"),
        latencies,
        true,
    )
}
