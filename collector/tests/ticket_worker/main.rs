//! The outbox worker driven through real SQLite store rows (reports ingested,
//! rules run, outbox written in the same transaction) against a recording
//! connector that stands in for a ticket system: it keeps tickets, comments and
//! statuses in memory and can be told to fail, be down, or crash mid-open.
//! Time is passed to `run_once` explicitly, so backoff is tested without sleeps.

mod harness;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use forewarn_collector::alerts::{AlertFilter, AlertStatus};
use forewarn_collector::rules::RuleId;
use forewarn_collector::store::console::NewAuditEntry;
use forewarn_collector::store::ledger::TicketLedger;
use forewarn_collector::store::outbox::{OutboxDelivery, OutboxState};
use forewarn_collector::store::{NewDevice, Store};
use forewarn_collector::tickets::worker::TicketWorker;

use harness::*;

#[tokio::test]
async fn failed_backup_opens_one_ticket_with_device_facts_and_the_reference_is_stored() {
    let mut f = Fixture::new("").await;
    f.report("d1", T0, &[("nightly", true)], None).await;
    assert_eq!(f.worker().run_once(T0 + 1).await.unwrap(), 1);
    let ticket = f.system.only_ticket();
    assert_eq!(ticket.key, "d1/backup_failed/nightly");
    assert_eq!(
        ticket.subject,
        "[warning] LAPTOP-d1: Backup job nightly on LAPTOP-d1 failed at 2026-11-18 11:05 UTC: Fatal: unable to open repository"
    );
    assert_eq!(ticket.priority, "50");
    for expected in [
        "OS: Debian GNU/Linux 12",
        "Model: ThinkPad T14",
        "Serial: PF3XYZ",
        "User: alice",
        "Dashboard: https://forewarn.example.com/devices/d1",
        "- value: 1",
        "Alert key: d1/backup_failed/nightly",
    ] {
        assert!(
            ticket.body.contains(expected),
            "{expected:?} not in {}",
            ticket.body
        );
    }
    let alert = f.alert_id("d1", RuleId::BackupFailed, "nightly").await;
    assert_eq!(f.stored_ticket(alert).await.as_deref(), Some("1"));
    assert_eq!(f.system.calls(), ["find", "open"]);
    assert_eq!(f.rows(OutboxState::Delivered).await, 1);
}

#[tokio::test]
async fn same_failure_reported_again_opens_no_second_ticket_and_recovery_resolves_it() {
    let mut f = Fixture::new("").await;
    let worker = f.worker();
    f.report("d1", T0, &[("nightly", true)], None).await;
    worker.run_once(T0 + 1).await.unwrap();
    f.report("d1", T0 + 60, &[("nightly", true)], None).await;
    assert_eq!(
        worker.run_once(T0 + 61).await.unwrap(),
        0,
        "no transition, no row"
    );
    f.report("d1", T0 + 120, &[("nightly", false)], None).await;
    worker.run_once(T0 + 121).await.unwrap();
    let ticket = f.system.only_ticket();
    assert!(ticket.resolved);
    assert_eq!(ticket.comments.len(), 1);
    assert!(
        ticket.comments[0].contains("cleared"),
        "{:?}",
        ticket.comments
    );
    assert_eq!(f.system.calls(), ["find", "open", "worked", "resolve"]);
}

#[tokio::test]
async fn escalation_is_a_comment_on_the_same_ticket() {
    let mut f = Fixture::new("[[policies]]\nchecks = [\"disks\"]\n").await;
    let worker = f.worker();
    f.report("d1", T0, &[], Some(8)).await;
    worker.run_once(T0 + 1).await.unwrap();
    f.report("d1", T0 + 60, &[], Some(3)).await;
    worker.run_once(T0 + 61).await.unwrap();
    let ticket = f.system.only_ticket();
    assert_eq!(ticket.comments.len(), 1, "{:?}", ticket.comments);
    assert!(
        ticket.comments[0].starts_with("Forewarn: severity rose from warning to critical"),
        "{:?}",
        ticket.comments
    );
    assert_eq!(f.system.calls(), ["find", "open", "comment"]);
}

