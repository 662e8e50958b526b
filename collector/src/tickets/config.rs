//! The `[tickets]` section of the collector config: which ticket systems exist
//! (`[tickets.connectors.NAME]`), which alerts open tickets or only notify
//! (`[[tickets.policies]]`, first match wins), and where secrets come from.
//!
//! Secrets are never written in the config itself: a secret names an environment
//! variable (`token = { env = "RT_TOKEN" }`) or a file (`token = { file = "/etc/forewarn/rt-token" }`).
//! They are read when a connector is built and are never printed: [`Secret`]'s
//! `Debug` shows `***`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::chat::{ChatService, ChatWebhook};
use super::email::Email;
use super::freshservice::Freshservice;
use super::jira::Jira;
use super::request_tracker::RequestTracker;
use super::servicenow::ServiceNow;
use super::template::{self, DEFAULT_BODY, DEFAULT_SUBJECT};
use super::webhook::Webhook;
use super::zendesk::Zendesk;
use super::{AlertSummary, Connector, ConnectorError, Severity, TicketRequest};

/// `[tickets]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketsConfig {
    /// Base URL of the dashboard as technicians reach it (e.g.
    /// `https://forewarn.example.com`); tickets link to `{dashboard_url}/devices/{id}`.
    /// Omit to leave links out.
    #[serde(default)]
    pub dashboard_url: Option<String>,
    /// Ticket systems and notification channels, by a name of your choosing.
    #[serde(default)]
    pub connectors: BTreeMap<String, ConnectorConfig>,
    /// What to do for an alert; the first policy that matches it applies, and an
    /// alert no policy matches opens no ticket. Default: backup alerts open tickets.
    #[serde(default = "default_policies")]
    pub policies: Vec<TicketPolicy>,
    /// Milliseconds between looks at the outbox when there was nothing to deliver.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Seconds a claimed outbox row stays reserved for this collector; after a crash,
    /// its undelivered rows are delivered again once the lease runs out.
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u64,
    /// First retry delay after a retryable failure (timeout, 5xx, 429), in seconds;
    /// it doubles with each attempt, with jitter, up to `max_retry_secs`.
    #[serde(default = "default_min_retry_secs")]
    pub min_retry_secs: u64,
    /// Longest delay between two attempts, in seconds (a `Retry-After` may ask for more).
    #[serde(default = "default_max_retry_secs")]
    pub max_retry_secs: u64,
    /// When the oldest undelivered ticket operation is older than this many seconds,
    /// the collector raises its own "ticketing is failing" alert (cleared when
    /// delivery recovers). Undelivered work keeps being retried either way.
    #[serde(default = "default_max_delivery_age_secs")]
    pub max_delivery_age_secs: u64,
    /// Days a delivered ticket operation stays in the outbox (`alert_outbox`) after
    /// its delivery, for operators to look back on; older ones are deleted by the
    /// periodic sweep. Pending and failed operations are never deleted, and alert
    /// history (`alerts show`) is kept whatever this says.
    #[serde(default = "default_delivered_retention_days")]
    pub delivered_retention_days: u64,
}

impl Default for TicketsConfig {
    fn default() -> Self {
        Self {
            dashboard_url: None,
            connectors: BTreeMap::new(),
            policies: default_policies(),
            poll_interval_ms: default_poll_interval_ms(),
            lease_secs: default_lease_secs(),
            min_retry_secs: default_min_retry_secs(),
            max_retry_secs: default_max_retry_secs(),
            max_delivery_age_secs: default_max_delivery_age_secs(),
            delivered_retention_days: default_delivered_retention_days(),
        }
    }
}

fn default_poll_interval_ms() -> u64 {
    1000
}
fn default_lease_secs() -> u64 {
    120
}
fn default_min_retry_secs() -> u64 {
    5
}
fn default_max_retry_secs() -> u64 {
    600
}
fn default_max_delivery_age_secs() -> u64 {
    3600
}
fn default_delivered_retention_days() -> u64 {
    30
}

fn default_policies() -> Vec<TicketPolicy> {
    vec![TicketPolicy {
        checks: vec!["backups".into()],
        ..TicketPolicy::default()
    }]
}

