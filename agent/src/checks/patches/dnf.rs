//! dnf and yum (RHEL, Fedora, Alma, Rocky): cached metadata only.
//!
//! Every dnf call runs with `-C` (cache only), so the probe never reaches the
//! network: what is pending is judged against the metadata the system's own
//! `dnf makecache` timer last downloaded, and that download's time is the
//! "last refresh" the staleness limit applies to. Missing cache is an error,
//! never "0 pending".
//!
//! - pending: `dnf -C -q check-update`;
//! - installed versions: `rpm -q --queryformat` on the pending names (the
//!   local rpm database; check-update prints only the candidate);
//! - security, severity, advisory ids: `dnf -C -q updateinfo list --security`;
//! - reboot: `needs-restarting -r` (dnf-utils/yum-utils);
//! - last refresh: the newest `repomd.xml` in dnf's cache;
//! - last install: the modification time of dnf's history database.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use super::{HostSignals, Scan, parse};
use crate::checks::CheckError;
use crate::command::{CommandError, CommandOutput, CommandRunner, CommandSpec};

/// How dnf (or yum, which takes the same arguments) is probed on this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnfProbe {
    pub root: PathBuf,
    /// "dnf" or "yum".
    pub program: &'static str,
    pub timeout: Duration,
}

/// The program managing packages on an rpm system, if any.
pub fn detect(root: &Path) -> Option<&'static str> {
    ["dnf", "yum"]
        .into_iter()
        .find(|program| root.join("usr/bin").join(program).exists())
}

/// Caches of dnf 4, dnf 5 and yum, relative to the root.
const CACHE_DIRS: [&str; 3] = ["var/cache/dnf", "var/cache/libdnf5", "var/cache/yum"];

impl DnfProbe {
    async fn run(
        &self,
        runner: &dyn CommandRunner,
        program: &str,
        args: &[&str],
    ) -> Result<CommandOutput, CheckError> {
        let spec = CommandSpec::new(program, args.iter().copied())
            .timeout(self.timeout)
            .low_priority();
        runner.run(&spec).await.map_err(|err| match err {
            CommandError::NotFound { program } => CheckError::ToolMissing(program),
            CommandError::Timeout { timeout, .. } => CheckError::Timeout(timeout.as_secs()),
            other => CheckError::Failed(other.to_string()),
        })
    }

    /// Lists pending updates with their security classification, then asks
    /// whether a reboot is needed; one program at a time.
    pub async fn scan(&self, runner: &dyn CommandRunner) -> Result<Scan, CheckError> {
        let check = self
            .run(runner, self.program, &["-C", "-q", "check-update"])
            .await?;
        let mut pending = parse::dnf_check_update(
            check.exit_code.unwrap_or(-1),
            &check.stdout_text(),
            &check.stderr_text(),
        )
        .map_err(|err| CheckError::Failed(err.to_string()))?;
        self.fill_installed_versions(runner, &mut pending).await;
        let security = self
            .run(
                runner,
                self.program,
                &["-C", "-q", "updateinfo", "list", "--security"],
            )
            .await?;
        if !security.success() {
            // Without the classification "0 security updates" would be a guess.
            return Err(CheckError::Failed(format!(
                "{} updateinfo failed: {}",
                self.program,
                security.stderr_text().lines().last().unwrap_or("no output")
            )));
        }
        let advisories = parse::dnf_security_advisories(&security.stdout_text())
            .map_err(|err| CheckError::InvalidData(err.to_string()))?;
        parse::apply_dnf_advisories(&mut pending, &advisories);
        let restart = self.run(runner, "needs-restarting", &["-r"]).await;
        let reboot_reasons = match restart {
            Ok(output) => {
                parse::needs_restarting(output.exit_code.unwrap_or(-1), &output.stdout_text())
                    .map_err(|err| CheckError::Failed(err.to_string()))?
                    .into_iter()
                    .collect()
            }
            // Without dnf-utils there is no reboot signal; the updates still count.
            Err(CheckError::ToolMissing(_)) => Vec::new(),
            Err(err) => return Err(err),
        };
        Ok(Scan {
            pending,
            reboot_reasons,
            ..Scan::default()
        })
    }

