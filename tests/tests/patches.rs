//! Patch check against real apt and dpkg, end to end.
//!
//! Each test builds local apt repositories with `dpkg-deb` and
//! `apt-ftparchive`, installs a dummy package with the real dpkg into an
//! isolated root (its own dpkg database, sources list, lists and caches, all
//! reached through an `APT_CONFIG` file), and runs the real agent binary on
//! that root. The machine's own apt and dpkg state is never touched.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, ensure};
use forewarn_e2e::{Agent, CollectorProcess, wait_for};
use forewarn_proto::pb;
use serde_json::Value;

const PACKAGE: &str = "forewarn-dummy";

/// A throwaway apt world: repositories, an isolated root and its apt config.
struct AptWorld {
    dir: tempfile::TempDir,
}

impl AptWorld {
    fn new() -> Result<Self> {
        let world = Self {
            dir: tempfile::tempdir()?,
        };
        let root = world.root();
        for sub in [
            "etc/apt/apt.conf.d",
            "etc/apt/preferences.d",
            "etc/apt/sources.list.d",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "var/lib/dpkg/info",
            "var/lib/dpkg/updates",
            "var/lib/dpkg/triggers",
            "var/log",
            "run",
        ] {
            std::fs::create_dir_all(root.join(sub))?;
        }
        std::fs::write(root.join("var/lib/dpkg/status"), "")?;
        // `Dir` re-roots every apt path; the status file is named too since
        // apt's default for it is absolute.
        std::fs::write(
            world.apt_config(),
            format!(
                "Dir \"{root}/\";\nDir::State::status \"{root}/var/lib/dpkg/status\";\n\
                 APT::Sandbox::User \"root\";\nAcquire::Languages \"none\";\n",
                root = root.display()
            ),
        )?;
        std::fs::write(root.join("etc/apt/sources.list"), "")?;
        for version in ["1.0", "2.0"] {
            world.build_package(version)?;
        }
        world.repository("main", "forewarn-stable", &["1.0", "2.0"])?;
        world.repository("security", "forewarn-security", &["2.0"])?;
        Ok(world)
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn apt_config(&self) -> PathBuf {
        self.root().join("etc/apt/apt.conf")
    }

    fn deb(&self, version: &str) -> PathBuf {
        self.dir.path().join(format!("{PACKAGE}_{version}_all.deb"))
    }

    fn build_package(&self, version: &str) -> Result<()> {
        let tree = self.dir.path().join(format!("build-{version}"));
        std::fs::create_dir_all(tree.join("DEBIAN"))?;
        std::fs::create_dir_all(tree.join("usr/share/forewarn-dummy"))?;
        std::fs::write(tree.join("usr/share/forewarn-dummy/version"), version)?;
        std::fs::write(
            tree.join("DEBIAN/control"),
            format!(
                "Package: {PACKAGE}\nVersion: {version}\nArchitecture: all\n\
                 Maintainer: Forewarn tests <tests@example.invalid>\n\
                 Description: dummy package for the patch check test\n"
            ),
        )?;
        run(Command::new("dpkg-deb")
            .arg("--root-owner-group")
            .arg("--build")
            .arg(&tree)
            .arg(self.deb(version)))
    }

    /// A flat repository whose Release names `suite`.
    fn repository(&self, name: &str, suite: &str, versions: &[&str]) -> Result<()> {
        let repo = self.dir.path().join(format!("repo-{name}"));
        std::fs::create_dir_all(&repo)?;
        for version in versions {
            std::fs::copy(
                self.deb(version),
                repo.join(format!("{PACKAGE}_{version}_all.deb")),
            )?;
        }
        let packages = output(
            Command::new("apt-ftparchive")
                .args(["packages", "."])
                .current_dir(&repo),
        )?;
        std::fs::write(repo.join("Packages"), packages)?;
        let release = output(
            Command::new("apt-ftparchive")
                .arg("-o")
                .arg(format!("APT::FTPArchive::Release::Suite={suite}"))
                .args(["-o", "APT::FTPArchive::Release::Origin=Forewarn"])
                .args(["release", "."])
                .current_dir(&repo),
        )?;
        std::fs::write(repo.join("Release"), release)?;
        Ok(())
    }

    /// Adds repository `name` to the root's sources and runs `apt-get update` there.
    fn add_source_and_update(&self, name: &str) -> Result<()> {
        let repo = self.dir.path().join(format!("repo-{name}"));
        let list = self.root().join("etc/apt/sources.list");
        let mut sources = std::fs::read_to_string(&list)?;
        sources.push_str(&format!("deb [trusted=yes] file:{} ./\n", repo.display()));
        std::fs::write(&list, sources)?;
        run(Command::new("apt-get")
            .arg("update")
            .env("APT_CONFIG", self.apt_config()))
    }

    /// Installs (or upgrades to) `version` with the real dpkg, inside the root only.
    fn dpkg_install(&self, version: &str) -> Result<()> {
        let root = self.root();
        run(Command::new("dpkg")
            .arg(format!("--root={}", root.display()))
            .arg(format!("--log={}", root.join("var/log/dpkg.log").display()))
            .args(["--force-not-root", "-i"])
            .arg(self.deb(version)))
    }

    /// Writes an agent config that checks this root, next to `agent`'s state.
    fn agent_config(&self, agent: &Agent, extra: &str) -> Result<PathBuf> {
        let config = agent.state_dir.path().join("agent.toml");
        std::fs::write(
            &config,
            format!(
                "[checks.patches]\npackage_manager = \"apt\"\nroot_dir = {root:?}\napt_config_file = {apt:?}\n{extra}",
                root = self.root().display().to_string(),
                apt = self.apt_config().display().to_string(),
            ),
        )?;
        Ok(config)
    }

    /// Runs `forewarn-agent check --once --json` on this root and returns the patch section.
    fn agent_patches(&self) -> Result<Value> {
        let agent = Agent::new()?;
        let config = self.agent_config(&agent, "")?;
        let out = agent
            .command()
            .arg("--config")
            .arg(&config)
            .args(["check", "--once", "--json"])
            .output()?;
        ensure!(
            out.status.success(),
            "agent failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout)?;
        Ok(report["patches"].clone())
    }
}

fn run(command: &mut Command) -> Result<()> {
    output(command).map(drop)
}

fn output(command: &mut Command) -> Result<Vec<u8>> {
    let out = command
        .env("LC_ALL", "C")
        .output()
        .with_context(|| format!("cannot run {command:?}"))?;
    ensure!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out.stdout)
}

fn dummy(patches: &Value) -> Option<&Value> {
    patches["pending"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == PACKAGE)
}

fn set_mtime(path: &Path, time: SystemTime) -> Result<()> {
    std::fs::File::options()
        .write(true)
        .open(path)?
        .set_modified(time)?;
    Ok(())
}

#[test]
fn apt_reports_pending_then_security_then_nothing_after_upgrade() -> Result<()> {
    let world = AptWorld::new()?;
    world.dpkg_install("1.0")?;
    world.add_source_and_update("main")?;

    let patches = world.agent_patches()?;
    assert_eq!(patches["package_manager"], "apt");
    assert_eq!(patches["scan_state"], "SCAN_STATE_OK", "{patches:#}");
    let pending = dummy(&patches).context("dummy package pending")?;
    assert_eq!(pending["installed_version"], "1.0");
    assert_eq!(pending["candidate_version"], "2.0");
    assert_eq!(pending["security"], false);
    assert_eq!(pending["source"], "forewarn-stable");
    assert!(patches["last_successful_scan_unix_secs"].as_i64().is_some());
    assert_eq!(patches["reboot_required"], false);

    world.add_source_and_update("security")?;
    let patches = world.agent_patches()?;
    let pending = dummy(&patches).context("dummy package pending")?;
    assert_eq!(pending["security"], true, "{patches:#}");
    assert_eq!(pending["source"], "forewarn-stable, forewarn-security");

    let before_upgrade = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)?
        .as_secs() as i64;
    world.dpkg_install("2.0")?;
    let patches = world.agent_patches()?;
    assert_eq!(patches["scan_state"], "SCAN_STATE_OK", "{patches:#}");
    assert!(dummy(&patches).is_none(), "{patches:#}");
    let installed = patches["last_successful_install_unix_secs"]
        .as_i64()
        .context("last install")?;
    assert!(
        (before_upgrade - 2..=before_upgrade + 60).contains(&installed),
        "install at {installed}, upgrade started at {before_upgrade}"
    );
    Ok(())
}

