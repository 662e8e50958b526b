//! Issue 11 part 4: two collector processes on one PostgreSQL schema, sharing
//! their CA and keys (docs/scaling.md), devices spread across both, a real
//! Request Tracker as the ticket system; one collector is killed (SIGKILL)
//! mid-load. Its devices go on with the survivor, as agents behind a load
//! balancer do, resending what was not acknowledged. Then: every
//! acknowledged report is stored once, no ticket is opened twice, and the
//! survivor takes over the sweeper (devices that go quiet are reported
//! offline).
//!
//! PostgreSQL comes from `FOREWARN_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); the test runs in a schema of
//! its own, dropped at its end.

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use forewarn_agent::transport;
use forewarn_e2e::{CollectorProcess, wait_for};
use forewarn_loadgen::identities::{self, Collector, Enrolled};
use forewarn_loadgen::run;
use forewarn_loadgen::synth::Device;
use forewarn_proto::pb;
use forewarn_testkit::request_tracker::RequestTracker;

const DEVICES: u32 = 8;
/// Reports each device sends; the first collector dies after about a third.
const REPORTS: u64 = 30;
const REPORT_EVERY: Duration = Duration::from_millis(100);
const KILL_AFTER: Duration = Duration::from_millis(1200);
const TIMEOUT: Duration = Duration::from_secs(60);
/// The fleet's offline level: `warning = 0.25` (minutes) in the config.
const OFFLINE_LEVEL_SECS: i64 = 15;
/// How long after its level a quiet device may wait for the sweep that
/// reports it offline: the sweep runs every second; the rest is for a
/// loaded machine.
const SWEEP_SLACK_SECS: i64 = 10;

/// A schema of its own on the test server, dropped when this is.
struct Schema {
    server: String,
    name: String,
}

impl Schema {
    async fn create() -> Result<Self> {
        let server = std::env::var("FOREWARN_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let name = format!("forewarn_failover_{}", std::process::id());
        admin(&server)
            .await?
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
            ))
            .await
            .with_context(|| format!("cannot create schema {name} at {server}"))?;
        Ok(Self { server, name })
    }

    /// The URL collectors use: this schema as every connection's search path.
    fn url(&self) -> String {
        let separator = if self.server.contains('?') { '&' } else { '?' };
        format!(
            "{}{separator}options=-csearch_path%3D{}",
            self.server, self.name
        )
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Drop may run inside the test's runtime: a thread of its own drops the schema.
        let _ = std::thread::spawn(move || {
            forewarn_testkit::runtime().block_on(async {
                if let Ok(client) = admin(&server).await {
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                        .await;
                }
            })
        })
        .join();
    }
}

async fn admin(url: &str) -> Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| {
            format!("PostgreSQL is not reachable at {url}; set FOREWARN_TEST_POSTGRES_URL")
        })?;
    tokio::spawn(connection);
    Ok(client)
}

/// What one device had acknowledged, and by which collector.
#[derive(Debug)]
struct Sent {
    device_id: String,
    last_acked: u64,
    /// It moved to the other collector.
    moved: bool,
    /// Its backup jobs that failed in every report (each opens a ticket).
    failing_jobs: usize,
}