#[tokio::test]
async fn crash_between_ticket_created_and_reference_stored_does_not_duplicate() {
    let mut f = Fixture::new("").await;
    f.report("d1", T0, &[("nightly", true)], None).await;
    f.system.state().crash_after_open = true;
    // The worker dies inside `open`, after the ticket system created the ticket.
    f.worker().run_once(T0 + 1).await.unwrap();
    assert_eq!(f.system.tickets().len(), 1);
    let alert = f.alert_id("d1", RuleId::BackupFailed, "nightly").await;
    assert_eq!(f.stored_ticket(alert).await, None);
    assert_eq!(f.rows(OutboxState::Claimed).await, 1);
    // Restarted: nothing happens while the dead worker's lease holds...
    let restarted = f.worker();
    assert_eq!(restarted.run_once(T0 + 60).await.unwrap(), 0);
    // ...then the row is claimed again, `find_open` finds the ticket, none is opened.
    assert_eq!(restarted.run_once(T0 + 1 + 120).await.unwrap(), 1);
    assert_eq!(f.system.tickets().len(), 1);
    assert_eq!(f.system.calls(), ["find", "open", "find"]);
    assert_eq!(f.stored_ticket(alert).await.as_deref(), Some("1"));
    assert_eq!(f.rows(OutboxState::Delivered).await, 1);
}

#[tokio::test]
async fn retryable_error_backs_off_and_honours_retry_after() {
    let mut f = Fixture::new("").await;
    let worker = f.worker();
    f.report("d1", T0, &[("nightly", true)], None).await;
    f.system.state().fail_next.extend([
        Failure::Unavailable {
            retry_after_secs: Some(120),
        },
        Failure::Unavailable {
            retry_after_secs: None,
        },
    ]);
    worker.run_once(T0).await.unwrap();
    let pending = f.store.outbox_in_state(OutboxState::Pending).await.unwrap();
    // Retry-After (120 s) is longer than the first backoff (10 s, jitter 0: 5 s).
    assert_eq!(pending[0].next_attempt_at, T0 + 120);
    assert!(
        pending[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("HTTP 503"),
        "{pending:?}"
    );
    assert_eq!(worker.run_once(T0 + 119).await.unwrap(), 0);
    // Second attempt fails without Retry-After: backoff 20 s, with jitter 0 half of it.
    assert_eq!(worker.run_once(T0 + 120).await.unwrap(), 1);
    let pending = f.store.outbox_in_state(OutboxState::Pending).await.unwrap();
    assert_eq!(pending[0].next_attempt_at, T0 + 120 + 10);
    assert_eq!(worker.run_once(T0 + 130).await.unwrap(), 1);
    assert_eq!(f.system.tickets().len(), 1);
    assert_eq!(f.system.calls(), ["find", "find", "find", "open"]);
    assert!(
        f.metrics_text(T0 + 130)
            .await
            .contains("forewarn_ticket_deliveries_total{connector=\"rt\",result=\"retry\"} 2")
    );
}

#[tokio::test]
async fn permanent_error_fails_the_row_once_keeps_the_error_and_raises_the_failing_alert() {
    let mut f = Fixture::new("").await;
    let worker = f.worker();
    f.report("d1", T0, &[("nightly", true)], None).await;
    f.system.state().fail_next.push_back(Failure::Forbidden);
    worker.run_once(T0).await.unwrap();
    let failed = f.store.outbox_in_state(OutboxState::Failed).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("HTTP 403"),
        "{failed:?}"
    );
    assert_eq!(worker.run_once(T0 + 3600).await.unwrap(), 0, "not retried");
    assert_eq!(f.system.calls(), ["find"]);
    assert_eq!(f.ticketing_alert().await, Some(AlertStatus::Firing));
    // An event that needs no ticket system proves nothing...
    f.report("d2", T0 + 3900, &[], Some(3)).await;
    worker.run_once(T0 + 3901).await.unwrap();
    assert_eq!(f.ticketing_alert().await, Some(AlertStatus::Firing));
    // ...a later delivery that works clears it.
    f.report("d2", T0 + 4000, &[("nightly", true)], None).await;
    worker.run_once(T0 + 4001).await.unwrap();
    assert_eq!(f.ticketing_alert().await, Some(AlertStatus::Resolved));
}

