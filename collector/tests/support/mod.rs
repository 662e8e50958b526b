//! What the connector tests of this crate share besides the stand-in vendor
//! server (`forewarn_testkit::vendor`): golden request bodies and the alert
//! every vendor test files.

#![allow(dead_code)] // Shared by several test binaries; each uses a part of it.

use forewarn_collector::tickets::{Severity, TicketRef, TicketRequest};
use serde_json::Value;

/// Compares a request body with a golden file under `tests/fixtures/tickets/`.
/// The golden file's `_doc` key (the vendor documentation it follows) is not part
/// of the comparison. Set `UPDATE_GOLDEN=1` to see the actual body on mismatch.
pub fn assert_matches_golden(actual: &Value, golden: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tickets")
        .join(golden);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut expected: Value = serde_json::from_str(&text).unwrap();
    let doc = expected
        .as_object_mut()
        .and_then(|o| o.remove("_doc"))
        .unwrap_or_else(|| panic!("{golden} has no _doc note"));
    assert!(
        doc.as_str().is_some_and(|d| d.starts_with("https://")),
        "{golden}: _doc must be a URL"
    );
    assert_eq!(
        actual,
        &expected,
        "request does not match {golden}; actual:\n{}",
        serde_json::to_string_pretty(actual).unwrap()
    );
}

/// The alert the vendor tests file: backup job "nightly" failed on
/// laptop-042, with the vendor's own value for a critical `priority`.
pub fn backup_failure_request(priority: &str) -> TicketRequest {
    TicketRequest {
        correlation_key: "dev-7/backup_failed/nightly".into(),
        subject: "[critical] laptop-042: backup job nightly failed (exit code 3)".into(),
        body: "backup job nightly failed (exit code 3)\n\nDevice: laptop-042".into(),
        severity: Severity::Critical,
        priority: priority.into(),
        destination: None,
        labels: vec!["forewarn".into()],
        device_url: Some("https://forewarn.example/devices/dev-7".into()),
    }
}

/// A reference to ticket `id` in the vendor's system.
pub fn ticket_ref(id: &str) -> TicketRef {
    TicketRef {
        id: id.into(),
        url: None,
    }
}
