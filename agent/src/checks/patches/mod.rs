//! Patch check: what updates are pending (and which are security), when the
//! device last refreshed its update source and last installed updates, and
//! whether it needs a reboot and why.
//!
//! A scan that did not run or failed is never reported as "0 pending": the
//! status carries a [`pb::ScanState`] (OK, STALE, ERROR, NEVER), and the
//! pending list is only filled when it can be trusted.
//!
//! The heavy probe (a package manager's simulation) runs rarely — every
//! `scan_interval_secs`, and again `rescan_quiet_secs` after the package
//! database stops changing — at low priority, with a timeout, one at a time.
//! Between probes the check reuses its last result; the cheap signals (reboot
//! flags, last refresh, last install) are read every cycle.
//!
//! What each package manager provides:
//! - `apt.rs` (Debian/Ubuntu, any OS with apt): the simulation, the last
//!   `apt update`, the last install from dpkg's log, `/run/reboot-required`;
//!   file readers take a root directory so tests point them at a test root.
//! - `dnf.rs` (RHEL, Fedora, Alma, Rocky; yum too): cached metadata only,
//!   security advisories from updateinfo, `needs-restarting -r`.
//! - `zypper.rs` (SUSE): cached metadata only, security patches from
//!   `list-patches`, `zypper needs-rebooting`.
//! - `softwareupdate.rs` (macOS): `softwareupdate --list` on the scan
//!   interval, last successful check from the SoftwareUpdate preferences.
//! - `windows.rs` (Windows): the Windows Update Agent's search on its own
//!   thread, its update history and Automatic Updates results, the
//!   `wuauserv` start type, and the pending-reboot registry keys;
//! - `parse.rs`: the pure parsers for every tool's output;
//! - `wua.rs`: the pure part of Windows Update (records to status, error
//!   codes, reboot keys) and its one-search-at-a-time worker.

mod apt;
mod dnf;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod parse;
mod softwareupdate;
#[cfg(windows)]
mod windows;
// Only Windows calls it; all of it is tested on every OS.
#[cfg_attr(not(windows), allow(dead_code))]
mod wua;
mod zypper;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Notify;

use forewarn_proto::limits::{MAX_PENDING_UPDATES, MAX_STRING_BYTES};
use forewarn_proto::pb;

use super::CheckError;
use crate::clock::now_unix;
use crate::command::{CommandRunner, SystemCommandRunner};
use crate::trigger::ReportTrigger;
use crate::watch::{PathWatcher, watch_paths};

pub const CHECK_NAME: &str = forewarn_proto::CheckKind::Patches.as_str();

/// After a failed probe, try again this soon rather than after a full interval.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(15 * 60);

/// How long a report waits for a running probe before going without it,
/// unless the caller chose otherwise ([`PatchCheck::new`]).
const SCAN_WAIT: Duration = Duration::from_secs(5);

/// Local settings of the patch check.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchConfig {
    /// Seconds between two runs of the package manager's simulation.
    #[serde(default = "default_scan_interval_secs")]
    pub scan_interval_secs: u64,
    /// Seconds after which a running probe is killed and the scan reported as failed.
    #[serde(default = "default_scan_timeout_secs")]
    pub scan_timeout_secs: u64,
    /// Package data older than this many seconds is reported as stale.
    #[serde(default = "default_stale_after_secs")]
    pub stale_after_secs: u64,
    /// Seconds the package database must stay unchanged after a change
    /// (an install, an `apt update`) before it is scanned again.
    #[serde(default = "default_rescan_quiet_secs")]
    pub rescan_quiet_secs: u64,
    /// Package manager to use: "auto" (detect; Windows Update on Windows), "apt", "dnf", "yum", "zypper", "softwareupdate" or "none".
    #[serde(default = "default_package_manager")]
    pub package_manager: String,
    /// Directory that the files the check reads (dpkg's log, apt's lists,
    /// `/run/reboot-required`) are looked up under; "/" on real systems.
    #[serde(default = "default_root_dir")]
    pub root_dir: PathBuf,
    /// apt configuration file given to apt through `APT_CONFIG`, for hosts
    /// whose apt state lives somewhere unusual; unset means apt's own default.
    #[serde(default)]
    pub apt_config_file: Option<PathBuf>,
}

