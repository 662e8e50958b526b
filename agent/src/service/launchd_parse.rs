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

/// The state from `launchctl print`'s `state = ...` line (the format launchctl(1) prints
/// for a loaded service; written from its documentation, not captured on a Mac).
pub fn parse_print(output: &str) -> ServiceState {
    let state = output
        .lines()
        .find_map(|line| line.trim().strip_prefix("state = "))
        .map(str::trim);
    match state {
        Some("running") => ServiceState::Running,
        Some(other) => ServiceState::NotRunning(other.to_owned()),
        None => ServiceState::Unknown(format!("no state in launchctl's output: {output:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_output_maps_to_states() {
        let running = "system/com.forewarn.agent = {\n\tactive count = 1\n\tpath = /Library/LaunchDaemons/com.forewarn.agent.plist\n\ttype = LaunchDaemon\n\tstate = running\n\n\tprogram = /usr/local/bin/forewarn-agent\n}\n";
        assert_eq!(parse_print(running), ServiceState::Running);
        let waiting = running.replace("state = running", "state = not running");
        assert_eq!(
            parse_print(&waiting),
            ServiceState::NotRunning("not running".into())
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
