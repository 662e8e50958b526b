//! Auto-ticketing end to end: a real agent reports a backup job's status file
//! that the test rewrites, over real mTLS, to a real collector whose outbox
//! worker drives the Request Tracker connector against a real Request Tracker 5
//! (`.ci/rt/start.sh`, one private instance per test). Between the collector and
//! RT sits the test's HTTP proxy (`forewarn_testkit::ticket_proxy`), which records
//! ticket creations and plays the failures: RT down, a crash at the worst moment.
//!
//! Needs root (RT's server runs as www-data) and `.ci/rt/install.sh` (`.ci/run deps`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use forewarn_e2e::{Agent, CollectorProcess, metric, wait_for};
use forewarn_proto::pb;
use forewarn_testkit::request_tracker::{RequestTracker, Ticket};
use forewarn_testkit::ticket_proxy::TicketProxy;

const TIMEOUT: Duration = Duration::from_secs(30);

/// Reports every second, so "the same failure reported again" takes seconds;
/// backup failures are critical here so the priority map's top entry is checked.
const COLLECTOR: &str = "report_interval_secs = 1\nsweep_interval_secs = 1\n\
    [rules.backup_failed]\nseverity = \"critical\"\n";

/// One scenario: RT, the proxy in front of it, a collector ticketing through the
/// proxy, and a running agent watching one status file per backup job.
struct Scenario {
    // Declared first so it stops first: no agent report or collector delivery
    // outlives the RT it talks to.
    _agent: Agent,
    collector: CollectorProcess,
    proxy: TicketProxy,
    rt: RequestTracker,
    device: String,
    work: tempfile::TempDir,
}

impl Scenario {
    /// Everything running, each job's first run reported as a success.
    fn start(jobs: &[&str]) -> Result<Self> {
        Self::start_with(jobs, "")
    }

    /// Like [`Scenario::start`], with more `[tickets]` keys.
    fn start_with(jobs: &[&str], tickets: &str) -> Result<Self> {
        let rt = RequestTracker::start()?;
        let proxy = TicketProxy::start(rt.port)?;
        let work = tempfile::tempdir()?;
        let token_file = rt.bot_token_file(work.path())?;
        let collector = CollectorProcess::start(&format!(
            "{COLLECTOR}{}",
            rt.tickets_config(&proxy.rt_url(), &token_file, tickets)
        ))?;
        let token = collector.create_token("laptops", "1h", Some(1))?;
        let mut agent = Agent::new()?;
        let device = agent.enroll_ok(&collector, &token)?;

        let mut config = String::from(
            "# No patch probe: these tests are about backups, not this host's apt.\n\
             [checks.patches]\npackage_manager = \"none\"\n",
        );
        for job in jobs {
            let path = status_file(work.path(), job);
            write_status(&path, job, "success", "ok")?;
            config.push_str(&format!(
                "\n[[checks.backups.jobs]]\nname = \"{job}\"\nkind = \"status-file\"\npath = {:?}\n",
                path.display().to_string()
            ));
        }
        let config_path = work.path().join("agent.toml");
        std::fs::write(&config_path, config)?;
        agent.start_with_config(&config_path)?;
        let scenario = Self {
            _agent: agent,
            collector,
            proxy,
            rt,
            device,
            work,
        };
        for job in jobs {
            scenario.wait_job(job, pb::BackupResult::Success)?;
        }
        Ok(scenario)
    }

    /// A new run of `job` finished with `status` ("success" or "failed").
    fn run_job(&self, job: &str, status: &str, message: &str) -> Result<()> {
        write_status(&status_file(self.work.path(), job), job, status, message)
    }

    /// Waits until the collector has a report with `job` in state `result`.
    fn wait_job(&self, job: &str, result: pb::BackupResult) -> Result<pb::StatusReport> {
        wait_for(&format!("{job} reported {result:?}"), TIMEOUT, || {
            let report = self.collector.latest_report(&self.device).ok()??;
            let found =
                report.backups.as_ref()?.jobs.iter().any(|j| {
                    j.name == job && j.result == result as i32 && j.probe_error.is_empty()
                });
            found.then_some(report)
        })
    }

    fn key(&self, job: &str) -> String {
        format!("{}/backup_failed/{job}", self.device)
    }