fn default_scan_interval_secs() -> u64 {
    6 * 3600
}
fn default_scan_timeout_secs() -> u64 {
    300
}
fn default_stale_after_secs() -> u64 {
    7 * 24 * 3600
}
fn default_rescan_quiet_secs() -> u64 {
    60
}
fn default_package_manager() -> String {
    "auto".to_owned()
}
fn default_root_dir() -> PathBuf {
    PathBuf::from("/")
}

impl Default for PatchConfig {
    fn default() -> Self {
        Self {
            scan_interval_secs: default_scan_interval_secs(),
            scan_timeout_secs: default_scan_timeout_secs(),
            stale_after_secs: default_stale_after_secs(),
            rescan_quiet_secs: default_rescan_quiet_secs(),
            package_manager: default_package_manager(),
            root_dir: default_root_dir(),
            apt_config_file: None,
        }
    }
}

impl PatchConfig {
    /// Problems with these settings, each prefixed with `key`.
    pub fn problems(&self, key: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.scan_interval_secs < 60 {
            problems.push(format!("{key}.scan_interval_secs: must be at least 60"));
        }
        if self.scan_timeout_secs == 0 {
            problems.push(format!("{key}.scan_timeout_secs: must be at least 1"));
        }
        if self.stale_after_secs < 3600 {
            problems.push(format!("{key}.stale_after_secs: must be at least 3600"));
        }
        if ![
            "auto",
            "apt",
            "dnf",
            "yum",
            "zypper",
            "softwareupdate",
            "none",
        ]
        .contains(&self.package_manager.as_str())
        {
            problems.push(format!(
                "{key}.package_manager: {:?} is not one of \"auto\", \"apt\", \"dnf\", \"yum\", \"zypper\", \"softwareupdate\", \"none\"",
                self.package_manager
            ));
        }
        problems
    }
}

/// What `package_manager = "auto"` picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AutoChoice {
    SoftwareUpdate,
    Apt,
    Zypper,
    Dnf(&'static str),
    /// Windows Update on Windows; "no supported package manager" elsewhere.
    OsDefault,
}

/// Picks the package manager for `os` (as in [`std::env::consts::OS`]).
/// Windows and macOS always use their own updater: a Linux package database
/// that happens to be reachable under `root` (Wine's `Z:` drive, WSL, a
/// mounted Linux disk) is not the one that patches this OS.
fn auto_choice(os: &str, root: &Path) -> AutoChoice {
    match os {
        "windows" => AutoChoice::OsDefault,
        "macos" => AutoChoice::SoftwareUpdate,
        _ if apt::is_present(root) => AutoChoice::Apt,
        _ if zypper::is_present(root) => AutoChoice::Zypper,
        _ => dnf::detect(root).map_or(AutoChoice::OsDefault, AutoChoice::Dnf),
    }
}

/// Which package manager this device is checked with.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Backend {
    Apt(apt::AptProbe),
    Dnf(dnf::DnfProbe),
    Zypper(zypper::ZypperProbe),
    SoftwareUpdate(softwareupdate::SoftwareUpdateProbe),
    #[cfg(windows)]
    WindowsUpdate(windows::WindowsUpdateProbe),
    /// No supported package manager; the reason is reported as a scan error.
    Unsupported {
        name: String,
        reason: String,
    },
}

impl Backend {
    fn from_config(config: &PatchConfig) -> Self {
        let apt = || {
            Self::Apt(apt::AptProbe {
                root: config.root_dir.clone(),
                apt_config: config.apt_config_file.clone(),
                timeout: Duration::from_secs(config.scan_timeout_secs),
            })
        };
        let dnf = |program| {
            Self::Dnf(dnf::DnfProbe {
                root: config.root_dir.clone(),
                program,
                timeout: Duration::from_secs(config.scan_timeout_secs),
            })
        };
        let zypper = || {
            Self::Zypper(zypper::ZypperProbe {
                root: config.root_dir.clone(),
                timeout: Duration::from_secs(config.scan_timeout_secs),
            })
        };
        let softwareupdate = || {
            Self::SoftwareUpdate(softwareupdate::SoftwareUpdateProbe {
                root: config.root_dir.clone(),
                timeout: Duration::from_secs(config.scan_timeout_secs),
            })
        };
        match config.package_manager.as_str() {
            "apt" => apt(),
            "dnf" => dnf("dnf"),
            "yum" => dnf("yum"),
            "zypper" => zypper(),
            "softwareupdate" => softwareupdate(),
            "none" => Self::Unsupported {
                name: String::new(),
                reason: "patch scanning is turned off in the local config".into(),
            },
            _ => match auto_choice(std::env::consts::OS, &config.root_dir) {
                AutoChoice::SoftwareUpdate => softwareupdate(),
                AutoChoice::Apt => apt(),
                AutoChoice::Zypper => zypper(),
                AutoChoice::Dnf(program) => dnf(program),
                AutoChoice::OsDefault => Self::os_default(config),
            },
        }
    }

