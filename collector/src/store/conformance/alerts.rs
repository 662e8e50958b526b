//! Conformance cases for alerts: what ingest and the sweep persist from the
//! engine's plans, silences, acknowledgements, the outbox's claim order and
//! the collector's own "ticketing is failing" alert.

use std::sync::Arc;

use forewarn_proto::pb;

use super::{enroll_d1, entry};
use crate::alerts::silence::Silence;
use crate::alerts::{AlertFilter, AlertStatus};
use crate::rules::{RuleBook, RuleId};
use crate::severity::Severity;
use crate::store::outbox::OutboxState;
use crate::store::{IncomingReport, Store, SweepScope};

pub(super) const T0: i64 = 1_795_000_000;
const GIB: u64 = 1024 * 1024 * 1024;

pub(super) fn report(seq: u64, at: i64, available_gib: u64) -> IncomingReport {
    let status = pb::StatusReport {
        seq,
        collected_at_unix_secs: at,
        disks: Some(pb::DiskCheck {
            filesystems: vec![pb::DiskStatus {
                mount_point: "/".into(),
                total_bytes: 100 * GIB,
                free_bytes: available_gib * GIB,
                available_bytes: available_gib * GIB,
                ..Default::default()
            }],
        }),
        ..Default::default()
    };
    IncomingReport {
        device_id: "d1".into(),
        seq,
        boot_id: 0,
        collected_at: at,
        received_at: at,
        hostname: "LAPTOP-042".into(),
        os: "linux".into(),
        agent_version: "0.1.0".into(),
        body: status.into(),
        certificate: None,
    }
}

pub(super) fn rules() -> Arc<RuleBook> {
    let mut book = RuleBook::default();
    book.default.disk_free_bytes.enabled = false;
    Arc::new(book)
}

fn silence(id: &str, starts_at: i64, ends_at: Option<i64>) -> Silence {
    Silence {
        id: id.into(),
        device_id: "d1".into(),
        group: String::new(),
        rule: String::new(),
        subject: String::new(),
        starts_at,
        ends_at,
        weekly: None,
        comment: "disk swap".into(),
        created_by: "it".into(),
        created_at: starts_at,
        expired_at: None,
    }
}

