//! Reading `launchctl print system/<label>`, and the daemon plist the agent
//! writes.

use std::path::Path;

use super::ServiceState;

/// The packaged LaunchDaemon plist, with `/usr/local/bin/forewarn-agent` as its program.
pub const PACKAGED_PLIST: &str = include_str!("../../../packaging/macos/com.forewarn.agent.plist");
const PACKAGED_EXE: &str = "<string>/usr/local/bin/forewarn-agent</string>";

/// The packaged plist, running `exe` instead of the packaged path.
pub fn plist_for(exe: &Path) -> String {
    let escaped = exe
        .display()
        .to_string()
        .replace('&', "&amp;")
        .replace('<', "&lt;");
    PACKAGED_PLIST.replace(PACKAGED_EXE, &format!("<string>{escaped}</string>"))
}

/// The state from `launchctl print system/<label>`: the service's own
/// `state = ...` line, with its `last exit code` when not running.
///
/// Only the service's top-level keys count: nested blocks (resource and
/// jetsam coalitions, endpoints) carry `state = active` lines of their own,
/// which say nothing about whether the program runs. Format as captured in
/// `tests/fixtures/service/macos/`.
pub fn parse_print(output: &str) -> ServiceState {
    let mut depth = 0i64;
    let mut state = None;
    let mut last_exit = None;
    for line in output.lines() {
        let line = line.trim();
        if depth == 1 {
            if let Some(value) = line.strip_prefix("state = ") {
                state = Some(value.trim());
            } else if let Some(value) = line.strip_prefix("last exit code = ") {
                last_exit = Some(value.trim());
            }
        }
        // Blocks open at a line's end and close on their own line or after a
        // last item (`0 = ]` in LWCR lists); `domain = gui/501 [100020]` is balanced.
        let count = |brackets: [char; 2]| line.chars().filter(|c| brackets.contains(c)).count();
        depth += count(['{', '[']) as i64 - count(['}', ']']) as i64;
    }
    match (state, last_exit) {
        (Some("running"), _) => ServiceState::Running,
        (Some(other), Some(code)) => {
            ServiceState::NotRunning(format!("{other}, last exit code {code}"))
        }
        (Some(other), None) => ServiceState::NotRunning(other.to_owned()),
        (None, _) => ServiceState::Unknown(format!(
            "no service state in launchctl's output: {:?}",
            output.lines().next().unwrap_or_default()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured(name: &str) -> String {
        crate::fixtures::captured_output(&format!("service/macos/{name}"))
    }

    #[test]
    fn captured_print_output_maps_to_states() {
        assert_eq!(
            parse_print(&captured("launchctl-print-running.txt")),
            ServiceState::Running
        );
        assert_eq!(
            parse_print(&captured("launchctl-print-exited.txt")),
            ServiceState::NotRunning("not running, last exit code 1".into())
        );
        // Its top-level keys after the nested LWCR block (whose list closes
        // mid-line) are still found.
        let stopped = captured("launchctl-print-running.txt")
            .replace("\tstate = running", "\tstate = not running");
        assert_eq!(
            parse_print(&stopped),
            ServiceState::NotRunning("not running, last exit code (never exited)".into())
        );
    }

    #[test]
    fn nested_states_are_not_the_service_state() {
        // The exited capture without its own state line: only the coalitions'
        // `state = active` lines are left, and they must not be read as the service's.
        let exited = captured("launchctl-print-exited.txt");
        let without_state: String = exited
            .lines()
            .filter(|line| *line != "\tstate = not running")
            .map(|line| format!("{line}\n"))
            .collect();
        assert_ne!(without_state, exited);
        assert!(without_state.contains("\t\tstate = active"));
        assert!(
            matches!(parse_print(&without_state), ServiceState::Unknown(ref why) if why.contains("com.sglavoie.sync-legacy")),
            "{:?}",
            parse_print(&without_state)
        );
        assert!(matches!(parse_print("garbage"), ServiceState::Unknown(_)));
    }

    #[test]
    fn plist_parses_and_runs_the_given_program_in_the_background() {
        let text = plist_for(Path::new("/opt/forewarn & co/forewarn-agent"));
        let dict: plist::Dictionary = plist::from_bytes(text.as_bytes()).unwrap();
        let args: Vec<&str> = dict["ProgramArguments"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|value| value.as_string())
            .collect();
        assert_eq!(args, ["/opt/forewarn & co/forewarn-agent", "run"]);
        assert_eq!(dict["Label"].as_string(), Some(super::super::LAUNCHD_LABEL));
        assert_eq!(dict["KeepAlive"].as_boolean(), Some(true));
        assert_eq!(dict["ProcessType"].as_string(), Some("Background"));
        assert_eq!(dict["LowPriorityIO"].as_boolean(), Some(true));
    }
}