/// Sends `REPORTS` reports, each a change, starting on `first`; when a call
/// fails, moves to `other` and sends the same report again until it is
/// acknowledged (an agent reconnecting through a load balancer).
async fn drive(enrolled: Enrolled, first: String, other: String, fail: bool) -> Result<Sent> {
    let state = &enrolled.state;
    let client = |url: &str| -> Result<_> {
        Ok(transport::ingest_client(transport::channel(
            url,
            &state.enrollment.server_name,
            &state.ca_pem,
            Some(&state.identity),
        )?))
    };
    let device_id = state.enrollment.device_id.clone();
    let mut device = Device::new(enrolled.index, forewarn_collector::clock::now_unix());
    let boot_id = 1 + u64::from(enrolled.index);
    let mut current = client(&first)?;
    let mut moved = false;
    let mut last_acked = 0;
    let mut failing_jobs = 0;
    for seq in 1..=REPORTS {
        let now = forewarn_collector::clock::now_unix();
        device.change(now);
        let mut report = device.report(&device_id, &enrolled.policy_version, seq, boot_id, now);
        if fail && let Some(backups) = report.backups.as_mut() {
            for job in &mut backups.jobs {
                job.result = pb::BackupResult::Failed as i32;
                job.message = "repository locked".into();
            }
            failing_jobs = backups.jobs.len();
        }
        let mut attempts = 0;
        let ack = loop {
            match current.report(report.clone()).await {
                Ok(ack) => break ack.into_inner(),
                Err(status) if attempts < 50 => {
                    attempts += 1;
                    if !moved {
                        moved = true;
                        current = client(&other)?;
                    } else {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    let _ = status;
                }
                Err(status) => bail!("{device_id}: report {seq} never acknowledged: {status}"),
            }
        };
        ensure!(
            ack.acked_seq == seq,
            "{device_id}: report {seq} acknowledged as {}",
            ack.acked_seq
        );
        last_acked = seq;
        tokio::time::sleep(REPORT_EVERY).await;
    }
    Ok(Sent {
        device_id,
        last_acked,
        moved,
        failing_jobs,
    })
}

#[test]
fn killing_one_of_two_collectors_loses_nothing_duplicates_nothing_and_moves_the_sweeper()
-> Result<()> {
    let runtime = forewarn_testkit::runtime();
    let schema = runtime.block_on(Schema::create())?;
    let rt = RequestTracker::start()?;
    let work = tempfile::tempdir()?;
    let token_file = rt.bot_token_file(work.path())?;
    let shared = format!(
        "store = \"{}\"\nsweep_interval_secs = 1\n\
         [groups.fleet.rules.offline_minutes]\nwarning = 0.25\n{}",
        schema.url(),
        rt.tickets_config(&rt.url(), &token_file, "")
    );
    let mut first = CollectorProcess::start(&shared)?;
    let pki = first.dir.path().join("data/pki");
    let second = CollectorProcess::start(&format!(
        "{shared}\n[tls]\nca_cert = {:?}\nca_key = {:?}\nserver_cert = {:?}\nserver_key = {:?}\n",
        pki.join("ca.pem"),
        pki.join("ca-key.pem"),
        pki.join("server.pem"),
        pki.join("server-key.pem"),
    ))?;

    let token = first.create_token("fleet", "1h", Some(DEVICES))?;
    let cache = tempfile::tempdir()?;
    let collector = Collector {
        address: run::address(&first.url())?,
        ca_pem: first.ca_pem()?,
        token: Some(token),
    };
    let (devices, _) = runtime.block_on(identities::load_or_enroll(
        &collector,
        cache.path(),
        DEVICES,
        4,
    ))?;

    // Half the devices start on each collector; half of each half has a
    // failing backup job, which opens a ticket.
    let (a, b) = (first.url(), second.url());
    let tasks: Vec<_> = devices
        .into_iter()
        .map(|enrolled| {
            let (start, other) = if enrolled.index % 2 == 0 {
                (a.clone(), b.clone())
            } else {
                (b.clone(), a.clone())
            };
            let fail = enrolled.index % 4 < 2;
            runtime.spawn(drive(enrolled, start, other, fail))
        })
        .collect();
    std::thread::sleep(KILL_AFTER);
    let pid = first.pid().context("first collector running")?;
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).context("collector pid")?,
        rustix::process::Signal::KILL,
    )?;
    first.wait_killed(Duration::from_secs(10))?;
    let mut sent = Vec::new();
    for task in tasks {
        sent.push(runtime.block_on(task)??);
    }
    ensure!(
        sent.iter().filter(|s| s.moved).count() >= (DEVICES / 2) as usize,
        "the devices of the killed collector moved to the survivor: {sent:?}"
    );

    runtime.block_on(async {
        // Nothing lost, nothing stored twice: every acknowledged seq, once.
        let db = admin(&schema.url()).await?;
        for s in &sent {
            let seqs: Vec<i64> = db
                .query(
                    "SELECT seq FROM status_history WHERE device_id = $1 ORDER BY seq",
                    &[&s.device_id],
                )
                .await?
                .iter()
                .map(|row| row.get(0))
                .collect();
            let expected: Vec<i64> = (1..=s.last_acked as i64).collect();
            ensure!(seqs == expected, "{}: stored seqs {seqs:?}", s.device_id);
            let last: i64 = db
                .query_one("SELECT last_seq FROM devices WHERE id = $1", &[&s.device_id])
                .await?
                .get(0);
            ensure!(last == s.last_acked as i64, "{}: last_seq {last}", s.device_id);
        }
        // Only the survivor runs the sweeper now: every device, quiet since
        // the load ended, is reported offline. Until it is, each device must
        // be due for the sweeper by the time it has been quiet for its
        // offline level (`next_sweep_at` is what the sweeper goes by).
        wait_for_async("every device reported offline by the survivor", || async {
            let late = not_due_by_their_offline_level(&db).await.ok()?;
            if !late.is_empty() {
                return Some(Err(anyhow::anyhow!(
                    "devices not reported offline are not due for the sweeper by their offline level: {late:?}"
                )));
            }
            let offline: i64 = db
                .query_one(
                    "SELECT count(*) FROM alerts WHERE rule = 'offline_minutes' AND severity IS NOT NULL",
                    &[],
                )
                .await
                .ok()?
                .get(0);
            (offline == i64::from(DEVICES)).then_some(Ok(()))
        })
        .await??;
        // And each was reported offline by a sweep soon after its level,
        // not by a later full sweep.
        let slow: Vec<(String, i64)> = db
            .query(
                "SELECT d.id, a.first_seen - d.last_seen_at FROM devices d
                 JOIN alerts a ON a.device_id = d.id AND a.rule = 'offline_minutes'
                 WHERE a.first_seen > d.last_seen_at + $1",
                &[&(OFFLINE_LEVEL_SECS + SWEEP_SLACK_SECS)],
            )
            .await?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        ensure!(
            slow.is_empty(),
            "reported offline more than {SWEEP_SLACK_SECS} s after the {OFFLINE_LEVEL_SECS} s level (device, seconds quiet): {slow:?}"
        );
        Ok::<_, anyhow::Error>(())
    })?;

    // One ticket per failing backup job, none opened twice.
    let failing: Vec<&Sent> = sent.iter().filter(|s| s.failing_jobs > 0).collect();
    ensure!(!failing.is_empty(), "some devices have failing backup jobs");
    for s in failing {
        let key = format!("{}/backup_failed/", s.device_id);
        wait_for("a ticket for each failing job", TIMEOUT, || {
            let tickets = rt.tickets_with_key_containing(&key).ok()?;
            (tickets.len() >= s.failing_jobs).then_some(())
        })?;
        // Give a duplicate delivery the time to show up.
        std::thread::sleep(Duration::from_secs(2));
        let tickets = rt.tickets_with_key_containing(&key)?;
        ensure!(
            tickets.len() == s.failing_jobs,
            "{key}: {} failing jobs, tickets {tickets:?}",
            s.failing_jobs
        );
        let mut keys: Vec<&String> = tickets.iter().flat_map(|t| &t.alert_keys).collect();
        keys.sort();
        keys.dedup();
        ensure!(
            keys.len() == s.failing_jobs,
            "{key}: a job's ticket opened twice: {tickets:?}"
        );
    }
    drop(second);
    Ok(())
}

