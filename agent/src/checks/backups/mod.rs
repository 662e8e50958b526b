//! Backup check: the state of every configured backup job.
//!
//! A job is a restic or borg repository (probed with the tool itself), a JSON
//! status file a backup script writes, a file the script touches after each
//! success, a systemd unit, macOS Time Machine, Windows Server Backup or a
//! Veeam Agent. Each job reports its latest run, its last success (absent
//! when the agent never saw one) and, apart from that, a probe error when the
//! agent could not learn the job's state (repository unreachable, wrong
//! password, lock held, tool missing): a probe error is not a job failure.
//!
//! What each OS provides:
//! - everywhere the tool runs: restic, borg, status and touch files (`restic.rs`,
//!   `borg.rs`, `status_file.rs`); Linux with systemd 251+: systemd units (`systemd.rs`);
//! - `macos.rs`: Time Machine through `tmutil`. The agent needs **Full Disk
//!   Access** (System Settings > Privacy & Security > Full Disk Access, or a
//!   PPPC profile); without it the job reports a probe error saying so;
//! - `windows.rs`: Windows Server Backup (Microsoft-Windows-Backup event log)
//!   and Veeam Agent for Windows (event 190 of the "Veeam Agent" log), read
//!   with `wevtutil`;
//! - `linux.rs`: Veeam Agent for Linux through `veeamconfig session list`;
//! - `tmutil.rs`, `event_log.rs`, `veeamconfig.rs`, `parse.rs`: the pure
//!   parsers, compiled and tested on every OS. A kind the OS does not have
//!   reports a probe error naming the OS it needs.
//!
//! Status and touch files are watched, so a script's result reaches the
//! collector within seconds.
//!
//! Restore verification (opt-in, per restic or borg job) restores a canary
//! file from the latest snapshot or archive and compares its SHA-256. It runs
//! in the background on its own long interval, one job at a time, at low
//! priority and with its own timeout, so it never holds a report back; each
//! report carries the last result, and a finished verification asks for a
//! report of its own. The newest success and the last verification are kept
//! in the state directory (`saved_state.rs`), so a restart forgets neither.
//!
//! Secrets: passwords are named in local config and handed to the tool in its
//! environment; any value the agent read itself is scrubbed from messages.

mod borg;
pub mod config;
mod exit_codes;
// The pure parsers compile everywhere so their tests run everywhere; only
// their own OS calls them.
#[cfg_attr(not(windows), allow(dead_code))]
mod event_log;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "macos")]
mod macos;
mod parse;
mod restic;
mod saved_state;
mod status_file;
mod systemd;
#[cfg(test)]
mod test_repos;
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
mod tm_preferences;
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
mod tmutil;
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
mod veeamconfig;
mod verify;
#[cfg(windows)]
mod windows;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use forewarn_proto::pb;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::clock::now_unix;
use crate::command::{CommandError, CommandRunner, CommandSpec, SystemCommandRunner};
use crate::trigger::ReportTrigger;
use crate::watch::{PathWatcher, watch_paths};
pub use config::{BackupJobConfig, BackupsConfig, JobKind, Secret};
use saved_state::{SavedJob, SavedState, StateFile};

pub const CHECK_NAME: &str = forewarn_proto::CheckKind::Backups.as_str();

/// The backup check with what it remembers between reports.
#[derive(Debug)]
pub struct BackupCheck {
    jobs: Vec<JobState>,
    runner: Arc<dyn CommandRunner>,
    /// Restore verification results, shared with the running verification.
    verifications: Arc<Mutex<Vec<Verification>>>,
    /// The verification running in the background, if any: at most one.
    verifying: Option<JoinHandle<()>>,
    /// How long a report waits for a running verification (zero in the run loop).
    verify_wait: Duration,
    /// Fired when a verification finishes, so its result is reported promptly.
    trigger: ReportTrigger,
    state_file: Option<StateFile>,
    /// Keeps the folders of status and touch files watched; dropped with the
    /// check, refreshed at each collection so a folder made later is watched.
    watcher: Option<PathWatcher>,
}

