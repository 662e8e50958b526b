//! Freshservice tickets through API v2 (`/api/v2/tickets`), basic auth with the
//! agent's API key as user name and `X` as password.
//!
//! - open: `POST /api/v2/tickets` with subject, description (HTML), requester
//!   e-mail, priority (1 low .. 4 urgent), status 2 (Open), tags (including
//!   `forewarn-<16 hex digits of the key's SHA-256>`, the correlation tag) and group;
//! - find_open: `GET /api/v2/tickets/filter?query="tag:'<tag>' AND (status:2 OR status:3)"`;
//! - comment: a private note (`POST /api/v2/tickets/{id}/notes`);
//! - resolve: a private note, then `PUT /api/v2/tickets/{id}` with status 4 (Resolved);
//! - worked_by_human: a responder (agent) is assigned, the status is no longer
//!   Open, or the ticket has a public conversation (a reply: the collector only
//!   writes private notes).
//!
//! Documented at <https://api.freshservice.com/v2/#tickets>.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use forewarn_secret::{Secret, SecretSource};
use reqwest::RequestBuilder;
use serde::Deserialize;
use serde_json::{Value, json};

use super::connector_config::{
    BuildError, ConnectorSettings, PriorityMap, built, check_http_url, check_secret, check_timeout,
    default_timeout_secs, load_secret,
};
use super::transport::HttpTransport;
use super::{Connector, ConnectorError, TicketRef, TicketRequest, correlation_tag};

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
    #[serde(default = "default_priorities")]
    pub priorities: PriorityMap,
    /// Timeout of each HTTP request, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_priorities() -> PriorityMap {
    PriorityMap {
        critical: "4".into(),
        warning: "2".into(),
        info: "1".into(),
    }
}

impl ConnectorSettings for FreshserviceConfig {
    fn problems(&self, key: &str, problems: &mut Vec<String>) {
        check_http_url(key, "url", &self.url, problems);
        if !self.requester_email.contains('@') {
            problems.push(format!(
                "{key}.requester_email: {:?} is not an e-mail address",
                self.requester_email
            ));
        }
        for (severity, value) in [
            ("critical", &self.priorities.critical),
            ("warning", &self.priorities.warning),
            ("info", &self.priorities.info),
        ] {
            if !matches!(value.as_str(), "1" | "2" | "3" | "4") {
                problems.push(format!(
                    "{key}.priorities.{severity}: {value:?} is not 1, 2, 3 or 4"
                ));
            }
        }
        check_secret(key, "api_key", &self.api_key, problems);
        check_timeout(key, self.timeout_secs, problems);
    }

    fn resolve_paths(&mut self, base: &Path) {
        self.api_key.resolve_path(base);
    }

    fn priorities(&self) -> Option<&PriorityMap> {
        Some(&self.priorities)
    }
}

impl FreshserviceConfig {
    /// Reads the API key and builds the connector named `name`.
    pub fn build(&self, name: &str) -> Result<Box<dyn Connector>, BuildError> {
        built(
            name,
            Freshservice::new(self, load_secret(name, "api_key", &self.api_key)?),
        )
    }
}

const SYSTEM: &str = "Freshservice";
const STATUS_OPEN: u64 = 2;
const STATUS_RESOLVED: u64 = 4;

#[derive(Debug)]
pub struct Freshservice {
    http: HttpTransport,
    base_url: String,
    api_key: Secret,
    requester_email: String,
    group_id: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct TicketEnvelope {
    ticket: TicketRecord,
}

#[derive(Debug, Deserialize)]
struct TicketList {
    #[serde(default)]
    tickets: Vec<TicketRecord>,
}

#[derive(Debug, Deserialize)]
struct TicketRecord {
    id: u64,
    #[serde(default)]
    status: u64,
    #[serde(default)]
    responder_id: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct Conversations {
    #[serde(default)]
    conversations: Vec<Conversation>,
}

#[derive(Debug, Deserialize)]
struct Conversation {
    #[serde(default)]
    private: bool,
}

/// Plain text as the HTML Freshservice expects in descriptions and notes.
pub fn plain_text_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\n', "<br>")
}

/// Filter query for the open ticket carrying a correlation key (quoted, as the API wants).
pub fn open_ticket_filter(key: &str) -> String {
    format!(
        "\"tag:'{}' AND (status:{STATUS_OPEN} OR status:3)\"",
        correlation_tag(key)
    )
}

/// The body of `POST /api/v2/tickets`.
pub fn ticket_body(
    request: &TicketRequest,
    requester_email: &str,
    default_group: Option<u64>,
) -> Result<Value, ConnectorError> {
    let priority: u64 = request
        .priority
        .parse()
        .map_err(|_| ConnectorError::Rejected {
            system: SYSTEM,
            status: None,
            message: format!(
                "priority {:?} is not a Freshservice priority (1 low, 2 medium, 3 high, 4 urgent)",
                request.priority
            ),
        })?;
    let mut description = plain_text_html(&request.body);
    if let Some(url) = &request.device_url {
        let url = plain_text_html(url);
        description.push_str(&format!(
            "<br><br>Device in Forewarn: <a href=\"{url}\">{url}</a>"
        ));
    }
    let mut tags = request.labels.clone();
    tags.push(correlation_tag(&request.correlation_key));
    let mut body = json!({
        "subject": request.subject,
        "description": description,
        "email": requester_email,
        "priority": priority,
        "status": STATUS_OPEN,
        "tags": tags,
    });
    let group = request
        .destination
        .as_deref()
        .and_then(|d| d.parse::<u64>().ok())
        .or(default_group);
    if let Some(group) = group {
        body["group_id"] = json!(group);
    }
    Ok(body)
}

fn ticket_id(ticket: &TicketRef) -> Result<u64, ConnectorError> {
    ticket.id.parse().map_err(|_| ConnectorError::Rejected {
        system: SYSTEM,
        status: None,
        message: format!("{:?} is not a Freshservice ticket id", ticket.id),
    })
}

impl Freshservice {
    pub fn new(config: &FreshserviceConfig, api_key: Secret) -> Result<Self, ConnectorError> {
        Ok(Self {
            http: HttpTransport::new(SYSTEM, Duration::from_secs(config.timeout_secs))?,
            base_url: config.url.trim_end_matches('/').to_string(),
            api_key,
            requester_email: config.requester_email.clone(),
            group_id: config.group_id,
        })
    }

