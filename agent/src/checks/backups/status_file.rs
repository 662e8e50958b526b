//! Status-file and touch-file jobs: what a backup script leaves on disk.
//!
//! A status file holds the JSON contract of docs/backup-status-file.md and is
//! replaced atomically by the script (write to a temporary name, then rename).
//! A touch file is only touched after a success: its modification time is the
//! last success. A missing file means the job never ran: not a probe error.

use forewarn_proto::pb;
use time::OffsetDateTime;

use super::config::BackupJobConfig;
use super::parse;

/// Status files are small; anything larger is not one.
const MAX_STATUS_FILE_BYTES: u64 = 64 * 1024;

pub(super) async fn read_status_file(
    config: &BackupJobConfig,
) -> Result<pb::BackupJobStatus, String> {
    let path = config.path.as_deref().ok_or("no path configured")?;
    let metadata = match tokio::fs::metadata(path).await {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok(never_ran("no status file written yet"));
        }
        Err(err) => return Err(format!("cannot read status file {}: {err}", path.display())),
    };
    if metadata.len() > MAX_STATUS_FILE_BYTES {
        return Err(format!(
            "status file {} is {} bytes, more than the {MAX_STATUS_FILE_BYTES} a status file may have",
            path.display(),
            metadata.len()
        ));
    }
    let text = tokio::fs::read(path)
        .await
        .map_err(|err| format!("cannot read status file {}: {err}", path.display()))?;
    let (job, status) = parse::status_file_state(&text)
        .map_err(|err| format!("invalid status file {}: {err}", path.display()))?;
    if job != config.name {
        return Err(format!(
            "status file {} is for job {job:?}, not {:?}",
            path.display(),
            config.name
        ));
    }
    Ok(status)
}

pub(super) async fn read_touch_file(
    config: &BackupJobConfig,
) -> Result<pb::BackupJobStatus, String> {
    let path = config.path.as_deref().ok_or("no path configured")?;
    let modified = match tokio::fs::metadata(path).await {
        Ok(metadata) => metadata.modified().map_err(|err| {
            format!(
                "cannot read the modification time of {}: {err}",
                path.display()
            )
        })?,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok(never_ran("touch file does not exist yet"));
        }
        Err(err) => return Err(format!("cannot read touch file {}: {err}", path.display())),
    };
    let at = OffsetDateTime::from(modified).unix_timestamp();
    Ok(pb::BackupJobStatus {
        last_run_finished_unix_secs: Some(at),
        result: pb::BackupResult::Success as i32,
        last_success_unix_secs: Some(at),
        ..Default::default()
    })
}

fn never_ran(message: &str) -> pb::BackupJobStatus {
    pb::BackupJobStatus {
        result: pb::BackupResult::Unknown as i32,
        message: message.to_owned(),
        ..Default::default()
    }
}
