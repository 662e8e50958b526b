//! A mistyped certificate path never hangs the real agent: `check --once`
//! ends promptly with an item error naming the path, and `run` delivers its
//! first report carrying that error.
//!
//! The path is under a folder of `/` that does not exist, the case where the
//! agent used to watch `/` recursively (inotify fails on `/proc`, the polling
//! fallback walked the whole machine) and never reported.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use forewarn_e2e::{Agent, CollectorProcess, wait_for};

/// Far above what a healthy one-off check takes, far below "hung".
const PROMPT: Duration = Duration::from_secs(30);

/// A certificate path under a top-level folder that does not exist.
fn missing_certificate_path() -> PathBuf {
    let path = PathBuf::from(format!(
        "/forewarn-missing-{}/tls/site.pem",
        std::process::id()
    ));
    assert!(!path.parent().unwrap().parent().unwrap().exists());
    path
}

fn write_config(dir: &Path, certificate: &Path) -> Result<PathBuf> {
    let path = dir.join("agent.toml");
    std::fs::write(
        &path,
        format!(
            "[checks.certificates]\npaths = [{:?}]\n\n[checks.patches]\npackage_manager = \"none\"\n",
            certificate.display().to_string()
        ),
    )?;
    Ok(path)
}

/// Runs `command` to its end, killing it and failing if it takes longer than `limit`.
fn output_within(mut command: Command, limit: Duration) -> Result<(Output, Duration)> {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Drain the pipes while waiting, so a talkative child never blocks on them.
    let out_reader = drain(child.stdout.take());
    let err_reader = drain(child.stderr.take());
    loop {
        if let Some(status) = child.try_wait()? {
            let output = Output {
                status,
                stdout: out_reader.join().unwrap_or_default(),
                stderr: err_reader.join().unwrap_or_default(),
            };
            return Ok((output, started.elapsed()));
        }
        if started.elapsed() > limit {
            child.kill()?;
            child.wait()?;
            bail!("{command:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn drain<R: std::io::Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

#[test]
fn check_once_with_certificate_under_missing_folder_ends_promptly_naming_the_path() -> Result<()> {
    let agent = Agent::new()?;
    let missing = missing_certificate_path();
    let config = write_config(agent.state_dir.path(), &missing)?;

    let mut json = agent.command();
    json.arg("--config")
        .arg(&config)
        .args(["check", "--once", "--json"]);
    let (output, took) = output_within(json, PROMPT)?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let errors = report["errors"].as_array().cloned().unwrap_or_default();
    let error = errors
        .iter()
        .find(|e| e["check"] == "certificates")
        .unwrap_or_else(|| panic!("no certificate error in {report}"));
    let missing_text = missing.display().to_string();
    assert_eq!(error["item"], missing_text.as_str());
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&missing_text) && message.contains("does not exist"),
        "{message}"
    );
    assert!(
        message.contains("checks.certificates.paths"),
        "says what to do: {message}"
    );
    eprintln!("check --once --json took {took:?}");

    // The table says the same, and its status line does not say "ok" for certificates.
    let mut table = agent.command();
    table.arg("--config").arg(&config).args(["check", "--once"]);
    let (output, _) = output_within(table, PROMPT)?;
    let text = String::from_utf8(output.stdout)?;
    assert!(text.contains(&missing_text), "{text}");
    assert!(!text.contains("certificates ok"), "{text}");
    Ok(())
}

#[test]
fn run_with_certificate_under_missing_folder_delivers_its_first_report() -> Result<()> {
    let collector = CollectorProcess::start("report_interval_secs = 300")?;
    let token = collector.create_token("servers", "1h", Some(1))?;
    let mut agent = Agent::new()?;
    let device_id = agent.enroll_ok(&collector, &token)?;
    let missing = missing_certificate_path();
    let config = write_config(agent.state_dir.path(), &missing)?;
    agent.start_with_config(&config)?;

    let missing_text = missing.display().to_string();
    let report = wait_for("the first report", PROMPT, || {
        collector.latest_report(&device_id).ok().flatten()
    })?;
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.check == "certificates" && e.item == missing_text),
        "{:?}",
        report.errors
    );
    assert!(report.disks.is_some(), "the rest of the report is there");
    assert!(agent.is_running()?);
    agent.stop()
}

#[test]
fn missing_config_file_error_names_it_and_says_the_cause_once() -> Result<()> {
    let agent = Agent::new()?;
    let missing = agent.state_dir.path().join("no-such-agent.toml");
    let mut command = agent.command();
    command
        .arg("--config")
        .arg(&missing)
        .args(["check", "--once"]);
    let (output, _) = output_within(command, PROMPT)?;
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr)?;
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
    Ok(())
}