    /// What "auto" picks when no package manager is found.
    #[cfg(windows)]
    fn os_default(config: &PatchConfig) -> Self {
        Self::WindowsUpdate(windows::WindowsUpdateProbe {
            timeout: Duration::from_secs(config.scan_timeout_secs),
        })
    }

    #[cfg(not(windows))]
    fn os_default(_config: &PatchConfig) -> Self {
        Self::Unsupported {
            name: String::new(),
            reason: "no supported package manager on this device (apt, dnf, yum or zypper)".into(),
        }
    }

    fn name(&self) -> &str {
        match self {
            Self::Apt(_) => "apt",
            Self::Dnf(probe) => probe.program,
            Self::Zypper(_) => "zypper",
            Self::SoftwareUpdate(_) => "softwareupdate",
            #[cfg(windows)]
            Self::WindowsUpdate(_) => wua::MANAGER_NAME,
            Self::Unsupported { name, .. } => name,
        }
    }

    fn watched_paths(&self) -> Vec<PathBuf> {
        match self {
            Self::Apt(probe) => probe.watched_paths(),
            Self::Dnf(probe) => probe.watched_paths(),
            Self::Zypper(probe) => probe.watched_paths(),
            Self::SoftwareUpdate(probe) => probe.watched_paths(),
            // Windows has no package database file to watch; its rescans follow the interval.
            #[cfg(windows)]
            Self::WindowsUpdate(_) => Vec::new(),
            Self::Unsupported { .. } => Vec::new(),
        }
    }
}

/// What a probe found.
#[derive(Debug, Clone, Default, PartialEq)]
struct Scan {
    pending: Vec<pb::PendingUpdate>,
    /// Reboot signals that come from the probe itself (needs-restarting).
    reboot_reasons: Vec<pb::RebootReason>,
    /// Last successful refresh of the update source, when the probe itself
    /// reports it (Windows Update); used when the host signals have none.
    last_refresh: Option<i64>,
    /// Last successful install, when the probe itself reports it.
    last_install: Option<i64>,
}

/// What a probe found, or why it could not tell.
type ScanOutcome = Result<Scan, CheckError>;

/// The cheap signals read every cycle.
#[derive(Debug, Clone, Default, PartialEq)]
struct HostSignals {
    /// Last successful refresh of the update source (apt update), Unix seconds.
    last_refresh: Option<i64>,
    /// Last successful install, Unix seconds.
    last_install: Option<i64>,
    reboot_reasons: Vec<pb::RebootReason>,
}

#[derive(Debug)]
pub struct PatchCheck {
    config: PatchConfig,
    backend: Backend,
    runner: Arc<dyn CommandRunner>,
    /// The last probe's result, and whether a probe is running.
    slot: Arc<Mutex<ScanSlot>>,
    /// Notified when a probe finishes.
    finished: Arc<Notify>,
    /// Set when the package database changed and settled since the last probe.
    changed: Arc<AtomicBool>,
    /// Asked for a report when a probe finishes, so its result is not held back.
    trigger: ReportTrigger,
    /// How long a report waits for a running probe.
    scan_wait: Duration,
    /// dpkg's logs as last parsed (apt only).
    install_logs: apt::InstallLogs,
    /// The watch on the package database, while the check is enabled.
    watch: Option<DatabaseWatch>,
    /// Whether the check should watch (it is enabled); the watch itself may
    /// be missing where watching is not possible.
    watching: bool,
}

#[derive(Debug, Default)]
struct ScanSlot {
    /// The last probe's result and when it finished.
    last: Option<(Instant, ScanOutcome)>,
    running: bool,
}

impl ScanSlot {
    /// Whether the heavy probe should start now.
    fn due(&self, interval: Duration, changed: bool) -> bool {
        if self.running {
            return false;
        }
        match &self.last {
            None => true,
            Some((at, outcome)) => {
                let every = match outcome {
                    Ok(_) => interval,
                    Err(_) => RETRY_AFTER_ERROR.min(interval),
                };
                at.elapsed() >= every || changed
            }
        }
    }
}

