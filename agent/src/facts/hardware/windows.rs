//! Windows: the raw SMBIOS table from `GetSystemFirmwareTable('RSMB', 0, …)`,
//! readable by any user; no process is spawned.

// GetSystemFirmwareTable is a C API: calling it needs `unsafe`, kept to this module.
#![allow(unsafe_code)]

use windows_sys::Win32::System::SystemInformation::GetSystemFirmwareTable;

use super::{Hardware, smbios};

/// 'RSMB', the raw SMBIOS firmware table provider.
const RSMB: u32 = u32::from_be_bytes(*b"RSMB");

/// The identity from SMBIOS type 1; empty (with a warning saying why) when
/// the table cannot be read or parsed.
pub fn read() -> Hardware {
    let parsed = firmware_table()
        .map_err(|err| format!("GetSystemFirmwareTable('RSMB') failed: {err}"))
        .and_then(|raw| smbios::system_information(&raw).map_err(|err| err.to_string()));
    parsed.unwrap_or_else(|error| {
        tracing::warn!(%error, "cannot read this PC's serial number and SMBIOS UUID; a re-install will not be linked to its device record");
        Hardware::default()
    })
}

fn firmware_table() -> std::io::Result<Vec<u8>> {
    // SAFETY: a null buffer of size 0 only asks for the size needed.
    let size = unsafe { GetSystemFirmwareTable(RSMB, 0, std::ptr::null_mut(), 0) };
    if size == 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut buffer = vec![0u8; size as usize];
    // SAFETY: `buffer` is writable for `size` bytes, the size passed.
    let written = unsafe { GetSystemFirmwareTable(RSMB, 0, buffer.as_mut_ptr(), size) };
    if written == 0 {
        return Err(std::io::Error::last_os_error());
    }
    // The table can grow between the calls; a larger answer means nothing was written.
    if written > size {
        return Err(std::io::Error::other(format!(
            "the SMBIOS table grew from {size} to {written} bytes while being read"
        )));
    }
    buffer.truncate(written as usize);
    Ok(buffer)
}
