//! macOS mount table (I/O only): the BSD device of each mount point, which
//! `sysinfo` does not give, so APFS volumes can be grouped by container.

use std::time::Duration;

use super::parse::{DarwinMount, parse_darwin_mount_table};
use crate::checks::CheckError;
use crate::command::{CommandRunner, CommandSpec, SystemCommandRunner};

/// Runs `/sbin/mount` and parses its table; unparsable lines are logged.
pub async fn mount_table() -> Result<Vec<DarwinMount>, CheckError> {
    let spec =
        CommandSpec::new("/sbin/mount", Vec::<String>::new()).timeout(Duration::from_secs(10));
    let output = SystemCommandRunner
        .run(&spec)
        .await
        .map_err(|err| CheckError::Failed(err.to_string()))?;
    if !output.success() {
        return Err(CheckError::Failed(format!(
            "mount exited with {:?}",
            output.exit_code
        )));
    }
    let (table, bad) = parse_darwin_mount_table(&output.stdout_text());
    for line in bad {
        tracing::debug!(check = super::CHECK_NAME, %line, "skipped mount line");
    }
    Ok(table)
}
