//! The agent as a systemd unit (Linux).
//!
//! A deb or rpm installs the unit under /usr/lib/systemd/system; a binary
//! installed by hand gets the same unit written to /etc/systemd/system with its
//! own path. Without systemd running (a container, a chroot, an image being
//! built), the unit is only enabled, so it starts at the next boot.

use std::path::Path;

use super::systemd_parse::{parse_show, unit_for};
use super::{SYSTEMD_UNIT, ServiceError, ServiceState, run_tool, write_if_changed};

const PACKAGED_UNITS: [&str; 2] = [
    "/usr/lib/systemd/system/forewarn-agent.service",
    "/lib/systemd/system/forewarn-agent.service",
];
const LOCAL_UNIT: &str = "/etc/systemd/system/forewarn-agent.service";

fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

pub fn install(exe: &Path, start: bool) -> Result<Vec<String>, ServiceError> {
    let mut done = Vec::new();
    if PACKAGED_UNITS.iter().any(|unit| Path::new(unit).exists()) {
        // The package's unit; a copy in /etc would shadow its upgrades.
    } else if write_if_changed(Path::new(LOCAL_UNIT), &unit_for(exe))? {
        done.push(format!("wrote {LOCAL_UNIT}"));
    }
    if !systemd_running() {
        run_tool("systemctl", &["enable", SYSTEMD_UNIT])?;
        done.push(format!(
            "enabled {SYSTEMD_UNIT}; systemd is not running here, so it starts at the next boot"
        ));
        return Ok(done);
    }
    run_tool("systemctl", &["daemon-reload"])?;
    run_tool("systemctl", &["enable", SYSTEMD_UNIT])?;
    done.push(format!("enabled {SYSTEMD_UNIT}"));
    if start {
        run_tool("systemctl", &["restart", SYSTEMD_UNIT])?;
        done.push(format!("started {SYSTEMD_UNIT}"));
    }
    Ok(done)
}

pub fn uninstall() -> Result<Vec<String>, ServiceError> {
    let mut done = Vec::new();
    let installed = PACKAGED_UNITS
        .iter()
        .chain(std::iter::once(&LOCAL_UNIT))
        .any(|unit| Path::new(unit).exists());
    if installed {
        if systemd_running() {
            run_tool("systemctl", &["disable", "--now", SYSTEMD_UNIT])?;
            done.push(format!("stopped and disabled {SYSTEMD_UNIT}"));
        } else {
            run_tool("systemctl", &["disable", SYSTEMD_UNIT])?;
            done.push(format!("disabled {SYSTEMD_UNIT}"));
        }
    }
    if Path::new(LOCAL_UNIT).exists() {
        std::fs::remove_file(LOCAL_UNIT).map_err(|source| ServiceError::Write {
            path: LOCAL_UNIT.into(),
            source,
        })?;
        done.push(format!("removed {LOCAL_UNIT}"));
        if systemd_running() {
            run_tool("systemctl", &["daemon-reload"])?;
        }
    }
    Ok(done)
}

pub fn state() -> ServiceState {
    if !systemd_running() {
        let installed = PACKAGED_UNITS
            .iter()
            .chain(std::iter::once(&LOCAL_UNIT))
            .any(|unit| Path::new(unit).exists());
        return if installed {
            ServiceState::Unknown("systemd is not running".into())
        } else {
            ServiceState::NotInstalled
        };
    }
    match run_tool(
        "systemctl",
        &[
            "show",
            "--property=LoadState,ActiveState,SubState",
            SYSTEMD_UNIT,
        ],
    ) {
        Ok(output) => parse_show(&output),
        Err(err) => ServiceState::Unknown(err.to_string()),
    }
}
