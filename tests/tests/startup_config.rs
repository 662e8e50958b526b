//! Config that cannot work is refused at start, a change of `server_names`
//! takes effect at the next start, and when an agent refuses the collector's
//! certificate it says so, and what to fix.
//!
//! These tests write the collector's config themselves (the harness's
//! collector keeps one config for its life), so they start `serve` directly.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use forewarn_e2e::{Agent, agent_bin, collector_bin};

/// A `forewarn-collector serve` started on `config`, killed on drop.
struct Serving {
    child: Child,
    url: String,
    ca_fingerprint: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(dir: &Path, server_names: &str) -> Result<()> {
    std::fs::write(
        dir.join("collector.toml"),
        format!(
            "data_dir = \"data\"\nagent_listen = \"127.0.0.1:0\"\nweb_listen = \"127.0.0.1:0\"\nserver_names = {server_names}\n"
        ),
    )?;
    Ok(())
}

fn collector(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(collector_bin());
    command
        .arg("--config")
        .arg(dir.join("collector.toml"))
        .args(args);
    command
}

fn serve(dir: &Path) -> Result<Serving> {
    let mut child = collector(dir, &["serve"]).stdout(Stdio::piped()).spawn()?;
    let stdout = child.stdout.take().context("collector stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            bail!("the collector printed no listening line");
        }
    };
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|part| part.strip_prefix(&format!("{name}=")))
            .map(str::to_owned)
            .with_context(|| format!("no {name}= in {line:?}"))
    };
    Ok(Serving {
        url: format!("https://{}", field("agents")?),
        ca_fingerprint: field("ca_sha256")?,
        child,
    })
}

fn token(dir: &Path) -> Result<String> {
    let output = collector(
        dir,
        &["token", "create", "--group", "laptops", "--expires", "1h"],
    )
    .output()?;
    ensure!(output.status.success(), "{}", stderr(&output));
    Ok(String::from_utf8(output.stdout)?
        .lines()
        .next()
        .context("no token printed")?
        .to_owned())
}

fn enroll(agent: &Agent, serving: &Serving, token: &str) -> Result<Output> {
    Ok(Command::new(agent_bin())
        .arg("--state-dir")
        .arg(agent.state_dir.path())
        .args(["enroll", "--url", &serving.url, "--token", token])
        .args(["--ca-fingerprint", &serving.ca_fingerprint])
        .output()?)
}

/// Runs `command` to its end, or kills it and fails after `timeout` (a
/// collector that accepted its config would serve forever).
fn exit_within(mut command: Command, timeout: Duration) -> Result<Output> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let started = std::time::Instant::now();
    while child.try_wait()?.is_none() {
        if started.elapsed() > timeout {
            child.kill()?;
            let output = child.wait_with_output()?;
            bail!(
                "still running after {timeout:?}: the config was accepted\n{}",
                stderr(&output)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(child.wait_with_output()?)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn agent_says_the_certificate_lacks_its_host_and_a_fixed_server_names_takes_effect_at_restart()
-> Result<()> {
    let dir = tempfile::tempdir()?;
    write_config(dir.path(), r#"["collector.example.com"]"#)?;
    let serving = serve(dir.path())?;
    let token = token(dir.path())?;
    let agent = Agent::new()?;
    let refused = enroll(&agent, &serving, &token)?;
    ensure!(
        !refused.status.success(),
        "enrolled with a certificate naming another host"
    );
    let message = stderr(&refused);
    ensure!(
        message.contains(
            "the collector's certificate does not name 127.0.0.1; it names collector.example.com; \
             fix server_names on the collector"
        ),
        "{message}"
    );
    ensure!(!message.contains("the collector refused"), "{message}");
    let fingerprint = serving.ca_fingerprint.clone();
    drop(serving);

    write_config(dir.path(), r#"["collector.example.com", "127.0.0.1"]"#)?;
    let serving = serve(dir.path())?;
    ensure!(
        serving.ca_fingerprint == fingerprint,
        "the CA must stay: agents pin it"
    );
    let enrolled = enroll(&agent, &serving, &token)?;
    ensure!(
        enrolled.status.success(),
        "enroll after fixing server_names: {}",
        stderr(&enrolled)
    );
    Ok(())
}

#[test]
fn a_url_in_server_names_stops_the_start_naming_the_entry_and_the_file() -> Result<()> {
    let dir = tempfile::tempdir()?;
    write_config(
        dir.path(),
        r#"["https://collector.example.com:7443", "collector example"]"#,
    )?;
    let output = exit_within(collector(dir.path(), &["serve"]), Duration::from_secs(30))?;
    ensure!(
        !output.status.success(),
        "exited 0 with unusable server_names"
    );
    let message = stderr(&output);
    let path = dir.path().join("collector.toml");
    for expected in [
        path.to_str().context("utf-8 temp path")?,
        "server_names[0]: \"https://collector.example.com:7443\" is a URL",
        "server_names[1]: \"collector example\" contains a space",
    ] {
        ensure!(message.contains(expected), "no {expected:?} in {message}");
    }
    ensure!(
        !dir.path().join("data/pki").exists(),
        "nothing is created from a refused config"
    );
    Ok(())
}

#[test]
fn each_cause_of_an_error_is_printed_once() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let output = collector(dir.path(), &["serve"]).output()?;
    ensure!(!output.status.success());
    let message = stderr(&output);
    ensure!(
        message.matches("No such file or directory").count() == 1,
        "{message}"
    );
    ensure!(message.contains("collector.toml"), "{message}");
    Ok(())
}
