//! macOS Software Update: `softwareupdate --list` and its preferences file.
//!
//! The preferences (`/Library/Preferences/com.apple.SoftwareUpdate.plist`,
//! read every cycle, cheap) give the last successful check with Apple; the
//! pending list comes from `softwareupdate --list`, which contacts Apple and
//! takes tens of seconds, so it runs only on the long scan interval. Nothing
//! here is macOS-only code: it runs a program and reads a file under `root`,
//! so it is compiled and tested everywhere and chosen automatically on macOS.

use std::path::PathBuf;
use std::time::Duration;

use super::{HostSignals, Scan, parse};
use crate::checks::CheckError;
use crate::command::{CommandError, CommandRunner, CommandSpec};

const PREFERENCES: &str = "Library/Preferences/com.apple.SoftwareUpdate.plist";

/// How Software Update is probed on this Mac.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftwareUpdateProbe {
    pub root: PathBuf,
    pub timeout: Duration,
}

impl SoftwareUpdateProbe {
    pub async fn scan(&self, runner: &dyn CommandRunner) -> Result<Scan, CheckError> {
        let spec = CommandSpec::new("/usr/sbin/softwareupdate", ["--list"])
            .timeout(self.timeout)
            .low_priority();
        let output = runner.run(&spec).await.map_err(|err| match err {
            CommandError::NotFound { program } => CheckError::ToolMissing(program),
            CommandError::Timeout { timeout, .. } => CheckError::Timeout(timeout.as_secs()),
            other => CheckError::Failed(other.to_string()),
        })?;
        let pending = parse::softwareupdate_list(
            output.exit_code.unwrap_or(-1),
            &output.stdout_text(),
            &output.stderr_text(),
        )
        .map_err(|err| CheckError::Failed(err.to_string()))?;
        Ok(Scan {
            pending,
            ..Scan::default()
        })
    }

    pub(super) async fn signals(&self) -> HostSignals {
        let path = self.root.join(PREFERENCES);
        let read = tokio::task::spawn_blocking(move || std::fs::read(path)).await;
        let last_refresh = match read {
            Ok(Ok(bytes)) => match parse::softwareupdate_preferences(&bytes) {
                Ok(prefs) => prefs.last_successful_check,
                Err(err) => {
                    tracing::warn!(check = super::CHECK_NAME, error = %err, "cannot read the SoftwareUpdate preferences");
                    None
                }
            },
            _ => None,
        };
        HostSignals {
            last_refresh,
            last_install: None,
            reboot_reasons: Vec::new(),
        }
    }

    /// The preferences change after every check Software Update makes.
    pub fn watched_paths(&self) -> Vec<PathBuf> {
        vec![self.root.join(PREFERENCES)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::scripted::ScriptedCommandRunner;

    #[tokio::test]
    async fn preferences_under_root_give_the_last_check() {
        let root = tempfile::tempdir().unwrap();
        let fixture = std::fs::read_to_string(format!(
            "{}/tests/fixtures/patches/macos/com.apple.SoftwareUpdate-no-updates.plist.txt",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let plist = fixture.split_once('\n').unwrap().1;
        let path = root.path().join(PREFERENCES);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, plist).unwrap();
        let probe = SoftwareUpdateProbe {
            root: root.path().to_path_buf(),
            timeout: Duration::from_secs(60),
        };
        assert_eq!(probe.signals().await.last_refresh, Some(1_683_236_412));
    }

    #[tokio::test]
    async fn failed_softwareupdate_is_a_scan_error() {
        let runner = ScriptedCommandRunner::default();
        runner.answer(
            &["/usr/sbin/softwareupdate", "--list"],
            1,
            "",
            "Can't connect to the Apple Software Update server.\n",
        );
        let probe = SoftwareUpdateProbe {
            root: PathBuf::from("/"),
            timeout: Duration::from_secs(60),
        };
        let err = probe.scan(&runner).await.unwrap_err();
        assert!(
            err.to_string().contains("Apple Software Update server"),
            "{err}"
        );
    }
}
