//! Conformance cases for tokens, enrollment and report ingest.

use std::sync::Arc;

use super::console::entry;
use crate::rules::RuleBook;
use crate::store::{IncomingReport, IngestOutcome, NewDevice, NewToken, Store, TokenRefusal};

const HASH: &str = "aa";

fn rules() -> Arc<RuleBook> {
    Arc::new(RuleBook::default())
}

/// Creates token `t1` (hash `aa`) for group `laptops`.
async fn create_token(store: &dyn Store, max_uses: Option<u32>, expires_at: i64) {
    store
        .create_token(
            NewToken {
                id: "t1".into(),
                token_hash: HASH.into(),
                group: "laptops".into(),
                created_at: 0,
                expires_at,
                max_uses,
            },
            entry(0, "enrollment_token.create", "t1"),
        )
        .await
        .unwrap();
}

fn device(id: &str) -> NewDevice {
    NewDevice {
        id: id.into(),
        hostname: "host".into(),
        os: "linux".into(),
        agent_version: "0.1.0".into(),
        enrolled_at: 10,
        cert_serial: "01".into(),
        cert_not_after: 1000,
        hardware: Default::default(),
    }
}

/// A report whose body is not a `StatusReport`: the store keeps it as is.
fn report(device_id: &str, seq: u64) -> IncomingReport {
    IncomingReport {
        device_id: device_id.into(),
        seq,
        boot_id: 0,
        collected_at: 20,
        received_at: 21,
        hostname: "host".into(),
        os: "linux".into(),
        agent_version: "0.1.0".into(),
        body: vec![1, 2, 3].into(),
        certificate: None,
    }
}

pub(crate) async fn single_use_token_enrolls_once(store: &dyn Store) {
    create_token(store, Some(1), 100).await;
    let first = store.enroll_device(HASH, device("d1"), 10).await.unwrap();
    assert_eq!(first.unwrap().group, "laptops");
    let second = store.enroll_device(HASH, device("d2"), 10).await.unwrap();
    assert_eq!(second, Err(TokenRefusal::UsedUp));
    assert!(store.device("d2").await.unwrap().is_none());
}

pub(crate) async fn expired_and_revoked_tokens_are_refused(store: &dyn Store) {
    create_token(store, None, 100).await;
    assert_eq!(
        store.enroll_device(HASH, device("d1"), 100).await.unwrap(),
        Err(TokenRefusal::Expired)
    );
    assert!(
        store
            .revoke_token("t1", entry(50, "enrollment_token.revoke", "t1"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.enroll_device(HASH, device("d1"), 60).await.unwrap(),
        Err(TokenRefusal::Revoked)
    );
    assert_eq!(
        store.enroll_device("bb", device("d1"), 60).await.unwrap(),
        Err(TokenRefusal::Unknown)
    );
}

pub(crate) async fn replayed_seq_is_acknowledged_without_writing(store: &dyn Store) {
    create_token(store, None, 100).await;
    store
        .enroll_device(HASH, device("d1"), 10)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        store.ingest_report(report("d1", 5), rules()).await.unwrap(),
        IngestOutcome::Stored { .. }
    ));
    let mut older = report("d1", 4);
    older.body = vec![9].into();
    assert_eq!(
        store.ingest_report(older, rules()).await.unwrap(),
        IngestOutcome::Replay {
            group: "laptops".into(),
            acked_seq: 5
        }
    );
    assert_eq!(
        store.latest_status("d1").await.unwrap().unwrap().encoded,
        vec![1, 2, 3]
    );
}

/// A restored or unwritable agent state restarts the numbering under a new
/// boot id: the newer report is stored (the device is not frozen), spooled
/// reports of the earlier boot that are older than it are not.
pub(crate) async fn restarted_numbering_is_stored_and_stale_reports_are_not(store: &dyn Store) {
    create_token(store, None, 100).await;
    store
        .enroll_device(HASH, device("d1"), 10)
        .await
        .unwrap()
        .unwrap();
    let at = |seq, boot_id, collected_at, byte| IncomingReport {
        boot_id,
        collected_at,
        received_at: collected_at + 1,
        body: vec![byte].into(),
        certificate: None,
        ..report("d1", seq)
    };
    assert!(matches!(
        store.ingest_report(at(5, 7, 20, 5), rules()).await.unwrap(),
        IngestOutcome::Stored { .. }
    ));
    assert_eq!(
        store.ingest_report(at(1, 9, 30, 1), rules()).await.unwrap(),
        IngestOutcome::Renumbered {
            group: "laptops".into(),
            previous_seq: 5,
            notifications: 0
        }
    );
    let latest = store.latest_status("d1").await.unwrap().unwrap();
    assert_eq!((latest.seq, latest.encoded), (1, vec![1]));
    let device = store.device("d1").await.unwrap().unwrap();
    assert_eq!((device.last_seq, device.last_seen_at), (1, Some(31)));
    assert!(matches!(
        store.ingest_report(at(2, 9, 40, 2), rules()).await.unwrap(),
        IngestOutcome::Stored { .. }
    ));
    assert_eq!(
        store.ingest_report(at(2, 9, 40, 2), rules()).await.unwrap(),
        IngestOutcome::Replay {
            group: "laptops".into(),
            acked_seq: 2
        }
    );
    assert_eq!(
        store.ingest_report(at(1, 7, 15, 9), rules()).await.unwrap(),
        IngestOutcome::Stale {
            group: "laptops".into()
        }
    );
    assert_eq!(
        store.latest_status("d1").await.unwrap().unwrap().encoded,
        vec![2]
    );
}

pub(crate) async fn retired_and_unknown_devices_write_nothing(store: &dyn Store) {
    create_token(store, None, 100).await;
    store
        .enroll_device(HASH, device("d1"), 10)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .retire_device("d1", entry(11, "device.retire", "d1"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.ingest_report(report("d1", 1), rules()).await.unwrap(),
        IngestOutcome::Retired
    );
    assert_eq!(
        store
            .ingest_report(report("nope", 1), rules())
            .await
            .unwrap(),
        IngestOutcome::UnknownDevice
    );
    assert!(store.latest_status("d1").await.unwrap().is_none());
}