#[test]
fn reboot_required_file_is_reported_with_its_packages() -> Result<()> {
    let world = AptWorld::new()?;
    world.add_source_and_update("main")?;
    let run_dir = world.root().join("run");
    std::fs::write(
        run_dir.join("reboot-required"),
        "*** System restart required ***\n",
    )?;
    std::fs::write(
        run_dir.join("reboot-required.pkgs"),
        "linux-image-6.1.0-28-amd64\nlibc6\nlinux-image-6.1.0-28-amd64\n",
    )?;
    let patches = world.agent_patches()?;
    assert_eq!(patches["reboot_required"], true);
    let reason = &patches["reboot_reasons"][0];
    assert_eq!(reason["source"], "/run/reboot-required");
    assert_eq!(reason["patch_related"], true);
    assert_eq!(
        reason["packages"],
        serde_json::json!(["libc6", "linux-image-6.1.0-28-amd64"])
    );
    Ok(())
}

#[test]
fn lists_refreshed_30_days_ago_are_reported_stale_with_pending_kept() -> Result<()> {
    let world = AptWorld::new()?;
    world.dpkg_install("1.0")?;
    world.add_source_and_update("main")?;
    let month_ago = SystemTime::now() - Duration::from_secs(30 * 86_400);
    for entry in std::fs::read_dir(world.root().join("var/lib/apt/lists"))? {
        let path = entry?.path();
        if path.is_file() && !path.is_symlink() {
            set_mtime(&path, month_ago)?;
        }
    }
    let patches = world.agent_patches()?;
    assert_eq!(patches["scan_state"], "SCAN_STATE_STALE", "{patches:#}");
    assert!(
        patches["scan_error"]
            .as_str()
            .unwrap_or("")
            .contains("30 days ago"),
        "{patches:#}"
    );
    assert!(dummy(&patches).is_some(), "stale data is still shown");
    Ok(())
}