    /// Waits for the one ticket of `job`'s failure to satisfy `done`.
    fn wait_ticket(&self, job: &str, what: &str, done: impl Fn(&Ticket) -> bool) -> Result<Ticket> {
        let key = self.key(job);
        wait_for(what, TIMEOUT, || {
            self.rt.ticket_with_key(&key).ok().flatten().filter(&done)
        })
        .with_context(|| format!("RT log:\n{}", self.rt.log()))
    }

    /// (id, state, summary) of the `backup_failed` alert of `job`.
    fn alert(&self, job: &str) -> Option<(i64, String, String)> {
        let alert = self
            .collector
            .alert(&self.device, "backup_failed", job)
            .ok()??;
        Some((alert.id, alert.status.as_str().to_owned(), alert.summary))
    }

    /// RT's ticket number stored on the alert, if the collector stored one.
    fn stored_ticket(&self, alert_id: i64) -> Option<String> {
        let ticket = self.collector.alert_ticket(alert_id).ok()??;
        Some(ticket.reference.id)
    }

    /// How the collector closed its record of the alert's ticket (`resolved`,
    /// `left_open`), `None` while it still tracks it.
    fn closed_as(&self, alert_id: i64) -> Option<String> {
        self.collector
            .db()
            .ok()?
            .query_row(
                "SELECT t.closed_as FROM alert_tickets a JOIN tickets t ON t.id = a.ticket_id WHERE a.alert_id = ?1",
                [alert_id],
                |row| row.get(0),
            )
            .ok()?
    }

    /// Undelivered ticket operations, as `/metrics` shows them.
    fn backlog(&self) -> Result<f64> {
        let text = self.collector.metrics()?;
        let pending = metric(&text, "forewarn_outbox_rows{state=\"pending\"}")
            .with_context(|| format!("no pending outbox rows in /metrics:\n{text}"))?;
        let claimed = metric(&text, "forewarn_outbox_rows{state=\"claimed\"}").unwrap_or(0.0);
        Ok(pending + claimed)
    }

    /// `forewarn_ticketing_failing` on `/metrics`: 1 while the collector's own
    /// "ticketing is failing" alert is raised.
    fn ticketing_failing(&self) -> Option<f64> {
        metric(
            &self.collector.metrics().ok()?,
            "forewarn_ticketing_failing",
        )
    }

    /// Whether `alerts list --state firing` shows the `ticketing_failing` alert.
    fn failing_alert_listed(&self) -> Result<bool> {
        let listed = self
            .collector
            .admin(&["alerts", "list", "--state", "firing"])?;
        ensure!(
            listed.status.success(),
            "{}",
            String::from_utf8_lossy(&listed.stderr)
        );
        Ok(String::from_utf8_lossy(&listed.stdout).contains("ticketing_failing"))
    }

    fn hostname(&self) -> Result<String> {
        let report = self
            .collector
            .latest_report(&self.device)?
            .context("no report")?;
        Ok(report.host.context("no host facts")?.hostname)
    }

    /// Reports the collector has received from the device so far.
    fn seq(&self) -> u64 {
        self.collector
            .latest_report(&self.device)
            .ok()
            .flatten()
            .map_or(0, |r| r.seq)
    }
}

fn status_file(dir: &Path, job: &str) -> PathBuf {
    dir.join(format!("{job}.json"))
}

/// Writes a status file the documented way (aside, then rename), timestamped now.
fn write_status(path: &Path, job: &str, status: &str, message: &str) -> Result<()> {
    let now = time::OffsetDateTime::now_utc().format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))?;
    let text = serde_json::json!({
        "job": job,
        "status": status,
        "started_at": now,
        "finished_at": now,
        "message": message,
    });
    let aside = path.with_extension("json.tmp");
    std::fs::write(&aside, text.to_string())?;
    std::fs::rename(&aside, path)?;
    Ok(())
}

