//! Certificate files: PEM bundles or one DER certificate, then each
//! certificate described for the report, and Windows store names.
//! Properties: no panic; whatever the bytes, something is said (a
//! certificate or a problem); every certificate split out is one the
//! describer reads; fingerprints are SHA-256 in lowercase hex.
#![no_main]

use forewarn_agent::checks::certificates::parse::{
    describe, fingerprint, split_certificates, windows_store,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (certificates, problems) = split_certificates(data);
    if !data.windows(11).any(|w| w == b"-----BEGIN ") {
        assert_eq!(certificates.len() + problems.len(), 1, "DER is one thing");
    }
    for der in &certificates {
        let status = describe(der);
        assert!(status.is_ok(), "split out but not described: {status:?}");
        let print = fingerprint(der);
        assert_eq!(print.len(), 64);
        assert!(
            print
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }
    let _ = describe(data);
    let text = String::from_utf8_lossy(data);
    if let Ok((_, name)) = windows_store(&text) {
        assert!(!name.is_empty() && !name.contains('\\'));
    }
});
