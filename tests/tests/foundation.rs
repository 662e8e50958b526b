//! The road every report takes: token → enroll → report over mTLS → stored,
//! and everything that must be refused on the way, with the gRPC code the
//! client sees and nothing written.

use std::time::Duration;

use anyhow::Result;
use forewarn_e2e::{Agent, CollectorProcess, df_root_bytes, tls_channel, wait_for};
use forewarn_proto::pb;
use forewarn_proto::pb::enrollment_client::EnrollmentClient;
use forewarn_proto::pb::ingest_client::IngestClient;
use forewarn_testkit::report;
use tonic::Code;
use tonic::transport::Identity;

const FAST_REPORTS: &str = "report_interval_secs = 1";

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A CSR for a fresh key, as an agent would send.
fn csr() -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    rcgen::CertificateParams::default()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap()
}

async fn enroll_raw(
    collector: &CollectorProcess,
    token: &str,
) -> Result<pb::EnrollResponse, tonic::Status> {
    let channel = tls_channel(collector, &collector.ca_pem().unwrap(), None)
        .await
        .unwrap();
    EnrollmentClient::new(channel)
        .enroll(pb::EnrollRequest {
            token: token.into(),
            csr_pem: csr(),
            host: None,
        })
        .await
        .map(tonic::Response::into_inner)
}

#[test]
fn enrolled_agent_reports_real_disks_that_show_in_device_list() -> Result<()> {
    let collector = CollectorProcess::start(FAST_REPORTS)?;
    let token = collector.create_token("laptops", "1h", Some(1))?;
    let mut agent = Agent::new()?;
    let device_id = agent.enroll_ok(&collector, &token)?;
    agent.start()?;

    let stored = wait_for("first report", Duration::from_secs(20), || {
        collector.latest_report(&device_id).ok().flatten()
    })?;
    let root = stored
        .disks
        .as_ref()
        .and_then(|d| d.filesystems.iter().find(|fs| fs.mount_point == "/"))
        .expect("root filesystem reported");
    assert_eq!(
        root.total_bytes,
        df_root_bytes()?,
        "agent's size of / differs from df"
    );
    assert!(root.available_bytes <= root.free_bytes && root.free_bytes <= root.total_bytes);
    assert_eq!(stored.claimed_device_id, device_id);
    assert!(!stored.host.as_ref().unwrap().hostname.is_empty());

    let list = collector.admin(&["device", "list"])?;
    assert!(list.status.success());
    let line = stdout(&list)
        .lines()
        .find(|l| l.starts_with(&device_id))
        .map(str::to_owned)
        .expect("device listed");
    assert!(
        line.contains("laptops") && line.contains("online"),
        "{line}"
    );
    assert!(
        !line.contains("never"),
        "device list says never seen: {line}"
    );

    let show = collector.admin(&["device", "show", &device_id])?;
    let shown = stdout(&show);
    assert!(
        shown.lines().any(|l| l == "disks")
            && shown.lines().any(|l| l.trim_start().starts_with("/ ")),
        "device show lists no disk /: {shown}"
    );
    agent.stop()?;
    Ok(())
}

#[test]
fn enrollment_refuses_collector_with_unexpected_ca() -> Result<()> {
    let collector = CollectorProcess::start("")?;
    let token = collector.create_token("laptops", "1h", None)?;
    let agent = Agent::new()?;
    let output = agent.enroll_with_fingerprint(&collector, &token, &"ab".repeat(32))?;
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.contains("CA does not match"), "{err}");
    assert!(
        err.contains(&format!(
            "expected (--ca-fingerprint) SHA-256 {}",
            "ab".repeat(32)
        )),
        "{err}"
    );
    // The whole presented chain is listed (leaf first), the CA among it.
    assert!(
        err.contains(&format!(
            "the collector at {} presented certificates with SHA-256 ",
            collector.url()
        )) && err.contains(&format!("{} (issuer 1)", collector.ca_fingerprint)),
        "{err}"
    );
    assert!(err.contains("forewarn-collector ca-fingerprint"), "{err}");
    assert!(!agent.state_dir.path().join("enrollment.toml").exists());
    assert_eq!(
        collector.device_count()?,
        0,
        "token must not have been sent"
    );
    Ok(())
}

