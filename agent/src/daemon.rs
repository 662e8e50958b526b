//! The long-running agent as every OS starts it: `forewarn-agent run` under
//! systemd or launchd, and the Windows service (which calls the same code).
//!
//! Owns what the run loop itself should not know about: taking the
//! one-instance lock, keeping the state directory owner-only, and reloading
//! the config on request (SIGHUP on Linux and macOS, the service's
//! "paramchange" control on Windows). A reload that fails validation is
//! refused with the reason and the running config is kept; the agent never
//! exits because of it.

use std::future::Future;
use std::path::PathBuf;

use tokio::sync::{mpsc, watch};
use tracing::{error, info};

use crate::config::{AgentConfig, ConfigError};
use crate::lock::{InstanceLock, LockError};
use crate::state::{StateDir, StateError};

/// Where the config comes from, so it can be read again on reload.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    /// The config file.
    pub path: PathBuf,
    /// False only for the default path, where a missing file means defaults.
    pub required: bool,
    /// `--state-dir`, which wins over the file.
    pub state_dir: Option<PathBuf>,
}

impl ConfigSource {
    pub fn load(&self) -> Result<AgentConfig, ConfigError> {
        let mut config = AgentConfig::load(&self.path, self.required)?;
        if let Some(state_dir) = &self.state_dir {
            config.state_dir.clone_from(state_dir);
        }
        Ok(config)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "state_dir changed from {old} to {new}; a running agent cannot move its identity and spool, restart it instead"
    )]
    StateDirChanged { old: PathBuf, new: PathBuf },
}

/// Reads the config again; refuses one that is invalid or that moves the state directory.
pub fn reload_config(
    source: &ConfigSource,
    current: &AgentConfig,
) -> Result<AgentConfig, ReloadError> {
    let new = source.load()?;
    if new.state_dir != current.state_dir {
        return Err(ReloadError::StateDirChanged {
            old: current.state_dir.clone(),
            new: new.state_dir,
        });
    }
    Ok(new)
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Run(#[from] crate::runner::RunError),
}

/// Runs the agent until `shutdown` completes. Each message on `reload_requests`
/// re-reads the config from `source`.
pub async fn run_daemon(
    source: ConfigSource,
    mut reload_requests: mpsc::UnboundedReceiver<()>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    let config = source.load()?;
    let state = StateDir::new(&config.state_dir);
    // Refuse before touching anything, so "not enrolled" is the message a fresh machine sees.
    state.load()?;
    state.create()?;
    let _lock = InstanceLock::acquire(state.root())?;
    let (configs, receiver) = watch::channel(config);
    let reloads = async {
        while reload_requests.recv().await.is_some() {
            let current = configs.borrow().clone();
            match reload_config(&source, &current) {
                Ok(new) => {
                    info!(config = %source.path.display(), "config reloaded");
                    configs.send_replace(new);
                }
                Err(err) => {
                    error!(error = %err, "config not reloaded; the agent keeps running with its previous config");
                }
            }
        }
        // No more requests can come: wait for the run loop to end.
        std::future::pending::<()>().await;
    };
    tokio::select! {
        result = crate::runner::run_reloadable(receiver, shutdown) => Ok(result?),
        () = reloads => Ok(()),
    }
}

/// Forwards SIGHUP to `reload_requests` (the launchd and systemd way to ask a daemon to reload).
#[cfg(unix)]
pub fn forward_sighup(reload_requests: mpsc::UnboundedSender<()>) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            info!("SIGHUP received: reloading config");
            if reload_requests.send(()).is_err() {
                break;
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn source(dir: &Path, text: &str) -> ConfigSource {
        let path = dir.join("agent.toml");
        std::fs::write(&path, text).unwrap();
        ConfigSource {
            path,
            required: true,
            state_dir: None,
        }
    }

    #[test]
    fn a_valid_change_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let base = format!("state_dir = {state:?}\n");
        let current = source(dir.path(), &base).load().unwrap();
        let changed = source(dir.path(), &format!("{base}[spool]\nmax_reports = 7\n"));
        let new = reload_config(&changed, &current).unwrap();
        assert_eq!(new.spool.max_reports, 7);
    }

    #[test]
    fn an_invalid_config_is_refused_with_the_key_named() {
        let dir = tempfile::tempdir().unwrap();
        let current = AgentConfig::default();
        let bad = source(dir.path(), "[spool]\nmax_reprots = 7\n");
        let err = reload_config(&bad, &current).unwrap_err().to_string();
        assert!(
            err.contains("max_reprots") && err.contains("agent.toml"),
            "{err}"
        );
    }

    #[test]
    fn moving_the_state_directory_needs_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let current = AgentConfig::default();
        let moved = source(dir.path(), "state_dir = \"/elsewhere\"\n");
        let err = reload_config(&moved, &current).unwrap_err().to_string();
        assert!(
            err.contains("/elsewhere") && err.contains("restart"),
            "{err}"
        );
    }

    #[test]
    fn state_dir_flag_wins_over_the_file_on_reload_too() {
        let dir = tempfile::tempdir().unwrap();
        let mut with_flag = source(dir.path(), "state_dir = \"/from-file\"\n");
        with_flag.state_dir = Some(PathBuf::from("/from-flag"));
        let current = AgentConfig {
            state_dir: PathBuf::from("/from-flag"),
            ..AgentConfig::default()
        };
        assert!(reload_config(&with_flag, &current).is_ok());
    }
}
