//! Reading `systemctl show --property=LoadState,ActiveState,SubState`, and
//! the unit file the agent writes when no package installed one.

use std::path::Path;

use super::ServiceState;

/// The packaged unit, with `/usr/bin/forewarn-agent` as its program.
const PACKAGED_UNIT: &str = include_str!("../../../packaging/systemd/forewarn-agent.service");
const PACKAGED_EXE: &str = "/usr/bin/forewarn-agent";

/// The packaged unit, running `exe` instead of the packaged path.
pub fn unit_for(exe: &Path) -> String {
    PACKAGED_UNIT.replace(
        &format!("ExecStart={PACKAGED_EXE} "),
        &format!("ExecStart={} ", exe.display()),
    )
}

/// The state from `KEY=value` lines (systemctl show's format, see systemctl(1)).
pub fn parse_show(output: &str) -> ServiceState {
    let value = |key: &str| {
        output
            .lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or("")
            .trim()
    };
    match (value("LoadState"), value("ActiveState"), value("SubState")) {
        ("not-found", _, _) => ServiceState::NotInstalled,
        (_, "active", _) => ServiceState::Running,
        ("", _, _) => ServiceState::Unknown(format!("unexpected systemctl output: {output:?}")),
        (_, active, sub) => ServiceState::NotRunning(format!("{active}, {sub}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_output_maps_to_states() {
        assert_eq!(
            parse_show("LoadState=loaded\nActiveState=active\nSubState=running\n"),
            ServiceState::Running
        );
        assert_eq!(
            parse_show("LoadState=loaded\nActiveState=failed\nSubState=failed\n"),
            ServiceState::NotRunning("failed, failed".into())
        );
        assert_eq!(
            parse_show("LoadState=not-found\nActiveState=inactive\nSubState=dead\n"),
            ServiceState::NotInstalled
        );
        assert!(matches!(parse_show(""), ServiceState::Unknown(_)));
    }

    #[test]
    fn unit_runs_the_given_program_and_stays_hardened() {
        let unit = unit_for(Path::new("/opt/forewarn/bin/forewarn-agent"));
        assert!(
            unit.contains("ExecStart=/opt/forewarn/bin/forewarn-agent run\n"),
            "{unit}"
        );
        assert!(unit.contains("ProtectSystem=strict"));
        assert!(!unit.contains(PACKAGED_EXE));
    }
}
