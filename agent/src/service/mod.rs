//! Registering, starting, stopping and querying the agent as the OS's own
//! service: a systemd unit on Linux, a launchd daemon on macOS, a service in
//! the Windows service manager. `install`, `uninstall` and `status` call this;
//! the packages call `install`.
//!
//! The OS tools (systemctl, launchctl) are run as programs; their output is
//! read by pure functions tested on their documented formats.

use std::fmt;
use std::path::Path;
use std::process::Command;

#[cfg(target_os = "macos")]
mod launchd;
#[cfg(any(target_os = "macos", test))]
mod launchd_parse;
#[cfg(all(unix, not(target_os = "macos")))]
mod systemd;
#[cfg(any(all(unix, not(target_os = "macos")), test))]
mod systemd_parse;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub mod windows_dispatch;

#[cfg(target_os = "macos")]
use launchd as platform;
#[cfg(all(unix, not(target_os = "macos")))]
use systemd as platform;
#[cfg(windows)]
use windows as platform;

/// The service's name as each OS knows it.
pub const SYSTEMD_UNIT: &str = "forewarn-agent.service";
pub const LAUNCHD_LABEL: &str = "com.forewarn.agent";
pub const WINDOWS_SERVICE: &str = "ForewarnAgent";

/// Where the OS's service manager has the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceState {
    Running,
    /// Registered but not running; the detail says how the OS puts it ("failed", "stopped").
    NotRunning(String),
    NotInstalled,
    /// The service manager could not be asked (not running, no permission).
    Unknown(String),
}

impl fmt::Display for ServiceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Running => f.write_str("running"),
            Self::NotRunning(detail) => write!(f, "not running ({detail})"),
            Self::NotInstalled => f.write_str("not installed"),
            Self::Unknown(why) => write!(f, "unknown ({why})"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{action} failed: {detail}")]
    Failed { action: String, detail: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Registers the service to start at boot running `exe`, and starts (or
/// restarts, to pick up a new identity) it when `start`. Returns what was
/// done, one line each, for the person running the install.
pub fn install(exe: &Path, start: bool) -> Result<Vec<String>, ServiceError> {
    platform::install(exe, start)
}

/// Stops the service and removes its registration. Returns what was done.
pub fn uninstall() -> Result<Vec<String>, ServiceError> {
    platform::uninstall()
}

pub fn state() -> ServiceState {
    platform::state()
}

/// Runs an OS tool; its trimmed stdout, or an error carrying what it said.
#[cfg_attr(windows, allow(dead_code))]
fn run_tool(program: &str, args: &[&str]) -> Result<String, ServiceError> {
    let action = format!("{program} {}", args.join(" "));
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|err| ServiceError::Failed {
            action: action.clone(),
            detail: err.to_string(),
        })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let said = if stderr.trim().is_empty() {
            stdout.trim()
        } else {
            stderr.trim()
        };
        Err(ServiceError::Failed {
            action,
            detail: format!("{} ({said})", output.status),
        })
    }
}

/// Writes `contents` to `path` unless it already holds exactly that. True when written.
#[cfg_attr(windows, allow(dead_code))]
fn write_if_changed(path: &Path, contents: &str) -> Result<bool, ServiceError> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == contents) {
        return Ok(false);
    }
    let write_error = |source| ServiceError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(write_error)?;
    }
    std::fs::write(path, contents).map_err(write_error)?;
    Ok(true)
}
