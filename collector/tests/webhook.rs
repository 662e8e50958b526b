//! The signed webhook against an in-process receiver that verifies the signature
//! the way a receiver is told to in docs/tickets.md: HMAC-SHA256 over
//! `timestamp + "." + body`, constant-time compare, timestamp no older than 5 minutes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use forewarn_collector::tickets::config::TicketsConfig;
use forewarn_collector::tickets::{Connector, ConnectorError, Severity, TicketRequest, access};
use forewarn_testkit::vendor::{Reply, VendorServer};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const SECRET: &str = "shared-webhook-secret";

#[derive(Clone, Default)]
struct Receiver {
    accepted: Arc<Mutex<Vec<Value>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let (Some(ts), Some(sig)) = (
        headers
            .get("x-forewarn-timestamp")
            .and_then(|v| v.to_str().ok()),
        headers
            .get("x-forewarn-signature")
            .and_then(|v| v.to_str().ok()),
    ) else {
        return StatusCode::UNAUTHORIZED;
    };
    let Ok(ts_secs) = ts.parse::<u64>() else {
        return StatusCode::UNAUTHORIZED;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if now.abs_diff(ts_secs) > 300 {
        return StatusCode::UNAUTHORIZED;
    }
    let Some(hex_sig) = sig.strip_prefix("sha256=") else {
        return StatusCode::UNAUTHORIZED;
    };
    let Ok(sig_bytes) = hex::decode(hex_sig) else {
        return StatusCode::UNAUTHORIZED;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(&body);
    if mac.verify_slice(&sig_bytes).is_err() {
        return StatusCode::UNAUTHORIZED;
    }
    r.accepted
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap());
    StatusCode::NO_CONTENT
}

async fn start_receiver() -> (String, Receiver) {
    let receiver = Receiver::default();
    let app = Router::new()
        .route("/hooks/forewarn", post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/forewarn", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, receiver)
}

/// Config with the secret in a file (kept alive by the returned directory).
fn config(url: &str, secret: &str, timeout_secs: u64) -> (TicketsConfig, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("webhook-secret");
    std::fs::write(&file, secret).unwrap();
    let config: TicketsConfig = toml::from_str(&format!(
        r#"
[connectors.hook]
kind = "webhook"
url = "{url}"
secret = {{ file = "{file}" }}
timeout_secs = {timeout_secs}
[[policies]]
action = "notify"
"#,
        file = file.display()
    ))
    .unwrap();
    assert_eq!(config.problems(), Vec::<String>::new());
    (config, dir)
}

fn connector(config: &TicketsConfig) -> Box<dyn Connector> {
    config.connectors["hook"].build("hook").unwrap()
}

fn request() -> TicketRequest {
    TicketRequest {
        correlation_key: "dev-7/backup_failed/nightly".into(),
        subject: "[critical] laptop-042: backup job nightly failed".into(),
        body: "backup job nightly failed (exit code 3)".into(),
        severity: Severity::Critical,
        priority: "critical".into(),
        destination: None,
        labels: vec!["forewarn".into()],
        device_url: Some("https://forewarn.example/devices/dev-7".into()),
    }
}

#[tokio::test]
async fn webhook_events_are_signed_and_verified_by_the_receiver() {
    let (url, receiver) = start_receiver().await;
    let (config, _dir) = config(&url, SECRET, 5);
    let hook = connector(&config);

    assert_eq!(
        hook.find_open("dev-7/backup_failed/nightly").await.unwrap(),
        None
    );
    let ticket = hook.open(&request()).await.unwrap();
    hook.comment(&ticket, "still failing").await.unwrap();
    hook.resolve(&ticket, "backup succeeded").await.unwrap();
    assert!(!hook.worked_by_human(&ticket).await.unwrap());

    let accepted = receiver.accepted.lock().unwrap().clone();
    assert_eq!(
        accepted,
        vec![
            json!({
                "event": "open",
                "correlation_key": "dev-7/backup_failed/nightly",
                "subject": "[critical] laptop-042: backup job nightly failed",
                "body": "backup job nightly failed (exit code 3)",
                "severity": "critical",
                "priority": "critical",
                "destination": null,
                "labels": ["forewarn"],
                "device_url": "https://forewarn.example/devices/dev-7",
            }),
            json!({"event": "comment", "correlation_key": "dev-7/backup_failed/nightly", "text": "still failing"}),
            json!({"event": "resolve", "correlation_key": "dev-7/backup_failed/nightly", "text": "backup succeeded"}),
        ]
    );
    assert_eq!(
        access::test_connector(&config, "hook").await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn webhook_with_wrong_secret_is_refused_permanently() {
    let (url, receiver) = start_receiver().await;
    let (config, _dir) = config(&url, "not-the-shared-secret", 5);
    let err = connector(&config).open(&request()).await.unwrap_err();
    assert!(
        matches!(err, ConnectorError::Unauthorized { .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert!(receiver.accepted.lock().unwrap().is_empty());
    let problems = access::test_connector(&config, "hook").await;
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("secret differs"), "{problems:?}");
}

#[tokio::test]
async fn webhook_rate_limit_server_error_and_timeout_are_retryable() {
    let server = VendorServer::start().await;
    let (config, _dir) = config(&format!("{}/hook", server.url()), SECRET, 1);
    let hook = connector(&config);

    server.reply(Reply::json(429, &json!({})).with_header("retry-after", "30"));
    let err = hook.open(&request()).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));

    server.reply(Reply::json(503, &json!({"error": "maintenance"})));
    let err = hook.open(&request()).await.unwrap_err();
    assert!(
        matches!(err, ConnectorError::Unavailable { status: 503, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());

    server.reply(Reply::json(204, &json!({})).after(Duration::from_secs(3)));
    let err = hook.open(&request()).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Timeout { .. }), "{err:?}");
    assert!(err.is_retryable());

    server.reply(Reply::json(400, &json!({"error": "bad payload"})));
    let err = hook.open(&request()).await.unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
    assert_eq!(server.take().len(), 4);
}
