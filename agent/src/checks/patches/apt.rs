//! apt (Debian, Ubuntu): the simulation probe and the files apt and dpkg leave.
//!
//! The probe is `apt-get -s -o Debug::NoLocking=1 dist-upgrade` (with apt's
//! binary caches off, see [`simulation_command_line`]): a simulation
//! that changes nothing, takes no lock (so it never blocks or is blocked by
//! unattended-upgrades), reads only the local package lists (never the
//! network), and prints one `Inst` line per package with installed version,
//! candidate version and the releases (origin/suite) it comes from, which is
//! what the security flag needs. `dist-upgrade` rather than `upgrade` so
//! updates that need a new dependency (kernels) are listed, not hidden as
//! "kept back"; it also prints Ubuntu's "deferred due to phasing" section.
//! `apt list --upgradable` was not chosen: apt warns its output is not a
//! stable interface, and it does not tell phased updates apart.
//!
//! Files are read under `root` ("/" on a real system):
//! - last refresh: `var/lib/apt/periodic/update-success-stamp` (written after
//!   every successful update where update-notifier or apt's daily job runs)
//!   or else the newest `Release`/`InRelease` in `var/lib/apt/lists`;
//! - last install: `var/log/dpkg.log` (then `dpkg.log.1` after rotation);
//! - reboot: `run/reboot-required` with `run/reboot-required.pkgs`.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use super::{HostSignals, Scan, parse};
use crate::checks::CheckError;
use crate::command::{CommandError, CommandRunner, CommandSpec};
use crate::file_stamp::FileStamp;

/// How apt is probed on this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptProbe {
    pub root: PathBuf,
    /// Given to apt as `APT_CONFIG`.
    pub apt_config: Option<PathBuf>,
    pub timeout: Duration,
}

/// Whether this device is managed by apt/dpkg.
pub fn is_present(root: &Path) -> bool {
    root.join("var/lib/dpkg/status").is_file()
}

/// The simulation's program and arguments.
///
/// The binary package caches are turned off: apt decides whether
/// `pkgcache.bin` is still valid from file sizes and modification times, so a
/// dpkg status change within the same second (same size, new version) can be
/// missed; and a read-only agent should not write apt's cache anyway.
pub fn simulation_command_line() -> [&'static str; 9] {
    [
        "apt-get",
        "-s",
        "-o",
        "Debug::NoLocking=1",
        "-o",
        "Dir::Cache::pkgcache=",
        "-o",
        "Dir::Cache::srcpkgcache=",
        "dist-upgrade",
    ]
}

impl AptProbe {
    /// Runs the simulation and parses what would be upgraded.
    pub async fn scan(&self, runner: &dyn CommandRunner) -> Result<Scan, CheckError> {
        let [program, args @ ..] = simulation_command_line();
        let mut spec = CommandSpec::new(program, args)
            .timeout(self.timeout)
            .low_priority();
        if let Some(config) = &self.apt_config {
            spec = spec.env("APT_CONFIG", config);
        }
        let output = runner.run(&spec).await.map_err(|err| match err {
            CommandError::NotFound { program } => CheckError::ToolMissing(program),
            CommandError::Timeout { timeout, .. } => CheckError::Timeout(timeout.as_secs()),
            other => CheckError::Failed(other.to_string()),
        })?;
        if !output.success() {
            let stderr = output.stderr_text();
            // apt's own "E:" lines say what is wrong (broken lists, bad sources).
            let reason: Vec<&str> = stderr.lines().filter(|l| l.starts_with("E: ")).collect();
            let reason = if reason.is_empty() {
                stderr.lines().last().unwrap_or("").to_owned()
            } else {
                reason.join("; ")
            };
            return Err(CheckError::Failed(format!(
                "apt-get exited with {}: {reason}",
                output
                    .exit_code
                    .map_or_else(|| "a signal".to_owned(), |c| c.to_string())
            )));
        }
        let pending = parse::apt_simulation(&output.stdout_text())
            .map_err(|err| CheckError::InvalidData(err.to_string()))?;
        Ok(Scan {
            pending,
            ..Scan::default()
        })
    }