#[derive(Debug)]
struct JobState {
    config: BackupJobConfig,
    /// The latest probe, repeated until `interval_secs` passed.
    cached: Option<(Instant, pb::BackupJobStatus)>,
    /// Newest success the agent has seen, so a probe error or a failure keeps it.
    last_success: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Verification {
    attempted_unix_secs: Option<i64>,
    verified_unix_secs: Option<i64>,
    error: String,
}

impl BackupCheck {
    /// A check with the real command runner. Status and touch files fire
    /// `trigger` when written, and so does a finished restore verification.
    /// Last successes and verifications are kept in `state_file`. A report
    /// waits up to `verify_wait` for a running verification: the run loop
    /// passes zero, a one-off `check --once` waits for the result.
    pub fn new(
        config: &BackupsConfig,
        state_file: PathBuf,
        trigger: &ReportTrigger,
        verify_wait: Duration,
    ) -> Self {
        // The folder is watched, not the file: scripts replace the file by
        // renaming, and a watch on the old file would see nothing after that.
        let mut watched: Vec<_> = config
            .jobs
            .iter()
            .filter(|job| matches!(job.kind, JobKind::StatusFile | JobKind::TouchFile))
            .filter_map(|job| job.path.as_deref()?.parent().map(Path::to_path_buf))
            .collect();
        watched.sort();
        watched.dedup();
        let watcher = watch_paths(&watched, false, trigger.clone(), CHECK_NAME);
        let mut check =
            Self::with_runner(config, Arc::new(SystemCommandRunner)).with_state_file(state_file);
        check.watcher = watcher;
        check.trigger = trigger.clone();
        check.verify_wait = verify_wait;
        check
    }

    /// A check whose programs run through `runner`, without file watching or
    /// saved state, that waits for restore verifications.
    pub fn with_runner(config: &BackupsConfig, runner: Arc<dyn CommandRunner>) -> Self {
        let verify_wait = config.restore_verification_timeout();
        Self {
            jobs: config
                .jobs
                .iter()
                .map(|job| JobState {
                    config: job.clone(),
                    cached: None,
                    last_success: None,
                })
                .collect(),
            verifications: Arc::new(Mutex::new(vec![Verification::default(); config.jobs.len()])),
            runner,
            verifying: None,
            verify_wait,
            trigger: ReportTrigger::default(),
            state_file: None,
            watcher: None,
        }
    }

    /// Keeps last successes and verifications in `path`, starting from what it holds.
    fn with_state_file(mut self, path: PathBuf) -> Self {
        let (file, saved) = StateFile::open(path);
        let shared = Arc::clone(&self.verifications);
        let mut verifications = shared.lock().unwrap_or_else(PoisonError::into_inner);
        for (job, verification) in self.jobs.iter_mut().zip(verifications.iter_mut()) {
            let Some(entry) = saved
                .jobs
                .get(&job.config.name)
                .filter(|entry| entry.kind == job.config.kind.as_str())
            else {
                continue;
            };
            job.last_success = saved_state::plausible(entry.last_success_unix_secs, now_unix());
            *verification = Verification {
                attempted_unix_secs: entry.restore_attempted_unix_secs,
                verified_unix_secs: entry.restore_verified_unix_secs,
                error: entry.restore_verification_error.clone(),
            };
        }
        drop(verifications);
        self.state_file = Some(file);
        self
    }

    /// Probes the jobs that are due and reports all of them.
    pub async fn collect(&mut self) -> pb::BackupCheck {
        if let Some(watcher) = &mut self.watcher {
            watcher.refresh();
        }
        let mut jobs = Vec::with_capacity(self.jobs.len());
        for job in &mut self.jobs {
            jobs.push(job.collect(self.runner.as_ref()).await);
        }
        self.run_due_verifications(&jobs).await;
        let verifications = self.lock_verifications().clone();
        for ((status, job), verification) in jobs.iter_mut().zip(&self.jobs).zip(&verifications) {
            if job.config.restore_verification.is_some() {
                status.restore_verified_unix_secs = verification.verified_unix_secs;
                status.restore_verification_error = verification.error.clone();
            }
        }
        self.save_state(&verifications);
        pb::BackupCheck { jobs }
    }