/// One ticket system or channel. `kind` says which.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConnectorConfig {
    /// Request Tracker 5 (REST 2).
    RequestTracker(RequestTrackerConfig),
    /// ServiceNow Table API, `incident` table.
    Servicenow(ServiceNowConfig),
    /// Jira Software / Jira Service Management, REST API v2.
    Jira(JiraConfig),
    /// Zendesk Support tickets.
    Zendesk(ZendeskConfig),
    /// Freshservice tickets.
    Freshservice(FreshserviceConfig),
    /// Generic JSON webhook signed with HMAC-SHA256; notify only.
    Webhook(WebhookConfig),
    /// E-mail over SMTP, threaded so a help desk keeps one ticket.
    Email(EmailConfig),
    /// Slack incoming webhook; notify only.
    Slack(ChatConfig),
    /// Microsoft Teams workflow / incoming webhook; notify only.
    Teams(ChatConfig),
}

/// `kind = "request_tracker"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestTrackerConfig {
    /// RT's web address including its web path, e.g. `https://rt.example.com/rt`.
    pub url: String,
    /// Auth token of the RT user the collector acts as (Settings > Auth Tokens).
    pub token: SecretSource,
    /// Queue new tickets go to, unless a policy names another.
    pub queue: String,
    /// Ticket custom field (free-form, applied to the queue) that carries the alert's
    /// correlation key; it is how an existing ticket is found again.
    #[serde(default = "default_rt_correlation_field")]
    pub correlation_field: String,
    /// Status set on recovery.
    #[serde(default = "default_rt_resolved_status")]
    pub resolved_status: String,
    /// RT priority (0-100 by default) for each severity.
    #[serde(default = "default_rt_priorities")]
    pub priorities: PriorityMap,
    /// Timeout of each HTTP request, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

/// `kind = "servicenow"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceNowConfig {
    /// Instance address, e.g. `https://example.service-now.com`.
    pub instance_url: String,
    /// User for basic authentication; needs the `itil` role (read, create and
    /// update incidents, read their journal).
    pub username: String,
    /// That user's password.
    pub password: SecretSource,
    /// Assignment group (name or sys_id) of new incidents, unless a policy names another.
    #[serde(default)]
    pub assignment_group: Option<String>,
    /// Urgency and impact ("1" high, "2" medium, "3" low) for each severity.
    #[serde(default = "default_servicenow_priorities")]
    pub priorities: PriorityMap,
    /// `close_code` set on resolve; must be one of the instance's resolution codes.
    #[serde(default = "default_servicenow_close_code")]
    pub close_code: String,
    /// Incident `state` value meaning Resolved (6 on a stock instance).
    #[serde(default = "default_servicenow_resolved_state")]
    pub resolved_state: String,
    /// Timeout of each HTTP request, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

/// `kind = "jira"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraConfig {
    /// Site address, e.g. `https://example.atlassian.net` or `https://jira.example.com`.
    pub url: String,
    /// Jira Cloud: the account's e-mail, used with `token` (an API token) for basic
    /// auth. Omit for Data Center, where `token` is a personal access token.
    #[serde(default)]
    pub email: Option<String>,
    /// API token (Cloud) or personal access token (Data Center).
    pub token: SecretSource,
    /// Project key new issues go to, unless a policy names another.
    pub project: String,
    /// Issue type of new issues (e.g. "Task", or a service desk's "IT Help").
    #[serde(default = "default_jira_issue_type")]
    pub issue_type: String,
    /// Name of the workflow transition that resolves an issue.
    #[serde(default = "default_jira_resolve_transition")]
    pub resolve_transition: String,
    /// Priority name for each severity.
    #[serde(default = "default_jira_priorities")]
    pub priorities: PriorityMap,
    /// Jira Cloud (true) or Data Center / Server (false): they search at different endpoints.
    #[serde(default = "default_true")]
    pub cloud: bool,
    /// Timeout of each HTTP request, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

/// `kind = "zendesk"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZendeskConfig {
    /// Account address, e.g. `https://example.zendesk.com`.
    pub url: String,
    /// E-mail of the agent the collector acts as.
    pub email: String,
    /// That agent's API token.
    pub token: SecretSource,
    /// Group id new tickets are assigned to, unless a policy names another (by id).
    #[serde(default)]
    pub group_id: Option<u64>,
    /// Zendesk priority ("urgent", "high", "normal", "low") for each severity.
    #[serde(default = "default_zendesk_priorities")]
    pub priorities: PriorityMap,
    /// Timeout of each HTTP request, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

