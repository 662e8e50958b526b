//! Generic JSON webhook: each ticket operation is POSTed as an event, signed so the
//! receiver can tell it came from this collector and is fresh.
//!
//! Signature: header `X-Forewarn-Timestamp: <unix seconds>` and
//! `X-Forewarn-Signature: sha256=<hex of HMAC-SHA256(secret, timestamp + "." + body)>`
//! (header names configurable). Receivers should reject timestamps more than a few
//! minutes old, which stops replays. A webhook keeps no tickets: `find_open` finds
//! nothing and `worked_by_human` is always false.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use forewarn_secret::{Secret, SecretSource};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::connector_config::{
    BuildError, ConnectorSettings, built, check_http_url, check_secret, check_timeout,
    default_timeout_secs, load_secret,
};
use super::transport::HttpTransport;
use super::{Connector, ConnectorError, Severity, TicketRef, TicketRequest};

/// `kind = "webhook"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Address the JSON events are POSTed to.
    pub url: String,
    /// Shared secret for the HMAC-SHA256 signature.
    pub secret: SecretSource,
    /// Header carrying `sha256=<hex>` of HMAC-SHA256(secret, timestamp + "." + body).
    #[serde(default = "default_signature_header")]
    pub signature_header: String,
    /// Header carrying the Unix timestamp (seconds) that was signed.
    #[serde(default = "default_timestamp_header")]
    pub timestamp_header: String,
    /// Timeout of each HTTP request, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_signature_header() -> String {
    "X-Forewarn-Signature".into()
}
fn default_timestamp_header() -> String {
    "X-Forewarn-Timestamp".into()
}

impl ConnectorSettings for WebhookConfig {
    fn problems(&self, key: &str, problems: &mut Vec<String>) {
        check_http_url(key, "url", &self.url, problems);
        check_secret(key, "secret", &self.secret, problems);
        check_timeout(key, self.timeout_secs, problems);
    }

    fn resolve_paths(&mut self, base: &Path) {
        self.secret.resolve_path(base);
    }

    fn keeps_tickets(&self) -> bool {
        false
    }
}

impl WebhookConfig {
    /// Reads the signing secret and builds the connector named `name`.
    pub fn build(&self, name: &str) -> Result<Box<dyn Connector>, BuildError> {
        built(
            name,
            Webhook::new(self, load_secret(name, "secret", &self.secret)?),
        )
    }
}

const SYSTEM: &str = "webhook";

#[derive(Debug)]
pub struct Webhook {
    http: HttpTransport,
    url: String,
    secret: Secret,
    signature_header: HeaderName,
    timestamp_header: HeaderName,
}

/// The JSON body of every webhook call.
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WebhookEvent<'a> {
    /// A problem needs a ticket.
    Open {
        correlation_key: &'a str,
        subject: &'a str,
        body: &'a str,
        severity: Severity,
        priority: &'a str,
        destination: Option<&'a str>,
        labels: &'a [String],
        device_url: Option<&'a str>,
    },
    /// An update on a problem already announced.
    Comment {
        correlation_key: &'a str,
        text: &'a str,
    },
    /// The problem is gone.
    Resolve {
        correlation_key: &'a str,
        text: &'a str,
    },
    /// Sent by `tickets test`; receivers should accept and ignore it.
    Test,
}

/// `sha256=<hex>` of HMAC-SHA256(secret, timestamp + "." + body).
pub fn signature(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhook {
    pub fn new(config: &WebhookConfig, secret: Secret) -> Result<Self, ConnectorError> {
        let header = |name: &str| {
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| ConnectorError::Rejected {
                system: SYSTEM,
                status: None,
                message: format!("{name:?} is not a valid HTTP header name"),
            })
        };
        Ok(Self {
            http: HttpTransport::new(SYSTEM, Duration::from_secs(config.timeout_secs))?,
            url: config.url.clone(),
            secret,
            signature_header: header(&config.signature_header)?,
            timestamp_header: header(&config.timestamp_header)?,
        })
    }

    async fn deliver(&self, event: &WebhookEvent<'_>) -> Result<(), ConnectorError> {
        let body = serde_json::to_vec(event).map_err(|e| ConnectorError::Rejected {
            system: SYSTEM,
            status: None,
            message: format!("cannot encode event: {e}"),
        })?;
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let signature = signature(self.secret.expose().as_bytes(), timestamp, &body);
        let request = self
            .http
            .client()
            .post(&self.url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(self.timestamp_header.clone(), timestamp.to_string())
            .header(self.signature_header.clone(), signature)
            .body(body);
        self.http.send(request).await.map(drop)
    }
}

#[async_trait]
impl Connector for Webhook {
    fn system(&self) -> &'static str {
        SYSTEM
    }

    async fn find_open(&self, _correlation_key: &str) -> Result<Option<TicketRef>, ConnectorError> {
        Ok(None)
    }

    async fn open(&self, request: &TicketRequest) -> Result<TicketRef, ConnectorError> {
        self.deliver(&WebhookEvent::Open {
            correlation_key: &request.correlation_key,
            subject: &request.subject,
            body: &request.body,
            severity: request.severity,
            priority: &request.priority,
            destination: request.destination.as_deref(),
            labels: &request.labels,
            device_url: request.device_url.as_deref(),
        })
        .await?;
        // The receiver's own reference is unknown; the key identifies the problem.
        Ok(TicketRef {
            id: request.correlation_key.clone(),
            url: None,
        })
    }

    async fn comment(&self, ticket: &TicketRef, text: &str) -> Result<(), ConnectorError> {
        self.deliver(&WebhookEvent::Comment {
            correlation_key: &ticket.id,
            text,
        })
        .await
    }

    async fn resolve(&self, ticket: &TicketRef, text: &str) -> Result<(), ConnectorError> {
        self.deliver(&WebhookEvent::Resolve {
            correlation_key: &ticket.id,
            text,
        })
        .await
    }

    async fn worked_by_human(&self, _ticket: &TicketRef) -> Result<bool, ConnectorError> {
        Ok(false)
    }

    async fn check_access(&self) -> Vec<String> {
        match self.deliver(&WebhookEvent::Test).await {
            Ok(()) => Vec::new(),
            Err(ConnectorError::Unauthorized { .. } | ConnectorError::Forbidden { .. }) => {
                vec![format!(
                    "{} refused the signed test event: the receiver's secret differs from ours, or it does not accept our signature header",
                    self.url
                )]
            }
            Err(e) => vec![format!("test event to {} failed: {e}", self.url)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_an_independent_computation() {
        // Computed with: printf '1700000000.{"event":"test"}' |
        //   openssl dgst -sha256 -hmac 'It is a secret'
        assert_eq!(
            signature(b"It is a secret", 1_700_000_000, br#"{"event":"test"}"#),
            "sha256=a60359f711d195f19806a6f1eb6fb4a56cdac185cac7f4ae35dd8b4db887e5e9"
        );
    }

    #[test]
    fn test_event_is_tagged() {
        assert_eq!(
            serde_json::to_string(&WebhookEvent::Test).unwrap(),
            r#"{"event":"test"}"#
        );
    }
}
