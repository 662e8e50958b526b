//! SQLite side of re-enrollment: finding devices by firmware identity,
//! giving an existing device a new certificate, and the certificate mark
//! that refuses the replaced ones.

use rusqlite::{Connection, OptionalExtension, params};

use super::{DEVICE_COLUMNS, device_by_id, device_from_row, spend_token};
use crate::fleet::hardware::{HardwareIdentity, KnownMachine};
use crate::store::{CurrentCertificate, DeviceRecord, NewDevice, StoreError, TokenRefusal};

pub(super) fn token_group(c: &Connection, token_hash: &str) -> rusqlite::Result<Option<String>> {
    c.query_row(
        "SELECT group_name FROM enrollment_tokens WHERE token_hash = ?1",
        [token_hash],
        |row| row.get(0),
    )
    .optional()
}

pub(super) fn known_machines(
    c: &Connection,
    hardware: &HardwareIdentity,
) -> rusqlite::Result<Vec<KnownMachine>> {
    if hardware.is_unknown() {
        return Ok(Vec::new());
    }
    let mut statement = c.prepare(&format!(
        "SELECT {DEVICE_COLUMNS}, serial_number, hardware_uuid FROM devices
         WHERE (?1 <> '' AND serial_number = ?1) OR (?2 <> '' AND hardware_uuid = ?2)
         ORDER BY id"
    ))?;
    let rows = statement.query_map(
        params![hardware.serial_number, hardware.hardware_uuid],
        |row| {
            Ok(KnownMachine {
                device: device_from_row(row)?,
                hardware: HardwareIdentity {
                    serial_number: row.get(11)?,
                    hardware_uuid: row.get(12)?,
                },
            })
        },
    )?;
    rows.collect()
}

pub(super) fn reenroll(
    c: &mut Connection,
    token_hash: &str,
    device: &NewDevice,
    cert_not_before: i64,
    now: i64,
) -> Result<Result<DeviceRecord, TokenRefusal>, StoreError> {
    let tx = c.transaction()?;
    let (token_id, _group) = match spend_token(&tx, token_hash, now)? {
        Ok(token) => token,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let changed = tx.execute(
        "UPDATE devices SET hostname = ?2, os = ?3, agent_version = ?4, token_id = ?5,
           cert_serial = ?6, cert_not_after = ?7, serial_number = ?8, hardware_uuid = ?9,
           reenrolled_cert_not_before = ?10
         WHERE id = ?1 AND retired_at IS NULL",
        params![
            device.id,
            device.hostname,
            device.os,
            device.agent_version,
            token_id,
            device.cert_serial,
            device.cert_not_after,
            device.hardware.serial_number,
            device.hardware.hardware_uuid,
            cert_not_before
        ],
    )?;
    if changed == 0 {
        return Err(StoreError::Task(format!(
            "device {} was retired or removed while its machine enrolled again; enroll again to get a new device",
            device.id
        )));
    }
    let record = device_by_id(&tx, &device.id)?
        .ok_or_else(|| StoreError::Task("re-enrolled device vanished".into()))?;
    tx.commit()?;
    Ok(Ok(record))
}

pub(super) fn current_certificate(
    c: &Connection,
    device_id: &str,
) -> rusqlite::Result<Option<CurrentCertificate>> {
    c.query_row(
        "SELECT cert_serial, reenrolled_cert_not_before FROM devices WHERE id = ?1",
        [device_id],
        |row| {
            Ok(CurrentCertificate {
                serial: row.get(0)?,
                reenrolled_not_before: row.get(1)?,
            })
        },
    )
    .optional()
}
