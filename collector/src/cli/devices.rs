//! `device list/show/retire`: enrolled devices and their latest report.
//!
//! Like every command, they work on the store directly (the collector may be
//! running; SQLite's WAL lets both proceed) and write plain text.

use std::io::Write;

use clap::Subcommand;
use prost::Message;

use forewarn_proto::pb;

use super::{AdminError, format_time};
use crate::clock::now_unix;
use crate::store::{DeviceRecord, Store};

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// List devices.
    List,
    /// Show one device and its latest status.
    Show { id: String },
    /// Retire a device: its certificate is refused from now on.
    Retire { id: String },
}

pub async fn run(
    command: DeviceCommand,
    store: &dyn Store,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    match command {
        DeviceCommand::List => list_devices(store, out).await,
        DeviceCommand::Show { id } => show_device(store, &id, out).await,
        DeviceCommand::Retire { id } => retire_device(store, &id, out).await,
    }
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
    for forecast in store.disk_forecasts(id).await? {
        writeln!(
            out,
            "forecast   {}: {}",
            forecast.mount_point, forecast.description
        )?;
    }
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
    async fn unknown_device_id_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db")).unwrap();
        let mut out = Vec::new();
        let err = retire_device(&store, "nope", &mut out).await.unwrap_err();
        assert_eq!(err.to_string(), "no device with id \"nope\"");
    }
}
