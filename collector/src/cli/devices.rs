//! `device list/show/retire`: enrolled devices and their latest report.
//! Every command that takes a device takes a hostname or an id start
//! ([`crate::fleet::resolve`]).
//!
//! Like every command, they work on the store directly (the collector may be
//! running; SQLite's WAL lets both proceed) and write plain text.

use std::io::Write;

use clap::Subcommand;
use prost::Message;

use forewarn_proto::pb;

use super::{AdminError, device_view, format_time};
use crate::clock::now_unix;
use crate::fleet::resolve;
use crate::fleet::state::{self, DeviceState, ReportIntervals};
use crate::store::{DeviceRecord, Store};

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// List devices with their state (online, offline, retired, never reported).
    List,
    /// Show one device and the four domains of its latest report.
    Show {
        /// Hostname (any case), device id, or the start of a device id.
        device: String,
    },
    /// Retire a device: its certificate is refused from now on.
    Retire {
        /// Hostname (any case), device id, or the start of a device id.
        device: String,
        /// Who retires it, for the audit log (default: $USER; refused when neither is given).
        #[arg(long, env = "USER")]
        by: Option<String>,
    },
}

pub async fn run(
    command: DeviceCommand,
    store: &dyn Store,
    intervals: &dyn ReportIntervals,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let now = now_unix();
    match command {
        DeviceCommand::List => list_devices(store, intervals, now, out).await,
        DeviceCommand::Show { device } => show_device(store, intervals, &device, now, out).await,
        DeviceCommand::Retire { device, by } => {
            retire_device(store, &device, &super::actor(by)?, out).await
        }
    }
}

/// The one device `query` names (hostname, id or id start), or why none.
pub async fn find_device(store: &dyn Store, query: &str) -> Result<DeviceRecord, AdminError> {
    let devices = store.list_devices().await?;
    let found = resolve::resolve(&devices, query, last_seen_text)?;
    Ok(found.clone())
}

fn last_seen_text(device: &DeviceRecord) -> String {
    device.last_seen_at.map_or("never".into(), format_time)
}

pub async fn list_devices(
    store: &dyn Store,
    intervals: &dyn ReportIntervals,
    now: i64,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    writeln!(
        out,
        "{:<32} {:<24} {:<12} {:<24} {:<22} STATE",
        "ID", "HOSTNAME", "GROUP", "OS", "LAST SEEN"
    )?;
    let devices = store.list_devices().await?;
    let mut silent = Vec::new();
    for device in &devices {
        let state = state::classify(device, intervals.report_interval_secs(&device.group), now);
        if state == DeviceState::NeverReported {
            silent.push(device);
        }
        writeln!(
            out,
            "{:<32} {:<24} {:<12} {:<24} {:<22} {}",
            device.id,
            device.hostname,
            device.group,
            device.os,
            last_seen_text(device),
            state.as_str()
        )?;
    }
    if !silent.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{} device(s) enrolled but never reported:",
            silent.len()
        )?;
        for device in silent {
            writeln!(
                out,
                "  {} ({}): {}",
                device.hostname,
                device.id,
                state::never_reported_advice(device, now)
            )?;
        }
    }
    Ok(())
}

pub async fn show_device(
    store: &dyn Store,
    intervals: &dyn ReportIntervals,
    query: &str,
    now: i64,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let device = find_device(store, query).await?;
    let state = state::classify(&device, intervals.report_interval_secs(&device.group), now);
    writeln!(out, "device     {}", device.id)?;
    writeln!(out, "hostname   {}", device.hostname)?;
    writeln!(out, "group      {}", device.group)?;
    writeln!(out, "os         {}", device.os)?;
    writeln!(out, "agent      {}", device.agent_version)?;
    writeln!(out, "state      {}", state.as_str())?;
    writeln!(out, "enrolled   {}", format_time(device.enrolled_at))?;
    writeln!(
        out,
        "cert       serial {} expires {}",
        device.cert_serial,
        format_time(device.cert_not_after)
    )?;
    writeln!(out, "last seen  {}", last_seen_text(&device))?;
    writeln!(out, "last seq   {}", device.last_seq)?;
    if state == DeviceState::NeverReported {
        writeln!(out, "{}", state::never_reported_advice(&device, now))?;
    }
    let Some(status) = store.latest_status(&device.id).await? else {
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
            let forecasts = store.disk_forecasts(&device.id).await?;
            for line in device_view::render(&report, &forecasts, now) {
                writeln!(out, "{line}")?;
            }
        }
        Err(err) => writeln!(out, "latest report cannot be decoded: {err}")?,
    }
    Ok(())
}

pub async fn retire_device(
    store: &dyn Store,
    query: &str,
    by: &str,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let device = find_device(store, query).await?;
    let audit = super::users::audit_entry(by, "device.retire", &device.id, &device.hostname);
    if !store.retire_device(&device.id, audit).await? {
        return Err(AdminError::NotFound {
            kind: "device",
            id: device.id,
        });
    }
    writeln!(
        out,
        "device {} ({}) retired; its certificate is refused from now on",
        device.hostname, device.id
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
        let err = retire_device(&store, "nope", "olga", &mut out)
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("no device has hostname or id starting with \"nope\""),
            "{err}"
        );
    }
}
