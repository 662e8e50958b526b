//! `device list/show/retire`, `alerts list --device` and `silence add
//! --device` run as the real binary against a real store: devices named by
//! hostname or id start, six devices called `vm` told apart, `device show`
//! printing the four domains, never-reported devices flagged.

use std::process::Command;
use std::sync::Arc;

use forewarn_collector::fleet::hardware::HardwareIdentity;
use forewarn_collector::rules::RuleBook;
use forewarn_collector::store::{IncomingReport, NewDevice, NewToken, Store};
use forewarn_proto::pb;
use forewarn_testkit::store::TempStore;

const DAY: i64 = 86_400;

fn collector(fixture: &TempStore, args: &[&str]) -> (bool, String) {
    let config = fixture.dir.path().join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n",
            fixture.dir.path().display().to_string()
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_forewarn-collector"))
        .arg("--config")
        .arg(&config)
        .args(args)
        .env("USER", "alice")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Six devices named `vm` (ids `a0…` to `a5…`, groups lab/servers) and one
/// `LAPTOP-042` (id `c0…`) that reported a full set of domains.
async fn fleet(store: &dyn Store) {
    let now = forewarn_collector::clock::now_unix();
    for group in ["lab", "servers", "laptops"] {
        store
            .create_token(
                NewToken {
                    id: format!("t-{group}"),
                    token_hash: format!("hash-{group}"),
                    group: group.into(),
                    created_at: 0,
                    expires_at: i64::MAX,
                    max_uses: None,
                },
                forewarn_collector::console::auth::audit_entry(
                    "test",
                    "enrollment_token.create",
                    "",
                    "",
                    "test",
                ),
            )
            .await
            .unwrap();
    }
    let device = |id: String, hostname: &str| NewDevice {
        id,
        hostname: hostname.into(),
        os: "Debian GNU/Linux 12".into(),
        agent_version: "0.1.0".into(),
        enrolled_at: now - 3 * 3_600,
        cert_serial: "01".into(),
        cert_not_after: now + 30 * DAY,
        hardware: HardwareIdentity::default(),
    };
    for n in 0..6 {
        let group = if n % 2 == 0 { "lab" } else { "servers" };
        store
            .enroll_device(
                &format!("hash-{group}"),
                device(format!("a{n}{}", "0".repeat(31)), "vm"),
                now,
            )
            .await
            .unwrap()
            .unwrap();
    }
    let laptop = format!("c0{}", "1".repeat(30));
    store
        .enroll_device("hash-laptops", device(laptop.clone(), "LAPTOP-042"), now)
        .await
        .unwrap()
        .unwrap();
    let report = pb::StatusReport {
        seq: 1,
        collected_at_unix_secs: now,
        host: Some(pb::HostFacts {
            hostname: "LAPTOP-042".into(),
            ..Default::default()
        }),
        disks: Some(pb::DiskCheck {
            filesystems: vec![pb::DiskStatus {
                mount_point: "/home".into(),
                filesystem: "ext4".into(),
                total_bytes: 100 << 30,
                available_bytes: 25 << 30,
                free_bytes: 25 << 30,
                ..Default::default()
            }],
        }),
        certificates: Some(pb::CertificateCheck {
            certificates: vec![
                pb::CertificateStatus {
                    subject: "CN=intranet.example.com".into(),
                    not_after_unix_secs: now + 60 * DAY + 100,
                    locations: vec![pb::CertificateLocation {
                        source: pb::CertificateSource::File as i32,
                        location: "/etc/ssl/intranet.pem".into(),
                    }],
                    ..Default::default()
                },
                pb::CertificateStatus {
                    subject: "CN=vpn.example.com,O=Example".into(),
                    not_after_unix_secs: now + 6 * DAY + 100,
                    locations: vec![pb::CertificateLocation {
                        source: pb::CertificateSource::File as i32,
                        location: "/etc/ssl/vpn.pem".into(),
                    }],
                    ..Default::default()
                },
            ],
            endpoints: vec![],
        }),
        patches: Some(pb::PatchCheck {
            package_manager: "apt".into(),
            scan_state: pb::ScanState::Ok as i32,
            last_successful_scan_unix_secs: Some(now - 2 * 3_600),
            pending: vec![
                pb::PendingUpdate {
                    name: "openssl".into(),
                    security: true,
                    ..Default::default()
                },
                pb::PendingUpdate {
                    name: "curl".into(),
                    security: true,
                    ..Default::default()
                },
                pb::PendingUpdate {
                    name: "vim".into(),
                    ..Default::default()
                },
            ],
            reboot_required: true,
            reboot_reasons: vec![pb::RebootReason {
                source: "/run/reboot-required".into(),
                detail: "a new kernel was installed".into(),
                patch_related: true,
                packages: vec!["linux-image-amd64".into()],
            }],
            ..Default::default()
        }),
        backups: Some(pb::BackupCheck {
            jobs: vec![pb::BackupJobStatus {
                name: "nightly-home".into(),
                kind: "restic".into(),
                result: pb::BackupResult::Failed as i32,
                last_success_unix_secs: Some(now - 3 * DAY),
                message: "repository unreachable".into(),
                probe_error: "wrong password".into(),
                ..Default::default()
            }],
        }),
        ..Default::default()
    };
    store
        .ingest_report(
            IncomingReport {
                device_id: laptop,
                seq: 1,
                boot_id: 7,
                collected_at: now,
                received_at: now,
                hostname: "LAPTOP-042".into(),
                os: "Debian GNU/Linux 12".into(),
                agent_version: "0.1.0".into(),
                body: report.into(),
                certificate: None,
            },
            Arc::new(RuleBook::default()),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn six_devices_named_vm_are_told_apart_and_picked_by_id() {
    let fixture = TempStore::new().unwrap();
    fleet(fixture.store.as_ref()).await;

    let (ok, text) = collector(&fixture, &["device", "show", "VM"]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("\"VM\" fits 6 devices; pick one by its id"),
        "{text}"
    );
    for n in 0..6 {
        assert!(text.contains(&format!("a{n}{}", "0".repeat(31))), "{text}");
    }
    assert!(
        text.contains("servers") && text.contains("lab") && text.contains("never"),
        "{text}"
    );

    let (ok, text) = collector(&fixture, &["device", "show", "a3"]);
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("device     a3{}", "0".repeat(31))),
        "{text}"
    );
    assert!(text.contains("state      never reported"), "{text}");
    assert!(
        text.contains("never reported. On vm, check that the agent service runs"),
        "{text}"
    );

    let (ok, text) = collector(&fixture, &["device", "retire", "vm"]);
    assert!(!ok && text.contains("fits 6 devices"), "{text}");
    let (ok, text) = collector(&fixture, &["device", "retire", "a5"]);
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("device vm (a5{}) retired", "0".repeat(31))),
        "{text}"
    );

    let (ok, text) = collector(&fixture, &["device", "show", "no-such-host"]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("no device has hostname or id starting with \"no-such-host\"")
            && text.contains("forewarn-collector device list"),
        "{text}"
    );
    let (ok, text) = collector(&fixture, &["alerts", "list", "--device", "vm"]);
    assert!(!ok && text.contains("fits 6 devices"), "{text}");
    let (ok, text) = collector(
        &fixture,
        &[
            "silence",
            "add",
            "--device",
            "laptop-042",
            "--duration",
            "1h",
            "--comment",
            "repair",
        ],
    );
    assert!(ok, "{text}");
    let silences = fixture.store.list_silences().await.unwrap();
    assert_eq!(silences[0].device_id, format!("c0{}", "1".repeat(30)));
}

