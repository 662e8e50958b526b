//! Local agent configuration (TOML), written at install time.
//!
//! Only what the device itself must decide lives here: where state is kept
//! and what local probes may look at. Central policy (intervals, disabled
//! checks) arrives from the collector, but it can never widen what this file
//! allows. A missing file at the default path means "all defaults".

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::checks::backups::BackupsConfig;
use crate::checks::certificates::CertificatesConfig;
use crate::checks::disk::DiskConfig;
use crate::checks::patches::PatchConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid config file {path}:\n  - {}", problems.join("\n  - "))]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Directory for the device identity, the report spool and the sequence number.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// Bounds of the on-disk spool that keeps reports while the collector is unreachable.
    #[serde(default)]
    pub spool: SpoolConfig,
    /// Local settings of each check.
    #[serde(default)]
    pub checks: ChecksConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolConfig {
    /// Most reports kept; the oldest are dropped first.
    #[serde(default = "default_spool_max_reports")]
    pub max_reports: usize,
    /// Most bytes kept on disk; the oldest reports are dropped first.
    #[serde(default = "default_spool_max_bytes")]
    pub max_bytes: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksConfig {
    /// Filesystem space and inodes.
    #[serde(default)]
    pub disks: DiskConfig,
    /// Backup jobs to report, `[[checks.backups.jobs]]`.
    #[serde(default)]
    pub backups: BackupsConfig,
    /// OS patch status: pending updates, last refresh and install, reboot.
    #[serde(default)]
    pub patches: PatchConfig,
    /// Certificate files, folders, OS stores and TLS endpoints.
    #[serde(default)]
    pub certificates: CertificatesConfig,
}

/// Where state lives on this OS when no config says otherwise.
pub fn default_state_dir() -> PathBuf {
    if cfg!(windows) {
        PathBuf::from(r"C:\ProgramData\Forewarn\agent")
    } else if cfg!(target_os = "macos") {
        PathBuf::from("/Library/Application Support/Forewarn/agent")
    } else {
        PathBuf::from("/var/lib/forewarn-agent")
    }
}

/// Where the config file lives on this OS.
pub fn default_config_path() -> PathBuf {
    if cfg!(windows) {
        PathBuf::from(r"C:\ProgramData\Forewarn\agent.toml")
    } else if cfg!(target_os = "macos") {
        PathBuf::from("/Library/Application Support/Forewarn/agent.toml")
    } else {
        PathBuf::from("/etc/forewarn/agent.toml")
    }
}

fn default_spool_max_reports() -> usize {
    2000
}
fn default_spool_max_bytes() -> u64 {
    64 * 1024 * 1024
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            max_reports: default_spool_max_reports(),
            max_bytes: default_spool_max_bytes(),
        }
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            state_dir: default_state_dir(),
            spool: SpoolConfig::default(),
            checks: ChecksConfig::default(),
        }
    }
}

impl AgentConfig {
    /// Loads `path`; a missing file is only acceptable when `required` is false.
    pub fn load(path: &Path, required: bool) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(Self::default());
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Self::from_toml(&text, path)
    }

    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|err| ConfigError::Parse {
            path: path.to_path_buf(),
            message: err.to_string(),
        })?;
        let mut problems = Vec::new();
        if config.spool.max_reports == 0 {
            problems.push("spool.max_reports: must be at least 1".to_owned());
        }
        if config.spool.max_bytes < 64 * 1024 {
            problems.push("spool.max_bytes: must be at least 65536".to_owned());
        }
        problems.extend(config.checks.disks.problems("checks.disks"));
        problems.extend(config.checks.backups.problems("checks.backups"));
        problems.extend(config.checks.patches.problems("checks.patches"));
        problems.extend(config.checks.certificates.problems("checks.certificates"));
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_optional_file_gives_defaults() {
        let config = AgentConfig::load(Path::new("/nonexistent/agent.toml"), false).unwrap();
        assert_eq!(config.spool.max_reports, 2000);
        assert!(AgentConfig::load(Path::new("/nonexistent/agent.toml"), true).is_err());
    }

    #[test]
    fn unknown_key_names_key_and_file() {
        let err = AgentConfig::from_toml(
            "[checks.disks]\nincldue_types = []\n",
            Path::new("agent.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("incldue_types") && err.contains("agent.toml"),
            "{err}"
        );
    }

    #[test]
    fn all_problems_are_reported_together() {
        let err = AgentConfig::from_toml(
            "[spool]\nmax_reports = 0\nmax_bytes = 1\n",
            Path::new("a.toml"),
        )
        .unwrap_err();
        let ConfigError::Invalid { problems, .. } = err else {
            panic!("{err}")
        };
        assert_eq!(problems.len(), 2);
    }
}
