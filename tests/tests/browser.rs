//! The console in a real browser: Debian's `chromium` driven by
//! `playwright-core` (tests/browser/console.mjs, no browser download),
//! against a real collector and a real agent whose backup job has failed.
//! Users are made with the collector's CLI. Screenshots of every page at
//! 1400 px and 420 px land in `target/browser-screenshots/`.
//!
//! Needs `chromium` and `node` (`apt install chromium nodejs npm`) and
//! `npm ci` in tests/browser; without them the test fails saying so.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use forewarn_e2e::{Agent, CollectorProcess, collector_bin, wait_for};

/// The collector's config: fast reports and sweeps, and a ticket connector
/// for "Send test" (a webhook to a closed loopback port, so its test fails
/// with the connection's error; no policy sends alerts to it).
fn collector_config(hook_secret: &Path) -> String {
    format!(
        "report_interval_secs = 2\nsweep_interval_secs = 1\n\
         [rules.backup_failed]\nseverity = \"critical\"\n\
         [tickets]\npolicies = []\n\
         [tickets.connectors.hook]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\n\
         secret = {{ file = {:?} }}\ntimeout_secs = 2\n",
        hook_secret.display().to_string()
    )
}

/// The first of `names` found on PATH.
fn program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Makes a console user with the CLI and returns the one-time password it prints.
fn add_user(collector: &CollectorProcess, name: &str, role: &str, groups: &str) -> Result<String> {
    let output = collector.admin(&[
        "user",
        "add",
        name,
        "--role",
        role,
        "--groups",
        groups,
        "--by",
        "browser-test",
    ])?;
    ensure!(
        output.status.success(),
        "user add {name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)?
        .lines()
        .next()
        .map(str::to_owned)
        .context("user add printed no password")
}

/// Ends `user`'s sessions the way time would: their expiry is in the past.
fn expire_sessions(collector: &CollectorProcess, user: &str) -> Result<()> {
    let db = rusqlite::Connection::open(collector.dir.path().join("data/forewarn.sqlite3"))?;
    db.busy_timeout(Duration::from_secs(10))?;
    let changed = db.execute(
        "UPDATE console_sessions SET expires_at = 1 WHERE username = ?1",
        [user],
    )?;
    ensure!(changed > 0, "{user} has no session to expire");
    Ok(())
}

#[test]
fn the_console_works_in_a_real_browser() -> Result<()> {
    let chromium = program(&["chromium", "chromium-browser"]).context(
        "chromium is not installed: `apt install chromium` (Debian), then run this test again",
    )?;
    let node = program(&["node"]).context(
        "node is not installed: `apt install nodejs npm`, then `npm ci` in tests/browser",
    )?;
    ensure!(
        browser_dir().join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run `npm ci` in {}",
        browser_dir().display()
    );

    let work = tempfile::tempdir()?;
    let hook_secret = work.path().join("hook-secret");
    std::fs::write(&hook_secret, "browser test webhook secret")?;
    let collector = CollectorProcess::start(&collector_config(&hook_secret))?;
    let status = work.path().join("nightly.json");
    std::fs::write(
        &status,
        r#"{"job":"nightly","status":"failed","started_at":"2026-11-23T01:00:00Z","finished_at":"2026-11-23T01:02:00Z","message":"destination full"}"#,
    )?;
    let config = work.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[checks.patches]\npackage_manager = \"none\"\n\n[[checks.backups.jobs]]\n\
             name = \"nightly\"\nkind = \"status-file\"\npath = {:?}\n",
            status.display().to_string()
        ),
    )?;
    let mut agent = Agent::new()?;
    let device = agent.enroll_ok(
        &collector,
        &collector.create_token("laptops", "1h", Some(1))?,
    )?;
    // A device of another group, for the scoped operator not to see.
    let other_agent = Agent::new()?;
    let other = other_agent.enroll_ok(
        &collector,
        &collector.create_token("servers", "1h", Some(1))?,
    )?;
    agent.start_with_config(&config)?;
    wait_for("the failed backup's alert", Duration::from_secs(30), || {
        collector
            .alert(&device, "backup_failed", "nightly")
            .ok()
            .flatten()
            .filter(|a| a.status.as_str() == "firing")
    })?;
    let hostname = collector
        .device(&device)?
        .context("the agent's device")?
        .hostname;

    let users = serde_json::json!({
        "admin": ["ada", add_user(&collector, "ada", "admin", "*")?],
        "viewer": ["vera", add_user(&collector, "vera", "viewer", "*")?],
        "scoped": ["otto", add_user(&collector, "otto", "operator", "laptops")?],
    });
    // target/browser-screenshots, next to the binaries' profile directory.
    let screenshots = collector_bin()
        .parent()
        .and_then(Path::parent)
        .context("target directory")?
        .join("browser-screenshots");

    let mut script = Command::new(node)
        .arg("console.mjs")
        .current_dir(browser_dir())
        .env("FOREWARN_URL", format!("http://{}", collector.web_addr))
        .env("CHROMIUM", &chromium)
        .env("SCREENSHOT_DIR", &screenshots)
        .env("DEVICE_ID", &device)
        .env("DEVICE_HOSTNAME", &hostname)
        .env("OTHER_DEVICE_ID", &other)
        .env("USERS", users.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start node")?;
    let mut stdin = script.stdin.take().context("script stdin")?;
    let stdout = script.stdout.take().context("script stdout")?;
    let mut steps = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("browser: {line}");
        if let Some(user) = line.strip_prefix("expire ") {
            expire_sessions(&collector, user)?;
            writeln!(stdin, "expired")?;
        } else if let Some(step) = line.strip_prefix("ok ") {
            steps.push(step.to_owned());
        }
    }
    let status = script.wait()?;
    if !status.success() {
        bail!(
            "the browser script failed after {} step(s) ({:?}); its error is above",
            steps.len(),
            steps.last()
        );
    }
    ensure!(steps.len() == 15, "expected 15 steps, saw {steps:?}");
    for page in [
        "login", "overview", "device", "alerts", "silences", "devices", "settings", "audit",
    ] {
        for width in [1400, 420] {
            let shot = screenshots.join(format!("{page}-{width}.png"));
            ensure!(shot.is_file(), "no screenshot {}", shot.display());
        }
    }
    Ok(())
}