pub(crate) async fn ingest_opens_escalates_and_resolves_with_outbox_rows(store: &dyn Store) {
    enroll_d1(store, "laptops").await;
    store
        .ingest_report(report(1, T0, 50), rules())
        .await
        .unwrap();
    assert!(
        store
            .list_alerts(AlertFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    store
        .ingest_report(report(2, T0 + 60, 8), rules())
        .await
        .unwrap();
    store
        .ingest_report(report(3, T0 + 120, 3), rules())
        .await
        .unwrap();
    let alerts = store.list_alerts(AlertFilter::default()).await.unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(alert.status, AlertStatus::Firing);
    assert_eq!(alert.severity, Some(Severity::Critical));
    assert_eq!(alert.first_seen, T0 + 60);
    assert_eq!(
        alert.summary,
        "Disk / on LAPTOP-042 has 3.0% free (3.0 GiB of 100.0 GiB), below 5%"
    );
    store
        .ingest_report(report(4, T0 + 180, 40), rules())
        .await
        .unwrap();
    let (alert, history) = store.alert(alert.id).await.unwrap().unwrap();
    assert_eq!(alert.status, AlertStatus::Resolved);
    let events: Vec<_> = history.iter().filter_map(|h| h.event.clone()).collect();
    assert_eq!(events, ["opened", "escalated", "resolved"]);
    let outbox = store.outbox_in_state(OutboxState::Pending).await.unwrap();
    let kinds: Vec<_> = outbox.iter().map(|o| o.event.as_str()).collect();
    assert_eq!(kinds, ["opened", "escalated", "resolved"]);
    let escalated = outbox[1].notification.as_ref().unwrap();
    assert_eq!(escalated.severity, Some(Severity::Critical));
    assert_eq!(escalated.previous_severity, Some(Severity::Warning));
    assert_eq!(escalated.hostname, "LAPTOP-042");
    assert_eq!(outbox[0].alert_id, alert.id);
}

pub(crate) async fn outbox_claim_keeps_alert_order_retries_and_lease_expiry(store: &dyn Store) {
    enroll_d1(store, "laptops").await;
    store
        .ingest_report(report(1, T0, 8), rules())
        .await
        .unwrap();
    store
        .ingest_report(report(2, T0 + 60, 3), rules())
        .await
        .unwrap();
    store
        .ingest_report(report(3, T0 + 120, 40), rules())
        .await
        .unwrap();
    let now = T0 + 200;
    // Three events of one alert: only the first is handed out.
    let batch = store.claim_outbox(10, 60, now).await.unwrap();
    let kinds: Vec<_> = batch.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(kinds, ["opened"]);
    assert_eq!(
        (batch[0].state, batch[0].attempts),
        (OutboxState::Claimed, 1)
    );
    // While it is claimed, neither it nor the later events are handed out.
    assert!(store.claim_outbox(10, 60, now).await.unwrap().is_empty());
    store.mark_delivered(batch[0].id, now).await.unwrap();
    let escalated = store.claim_outbox(10, 60, now).await.unwrap();
    assert_eq!(escalated[0].event, "escalated");
    store
        .mark_failed(escalated[0].id, "helpdesk returned 503", Some(now + 300))
        .await
        .unwrap();
    // Waiting for its retry time, it still holds back the `resolved` behind it.
    assert!(
        store
            .claim_outbox(10, 60, now + 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store.claim_outbox(10, 60, now + 300).await.unwrap();
    assert_eq!(
        (again.len(), again[0].id, again[0].attempts),
        (1, escalated[0].id, 2)
    );
    assert_eq!(
        again[0].last_error.as_deref(),
        Some("helpdesk returned 503")
    );
    // A worker that died holding it: the lease runs out and it is handed out again.
    let after_lease = store.claim_outbox(10, 60, now + 360).await.unwrap();
    assert_eq!(
        (after_lease[0].id, after_lease[0].attempts),
        (escalated[0].id, 3)
    );
    // Given up: it no longer holds back the next event.
    store
        .mark_failed(escalated[0].id, "gave up", None)
        .await
        .unwrap();
    let resolved = store.claim_outbox(10, 60, now + 360).await.unwrap();
    assert_eq!(resolved[0].event, "resolved");
    assert_eq!(
        store
            .outbox_in_state(OutboxState::Failed)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .outbox_in_state(OutboxState::Delivered)
            .await
            .unwrap()
            .len(),
        1
    );
}

pub(crate) async fn silence_suppresses_notification_not_state_and_sweep_notifies_after(
    store: &dyn Store,
) {
    enroll_d1(store, "laptops").await;
    store
        .add_silence(
            silence("s1", T0, Some(T0 + 600)),
            entry(T0, "silence.add", "s1"),
        )
        .await
        .unwrap();
    store
        .ingest_report(report(1, T0 + 60, 3), rules())
        .await
        .unwrap();
    let alerts = store.list_alerts(AlertFilter::default()).await.unwrap();
    assert_eq!(alerts[0].severity, Some(Severity::Critical));
    assert!(
        store
            .outbox_in_state(OutboxState::Pending)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .sweep_alerts(rules(), T0 + 300, SweepScope::Due)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .sweep_alerts(rules(), T0 + 601, SweepScope::Due)
            .await
            .unwrap(),
        1
    );
    let outbox = store.outbox_in_state(OutboxState::Pending).await.unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].event, "opened");
    assert_eq!(
        store
            .sweep_alerts(rules(), T0 + 700, SweepScope::Due)
            .await
            .unwrap(),
        0
    );
}

pub(crate) async fn silences_are_listed_and_expired(store: &dyn Store) {
    enroll_d1(store, "laptops").await;
    store
        .add_silence(silence("s1", T0, None), entry(T0, "silence.add", "s1"))
        .await
        .unwrap();
    let expire = |at, id| store.expire_silence(id, entry(at, "silence.expire", id));
    assert!(expire(T0 + 5, "s1").await.unwrap());
    assert!(!expire(T0 + 6, "s1").await.unwrap());
    assert!(!expire(T0 + 6, "nope").await.unwrap());
    let listed = store.list_silences().await.unwrap();
    assert_eq!(listed[0].expired_at, Some(T0 + 5));
    store
        .ingest_report(report(1, T0 + 60, 3), rules())
        .await
        .unwrap();
    assert_eq!(
        store
            .outbox_in_state(OutboxState::Pending)
            .await
            .unwrap()
            .len(),
        1
    );
}

pub(crate) async fn acknowledgement_is_recorded_and_cleared_by_a_new_episode(store: &dyn Store) {
    enroll_d1(store, "laptops").await;
    store
        .ingest_report(report(1, T0, 8), rules())
        .await
        .unwrap();
    let id = store.list_alerts(AlertFilter::default()).await.unwrap()[0].id;
    assert!(
        store
            .ack_alert(
                id,
                "alice",
                "replacing the disk friday",
                entry(T0 + 10, "alert.ack", "")
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .ack_alert(id + 100, "alice", "", entry(T0 + 10, "alert.ack", ""))
            .await
            .unwrap()
    );
    store
        .ingest_report(report(2, T0 + 60, 9), rules())
        .await
        .unwrap();
    let (alert, history) = store.alert(id).await.unwrap().unwrap();
    assert_eq!(alert.status, AlertStatus::Acknowledged);
    assert_eq!(alert.acknowledged_by.as_deref(), Some("alice"));
    let ack = history
        .iter()
        .find(|h| h.event.as_deref() == Some("acknowledged"))
        .unwrap();
    assert_eq!(ack.note.as_deref(), Some("replacing the disk friday"));
    // Escalation wakes it up again.
    store
        .ingest_report(report(3, T0 + 120, 3), rules())
        .await
        .unwrap();
    let (alert, _) = store.alert(id).await.unwrap().unwrap();
    assert_eq!(alert.status, AlertStatus::Firing);
    assert_eq!(alert.acknowledged_by, None);
    let filter = AlertFilter {
        status: Some(AlertStatus::Firing),
        severity: Some(Severity::Critical),
        device_id: Some("d1".into()),
    };
    assert_eq!(store.list_alerts(filter).await.unwrap().len(), 1);
    let filter = AlertFilter {
        device_id: Some("d2".into()),
        ..Default::default()
    };
    assert!(store.list_alerts(filter).await.unwrap().is_empty());
}

pub(crate) async fn sweep_raises_offline_for_servers_and_a_report_resolves_it(store: &dyn Store) {
    enroll_d1(store, "servers").await;
    let mut book = RuleBook::default();
    book.groups.insert(
        "servers".into(),
        book.default
            .with_overrides(&crate::rules::config::builtin_group_overrides("servers"))
            .unwrap(),
    );
    let book = Arc::new(book);
    store
        .ingest_report(report(1, T0, 50), Arc::clone(&book))
        .await
        .unwrap();
    assert_eq!(
        store
            .sweep_alerts(Arc::clone(&book), T0 + 4 * 60, SweepScope::Due)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .sweep_alerts(Arc::clone(&book), T0 + 11 * 60, SweepScope::Due)
            .await
            .unwrap(),
        1
    );
    let alerts = store.list_alerts(AlertFilter::default()).await.unwrap();
    assert_eq!(alerts[0].rule, RuleId::OfflineMinutes);
    assert_eq!(alerts[0].severity, Some(Severity::Critical));
    assert!(
        alerts[0]
            .summary
            .starts_with("LAPTOP-042 has not reported for 11 minutes"),
        "{}",
        alerts[0].summary
    );
    store
        .ingest_report(report(2, T0 + 12 * 60, 50), Arc::clone(&book))
        .await
        .unwrap();
    let alerts = store.list_alerts(AlertFilter::default()).await.unwrap();
    assert_eq!(alerts[0].status, AlertStatus::Resolved);
}

pub(crate) async fn disk_history_feeds_the_forecast(store: &dyn Store) {
    enroll_d1(store, "laptops").await;
    // Filling 4 GiB a day from 60 GiB free, a report every 6 hours.
    for i in 0..=40u64 {
        let at = T0 + i as i64 * 6 * 3600;
        let free = 60 - i;
        store
            .ingest_report(report(i + 1, at, free), rules())
            .await
            .unwrap();
    }
    // 20 GiB left at 4 GiB/day: 5 days, a warning.
    let alerts = store.list_alerts(AlertFilter::default()).await.unwrap();
    let forecast = alerts
        .iter()
        .find(|a| a.rule == RuleId::DiskForecast)
        .expect("forecast alert");
    assert_eq!(forecast.severity, Some(Severity::Warning));
    assert!(
        forecast.summary.contains("full in about 5 days"),
        "{}",
        forecast.summary
    );
}

pub(crate) async fn ticketing_failing_alert_opens_updates_and_resolves(store: &dyn Store) {
    assert!(
        !store.set_ticketing_failing(None, T0).await.unwrap(),
        "nothing to resolve"
    );
    assert!(
        store
            .set_ticketing_failing(Some("2 ticket operation(s) undelivered".into()), T0)
            .await
            .unwrap()
    );
    let firing = store.list_alerts(AlertFilter::default()).await.unwrap();
    assert_eq!(firing.len(), 1, "{firing:?}");
    let id = firing[0].id;
    assert_eq!(
        (firing[0].rule, firing[0].status, firing[0].severity),
        (
            RuleId::TicketingFailing,
            AlertStatus::Firing,
            Some(Severity::Critical)
        )
    );
    assert!(
        store
            .ack_alert(
                id,
                "alice",
                "helpdesk is down",
                entry(T0 + 1, "alert.ack", "")
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_ticketing_failing(Some("5 ticket operation(s) undelivered".into()), T0 + 60)
            .await
            .unwrap(),
        "still failing is no change"
    );
    let (alert, _) = store.alert(id).await.unwrap().unwrap();
    assert_eq!(alert.summary, "5 ticket operation(s) undelivered");
    assert_eq!(alert.status, AlertStatus::Acknowledged);
    assert_eq!((alert.first_seen, alert.last_seen), (T0, T0 + 60));
    assert!(store.set_ticketing_failing(None, T0 + 120).await.unwrap());
    let (alert, history) = store.alert(id).await.unwrap().unwrap();
    assert_eq!(
        (alert.status, alert.severity),
        (AlertStatus::Resolved, None)
    );
    assert_eq!(alert.acknowledged_by, None);
    let events: Vec<_> = history.iter().filter_map(|h| h.event.clone()).collect();
    assert_eq!(events, ["opened", "acknowledged", "resolved"]);
    assert!(
        store
            .outbox_in_state(OutboxState::Pending)
            .await
            .unwrap()
            .is_empty(),
        "the ticket system is what fails: no outbox row"
    );
}