/// Watches the package database and, once it has been quiet for a while,
/// marks the check for a rescan and asks for a report.
#[derive(Debug)]
struct DatabaseWatch {
    _watcher: PathWatcher,
    debounce: tokio::task::JoinHandle<()>,
}

impl Drop for DatabaseWatch {
    fn drop(&mut self) {
        self.debounce.abort();
    }
}

impl PatchCheck {
    /// A check on this device's package manager; database changes and
    /// finished probes fire `trigger`. A report waits up to `scan_wait` for a
    /// running probe: the run loop passes zero (the finished probe asks for
    /// its own report), a one-off `check --once` waits for the result.
    pub fn new(config: PatchConfig, trigger: &ReportTrigger, scan_wait: Duration) -> Self {
        let mut check = Self::with_runner(config, Arc::new(SystemCommandRunner));
        check.trigger = trigger.clone();
        check.scan_wait = scan_wait;
        check.set_watching(true);
        check
    }

    fn with_runner(config: PatchConfig, runner: Arc<dyn CommandRunner>) -> Self {
        Self {
            backend: Backend::from_config(&config),
            config,
            runner,
            slot: Arc::default(),
            finished: Arc::default(),
            changed: Arc::new(AtomicBool::new(false)),
            trigger: ReportTrigger::default(),
            scan_wait: SCAN_WAIT,
            install_logs: apt::InstallLogs::default(),
            watch: None,
            watching: false,
        }
    }

    /// Starts or stops watching the package database: a check the policy
    /// disables watches nothing (and wakes nothing when packages change).
    pub fn set_watching(&mut self, on: bool) {
        if on == self.watching {
            return;
        }
        self.watching = on;
        self.watch = if on {
            self.start_watch(&self.trigger)
        } else {
            None
        };
    }

    fn start_watch(&self, trigger: &ReportTrigger) -> Option<DatabaseWatch> {
        // Watching needs a runtime for the debounce task; one-shot callers may have none.
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let changes = ReportTrigger::default();
        let watcher = watch_paths(
            &self.backend.watched_paths(),
            false,
            changes.clone(),
            CHECK_NAME,
        )?;
        let quiet = Duration::from_secs(self.config.rescan_quiet_secs);
        let changed = Arc::clone(&self.changed);
        let report = trigger.clone();
        let debounce = runtime.spawn(async move {
            loop {
                changes.fired().await;
                // A package install touches the database many times: wait for quiet.
                while tokio::time::timeout(quiet, changes.fired()).await.is_ok() {}
                tracing::debug!(check = CHECK_NAME, "package database changed; rescanning");
                changed.store(true, Ordering::SeqCst);
                report.fire();
            }
        });
        Some(DatabaseWatch {
            _watcher: watcher,
            debounce,
        })
    }