    /// Adds the installed versions from the rpm database. They only inform,
    /// so a failure leaves them empty (and is logged) rather than failing
    /// the scan and hiding the pending list.
    async fn fill_installed_versions(
        &self,
        runner: &dyn CommandRunner,
        pending: &mut [forewarn_proto::pb::PendingUpdate],
    ) {
        if pending.is_empty() {
            return;
        }
        let mut names: Vec<&str> = pending.iter().map(|p| p.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let mut args = vec!["-q", "--queryformat", parse::RPM_VERSION_FORMAT];
        args.extend(names);
        let installed = match self.run(runner, "rpm", &args).await {
            // rpm exits with the number of names it does not know, each also
            // printed as a line; only output without any answer is a failure.
            Ok(output) if !output.stdout_text().trim().is_empty() => {
                parse::rpm_installed_versions(&output.stdout_text()).map_err(|err| err.to_string())
            }
            Ok(output) => Err(format!(
                "rpm exited with {:?}: {}",
                output.exit_code,
                output.stderr_text().lines().last().unwrap_or("no output")
            )),
            Err(err) => Err(err.to_string()),
        };
        match installed {
            Ok(installed) => parse::apply_installed_versions(pending, &installed),
            Err(error) => tracing::warn!(
                check = super::CHECK_NAME,
                %error,
                "cannot read installed versions from the rpm database"
            ),
        }
    }

    pub(super) async fn signals(&self) -> HostSignals {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || HostSignals {
            last_refresh: newest_repomd(&root),
            last_install: modified_unix(&root.join("var/lib/dnf/history.sqlite")),
            reboot_reasons: Vec::new(),
        })
        .await
        .unwrap_or_default()
    }

    /// The rpm database (both locations in use) and dnf's caches.
    pub fn watched_paths(&self) -> Vec<PathBuf> {
        let mut paths = vec![
            self.root.join("var/lib/rpm"),
            self.root.join("usr/lib/sysimage/rpm"),
        ];
        paths.extend(
            CACHE_DIRS
                .iter()
                .map(|dir| self.root.join(dir))
                .filter(|dir| dir.exists()),
        );
        paths
    }
}

fn modified_unix(path: &Path) -> Option<i64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    modified
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs() as i64)
}