#[tokio::test]
async fn device_show_prints_all_four_domains_and_list_flags_never_reported() {
    let fixture = TempStore::new().unwrap();
    fleet(fixture.store.as_ref()).await;

    let (ok, text) = collector(&fixture, &["device", "show", "laptop-042"]);
    assert!(ok, "{text}");
    for expected in [
        "state      online",
        "disks",
        "/home",
        "25.0 GiB free of    100.0 GiB (25% free)",
        "certificates (soonest expiry first)",
        "patches",
        "3 pending, 2 security (apt); scan fresh, last successful scan 2 h ago",
        "reboot reason (/run/reboot-required): a new kernel was installed",
        "backup jobs",
        "nightly-home (restic): last run failed, last success 3 days ago; repository unreachable",
        "cannot read its state: wrong password",
    ] {
        assert!(text.contains(expected), "{expected:?} not in\n{text}");
    }
    let vpn = text.find("vpn.example.com").expect("vpn certificate");
    let intranet = text
        .find("intranet.example.com")
        .expect("intranet certificate");
    assert!(vpn < intranet, "soonest expiry first:\n{text}");
    assert!(
        text.contains("6 days left") && text.contains("/etc/ssl/vpn.pem"),
        "{text}"
    );

    let (ok, text) = collector(&fixture, &["device", "list"]);
    assert!(ok, "{text}");
    let laptop = text.lines().find(|l| l.contains("LAPTOP-042")).unwrap();
    assert!(laptop.ends_with("online"), "{laptop}");
    assert_eq!(
        text.lines()
            .filter(|l| l.contains(" vm ") && l.ends_with("never reported"))
            .count(),
        6,
        "{text}"
    );
    assert!(
        text.contains("6 device(s) enrolled but never reported:"),
        "{text}"
    );
    assert!(
        text.contains("enrolled 3 h ago and never reported"),
        "{text}"
    );
}
