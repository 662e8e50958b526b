//! Conformance cases for a machine enrolling again: finding it by firmware
//! identity, moving its record to the new certificate, refusing the old one
//! (also for a report that comes with it).

use std::sync::Arc;

use forewarn_proto::pb;

use super::console::entry;
use crate::fleet::certificate::superseded;
use crate::fleet::hardware::HardwareIdentity;
use crate::rules::RuleBook;
use crate::store::{
    IncomingReport, IngestOutcome, NewDevice, NewToken, PresentedCertificate, Store, TokenRefusal,
};

const UUID: &str = "4c4c4544-0042-3510-8052-b4c04f4e3332";

async fn token(store: &dyn Store, id: &str, hash: &str, group: &str) {
    store
        .create_token(
            NewToken {
                id: id.into(),
                token_hash: hash.into(),
                group: group.into(),
                created_at: 0,
                expires_at: i64::MAX,
                max_uses: None,
            },
            entry(0, "enrollment_token.create", ""),
        )
        .await
        .unwrap();
}

fn machine(id: &str, serial: &str, uuid: &str, cert_serial: &str) -> NewDevice {
    NewDevice {
        id: id.into(),
        hostname: "LAPTOP-042".into(),
        os: "linux".into(),
        agent_version: "0.1.0".into(),
        enrolled_at: 10,
        cert_serial: cert_serial.into(),
        cert_not_after: 10_000,
        hardware: HardwareIdentity::from_facts(serial, uuid),
    }
}

pub(crate) async fn known_machines_are_found_by_serial_or_uuid(store: &dyn Store) {
    token(store, "t1", "aa", "laptops").await;
    for device in [
        machine("d1", "SN1", UUID, "01"),
        machine("d2", "SN2", "", "02"),
        machine("d3", "", "", "03"),
    ] {
        store
            .enroll_device("aa", device, 10)
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(
        store.token_group("aa").await.unwrap().as_deref(),
        Some("laptops")
    );
    assert_eq!(store.token_group("zz").await.unwrap(), None);
    let ids = |found: Vec<crate::fleet::hardware::KnownMachine>| {
        found.into_iter().map(|m| m.device.id).collect::<Vec<_>>()
    };
    let by_uuid = store
        .known_machines(&HardwareIdentity::from_facts("", UUID))
        .await
        .unwrap();
    assert_eq!(
        by_uuid[0].hardware,
        HardwareIdentity::from_facts("SN1", UUID)
    );
    assert_eq!(ids(by_uuid), ["d1"]);
    let by_serial = store
        .known_machines(&HardwareIdentity::from_facts(
            "SN2",
            "11111111-2222-3333-4444-555555555555",
        ))
        .await
        .unwrap();
    assert_eq!(ids(by_serial), ["d2"]);
    let unknown = store
        .known_machines(&HardwareIdentity::default())
        .await
        .unwrap();
    assert!(unknown.is_empty(), "{unknown:?}");
}

pub(crate) async fn reenrolling_keeps_the_id_and_marks_the_old_certificate(store: &dyn Store) {
    token(store, "t1", "aa", "laptops").await;
    store
        .enroll_device("aa", machine("d1", "SN1", UUID, "01"), 10)
        .await
        .unwrap()
        .unwrap();
    let before = store.current_certificate("d1").await.unwrap().unwrap();
    assert_eq!(
        (before.serial.as_str(), before.reenrolled_not_before),
        ("01", None)
    );

    let mut again = machine("d1", "SN1", UUID, "0b");
    again.hostname = "laptop-042-new".into();
    again.cert_not_after = 20_000;
    let record = store
        .reenroll_device("aa", again, 500, 510)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            record.id.as_str(),
            record.hostname.as_str(),
            record.cert_serial.as_str(),
            record.cert_not_after
        ),
        ("d1", "laptop-042-new", "0b", 20_000)
    );
    assert_eq!(store.list_devices().await.unwrap().len(), 1);
    let after = store.current_certificate("d1").await.unwrap().unwrap();
    assert_eq!(after.reenrolled_not_before, Some(500));
    assert!(
        superseded(&after, "01", 100),
        "the old certificate still counts"
    );
    assert!(!superseded(&after, "0b", 500));
    // A report checks its certificate in the same call that stores it.
    let report = |seq, serial: &str, not_before| IncomingReport {
        device_id: "d1".into(),
        seq,
        boot_id: 1,
        collected_at: 600,
        received_at: 600,
        hostname: "laptop-042-new".into(),
        os: "linux".into(),
        agent_version: "0.1.0".into(),
        body: pb::StatusReport::default().into(),
        certificate: Some(PresentedCertificate {
            serial_hex: serial.into(),
            not_before,
        }),
    };
    let rules = Arc::new(RuleBook::default());
    assert_eq!(
        store
            .ingest_report(report(1, "01", 100), Arc::clone(&rules))
            .await
            .unwrap(),
        IngestOutcome::SupersededCertificate
    );
    assert_eq!(store.device("d1").await.unwrap().unwrap().last_seq, 0);
    assert!(matches!(
        store
            .ingest_report(report(1, "0b", 500), rules)
            .await
            .unwrap(),
        IngestOutcome::Stored { .. }
    ));
    assert_eq!(
        store.token_group("aa").await.unwrap().as_deref(),
        Some("laptops")
    );
    assert_eq!(store.list_tokens().await.unwrap()[0].uses, 2);
    assert!(store.current_certificate("nope").await.unwrap().is_none());
}

pub(crate) async fn reenrolling_is_refused_for_a_spent_token_or_a_retired_device(
    store: &dyn Store,
) {
    store
        .create_token(
            NewToken {
                id: "t1".into(),
                token_hash: "aa".into(),
                group: "laptops".into(),
                created_at: 0,
                expires_at: i64::MAX,
                max_uses: Some(1),
            },
            entry(0, "enrollment_token.create", ""),
        )
        .await
        .unwrap();
    store
        .enroll_device("aa", machine("d1", "SN1", UUID, "01"), 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .reenroll_device("aa", machine("d1", "SN1", UUID, "02"), 500, 510)
            .await
            .unwrap(),
        Err(TokenRefusal::UsedUp)
    );
    assert_eq!(
        store
            .current_certificate("d1")
            .await
            .unwrap()
            .unwrap()
            .serial,
        "01"
    );
    token(store, "t2", "bb", "laptops").await;
    assert!(
        store
            .retire_device("d1", entry(600, "device.retire", "d1"))
            .await
            .unwrap()
    );
    let err = store
        .reenroll_device("bb", machine("d1", "SN1", UUID, "03"), 700, 710)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("retired or removed"), "{err}");
}