/// The harness itself: what the crash and outage tests rely on the proxy for.
#[test]
fn proxy_relays_to_rt_records_creations_answers_503_while_down_and_kills_on_create() -> Result<()> {
    let rt = RequestTracker::start()?;
    let proxy = TicketProxy::start(rt.port)?;
    let create = |key: &str| -> Result<u16> {
        let body = serde_json::json!({
            "Queue": forewarn_testkit::request_tracker::QUEUE,
            "Subject": "proxy check",
            "CustomFields": { "AlertKey": key },
        });
        forewarn_testkit::runtime().block_on(async {
            let response = forewarn_testkit::http_client()
                .post(format!("{}/REST/2.0/ticket", proxy.rt_url()))
                .header("Authorization", format!("token {}", rt.bot_token()))
                .json(&body)
                .send()
                .await?;
            Ok(response.status().as_u16())
        })
    };
    assert_eq!(create("proxy/one")?, 201);
    let created = proxy.creations();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].key, "proxy/one");
    let ticket = rt.ticket_with_key("proxy/one")?.context("not in RT")?;
    assert_eq!(ticket.id, created[0].ticket_id);

    proxy.set_down(true);
    assert_eq!(create("proxy/two")?, 503);
    assert_eq!(proxy.refused(), 1);
    assert_eq!(rt.ticket_with_key("proxy/two")?, None);
    proxy.set_down(false);

    let mut victim = std::process::Command::new("sleep").arg("60").spawn()?;
    proxy.kill_on_next_create(victim.id());
    assert_eq!(create("proxy/three")?, 201);
    let status = victim.wait()?;
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "{status}"
    );
    assert!(proxy.killed());
    assert_eq!(proxy.creations().len(), 2);
    Ok(())
}

#[test]
fn failed_backup_opens_one_ticket_repeats_do_not_duplicate_and_recovery_resolves_it() -> Result<()>
{
    let s = Scenario::start(&["nightly"])?;
    assert!(s.rt.tickets_with_key_containing(&s.device)?.is_empty());

    s.run_job("nightly", "failed", "destination full")?;
    let ticket = s.wait_ticket("nightly", "a ticket for the failed backup", |_| true)?;
    let (alert_id, state, summary) = s.alert("nightly").context("no backup_failed alert")?;
    assert_eq!(state, "firing");
    assert!(summary.ends_with(": destination full"), "{summary}");
    assert_eq!(
        ticket.subject,
        format!("[critical] {}: {summary}", s.hostname()?)
    );
    // Critical maps to the top of RT's default priority map.
    assert_eq!(ticket.priority, "90");
    assert_eq!(ticket.alert_keys, [s.key("nightly")]);
    assert_eq!(ticket.status, "new");
    wait_for("the reference stored on the alert", TIMEOUT, || {
        s.stored_ticket(alert_id).filter(|id| *id == ticket.id)
    })?;

    // The job fails again on its next runs, and the agent keeps reporting it.
    let seq = s.seq();
    s.run_job("nightly", "failed", "destination full")?;
    wait_for("three more reports", TIMEOUT, || {
        (s.seq() >= seq + 3).then_some(())
    })?;
    let tickets = s.rt.tickets_with_key_containing(&s.device)?;
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    let comments = s.rt.bot_comments(&ticket.id)?;
    assert!(comments.len() <= 1, "{comments:?}");

    // The next run succeeds: a closing comment, and the ticket is resolved.
    s.run_job("nightly", "success", "ok")?;
    let resolved = s.wait_ticket("nightly", "the ticket resolved", |t| t.status == "resolved")?;
    assert_eq!(resolved.id, ticket.id);
    let after = s.rt.bot_comments(&ticket.id)?;
    assert_eq!(after.len(), comments.len() + 1, "{after:?}");
    assert!(after.last().unwrap().contains("cleared"), "{after:?}");
    assert_eq!(s.alert("nightly").map(|a| a.1).as_deref(), Some("resolved"));
    wait_for("the ticket closed as resolved", TIMEOUT, || {
        s.closed_as(alert_id).filter(|c| c == "resolved")
    })?;
    assert_eq!(s.rt.tickets_with_key_containing(&s.device)?.len(), 1);
    assert_eq!(s.proxy.creations().len(), 1, "{:?}", s.proxy.creations());
    Ok(())
}

