//! Windows certificate stores, read through CryptoAPI (I/O only).
//!
//! The store is opened read-only and only existing stores are opened, so a
//! misspelt name is an error rather than a new empty store. Each
//! certificate's DER bytes are copied out and decoded by `parse` like any
//! other source; private keys stay in the store and are never touched.
// CryptoAPI is a C API: calling it needs `unsafe`, kept to this file.
#![allow(unsafe_code)]

use windows_sys::Win32::Security::Cryptography::{
    CERT_CONTEXT, CERT_STORE_OPEN_EXISTING_FLAG, CERT_STORE_PROV_SYSTEM_W,
    CERT_STORE_READONLY_FLAG, CERT_SYSTEM_STORE_CURRENT_USER, CERT_SYSTEM_STORE_LOCAL_MACHINE,
    CertCloseStore, CertEnumCertificatesInStore, CertOpenStore,
};

use super::parse::{StoreLocation, windows_store};
use crate::checks::CheckError;

/// The DER certificates in the configured store `text` (e.g. `LocalMachine\My`).
pub fn store_certificates(text: &str) -> Result<Vec<Vec<u8>>, CheckError> {
    let (location, name) = windows_store(text).map_err(CheckError::InvalidData)?;
    let location_flag = match location {
        StoreLocation::LocalMachine => CERT_SYSTEM_STORE_LOCAL_MACHINE,
        StoreLocation::CurrentUser => CERT_SYSTEM_STORE_CURRENT_USER,
    };
    let wide_name: Vec<u16> = name.encode_utf16().chain(std::iter::once(0)).collect();
    // SAFETY: `wide_name` is a NUL-terminated UTF-16 string that outlives the
    // call; the system-store provider takes no crypto provider handle (0).
    let store = unsafe {
        CertOpenStore(
            CERT_STORE_PROV_SYSTEM_W,
            0,
            0,
            location_flag | CERT_STORE_READONLY_FLAG | CERT_STORE_OPEN_EXISTING_FLAG,
            wide_name.as_ptr().cast(),
        )
    };
    if store.is_null() {
        let err = std::io::Error::last_os_error();
        return Err(if err.kind() == std::io::ErrorKind::PermissionDenied {
            CheckError::PermissionDenied(format!("cannot open store {text}: {err}"))
        } else {
            CheckError::Failed(format!("cannot open store {text}: {err}"))
        });
    }
    let mut certificates = Vec::new();
    let mut context: *mut CERT_CONTEXT = std::ptr::null_mut();
    loop {
        // SAFETY: `store` is open; `context` is null or the previous context
        // returned by this enumeration, which the call frees.
        context = unsafe { CertEnumCertificatesInStore(store, context) };
        if context.is_null() {
            break;
        }
        // SAFETY: a non-null context points to a valid CERT_CONTEXT whose
        // encoded bytes stay valid until the next enumeration call.
        let der = unsafe {
            let cert = &*context;
            std::slice::from_raw_parts(cert.pbCertEncoded, cert.cbCertEncoded as usize).to_vec()
        };
        certificates.push(der);
    }
    // SAFETY: `store` is open and no context from it is still held (the
    // enumeration ended with null, having freed the last one).
    unsafe {
        CertCloseStore(store, 0);
    }
    Ok(certificates)
}
