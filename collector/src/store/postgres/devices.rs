//! PostgreSQL side of re-enrollment: finding devices by firmware identity,
//! giving an existing device a new certificate, and the certificate mark
//! that refuses the replaced ones.

use tokio_postgres::GenericClient;

use super::{DEVICE_COLUMNS, device_by_id, device_from_row, spend_token};
use crate::fleet::hardware::{HardwareIdentity, KnownMachine};
use crate::store::{CurrentCertificate, DeviceRecord, NewDevice, StoreError, TokenRefusal};

pub(super) async fn token_group(
    c: &impl GenericClient,
    token_hash: &str,
) -> Result<Option<String>, tokio_postgres::Error> {
    let row = c
        .query_opt(
            "SELECT group_name FROM enrollment_tokens WHERE token_hash = $1",
            &[&token_hash],
        )
        .await?;
    Ok(row.map(|row| row.get(0)))
}

pub(super) async fn known_machines(
    c: &impl GenericClient,
    hardware: &HardwareIdentity,
) -> Result<Vec<KnownMachine>, tokio_postgres::Error> {
    if hardware.is_unknown() {
        return Ok(Vec::new());
    }
    let rows = c
        .query(
            &format!(
                "SELECT {DEVICE_COLUMNS}, serial_number, hardware_uuid FROM devices
                 WHERE ($1 <> '' AND serial_number = $1) OR ($2 <> '' AND hardware_uuid = $2)
                 ORDER BY id"
            ),
            &[&hardware.serial_number, &hardware.hardware_uuid],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| KnownMachine {
            device: device_from_row(row),
            hardware: HardwareIdentity {
                serial_number: row.get(11),
                hardware_uuid: row.get(12),
            },
        })
        .collect())
}

/// Spends a use of the token (its row locked, so collectors re-enrolling
/// at once never spend more uses than it has) and rewrites the device under
/// its row lock: a retirement committed meanwhile by any collector is seen
/// and the re-enrollment refused, with the token use given back.
pub(super) async fn reenroll(
    c: &mut deadpool_postgres::Object,
    token_hash: &str,
    device: &NewDevice,
    cert_not_before: i64,
    now: i64,
) -> Result<Result<DeviceRecord, TokenRefusal>, StoreError> {
    let tx = c.transaction().await?;
    let (token_id, _group) = match spend_token(&*tx, token_hash, now).await? {
        Ok(token) => token,
        Err(refusal) => {
            tx.rollback().await?;
            return Ok(Err(refusal));
        }
    };
    let changed = tx
        .execute(
            "UPDATE devices SET hostname = $2, os = $3, agent_version = $4, token_id = $5,
               cert_serial = $6, cert_not_after = $7, serial_number = $8, hardware_uuid = $9,
               reenrolled_cert_not_before = $10
             WHERE id = $1 AND retired_at IS NULL",
            &[
                &device.id,
                &device.hostname,
                &device.os,
                &device.agent_version,
                &token_id,
                &device.cert_serial,
                &device.cert_not_after,
                &device.hardware.serial_number,
                &device.hardware.hardware_uuid,
                &cert_not_before,
            ],
        )
        .await?;
    if changed == 0 {
        tx.rollback().await?;
        return Err(StoreError::Task(format!(
            "device {} was retired or removed while its machine enrolled again; enroll again to get a new device",
            device.id
        )));
    }
    let record = device_by_id(&*tx, &device.id)
        .await?
        .ok_or_else(|| StoreError::Task("re-enrolled device vanished".into()))?;
    tx.commit().await?;
    Ok(Ok(record))
}

pub(super) async fn current_certificate(
    c: &impl GenericClient,
    device_id: &str,
) -> Result<Option<CurrentCertificate>, tokio_postgres::Error> {
    let row = c
        .query_opt(
            "SELECT cert_serial, reenrolled_cert_not_before FROM devices WHERE id = $1",
            &[&device_id],
        )
        .await?;
    Ok(row.map(|row| CurrentCertificate {
        serial: row.get(0),
        reenrolled_not_before: row.get(1),
    }))
}