#[test]
fn technician_reply_keeps_the_ticket_open_on_recovery_with_a_comment() -> Result<()> {
    let s = Scenario::start(&["nightly"])?;
    s.run_job("nightly", "failed", "repository locked")?;
    let ticket = s.wait_ticket("nightly", "a ticket for the failed backup", |_| true)?;
    let (alert_id, ..) = s.alert("nightly").context("no backup_failed alert")?;
    wait_for("the reference stored on the alert", TIMEOUT, || {
        s.stored_ticket(alert_id)
    })?;

    s.rt.technician_replies(
        &ticket.id,
        "Looking into it, please leave the laptop on tonight.",
    )?;
    let before = s.rt.bot_comments(&ticket.id)?;

    s.run_job("nightly", "success", "ok")?;
    let comments = wait_for("the collector's recovery comment", TIMEOUT, || {
        let comments = s.rt.bot_comments(&ticket.id).ok()?;
        (comments.len() > before.len()).then_some(comments)
    })?;
    let last = comments.last().unwrap();
    assert!(
        last.contains("cleared") && last.contains("left open"),
        "{last}"
    );
    // The delivery is done (nothing left to retry) and the ticket stays the technician's.
    wait_for("the outbox drained", TIMEOUT, || {
        (s.backlog().ok()? == 0.0).then_some(())
    })?;
    let ticket =
        s.rt.ticket_with_key(&s.key("nightly"))?
            .context("ticket gone")?;
    assert_eq!(ticket.status, "open", "{ticket:?}");
    assert_eq!(s.closed_as(alert_id).as_deref(), Some("left_open"));
    let history = s.rt.history(&ticket.id)?;
    assert!(
        history
            .iter()
            .all(|t| !(t.kind == "Status" && t.creator == "forewarn-bot")),
        "the collector changed the status: {history:?}"
    );
    Ok(())
}

#[test]
fn collector_killed_between_ticket_created_and_reference_stored_still_has_one_ticket() -> Result<()>
{
    let mut s = Scenario::start(&["nightly"])?;
    let pid = s.collector.pid().context("collector not running")?;
    s.proxy.kill_on_next_create(pid);

    s.run_job("nightly", "failed", "destination full")?;
    let status = s.collector.wait_killed(TIMEOUT)?;
    assert!(s.proxy.killed(), "the collector ended by itself: {status}");
    let created = s.proxy.creations();
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0].key, s.key("nightly"));
    let (alert_id, state, _) = s.alert("nightly").context("no backup_failed alert")?;
    assert_eq!(state, "firing");
    assert_eq!(
        s.stored_ticket(alert_id),
        None,
        "reference stored before the kill"
    );
    let ticket =
        s.rt.ticket_with_key(&s.key("nightly"))?
            .context("RT has no ticket")?;
    assert_eq!(ticket.id, created[0].ticket_id);

    // Same data directory: the claimed row's lease runs out, the row is delivered
    // again, and the search by key finds the ticket RT already has.
    s.collector.start_again()?;
    let stored = wait_for("the reference stored after the restart", TIMEOUT, || {
        s.stored_ticket(alert_id)
    })?;
    assert_eq!(stored, ticket.id);
    assert_eq!(s.proxy.creations().len(), 1, "{:?}", s.proxy.creations());
    let tickets = s.rt.tickets_with_key_containing(&s.device)?;
    assert_eq!(tickets.len(), 1, "{tickets:?}");

    // And it is that ticket that recovery resolves.
    s.run_job("nightly", "success", "ok")?;
    let resolved = s.wait_ticket("nightly", "the ticket resolved", |t| t.status == "resolved")?;
    assert_eq!(resolved.id, ticket.id);
    Ok(())
}