/// `kind = "freshservice"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreshserviceConfig {
    /// Helpdesk address, e.g. `https://example.freshservice.com`.
    pub url: String,
    /// API key of the agent the collector acts as (Profile settings > API key).
    pub api_key: SecretSource,
    /// Requester of new tickets (a Freshservice requester or agent e-mail).
    pub requester_email: String,
    /// Group id new tickets are assigned to, unless a policy names another (by id).
    #[serde(default)]
    pub group_id: Option<u64>,
    /// Priority (1 low, 2 medium, 3 high, 4 urgent) for each severity.
    #[serde(default = "default_freshservice_priorities")]
    pub priorities: PriorityMap,
    /// Timeout of each HTTP request, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

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

/// `kind = "email"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// SMTP relay host name (also the name its TLS certificate must carry).
    pub smtp_host: String,
    /// SMTP port: 587 for STARTTLS, 465 for implicit TLS.
    #[serde(default = "default_smtp_port")]
    pub smtp_port: u16,
    /// "starttls" (required, no fallback), "tls" (implicit) or "none" (loopback relays only).
    #[serde(default)]
    pub tls: EmailTls,
    /// PEM file of an extra CA to trust for the relay (an internal CA).
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// SMTP user name, if the relay wants authentication.
    #[serde(default)]
    pub username: Option<String>,
    /// SMTP password; required with `username`.
    #[serde(default)]
    pub password: Option<SecretSource>,
    /// Sender, e.g. `Forewarn <forewarn@example.com>`.
    pub from: String,
    /// Recipients, e.g. the help desk's intake address.
    pub to: Vec<String>,
    /// Timeout of each SMTP session, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTls {
    #[default]
    Starttls,
    Tls,
    None,
}

/// `kind = "slack"` or `kind = "teams"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatConfig {
    /// The incoming-webhook URL; it carries its own credential, so it is a secret.
    pub url: SecretSource,
    /// Timeout of each HTTP request, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

/// The target system's priority value for each severity.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityMap {
    pub critical: String,
    pub warning: String,
    pub info: String,
}

impl PriorityMap {
    pub fn for_severity(&self, severity: Severity) -> &str {
        match severity {
            Severity::Critical => &self.critical,
            Severity::Warning => &self.warning,
            Severity::Info => &self.info,
        }
    }
}

/// What a policy does with a matching alert.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyAction {
    /// Open a ticket, comment on changes, resolve on recovery.
    #[default]
    Open,
    /// Send a notification, no ticket.
    Notify,
    /// Do nothing (to exempt alerts from a later, broader policy).
    Ignore,
}

/// `[[tickets.policies]]`: which alerts, and what to do with them. Empty lists match anything.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketPolicy {
    /// Check kinds this policy applies to ("disks", "certificates", "patches", "backups").
    #[serde(default)]
    pub checks: Vec<String>,
    /// Rule names this policy applies to.
    #[serde(default)]
    pub rules: Vec<String>,
    /// Severities this policy applies to.
    #[serde(default)]
    pub severities: Vec<Severity>,
    /// Device groups this policy applies to.
    #[serde(default)]
    pub groups: Vec<String>,
    /// "open" a ticket, only "notify", or "ignore".
    #[serde(default)]
    pub action: PolicyAction,
    /// Connector to use; may be omitted when exactly one connector is configured.
    #[serde(default)]
    pub connector: Option<String>,
    /// Queue, project or assignment group; default: the connector's own.
    #[serde(default)]
    pub destination: Option<String>,
    /// Priority per severity in the target system's terms; default: the connector's map.
    #[serde(default)]
    pub priorities: Option<PriorityMap>,
    /// Ticket subject; placeholders: see `template::PLACEHOLDERS`.
    #[serde(default = "default_subject_template")]
    pub subject_template: String,
    /// Ticket body; same placeholders.
    #[serde(default = "default_body_template")]
    pub body_template: String,
    /// Labels or tags put on the ticket.
    #[serde(default = "default_labels")]
    pub labels: Vec<String>,
    /// Resolve the ticket when the alert clears, unless a technician has already
    /// replied, reassigned it or changed its status.
    #[serde(default = "default_true")]
    pub resolve_on_recovery: bool,
    /// Alerts of one device within this many seconds share one ticket (0: one ticket per alert).
    #[serde(default)]
    pub group_window_secs: u64,
}

