//! Helpdesk tickets for alerts: the `Connector` seam every ticket system sits behind,
//! the request a connector receives, and the errors it may return.
//!
//! The outbox worker (fed by alert transitions) drives a connector with four
//! operations, in this order of preference for exactly-once behaviour:
//! `find_open` by the alert's correlation key before `open`, so a crash between
//! "ticket created" and "reference stored" never leads to a second ticket;
//! `comment` for escalation and repeats; `resolve` on recovery, unless
//! `worked_by_human` says a technician has already replied, reassigned the ticket or
//! changed its status.
//!
//! # Layout
//! - [`config`]: the `[tickets]` section: connectors (each delegating to its own
//!   file) and policies.
//! - [`connector_config`]: what every connector's settings share.
//! - [`template`]: subject and body rendering from the alert and the device facts.
//! - [`transport`]: the HTTP client shared by the HTTP connectors: timeouts, and
//!   status codes mapped to retryable or permanent [`ConnectorError`]s.
//! - [`email`]: e-mail over SMTP, threaded by Message-ID.
//! - [`freshservice`]: Freshservice tickets, API v2.
//! - [`jira`]: Jira Software / Service Management, REST API v2.
//! - [`request_tracker`]: Request Tracker 5, REST 2.
//! - [`servicenow`]: ServiceNow Table API, `incident` table.
//! - [`webhook`]: generic JSON webhook signed with HMAC-SHA256; notify only.
//! - [`zendesk`]: Zendesk Support tickets.
//! - [`chat`]: Slack and Teams incoming webhooks; notify only.
//! - [`access`]: the `tickets test --connector NAME` check, in plain words.
//! - [`metrics`]: delivery counters for `/metrics`.
//! - [`worker`]: the outbox worker that drives the connectors.

pub mod access;
pub mod chat;
pub mod config;
pub mod connector_config;
pub mod email;
pub mod freshservice;
pub mod jira;
pub mod metrics;
pub mod request_tracker;
pub mod servicenow;
pub mod template;
pub mod transport;
pub mod webhook;
pub mod worker;
pub mod zendesk;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use crate::severity::Severity;

/// What the collector knows about the device an alert is about. Fields the
/// agent did not report are empty strings, never guesses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeviceFacts {
    pub hostname: String,
    pub os: String,
    pub model: String,
    pub serial: String,
    /// The logged-in or assigned user, if known.
    pub user: Option<String>,
}

/// The alert a ticket is about, as the templates see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertSummary {
    /// Stable key of the problem (one per device, rule and subject); carried into
    /// the ticket system so an existing ticket can be found again.
    pub correlation_key: String,
    /// Rule that fired, e.g. `backup_failed`.
    pub rule: String,
    /// What the rule is about on this device: a mount point, a job name, ...
    pub subject: String,
    pub severity: Severity,
    /// One line saying what is wrong, e.g. "backup job nightly failed (exit code 3)".
    pub summary: String,
    /// The last observed values, as (name, value) pairs in display order.
    pub last_values: Vec<(String, String)>,
    pub device: DeviceFacts,
    /// Link to the device's page in the dashboard, when a dashboard URL is configured.
    pub device_url: Option<String>,
}

/// Everything a connector needs to open a ticket; built from an [`AlertSummary`]
/// and a ticket policy by [`config::TicketPolicy::request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketRequest {
    pub correlation_key: String,
    pub subject: String,
    pub body: String,
    pub severity: Severity,
    /// Priority in the target system's own terms (from the policy's priority map).
    pub priority: String,
    /// Queue, project or assignment group; `None` uses the connector's default.
    pub destination: Option<String>,
    /// Labels or tags added to the ticket.
    pub labels: Vec<String>,
    pub device_url: Option<String>,
}

/// The label or tag carrying a correlation key in systems that can only search
/// by tag (Jira, Freshservice): `forewarn-` and 16 hex digits of the key's SHA-256,
/// since tags cannot hold spaces and some limit their length.
pub fn correlation_tag(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("forewarn-{}", hex::encode(&digest[..8]))
}

/// A ticket in a ticket system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRef {
    /// The system's identifier (RT ticket number, ServiceNow sys_id, Jira key, ...).
    pub id: String,
    /// Human-facing link, when the system has one.
    pub url: Option<String>,
}