    /// Reads the cheap signals (a few `stat`s, on the agent's one thread).
    /// dpkg's log is parsed again only when it changed since `logs` saw it.
    pub(super) async fn signals(&self, logs: &mut InstallLogs) -> HostSignals {
        read_signals(&self.root, logs)
    }

    /// What changes when packages are installed or the lists are refreshed.
    pub fn watched_paths(&self) -> Vec<PathBuf> {
        vec![
            self.root.join("var/lib/dpkg"),
            self.root.join("var/lib/apt/lists"),
        ]
    }
}

/// dpkg's logs as last parsed: each file's stamp and the last install in it.
///
/// The log grows by every package operation and is a few hundred kilobytes
/// to megabytes; parsing it every cycle was most of the cost of a cycle.
/// It changes only when dpkg runs, so its stamp decides.
#[derive(Debug, Default)]
pub struct InstallLogs {
    parsed: Vec<(PathBuf, FileStamp, Option<i64>)>,
}

fn read_signals(root: &Path, logs: &mut InstallLogs) -> HostSignals {
    let mut reboot_reasons = Vec::new();
    let flag = root.join("run/reboot-required");
    if flag.exists() {
        let pkgs = std::fs::read_to_string(root.join("run/reboot-required.pkgs")).ok();
        reboot_reasons.push(parse::reboot_required_reason(
            "/run/reboot-required",
            pkgs.as_deref(),
        ));
    }
    HostSignals {
        last_refresh: last_refresh(root),
        last_install: last_install(root, logs),
        reboot_reasons,
    }
}

fn modified_unix(path: &Path) -> Option<i64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    modified
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs() as i64)
}

/// The newer of the update-success stamp and the newest Release file.
///
/// apt rewrites (or touches, when unchanged) a repository's `InRelease`
/// only after that repository's update succeeded, so its mtime is the last
/// successful refresh even without the stamp file.
fn last_refresh(root: &Path) -> Option<i64> {
    let stamp = modified_unix(&root.join("var/lib/apt/periodic/update-success-stamp"));
    let lists = std::fs::read_dir(root.join("var/lib/apt/lists"))
        .ok()?
        .filter_map(Result::ok)
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.ends_with("_InRelease") || name.ends_with("_Release")
        })
        .filter_map(|entry| modified_unix(&entry.path()))
        .max();
    stamp.max(lists)
}

fn last_install(root: &Path, logs: &mut InstallLogs) -> Option<i64> {
    ["var/log/dpkg.log", "var/log/dpkg.log.1"]
        .iter()
        .find_map(|name| {
            let path = root.join(name);
            let stamp = FileStamp::read(&path)?;
            if let Some((_, _, installed)) = logs
                .parsed
                .iter()
                .find(|(known, known_stamp, _)| *known == path && *known_stamp == stamp)
            {
                return *installed;
            }
            let installed = parse_install_log(&path);
            logs.parsed.retain(|(known, _, _)| *known != path);
            logs.parsed.push((path, stamp, installed));
            installed
        })
}