    fn api(&self, path: &str) -> String {
        format!("{}/api/v2/{path}", self.base_url)
    }

    fn authed(&self, request: RequestBuilder) -> RequestBuilder {
        request.basic_auth(self.api_key.expose(), Some("X"))
    }

    fn ticket_ref(&self, id: u64) -> TicketRef {
        TicketRef {
            id: id.to_string(),
            url: Some(format!("{}/a/tickets/{id}", self.base_url)),
        }
    }
}

#[async_trait]
impl Connector for Freshservice {
    fn system(&self) -> &'static str {
        SYSTEM
    }

    async fn find_open(&self, correlation_key: &str) -> Result<Option<TicketRef>, ConnectorError> {
        let request = self
            .authed(self.http.client().get(self.api("tickets/filter")))
            .query(&[("query", open_ticket_filter(correlation_key))]);
        let list: TicketList = self.http.send_json(request).await?;
        Ok(list
            .tickets
            .into_iter()
            .map(|t| t.id)
            .min()
            .map(|id| self.ticket_ref(id)))
    }

    async fn open(&self, request: &TicketRequest) -> Result<TicketRef, ConnectorError> {
        let body = ticket_body(request, &self.requester_email, self.group_id)?;
        let http = self
            .authed(self.http.client().post(self.api("tickets")))
            .json(&body);
        let created: TicketEnvelope = self.http.send_json(http).await?;
        Ok(self.ticket_ref(created.ticket.id))
    }

    async fn comment(&self, ticket: &TicketRef, text: &str) -> Result<(), ConnectorError> {
        let path = format!("tickets/{}/notes", ticket_id(ticket)?);
        let request = self
            .authed(self.http.client().post(self.api(&path)))
            .json(&json!({ "body": plain_text_html(text), "private": true }));
        self.http.send(request).await.map(drop)
    }

    async fn resolve(&self, ticket: &TicketRef, text: &str) -> Result<(), ConnectorError> {
        self.comment(ticket, text).await?;
        let path = format!("tickets/{}", ticket_id(ticket)?);
        let request = self
            .authed(self.http.client().put(self.api(&path)))
            .json(&json!({ "status": STATUS_RESOLVED }));
        let _: TicketEnvelope = self.http.send_json(request).await?;
        Ok(())
    }

    async fn worked_by_human(&self, ticket: &TicketRef) -> Result<bool, ConnectorError> {
        let id = ticket_id(ticket)?;
        let request = self.authed(self.http.client().get(self.api(&format!("tickets/{id}"))));
        let record: TicketEnvelope = self.http.send_json(request).await?;
        if record.ticket.responder_id.is_some() || record.ticket.status != STATUS_OPEN {
            return Ok(true);
        }
        let request = self.authed(
            self.http
                .client()
                .get(self.api(&format!("tickets/{id}/conversations"))),
        );
        let conversations: Conversations = self.http.send_json(request).await?;
        Ok(conversations.conversations.iter().any(|c| !c.private))
    }

    async fn check_access(&self) -> Vec<String> {
        let request = self
            .authed(self.http.client().get(self.api("tickets")))
            .query(&[("per_page", "1")]);
        match self.http.send(request).await {
            Ok(_) => Vec::new(),
            Err(ConnectorError::Unauthorized { .. }) => vec![format!(
                "Freshservice at {} refused the API key: it is wrong, or its agent was deactivated",
                self.base_url
            )],
            Err(ConnectorError::Forbidden { .. }) => vec![
                "the API key's agent may not view tickets: give it an agent role with ticket access"
                    .into(),
            ],
            Err(e) => vec![format!(
                "cannot talk to Freshservice at {}: {e}",
                self.base_url
            )],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_becomes_escaped_html() {
        assert_eq!(
            plain_text_html("a < b & \"c\"\nnext"),
            "a &lt; b &amp; &quot;c&quot;<br>next"
        );
    }
}
