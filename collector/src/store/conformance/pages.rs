//! Conformance cases for the web pages' reads: disk history, ticket links,
//! the change mark of live updates, and the list pages' alert reads
//! (filtered, ordered and cut pages; counts per device and domain; notes).

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::Arc;

use forewarn_proto::pb;

use super::{enroll_d1, enroll_in, entry};
use crate::alerts::silence::Silence;
use crate::alerts::{AlertFilter, AlertRecord, AlertStatus};
use crate::rules::RuleBook;
use crate::severity::Severity;
use crate::store::ledger::NewTicket;
use crate::store::outbox::OutboxState;
use crate::store::pages::{AlertColumn, AlertCounts, AlertOrder, FleetAlerts};
use crate::store::{IncomingReport, Store};
use crate::tickets::TicketRef;

const T0: i64 = 1_795_000_000;
const GIB: u64 = 1024 * 1024 * 1024;

/// A report of two filesystems: `/` with `root_free_gib` free, `/data` half full.
fn report(seq: u64, at: i64, root_free_gib: u64) -> IncomingReport {
    let fs = |mount: &str, free_gib: u64| pb::DiskStatus {
        mount_point: mount.into(),
        total_bytes: 100 * GIB,
        free_bytes: free_gib * GIB,
        available_bytes: free_gib * GIB,
        ..Default::default()
    };
    let status = pb::StatusReport {
        seq,
        collected_at_unix_secs: at,
        disks: Some(pb::DiskCheck {
            filesystems: vec![fs("/", root_free_gib), fs("/data", 50)],
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

pub(crate) async fn disk_history_is_read_per_mount_point_oldest_first(store: &dyn Store) {
    enroll_d1(store, "laptops").await;
    let rules = Arc::new(RuleBook::default());
    for (i, free) in [60u64, 55, 50].into_iter().enumerate() {
        let at = T0 + i as i64 * 3600;
        store
            .ingest_report(report(i as u64 + 1, at, free), Arc::clone(&rules))
            .await
            .unwrap();
    }
    let history = store.disk_history("d1", T0 + 1).await.unwrap();
    assert_eq!(
        history.keys().collect::<Vec<_>>(),
        ["/", "/data"],
        "{history:?}"
    );
    let root: Vec<(i64, u64)> = history["/"]
        .iter()
        .map(|s| (s.at, s.available_bytes / GIB))
        .collect();
    assert_eq!(
        root,
        [(T0 + 3600, 55), (T0 + 7200, 50)],
        "since is inclusive of later samples only"
    );
    assert_eq!(history["/data"][0].total_bytes, 100 * GIB);
    assert!(store.disk_history("nope", 0).await.unwrap().is_empty());
}

pub(crate) async fn ticket_links_are_read_by_device_and_by_alert(store: &dyn Store) {
    enroll_d1(store, "laptops").await;
    let rules = Arc::new(RuleBook::default());
    // 2 GiB free of 100: the disk rules fire and queue a notification.
    store.ingest_report(report(1, T0, 2), rules).await.unwrap();
    let alert = store
        .list_alerts(AlertFilter {
            status: Some(AlertStatus::Firing),
            ..AlertFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .next()
        .expect("a firing disk alert");
    let event = store
        .outbox_in_state(OutboxState::Pending)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.alert_id == alert.id)
        .expect("its notification");
    assert!(store.device_tickets("d1").await.unwrap().is_empty());
    store
        .store_new_ticket(
            alert.id,
            event.id,
            NewTicket {
                connector: "helpdesk".into(),
                device_id: "d1".into(),
                correlation_key: "forewarn-1".into(),
                reference: TicketRef {
                    id: "RT-42".into(),
                    url: Some("https://rt.example/Ticket/Display.html?id=42".into()),
                },
            },
            T0 + 5,
        )
        .await
        .unwrap();
    let links = store.device_tickets("d1").await.unwrap();
    assert_eq!(links.len(), 1, "{links:?}");
    let link = &links[0];
    assert_eq!(
        (
            link.alert_id,
            link.device_id.as_str(),
            link.connector.as_str()
        ),
        (alert.id, "d1", "helpdesk")
    );
    assert_eq!(link.reference.id, "RT-42");
    assert!(link.reference.url.is_some());
    assert_eq!(link.closed_at, None);
    let by_alert = store.alert_tickets(&[alert.id, 999_999]).await.unwrap();
    assert_eq!(by_alert, links);
    assert!(store.alert_tickets(&[]).await.unwrap().is_empty());
    assert!(store.device_tickets("other").await.unwrap().is_empty());
}

pub(crate) async fn change_mark_moves_on_reports_acks_silences_and_device_changes(
    store: &dyn Store,
) {
    let empty = store.change_mark().await.unwrap();
    enroll_d1(store, "laptops").await;
    let enrolled = store.change_mark().await.unwrap();
    assert_ne!(empty, enrolled, "an enrollment");
    let rules = Arc::new(RuleBook::default());
    store
        .ingest_report(report(1, T0, 60), Arc::clone(&rules))
        .await
        .unwrap();
    let reported = store.change_mark().await.unwrap();
    assert_ne!(enrolled, reported, "a report");
    assert_eq!(
        reported,
        store.change_mark().await.unwrap(),
        "stable when nothing happens"
    );
    // Same second, nothing new in it: the seq still moves the mark.
    store
        .ingest_report(report(2, T0, 60), Arc::clone(&rules))
        .await
        .unwrap();
    let again = store.change_mark().await.unwrap();
    assert_ne!(reported, again, "a report that changes nothing");
    store
        .ingest_report(report(3, T0 + 60, 2), rules)
        .await
        .unwrap();
    let fired = store.change_mark().await.unwrap();
    let alert = store
        .list_alerts(AlertFilter::default())
        .await
        .unwrap()
        .into_iter()
        .next()
        .expect("a disk alert");
    assert!(
        store
            .ack_alert(
                alert.id,
                "olga",
                "ordering a disk",
                entry(T0 + 70, "alert.ack", "")
            )
            .await
            .unwrap()
    );
    let acked = store.change_mark().await.unwrap();
    assert_ne!(fired, acked, "an acknowledgement");
    store
        .add_silence(
            Silence {
                id: "s1".into(),
                device_id: "d1".into(),
                group: String::new(),
                rule: String::new(),
                subject: String::new(),
                starts_at: T0,
                ends_at: Some(T0 + 3600),
                weekly: None,
                comment: "disk swap".into(),
                created_by: "olga".into(),
                created_at: T0,
                expired_at: None,
            },
            entry(T0, "silence.add", "s1"),
        )
        .await
        .unwrap();
    let silenced = store.change_mark().await.unwrap();
    assert_ne!(acked, silenced, "a silence");
    assert!(
        store
            .expire_silence("s1", entry(T0 + 10, "silence.expire", "s1"))
            .await
            .unwrap()
    );
    let ended = store.change_mark().await.unwrap();
    assert_ne!(silenced, ended, "a silence ended");

    // The devices' changes: a move alone changes no count.
    assert!(
        store
            .move_device("d1", "servers", entry(T0 + 20, "device.move", "d1"))
            .await
            .unwrap()
    );
    let moved = store.change_mark().await.unwrap();
    assert_ne!(ended, moved, "a move to another group");
    assert!(
        !store
            .move_device("nope", "servers", entry(T0 + 21, "device.move", "nope"))
            .await
            .unwrap()
    );
    assert_eq!(
        moved,
        store.change_mark().await.unwrap(),
        "a refused move changes nothing"
    );
    // Retired and restored between two reads: the counts are back where they were.
    assert!(
        store
            .retire_device("d1", entry(T0 + 30, "device.retire", "d1"))
            .await
            .unwrap()
    );
    let retired = store.change_mark().await.unwrap();
    assert_ne!(moved, retired, "a retirement");
    assert!(
        store
            .restore_device("d1", entry(T0 + 40, "device.restore", "d1"))
            .await
            .unwrap()
    );
    let restored = store.change_mark().await.unwrap();
    assert_ne!(retired, restored, "a restore");
    assert!(
        store
            .retire_device("d1", entry(T0 + 50, "device.retire", "d1"))
            .await
            .unwrap()
    );
    assert!(
        store
            .restore_device("d1", entry(T0 + 60, "device.restore", "d1"))
            .await
            .unwrap()
    );
    assert_ne!(
        restored,
        store.change_mark().await.unwrap(),
        "a retirement undone before the next read"
    );
    let before_delete = store.change_mark().await.unwrap();
    assert!(
        store
            .delete_device("d1", entry(T0 + 70, "device.delete", "d1"))
            .await
            .unwrap()
            .is_some()
    );
    assert_ne!(
        before_delete,
        store.change_mark().await.unwrap(),
        "a deletion"
    );
}

pub(crate) async fn devices_are_found_by_name_group_serial_model_and_user(store: &dyn Store) {
    enroll_d1(store, "laptops").await;
    let host = pb::HostFacts {
        hostname: "LAPTOP-042".into(),
        model: "ThinkPad T14".into(),
        serial_number: "PF3XYZ".into(),
        primary_user: "jdoe".into(),
        ..Default::default()
    };
    let mut with_facts = report(1, T0, 50);
    let mut status = with_facts
        .body
        .clone()
        .open(&with_facts.device_id)
        .status
        .unwrap();
    status.host = Some(host);
    with_facts.body = status.into();
    let found = |text: &'static str| async move {
        let mut ids: Vec<String> = store
            .search_devices(text)
            .await
            .unwrap()
            .into_iter()
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(
        found("laptop-0").await,
        ["d1"],
        "before any report: the name"
    );
    assert!(found("thinkpad").await.is_empty(), "no report, no model");
    store
        .ingest_report(with_facts, Arc::new(RuleBook::default()))
        .await
        .unwrap();
    for text in ["d1", "LAPTOP", "lapt", "pf3x", " ThinkPad T ", "JDOE"] {
        assert_eq!(found(text).await, ["d1"], "{text:?}");
    }
    for text in ["x1", "servers", "dell"] {
        assert!(found(text).await.is_empty(), "{text:?}");
    }
}

/// `/metrics` over the store: a notification finished without sending
/// anything is counted as skipped, not as delivered.
pub(crate) async fn skipped_notifications_are_not_counted_as_delivered(store: &dyn Store) {
    enroll_d1(store, "laptops").await;
    let rules = Arc::new(RuleBook::default());
    for (seq, free) in [(1, 8), (2, 1)] {
        store
            .ingest_report(report(seq, T0 + seq as i64 * 60, free), Arc::clone(&rules))
            .await
            .unwrap();
    }
    // The alert's rows are claimed one at a time, in order.
    let opened = store.claim_outbox(10, 60, T0 + 300).await.unwrap();
    assert_eq!(opened.len(), 1, "{opened:?}");
    store.mark_skipped(opened[0].id, T0 + 301).await.unwrap();
    let escalated = store.claim_outbox(10, 60, T0 + 302).await.unwrap();
    assert_eq!(escalated.len(), 1, "{escalated:?}");
    store
        .mark_delivered(escalated[0].id, T0 + 303)
        .await
        .unwrap();
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!(stats.skipped, 1);
    assert!(
        stats.rows.contains(&(OutboxState::Delivered, 1)),
        "{stats:?}"
    );
    let text = crate::web::metrics::render(
        store,
        &crate::tickets::metrics::TicketMetrics::default(),
        T0 + 400,
    )
    .await
    .unwrap();
    for line in [
        "forewarn_outbox_rows{state=\"delivered\"} 1",
        "forewarn_outbox_rows{state=\"skipped\"} 1",
        "forewarn_outbox_rows{state=\"pending\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    }
}

/// Three devices in two groups with disk alerts: d1's critical and
/// acknowledged with a note, d2's resolved, d3's a firing warning: what
/// the list pages read.
async fn two_groups_with_alerts(store: &dyn Store) -> Vec<AlertRecord> {
    enroll_d1(store, "laptops").await;
    enroll_in(store, "d2", "SRV-7", "servers").await;
    enroll_in(store, "d3", "SRV-8", "servers").await;
    let rules = Arc::new(RuleBook::default());
    let of = |device: &str, seq: u64, at: i64, free: u64| {
        let mut report = report(seq, at, free);
        report.device_id = device.into();
        report
    };
    for (device, seq, at, free) in [
        ("d2", 1, T0, 1),
        ("d3", 1, T0 + 5, 8),
        ("d1", 1, T0 + 10, 8),
        ("d1", 2, T0 + 20, 1),
        ("d2", 2, T0 + 30, 1),
    ] {
        store
            .ingest_report(of(device, seq, at, free), Arc::clone(&rules))
            .await
            .unwrap();
    }
    let alerts = store.list_alerts(AlertFilter::default()).await.unwrap();
    assert_eq!(alerts.len(), 3, "{alerts:?}");
    let first = alerts
        .iter()
        .find(|a| a.device_id == "d1")
        .expect("d1's alert");
    assert!(
        store
            .ack_alert(
                first.id,
                "olga",
                "ordering a disk",
                entry(T0 + 40, "alert.ack", &first.id.to_string()),
            )
            .await
            .unwrap()
    );
    // d2's disk mended: its alerts resolve.
    store
        .ingest_report(of("d2", 3, T0 + 50, 60), rules)
        .await
        .unwrap();
    store.list_alerts(AlertFilter::default()).await.unwrap()
}

/// What a filter keeps, computed here to check the store's.
type Keeps = Box<dyn Fn(&AlertRecord) -> bool>;

fn ids(alerts: &[AlertRecord]) -> Vec<i64> {
    alerts.iter().map(|a| a.id).collect()
}

pub(crate) async fn fleet_alerts_are_filtered_ordered_and_cut_in_the_store(store: &dyn Store) {
    let all = two_groups_with_alerts(store).await;
    let states: Vec<AlertStatus> = all.iter().map(|a| a.status).collect();
    assert!(
        states.contains(&AlertStatus::Acknowledged) && states.contains(&AlertStatus::Resolved),
        "{all:?}"
    );
    assert!(all.iter().any(|a| a.device_id == "d1") && all.iter().any(|a| a.device_id == "d2"));
    let read = |which: FleetAlerts| async move { store.fleet_alerts(which).await.unwrap() };
    let count = |which: FleetAlerts| async move { store.count_alerts(which).await.unwrap() };

    // Each order, against the same order computed here.
    let mut expected = all.clone();
    expected.sort_by_key(|a| (Reverse(a.last_seen), Reverse(a.id)));
    assert_eq!(ids(&read(FleetAlerts::default()).await), ids(&expected));
    expected.sort_by_key(|a| (Reverse(a.severity), Reverse(a.last_seen), a.id));
    let worst = FleetAlerts {
        order: AlertOrder::Worst,
        ..FleetAlerts::default()
    };
    assert_eq!(ids(&read(worst.clone()).await), ids(&expected));
    expected.sort_by_key(|a| (Reverse(a.first_seen), Reverse(a.id)));
    let newest = FleetAlerts {
        order: AlertOrder::Newest,
        ..FleetAlerts::default()
    };
    assert_eq!(ids(&read(newest).await), ids(&expected));
    assert_eq!(count(FleetAlerts::default()).await, all.len());

    // A page: limit and offset, after the order.
    let page = read(FleetAlerts {
        limit: Some(2),
        offset: 1,
        ..worst.clone()
    })
    .await;
    let worst_ids = ids(&read(worst).await);
    assert_eq!(ids(&page), worst_ids[1..3]);

    // The API's keyed orders, a row at a time after the last one read.
    for column in [
        AlertColumn::LastSeen,
        AlertColumn::FirstSeen,
        AlertColumn::Severity,
    ] {
        for descending in [false, true] {
            let mut expected = all.clone();
            expected.sort_by_key(|a| (column.value(a), a.id));
            if descending {
                expected.reverse();
            }
            let mut which = FleetAlerts {
                order: AlertOrder::Keyed { column, descending },
                limit: Some(1),
                ..FleetAlerts::default()
            };
            let mut paged = Vec::new();
            loop {
                let mut page = read(which.clone()).await;
                let Some(last) = page.pop() else { break };
                assert!(page.is_empty(), "one row at a time");
                which.after = Some((column.value(&last), last.id));
                paged.push(last);
                assert!(paged.len() <= all.len(), "{column:?} repeats");
            }
            assert_eq!(ids(&paged), ids(&expected), "{column:?} {descending}");
            assert_eq!(count(which).await, all.len(), "counts ignore the keyset");
        }
    }

    // Filters, each against the same filter applied here.
    let rule = all[0].rule;
    let middle = all[all.len() / 2].last_seen;
    let cases: Vec<(FleetAlerts, Keeps)> = vec![
        (
            FleetAlerts {
                raised_only: true,
                ..FleetAlerts::default()
            },
            Box::new(|a: &AlertRecord| {
                matches!(a.status, AlertStatus::Firing | AlertStatus::Acknowledged)
            }),
        ),
        (
            FleetAlerts {
                state: Some(AlertStatus::Acknowledged),
                ..FleetAlerts::default()
            },
            Box::new(|a: &AlertRecord| a.status == AlertStatus::Acknowledged),
        ),
        (
            FleetAlerts {
                severity: Some(Severity::Critical),
                ..FleetAlerts::default()
            },
            Box::new(|a: &AlertRecord| a.severity == Some(Severity::Critical)),
        ),
        (
            FleetAlerts {
                rules: vec![rule],
                ..FleetAlerts::default()
            },
            Box::new(move |a: &AlertRecord| a.rule == rule),
        ),
        (
            FleetAlerts {
                device_id: Some("d2".into()),
                ..FleetAlerts::default()
            },
            Box::new(|a: &AlertRecord| a.device_id == "d2"),
        ),
        (
            FleetAlerts {
                groups: Some(vec!["laptops".into()]),
                ..FleetAlerts::default()
            },
            Box::new(|a: &AlertRecord| a.device_id == "d1"),
        ),
        (
            FleetAlerts {
                groups: Some(vec![]),
                ..FleetAlerts::default()
            },
            Box::new(|_: &AlertRecord| false),
        ),
        (
            FleetAlerts {
                last_seen_from: Some(middle),
                ..FleetAlerts::default()
            },
            Box::new(move |a: &AlertRecord| a.last_seen >= middle),
        ),
        (
            FleetAlerts {
                last_seen_before: Some(middle),
                ..FleetAlerts::default()
            },
            Box::new(move |a: &AlertRecord| a.last_seen < middle),
        ),
    ];
    for (which, keeps) in cases {
        let mut expected: Vec<AlertRecord> = all.iter().filter(|a| keeps(a)).cloned().collect();
        expected.sort_by_key(|a| (Reverse(a.last_seen), Reverse(a.id)));
        assert_eq!(ids(&read(which.clone()).await), ids(&expected), "{which:?}");
        assert_eq!(count(which.clone()).await, expected.len(), "{which:?}");
    }
}

pub(crate) async fn alerts_are_counted_per_device_and_domain_within_groups(store: &dyn Store) {
    let all = two_groups_with_alerts(store).await;
    let counts = store.alert_counts(None).await.unwrap();
    assert_eq!(counts, AlertCounts::tally(&all));
    assert!(
        counts.iter().any(|c| c.acknowledged > 0 && c.critical > 0),
        "{counts:?}"
    );
    let laptops: Vec<AlertRecord> = all
        .iter()
        .filter(|a| a.device_id == "d1")
        .cloned()
        .collect();
    assert_eq!(
        store
            .alert_counts(Some(vec!["laptops".into()]))
            .await
            .unwrap(),
        AlertCounts::tally(&laptops)
    );
    assert!(store.alert_counts(Some(vec![])).await.unwrap().is_empty());
}

pub(crate) async fn ack_notes_are_the_last_acknowledgements(store: &dyn Store) {
    let all = two_groups_with_alerts(store).await;
    let acked = all
        .iter()
        .find(|a| a.status == AlertStatus::Acknowledged)
        .expect("an acknowledged alert");
    let other = all
        .iter()
        .find(|a| a.id != acked.id)
        .expect("another alert");
    let notes = store.ack_notes(&[acked.id, other.id]).await.unwrap();
    assert_eq!(
        notes,
        HashMap::from([(acked.id, "ordering a disk".to_owned())])
    );
    assert!(store.ack_notes(&[]).await.unwrap().is_empty());
}
