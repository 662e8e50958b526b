//! Admin commands: enrollment tokens and devices.
//!
//! Each command works on the store directly (the collector may be running;
//! SQLite's WAL lets both proceed) and writes plain text for a terminal.

use std::io::Write;
use std::time::Duration;

use prost::Message;

use forewarn_proto::pb;

use crate::store::{DeviceRecord, NewToken, Store, StoreError};
use crate::tokens;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    #[error("no {kind} with id {id:?}")]
    NotFound { kind: &'static str, id: String },
    #[error("invalid group name {0:?}: use letters, digits, '-', '_' or '.' (at most 64)")]
    InvalidGroup(String),
    #[error("--uses must be at least 1")]
    ZeroUses,
    #[error("invalid silence: {0}")]
    InvalidSilence(String),
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Formats Unix seconds as RFC 3339 UTC.
pub fn format_time(unix_secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix_secs.to_string())
}

fn valid_group(group: &str) -> bool {
    !group.is_empty()
        && group.len() <= 64
        && group
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Creates a token and writes its secret, which is shown only this once.
pub async fn create_token(
    store: &dyn Store,
    group: &str,
    expires_in: Duration,
    max_uses: Option<u32>,
    out: &mut impl Write,
) -> Result<String, AdminError> {
    if !valid_group(group) {
        return Err(AdminError::InvalidGroup(group.to_owned()));
    }
    if max_uses == Some(0) {
        return Err(AdminError::ZeroUses);
    }
    let generated = tokens::generate();
    let now = now_unix();
    let expires_at = now.saturating_add(i64::try_from(expires_in.as_secs()).unwrap_or(i64::MAX));
    store
        .create_token(NewToken {
            id: generated.id.clone(),
            token_hash: tokens::hash(&generated.secret),
            group: group.to_owned(),
            created_at: now,
            expires_at,
            max_uses,
        })
        .await?;
    writeln!(out, "{}", generated.secret)?;
    writeln!(
        out,
        "# token id {} for group {group}, expires {}, uses: {}. The secret above is not shown again.",
        generated.id,
        format_time(expires_at),
        max_uses.map_or("unlimited".to_owned(), |n| n.to_string())
    )?;
    Ok(generated.secret)
}

pub async fn list_tokens(store: &dyn Store, out: &mut impl Write) -> Result<(), AdminError> {
    let now = now_unix();
    writeln!(
        out,
        "{:<14} {:<16} {:<22} {:<9} STATE",
        "ID", "GROUP", "EXPIRES", "USES"
    )?;
    for token in store.list_tokens().await? {
        let state = if token.revoked_at.is_some() {
            "revoked"
        } else if token.expires_at <= now {
            "expired"
        } else if token.max_uses.is_some_and(|max| token.uses >= max) {
            "used up"
        } else {
            "active"
        };
        let uses = match token.max_uses {
            Some(max) => format!("{}/{max}", token.uses),
            None => token.uses.to_string(),
        };
        writeln!(
            out,
            "{:<14} {:<16} {:<22} {:<9} {state}",
            token.id,
            token.group,
            format_time(token.expires_at),
            uses
        )?;
    }
    Ok(())
}

pub async fn revoke_token(
    store: &dyn Store,
    id: &str,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    if !store.revoke_token(id, now_unix()).await? {
        return Err(AdminError::NotFound {
            kind: "token",
            id: id.to_owned(),
        });
    }
    writeln!(out, "token {id} revoked")?;
    Ok(())
}

pub async fn list_devices(store: &dyn Store, out: &mut impl Write) -> Result<(), AdminError> {
    writeln!(
        out,
        "{:<32} {:<24} {:<12} {:<24} {:<22} STATE",
        "ID", "HOSTNAME", "GROUP", "OS", "LAST SEEN"
    )?;
    for device in store.list_devices().await? {
        writeln!(
            out,
            "{:<32} {:<24} {:<12} {:<24} {:<22} {}",
            device.id,
            device.hostname,
            device.group,
            device.os,
            device.last_seen_at.map_or("never".into(), format_time),
            device_state(&device)
        )?;
    }
    Ok(())
}

fn device_state(device: &DeviceRecord) -> &'static str {
    if device.retired_at.is_some() {
        "retired"
    } else {
        "active"
    }
}