/// `<cache>/<repo-id>/repodata/repomd.xml` is rewritten on every successful refresh.
fn newest_repomd(root: &Path) -> Option<i64> {
    CACHE_DIRS
        .iter()
        .filter_map(|dir| std::fs::read_dir(root.join(dir)).ok())
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|repo| modified_unix(&repo.path().join("repodata/repomd.xml")))
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::scripted::ScriptedCommandRunner;

    fn probe(root: &Path) -> DnfProbe {
        DnfProbe {
            root: root.to_path_buf(),
            program: "dnf",
            timeout: Duration::from_secs(60),
        }
    }

    fn fixture(path: &str) -> String {
        crate::fixtures::captured_output(&format!("patches/{path}"))
    }

    #[tokio::test]
    async fn scan_combines_updates_advisories_and_reboot() {
        let runner = ScriptedCommandRunner::default();
        runner.answer(
            &["dnf", "-C", "-q", "check-update"],
            100,
            &fixture("rhel/dnf-check-update-security-fedora34.txt"),
            "",
        );
        runner.answer(
            &["dnf", "-C", "-q", "updateinfo", "list", "--security"],
            0,
            &fixture("rhel/dnf-updateinfo-list-security-fedora34.txt"),
            "",
        );
        runner.answer(
            &["needs-restarting", "-r"],
            1,
            &fixture("rhel/needs-restarting-r-reboot.txt"),
            "",
        );
        runner.answer(
            &rpm_query(&[
                "avahi",
                "avahi-libs",
                "curl",
                "libgcrypt",
                "nettle",
                "perl-Encode",
            ]),
            1,
            &fixture("rhel/rpm-q-qf-installed.txt"),
            "",
        );
        let root = tempfile::tempdir().unwrap();
        let scan = probe(root.path()).scan(&runner).await.unwrap();
        assert_eq!(scan.pending.len(), 6);
        assert!(scan.pending.iter().all(|p| p.security));
        let curl = scan.pending.iter().find(|p| p.name == "curl").unwrap();
        assert_eq!(curl.installed_version, "7.76.1-3.fc34");
        assert_eq!(
            scan.reboot_reasons[0].packages,
            ["glibc", "kernel", "kernel-core"]
        );
    }

    fn rpm_query(names: &[&'static str]) -> Vec<&'static str> {
        let mut line = vec!["rpm", "-q", "--queryformat", parse::RPM_VERSION_FORMAT];
        line.extend(names);
        line
    }

    #[tokio::test]
    async fn broken_rpm_database_leaves_installed_versions_empty_not_the_scan_failed() {
        let runner = ScriptedCommandRunner::default();
        runner.answer(
            &["dnf", "-C", "-q", "check-update"],
            100,
            "bash.x86_64 5.1.8-9.el9 baseos\n",
            "",
        );
        runner.answer(
            &rpm_query(&["bash"]),
            2,
            "",
            "error: rpmdb: BDB0113 Thread/process 2130/140 failed: BDB1507 Thread died in Berkeley DB library\n",
        );
        runner.answer(
            &["dnf", "-C", "-q", "updateinfo", "list", "--security"],
            0,
            "",
            "",
        );
        runner.answer(
            &["needs-restarting", "-r"],
            0,
            "No core libraries or services have been updated since boot-up.\n",
            "",
        );
        let root = tempfile::tempdir().unwrap();
        let scan = probe(root.path()).scan(&runner).await.unwrap();
        assert_eq!(scan.pending.len(), 1);
        assert_eq!(scan.pending[0].candidate_version, "5.1.8-9.el9");
        assert_eq!(scan.pending[0].installed_version, "");
    }

    #[tokio::test]
    async fn names_rpm_does_not_know_leave_only_their_own_version_empty() {
        let runner = ScriptedCommandRunner::default();
        runner.answer(
            &["dnf", "-C", "-q", "check-update"],
            100,
            "bash.x86_64 5.1.8-9.el9 baseos\ncurl.x86_64 7.76.1-29.el9 baseos\nnew-tool.x86_64 1.0-1.el9 appstream\n",
            "",
        );
        // rpm's exit code counts the unknown names (here two).
        runner.answer(
            &rpm_query(&["bash", "curl", "new-tool"]),
            2,
            "bash 5.1.8-6.el9\npackage curl is not installed\npackage new-tool is not installed\n",
            "",
        );
        runner.answer(
            &["dnf", "-C", "-q", "updateinfo", "list", "--security"],
            0,
            "",
            "",
        );
        runner.answer(&["needs-restarting", "-r"], 0, "", "");
        let root = tempfile::tempdir().unwrap();
        let scan = probe(root.path()).scan(&runner).await.unwrap();
        let versions: Vec<&str> = scan
            .pending
            .iter()
            .map(|p| p.installed_version.as_str())
            .collect();
        assert_eq!(versions, ["5.1.8-6.el9", "", ""]);
    }

    #[tokio::test]
    async fn missing_cache_is_a_scan_error() {
        let runner = ScriptedCommandRunner::default();
        runner.answer(
            &["dnf", "-C", "-q", "check-update"],
            1,
            "",
            &fixture("rhel/dnf-check-update-no-cache.txt"),
        );
        let root = tempfile::tempdir().unwrap();
        let err = probe(root.path()).scan(&runner).await.unwrap_err();
        assert!(err.to_string().contains("no cache"), "{err}");
    }

    #[tokio::test]
    async fn failed_security_classification_is_a_scan_error() {
        let runner = ScriptedCommandRunner::default();
        runner.answer(
            &["dnf", "-C", "-q", "check-update"],
            100,
            "bash.x86_64 5.1 baseos\n",
            "",
        );
        runner.answer(
            &["dnf", "-C", "-q", "updateinfo", "list", "--security"],
            1,
            "",
            "Error: Cache-only enabled but no cache for 'baseos'\n",
        );
        let root = tempfile::tempdir().unwrap();
        let err = probe(root.path()).scan(&runner).await.unwrap_err();
        assert!(err.to_string().contains("updateinfo"), "{err}");
    }

    #[test]
    fn last_refresh_is_the_newest_repomd() {
        let root = tempfile::tempdir().unwrap();
        let repodata = root.path().join("var/cache/dnf/baseos-abc/repodata");
        std::fs::create_dir_all(&repodata).unwrap();
        std::fs::write(repodata.join("repomd.xml"), "<repomd/>").unwrap();
        assert!(newest_repomd(root.path()).is_some());
        assert_eq!(newest_repomd(&root.path().join("nothing")), None);
    }
}