impl Default for TicketPolicy {
    fn default() -> Self {
        Self {
            checks: Vec::new(),
            rules: Vec::new(),
            severities: Vec::new(),
            groups: Vec::new(),
            action: PolicyAction::Open,
            connector: None,
            destination: None,
            priorities: None,
            subject_template: default_subject_template(),
            body_template: default_body_template(),
            labels: default_labels(),
            resolve_on_recovery: true,
            group_window_secs: 0,
        }
    }
}

/// Where a secret is read from: exactly one of `env` or `file`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// Name of an environment variable holding the secret.
    #[serde(default)]
    pub env: Option<String>,
    /// File holding the secret (trailing newlines are ignored).
    #[serde(default)]
    pub file: Option<PathBuf>,
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretSource")
            .field("env", &self.env)
            .field("file", &self.file)
            .finish()
    }
}

/// A secret's value. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {name} is not set")]
    EnvMissing { name: String },
    #[error("cannot read secret file {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("secret is empty")]
    Empty,
    #[error("name exactly one of `env` or `file`")]
    Ambiguous,
}

impl SecretSource {
    pub fn load(&self) -> Result<Secret, SecretError> {
        let value = match (&self.env, &self.file) {
            (Some(name), None) => {
                std::env::var(name).map_err(|_| SecretError::EnvMissing { name: name.clone() })?
            }
            (None, Some(path)) => {
                std::fs::read_to_string(path).map_err(|source| SecretError::File {
                    path: path.clone(),
                    source,
                })?
            }
            _ => return Err(SecretError::Ambiguous),
        };
        let value = value.trim_end_matches(['\r', '\n']);
        if value.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Secret(value.to_string()))
    }

    fn problem(&self, key: &str) -> Option<String> {
        match (&self.env, &self.file) {
            (Some(_), None) | (None, Some(_)) => None,
            _ => Some(format!("{key}: name exactly one of `env` or `file`")),
        }
    }
}

/// Errors building a connector from its config.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("tickets.connectors.{name}.{field}: {source}")]
    Secret {
        name: String,
        field: &'static str,
        #[source]
        source: SecretError,
    },
    #[error("tickets.connectors.{name}: {source}")]
    Client {
        name: String,
        #[source]
        source: ConnectorError,
    },
}