#[test]
fn ticket_system_down_queues_operations_and_delivers_all_once_when_back() -> Result<()> {
    // Undelivered work older than 5 s raises the collector's own alert.
    let s = Scenario::start_with(&["nightly", "offsite"], "max_delivery_age_secs = 5")?;
    assert_eq!(s.ticketing_failing(), Some(0.0));
    s.proxy.set_down(true);

    // While RT is down: two jobs fail, one of them recovers again.
    s.run_job("nightly", "failed", "destination full")?;
    s.run_job("offsite", "failed", "network unreachable")?;
    wait_for("both alerts firing", TIMEOUT, || {
        let nightly = s.alert("nightly")?;
        let offsite = s.alert("offsite")?;
        (nightly.1 == "firing" && offsite.1 == "firing").then_some(())
    })?;
    s.run_job("offsite", "success", "ok")?;
    wait_for("offsite resolved while RT is down", TIMEOUT, || {
        s.alert("offsite").filter(|a| a.1 == "resolved")
    })?;
    // Opened, opened, resolved: all waiting, retried against a 503 more than once.
    wait_for(
        "the backlog on /metrics and retries refused",
        TIMEOUT,
        || (s.backlog().ok()? == 3.0 && s.proxy.refused() >= 4).then_some(()),
    )?;
    let text = s.collector.metrics()?;
    assert!(
        metric(&text, "forewarn_outbox_oldest_undelivered_age_seconds").is_some(),
        "{text}"
    );
    assert!(s.proxy.creations().is_empty());
    assert!(s.rt.tickets_with_key_containing(&s.device)?.is_empty());
    wait_for("the ticketing-is-failing alert", TIMEOUT, || {
        (s.ticketing_failing()? == 1.0).then_some(())
    })?;
    assert!(s.failing_alert_listed()?, "not in the alert list");

    s.proxy.set_down(false);
    let nightly = s.wait_ticket("nightly", "the nightly ticket", |t| t.status == "new")?;
    let offsite = s.wait_ticket("offsite", "the offsite ticket opened and resolved", |t| {
        t.status == "resolved"
    })?;
    wait_for("the backlog drained", TIMEOUT, || {
        (s.backlog().ok()? == 0.0).then_some(())
    })?;
    wait_for("the ticketing-is-failing alert cleared", TIMEOUT, || {
        (s.ticketing_failing()? == 0.0).then_some(())
    })?;
    assert!(!s.failing_alert_listed()?, "still in the alert list");
    let text = s.collector.metrics()?;
    assert_eq!(
        metric(&text, "forewarn_outbox_rows{state=\"failed\"}").unwrap_or(0.0),
        0.0,
        "{text}"
    );
    let tickets = s.rt.tickets_with_key_containing(&s.device)?;
    assert_eq!(tickets.len(), 2, "{tickets:?}");
    let mut created: Vec<String> = s.proxy.creations().into_iter().map(|c| c.key).collect();
    created.sort();
    assert_eq!(created, [s.key("nightly"), s.key("offsite")]);
    ensure!(nightly.id != offsite.id);
    Ok(())
}

/// `tickets test --connector rt` run as an operator would, against the real RT:
/// the working set-up passes, and a misspelt queue and a revoked token are each
/// told in plain words with a non-zero exit, the token never printed.
#[test]
fn tickets_test_command_passes_on_real_rt_and_names_a_wrong_queue_and_a_bad_token() -> Result<()> {
    let rt = RequestTracker::start()?;
    let work = tempfile::tempdir()?;
    let token_file = rt.bot_token_file(work.path())?;
    let good = rt.tickets_config(&rt.url(), &token_file, "");
    let run = |tickets: &str| -> Result<(bool, String)> {
        let collector = CollectorProcess::start(tickets)?;
        let output = collector.admin(&["tickets", "test", "--connector", "rt"])?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        ensure!(
            !text.contains(rt.bot_token()),
            "the token was printed: {text}"
        );
        Ok((output.status.success(), text))
    };

    let (ok, text) = run(&good)?;
    assert!(ok, "{text}");
    assert!(
        text.contains("credentials and permissions are fine"),
        "{text}"
    );

    let wrong_queue = good.replace(
        &format!("queue = \"{}\"", forewarn_testkit::request_tracker::QUEUE),
        "queue = \"Endpoint Alerst\"",
    );
    ensure!(wrong_queue != good, "the queue line was not replaced");
    let (ok, text) = run(&wrong_queue)?;
    assert!(!ok, "{text}");
    assert!(
        text.contains(
            "problem: queue \"Endpoint Alerst\" does not exist or the token's user lacks SeeQueue on it"
        ),
        "{text}"
    );

    let bad_token = work.path().join("bad-token");
    std::fs::write(&bad_token, "1-99-00000000000000000000000000000000\n")?;
    let (ok, text) = run(&rt.tickets_config(&rt.url(), &bad_token, ""))?;
    assert!(!ok, "{text}");
    assert!(
        text.contains("refused the token: it is wrong, expired or revoked"),
        "{text}"
    );
    assert!(!text.contains("00000000000000000000000000000000"), "{text}");
    Ok(())
}
