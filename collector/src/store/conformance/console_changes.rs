//! Conformance cases for the console's changes whose audit row is written
//! in the same transaction: acknowledgements, alert notes, silences added
//! and ended, delivery retries, device retirement and deletion, enrollment
//! tokens made and revoked. A change that is refused writes no row; one
//! that is made always has its row.

use super::alerts::{T0, report, rules};
use super::enroll_d1;
use crate::alerts::AlertFilter;
use crate::alerts::silence::Silence;
use crate::store::console::{AuditQuery, NewAuditEntry};
use crate::store::outbox::OutboxState;
use crate::store::{NewToken, Store};

fn audit(action: &str, target: &str, detail: &str) -> NewAuditEntry {
    NewAuditEntry {
        at: T0 + 500,
        actor: "olga".into(),
        action: action.into(),
        target: target.into(),
        detail: detail.into(),
        source: "127.0.0.1".into(),
    }
}

/// Every audit row, newest first, but those of enrollment tokens: the
/// cases enroll their devices first, and [`enrollment_tokens_are_made_and_revoked_with_their_audit_rows`]
/// checks those rows.
pub(super) async fn audit_rows(store: &dyn Store) -> Vec<NewAuditEntry> {
    all_audit_rows(store)
        .await
        .into_iter()
        .filter(|a| !a.action.starts_with("enrollment_token."))
        .collect()
}

/// Every audit row, newest first.
async fn all_audit_rows(store: &dyn Store) -> Vec<NewAuditEntry> {
    store
        .list_audit(AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.entry)
        .collect()
}

async fn firing_alert(store: &dyn Store) -> i64 {
    enroll_d1(store, "laptops").await;
    store
        .ingest_report(report(1, T0, 8), rules())
        .await
        .unwrap();
    store.list_alerts(AlertFilter::default()).await.unwrap()[0].id
}

pub(crate) async fn alert_note_and_its_audit_row_are_written_together(store: &dyn Store) {
    let id = firing_alert(store).await;
    let note = audit("alert.note", &id.to_string(), "disk swap ordered");
    assert!(
        store
            .note_alert(id, "olga", "disk swap ordered", note.clone())
            .await
            .unwrap()
    );
    let (alert, history) = store.alert(id).await.unwrap().unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.event.as_deref(), Some("note"));
    assert_eq!(last.actor.as_deref(), Some("olga"));
    assert_eq!(last.note.as_deref(), Some("disk swap ordered"));
    assert_eq!(last.at, T0 + 500);
    assert_eq!(alert.acknowledged_by, None, "a note does not acknowledge");
    assert_eq!(audit_rows(store).await, [note]);
    // No alert, no note and no audit row.
    assert!(
        !store
            .note_alert(id + 1000, "olga", "x", audit("alert.note", "?", ""))
            .await
            .unwrap()
    );
    assert_eq!(audit_rows(store).await.len(), 1);
}

pub(crate) async fn a_failed_delivery_is_retried_once_with_its_audit_row(store: &dyn Store) {
    firing_alert(store).await;
    let claimed = store.claim_outbox(10, 60, T0 + 10).await.unwrap();
    let id = claimed[0].id;
    let retry = audit("delivery.retry", &id.to_string(), "");
    assert!(
        !store.retry_delivery(id, retry.clone()).await.unwrap(),
        "a claimed delivery is not failed"
    );
    store.mark_failed(id, "gave up", None).await.unwrap();
    assert!(store.retry_delivery(id, retry.clone()).await.unwrap());
    let pending = store.outbox_in_state(OutboxState::Pending).await.unwrap();
    assert_eq!(
        (
            pending[0].id,
            pending[0].attempts,
            pending[0].next_attempt_at
        ),
        (id, 0, T0 + 500)
    );
    assert!(!store.retry_delivery(id, retry.clone()).await.unwrap());
    assert_eq!(audit_rows(store).await, [retry]);
}