    /// Starts the heavy probe in the background, so a slow package manager
    /// never holds back the report of the other checks.
    fn start_scan(&self) {
        let backend = self.backend.clone();
        let runner = Arc::clone(&self.runner);
        let slot = Arc::clone(&self.slot);
        let finished = Arc::clone(&self.finished);
        let trigger = self.trigger.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let outcome = match &backend {
                Backend::Apt(probe) => probe.scan(runner.as_ref()).await,
                Backend::Dnf(probe) => probe.scan(runner.as_ref()).await,
                Backend::Zypper(probe) => probe.scan(runner.as_ref()).await,
                Backend::SoftwareUpdate(probe) => probe.scan(runner.as_ref()).await,
                #[cfg(windows)]
                Backend::WindowsUpdate(probe) => probe.scan().await,
                Backend::Unsupported { reason, .. } => Err(CheckError::Failed(reason.clone())),
            };
            match &outcome {
                Ok(scan) => tracing::info!(
                    check = CHECK_NAME,
                    manager = backend.name(),
                    pending = scan.pending.len(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "package scan finished"
                ),
                Err(err) => tracing::warn!(
                    check = CHECK_NAME,
                    manager = backend.name(),
                    error = %err,
                    "package scan failed"
                ),
            }
            {
                let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
                slot.last = Some((Instant::now(), outcome));
                slot.running = false;
            }
            finished.notify_waiters();
            trigger.fire();
        });
    }

    /// Builds this cycle's status, starting a probe when one is due.
    ///
    /// A report waits at most `scan_wait` for a running probe; `None` means
    /// the first probe is still running, and its result comes with the report
    /// it asks for when it finishes.
    pub async fn collect(&mut self) -> Result<Option<pb::PatchCheck>, CheckError> {
        if let Backend::Unsupported { name, reason } = &self.backend {
            return Ok(Some(pb::PatchCheck {
                package_manager: name.clone(),
                scan_state: pb::ScanState::Error as i32,
                scan_error: reason.clone(),
                ..Default::default()
            }));
        }
        let finished = self.finished.notified();
        tokio::pin!(finished);
        finished.as_mut().enable();
        let running = {
            let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
            let interval = Duration::from_secs(self.config.scan_interval_secs);
            if slot.due(interval, self.changed.load(Ordering::SeqCst)) {
                self.changed.store(false, Ordering::SeqCst);
                slot.running = true;
                self.start_scan();
            }
            slot.running
        };
        if running && !self.scan_wait.is_zero() {
            let _ = tokio::time::timeout(self.scan_wait, finished).await;
        }
        let signals = match &self.backend {
            Backend::Apt(probe) => probe.signals(&mut self.install_logs).await,
            Backend::Dnf(probe) => probe.signals().await,
            Backend::Zypper(probe) => probe.signals().await,
            Backend::SoftwareUpdate(probe) => probe.signals().await,
            #[cfg(windows)]
            Backend::WindowsUpdate(probe) => probe.signals().await,
            Backend::Unsupported { .. } => HostSignals::default(),
        };
        let outcome = {
            let slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
            match &slot.last {
                Some((_, outcome)) => outcome.clone(),
                None => {
                    tracing::debug!(check = CHECK_NAME, "first package scan still running");
                    return Ok(None);
                }
            }
        };
        Ok(Some(assess(
            self.backend.name(),
            outcome,
            signals,
            now_unix(),
            self.config.stale_after_secs,
        )))
    }
}

/// Turns a probe's outcome and the host's signals into the reported status.
///
/// ERROR when the probe failed; NEVER when the update source was never
/// refreshed (apt then knows no candidates, so "0 pending" would be a lie);
/// STALE when the last refresh is older than `stale_after_secs`; else OK.
fn assess(
    manager: &str,
    outcome: ScanOutcome,
    mut signals: HostSignals,
    now_unix: i64,
    stale_after_secs: u64,
) -> pb::PatchCheck {
    if let Ok(scan) = &outcome {
        signals
            .reboot_reasons
            .extend(scan.reboot_reasons.iter().cloned());
        signals.last_refresh = signals.last_refresh.or(scan.last_refresh);
        signals.last_install = signals.last_install.or(scan.last_install);
    }
    let mut status = pb::PatchCheck {
        package_manager: manager.to_owned(),
        last_successful_scan_unix_secs: signals.last_refresh,
        last_successful_install_unix_secs: signals.last_install,
        reboot_required: !signals.reboot_reasons.is_empty(),
        reboot_reasons: signals.reboot_reasons,
        ..Default::default()
    };
    let (state, error, pending) = match (outcome, signals.last_refresh) {
        (Err(err), _) => (pb::ScanState::Error, err.to_string(), Vec::new()),
        (Ok(_), None) => (
            pb::ScanState::Never,
            if manager == wua::MANAGER_NAME {
                "Windows Update has never searched for updates successfully on this device"
            } else {
                "the package lists have never been downloaded"
            }
            .to_owned(),
            Vec::new(),
        ),
        (Ok(Scan { pending, .. }), Some(refreshed)) => {
            let age_secs = now_unix.saturating_sub(refreshed);
            if age_secs > i64::try_from(stale_after_secs).unwrap_or(i64::MAX) {
                let source = if manager == wua::MANAGER_NAME {
                    "Windows Update last searched successfully"
                } else {
                    "package lists last refreshed"
                };
                let message = format!(
                    "{source} {} days ago (limit {} days)",
                    age_secs / 86_400,
                    stale_after_secs / 86_400
                );
                (pb::ScanState::Stale, message, pending)
            } else {
                (pb::ScanState::Ok, String::new(), pending)
            }
        }
    };
    status.scan_state = state as i32;
    status.scan_error = truncate(error);
    status.pending = pending;
    status.pending.truncate(MAX_PENDING_UPDATES);
    status
}

fn truncate(mut text: String) -> String {
    if text.len() > MAX_STRING_BYTES {
        let mut end = MAX_STRING_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests;