impl ConnectorConfig {
    /// Reads the secrets and builds the connector.
    pub fn build(&self, name: &str) -> Result<Box<dyn Connector>, BuildError> {
        let secret = |field: &'static str, source: &SecretSource| {
            source.load().map_err(|source| BuildError::Secret {
                name: name.into(),
                field,
                source,
            })
        };
        let client = |source| BuildError::Client {
            name: name.into(),
            source,
        };
        Ok(match self {
            ConnectorConfig::RequestTracker(c) => {
                Box::new(RequestTracker::new(c, secret("token", &c.token)?).map_err(client)?)
            }
            ConnectorConfig::Servicenow(c) => {
                Box::new(ServiceNow::new(c, secret("password", &c.password)?).map_err(client)?)
            }
            ConnectorConfig::Jira(c) => {
                Box::new(Jira::new(c, secret("token", &c.token)?).map_err(client)?)
            }
            ConnectorConfig::Zendesk(c) => {
                Box::new(Zendesk::new(c, secret("token", &c.token)?).map_err(client)?)
            }
            ConnectorConfig::Freshservice(c) => {
                Box::new(Freshservice::new(c, secret("api_key", &c.api_key)?).map_err(client)?)
            }
            ConnectorConfig::Webhook(c) => {
                Box::new(Webhook::new(c, secret("secret", &c.secret)?).map_err(client)?)
            }
            ConnectorConfig::Email(c) => {
                let password = match &c.password {
                    Some(p) => Some(secret("password", p)?),
                    None => None,
                };
                Box::new(Email::new(c, password).map_err(client)?)
            }
            ConnectorConfig::Slack(c) => Box::new(
                ChatWebhook::new(ChatService::Slack, c, secret("url", &c.url)?).map_err(client)?,
            ),
            ConnectorConfig::Teams(c) => Box::new(
                ChatWebhook::new(ChatService::Teams, c, secret("url", &c.url)?).map_err(client)?,
            ),
        })
    }

    /// The connector's own priority map, used when a policy has none.
    pub fn priorities(&self) -> Option<&PriorityMap> {
        match self {
            ConnectorConfig::RequestTracker(c) => Some(&c.priorities),
            ConnectorConfig::Servicenow(c) => Some(&c.priorities),
            ConnectorConfig::Jira(c) => Some(&c.priorities),
            ConnectorConfig::Zendesk(c) => Some(&c.priorities),
            ConnectorConfig::Freshservice(c) => Some(&c.priorities),
            ConnectorConfig::Webhook(_)
            | ConnectorConfig::Email(_)
            | ConnectorConfig::Slack(_)
            | ConnectorConfig::Teams(_) => None,
        }
    }

    /// Whether the system keeps tickets (as opposed to notify-only channels).
    pub fn keeps_tickets(&self) -> bool {
        !matches!(
            self,
            ConnectorConfig::Webhook(_) | ConnectorConfig::Slack(_) | ConnectorConfig::Teams(_)
        )
    }

    fn problems(&self, key: &str, problems: &mut Vec<String>) {
        let mut url = |field: &str, value: &str| {
            if !(value.starts_with("https://") || value.starts_with("http://")) {
                problems.push(format!(
                    "{key}.{field}: {value:?} is not an http:// or https:// address"
                ));
            }
        };
        let (timeout_secs, secret) = match self {
            ConnectorConfig::RequestTracker(c) => {
                url("url", &c.url);
                if c.queue.trim().is_empty() {
                    problems.push(format!("{key}.queue: must name a queue"));
                }
                if c.correlation_field.trim().is_empty() {
                    problems.push(format!("{key}.correlation_field: must name a custom field"));
                }
                (c.timeout_secs, c.token.problem(&format!("{key}.token")))
            }
            ConnectorConfig::Servicenow(c) => {
                url("instance_url", &c.instance_url);
                if c.username.trim().is_empty() {
                    problems.push(format!("{key}.username: must not be empty"));
                }
                (
                    c.timeout_secs,
                    c.password.problem(&format!("{key}.password")),
                )
            }
            ConnectorConfig::Jira(c) => {
                url("url", &c.url);
                if c.project.trim().is_empty() {
                    problems.push(format!("{key}.project: must name a project key"));
                }
                (c.timeout_secs, c.token.problem(&format!("{key}.token")))
            }
            ConnectorConfig::Zendesk(c) => {
                url("url", &c.url);
                if !c.email.contains('@') {
                    problems.push(format!(
                        "{key}.email: {:?} is not an e-mail address",
                        c.email
                    ));
                }
                (c.timeout_secs, c.token.problem(&format!("{key}.token")))
            }
            ConnectorConfig::Freshservice(c) => {
                url("url", &c.url);
                if !c.requester_email.contains('@') {
                    problems.push(format!(
                        "{key}.requester_email: {:?} is not an e-mail address",
                        c.requester_email
                    ));
                }
                for (severity, value) in [
                    ("critical", &c.priorities.critical),
                    ("warning", &c.priorities.warning),
                    ("info", &c.priorities.info),
                ] {
                    if !matches!(value.as_str(), "1" | "2" | "3" | "4") {
                        problems.push(format!(
                            "{key}.priorities.{severity}: {value:?} is not 1, 2, 3 or 4"
                        ));
                    }
                }
                (c.timeout_secs, c.api_key.problem(&format!("{key}.api_key")))
            }
            ConnectorConfig::Webhook(c) => {
                url("url", &c.url);
                (c.timeout_secs, c.secret.problem(&format!("{key}.secret")))
            }
            ConnectorConfig::Slack(c) | ConnectorConfig::Teams(c) => {
                (c.timeout_secs, c.url.problem(&format!("{key}.url")))
            }
            ConnectorConfig::Email(c) => {
                if c.to.is_empty() {
                    problems.push(format!("{key}.to: name at least one recipient"));
                }
                if c.username.is_some() != c.password.is_some() {
                    problems.push(format!(
                        "{key}.password: give both username and password, or neither"
                    ));
                }
                (
                    c.timeout_secs,
                    c.password
                        .as_ref()
                        .and_then(|p| p.problem(&format!("{key}.password"))),
                )
            }
        };
        problems.extend(secret);
        if !(1..=300).contains(&timeout_secs) {
            problems.push(format!(
                "{key}.timeout_secs: {timeout_secs} is outside 1..=300"
            ));
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(match self {
            ConnectorConfig::RequestTracker(c) => c.timeout_secs,
            ConnectorConfig::Servicenow(c) => c.timeout_secs,
            ConnectorConfig::Jira(c) => c.timeout_secs,
            ConnectorConfig::Zendesk(c) => c.timeout_secs,
            ConnectorConfig::Freshservice(c) => c.timeout_secs,
            ConnectorConfig::Webhook(c) => c.timeout_secs,
            ConnectorConfig::Slack(c) | ConnectorConfig::Teams(c) => c.timeout_secs,
            ConnectorConfig::Email(c) => c.timeout_secs,
        })
    }
}