/// The last install in one dpkg log, in Unix seconds.
fn parse_install_log(path: &Path) -> Option<i64> {
    let log = std::fs::read_to_string(path).ok()?;
    let installed = parse::dpkg_log_last_install(&log)?;
    // dpkg logs local time; the file's mtime tells the zone's offset.
    let offset = match (parse::dpkg_log_last_entry(&log), modified_unix(path)) {
        (Some(last), Some(modified)) => parse::utc_offset_from_last_write(last, modified),
        _ => 0,
    };
    Some(installed.to_unix(offset))
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn unix(time: SystemTime) -> i64 {
        time.duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default()
    }

    fn write(root: &Path, name: &str, text: &str) -> PathBuf {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn set_mtime(path: &Path, time: SystemTime) {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(time)
            .unwrap();
    }

    #[test]
    fn empty_root_has_no_signals() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(
            read_signals(root.path(), &mut InstallLogs::default()),
            HostSignals::default()
        );
        assert!(!is_present(root.path()));
    }

    #[test]
    fn last_refresh_is_the_newest_release_file_or_stamp() {
        let root = tempfile::tempdir().unwrap();
        let old = SystemTime::now() - Duration::from_secs(30 * 86_400);
        let newer = SystemTime::now() - Duration::from_secs(86_400);
        let release = write(
            root.path(),
            "var/lib/apt/lists/deb.example_dists_x_InRelease",
            "",
        );
        let packages = write(
            root.path(),
            "var/lib/apt/lists/deb.example_dists_x_main_binary-amd64_Packages",
            "",
        );
        set_mtime(&release, old);
        set_mtime(&packages, SystemTime::now());
        assert_eq!(
            last_refresh(root.path()),
            Some(unix(old)),
            "Packages files do not count"
        );
        let stamp = write(root.path(), "var/lib/apt/periodic/update-success-stamp", "");
        set_mtime(&stamp, newer);
        assert_eq!(last_refresh(root.path()), Some(unix(newer)));
    }

    #[test]
    fn last_install_uses_the_logs_zone_offset() {
        let root = tempfile::tempdir().unwrap();
        // Written at 12:00:05 UTC by a host two hours east of UTC.
        let log = write(
            root.path(),
            "var/log/dpkg.log",
            "2026-11-23 13:58:00 status installed foo:amd64 2\n2026-11-23 14:00:05 startup packages configure\n",
        );
        let written = time::macros::datetime!(2026-11-23 12:00:05 UTC).unix_timestamp();
        set_mtime(&log, UNIX_EPOCH + Duration::from_secs(written as u64));
        let expected = time::macros::datetime!(2026-11-23 11:58:00 UTC).unix_timestamp();
        assert_eq!(
            last_install(root.path(), &mut InstallLogs::default()),
            Some(expected)
        );
    }

    #[test]
    fn rotated_log_is_read_when_current_log_has_no_install() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "var/log/dpkg.log", "");
        write(
            root.path(),
            "var/log/dpkg.log.1",
            "2026-11-01 10:00:00 status installed foo:amd64 2\n",
        );
        assert!(last_install(root.path(), &mut InstallLogs::default()).is_some());
    }

    #[test]
    fn dpkg_log_is_parsed_again_only_when_it_changes() {
        let root = tempfile::tempdir().unwrap();
        let line = |day: u32| format!("2026-11-{day:02} 10:00:00 status installed foo:amd64 2\n");
        let log = write(root.path(), "var/log/dpkg.log", &line(1));
        let mut logs = InstallLogs::default();
        let first = last_install(root.path(), &mut logs).unwrap();
        // Unchanged stamp: the cached answer, even though the bytes differ
        // (written behind dpkg's back with the same size and times).
        let stamp = logs.parsed[0].1;
        logs.parsed[0].2 = Some(42);
        assert_eq!(FileStamp::read(&log), Some(stamp));
        assert_eq!(last_install(root.path(), &mut logs), Some(42));
        // dpkg appends: the stamp moves and the new install is found.
        std::fs::write(&log, format!("{}{}", line(1), line(2))).unwrap();
        let second = last_install(root.path(), &mut logs).unwrap();
        assert_eq!(second - first, 24 * 3600);
        assert_eq!(logs.parsed.len(), 1);
    }

    #[test]
    fn reboot_flag_without_pkgs_is_still_a_reason() {
        let root = tempfile::tempdir().unwrap();
        write(
            root.path(),
            "run/reboot-required",
            "*** System restart required ***\n",
        );
        let signals = read_signals(root.path(), &mut InstallLogs::default());
        assert_eq!(signals.reboot_reasons.len(), 1);
        assert_eq!(signals.reboot_reasons[0].source, "/run/reboot-required");
    }
}