#[test]
fn enrolling_on_the_web_port_says_it_is_not_the_agent_port() -> Result<()> {
    let collector = CollectorProcess::start("")?;
    let token = collector.create_token("laptops", "1h", None)?;
    let agent = Agent::new()?;
    let web_url = format!("https://{}", collector.web_addr);
    let output = agent
        .command()
        .args(["enroll", "--url", &web_url, "--token", &token])
        .args(["--ca-fingerprint", &collector.ca_fingerprint])
        .output()?;
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains(&format!("{web_url} did not answer with TLS")),
        "{err}"
    );
    assert!(err.contains("agent_listen port"), "{err}");
    assert!(!err.contains("InvalidContentType"), "{err}");
    assert!(!agent.state_dir.path().join("enrollment.toml").exists());
    assert_eq!(collector.device_count()?, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_problems_are_unauthenticated_and_enroll_nothing() -> Result<()> {
    let collector = CollectorProcess::start("")?;

    let single = collector.create_token("laptops", "1h", Some(1))?;
    enroll_raw(&collector, &single).await?;
    let reused = enroll_raw(&collector, &single).await.unwrap_err();
    assert_eq!(reused.code(), Code::Unauthenticated);
    assert!(
        reused.message().contains("no uses left"),
        "{}",
        reused.message()
    );

    let expired = collector.create_token("laptops", "1s", None)?;
    std::thread::sleep(Duration::from_millis(2100));
    let status = enroll_raw(&collector, &expired).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("expired"), "{}", status.message());

    let revoked = collector.create_token("laptops", "1h", None)?;
    let listed = stdout(&collector.admin(&["token", "list"])?);
    assert!(
        !listed.contains(&revoked),
        "token list must not show secrets"
    );
    let id = listed
        .lines()
        .last()
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    assert!(collector.admin(&["token", "revoke", &id])?.status.success());
    let status = enroll_raw(&collector, &revoked).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("revoked"), "{}", status.message());

    let status = enroll_raw(&collector, "fwt_not-a-token").await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    assert_eq!(
        collector.device_count()?,
        1,
        "only the first single-use enrollment may succeed"
    );

    // The agent CLI explains the refusal in words.
    let agent = Agent::new()?;
    let output = agent.enroll(&collector, &single)?;
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("refused enrollment"),
        "{}",
        stderr(&output)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_without_client_certificate_is_unauthenticated() -> Result<()> {
    let collector = CollectorProcess::start("")?;
    let channel = tls_channel(&collector, &collector.ca_pem()?, None).await?;
    let status = IngestClient::new(channel)
        .report(report(1))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(collector.history_total()?, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificate_from_another_ca_fails_the_handshake() -> Result<()> {
    let collector = CollectorProcess::start("")?;
    let foreign_ca_key = rcgen::KeyPair::generate()?;
    let mut ca_params = rcgen::CertificateParams::default();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let issuer = rcgen::Issuer::new(ca_params, &foreign_ca_key);
    let device_key = rcgen::KeyPair::generate()?;
    let mut device_params = rcgen::CertificateParams::default();
    device_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "impostor");
    device_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let device_cert = device_params.signed_by(&device_key, &issuer)?;

    let identity = Identity::from_pem(device_cert.pem(), device_key.serialize_pem());
    // TLS 1.3 may finish the client side of the handshake before the server
    // checks the certificate, so the refusal shows on connect or on the first
    // call: as the server's unknown-CA alert, or under load as a closed or
    // broken connection. Either way nothing may be stored.
    if let Ok(channel) = tls_channel(&collector, &collector.ca_pem()?, Some(identity)).await {
        let status = IngestClient::new(channel)
            .report(report(1))
            .await
            .unwrap_err();
        assert!(
            matches!(
                status.code(),
                Code::Unknown | Code::Unavailable | Code::Cancelled
            ),
            "{status:?}"
        );
    }
    assert_eq!(collector.history_total()?, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_reports_are_refused_with_clear_codes_and_write_nothing() -> Result<()> {
    let collector = CollectorProcess::start("")?;
    let token = collector.create_token("servers", "1h", None)?;
    let agent = Agent::new()?;
    let device_id = agent.enroll_ok(&collector, &token)?;
    let mut client = IngestClient::new(agent.channel(&collector).await?);

    let mut oversized = report(1);
    oversized.host.as_mut().unwrap().hostname = "x".repeat(5 * 1024 * 1024);
    let status = client.report(oversized).await.unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");

    let mut long_string = report(1);
    long_string.disks.as_mut().unwrap().filesystems[0].mount_point = "/".repeat(5000);
    let status = client.report(long_string).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("disks.filesystems.mount_point"),
        "{}",
        status.message()
    );

    let mut future = report(1);
    future.collected_at_unix_secs += 3 * 365 * 24 * 3600;
    let status = client.report(future).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("future"), "{}", status.message());

    assert_eq!(collector.history_len(&device_id)?, 0);
    assert!(collector.latest_report(&device_id)?.is_none());

    // The same connection still works for a valid report.
    let ack = client.report(report(1)).await?.into_inner();
    assert_eq!(ack.acked_seq, 1);
    assert_eq!(collector.history_len(&device_id)?, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retired_device_is_refused_and_nothing_is_written() -> Result<()> {
    let collector = CollectorProcess::start("")?;
    let token = collector.create_token("laptops", "1h", None)?;
    let agent = Agent::new()?;
    let device_id = agent.enroll_ok(&collector, &token)?;
    let mut client = IngestClient::new(agent.channel(&collector).await?);
    client.report(report(1)).await?;

    assert!(
        collector
            .admin(&["device", "retire", &device_id, "--by", "e2e"])?
            .status
            .success()
    );
    let status = client.report(report(2)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(collector.history_len(&device_id)?, 1);
    let renew = client
        .renew(pb::RenewRequest { csr_pem: csr() })
        .await
        .unwrap_err();
    assert_eq!(renew.code(), Code::PermissionDenied);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_naming_another_device_is_stored_under_the_certificate_device() -> Result<()> {
    let collector = CollectorProcess::start("")?;
    let token = collector.create_token("laptops", "1h", None)?;
    let honest = Agent::new()?;
    let honest_id = honest.enroll_ok(&collector, &token)?;
    let sneaky = Agent::new()?;
    let sneaky_id = sneaky.enroll_ok(&collector, &token)?;

    let mut forged = report(1);
    forged.claimed_device_id = honest_id.clone();
    IngestClient::new(sneaky.channel(&collector).await?)
        .report(forged)
        .await?;

    assert!(collector.latest_report(&honest_id)?.is_none());
    let stored = collector
        .latest_report(&sneaky_id)?
        .expect("stored under the sender");
    assert_eq!(stored.claimed_device_id, sneaky_id);
    Ok(())
}

#[test]
fn agent_reconnects_after_collector_restart_and_next_report_lands() -> Result<()> {
    let mut collector = CollectorProcess::start(FAST_REPORTS)?;
    let token = collector.create_token("laptops", "1h", None)?;
    let mut agent = Agent::new()?;
    let device_id = agent.enroll_ok(&collector, &token)?;
    agent.start()?;
    wait_for("a report before restart", Duration::from_secs(20), || {
        (collector.history_len(&device_id).ok()? >= 2).then_some(())
    })?;

    collector.stop()?;
    std::thread::sleep(Duration::from_secs(2));
    collector.restart()?;
    let before = collector.history_len(&device_id)?;
    let seq_before = collector.latest_report(&device_id)?.unwrap().seq;
    wait_for("a report after restart", Duration::from_secs(30), || {
        (collector.history_len(&device_id).ok()? > before).then_some(())
    })?;
    let latest = collector.latest_report(&device_id)?.unwrap();
    assert!(latest.seq > seq_before);
    // Reports made while the collector was down were spooled and delivered, oldest first.
    let seqs: Vec<i64> = {
        let db = collector.db()?;
        let mut statement =
            db.prepare("SELECT seq FROM status_history WHERE device_id = ?1 ORDER BY seq")?;
        statement
            .query_map([&device_id], |row| row.get(0))?
            .collect::<Result<_, _>>()?
    };
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "gap in delivered reports: {seqs:?}"
    );
    agent.stop()?;
    Ok(())
}

#[test]
fn agent_renews_its_short_lived_certificate_and_keeps_reporting() -> Result<()> {
    let collector =
        CollectorProcess::start(&format!("{FAST_REPORTS}\ndevice_cert_validity_secs = 30"))?;
    let token = collector.create_token("laptops", "1h", None)?;
    let mut agent = Agent::new()?;
    let device_id = agent.enroll_ok(&collector, &token)?;
    let serial = |c: &CollectorProcess| -> Option<String> {
        c.device(&device_id).ok()?.map(|device| device.cert_serial)
    };
    let first_serial = serial(&collector).unwrap();
    agent.start()?;
    wait_for("certificate renewal", Duration::from_secs(45), || {
        serial(&collector).filter(|s| *s != first_serial)
    })?;
    let after_renewal = collector.history_len(&device_id)?;
    wait_for(
        "reports with the renewed certificate",
        Duration::from_secs(15),
        || (collector.history_len(&device_id).ok()? > after_renewal + 1).then_some(()),
    )?;
    agent.stop()?;
    Ok(())
}

#[test]
fn check_once_json_lists_this_machines_real_filesystems() -> Result<()> {
    let agent = Agent::new()?;
    let output = agent
        .command()
        .args(["check", "--once", "--json"])
        .output()?;
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let filesystems = report["disks"]["filesystems"]
        .as_array()
        .expect("filesystems array");
    let root = filesystems
        .iter()
        .find(|fs| fs["mount_point"] == "/")
        .expect("/ listed");
    assert_eq!(root["total_bytes"].as_u64(), Some(df_root_bytes()?));
    assert!(
        filesystems
            .iter()
            .all(|fs| fs["filesystem"] != "proc" && fs["filesystem"] != "overlay")
    );
    assert_eq!(report["check_runs"][0]["check"], "disks");
    assert_eq!(report["check_runs"][0]["ok"], true);

    let table = agent.command().args(["check", "--once"]).output()?;
    assert!(stdout(&table).contains("MOUNT"), "{}", stdout(&table));
    Ok(())
}

/// A tmpfs of `size` mounted at a temporary directory, unmounted on drop.
struct SmallTmpfs {
    dir: tempfile::TempDir,
}

impl SmallTmpfs {
    fn mount(size: &str) -> Result<Self> {
        anyhow::ensure!(
            rustix::process::geteuid().is_root(),
            "this test mounts a tmpfs and must run as root (CI does)"
        );
        let dir = tempfile::tempdir()?;
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "forewarn-test",
            ])
            .arg(dir.path())
            .status()?;
        anyhow::ensure!(status.success(), "mount tmpfs failed");
        Ok(Self { dir })
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn agent_with_a_full_disk_keeps_running_and_still_delivers() -> Result<()> {
    let collector = CollectorProcess::start(FAST_REPORTS)?;
    let token = collector.create_token("laptops", "1h", None)?;
    let disk = SmallTmpfs::mount("512k")?;
    let state_dir = disk.dir.path().join("agent");
    let agent_command = || {
        let mut command = std::process::Command::new(forewarn_e2e::agent_bin());
        command.arg("--state-dir").arg(&state_dir);
        command
    };
    let enrolled = agent_command()
        .args([
            "enroll",
            "--url",
            &collector.url(),
            "--token",
            &token,
            "--ca-fingerprint",
            &collector.ca_fingerprint,
        ])
        .output()?;
    assert!(enrolled.status.success(), "{}", stderr(&enrolled));
    // Fill the agent's disk to the last byte.
    let filler = disk.dir.path().join("filler");
    let mut file = std::fs::File::create(&filler)?;
    let chunk = vec![0u8; 4096];
    while std::io::Write::write_all(&mut file, &chunk).is_ok() {}
    drop(file);
    assert!(
        std::fs::write(disk.dir.path().join("probe"), b"x").is_err(),
        "disk is not full"
    );

    let mut child = agent_command()
        .arg("run")
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let enrollment = std::fs::read_to_string(state_dir.join("enrollment.toml"))?;
    let device_id = enrollment
        .lines()
        .find_map(|l| l.strip_prefix("device_id = "))
        .map(|v| v.trim_matches('"').to_owned())
        .expect("device id");
    wait_for(
        "reports from the agent with a full disk",
        Duration::from_secs(20),
        || (collector.history_len(&device_id).ok()? >= 2).then_some(()),
    )?;
    assert!(child.try_wait()?.is_none(), "agent exited on a full disk");
    child.kill()?;
    let output = child.wait_with_output()?;
    // Reports go out first and are spooled only when delivery fails, so with the
    // collector up the full disk shows in the sequence number's file, not the spool.
    assert!(
        stderr(&output).contains("cannot persist sequence number; continuing in memory"),
        "{}",
        stderr(&output)
    );
    Ok(())
}
