//! Windows: the values of `HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion`
//! that [`windows_version`] turns into name, version and build. Readable by
//! every user; no process is spawned.

// RegGetValueW is a C API: calling it needs `unsafe`, kept to this module.
#![allow(unsafe_code)]

use windows::Win32::Foundation::ERROR_SUCCESS;
use windows::Win32::System::Registry::{
    HKEY_LOCAL_MACHINE, RRF_RT_REG_DWORD, RRF_RT_REG_SZ, RRF_SUBKEY_WOW6464KEY, RegGetValueW,
};
use windows::core::PCWSTR;

use super::Os;
use super::windows_version::{CurrentVersionKey, windows_version};

const KEY: &str = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion";

/// This Windows' name, version and build; "Windows" and empty strings (with
/// a warning) when the key cannot be read.
pub fn read() -> Os {
    let mut key = CurrentVersionKey::default();
    for name in CurrentVersionKey::STRING_VALUES {
        if let Some(value) = string_value(name) {
            key.set_string(name, value);
        }
    }
    for name in CurrentVersionKey::DWORD_VALUES {
        if let Some(value) = dword_value(name) {
            key.set_dword(name, value);
        }
    }
    let version = windows_version(&key);
    if version.build.is_empty() {
        tracing::warn!(
            key = %format!(r"HKLM\{KEY}"),
            "cannot read this Windows' build number; the report names the OS without it"
        );
    }
    version
}

fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(std::iter::once(0)).collect()
}

/// The REG_SZ value `name`, or None when it is missing or of another type.
fn string_value(name: &str) -> Option<String> {
    let (key, name) = (wide(KEY), wide(name));
    // KEY_WOW64_64KEY's counterpart: a 32-bit build still reads the 64-bit view.
    let flags = RRF_RT_REG_SZ | RRF_SUBKEY_WOW6464KEY;
    let mut size = 0u32;
    // SAFETY: both names are NUL-terminated and outlive the call; a null data
    // pointer asks only for the size in bytes.
    let status = unsafe {
        RegGetValueW(
            HKEY_LOCAL_MACHINE,
            PCWSTR(key.as_ptr()),
            PCWSTR(name.as_ptr()),
            flags,
            None,
            None,
            Some(&mut size),
        )
    };
    if status != ERROR_SUCCESS {
        return None;
    }
    let mut buffer = vec![0u16; (size as usize).div_ceil(2)];
    let mut size = u32::try_from(buffer.len() * 2).ok()?;
    // SAFETY: `buffer` is writable for `size` bytes; RegGetValueW NUL-terminates
    // what it writes and updates `size`.
    let status = unsafe {
        RegGetValueW(
            HKEY_LOCAL_MACHINE,
            PCWSTR(key.as_ptr()),
            PCWSTR(name.as_ptr()),
            flags,
            None,
            Some(buffer.as_mut_ptr().cast()),
            Some(&mut size),
        )
    };
    if status != ERROR_SUCCESS {
        return None;
    }
    buffer.truncate(size as usize / 2);
    let end = buffer
        .iter()
        .position(|&unit| unit == 0)
        .unwrap_or(buffer.len());
    Some(String::from_utf16_lossy(&buffer[..end]))
}

/// The REG_DWORD value `name`, or None when it is missing or of another type.
fn dword_value(name: &str) -> Option<u32> {
    let (key, name) = (wide(KEY), wide(name));
    let mut value = 0u32;
    let mut size = 4u32;
    // SAFETY: both names are NUL-terminated and outlive the call; `value` is
    // writable for the 4 bytes passed as its size.
    let status = unsafe {
        RegGetValueW(
            HKEY_LOCAL_MACHINE,
            PCWSTR(key.as_ptr()),
            PCWSTR(name.as_ptr()),
            RRF_RT_REG_DWORD | RRF_SUBKEY_WOW6464KEY,
            None,
            Some((&raw mut value).cast()),
            Some(&mut size),
        )
    };
    (status == ERROR_SUCCESS).then_some(value)
}
