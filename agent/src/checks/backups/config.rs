//! Local settings of the backup check: which jobs to watch and how to reach them.
//!
//! Everything here comes from the device's own config file, never from the
//! collector: a repository password is named (a file, a command, an
//! environment variable), and a value read from it lives only in [`Secret`].

use std::path::PathBuf;

use serde::Deserialize;

pub use super::exit_codes::Tool;
pub use forewarn_secret::Secret;

/// Local settings of the backup check.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupsConfig {
    /// The jobs to report, one `[[checks.backups.jobs]]` table each.
    #[serde(default)]
    pub jobs: Vec<BackupJobConfig>,
}

/// Where a job's state comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobKind {
    /// A restic repository: the latest snapshot.
    Restic,
    /// A borg repository: the latest archive.
    Borg,
    /// A JSON status file written by the backup script (docs/backup-status-file.md).
    StatusFile,
    /// A file the backup script touches after each success; its modification time is the last success.
    TouchFile,
    /// A systemd service (and optionally its timer) that runs the backup (Linux).
    Systemd,
    /// macOS Time Machine, read with `tmutil`; the agent needs Full Disk Access.
    TimeMachine,
    /// Windows Server Backup, from the Microsoft-Windows-Backup event log.
    WindowsServerBackup,
    /// Veeam Agent: event 190 of the "Veeam Agent" event log on Windows,
    /// `veeamconfig session list` on Linux.
    Veeam,
}

impl JobKind {
    /// The kind as reports name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Restic => "restic",
            Self::Borg => "borg",
            Self::StatusFile => "status-file",
            Self::TouchFile => "touch-file",
            Self::Systemd => "systemd",
            Self::TimeMachine => "time-machine",
            Self::WindowsServerBackup => "windows-server-backup",
            Self::Veeam => "veeam",
        }
    }

    /// Whether the state comes from a program (repository, unit, OS tool) and
    /// is cached for `interval_secs`, rather than read from a file each report.
    pub fn is_probed(self) -> bool {
        !matches!(self, Self::StatusFile | Self::TouchFile)
    }
}

/// One backup job.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupJobConfig {
    /// Job name shown in reports and alerts; unique on this device.
    pub name: String,
    /// Where the state comes from: "restic", "borg", "status-file", "touch-file", "systemd",
    /// "time-machine", "windows-server-backup" or "veeam".
    pub kind: JobKind,
    /// restic/borg: the repository (a path or URL). Passed in the environment, not on the command line.
    #[serde(default)]
    pub repository: Option<String>,
    /// restic/borg: file holding the repository password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// restic/borg: command that prints the repository password (RESTIC_PASSWORD_COMMAND / BORG_PASSCOMMAND).
    #[serde(default)]
    pub password_command: Option<Secret>,
    /// restic/borg: name of an environment variable of the agent that holds the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// restic: only snapshots of this host count.
    #[serde(default)]
    pub host: Option<String>,
    /// restic: only snapshots carrying all of these tags count.
    #[serde(default)]
    pub tags: Vec<String>,
    /// borg: only archives whose name starts with this prefix count.
    #[serde(default)]
    pub archive_prefix: Option<String>,
    /// restic/borg/veeam (Linux): the program to run; the tool's name
    /// (`restic`, `borg`, `veeamconfig`) is looked up in PATH by default.
    #[serde(default)]
    pub program: Option<PathBuf>,
    /// status-file/touch-file: the file to watch.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// systemd: the service that runs the backup (e.g. "restic-backup.service").
    #[serde(default)]
    pub unit: Option<String>,
    /// systemd: the timer that starts it (e.g. "restic-backup.timer"), for its last trigger.
    #[serde(default)]
    pub timer: Option<String>,
    /// systemd: the backup program the unit runs ("restic", "borg" or "rsync"), so its
    /// exit status is read as that program means it: restic's 3 and borg's 1 (files that
    /// could not be read) are warnings, not failures.
    #[serde(default)]
    pub tool: Option<Tool>,
    /// veeam: the Veeam job to report, as Veeam names it ("Job name" in
    /// `veeamconfig session list`, the name in event 190 on Windows); by default
    /// the newest session of any job.
    #[serde(default)]
    pub veeam_job: Option<String>,
    /// Seconds after which a probe of this job is killed.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Seconds between two probes of a repository, unit or OS tool; reports in
    /// between repeat the last result. Status and touch files are read at every report.
    #[serde(default = "default_interval_secs")]
    pub interval_secs: u64,
    /// Opt-in test restore of a canary file (restic and borg only).
    #[serde(default)]
    pub restore_verification: Option<RestoreVerificationConfig>,
}

