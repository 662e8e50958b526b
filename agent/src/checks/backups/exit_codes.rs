//! What a backup tool's exit code says about its run, from each tool's own
//! documentation. Pure, every OS.
//!
//! A repository does not record how the run that wrote a snapshot ended:
//! restic saves a snapshot and exits 3 when some source files could not be
//! read, borg saves an archive and exits 1 on warnings, and afterwards the
//! snapshot or archive looks like any other. Only what ran the tool knows
//! the exit code: a systemd unit (`ExecMainStatus`) or a wrapper script that
//! writes it into a status file. Both name the tool, and this module reads
//! the code the way that tool means it.

use forewarn_proto::pb::BackupResult;
use serde::Deserialize;

/// A backup program whose exit codes the agent knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tool {
    /// restic: 0 success, 3 snapshot saved but some source files unreadable,
    /// anything else failed (1 no snapshot, 10 no repository, 11 locked, 12 wrong password).
    Restic,
    /// borg: 0 success, 1 warning (archive saved; e.g. files that could not
    /// be read or changed while read), 2 error, 128+N killed by signal N.
    Borg,
    /// rsync: 0 success, 24 some source files vanished during the transfer,
    /// anything else failed (23 is a partial transfer due to errors).
    Rsync,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Self::Restic => "restic",
            Self::Borg => "borg",
            Self::Rsync => "rsync",
        }
    }

    /// The result and a sentence for a person, for this tool's exit `code`.
    pub fn judge(self, code: i64) -> (BackupResult, String) {
        let tool = self.name();
        match (self, code) {
            (_, 0) => (BackupResult::Success, format!("{tool} succeeded")),
            (Self::Restic, 3) => (
                BackupResult::Warning,
                "restic saved a snapshot, but some source files could not be read (exit code 3)"
                    .to_owned(),
            ),
            (Self::Borg, 1) => (
                BackupResult::Warning,
                "borg saved an archive with warnings, e.g. files that could not be read (exit code 1)"
                    .to_owned(),
            ),
            (Self::Rsync, 24) => (
                BackupResult::Warning,
                "rsync finished, but some source files vanished during the transfer (exit code 24)"
                    .to_owned(),
            ),
            (Self::Borg, code) if code > 128 => (
                BackupResult::Failed,
                format!("borg was killed by signal {} (exit code {code})", code - 128),
            ),
            (_, code) => (
                BackupResult::Failed,
                format!("{tool} failed with exit code {code}"),
            ),
        }
    }
}

/// Whether a result means a snapshot or archive was written (a success,
/// complete or with warnings), so its end is the job's last success.
pub fn saved_something(result: BackupResult) -> bool {
    matches!(result, BackupResult::Success | BackupResult::Warning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tool_reads_its_own_warning_code() {
        let result = |tool: Tool, code| tool.judge(code).0;
        assert_eq!(result(Tool::Restic, 0), BackupResult::Success);
        assert_eq!(result(Tool::Restic, 3), BackupResult::Warning);
        assert_eq!(result(Tool::Restic, 1), BackupResult::Failed);
        assert_eq!(result(Tool::Borg, 1), BackupResult::Warning);
        assert_eq!(result(Tool::Borg, 3), BackupResult::Failed);
        assert_eq!(result(Tool::Rsync, 24), BackupResult::Warning);
        assert_eq!(result(Tool::Rsync, 3), BackupResult::Failed);
        assert_eq!(
            Tool::Borg.judge(137).1,
            "borg was killed by signal 9 (exit code 137)"
        );
    }
}