/// Errors from a ticket system. Split so the outbox worker knows whether trying
/// again can help: see [`ConnectorError::is_retryable`].
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// Rate limited (429); try again after the given delay if the system said one.
    #[error("{system} rate limited the request{}", retry_after_text(*.retry_after))]
    RateLimited {
        system: &'static str,
        retry_after: Option<Duration>,
    },
    /// The system failed (5xx); try again later.
    #[error("{system} failed with HTTP {status}: {message}")]
    Unavailable {
        system: &'static str,
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    /// No answer within the configured timeout.
    #[error("{system} did not answer within {timeout:?}")]
    Timeout {
        system: &'static str,
        timeout: Duration,
    },
    /// Connection refused, DNS failure, TLS failure...: `cause` is the
    /// transport's error with its causes ("error sending request" alone
    /// does not say which), without the URL.
    #[error("cannot reach {system}: {cause}")]
    Unreachable { system: &'static str, cause: String },
    /// Credentials missing, wrong or expired (401).
    #[error("{system} refused the credentials (HTTP 401): {message}")]
    Unauthorized {
        system: &'static str,
        message: String,
    },
    /// Credentials accepted but not allowed to do this (403).
    #[error("{system} denied the request (HTTP 403): {message}")]
    Forbidden {
        system: &'static str,
        message: String,
    },
    /// Not found (404): wrong URL, or the ticket was deleted.
    #[error("{system} has no such resource (HTTP 404): {message}")]
    NotFound {
        system: &'static str,
        message: String,
    },
    /// Any other 4xx, or a 2xx whose body says the operation did not happen:
    /// the request itself is wrong and sending it again will not help.
    #[error("{system} rejected the request{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Rejected {
        system: &'static str,
        status: Option<u16>,
        message: String,
    },
    /// The answer did not have the documented shape.
    #[error("unexpected answer from {system}: {message}")]
    InvalidResponse {
        system: &'static str,
        message: String,
    },
    /// The connector cannot do this at all (e.g. a webhook cannot be searched).
    #[error("{system} does not support {operation}")]
    Unsupported {
        system: &'static str,
        operation: &'static str,
    },
}

fn retry_after_text(retry_after: Option<Duration>) -> String {
    retry_after
        .map(|d| format!(" (retry after {}s)", d.as_secs()))
        .unwrap_or_default()
}

impl ConnectorError {
    /// Whether sending the same operation again later can succeed. 4xx answers
    /// (except 429) are permanent: retrying them forever only hides the problem.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ConnectorError::RateLimited { .. }
                | ConnectorError::Unavailable { .. }
                | ConnectorError::Timeout { .. }
                | ConnectorError::Unreachable { .. }
        )
    }

    /// The delay the system asked for (`Retry-After`), if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ConnectorError::RateLimited { retry_after, .. }
            | ConnectorError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// A ticket system (or notification channel) the collector delivers alerts to.
///
/// Notify-only channels (webhook, chat) return a [`TicketRef`] naming the
/// delivery and answer `find_open` with `None`: they cannot be searched.
#[async_trait]
pub trait Connector: Send + Sync + fmt::Debug {
    /// Short name of the system, for logs and error messages.
    fn system(&self) -> &'static str;

    /// The open ticket carrying this correlation key, if there is one.
    async fn find_open(&self, correlation_key: &str) -> Result<Option<TicketRef>, ConnectorError>;

    /// Opens a ticket. Callers run `find_open` first; this does not.
    async fn open(&self, request: &TicketRequest) -> Result<TicketRef, ConnectorError>;

    /// Adds an update to the ticket (internal note where the system has them).
    async fn comment(&self, ticket: &TicketRef, text: &str) -> Result<(), ConnectorError>;

    /// Resolves the ticket with a closing note.
    async fn resolve(&self, ticket: &TicketRef, text: &str) -> Result<(), ConnectorError>;

    /// Whether someone other than the collector has replied to, reassigned or
    /// changed the status of this ticket; such a ticket is not auto-resolved.
    async fn worked_by_human(&self, ticket: &TicketRef) -> Result<bool, ConnectorError>;

    /// Checks credentials and permissions without changing anything; returns
    /// each problem found in plain words (empty when all is well).
    async fn check_access(&self) -> Vec<String>;
}