/// A periodic test restore of one small file whose content never changes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreVerificationConfig {
    /// Path of the canary file as stored in the backup (e.g. "/srv/data/.forewarn-canary").
    pub canary_path: String,
    /// SHA-256 of the canary file's content, in hex.
    pub expected_sha256: String,
    /// Seconds between two verifications.
    #[serde(default = "default_verify_interval_secs")]
    pub interval_secs: u64,
    /// Seconds after which a verification is killed.
    #[serde(default = "default_verify_timeout_secs")]
    pub timeout_secs: u64,
    /// restic: also run `restic check --read-data-subset` with this value (e.g. "1%" or "1/20").
    #[serde(default)]
    pub read_data_subset: Option<String>,
}

fn default_timeout_secs() -> u64 {
    120
}
fn default_interval_secs() -> u64 {
    900
}
fn default_verify_interval_secs() -> u64 {
    7 * 24 * 3600
}
fn default_verify_timeout_secs() -> u64 {
    1800
}

impl BackupsConfig {
    /// The longest restore verification timeout of any job (zero if none verifies).
    pub fn restore_verification_timeout(&self) -> std::time::Duration {
        let secs = self
            .jobs
            .iter()
            .filter_map(|job| job.restore_verification.as_ref())
            .map(|verify| verify.timeout_secs)
            .max()
            .unwrap_or_default();
        std::time::Duration::from_secs(secs)
    }

    /// Problems with these settings, each prefixed with its key under `key`.
    pub fn problems(&self, key: &str) -> Vec<String> {
        let mut problems = Vec::new();
        for (index, job) in self.jobs.iter().enumerate() {
            let key = format!("{key}.jobs[{index}]");
            problems.extend(job.problems(&key));
            if self.jobs[..index]
                .iter()
                .any(|other| other.name == job.name)
            {
                problems.push(format!("{key}.name: duplicate job name {:?}", job.name));
            }
        }
        problems
    }
}