/// Where an alert goes, once a policy matched it.
#[derive(Debug, Clone, Copy)]
pub struct PolicyMatch<'a> {
    pub policy: &'a TicketPolicy,
    pub connector_name: &'a str,
    pub connector: &'a ConnectorConfig,
}

impl TicketsConfig {
    /// Makes relative secret and CA file paths relative to `base` (the config
    /// file's directory), so a service does not depend on its working directory.
    pub fn resolve_paths(&mut self, base: &std::path::Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        let resolve_secret = |s: &mut SecretSource| {
            if let Some(file) = &mut s.file {
                resolve(file);
            }
        };
        for connector in self.connectors.values_mut() {
            match connector {
                ConnectorConfig::RequestTracker(c) => resolve_secret(&mut c.token),
                ConnectorConfig::Servicenow(c) => resolve_secret(&mut c.password),
                ConnectorConfig::Jira(c) => resolve_secret(&mut c.token),
                ConnectorConfig::Zendesk(c) => resolve_secret(&mut c.token),
                ConnectorConfig::Freshservice(c) => resolve_secret(&mut c.api_key),
                ConnectorConfig::Webhook(c) => resolve_secret(&mut c.secret),
                ConnectorConfig::Slack(c) | ConnectorConfig::Teams(c) => resolve_secret(&mut c.url),
                ConnectorConfig::Email(c) => {
                    if let Some(password) = &mut c.password {
                        resolve_secret(password);
                    }
                    if let Some(ca) = &mut c.tls_ca_file {
                        resolve(ca);
                    }
                }
            }
        }
    }

    /// Every problem in this section, each naming its key (`tickets.…`).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(url) = &self.dashboard_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            problems.push(format!(
                "tickets.dashboard_url: {url:?} is not an http:// or https:// address"
            ));
        }
        for (name, connector) in &self.connectors {
            connector.problems(&format!("tickets.connectors.{name}"), &mut problems);
        }
        for (key, value, range) in [
            ("poll_interval_ms", self.poll_interval_ms, 10..=60_000),
            ("lease_secs", self.lease_secs, 1..=3600),
            ("min_retry_secs", self.min_retry_secs, 1..=3600),
            ("max_retry_secs", self.max_retry_secs, 1..=86_400),
            (
                "max_delivery_age_secs",
                self.max_delivery_age_secs,
                1..=7 * 86_400,
            ),
            (
                "delivered_retention_days",
                self.delivered_retention_days,
                1..=3650,
            ),
        ] {
            if !range.contains(&value) {
                problems.push(format!(
                    "tickets.{key}: {value} is outside {}..={}",
                    range.start(),
                    range.end()
                ));
            }
        }
        if self.max_retry_secs < self.min_retry_secs {
            problems.push(format!(
                "tickets.max_retry_secs: {} is below min_retry_secs ({})",
                self.max_retry_secs, self.min_retry_secs
            ));
        }
        // Without connectors, ticketing is off and the (default) policies are unused.
        if self.connectors.is_empty() {
            return problems;
        }
        for (i, policy) in self.policies.iter().enumerate() {
            let key = format!("tickets.policies[{i}]");
            for (field, text) in [
                ("subject_template", &policy.subject_template),
                ("body_template", &policy.body_template),
            ] {
                if let Err(e) = template::check(text) {
                    problems.push(format!("{key}.{field}: {e}"));
                }
            }
            for check in &policy.checks {
                if !crate::config::CHECK_NAMES.contains(&check.as_str()) {
                    problems.push(format!(
                        "{key}.checks: unknown check {check:?} (known: {})",
                        crate::config::CHECK_NAMES.join(", ")
                    ));
                }
            }
            if policy.action == PolicyAction::Ignore {
                continue;
            }
            match self.connector_for(policy) {
                Err(problem) => problems.push(format!("{key}.connector: {problem}")),
                Ok((_, connector)) => {
                    if policy.action == PolicyAction::Open && !connector.keeps_tickets() {
                        problems.push(format!(
                            "{key}.action: \"open\" needs a ticket system; this connector only notifies (use action = \"notify\")"
                        ));
                    }
                }
            }
        }
        problems
    }

    fn connector_for<'a>(
        &'a self,
        policy: &'a TicketPolicy,
    ) -> Result<(&'a str, &'a ConnectorConfig), String> {
        match &policy.connector {
            Some(name) => self
                .connectors
                .get_key_value(name)
                .map(|(k, v)| (k.as_str(), v))
                .ok_or_else(|| {
                    format!(
                        "no connector named {name:?} (configured: {})",
                        self.connectors
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }),
            None if self.connectors.len() == 1 => self
                .connectors
                .iter()
                .next()
                .map(|(k, v)| (k.as_str(), v))
                .ok_or_else(|| "no connector configured".to_string()),
            None => Err("several connectors are configured; name one".into()),
        }
    }

    /// The first policy matching an alert, with its connector; `None` when no
    /// policy matches or the matching one says "ignore".
    pub fn policy_for(
        &self,
        check: &str,
        rule: &str,
        severity: Severity,
        group: &str,
    ) -> Option<PolicyMatch<'_>> {
        let matches =
            |list: &[String], value: &str| list.is_empty() || list.iter().any(|x| x == value);
        let policy = self.policies.iter().find(|p| {
            matches(&p.checks, check)
                && matches(&p.rules, rule)
                && matches(&p.groups, group)
                && (p.severities.is_empty() || p.severities.contains(&severity))
        })?;
        if policy.action == PolicyAction::Ignore {
            return None;
        }
        let (connector_name, connector) = self.connector_for(policy).ok()?;
        Some(PolicyMatch {
            policy,
            connector_name,
            connector,
        })
    }
}

