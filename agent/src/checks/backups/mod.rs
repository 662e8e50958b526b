//! Backup check: the state of every configured backup job.
//!
//! A job is a restic or borg repository (probed with the tool itself), a JSON
//! status file a backup script writes, or a file the script touches after each
//! success. Each job reports its latest run, its last success (absent when the
//! agent never saw one) and, apart from that, a probe error when the agent
//! could not learn the job's state (repository unreachable, wrong password,
//! lock held, tool missing): a probe error is not a job failure.
//!
//! What each OS provides: restic, borg, status and touch files work wherever
//! the tool runs (found in PATH or at the job's `program`); systemd jobs need
//! Linux with systemd 251+ (`--timestamp=unix`). Time Machine, Windows Server
//! Backup and Veeam jobs are not built yet. Status and touch files are
//! watched, so a script's result reaches the collector within seconds.
//!
//! Restore verification (opt-in, per job) restores a canary file from the
//! latest snapshot or archive on its own long interval and compares its SHA-256.
//!
//! Secrets: passwords are named in local config and handed to the tool in its
//! environment; any value the agent read itself is scrubbed from messages.

mod borg;
pub mod config;
mod parse;
mod restic;
mod status_file;
mod systemd;
#[cfg(test)]
mod test_repos;
mod verify;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use forewarn_proto::pb;
use time::OffsetDateTime;
use tracing::{debug, warn};

use crate::command::{CommandError, CommandRunner, CommandSpec, SystemCommandRunner};
use crate::trigger::ReportTrigger;
use crate::watch::{PathWatcher, watch_paths};
pub use config::{BackupJobConfig, BackupsConfig, JobKind, Secret};

pub const CHECK_NAME: &str = "backups";

/// The backup check with what it remembers between reports.
#[derive(Debug)]
pub struct BackupCheck {
    jobs: Vec<JobState>,
    runner: Arc<dyn CommandRunner>,
    /// Keeps status and touch files watched; dropped with the check.
    _watcher: Option<PathWatcher>,
}

#[derive(Debug)]
struct JobState {
    config: BackupJobConfig,
    /// The latest repository probe, repeated until `interval_secs` passed.
    cached: Option<(Instant, pb::BackupJobStatus)>,
    /// Newest success the agent has seen, so a probe error or a failure keeps it.
    last_success: Option<i64>,
    verification: VerificationState,
}

#[derive(Debug, Default)]
struct VerificationState {
    last_attempt: Option<Instant>,
    verified_unix_secs: Option<i64>,
    error: String,
}

impl BackupCheck {
    /// A check with the real command runner; status and touch files fire `trigger` when written.
    pub fn new(config: &BackupsConfig, trigger: &ReportTrigger) -> Self {
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
        let mut check = Self::with_runner(config, Arc::new(SystemCommandRunner));
        check._watcher = watcher;
        check
    }

    /// A check whose programs run through `runner`, without file watching.
    pub fn with_runner(config: &BackupsConfig, runner: Arc<dyn CommandRunner>) -> Self {
        Self {
            jobs: config
                .jobs
                .iter()
                .map(|job| JobState {
                    config: job.clone(),
                    cached: None,
                    last_success: None,
                    verification: VerificationState::default(),
                })
                .collect(),
            runner,
            _watcher: None,
        }
    }

    /// Probes the jobs that are due and reports all of them.
    pub async fn collect(&mut self) -> pb::BackupCheck {
        let mut jobs = Vec::with_capacity(self.jobs.len());
        for job in &mut self.jobs {
            jobs.push(job.collect(self.runner.as_ref()).await);
        }
        pb::BackupCheck { jobs }
    }
}