    /// Starts a due verification if none runs, and waits up to `verify_wait`
    /// for it; a caller that waits gets every due job verified in turn.
    async fn run_due_verifications(&mut self, statuses: &[pb::BackupJobStatus]) {
        // Each job at most once per report, even if its verification ends without a result.
        let mut started = Vec::new();
        loop {
            if self.verifying.as_ref().is_some_and(JoinHandle::is_finished) {
                self.verifying = None;
            }
            if self.verifying.is_none() {
                match self.start_due_verification(statuses, &started) {
                    Some(index) => started.push(index),
                    None => return,
                }
            }
            let Some(running) = self.verifying.as_mut() else {
                return;
            };
            if self.verify_wait.is_zero()
                || tokio::time::timeout(self.verify_wait, running)
                    .await
                    .is_err()
            {
                return;
            }
            self.verifying = None;
        }
    }

    /// Starts the verification of the due job tried longest ago, skipping
    /// `skip`; returns its index, or `None` if no job is due.
    fn start_due_verification(
        &mut self,
        statuses: &[pb::BackupJobStatus],
        skip: &[usize],
    ) -> Option<usize> {
        let now = now_unix();
        let verifications = self.lock_verifications();
        let (index, _) = self
            .jobs
            .iter()
            .zip(statuses)
            .zip(verifications.iter())
            .enumerate()
            .filter(|(index, _)| !skip.contains(index))
            .filter_map(|(index, ((job, status), verification))| {
                let interval = job.config.restore_verification.as_ref()?.interval_secs;
                // A repository the probe cannot read cannot be restored from either.
                let due = status.probe_error.is_empty()
                    && verification
                        .attempted_unix_secs
                        .is_none_or(|at| now < at || (now - at).unsigned_abs() >= interval);
                due.then_some((index, verification.attempted_unix_secs))
            })
            .min_by_key(|(_, attempted)| *attempted)?;
        drop(verifications);
        let config = self.jobs[index].config.clone();
        let runner = Arc::clone(&self.runner);
        let results = Arc::clone(&self.verifications);
        let trigger = self.trigger.clone();
        self.verifying = Some(tokio::spawn(async move {
            let started = Instant::now();
            let outcome = match (&config.restore_verification, Credentials::resolve(&config)) {
                (Some(verify), Ok(credentials)) => {
                    verify::verify(&config, verify, &credentials, runner.as_ref()).await
                }
                (_, Err(err)) => Err(err),
                (None, _) => return,
            };
            debug!(check = CHECK_NAME, job = %config.name, elapsed_ms = started.elapsed().as_millis() as u64, ok = outcome.is_ok(), "restore verification finished");
            {
                let mut results = results.lock().unwrap_or_else(PoisonError::into_inner);
                let result = &mut results[index];
                // Recorded when done, so a verification cut short by a restart runs again.
                result.attempted_unix_secs = Some(now);
                match outcome {
                    Ok(()) => {
                        result.verified_unix_secs = Some(now_unix());
                        result.error.clear();
                    }
                    Err(err) => {
                        warn!(check = CHECK_NAME, job = %config.name, error = %err, "restore verification failed");
                        result.error = format!("job {:?}: {err}", config.name);
                    }
                }
            }
            trigger.fire();
        }));
        Some(index)
    }