impl PolicyMatch<'_> {
    /// The ticket request for an alert under this policy.
    pub fn request(&self, alert: &AlertSummary) -> Result<TicketRequest, template::TemplateError> {
        let priority = self
            .policy
            .priorities
            .as_ref()
            .or(self.connector.priorities())
            .map(|map| map.for_severity(alert.severity).to_string())
            .unwrap_or_else(|| alert.severity.to_string());
        Ok(TicketRequest {
            correlation_key: alert.correlation_key.clone(),
            subject: template::render(&self.policy.subject_template, alert)?,
            body: template::render(&self.policy.body_template, alert)?,
            severity: alert.severity,
            priority,
            destination: self.policy.destination.clone(),
            labels: self.policy.labels.clone(),
            device_url: alert.device_url.clone(),
        })
    }
}

fn default_rt_correlation_field() -> String {
    "AlertKey".into()
}
fn default_rt_resolved_status() -> String {
    "resolved".into()
}
fn default_rt_priorities() -> PriorityMap {
    PriorityMap {
        critical: "90".into(),
        warning: "50".into(),
        info: "10".into(),
    }
}
fn default_servicenow_priorities() -> PriorityMap {
    PriorityMap {
        critical: "1".into(),
        warning: "2".into(),
        info: "3".into(),
    }
}
fn default_servicenow_close_code() -> String {
    "Solved (Permanently)".into()
}
fn default_servicenow_resolved_state() -> String {
    "6".into()
}
fn default_jira_issue_type() -> String {
    "Task".into()
}
fn default_jira_resolve_transition() -> String {
    "Done".into()
}
fn default_jira_priorities() -> PriorityMap {
    PriorityMap {
        critical: "Highest".into(),
        warning: "Medium".into(),
        info: "Low".into(),
    }
}
fn default_zendesk_priorities() -> PriorityMap {
    PriorityMap {
        critical: "urgent".into(),
        warning: "normal".into(),
        info: "low".into(),
    }
}
fn default_freshservice_priorities() -> PriorityMap {
    PriorityMap {
        critical: "4".into(),
        warning: "2".into(),
        info: "1".into(),
    }
}
fn default_smtp_port() -> u16 {
    587
}
fn default_signature_header() -> String {
    "X-Forewarn-Signature".into()
}
fn default_timestamp_header() -> String {
    "X-Forewarn-Timestamp".into()
}
fn default_timeout_secs() -> u64 {
    10
}
fn default_subject_template() -> String {
    DEFAULT_SUBJECT.into()
}
fn default_body_template() -> String {
    DEFAULT_BODY.into()
}
fn default_labels() -> Vec<String> {
    vec!["forewarn".into()]
}
fn default_true() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TicketsConfig, toml::de::Error> {
        toml::from_str(text)
    }

    const RT: &str = r#"