/// The devices not reported offline that are not due for the sweeper by the
/// second their offline level is reached, with their last report, next
/// sweep and last plan times. (A device reported offline at its only level
/// is next due when something else changes with time, a backup job's
/// dead-man level about a day later: that is not late.) Read in one
/// statement, so in one snapshot: a device row and its alert as one plan
/// left them, never a plan's device row beside the alerts from before it.
async fn not_due_by_their_offline_level(
    db: &tokio_postgres::Client,
) -> Result<Vec<(String, i64, Option<i64>, Option<i64>)>> {
    Ok(db
        .query(
            "SELECT d.id, d.last_seen_at, d.next_sweep_at, d.planned_at FROM devices d
             WHERE d.last_seen_at IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.device_id = d.id
                                 AND a.rule = 'offline_minutes' AND a.severity IS NOT NULL)
               AND (d.next_sweep_at IS NULL OR d.next_sweep_at > d.last_seen_at + $1)",
            &[&OFFLINE_LEVEL_SECS],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
        .collect())
}

/// Polls an async `probe` until it returns `Some`, or fails after [`TIMEOUT`].
async fn wait_for_async<T, F>(what: &str, mut probe: impl FnMut() -> F) -> Result<T>
where
    F: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = probe().await {
            return Ok(value);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("timed out after {TIMEOUT:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
