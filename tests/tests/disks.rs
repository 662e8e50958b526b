//! Real filesystems: a tmpfs of known size, filled to a known level, is
//! reported by the real agent binary with exactly those figures.
//!
//! Mounting needs root. CI runs as root; elsewhere these tests fail (they do
//! not skip), so a green run always means the figures were checked.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};
use forewarn_e2e::Agent;

const MIB: u64 = 1024 * 1024;
const SIZE_BYTES: u64 = 64 * MIB;
const FILLED_BYTES: u64 = 16 * MIB;
const INODES: u64 = 2048;

/// A tmpfs mounted for one test; unmounted when dropped.
struct Tmpfs {
    _dir: tempfile::TempDir,
    mount_point: PathBuf,
}

impl Tmpfs {
    fn mount() -> Result<Self> {
        ensure!(
            rustix::process::geteuid().is_root(),
            "this test mounts a tmpfs and must run as root (CI does)"
        );
        let dir = tempfile::tempdir()?;
        let mount_point = dir.path().canonicalize()?.join("ramdisk");
        std::fs::create_dir(&mount_point)?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={SIZE_BYTES},nr_inodes={INODES}"))
            .arg("forewarn-test")
            .arg(&mount_point)
            .status()?;
        ensure!(status.success(), "mount -t tmpfs failed");
        Ok(Self {
            _dir: dir,
            mount_point,
        })
    }

    /// Writes `bytes` of data (tmpfs allocates pages only when written).
    fn fill(&self, bytes: u64) -> Result<()> {
        let chunk = vec![0x5a_u8; MIB as usize];
        let mut file = std::fs::File::create(self.mount_point.join("fill.bin"))?;
        for _ in 0..bytes / MIB {
            std::io::Write::write_all(&mut file, &chunk)?;
        }
        file.sync_all()?;
        Ok(())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount_point).status();
    }
}

/// `check --once --json` with `config` as the agent config file.
fn check_once(config: &str) -> Result<serde_json::Value> {
    let agent = Agent::new()?;
    let path = agent.state_dir.path().join("agent.toml");
    std::fs::write(&path, config)?;
    let output = agent
        .command()
        .arg("--config")
        .arg(&path)
        .args(["check", "--once", "--json"])
        .output()?;
    ensure!(
        output.status.success(),
        "check failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

fn filesystem_at(report: &serde_json::Value, mount_point: &Path) -> Option<serde_json::Value> {
    report["disks"]["filesystems"]
        .as_array()?
        .iter()
        .find(|fs| fs["mount_point"] == mount_point.display().to_string())
        .cloned()
}

/// Free inodes as `df -i` (coreutils) counts them, independent of the agent.
fn df_free_inodes(path: &Path) -> Result<u64> {
    let output = Command::new("df")
        .args(["--output=iavail"])
        .arg(path)
        .output()?;
    ensure!(output.status.success(), "df failed");
    String::from_utf8(output.stdout)?
        .lines()
        .nth(1)
        .context("df printed no inode count")?
        .trim()
        .parse()
        .context("df inode count")
}

#[test]
fn tmpfs_of_known_size_filled_to_known_level_is_reported_exactly() -> Result<()> {
    let tmpfs = Tmpfs::mount()?;
    tmpfs.fill(FILLED_BYTES)?;
    let report = check_once("[checks.disks]\ninclude_types = [\"tmpfs\"]\n")?;
    let fs = filesystem_at(&report, &tmpfs.mount_point)
        .with_context(|| format!("tmpfs not reported: {report}"))?;
    assert_eq!(fs["filesystem"], "tmpfs");
    assert_eq!(fs["device"], "forewarn-test");
    assert_eq!(fs["total_bytes"].as_u64(), Some(SIZE_BYTES));
    assert_eq!(fs["free_bytes"].as_u64(), Some(SIZE_BYTES - FILLED_BYTES));
    // tmpfs keeps no superuser reserve.
    assert_eq!(
        fs["available_bytes"].as_u64(),
        Some(SIZE_BYTES - FILLED_BYTES)
    );
    assert_eq!(fs["inodes_total"].as_u64(), Some(INODES));
    assert_eq!(
        fs["inodes_free"].as_u64(),
        Some(df_free_inodes(&tmpfs.mount_point)?)
    );
    assert!(fs["inodes_free"].as_u64().unwrap() < INODES);
    assert_eq!(fs["network"], false);
    assert_eq!(fs["removable"], false);
    assert_eq!(fs["read_only"], false);
    Ok(())
}

#[test]
fn tmpfs_is_not_reported_unless_configured() -> Result<()> {
    let tmpfs = Tmpfs::mount()?;
    let report = check_once("")?;
    assert!(
        report["disks"]["filesystems"]
            .as_array()
            .is_some_and(|list| !list.is_empty()),
        "{report}"
    );
    assert_eq!(filesystem_at(&report, &tmpfs.mount_point), None);
    Ok(())
}