#[tokio::test]
async fn ticket_system_down_queues_work_raises_the_failing_alert_and_delivers_everything_once_after()
 {
    let mut f = Fixture::new("").await;
    let worker = f.worker();
    f.system.state().down = true;
    f.report("d1", T0, &[("nightly", true)], None).await;
    f.report("d2", T0 + 10, &[("nightly", true)], None).await;
    f.report("d1", T0 + 20, &[("nightly", false)], None).await;
    let mut now = T0 + 20;
    while now < T0 + 900 {
        worker.run_once(now).await.unwrap();
        now += 30;
    }
    assert!(f.system.tickets().is_empty());
    assert_eq!(f.rows(OutboxState::Failed).await, 0, "nothing given up");
    assert_eq!(f.ticketing_alert().await, Some(AlertStatus::Firing));
    let alerts = f.store.list_alerts(AlertFilter::default()).await.unwrap();
    let own = alerts
        .iter()
        .find(|a| a.rule == RuleId::TicketingFailing)
        .unwrap();
    assert_eq!(own.hostname, "collector");
    assert!(
        own.summary.starts_with("3 ticket operation(s) undelivered"),
        "{}",
        own.summary
    );
    let text = f.metrics_text(now).await;
    assert!(
        text.contains("forewarn_outbox_rows{state=\"pending\"} 3"),
        "{text}"
    );
    assert!(text.contains("forewarn_ticketing_failing 1"), "{text}");
    assert!(
        text.contains(&format!(
            "forewarn_outbox_oldest_undelivered_age_seconds {}",
            now - T0
        )),
        "{text}"
    );

    f.system.state().down = false;
    let mut rounds = 0;
    while f.rows(OutboxState::Delivered).await < 3 && rounds < 20 {
        worker.run_once(now).await.unwrap();
        now += 300;
        rounds += 1;
    }
    let tickets = f.system.tickets();
    assert_eq!(tickets.len(), 2, "one per alert: {tickets:#?}");
    let d1 = tickets.iter().find(|t| t.key.starts_with("d1/")).unwrap();
    assert!(
        d1.resolved,
        "the queued recovery was delivered after the open"
    );
    assert!(
        !tickets
            .iter()
            .find(|t| t.key.starts_with("d2/"))
            .unwrap()
            .resolved
    );
    assert_eq!(f.ticketing_alert().await, Some(AlertStatus::Resolved));
    let text = f.metrics_text(now).await;
    assert!(
        text.contains("forewarn_outbox_rows{state=\"pending\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("forewarn_outbox_rows{state=\"delivered\"} 3"),
        "{text}"
    );
    assert!(text.contains("forewarn_ticketing_failing 0"), "{text}");
}

#[tokio::test]
async fn ticket_a_technician_worked_is_commented_not_resolved() {
    let mut f = Fixture::new("").await;
    let worker = f.worker();
    f.report("d1", T0, &[("nightly", true)], None).await;
    worker.run_once(T0 + 1).await.unwrap();
    f.system.with_ticket("1", |t| t.worked_by_human = true);
    f.report("d1", T0 + 60, &[("nightly", false)], None).await;
    worker.run_once(T0 + 61).await.unwrap();
    let ticket = f.system.only_ticket();
    assert!(!ticket.resolved);
    assert_eq!(ticket.comments.len(), 1);
    assert!(ticket.comments[0].contains("cleared"));
    assert!(
        ticket.comments[0].contains("left open"),
        "{:?}",
        ticket.comments
    );
    // The next failure is a new episode: the technician's ticket is still open, so it is reused.
    f.report("d1", T0 + 120, &[("nightly", true)], None).await;
    worker.run_once(T0 + 121).await.unwrap();
    assert_eq!(f.system.tickets().len(), 1);
}

#[tokio::test]
async fn resolve_on_recovery_false_leaves_the_ticket_open_with_a_comment() {
    let mut f =
        Fixture::new("[[policies]]\nchecks = [\"backups\"]\nresolve_on_recovery = false\n").await;
    let worker = f.worker();
    f.report("d1", T0, &[("nightly", true)], None).await;
    worker.run_once(T0 + 1).await.unwrap();
    f.report("d1", T0 + 60, &[("nightly", false)], None).await;
    worker.run_once(T0 + 61).await.unwrap();
    let ticket = f.system.only_ticket();
    assert!(!ticket.resolved);
    assert!(ticket.comments[0].contains("does not resolve tickets on recovery"));
    assert!(!f.system.calls().contains(&"resolve".to_string()));
}

#[tokio::test]
async fn alerts_of_one_device_within_the_grouping_window_share_a_ticket_resolved_when_all_clear() {
    let mut f =
        Fixture::new("[[policies]]\nchecks = [\"backups\"]\ngroup_window_secs = 600\n").await;
    let worker = f.worker();
    f.report("d1", T0, &[("nightly", true), ("weekly", false)], None)
        .await;
    worker.run_once(T0 + 1).await.unwrap();
    f.report("d1", T0 + 300, &[("nightly", true), ("weekly", true)], None)
        .await;
    // Another device is never grouped with d1.
    f.report("d2", T0 + 300, &[("nightly", true)], None).await;
    worker.run_once(T0 + 301).await.unwrap();
    let tickets = f.system.tickets();
    assert_eq!(tickets.len(), 2, "{tickets:#?}");
    let shared = tickets.iter().find(|t| t.key.starts_with("d1/")).unwrap();
    assert!(shared.comments[0].starts_with("Forewarn: another alert on LAPTOP-d1"));
    let nightly = f.alert_id("d1", RuleId::BackupFailed, "nightly").await;
    let weekly = f.alert_id("d1", RuleId::BackupFailed, "weekly").await;
    assert_eq!(
        f.stored_ticket(weekly).await,
        f.stored_ticket(nightly).await
    );

    // One recovers: a comment, the ticket stays open for the other.
    f.report(
        "d1",
        T0 + 400,
        &[("nightly", false), ("weekly", true)],
        None,
    )
    .await;
    worker.run_once(T0 + 401).await.unwrap();
    let shared = f.system.ticket_of("d1");
    assert!(!shared.resolved);
    assert!(
        shared.comments[1].contains("1 other alert(s)"),
        "{:?}",
        shared.comments
    );
    // The last one recovers: resolved.
    f.report(
        "d1",
        T0 + 500,
        &[("nightly", false), ("weekly", false)],
        None,
    )
    .await;
    worker.run_once(T0 + 501).await.unwrap();
    let shared = f.system.ticket_of("d1");
    assert!(shared.resolved);

    // After the window, a new alert of d1 opens its own ticket.
    f.report(
        "d1",
        T0 + 2000,
        &[("nightly", true), ("weekly", false)],
        None,
    )
    .await;
    worker.run_once(T0 + 2001).await.unwrap();
    assert_eq!(f.system.tickets().len(), 3);
}

#[tokio::test]
async fn alert_no_policy_matches_is_done_without_calling_the_ticket_system() {
    let mut f = Fixture::new("").await;
    // Disk alerts open no ticket under the default policy (backups only).
    f.report("d1", T0, &[], Some(3)).await;
    assert_eq!(f.worker().run_once(T0 + 1).await.unwrap(), 1);
    assert!(f.system.calls().is_empty());
    assert_eq!(f.rows(OutboxState::Delivered).await, 1);
    let text = f.metrics_text(T0 + 1).await;
    assert!(
        text.contains("forewarn_ticket_deliveries_total{connector=\"none\",result=\"skipped\"} 1"),
        "{text}"
    );
    assert!(
        !text.contains("result=\"delivered\""),
        "a skipped notification counted as delivered:\n{text}"
    );
}

#[tokio::test]
async fn hundred_alerts_of_fifty_devices_get_one_ticket_each_in_order_quickly() {
    let mut f = Fixture::new("").await;
    for n in 3..=50 {
        f.store
            .enroll_device(
                "aa",
                NewDevice {
                    id: format!("d{n}"),
                    hostname: format!("LAPTOP-d{n}"),
                    os: "linux".into(),
                    agent_version: "0.1.0".into(),
                    enrolled_at: 10,
                    cert_serial: "01".into(),
                    cert_not_after: i64::MAX,
                    hardware: Default::default(),
                },
                10,
            )
            .await
            .unwrap()
            .unwrap();
    }
    for n in 1..=50 {
        f.report(
            &format!("d{n}"),
            T0,
            &[("nightly", true), ("weekly", true)],
            None,
        )
        .await;
    }
    let worker = f.worker();
    let started = std::time::Instant::now();
    let mut rounds = 0;
    while worker.run_once(T0 + 1).await.unwrap() > 0 {
        rounds += 1;
    }
    let elapsed = started.elapsed();
    eprintln!(
        "100 alerts delivered in {rounds} rounds, {} ms",
        elapsed.as_millis()
    );
    let tickets = f.system.tickets();
    assert_eq!(tickets.len(), 100);
    let mut keys: Vec<_> = tickets.iter().map(|t| t.key.clone()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 100, "one ticket per alert");
    assert_eq!(f.rows(OutboxState::Delivered).await, 100);
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[tokio::test]
async fn waker_delivers_at_once_without_waiting_for_the_poll_interval() {
    let mut f = Fixture::with_config("poll_interval_ms = 60000\n", "").await;
    let worker = f.worker();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(Arc::clone(&worker).run(async move {
        let _ = stop_rx.await;
    }));
    // Let the first (empty) round pass, so the worker is idle for a minute.
    tokio::time::sleep(Duration::from_millis(200)).await;
    f.report("d1", T0, &[("nightly", true)], None).await;
    let woken = std::time::Instant::now();
    worker.waker().notify_one();
    while f.system.tickets().is_empty() && woken.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(f.system.tickets().len(), 1);
    assert!(
        woken.elapsed() < Duration::from_secs(5),
        "{:?}",
        woken.elapsed()
    );
    let _ = stop_tx.send(());
    running.await.unwrap();
}

#[tokio::test]
async fn acknowledged_failing_alert_stays_acknowledged_until_it_resolves() {
    let mut f = Fixture::new("").await;
    let worker = f.worker();
    f.report("d1", T0, &[("nightly", true)], None).await;
    f.system.state().fail_next.push_back(Failure::Forbidden);
    worker.run_once(T0).await.unwrap();
    let id = f
        .store
        .list_alerts(AlertFilter::default())
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.rule == RuleId::TicketingFailing)
        .unwrap()
        .id;
    assert!(
        f.store
            .ack_alert(
                id,
                "it",
                "fixing the RT token",
                NewAuditEntry {
                    at: T0 + 5,
                    actor: "cli:it".into(),
                    action: "alert.ack".into(),
                    target: id.to_string(),
                    detail: "fixing the RT token".into(),
                    source: "cli".into(),
                }
            )
            .await
            .unwrap()
    );
    worker.run_once(T0 + 10).await.unwrap();
    assert_eq!(f.ticketing_alert().await, Some(AlertStatus::Acknowledged));
    let (_, history) = f.store.alert(id).await.unwrap().unwrap();
    let events: Vec<_> = history.iter().filter_map(|h| h.event.clone()).collect();
    assert_eq!(events, ["opened", "acknowledged"]);
    f.report("d2", T0 + 20, &[("nightly", true)], None).await;
    worker.run_once(T0 + 21).await.unwrap();
    assert_eq!(f.ticketing_alert().await, Some(AlertStatus::Resolved));
}

#[tokio::test]
async fn warning_without_a_ticket_opens_one_when_it_escalates_to_a_ticketed_severity() {
    let mut f =
        Fixture::new("[[policies]]\nchecks = [\"disks\"]\nseverities = [\"critical\"]\n").await;
    let worker = f.worker();
    f.report("d1", T0, &[], Some(8)).await;
    worker.run_once(T0 + 1).await.unwrap();
    assert!(f.system.calls().is_empty(), "warnings open no ticket here");
    f.report("d1", T0 + 60, &[], Some(3)).await;
    worker.run_once(T0 + 61).await.unwrap();
    let ticket = f.system.only_ticket();
    assert!(
        ticket.subject.starts_with("[critical] LAPTOP-d1"),
        "{}",
        ticket.subject
    );
    assert_eq!(ticket.priority, "90");
    // Back to warning: a comment on that ticket (the policy lookup does not close it).
    f.report("d1", T0 + 120, &[], Some(8)).await;
    worker.run_once(T0 + 121).await.unwrap();
    assert!(
        f.system.only_ticket().comments[0]
            .starts_with("Forewarn: severity fell from critical to warning")
    );
}

#[tokio::test]
async fn ticket_whose_connector_was_removed_from_the_config_fails_for_good() {
    let mut f = Fixture::new("").await;
    f.report("d1", T0, &[("nightly", true)], None).await;
    f.worker().run_once(T0 + 1).await.unwrap();
    f.report("d1", T0 + 60, &[("nightly", false)], None).await;
    let without_rt = Arc::new(TicketWorker::with_connectors(
        Arc::clone(&f.config),
        f.store.clone(),
        BTreeMap::new(),
        Arc::clone(&f.metrics),
    ));
    without_rt.run_once(T0 + 61).await.unwrap();
    let failed = f.store.outbox_in_state(OutboxState::Failed).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].event, "resolved");
    assert!(
        failed[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("connector \"rt\" is not configured"),
        "{failed:?}"
    );
}