pub async fn show_device(
    store: &dyn Store,
    id: &str,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let device = store
        .device(id)
        .await?
        .ok_or_else(|| AdminError::NotFound {
            kind: "device",
            id: id.to_owned(),
        })?;
    writeln!(out, "device     {}", device.id)?;
    writeln!(out, "hostname   {}", device.hostname)?;
    writeln!(out, "group      {}", device.group)?;
    writeln!(out, "os         {}", device.os)?;
    writeln!(out, "agent      {}", device.agent_version)?;
    writeln!(out, "state      {}", device_state(&device))?;
    writeln!(out, "enrolled   {}", format_time(device.enrolled_at))?;
    writeln!(
        out,
        "cert       serial {} expires {}",
        device.cert_serial,
        format_time(device.cert_not_after)
    )?;
    writeln!(
        out,
        "last seen  {}",
        device.last_seen_at.map_or("never".into(), format_time)
    )?;
    writeln!(out, "last seq   {}", device.last_seq)?;
    let Some(status) = store.latest_status(id).await? else {
        writeln!(out, "no report stored yet")?;
        return Ok(());
    };
    match pb::StatusReport::decode(status.encoded.as_slice()) {
        Ok(report) => {
            writeln!(
                out,
                "latest report seq {} collected {}",
                report.seq,
                format_time(report.collected_at_unix_secs)
            )?;
            for fs in report.disks.iter().flat_map(|d| &d.filesystems) {
                writeln!(
                    out,
                    "  disk {:<24} {:<8} {:>8.1} GiB free of {:>8.1} GiB",
                    fs.mount_point,
                    fs.filesystem,
                    fs.available_bytes as f64 / (1u64 << 30) as f64,
                    fs.total_bytes as f64 / (1u64 << 30) as f64
                )?;
            }
            for error in &report.errors {
                writeln!(
                    out,
                    "  error {} {} {}",
                    error.check, error.item, error.message
                )?;
            }
        }
        Err(err) => writeln!(out, "latest report cannot be decoded: {err}")?,
    }
    Ok(())
}

pub async fn retire_device(
    store: &dyn Store,
    id: &str,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    if !store.retire_device(id, now_unix()).await? {
        return Err(AdminError::NotFound {
            kind: "device",
            id: id.to_owned(),
        });
    }
    writeln!(
        out,
        "device {id} retired; its certificate is refused from now on"
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    #[tokio::test]
    async fn token_secret_is_printed_once_and_never_listed() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db")).unwrap();
        let mut created = Vec::new();
        let secret = create_token(
            &store,
            "laptops",
            Duration::from_secs(3600),
            Some(1),
            &mut created,
        )
        .await
        .unwrap();
        assert!(String::from_utf8(created).unwrap().starts_with(&secret));
        let mut listed = Vec::new();
        list_tokens(&store, &mut listed).await.unwrap();
        let listed = String::from_utf8(listed).unwrap();
        assert!(!listed.contains(&secret));
        assert!(listed.contains("laptops") && listed.contains("0/1") && listed.contains("active"));
    }

    #[tokio::test]
    async fn bad_group_and_unknown_ids_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db")).unwrap();
        let mut out = Vec::new();
        let err = create_token(&store, "a b", Duration::from_secs(1), None, &mut out)
            .await
            .unwrap_err();
        assert!(matches!(err, AdminError::InvalidGroup(_)));
        let err = retire_device(&store, "nope", &mut out).await.unwrap_err();
        assert_eq!(err.to_string(), "no device with id \"nope\"");
    }
}