    fn lock_verifications(&self) -> std::sync::MutexGuard<'_, Vec<Verification>> {
        self.verifications
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn save_state(&mut self, verifications: &[Verification]) {
        let Some(file) = self.state_file.as_mut() else {
            return;
        };
        let mut state = SavedState::default();
        for (job, verification) in self.jobs.iter().zip(verifications) {
            state.jobs.insert(
                job.config.name.clone(),
                SavedJob {
                    kind: job.config.kind.as_str().to_owned(),
                    last_success_unix_secs: job.last_success,
                    restore_attempted_unix_secs: verification.attempted_unix_secs,
                    restore_verified_unix_secs: verification.verified_unix_secs,
                    restore_verification_error: verification.error.clone(),
                },
            );
        }
        file.save(&state);
    }
}

impl Drop for BackupCheck {
    fn drop(&mut self) {
        // A verification left running would outlive the check's results.
        if let Some(running) = &self.verifying {
            running.abort();
        }
    }
}

impl JobState {
    async fn collect(&mut self, runner: &dyn CommandRunner) -> pb::BackupJobStatus {
        let interval = Duration::from_secs(self.config.interval_secs);
        let mut status = match &self.cached {
            Some((at, status)) if self.config.kind.is_probed() && at.elapsed() < interval => {
                status.clone()
            }
            _ => {
                let status = self.probe(runner).await;
                self.cached = Some((Instant::now(), status.clone()));
                status
            }
        };
        let probed = status.last_success_unix_secs;
        let plausible = saved_state::plausible(probed, now_unix());
        self.last_success = self.last_success.max(plausible);
        if plausible == probed {
            status.last_success_unix_secs = self.last_success;
        }
        status
    }

