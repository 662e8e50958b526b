//! Re-installing on a re-imaged machine, with a real collector and real
//! agent processes on loopback: the same hardware (serial and SMBIOS UUID,
//! read from a DMI fixture tree through `FOREWARN_AGENT_HOST_ROOT`) with a
//! new state directory enrolls back into its device record, the old
//! certificate is refused, and other hardware still makes a new device.
//! Devices that enrolled and never reported are flagged by `device list`
//! and `/metrics`; `/healthz` and `/readyz` answer on the web port.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use anyhow::{Result, ensure};
use forewarn_e2e::{Agent, CollectorProcess, metric, wait_for};
use forewarn_proto::pb::ingest_client::IngestClient;
use forewarn_testkit::{http_client, runtime};

const UUID: &str = "4C4C4544-0042-3510-8052-B4C04F4E3332";

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A host root whose DMI says `serial` and `uuid`.
fn hardware(serial: &str, uuid: &str) -> Result<tempfile::TempDir> {
    let root = tempfile::tempdir()?;
    let dmi = root.path().join("sys/class/dmi/id");
    std::fs::create_dir_all(&dmi)?;
    std::fs::write(dmi.join("sys_vendor"), "Dell Inc.\n")?;
    std::fs::write(dmi.join("product_name"), "Latitude 5440\n")?;
    std::fs::write(dmi.join("product_serial"), format!("{serial}\n"))?;
    std::fs::write(dmi.join("product_uuid"), format!("{uuid}\n"))?;
    Ok(root)
}

fn install(
    agent: &Agent,
    collector: &CollectorProcess,
    token: &str,
    root: &Path,
) -> Result<Output> {
    Ok(agent
        .command()
        .env("FOREWARN_AGENT_HOST_ROOT", root)
        .arg("--config")
        .arg(agent.state_dir.path().join("agent.toml"))
        .args([
            "install",
            "--no-service",
            "--url",
            &collector.url(),
            "--token",
            token,
        ])
        .args(["--ca-fingerprint", &collector.ca_fingerprint])
        .output()?)
}

fn get(url: &str) -> Result<(u16, String)> {
    runtime().block_on(async {
        let response = http_client().get(url).send().await?;
        Ok((response.status().as_u16(), response.text().await?))
    })
}

#[test]
fn a_reimaged_machine_enrolls_back_into_its_device_and_its_old_certificate_is_refused() -> Result<()>
{
    let collector = CollectorProcess::start("report_interval_secs = 1")?;
    let token = collector.create_token("laptops", "1h", None)?;
    let laptop = hardware("5CG1234XYZ", UUID)?;

    // Installed twice from the same state: one device.
    let before = Agent::new()?;
    for _ in 0..2 {
        let output = install(&before, &collector, &token, laptop.path())?;
        ensure!(output.status.success(), "install: {}", text(&output));
    }
    let device_id = before.device_id()?;
    ensure!(
        collector.device_count()? == 1,
        "install twice made another device"
    );

    // Re-imaged: a new state directory (new key), the same hardware.
    let mut after = Agent::new()?;
    let output = install(&after, &collector, &token, laptop.path())?;
    ensure!(
        output.status.success(),
        "install after re-image: {}",
        text(&output)
    );
    ensure!(
        after.device_id()? == device_id,
        "the re-imaged machine got device {} instead of {device_id}",
        after.device_id()?
    );
    ensure!(
        collector.device_count()? == 1,
        "the re-image left a ghost device"
    );

    // The old machine's certificate no longer works.
    let refused = runtime().block_on(async {
        let channel = before.channel(&collector).await?;
        let status = IngestClient::new(channel)
            .report(forewarn_testkit::report(1))
            .await
            .expect_err("the replaced certificate was accepted");
        anyhow::Ok(status)
    })?;
    ensure!(
        refused.code() == tonic::Code::Unauthenticated
            && refused
                .message()
                .contains("replaced when its machine enrolled again"),
        "{refused:?}"
    );

    // Other hardware (the placeholder serial counts as none) is another device.
    let other = hardware(
        "To be filled by O.E.M.",
        "11111111-2222-3333-4444-555555555555",
    )?;
    let desktop = Agent::new()?;
    let output = install(&desktop, &collector, &token, other.path())?;
    ensure!(
        output.status.success(),
        "install on other hardware: {}",
        text(&output)
    );
    ensure!(desktop.device_id()? != device_id && collector.device_count()? == 2);

    // Nobody has reported yet: both flagged.
    let listed = collector.admin(&["device", "list"])?;
    ensure!(
        text(&listed).contains("2 device(s) enrolled but never reported")
            && text(&listed).contains("check that the agent service runs"),
        "{}",
        text(&listed)
    );
    let metrics = collector.metrics()?;
    ensure!(
        metric(&metrics, "forewarn_devices{state=\"never_reported\"}") == Some(2.0),
        "{metrics}"
    );
    ensure!(
        metric(
            &metrics,
            "forewarn_reports_received_total{result=\"refused\"}"
        ) == Some(1.0),
        "{metrics}"
    );

    // The re-imaged machine reports under its old device id.
    let config = after.state_dir.path().join("agent.toml");
    after.start_with(|command| {
        command
            .env("FOREWARN_AGENT_HOST_ROOT", laptop.path())
            .arg("--config")
            .arg(&config);
    })?;
    wait_for(
        "a report from the re-imaged machine",
        Duration::from_secs(30),
        || (collector.history_len(&device_id).ok()? >= 1).then_some(()),
    )?;
    let metrics = collector.metrics()?;
    for (sample, value) in [
        ("forewarn_devices{state=\"online\"}", 1.0),
        ("forewarn_devices{state=\"never_reported\"}", 1.0),
        ("forewarn_devices{state=\"retired\"}", 0.0),
    ] {
        ensure!(
            metric(&metrics, sample) == Some(value),
            "{sample} in\n{metrics}"
        );
    }
    ensure!(
        metric(
            &metrics,
            "forewarn_reports_received_total{result=\"stored\"}"
        )
        .unwrap_or(0.0)
            >= 1.0
            && metric(&metrics, "forewarn_report_ingest_seconds_count").unwrap_or(0.0) >= 1.0,
        "{metrics}"
    );

    let (status, body) = get(&format!("http://{}/healthz", collector.web_addr))?;
    ensure!(status == 200, "healthz {status} {body}");
    let (status, body) = get(&format!("http://{}/readyz", collector.web_addr))?;
    let json: serde_json::Value = serde_json::from_str(&body)?;
    ensure!(
        status == 200 && json["ready"] == true,
        "readyz {status} {body}"
    );
    for part in ["database", "agent_listener", "ticket_worker"] {
        ensure!(json["checks"][part]["ready"] == true, "{part}: {body}");
    }
    after.stop()?;
    Ok(())
}
