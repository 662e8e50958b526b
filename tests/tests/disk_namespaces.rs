//! The real agent sees every filesystem as it is, also inside a mount
//! namespace that re-mounts everything read-only, as the shipped systemd
//! unit's `ProtectSystem=strict` does: a writable filesystem stays writable
//! in the report (so the disk rules still judge its free space), a
//! filesystem that is read-only itself is reported read-only, and binds of
//! one filesystem are one filesystem, reported at its whole, writable mount.
//!
//! Each test makes its own namespace with `unshare -m` (private propagation:
//! nothing it mounts is seen outside, and it all goes when the agent exits).
//! This needs root; CI runs as root; elsewhere these tests fail, never skip.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, ensure};
use forewarn_e2e::agent_bin;

/// Runs `setup` (sh) in a new mount namespace, then `check --once --json`
/// there with `config`; returns the report.
fn check_in_namespace(dir: &Path, setup: &str, config: &str) -> Result<serde_json::Value> {
    ensure!(
        rustix::process::geteuid().is_root(),
        "this test makes a mount namespace and must run as root (CI does)"
    );
    let config_path = dir.join("agent.toml");
    std::fs::write(&config_path, config)?;
    let script = format!(
        "set -e\n{setup}\nexec \"$0\" --state-dir \"$1\" --config \"$2\" check --once --json"
    );
    let output = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .arg(agent_bin())
        .arg(dir.join("state"))
        .arg(&config_path)
        .output()?;
    ensure!(
        output.status.success(),
        "agent in namespace failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

fn filesystems(report: &serde_json::Value) -> Vec<serde_json::Value> {
    report["disks"]["filesystems"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn at(report: &serde_json::Value, mount_point: &Path) -> Option<serde_json::Value> {
    filesystems(report)
        .into_iter()
        .find(|fs| fs["mount_point"] == mount_point.display().to_string())
}

const TMPFS_TOO: &str =
    "[checks.disks]\ninclude_types = [\"tmpfs\"]\n\n[checks.patches]\npackage_manager = \"none\"\n";

#[test]
fn protect_system_style_namespace_keeps_writable_filesystems_writable() -> Result<()> {
    let work = tempfile::tempdir()?;
    let dir = work.path().canonicalize()?;
    let data = dir.join("data");
    let image = dir.join("image");
    std::fs::create_dir_all(dir.join("state"))?;
    let setup = format!(
        "mkdir -p {data} {image}
mount -t tmpfs -o size=64m forewarn-data {data}
mount -t tmpfs -o ro,size=8m forewarn-image {image}
mount -o remount,bind,ro /
mount -o remount,bind,ro {data}",
        data = data.display(),
        image = image.display()
    );
    let report = check_in_namespace(&dir, &setup, TMPFS_TOO)?;

    let data_fs = at(&report, &data).with_context(|| format!("{data:?} missing: {report}"))?;
    assert_eq!(
        data_fs["read_only"], false,
        "read-only only in this namespace: {data_fs}"
    );
    assert_eq!(data_fs["total_bytes"].as_u64(), Some(64 << 20));
    let root = at(&report, Path::new("/")).with_context(|| format!("/ missing: {report}"))?;
    assert_eq!(root["read_only"], false, "{root}");
    let image_fs = at(&report, &image).with_context(|| format!("{image:?} missing: {report}"))?;
    assert_eq!(
        image_fs["read_only"], true,
        "mounted read-only itself: {image_fs}"
    );
    Ok(())
}

#[test]
fn binds_of_one_tmpfs_are_reported_once_at_its_whole_writable_mount() -> Result<()> {
    let work = tempfile::tempdir()?;
    let dir = work.path().canonicalize()?;
    let scratch = dir.join("scratch");
    let read_only_view = dir.join("ro");
    let folder_bind = dir.join("s");
    std::fs::create_dir_all(dir.join("state"))?;
    let setup = format!(
        "mkdir -p {scratch} {ro} {s}
mount -t tmpfs -o size=32m forewarn-bind {scratch}
mkdir {scratch}/sub
mount --bind {scratch} {ro}
mount -o remount,bind,ro {ro}
mount --bind {scratch}/sub {s}",
        scratch = scratch.display(),
        ro = read_only_view.display(),
        s = folder_bind.display()
    );
    let report = check_in_namespace(&dir, &setup, TMPFS_TOO)?;

    let shown: Vec<String> = filesystems(&report)
        .iter()
        .filter_map(|fs| fs["mount_point"].as_str().map(str::to_owned))
        .filter(|point| Path::new(point).starts_with(&dir))
        .collect();
    assert_eq!(shown, [scratch.display().to_string()], "{report}");
    let fs = at(&report, &scratch).context("scratch")?;
    assert_eq!(fs["read_only"], false);
    assert_eq!(fs["device"], "forewarn-bind");
    Ok(())
}