    async fn probe(&self, runner: &dyn CommandRunner) -> pb::BackupJobStatus {
        let config = &self.config;
        let started = Instant::now();
        let outcome = match config.kind {
            JobKind::Restic => match Credentials::resolve(config) {
                Ok(credentials) => restic::probe(config, &credentials, runner).await,
                Err(err) => Err(err),
            },
            JobKind::Borg => match Credentials::resolve(config) {
                Ok(credentials) => borg::probe(config, &credentials, runner).await,
                Err(err) => Err(err),
            },
            JobKind::StatusFile => status_file::read_status_file(config).await,
            JobKind::TouchFile => status_file::read_touch_file(config).await,
            JobKind::Systemd => systemd::probe(config, runner).await,
            JobKind::TimeMachine => time_machine(config, runner).await,
            JobKind::WindowsServerBackup => windows_server_backup(config, runner).await,
            JobKind::Veeam => veeam(config, runner).await,
        };
        debug!(check = CHECK_NAME, job = %config.name, kind = config.kind.as_str(), elapsed_ms = started.elapsed().as_millis() as u64, ok = outcome.is_ok(), "backup job probed");
        let mut status = match outcome {
            Ok(status) => status,
            Err(probe_error) => {
                warn!(check = CHECK_NAME, job = %config.name, error = %probe_error, "cannot read backup job state");
                pb::BackupJobStatus {
                    result: pb::BackupResult::Unknown as i32,
                    probe_error,
                    ..Default::default()
                }
            }
        };
        status.name = config.name.clone();
        status.kind = config.kind.as_str().to_owned();
        let configured = match (&config.repository, &config.path, &config.unit) {
            (Some(repository), _, _) => parse::destination_without_credentials(repository),
            (None, Some(path), _) => path.display().to_string(),
            (None, None, Some(unit)) => unit.clone(),
            (None, None, None) => String::new(),
        };
        // Sources that find their own destination (a Time Machine disk, a backup target) keep it.
        if !configured.is_empty() || status.destination.is_empty() {
            status.destination = configured;
        }
        status
    }
}

// The OS-specific probes; a kind the OS does not have says which OS it needs.

#[cfg(target_os = "macos")]
use macos::time_machine;
#[cfg(not(target_os = "macos"))]
async fn time_machine(
    _: &BackupJobConfig,
    _: &dyn CommandRunner,
) -> Result<pb::BackupJobStatus, String> {
    Err(not_on_this_os(JobKind::TimeMachine, "macOS"))
}

#[cfg(windows)]
use windows::{veeam, windows_server_backup};
#[cfg(not(windows))]
async fn windows_server_backup(
    _: &BackupJobConfig,
    _: &dyn CommandRunner,
) -> Result<pb::BackupJobStatus, String> {
    Err(not_on_this_os(
        JobKind::WindowsServerBackup,
        "Windows Server",
    ))
}

#[cfg(target_os = "linux")]
use linux::veeam;
#[cfg(not(any(windows, target_os = "linux")))]
async fn veeam(_: &BackupJobConfig, _: &dyn CommandRunner) -> Result<pb::BackupJobStatus, String> {
    Err(not_on_this_os(JobKind::Veeam, "Windows or Linux"))
}

fn not_on_this_os(kind: JobKind, needs: &str) -> String {
    format!(
        "not supported on this OS: {:?} jobs need {needs}",
        kind.as_str()
    )
}

/// How the tool gets the repository password, from local config.
#[derive(Debug, Default)]
pub(crate) struct Credentials {
    /// Environment for the tool (repository, password file/command/value).
    env: Vec<(String, Secret)>,
    /// Values the agent read itself; scrubbed from every message.
    known_secrets: Vec<Secret>,
}

impl Credentials {
    fn resolve(config: &BackupJobConfig) -> Result<Self, String> {
        let restic = config.kind == JobKind::Restic;
        let mut credentials = Self::default();
        let repository = config.repository.clone().unwrap_or_default();
        credentials.push(
            if restic {
                "RESTIC_REPOSITORY"
            } else {
                "BORG_REPO"
            },
            Secret::new(repository),
        );
        if let Some(file) = &config.password_file {
            if restic {
                credentials.push(
                    "RESTIC_PASSWORD_FILE",
                    Secret::new(file.display().to_string()),
                );
                // Read only to scrub it from messages; restic reports an unreadable file itself.
                if let Ok(text) = std::fs::read_to_string(file) {
                    let value = Secret::new(text.trim_end_matches(['\r', '\n']));
                    credentials.known_secrets.push(value);
                }
            } else {
                // borg has no passphrase-file variable; the agent reads the file itself.
                let text = std::fs::read_to_string(file).map_err(|err| {
                    format!("cannot read password_file {}: {err}", file.display())
                })?;
                let value = Secret::new(text.trim_end_matches(['\r', '\n']));
                credentials.known_secrets.push(value.clone());
                credentials.push("BORG_PASSPHRASE", value);
            }
        }
        if let Some(command) = &config.password_command {
            credentials.push(
                if restic {
                    "RESTIC_PASSWORD_COMMAND"
                } else {
                    "BORG_PASSCOMMAND"
                },
                command.clone(),
            );
            credentials.known_secrets.push(command.clone());
        }
        if let Some(name) = &config.password_env {
            let value = std::env::var(name).map_err(|_| {
                format!("environment variable {name} named by password_env is not set")
            })?;
            let value = Secret::new(value);
            credentials.known_secrets.push(value.clone());
            credentials.push(
                if restic {
                    "RESTIC_PASSWORD"
                } else {
                    "BORG_PASSPHRASE"
                },
                value,
            );
        }
        Ok(credentials)
    }

    fn push(&mut self, key: &str, value: Secret) {
        self.env.push((key.to_owned(), value));
    }

    /// `spec` with the credentials in its environment.
    fn apply(&self, mut spec: CommandSpec) -> CommandSpec {
        for (key, value) in &self.env {
            spec = spec.env(key, value.expose());
        }
        spec
    }

    /// `message` with every secret value the agent knows replaced.
    fn scrub(&self, message: String) -> String {
        self.known_secrets
            .iter()
            .filter(|secret| !secret.expose().is_empty())
            .fold(message, |message, secret| {
                message.replace(secret.expose(), forewarn_secret::REDACTED)
            })
    }
}

/// The program to run for `config`: its `program` or the tool's name.
fn program(config: &BackupJobConfig, tool: &str) -> std::ffi::OsString {
    config
        .program
        .as_ref()
        .map_or_else(|| tool.into(), |p| p.clone().into_os_string())
}

/// A probe error for a program that could not run.
fn command_error(err: &CommandError) -> String {
    match err {
        CommandError::NotFound { program } => format!("tool missing: {program} is not installed"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