impl BackupJobConfig {
    fn problems(&self, key: &str) -> Vec<String> {
        use JobKind::{Borg, Restic, StatusFile, Systemd, TouchFile, Veeam};
        let mut problems = Vec::new();
        if self.name.trim().is_empty() {
            problems.push(format!("{key}.name: must not be empty"));
        }
        if self.timeout_secs == 0 {
            problems.push(format!("{key}.timeout_secs: must be at least 1"));
        }
        // Each optional setting and the kinds it belongs to.
        let settings: [(bool, &str, &[JobKind]); 14] = [
            (self.repository.is_some(), "repository", &[Restic, Borg]),
            (
                self.password_file.is_some(),
                "password_file",
                &[Restic, Borg],
            ),
            (
                self.password_command.is_some(),
                "password_command",
                &[Restic, Borg],
            ),
            (self.password_env.is_some(), "password_env", &[Restic, Borg]),
            (self.host.is_some(), "host", &[Restic]),
            (!self.tags.is_empty(), "tags", &[Restic]),
            (self.archive_prefix.is_some(), "archive_prefix", &[Borg]),
            (self.program.is_some(), "program", &[Restic, Borg, Veeam]),
            (self.path.is_some(), "path", &[StatusFile, TouchFile]),
            (self.unit.is_some(), "unit", &[Systemd]),
            (self.timer.is_some(), "timer", &[Systemd]),
            (self.tool.is_some(), "tool", &[Systemd]),
            (self.veeam_job.is_some(), "veeam_job", &[Veeam]),
            (
                self.restore_verification.is_some(),
                "restore_verification",
                &[Restic, Borg],
            ),
        ];
        for (set, field, kinds) in settings {
            if set && !kinds.contains(&self.kind) {
                let names: Vec<String> =
                    kinds.iter().map(|k| format!("{:?}", k.as_str())).collect();
                problems.push(format!(
                    "{key}.{field}: only for kind {}",
                    names.join(" or ")
                ));
            }
        }
        let blank = |value: &Option<String>| value.as_deref().is_none_or(|v| v.trim().is_empty());
        match self.kind {
            Restic | Borg => {
                if blank(&self.repository) {
                    problems.push(format!(
                        "{key}.repository: required for kind {:?}",
                        self.kind.as_str()
                    ));
                }
                let sources = usize::from(self.password_file.is_some())
                    + usize::from(self.password_command.is_some())
                    + usize::from(self.password_env.is_some());
                if sources > 1 {
                    problems.push(format!(
                        "{key}.password_file: give at most one of password_file, password_command, password_env"
                    ));
                }
            }
            StatusFile | TouchFile if self.path.is_none() => problems.push(format!(
                "{key}.path: required for kind {:?}",
                self.kind.as_str()
            )),
            Systemd => {
                // A leading '-' would reach systemctl as an option.
                if blank(&self.unit) || self.unit.as_deref().is_some_and(|u| u.starts_with('-')) {
                    problems.push(format!(
                        "{key}.unit: a unit name is required for kind \"systemd\""
                    ));
                }
                if self
                    .timer
                    .as_deref()
                    .is_some_and(|t| t.trim().is_empty() || t.starts_with('-'))
                {
                    problems.push(format!("{key}.timer: not a unit name"));
                }
            }
            Veeam
                if self
                    .veeam_job
                    .as_deref()
                    .is_some_and(|j| j.trim().is_empty()) =>
            {
                problems.push(format!("{key}.veeam_job: must not be empty"));
            }
            _ => {}
        }
        if let Some(verify) = &self.restore_verification {
            let vkey = format!("{key}.restore_verification");
            if verify.canary_path.trim().is_empty() {
                problems.push(format!("{vkey}.canary_path: must not be empty"));
            }
            let hex_ok = verify.expected_sha256.len() == 64
                && verify
                    .expected_sha256
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit());
            if !hex_ok {
                problems.push(format!("{vkey}.expected_sha256: must be 64 hex digits"));
            }
            if verify.interval_secs < 60 {
                problems.push(format!("{vkey}.interval_secs: must be at least 60"));
            }
            if verify.timeout_secs == 0 {
                problems.push(format!("{vkey}.timeout_secs: must be at least 1"));
            }
            if verify.read_data_subset.is_some() && self.kind != Restic {
                problems.push(format!("{vkey}.read_data_subset: only for kind \"restic\""));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{AgentConfig, ConfigError};

    fn problems(toml: &str) -> Vec<String> {
        match AgentConfig::from_toml(toml, Path::new("agent.toml")) {
            Err(ConfigError::Invalid { problems, .. }) => problems,
            other => panic!("expected invalid config, got {other:?}"),
        }
    }

    #[test]
    fn restic_job_without_repository_names_the_key() {
        let problems = problems("[[checks.backups.jobs]]\nname = \"n\"\nkind = \"restic\"\n");
        assert_eq!(
            problems,
            ["checks.backups.jobs[0].repository: required for kind \"restic\""]
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let problems = problems(
            r#"
[[checks.backups.jobs]]
name = "a"
kind = "status-file"
repository = "/r"
timeout_secs = 0
[[checks.backups.jobs]]
name = "a"
kind = "borg"
repository = "/r"
password_file = "/p"
password_env = "P"
[checks.backups.jobs.restore_verification]
canary_path = "x"
expected_sha256 = "abc"
"#,
        );
        assert!(
            problems.contains(
                &"checks.backups.jobs[0].path: required for kind \"status-file\"".to_owned()
            ),
            "{problems:?}"
        );
        assert!(
            problems
                .contains(&"checks.backups.jobs[0].timeout_secs: must be at least 1".to_owned()),
            "{problems:?}"
        );
        assert!(
            problems.contains(
                &"checks.backups.jobs[0].repository: only for kind \"restic\" or \"borg\""
                    .to_owned()
            ),
            "{problems:?}"
        );
        assert!(
            problems.contains(&"checks.backups.jobs[1].name: duplicate job name \"a\"".to_owned()),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("checks.backups.jobs[1].password_file: give at most one")),
            "{problems:?}"
        );
        assert!(problems.contains(&"checks.backups.jobs[1].restore_verification.expected_sha256: must be 64 hex digits".to_owned()), "{problems:?}");
        assert_eq!(problems.len(), 6, "{problems:?}");
    }

    #[test]
    fn systemd_job_needs_a_unit_and_no_repository() {
        let problems = problems(
            "[[checks.backups.jobs]]\nname = \"n\"\nkind = \"systemd\"\nrepository = \"/r\"\n",
        );
        assert_eq!(
            problems,
            [
                "checks.backups.jobs[0].repository: only for kind \"restic\" or \"borg\"",
                "checks.backups.jobs[0].unit: a unit name is required for kind \"systemd\""
            ]
        );
    }

    #[test]
    fn unknown_job_kind_is_refused() {
        let err = AgentConfig::from_toml(
            "[[checks.backups.jobs]]\nname = \"n\"\nkind = \"tape\"\n",
            Path::new("agent.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("tape"), "{err}");
    }

    #[test]
    fn password_command_never_prints() {
        let config = AgentConfig::from_toml(
            "[[checks.backups.jobs]]\nname = \"n\"\nkind = \"restic\"\nrepository = \"/r\"\npassword_command = \"echo hunter2\"\n",
            Path::new("agent.toml"),
        )
        .unwrap();
        let job = &config.checks.backups.jobs[0];
        assert!(!format!("{job:?}").contains("hunter2"));
        assert_eq!(
            job.password_command.as_ref().unwrap().to_string(),
            "[redacted]"
        );
    }

    #[test]
    fn os_backup_kinds_refuse_repository_and_file_settings() {
        let problems = problems(
            "[[checks.backups.jobs]]\nname = \"tm\"\nkind = \"time-machine\"\nrepository = \"/r\"\npath = \"/p\"\n[[checks.backups.jobs]]\nname = \"wsb\"\nkind = \"windows-server-backup\"\nunit = \"x.service\"\nveeam_job = \"j\"\n",
        );
        assert_eq!(
            problems,
            [
                "checks.backups.jobs[0].repository: only for kind \"restic\" or \"borg\"",
                "checks.backups.jobs[0].path: only for kind \"status-file\" or \"touch-file\"",
                "checks.backups.jobs[1].unit: only for kind \"systemd\"",
                "checks.backups.jobs[1].veeam_job: only for kind \"veeam\"",
            ]
        );
    }

    #[test]
    fn veeam_job_name_must_not_be_blank() {
        let problems = problems(
            "[[checks.backups.jobs]]\nname = \"v\"\nkind = \"veeam\"\nveeam_job = \" \"\nrestore_verification = { canary_path = \"/c\", expected_sha256 = \"00\" }\n",
        );
        assert_eq!(
            problems,
            [
                "checks.backups.jobs[0].restore_verification: only for kind \"restic\" or \"borg\"",
                "checks.backups.jobs[0].veeam_job: must not be empty",
                "checks.backups.jobs[0].restore_verification.expected_sha256: must be 64 hex digits",
            ]
        );
    }

    #[test]
    fn veeam_job_with_its_program_is_valid() {
        let config = AgentConfig::from_toml(
            "[[checks.backups.jobs]]\nname = \"v\"\nkind = \"veeam\"\nveeam_job = \"srv01 daily\"\nprogram = \"/opt/veeam/bin/veeamconfig\"\n",
            Path::new("agent.toml"),
        )
        .unwrap();
        let job = &config.checks.backups.jobs[0];
        assert_eq!(job.kind.as_str(), "veeam");
        assert_eq!(job.veeam_job.as_deref(), Some("srv01 daily"));
    }
}