#[tokio::test]
async fn flapping_alert_gets_a_comment_on_its_open_ticket() {
    let mut f = Fixture::new("").await;
    let worker = f.worker();
    for i in 0..6 {
        let at = T0 + i * 60;
        f.report("d1", at, &[("nightly", i % 2 == 0)], None).await;
        worker.run_once(at + 1).await.unwrap();
    }
    let kinds: Vec<String> = f
        .store
        .outbox_in_state(OutboxState::Delivered)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(
        kinds,
        [
            "opened", "resolved", "opened", "resolved", "opened", "flapping"
        ]
    );
    let tickets = f.system.tickets();
    let open: Vec<_> = tickets.iter().filter(|t| !t.resolved).collect();
    assert_eq!(open.len(), 1, "{tickets:#?}");
    assert!(
        open[0].comments.last().unwrap().contains("flapping"),
        "{:?}",
        open[0].comments
    );
}

#[tokio::test]
async fn retry_failed_requeues_only_each_alerts_newest_event() {
    let mut f = Fixture::new("").await;
    let worker = f.worker();
    // d1's open is refused (403) and d1 then recovers; d2's open is refused and still fails.
    f.report("d1", T0, &[("nightly", true)], None).await;
    f.report("d2", T0, &[("nightly", true)], None).await;
    f.system
        .state()
        .fail_next
        .extend([Failure::Forbidden, Failure::Forbidden]);
    worker.run_once(T0 + 1).await.unwrap();
    f.report("d1", T0 + 60, &[("nightly", false)], None).await;
    worker.run_once(T0 + 61).await.unwrap();
    assert_eq!(f.rows(OutboxState::Failed).await, 2);
    let mut listed = Vec::new();
    forewarn_collector::cli::tickets::list_failed(f.store.as_ref(), &mut listed)
        .await
        .unwrap();
    let listed = String::from_utf8(listed).unwrap();
    assert_eq!(listed.matches("HTTP 403").count(), 2, "{listed}");

    // The right was granted: retry. Only d2's open is its alert's newest event.
    let mut out = Vec::new();
    let requeued =
        forewarn_collector::cli::tickets::retry_failed(f.store.as_ref(), T0 + 120, &mut out)
            .await
            .unwrap();
    assert_eq!(requeued, 1, "{}", String::from_utf8_lossy(&out));
    worker.run_once(T0 + 120).await.unwrap();
    let ticket = f.system.only_ticket();
    assert_eq!(ticket.key, "d2/backup_failed/nightly");
    assert_eq!(f.rows(OutboxState::Failed).await, 1);
}

