//! Alerts end to end: a real agent reporting a real (tmpfs) filesystem that
//! the test fills step by step, the collector's rules raising, escalating and
//! resolving alerts with outbox rows; a device going offline and coming back;
//! a silence holding the notification until it ends.
//!
//! Mounting needs root (CI runs as root); without it these tests fail rather
//! than skip, so a missing privilege is never mistaken for a pass.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use forewarn_collector::clock::now_unix;
use forewarn_e2e::{Agent, CollectorProcess, wait_for};

const MIB: usize = 1024 * 1024;

/// A 16 MiB tmpfs mounted for the test, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount() -> Result<Self> {
        ensure!(
            rustix::process::geteuid().is_root(),
            "this test mounts a tmpfs and must run as root"
        );
        let dir = tempfile::tempdir()?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
            .arg(dir.path())
            .status()?;
        ensure!(status.success(), "mount tmpfs failed");
        Ok(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn mount_point(&self) -> String {
        self.path().to_string_lossy().into_owned()
    }

    fn fill(&self, name: &str, mib: usize) -> Result<()> {
        std::fs::write(self.path().join(name), vec![0x5a; mib * MIB])?;
        Ok(())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn agent_config(dir: &Path) -> Result<PathBuf> {
    let path = dir.join("agent.toml");
    std::fs::write(&path, "[checks.disks]\ninclude_types = [\"tmpfs\"]\n")?;
    Ok(path)
}

/// (id, state, severity, summary) of the alert of `rule` on `subject`.
fn alert(
    collector: &CollectorProcess,
    device: &str,
    rule: &str,
    subject: &str,
) -> Option<(i64, String, Option<String>, String)> {
    let alert = collector.alert(device, rule, subject).ok()??;
    Some((
        alert.id,
        alert.status.as_str().to_owned(),
        alert.severity.map(|s| s.as_str().to_owned()),
        alert.summary,
    ))
}

/// Outbox events of one alert, oldest first.
fn outbox(collector: &CollectorProcess, alert_id: i64) -> Result<Vec<(String, i64)>> {
    Ok(collector
        .outbox(alert_id)?
        .into_iter()
        .map(|row| (row.event, row.created_at))
        .collect())
}

const TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn filling_a_real_filesystem_warns_then_goes_critical_then_resolves() -> Result<()> {
    let fs = Tmpfs::mount()?;
    let mount = fs.mount_point();
    let collector = CollectorProcess::start(
        "report_interval_secs = 1\nsweep_interval_secs = 1\n\
         [rules.disk_free_bytes]\nenabled = false\n\
         [rules.disk_free_percent]\nwarning = 50\ncritical = 25\nhysteresis = 10\n",
    )?;
    let token = collector.create_token("laptops", "1h", Some(1))?;
    let mut agent = Agent::new()?;
    let device = agent.enroll_ok(&collector, &token)?;
    agent.start_with_config(&agent_config(agent.state_dir.path())?)?;

    wait_for("a report with the tmpfs", TIMEOUT, || {
        collector.latest_report(&device).ok().flatten().filter(|r| {
            r.disks
                .iter()
                .flat_map(|d| &d.filesystems)
                .any(|fs| fs.mount_point == mount)
        })
    })?;
    assert!(alert(&collector, &device, "disk_free", &mount).is_none());

    fs.fill("a", 9)?;
    let (id, _, _, summary) = wait_for("warning", TIMEOUT, || {
        alert(&collector, &device, "disk_free", &mount)
            .filter(|a| a.1 == "firing" && a.2.as_deref() == Some("warning"))
    })?;
    assert!(
        summary.starts_with(&format!("Disk {mount} on ")) && summary.ends_with("below 50%"),
        "{summary}"
    );
    assert!(summary.contains("of 16.0 MiB"), "{summary}");

    fs.fill("b", 4)?;
    wait_for("critical", TIMEOUT, || {
        alert(&collector, &device, "disk_free", &mount)
            .filter(|a| a.2.as_deref() == Some("critical"))
    })?;

    std::fs::remove_file(fs.path().join("a"))?;
    std::fs::remove_file(fs.path().join("b"))?;
    wait_for("resolved", TIMEOUT, || {
        alert(&collector, &device, "disk_free", &mount).filter(|a| a.1 == "resolved")
    })?;
    let events: Vec<String> = outbox(&collector, id)?
        .into_iter()
        .map(|(e, _)| e)
        .collect();
    assert_eq!(events, ["opened", "escalated", "resolved"]);

    let shown = collector.admin(&["alerts", "show", &id.to_string()])?;
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success(), "{text}");
    assert!(text.contains("warning -> critical escalated"), "{text}");
    Ok(())
}

/// Offline after 3 s (0.05 minutes) for this test's group; sweeps every second.
const OFFLINE_FAST: &str = "report_interval_secs = 1\nsweep_interval_secs = 1\n\
    [groups.kiosk.rules.offline_minutes]\nwarning = 0.05\n";

#[test]
fn stopped_agent_goes_offline_and_comes_back() -> Result<()> {
    let collector = CollectorProcess::start(OFFLINE_FAST)?;
    let token = collector.create_token("kiosk", "1h", Some(1))?;
    let mut agent = Agent::new()?;
    let device = agent.enroll_ok(&collector, &token)?;
    agent.start()?;
    wait_for("first report", TIMEOUT, || {
        collector.latest_report(&device).ok().flatten()
    })?;
    agent.stop()?;

    let (id, _, _, summary) = wait_for("offline alert", TIMEOUT, || {
        alert(&collector, &device, "offline_minutes", "").filter(|a| a.1 == "firing")
    })?;
    assert!(summary.contains("has not reported for"), "{summary}");

    let listed = collector.admin(&["alerts", "list", "--state", "firing", "--device", &device])?;
    assert!(String::from_utf8_lossy(&listed.stdout).contains("offline_minutes"));

    agent.start()?;
    wait_for("offline resolved", TIMEOUT, || {
        alert(&collector, &device, "offline_minutes", "").filter(|a| a.1 == "resolved")
    })?;
    let events: Vec<String> = outbox(&collector, id)?
        .into_iter()
        .map(|(e, _)| e)
        .collect();
    assert_eq!(events, ["opened", "resolved"]);
    Ok(())
}

#[test]
fn silence_holds_the_notification_until_it_ends() -> Result<()> {
    let collector = CollectorProcess::start(OFFLINE_FAST)?;
    let token = collector.create_token("kiosk", "1h", Some(1))?;
    let mut agent = Agent::new()?;
    let device = agent.enroll_ok(&collector, &token)?;
    agent.start()?;
    wait_for("first report", TIMEOUT, || {
        collector.latest_report(&device).ok().flatten()
    })?;

    let added = collector.admin(&[
        "silence",
        "add",
        "--device",
        &device,
        "--rule",
        "offline_minutes",
        "--duration",
        "10s",
        "--comment",
        "moving the kiosk",
        "--by",
        "e2e",
    ])?;
    ensure!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let silence_ends = now_unix() + 10;
    agent.stop()?;

    let (id, ..) = wait_for("offline alert recorded while silenced", TIMEOUT, || {
        alert(&collector, &device, "offline_minutes", "").filter(|a| a.1 == "firing")
    })?;
    ensure!(
        now_unix() < silence_ends,
        "alert fired too late to test the silence"
    );
    assert!(
        outbox(&collector, id)?.is_empty(),
        "no notification while silenced"
    );

    let (_, created_at) = wait_for("notification after the silence", TIMEOUT, || {
        outbox(&collector, id)
            .ok()
            .and_then(|rows| rows.into_iter().next())
    })
    .context("silence ended but nothing was notified")?;
    assert!(
        created_at >= silence_ends - 1,
        "notified at {created_at}, silence ended {silence_ends}"
    );
    let listed = collector.admin(&["silence", "list"])?;
    assert!(String::from_utf8_lossy(&listed.stdout).contains("moving the kiosk"));
    Ok(())
}
