//! What deployment tools rely on, with a real collector and real agent
//! processes on loopback: `install` run twice makes one device, `status`
//! answers with its documented exit codes, a second `run` on the same state
//! directory is refused, and SIGHUP reloads the config (a bad one is refused
//! and the agent keeps running).
//!
//! `install --no-service` is used throughout: registering a systemd unit would
//! change the machine running the tests. The service steps are tested by the
//! package tests (packaging/tests) and the Windows run in CI.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use anyhow::{Result, ensure};
use forewarn_e2e::{Agent, CollectorProcess, wait_for};

const FAST_REPORTS: &str = "report_interval_secs = 1";

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn install(
    agent: &Agent,
    collector: &CollectorProcess,
    token: &str,
    config: &Path,
) -> Result<Output> {
    Ok(agent
        .command()
        .arg("--config")
        .arg(config)
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

fn status(agent: &Agent, config: &Path) -> Result<(i32, serde_json::Value)> {
    let output = agent
        .command()
        .arg("--config")
        .arg(config)
        .args(["status", "--json"])
        .output()?;
    let json = serde_json::from_slice(&output.stdout)?;
    Ok((output.status.code().unwrap_or(-1), json))
}

fn log_contains(path: &Path, needle: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|log| log.contains(needle))
}

#[test]
fn install_twice_keeps_one_device_and_status_tells_its_state() -> Result<()> {
    let collector = CollectorProcess::start(FAST_REPORTS)?;
    let token = collector.create_token("laptops", "1h", None)?;
    let mut agent = Agent::new()?;
    let config = agent.state_dir.path().join("agent.toml");

    let (code, json) = status(&agent, &config)?;
    ensure!(code == 3, "status before install: exit {code}, {json}");
    ensure!(json["health"] == "not_enrolled", "{json}");

    let first = install(&agent, &collector, &token, &config)?;
    ensure!(first.status.success(), "first install: {}", text(&first));
    let device_id = agent.device_id()?;
    ensure!(
        text(&first).contains(&format!("as device {device_id}")),
        "{}",
        text(&first)
    );
    ensure!(config.exists(), "install wrote no config");

    let second = install(&agent, &collector, &token, &config)?;
    ensure!(second.status.success(), "second install: {}", text(&second));
    ensure!(
        text(&second).contains("already enrolled")
            && text(&second).contains("keeping this identity"),
        "{}",
        text(&second)
    );
    ensure!(agent.device_id()? == device_id, "identity changed");
    ensure!(
        collector.device_count()? == 1,
        "second install made another device"
    );

    // Enrolled, no service registered here, no agent process: 4.
    let (code, json) = status(&agent, &config)?;
    ensure!(
        code == 4,
        "status without a running agent: exit {code}, {json}"
    );
    ensure!(
        json["enrollment"]["device_id"] == device_id.as_str(),
        "{json}"
    );

    agent.start_with_config(&config)?;
    wait_for(
        "a delivery recorded for status",
        Duration::from_secs(20),
        || {
            let (_, json) = status(&agent, &config).ok()?;
            json["last_delivery"]["seq"].as_u64()
        },
    )?;
    let (_, json) = status(&agent, &config)?;
    ensure!(json["agent_process_running"] == true, "{json}");
    ensure!(json["queued_reports"].is_u64(), "{json}");
    let checks = json["last_delivery"]["checks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure!(
        checks.iter().any(|check| check["check"] == "disks"),
        "no per-check result in {json}"
    );
    let human = agent
        .command()
        .arg("--config")
        .arg(&config)
        .arg("status")
        .output()?;
    let human = text(&human);
    ensure!(
        human.contains(&device_id) && human.contains(&collector.url()) && human.contains("disks"),
        "{human}"
    );
    agent.stop()?;
    Ok(())
}

#[test]
fn a_second_run_on_the_same_state_directory_is_refused() -> Result<()> {
    let collector = CollectorProcess::start(FAST_REPORTS)?;
    let token = collector.create_token("laptops", "1h", Some(1))?;
    let mut agent = Agent::new()?;
    agent.enroll_ok(&collector, &token)?;
    agent.start()?;
    wait_for(
        "the first run to take the lock",
        Duration::from_secs(10),
        || {
            std::fs::read_to_string(agent.state_dir.path().join("agent.lock"))
                .ok()
                .filter(|pid| !pid.is_empty())
        },
    )?;
    let second = agent.command().arg("run").output()?;
    ensure!(
        !second.status.success(),
        "second run started: {}",
        text(&second)
    );
    ensure!(
        text(&second).contains("already running with state directory"),
        "{}",
        text(&second)
    );
    ensure!(agent.is_running()?, "the first run stopped");
    agent.stop()?;
    Ok(())
}

#[test]
fn sighup_reloads_the_config_and_a_bad_one_is_refused_while_reports_go_on() -> Result<()> {
    let collector = CollectorProcess::start(FAST_REPORTS)?;
    let token = collector.create_token("laptops", "1h", Some(1))?;
    let mut agent = Agent::new()?;
    let device_id = agent.enroll_ok(&collector, &token)?;
    let config = agent.state_dir.path().join("agent.toml");
    std::fs::write(&config, "[spool]\nmax_reports = 100\n")?;
    let log = agent.state_dir.path().join("run.log");
    let log_file = std::fs::File::create(&log)?;
    agent.start_with(|command| {
        command
            .arg("--config")
            .arg(&config)
            .stderr(Stdio::from(log_file));
    })?;
    wait_for("agent running", Duration::from_secs(10), || {
        log_contains(&log, "agent running").then_some(())
    })?;
    let pid = std::fs::read_to_string(agent.state_dir.path().join("agent.lock"))?;

    std::fs::write(&config, "[spool]\nmax_reports = 50\n")?;
    let hup = Command::new("kill").args(["-HUP", pid.trim()]).status()?;
    ensure!(hup.success(), "kill -HUP failed");
    wait_for("config reloaded", Duration::from_secs(10), || {
        log_contains(&log, "config reloaded").then_some(())
    })?;

    std::fs::write(&config, "[spool]\nmax_reprots = 50\n")?;
    Command::new("kill").args(["-HUP", pid.trim()]).status()?;
    wait_for("bad config refused", Duration::from_secs(10), || {
        log_contains(&log, "config not reloaded").then_some(())
    })?;
    let logged = std::fs::read_to_string(&log)?;
    ensure!(
        logged.contains("max_reprots") && logged.contains("previous config"),
        "{logged}"
    );
    ensure!(
        agent.is_running()?,
        "the agent exited after a bad config:\n{logged}"
    );
    let before = collector.history_len(&device_id)?;
    wait_for(
        "reports after the refused reload",
        Duration::from_secs(20),
        || (collector.history_len(&device_id).ok()? > before).then_some(()),
    )?;
    agent.stop()?;
    Ok(())
}

#[test]
fn a_retired_device_stops_retrying_with_one_message_and_keeps_running() -> Result<()> {
    let collector = CollectorProcess::start(FAST_REPORTS)?;
    let token = collector.create_token("laptops", "1h", Some(1))?;
    let mut agent = Agent::new()?;
    let device_id = agent.enroll_ok(&collector, &token)?;
    let log = agent.state_dir.path().join("run.log");
    let log_file = std::fs::File::create(&log)?;
    agent.start_with(|command| {
        command.stderr(Stdio::from(log_file));
    })?;
    wait_for("first report", Duration::from_secs(30), || {
        (collector.history_len(&device_id).ok()? >= 1).then_some(())
    })?;
    let retired = collector.admin(&["device", "retire", &device_id, "--by", "e2e"])?;
    ensure!(retired.status.success(), "retire: {}", text(&retired));
    wait_for("the retirement message", Duration::from_secs(30), || {
        log_contains(&log, "retired this device").then_some(())
    })?;
    // Several report intervals later: still one message, no retries, still running.
    std::thread::sleep(Duration::from_secs(4));
    let logged = std::fs::read_to_string(&log)?;
    ensure!(
        logged.matches("retired this device").count() == 1,
        "the message repeats:\n{logged}"
    );
    ensure!(
        !logged.contains("report not accepted") && logged.contains("uninstall --purge"),
        "{logged}"
    );
    ensure!(agent.is_running()?, "the agent exited:\n{logged}");
    agent.stop()?;
    Ok(())
}