pub(crate) async fn deleting_a_device_removes_what_is_kept_about_it(store: &dyn Store) {
    firing_alert(store).await;
    store
        .ingest_report(report(2, T0 + 60, 3), rules())
        .await
        .unwrap();
    store
        .add_silence(
            one_hour_silence("s1", T0),
            audit("silence.add", "s1", "disk swap"),
        )
        .await
        .unwrap();
    let deleted = store
        .delete_device("d1", audit("device.delete", "d1", "LAPTOP-042"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (deleted.hostname.as_str(), deleted.group.as_str()),
        ("LAPTOP-042", "laptops")
    );
    assert_eq!(
        (deleted.reports, deleted.alerts, deleted.silences),
        (2, 1, 1)
    );
    assert!(deleted.disk_samples >= 1);
    assert_eq!(store.device("d1").await.unwrap(), None);
    assert!(
        store
            .list_alerts(AlertFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.list_silences().await.unwrap().is_empty());
    assert!(store.latest_status("d1").await.unwrap().is_none());
    assert!(store.disk_forecasts("d1").await.unwrap().is_empty());
    for state in [OutboxState::Pending, OutboxState::Failed] {
        assert!(store.outbox_in_state(state).await.unwrap().is_empty());
    }
    let rows = audit_rows(store).await;
    assert_eq!(rows.len(), 2, "the silence's row and the deletion's");
    assert!(
        rows[0].detail.starts_with("LAPTOP-042 (removed 2 reports"),
        "{}",
        rows[0].detail
    );
    assert_eq!(
        store
            .delete_device("d1", audit("device.delete", "d1", ""))
            .await
            .unwrap(),
        None
    );
    assert_eq!(audit_rows(store).await.len(), 2);
}

fn one_hour_silence(id: &str, starts_at: i64) -> Silence {
    Silence {
        id: id.into(),
        device_id: "d1".into(),
        group: String::new(),
        rule: String::new(),
        subject: String::new(),
        starts_at,
        ends_at: Some(starts_at + 3600),
        weekly: None,
        comment: "disk swap".into(),
        created_by: "olga".into(),
        created_at: starts_at,
        expired_at: None,
    }
}

pub(crate) async fn an_acknowledgement_and_its_audit_row_are_written_together(store: &dyn Store) {
    let id = firing_alert(store).await;
    assert!(
        !store
            .ack_alert(id + 1000, "olga", "x", audit("alert.ack", "?", "x"))
            .await
            .unwrap(),
        "no such alert"
    );
    assert!(audit_rows(store).await.is_empty());
    let ack = audit("alert.ack", &id.to_string(), "ordering a disk");
    assert!(
        store
            .ack_alert(id, "olga", "ordering a disk", ack.clone())
            .await
            .unwrap()
    );
    let (alert, history) = store.alert(id).await.unwrap().unwrap();
    assert_eq!(
        (alert.acknowledged_by.as_deref(), alert.acknowledged_at),
        (Some("olga"), Some(T0 + 500)),
        "acknowledged at the audit row's time"
    );
    assert_eq!(
        history.last().unwrap().event.as_deref(),
        Some("acknowledged")
    );
    assert_eq!(audit_rows(store).await, std::slice::from_ref(&ack));
    store
        .ingest_report(report(2, T0 + 600, 60), rules())
        .await
        .unwrap();
    assert!(
        !store
            .ack_alert(
                id,
                "olga",
                "again",
                audit("alert.ack", &id.to_string(), "again")
            )
            .await
            .unwrap(),
        "a resolved alert is not acknowledged"
    );
    assert_eq!(audit_rows(store).await, [ack]);
}

pub(crate) async fn silences_are_added_and_ended_with_their_audit_rows(store: &dyn Store) {
    enroll_d1(store, "laptops").await;
    let added = audit("silence.add", "s1", "disk swap");
    store
        .add_silence(one_hour_silence("s1", T0), added.clone())
        .await
        .unwrap();
    assert_eq!(audit_rows(store).await, std::slice::from_ref(&added));
    let ended = audit("silence.expire", "s1", "disk swap");
    assert!(store.expire_silence("s1", ended.clone()).await.unwrap());
    assert_eq!(
        store.list_silences().await.unwrap()[0].expired_at,
        Some(T0 + 500)
    );
    for (id, why) in [("s1", "already ended by hand"), ("nope", "no such silence")] {
        assert!(
            !store
                .expire_silence(id, audit("silence.expire", id, ""))
                .await
                .unwrap(),
            "{why}"
        );
    }
    // One that ran to its end (T0 - 4000 + 3600 < T0 + 500) is not ended again.
    let ran_out = audit("silence.add", "s2", "disk swap");
    store
        .add_silence(one_hour_silence("s2", T0 - 4000), ran_out.clone())
        .await
        .unwrap();
    assert!(
        !store
            .expire_silence("s2", audit("silence.expire", "s2", ""))
            .await
            .unwrap(),
        "a silence that ran to its end"
    );
    let listed = store.list_silences().await.unwrap();
    let s2 = listed.iter().find(|s| s.id == "s2").unwrap();
    assert_eq!(s2.expired_at, None);
    assert_eq!(audit_rows(store).await, [ran_out, ended, added]);
}

pub(crate) async fn retiring_a_device_writes_its_audit_row_with_it(store: &dyn Store) {
    enroll_d1(store, "laptops").await;
    assert!(
        !store
            .retire_device("nope", audit("device.retire", "nope", ""))
            .await
            .unwrap()
    );
    assert!(audit_rows(store).await.is_empty(), "no such device, no row");
    let retire = audit("device.retire", "d1", "LAPTOP-042");
    assert!(store.retire_device("d1", retire.clone()).await.unwrap());
    assert_eq!(
        store.device("d1").await.unwrap().unwrap().retired_at,
        Some(T0 + 500)
    );
    assert_eq!(audit_rows(store).await, [retire]);
}

pub(crate) async fn enrollment_tokens_are_made_and_revoked_with_their_audit_rows(
    store: &dyn Store,
) {
    let token = |id: &str, hash: &str| NewToken {
        id: id.into(),
        token_hash: hash.into(),
        group: "laptops".into(),
        created_at: T0,
        expires_at: T0 + 3600,
        max_uses: None,
    };
    let made = audit("enrollment_token.create", "t1", "group laptops");
    assert!(
        store
            .create_token(token("t1", "aa"), made.clone())
            .await
            .unwrap()
    );
    // The same id or the same secret again: refused, no token, no row.
    for (id, hash) in [("t1", "bb"), ("t2", "aa")] {
        assert!(
            !store
                .create_token(
                    token(id, hash),
                    audit("enrollment_token.create", id, "again")
                )
                .await
                .unwrap(),
            "{id} {hash}"
        );
    }
    assert_eq!(store.list_tokens().await.unwrap().len(), 1);
    assert_eq!(all_audit_rows(store).await, std::slice::from_ref(&made));

    let revoked = NewAuditEntry {
        at: T0 + 600,
        ..audit("enrollment_token.revoke", "t1", "group laptops")
    };
    assert!(store.revoke_token("t1", revoked.clone()).await.unwrap());
    assert!(
        !store
            .revoke_token("nope", audit("enrollment_token.revoke", "nope", ""))
            .await
            .unwrap(),
        "no such token, no row"
    );
    assert_eq!(
        store.list_tokens().await.unwrap()[0].revoked_at,
        Some(T0 + 600),
        "revoked at the audit row's time"
    );
    assert_eq!(all_audit_rows(store).await, [revoked, made]);
}
