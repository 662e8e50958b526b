//! What the connector tests of this crate share besides the stand-in vendor
//! server (`forewarn_testkit::vendor`): golden request bodies and documented
//! responses, the alert every vendor test files, a connector configured against
//! the server, and the error classes every REST connector documents.

#![allow(dead_code)] // Shared by several test binaries; each uses a part of it.

use std::time::Duration;

use forewarn_collector::tickets::config::TicketsConfig;
use forewarn_collector::tickets::{Connector, ConnectorError, Severity, TicketRef, TicketRequest};
use forewarn_testkit::vendor::{Reply, VendorServer};
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

/// A documented vendor response under `tests/fixtures/tickets/<vendor>/`, without
/// its `_doc` note.
pub fn vendor_fixture(vendor: &str, name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tickets")
        .join(vendor)
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut value: Value = serde_json::from_str(&text).unwrap();
    value.as_object_mut().unwrap().remove("_doc");
    value
}

/// One connector configured against a stand-in vendor server, its secret in a
/// file as an administrator would keep it.
pub struct VendorSetup {
    pub server: VendorServer,
    pub config: TicketsConfig,
    name: String,
    _dir: tempfile::TempDir,
}

impl VendorSetup {
    /// Starts the server and parses `[connectors.<name>]` with `table` as its body;
    /// `table` may use `{url}` (the server) and `{secret}` (the secret file's path),
    /// and `secret` may use `{url}` (a chat webhook's secret is its address).
    /// The configuration must have no problems.
    pub async fn start(name: &str, secret: &str, table: &str) -> Self {
        let server = VendorServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        let secret_path = dir.path().join(format!("{name}-secret"));
        let secret = secret.replace("{url}", &server.url());
        std::fs::write(&secret_path, format!("{secret}\n")).unwrap();
        let body = table
            .replace("{url}", &server.url())
            .replace("{secret}", &secret_path.display().to_string());
        let config: TicketsConfig =
            toml::from_str(&format!("[connectors.{name}]\n{body}")).unwrap();
        assert_eq!(config.problems(), Vec::<String>::new());
        Self {
            server,
            config,
            name: name.into(),
            _dir: dir,
        }
    }

    pub fn connector(&self) -> Box<dyn Connector> {
        self.config.connectors[&self.name]
            .build(&self.name)
            .unwrap()
    }
}

/// The error classes every REST connector documents: each listed status is
/// retryable or not, 429 is rate limiting with the vendor's `Retry-After`, and
/// an answer slower than `timeout_secs` (1 s in these set-ups) is a timeout.
/// `error_body` answers the listed statuses; `created` is the vendor's answer to
/// a create, sent too late.
pub async fn assert_documented_error_classes(
    setup: &VendorSetup,
    statuses: &[(u16, bool)],
    error_body: &Value,
    created: &Value,
    request: &TicketRequest,
) {
    let connector = setup.connector();
    for &(status, retryable) in statuses {
        setup.server.reply(Reply::json(status, error_body));
        let err = connector.open(request).await.unwrap_err();
        assert_eq!(err.is_retryable(), retryable, "{status}: {err:?}");
    }
    setup
        .server
        .reply(Reply::json(429, &serde_json::json!({})).with_header("retry-after", "93"));
    let err = connector.find_open("k").await.unwrap_err();
    assert!(matches!(err, ConnectorError::RateLimited { .. }), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(93)));
    setup
        .server
        .reply(Reply::json(201, created).after(Duration::from_secs(3)));
    let err = connector.open(request).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Timeout { .. }), "{err:?}");
}
