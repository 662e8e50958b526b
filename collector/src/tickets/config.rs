//! The `[tickets]` section of the collector config: which ticket systems exist
//! (`[tickets.connectors.NAME]`), which alerts open tickets or only notify
//! (`[[tickets.policies]]`, first match wins).
//!
//! Each connector owns its settings, their defaults, validation and `build`, in
//! its own file; [`ConnectorConfig`] only says which one a `kind` names and
//! delegates to it. Secrets are never written in the config itself: a
//! connector names where to read each one
//! ([`forewarn_secret::SecretSource`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::chat::{ChatConfig, ChatService};
pub use super::connector_config::BuildError;
use super::connector_config::{ConnectorSettings, PriorityMap};
use super::email::EmailConfig;
use super::freshservice::FreshserviceConfig;
use super::jira::JiraConfig;
use super::request_tracker::RequestTrackerConfig;
use super::servicenow::ServiceNowConfig;
use super::template::{self, DEFAULT_BODY, DEFAULT_SUBJECT};
use super::webhook::WebhookConfig;
use super::zendesk::ZendeskConfig;
use super::{AlertSummary, Connector, Severity, TicketRequest};
use forewarn_proto::CheckKind;

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
    /// alert no policy matches opens no ticket. Default: backup alerts go to the
    /// connector (the first, by name, that keeps tickets when there are several),
    /// as a ticket or, for a notify-only connector, as a notification.
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
        built_in: true,
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
    /// Set on the built-in default (no `[[tickets.policies]]` written): it fits
    /// whatever connectors are configured instead of being checked like a
    /// policy the user wrote. Never read from the config file.
    #[serde(skip)]
    pub built_in: bool,
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
            built_in: false,
        }
    }
}

impl ConnectorConfig {
    /// The settings of whichever connector this is.
    pub fn settings(&self) -> &dyn ConnectorSettings {
        match self {
            Self::RequestTracker(c) => c,
            Self::Servicenow(c) => c,
            Self::Jira(c) => c,
            Self::Zendesk(c) => c,
            Self::Freshservice(c) => c,
            Self::Webhook(c) => c,
            Self::Email(c) => c,
            Self::Slack(c) | Self::Teams(c) => c,
        }
    }

    fn settings_mut(&mut self) -> &mut dyn ConnectorSettings {
        match self {
            Self::RequestTracker(c) => c,
            Self::Servicenow(c) => c,
            Self::Jira(c) => c,
            Self::Zendesk(c) => c,
            Self::Freshservice(c) => c,
            Self::Webhook(c) => c,
            Self::Email(c) => c,
            Self::Slack(c) | Self::Teams(c) => c,
        }
    }

    /// Reads the secrets and builds the connector named `name`.
    pub fn build(&self, name: &str) -> Result<Box<dyn Connector>, BuildError> {
        match self {
            Self::RequestTracker(c) => c.build(name),
            Self::Servicenow(c) => c.build(name),
            Self::Jira(c) => c.build(name),
            Self::Zendesk(c) => c.build(name),
            Self::Freshservice(c) => c.build(name),
            Self::Webhook(c) => c.build(name),
            Self::Email(c) => c.build(name),
            Self::Slack(c) => c.build(ChatService::Slack, name),
            Self::Teams(c) => c.build(ChatService::Teams, name),
        }
    }

    /// The connector's own priority map, used when a policy has none.
    pub fn priorities(&self) -> Option<&PriorityMap> {
        self.settings().priorities()
    }

    /// Whether the system keeps tickets (as opposed to notify-only channels).
    pub fn keeps_tickets(&self) -> bool {
        self.settings().keeps_tickets()
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
    pub fn resolve_paths(&mut self, base: &Path) {
        for connector in self.connectors.values_mut() {
            connector.settings_mut().resolve_paths(base);
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
            connector
                .settings()
                .problems(&format!("tickets.connectors.{name}"), &mut problems);
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
                if !CheckKind::NAMES.contains(&check.as_str()) {
                    problems.push(format!(
                        "{key}.checks: unknown check {check:?} (known: {})",
                        CheckKind::NAMES.join(", ")
                    ));
                }
            }
            // The built-in default fits the connectors; only what the user wrote is checked.
            if policy.action == PolicyAction::Ignore || policy.built_in {
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
            None if policy.built_in => self
                .connectors
                .iter()
                .find(|(_, c)| c.keeps_tickets())
                .or_else(|| self.connectors.iter().next())
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
    fn built_in_policy_fits_the_configured_connectors() {
        let webhook_only = parse(
            r#"
[connectors.hook]
kind = "webhook"
url = "https://hooks.example.com/x"
secret = { env = "HOOK_SECRET" }
"#,
        )
        .unwrap();
        assert_eq!(webhook_only.problems(), Vec::<String>::new());
        let m = webhook_only
            .policy_for("backups", "backup_failed", Severity::Critical, "laptops")
            .unwrap();
        assert_eq!(m.connector_name, "hook");

        let both = parse(&format!(
            "{RT}[connectors.a_hook]\nkind = \"webhook\"\nurl = \"https://hooks.example.com/x\"\nsecret = {{ env = \"HOOK_SECRET\" }}\n"
        ))
        .unwrap();
        assert_eq!(both.problems(), Vec::<String>::new());
        let m = both
            .policy_for("backups", "backup_failed", Severity::Critical, "laptops")
            .unwrap();
        assert!(m.connector.keeps_tickets(), "{}", m.connector_name);

        // A policy the user wrote is still checked.
        let written = parse(
            r#"
[connectors.hook]
kind = "webhook"
url = "https://hooks.example.com/x"
secret = { env = "HOOK_SECRET" }
[[policies]]
checks = ["backups"]
"#,
        )
        .unwrap();
        assert!(
            written
                .problems()
                .iter()
                .any(|p| p.contains("needs a ticket system")),
            "{:?}",
            written.problems()
        );
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
}
