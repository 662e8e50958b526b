//! zypper (SUSE Linux Enterprise, openSUSE): cached metadata only.
//!
//! Every call runs with `--no-refresh`, so the probe never reaches the
//! network and never refreshes repositories; it judges against the metadata
//! the system's own refresh last downloaded. zypper holds one global lock:
//! when another program holds it, the scan fails with zypper's own message
//! (and is retried sooner than the full interval), never "0 pending".
//!
//! - pending packages: `zypper --xmlout list-updates`; an update listed
//!   twice (two architectures, two repositories) is reported once;
//! - security: `zypper --xmlout list-patches --category security`, each needed
//!   patch reported under its patch id with its severity;
//! - reboot: `zypper needs-rebooting` (exit 102);
//! - last refresh: the newest `repomd.xml` in zypp's raw metadata cache;
//! - last install: the modification time of zypp's history log.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use super::{HostSignals, Scan, parse};
use crate::checks::CheckError;
use crate::command::{CommandError, CommandOutput, CommandRunner, CommandSpec};

/// How zypper is probed on this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZypperProbe {
    pub root: PathBuf,
    pub timeout: Duration,
}

/// Whether this device is managed by zypper.
pub fn is_present(root: &Path) -> bool {
    root.join("usr/bin/zypper").exists()
}

const LIST_UPDATES: [&str; 4] = [
    "--non-interactive",
    "--no-refresh",
    "--xmlout",
    "list-updates",
];
const LIST_SECURITY_PATCHES: [&str; 6] = [
    "--non-interactive",
    "--no-refresh",
    "--xmlout",
    "list-patches",
    "--category",
    "security",
];

impl ZypperProbe {
    async fn run(
        &self,
        runner: &dyn CommandRunner,
        args: &[&str],
    ) -> Result<CommandOutput, CheckError> {
        let spec = CommandSpec::new("zypper", args.iter().copied())
            .timeout(self.timeout)
            .low_priority();
        runner.run(&spec).await.map_err(|err| match err {
            CommandError::NotFound { program } => CheckError::ToolMissing(program),
            CommandError::Timeout { timeout, .. } => CheckError::Timeout(timeout.as_secs()),
            other => CheckError::Failed(other.to_string()),
        })
    }

    async fn list(
        &self,
        runner: &dyn CommandRunner,
        args: &[&str],
    ) -> Result<Vec<forewarn_proto::pb::PendingUpdate>, CheckError> {
        let output = self.run(runner, args).await?;
        parse::zypper_updates(
            output.exit_code.unwrap_or(-1),
            &output.stdout_text(),
            &output.stderr_text(),
        )
        .map_err(|err| CheckError::Failed(err.to_string()))
    }

    /// Lists package updates, then needed security patches, then the reboot flag.
    pub async fn scan(&self, runner: &dyn CommandRunner) -> Result<Scan, CheckError> {
        let mut pending = self.list(runner, &LIST_UPDATES).await?;
        pending.extend(self.list(runner, &LIST_SECURITY_PATCHES).await?);
        let pending = parse::dedupe_updates(pending);
        let reboot = self.run(runner, &["needs-rebooting"]).await?;
        let reboot_reasons =
            parse::zypper_needs_rebooting(reboot.exit_code.unwrap_or(-1), &reboot.stdout_text())
                .map_err(|err| CheckError::Failed(err.to_string()))?
                .into_iter()
                .collect();
        Ok(Scan {
            pending,
            reboot_reasons,
            ..Scan::default()
        })
    }

    pub(super) async fn signals(&self) -> HostSignals {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || HostSignals {
            last_refresh: newest_repomd(&root.join("var/cache/zypp/raw")),
            last_install: modified_unix(&root.join("var/log/zypp/history")),
            reboot_reasons: Vec::new(),
        })
        .await
        .unwrap_or_default()
    }

    /// The rpm database (both locations in use) and zypp's metadata cache.
    pub fn watched_paths(&self) -> Vec<PathBuf> {
        vec![
            self.root.join("var/lib/rpm"),
            self.root.join("usr/lib/sysimage/rpm"),
            self.root.join("var/cache/zypp/raw"),
        ]
    }
}

fn modified_unix(path: &Path) -> Option<i64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    modified
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs() as i64)
}

/// `<raw cache>/<repo alias>/repodata/repomd.xml` is rewritten on every successful refresh.
fn newest_repomd(cache: &Path) -> Option<i64> {
    std::fs::read_dir(cache)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|repo| modified_unix(&repo.path().join("repodata/repomd.xml")))
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::scripted::ScriptedCommandRunner;

    fn fixture(path: &str) -> String {
        crate::fixtures::captured_output(&format!("patches/{path}"))
    }

    fn line(args: &[&'static str]) -> Vec<&'static str> {
        std::iter::once("zypper")
            .chain(args.iter().copied())
            .collect()
    }

    #[tokio::test]
    async fn scan_lists_packages_security_patches_and_reboot_flag() {
        let runner = ScriptedCommandRunner::default();
        runner.answer(
            &line(&LIST_UPDATES),
            100,
            &fixture("suse/zypper-list-updates-one.txt"),
            "",
        );
        runner.answer(
            &line(&LIST_SECURITY_PATCHES),
            101,
            &fixture("suse/zypper-list-patches-security-leap16.txt"),
            "",
        );
        runner.answer(&["zypper", "needs-rebooting"], 102, "", "");
        let root = tempfile::tempdir().unwrap();
        let probe = ZypperProbe {
            root: root.path().to_path_buf(),
            timeout: Duration::from_secs(60),
        };
        let scan = probe.scan(&runner).await.unwrap();
        assert_eq!(scan.pending.len(), 3);
        assert_eq!(scan.pending.iter().filter(|p| p.security).count(), 2);
        assert_eq!(scan.reboot_reasons.len(), 1);
    }

    #[tokio::test]
    async fn locked_zypp_is_a_scan_error() {
        let runner = ScriptedCommandRunner::default();
        runner.answer(
            &line(&LIST_UPDATES),
            7,
            "",
            &fixture("suse/zypper-locked.txt"),
        );
        let root = tempfile::tempdir().unwrap();
        let probe = ZypperProbe {
            root: root.path().to_path_buf(),
            timeout: Duration::from_secs(60),
        };
        let err = probe.scan(&runner).await.unwrap_err();
        assert!(err.to_string().contains("locked"), "{err}");
    }
}
