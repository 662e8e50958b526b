//! The agent as a launchd daemon (macOS): /Library/LaunchDaemons/com.forewarn.agent.plist.

use std::path::Path;

use super::launchd_parse::{parse_print, plist_for};
use super::{LAUNCHD_LABEL, ServiceError, ServiceState, run_tool, write_if_changed};

const PLIST: &str = "/Library/LaunchDaemons/com.forewarn.agent.plist";
const LOG_DIR: &str = "/Library/Logs/Forewarn";

fn target() -> String {
    format!("system/{LAUNCHD_LABEL}")
}

pub fn install(exe: &Path, start: bool) -> Result<Vec<String>, ServiceError> {
    let mut done = Vec::new();
    std::fs::create_dir_all(LOG_DIR).map_err(|source| ServiceError::Write {
        path: LOG_DIR.into(),
        source,
    })?;
    if write_if_changed(Path::new(PLIST), &plist_for(exe))? {
        done.push(format!("wrote {PLIST}"));
    }
    if start {
        // Unload first, so a changed plist or a new identity is picked up; not loaded is fine.
        let _ = run_tool("launchctl", &["bootout", &target()]);
        run_tool("launchctl", &["enable", &target()])?;
        run_tool("launchctl", &["bootstrap", "system", PLIST])?;
        done.push(format!("loaded and started {LAUNCHD_LABEL}"));
    }
    Ok(done)
}

pub fn uninstall() -> Result<Vec<String>, ServiceError> {
    let mut done = Vec::new();
    if run_tool("launchctl", &["bootout", &target()]).is_ok() {
        done.push(format!("stopped and unloaded {LAUNCHD_LABEL}"));
    }
    if Path::new(PLIST).exists() {
        std::fs::remove_file(PLIST).map_err(|source| ServiceError::Write {
            path: PLIST.into(),
            source,
        })?;
        done.push(format!("removed {PLIST}"));
    }
    Ok(done)
}

pub fn state() -> ServiceState {
    match run_tool("launchctl", &["print", &target()]) {
        Ok(output) => parse_print(&output),
        Err(_) if !Path::new(PLIST).exists() => ServiceState::NotInstalled,
        Err(_) => ServiceState::NotRunning("not loaded".into()),
    }
}