const DAY: i64 = 86_400;

#[tokio::test]
async fn alert_firing_again_after_a_prune_gets_a_new_ticket_not_skipped_as_a_replay() {
    let mut f = Fixture::new("").await;
    let worker = f.worker();
    f.report("d1", T0, &[("nightly", true)], None).await;
    worker.run_once(T0 + 1).await.unwrap();
    f.report("d1", T0 + 120, &[("nightly", false)], None).await;
    worker.run_once(T0 + 121).await.unwrap();
    assert!(f.system.only_ticket().resolved);

    // A month later: both rows are past retention, but the alert's newest
    // (the recovery, which its ticket link last applied) stays.
    let later = T0 + 31 * DAY;
    let outcome = f
        .store
        .prune_delivered_outbox(later - 30 * DAY, 500)
        .await
        .unwrap();
    assert_eq!(outcome.rows, 1);
    assert_eq!(f.rows(OutboxState::Delivered).await, 1);

    f.report("d1", later, &[("nightly", true)], None).await;
    assert_eq!(worker.run_once(later + 1).await.unwrap(), 1);
    let tickets = f.system.tickets();
    assert_eq!(tickets.len(), 2, "{tickets:#?}");
    assert!(!tickets[1].resolved);
    let alert = f.alert_id("d1", RuleId::BackupFailed, "nightly").await;
    assert_eq!(f.stored_ticket(alert).await.as_deref(), Some("2"));
}