[connectors.rt]
kind = "request_tracker"
url = "https://rt.example.com/rt"
token = { env = "FOREWARN_RT_TOKEN" }
queue = "Endpoint Alerts"
"#;

    #[test]
    fn minimal_request_tracker_config_is_valid_and_opens_backup_tickets() {
        let config = parse(RT).unwrap();
        assert_eq!(config.problems(), Vec::<String>::new());
        let m = config
            .policy_for("backups", "backup_failed", Severity::Critical, "laptops")
            .expect("backups open tickets by default");
        assert_eq!(m.connector_name, "rt");
        assert_eq!(m.policy.action, PolicyAction::Open);
        assert!(
            config
                .policy_for("disks", "disk_free", Severity::Critical, "laptops")
                .is_none()
        );
    }

    #[test]
    fn unknown_key_is_rejected() {
        let err = parse(&format!("{RT}quue = \"x\"\n")).unwrap_err();
        assert!(err.to_string().contains("quue"), "{err}");
    }

    #[test]
    fn secret_needs_exactly_one_source() {
        let config = parse(&RT.replace(
            r#"token = { env = "FOREWARN_RT_TOKEN" }"#,
            r#"token = { env = "A", file = "/b" }"#,
        ))
        .unwrap();
        assert_eq!(
            config.problems(),
            vec!["tickets.connectors.rt.token: name exactly one of `env` or `file`"]
        );
    }

    #[test]
    fn problems_name_their_keys() {
        let config = parse(
            r#"
dashboard_url = "forewarn.example"
[connectors.rt]
kind = "request_tracker"
url = "rt.example.com"
token = { file = "/run/secrets/rt" }
queue = ""
timeout_secs = 0
[connectors.hook]
kind = "webhook"
url = "https://hooks.example.com/x"
secret = { env = "HOOK_SECRET" }
[[policies]]
checks = ["backup"]
subject_template = "{host}"
[[policies]]
connector = "hook"
"#,
        )
        .unwrap();
        let problems = config.problems();
        for expected in [
            "tickets.dashboard_url:",
            "tickets.connectors.rt.url:",
            "tickets.connectors.rt.queue:",
            "tickets.connectors.rt.timeout_secs:",
            "tickets.policies[0].subject_template: unknown placeholder {host}",
            "tickets.policies[0].checks: unknown check \"backup\"",
            "tickets.policies[0].connector: several connectors are configured",
            "tickets.policies[1].action: \"open\" needs a ticket system",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(expected)),
                "{expected:?} not in {problems:#?}"
            );
        }
        assert_eq!(problems.len(), 8, "{problems:#?}");
    }

    #[test]
    fn policy_maps_severity_to_the_connectors_priority() {
        let config = parse(RT).unwrap();
        let m = config
            .policy_for("backups", "backup_failed", Severity::Warning, "laptops")
            .unwrap();
        let request = m.request(&template::tests::alert()).unwrap();
        // The test alert is critical.
        assert_eq!(request.priority, "90");
        assert_eq!(request.labels, vec!["forewarn"]);
        assert!(request.subject.starts_with("[critical] laptop-042"));
    }

    #[test]
    fn secret_is_read_from_a_file_and_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cr3t-value\n").unwrap();
        let source = SecretSource {
            env: None,
            file: Some(path),
        };
        let secret = source.load().unwrap();
        assert_eq!(secret.expose(), "s3cr3t-value");
        assert_eq!(format!("{secret:?}"), "***");
    }

    #[test]
    fn missing_secret_env_var_is_an_error_naming_it() {
        let source = SecretSource {
            env: Some("FOREWARN_TEST_SURELY_UNSET_VAR".into()),
            file: None,
        };
        let err = source.load().unwrap_err();
        assert!(err.to_string().contains("FOREWARN_TEST_SURELY_UNSET_VAR"));
    }
}