#[test]
fn never_updated_root_is_never_scanned_not_up_to_date() -> Result<()> {
    let world = AptWorld::new()?;
    world.dpkg_install("1.0")?;
    let patches = world.agent_patches()?;
    assert_eq!(patches["scan_state"], "SCAN_STATE_NEVER", "{patches:#}");
    assert!(
        patches["pending"].as_array().is_none_or(Vec::is_empty),
        "{patches:#}"
    );
    Ok(())
}

#[test]
fn running_agent_rescans_soon_after_an_upgrade_not_at_the_next_interval() -> Result<()> {
    let world = AptWorld::new()?;
    world.dpkg_install("1.0")?;
    world.add_source_and_update("main")?;
    let collector = CollectorProcess::start("report_interval_secs = 1")?;
    let token = collector.create_token("laptops", "1h", Some(1))?;
    let mut agent = Agent::new()?;
    let device_id = agent.enroll_ok(&collector, &token)?;
    // The scan interval is an hour: only the database watch can cause a rescan.
    let config =
        world.agent_config(&agent, "scan_interval_secs = 3600\nrescan_quiet_secs = 1\n")?;
    agent.start_with_config(&config)?;

    let pending_in = |report: &pb::StatusReport| {
        report.patches.as_ref().map(|p| {
            p.pending
                .iter()
                .any(|u| u.name == PACKAGE && u.candidate_version == "2.0")
        })
    };
    wait_for(
        "report with the dummy pending",
        Duration::from_secs(30),
        || {
            let report = collector.latest_report(&device_id).ok()??;
            pending_in(&report)?.then_some(())
        },
    )?;
    world.dpkg_install("2.0")?;
    let report = wait_for("report after the upgrade", Duration::from_secs(30), || {
        let report = collector.latest_report(&device_id).ok()??;
        (!pending_in(&report)?).then_some(report)
    })?;
    let patches = report.patches.context("patches")?;
    assert_eq!(patches.scan_state, pb::ScanState::Ok as i32);
    assert!(patches.last_successful_install_unix_secs.is_some());
    agent.stop()?;
    Ok(())
}