#[tokio::test]
async fn after_a_prune_retry_failed_still_requeues_only_each_alerts_newest_event() {
    let mut f = Fixture::new("").await;
    let worker = f.worker();
    // d1's open is refused for good, then d1 recovers (nothing to do: no ticket).
    f.report("d1", T0, &[("nightly", true)], None).await;
    f.system.state().fail_next.push_back(Failure::Forbidden);
    worker.run_once(T0 + 1).await.unwrap();
    f.report("d1", T0 + 60, &[("nightly", false)], None).await;
    worker.run_once(T0 + 61).await.unwrap();
    assert_eq!(f.rows(OutboxState::Failed).await, 1);
    assert_eq!(f.rows(OutboxState::Delivered).await, 1);

    let later = T0 + 400 * DAY;
    let outcome = f
        .store
        .prune_delivered_outbox(later - 30 * DAY, 500)
        .await
        .unwrap();
    assert_eq!(outcome.rows, 0, "the recovery is the alert's newest row");
    let mut out = Vec::new();
    let requeued =
        forewarn_collector::cli::tickets::retry_failed(f.store.as_ref(), later, &mut out)
            .await
            .unwrap();
    assert_eq!(requeued, 0, "{}", String::from_utf8_lossy(&out));
    worker.run_once(later).await.unwrap();
    assert!(f.system.tickets().is_empty());
    assert_eq!(f.rows(OutboxState::Failed).await, 1);
}
