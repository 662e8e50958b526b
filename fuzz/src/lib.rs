//! Helpers the fuzz targets share: how one fuzz input becomes a tool's exit
//! code, stdout and stderr, and the invariants every backup status must hold.

use forewarn_proto::pb;

/// The clock the report target validates against: 2026-06-01T00:00:00Z, so the
/// seeds (made by `seed`) are recent and mutations explore both sides of it.
pub const NOW: i64 = 1_780_272_000;

/// One fuzz input as a tool run: the first byte is the exit code (as `i8`, so
/// 0, 1, 100, -1 are all a byte away), the rest is stdout up to the first NUL
/// and stderr after it. Seeds are `\0` + a captured stdout.
#[derive(Debug)]
pub struct ToolRun {
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl ToolRun {
    pub fn from_bytes(data: &[u8]) -> Self {
        let (exit_code, rest) = match data.split_first() {
            Some((first, rest)) => (i32::from(*first as i8), rest),
            None => (0, data),
        };
        let (stdout, stderr) = match rest.iter().position(|b| *b == 0) {
            Some(nul) => (&rest[..nul], &rest[nul + 1..]),
            None => (rest, &[][..]),
        };
        Self {
            exit_code,
            stdout: String::from_utf8_lossy(stdout).into_owned(),
            stderr: String::from_utf8_lossy(stderr).into_owned(),
        }
    }
}

/// What every backup job status a parser returns must satisfy: a result the
/// protocol knows.
pub fn assert_backup_status(status: &pb::BackupJobStatus) {
    assert!(
        pb::BackupResult::try_from(status.result).is_ok(),
        "result {} is not a BackupResult",
        status.result
    );
}

/// For sources that give only the two ends of a run (restic, status file,
/// systemd): a duration exactly when both are known and in order, and then
/// it is finish - start. (borg reports its own duration.)
pub fn assert_duration_is_the_span(status: &pb::BackupJobStatus) {
    let span = match (
        status.last_run_started_unix_secs,
        status.last_run_finished_unix_secs,
    ) {
        (Some(started), Some(finished)) => {
            u64::try_from(i128::from(finished) - i128::from(started)).ok()
        }
        _ => None,
    };
    if status.result != pb::BackupResult::Running as i32 {
        assert_eq!(
            status.duration_secs, span,
            "duration is not finish - start: {status:?}"
        );
    } else {
        assert!(
            status.duration_secs.is_none_or(|d| Some(d) == span),
            "{status:?}"
        );
    }
}