impl JobState {
    async fn collect(&mut self, runner: &dyn CommandRunner) -> pb::BackupJobStatus {
        let interval = Duration::from_secs(self.config.interval_secs);
        let repository = matches!(
            self.config.kind,
            JobKind::Restic | JobKind::Borg | JobKind::Systemd
        );
        let mut status = match &self.cached {
            Some((at, status)) if repository && at.elapsed() < interval => status.clone(),
            _ => {
                let status = self.probe(runner).await;
                self.cached = Some((Instant::now(), status.clone()));
                status
            }
        };
        self.last_success = self.last_success.max(status.last_success_unix_secs);
        status.last_success_unix_secs = self.last_success;
        if let Some(verify_config) = &self.config.restore_verification {
            let due = self
                .verification
                .last_attempt
                .is_none_or(|at| at.elapsed() >= Duration::from_secs(verify_config.interval_secs));
            if due && status.probe_error.is_empty() {
                self.verification.last_attempt = Some(Instant::now());
                let credentials = Credentials::resolve(&self.config);
                let outcome = match credentials {
                    Ok(credentials) => {
                        verify::verify(&self.config, verify_config, &credentials, runner).await
                    }
                    Err(err) => Err(err),
                };
                match outcome {
                    Ok(()) => {
                        self.verification.verified_unix_secs = Some(now_unix());
                        self.verification.error.clear();
                    }
                    Err(err) => {
                        warn!(check = CHECK_NAME, job = %self.config.name, error = %err, "restore verification failed");
                        self.verification.error = format!("job {:?}: {err}", self.config.name);
                    }
                }
            }
            status.restore_verified_unix_secs = self.verification.verified_unix_secs;
            status.restore_verification_error = self.verification.error.clone();
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
        status.destination = match (&config.repository, &config.path, &config.unit) {
            (Some(repository), _, _) => parse::destination_without_credentials(repository),
            (None, Some(path), _) => path.display().to_string(),
            (None, None, Some(unit)) => unit.clone(),
            (None, None, None) => String::new(),
        };
        status
    }
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
                message.replace(secret.expose(), "[redacted]")
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

fn now_unix() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Mutex;

    use prost::Message;

    use super::test_repos::{BorgRepo, PASSWORD, ResticRepo, TestRepo, canary_sha256, collect_one};
    use super::*;

    #[derive(Clone, Default)]
    struct CapturedLog(Arc<Mutex<Vec<u8>>>);

    impl Write for CapturedLog {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A stand-in tool that prints every password it was given to stderr and fails.
    fn leaky_tool(dir: &Path) -> String {
        let script = dir.join("leaky-tool");
        std::fs::write(
            &script,
            "#!/bin/sh\necho \"Fatal: got $RESTIC_PASSWORD $BORG_PASSPHRASE $(cat \"$RESTIC_PASSWORD_FILE\" 2>/dev/null)\" >&2\nexit 1\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        script.display().to_string()
    }

    fn verification(canary: &str) -> String {
        format!(
            "[checks.backups.jobs.restore_verification]\ncanary_path = {canary:?}\nexpected_sha256 = {:?}\n",
            canary_sha256()
        )
    }

    fn locked_borg(borg: &BorgRepo) -> std::process::Child {
        let holder = borg
            .borg()
            .args(["with-lock", "::", "sleep", "5"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !borg.0.repo.join("lock.exclusive").exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        holder
    }

    #[tokio::test]
    async fn password_is_in_no_report_log_line_or_error() {
        let log = CapturedLog::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer({
                let log = log.clone();
                move || log.clone()
            })
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let mut statuses = Vec::new();

        // restic: success with verification, password command, leaky tool, stale lock, missing, corrupted.
        let restic = ResticRepo::new();
        restic.backup(&[]);
        statuses.push(collect_one(restic.job(&verification(&restic.0.canary_path()))).await);
        let mut by_command = restic.job("");
        by_command.password_file = None;
        by_command.password_command = Some(Secret::new(format!(
            "cat {}",
            restic.0.password_file.display()
        )));
        statuses.push(collect_one(by_command).await);
        let leaky = leaky_tool(restic.0.dir.path());
        statuses.push(collect_one(restic.job(&format!("program = {leaky:?}"))).await);
        restic.leave_stale_lock();
        statuses.push(collect_one(restic.job("")).await);
        let corrupted = ResticRepo::new();
        corrupted.backup(&[]);
        corrupted.0.corrupt("data");
        statuses.push(collect_one(corrupted.job(&verification(&corrupted.0.canary_path()))).await);
        std::fs::remove_dir_all(&corrupted.0.repo).unwrap();
        statuses.push(collect_one(corrupted.job("")).await);

        // Wrong password: a repository made with another one, given the known password.
        let foreign = ResticRepo(TestRepo::new());
        std::fs::write(&foreign.0.password_file, "another password\n").unwrap();
        assert!(
            foreign
                .restic()
                .args(["init", "--quiet"])
                .status()
                .unwrap()
                .success()
        );
        std::fs::write(&foreign.0.password_file, format!("{PASSWORD}\n")).unwrap();
        let wrong = collect_one(foreign.job("")).await;
        assert!(
            wrong.probe_error.starts_with("authentication failed"),
            "{wrong:?}"
        );
        statuses.push(wrong);

        // borg: success with verification, leaky tool, locked, corrupted, missing.
        let borg = BorgRepo::new();
        borg.create("first", &[]);
        statuses.push(collect_one(borg.job(&verification(&borg.0.canary_path()))).await);
        let leaky = leaky_tool(borg.0.dir.path());
        statuses.push(collect_one(borg.job(&format!("program = {leaky:?}"))).await);
        let mut holder = locked_borg(&borg);
        statuses.push(collect_one(borg.job("")).await);
        holder.wait().unwrap();
        let corrupted = BorgRepo::new();
        corrupted.create("first", &[]);
        corrupted.0.corrupt("data");
        statuses.push(collect_one(corrupted.job(&verification(&corrupted.0.canary_path()))).await);
        std::fs::remove_dir_all(&corrupted.0.repo).unwrap();
        statuses.push(collect_one(corrupted.job("")).await);

        let errors: Vec<&str> = statuses
            .iter()
            .flat_map(|s| {
                [
                    s.probe_error.as_str(),
                    s.restore_verification_error.as_str(),
                ]
            })
            .filter(|e| !e.is_empty())
            .collect();
        // The cases really took the error paths the search below must cover.
        assert!(
            errors
                .iter()
                .filter(|e| e.starts_with("repository is locked"))
                .count()
                >= 2,
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .filter(|e| e.starts_with("repository not found"))
                .count()
                >= 2,
            "{errors:?}"
        );
        assert!(
            errors.iter().filter(|e| e.contains("[redacted]")).count() >= 2,
            "leaky tool output not scrubbed: {errors:?}"
        );
        assert!(
            errors.iter().filter(|e| e.starts_with("job ")).count() >= 2,
            "{errors:?}"
        );
        for error in &errors {
            assert!(!error.contains(PASSWORD), "password in an error: {error}");
        }
        let report = pb::StatusReport {
            backups: Some(pb::BackupCheck { jobs: statuses }),
            ..Default::default()
        };
        let bytes = report.encode_to_vec();
        assert!(
            !bytes
                .windows(PASSWORD.len())
                .any(|w| w == PASSWORD.as_bytes()),
            "password in the encoded report"
        );
        let json = serde_json::to_string(&report).unwrap();
        assert!(!json.contains(PASSWORD), "password in the report as JSON");
        let log_text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        assert!(
            log_text.contains("cannot read backup job state"),
            "no log captured: {log_text}"
        );
        assert!(!log_text.contains(PASSWORD), "password in a log line");
    }
}
