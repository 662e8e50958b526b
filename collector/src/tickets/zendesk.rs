//! Zendesk Support tickets (`/api/v2/tickets`), API token authentication
//! (`{email}/token:{api_token}` as basic auth).
//!
//! - open: `POST /api/v2/tickets.json` with subject, a first comment (internal),
//!   priority, tags, group and `external_id` = the alert's correlation key;
//! - find_open: `GET /api/v2/tickets.json?external_id=<key>`, keeping tickets
//!   that are not solved or closed;
//! - comment: `PUT /api/v2/tickets/{id}.json` with an internal comment;
//! - resolve: the same with `status = "solved"`;
//! - worked_by_human: an assignee, a status other than new/open, or a comment by
//!   anyone other than the ticket's submitter (the collector's user).
//!
//! Documented at <https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/>.

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
use super::{Connector, ConnectorError, TicketRef, TicketRequest};

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
    #[serde(default = "default_priorities")]
    pub priorities: PriorityMap,
    /// Timeout of each HTTP request, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_priorities() -> PriorityMap {
    PriorityMap {
        critical: "urgent".into(),
        warning: "normal".into(),
        info: "low".into(),
    }
}

impl ConnectorSettings for ZendeskConfig {
    fn problems(&self, key: &str, problems: &mut Vec<String>) {
        check_http_url(key, "url", &self.url, problems);
        if !self.email.contains('@') {
            problems.push(format!(
                "{key}.email: {:?} is not an e-mail address",
                self.email
            ));
        }
        check_secret(key, "token", &self.token, problems);
        check_timeout(key, self.timeout_secs, problems);
    }

    fn resolve_paths(&mut self, base: &Path) {
        self.token.resolve_path(base);
    }

    fn priorities(&self) -> Option<&PriorityMap> {
        Some(&self.priorities)
    }
}

impl ZendeskConfig {
    /// Reads the API token and builds the connector named `name`.
    pub fn build(&self, name: &str) -> Result<Box<dyn Connector>, BuildError> {
        built(
            name,
            Zendesk::new(self, load_secret(name, "token", &self.token)?),
        )
    }
}

const SYSTEM: &str = "Zendesk";

#[derive(Debug)]
pub struct Zendesk {
    http: HttpTransport,
    base_url: String,
    email: String,
    token: Secret,
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
    status: String,
    #[serde(default)]
    assignee_id: Option<u64>,
    #[serde(default)]
    submitter_id: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct CommentList {
    #[serde(default)]
    comments: Vec<CommentRecord>,
}

#[derive(Debug, Deserialize)]
struct CommentRecord {
    author_id: u64,
}

/// The body of `POST /api/v2/tickets.json`.
pub fn ticket_body(request: &TicketRequest, default_group: Option<u64>) -> Value {
    let mut body = request.body.clone();
    if let Some(url) = &request.device_url {
        body.push_str(&format!("\n\nDevice in Forewarn: {url}"));
    }
    let mut ticket = json!({
        "subject": request.subject,
        "comment": { "body": body, "public": false },
        "priority": request.priority,
        "tags": request.labels,
        "external_id": request.correlation_key,
    });
    let group = request
        .destination
        .as_deref()
        .and_then(|d| d.parse::<u64>().ok())
        .or(default_group);
    if let Some(group) = group {
        ticket["group_id"] = json!(group);
    }
    json!({ "ticket": ticket })
}

fn is_open(status: &str) -> bool {
    !matches!(status, "solved" | "closed")
}

fn ticket_id(ticket: &TicketRef) -> Result<u64, ConnectorError> {
    ticket.id.parse().map_err(|_| ConnectorError::Rejected {
        system: SYSTEM,
        status: None,
        message: format!("{:?} is not a Zendesk ticket id", ticket.id),
    })
}

impl Zendesk {
    pub fn new(config: &ZendeskConfig, token: Secret) -> Result<Self, ConnectorError> {
        Ok(Self {
            http: HttpTransport::new(SYSTEM, Duration::from_secs(config.timeout_secs))?,
            base_url: config.url.trim_end_matches('/').to_string(),
            email: config.email.clone(),
            token,
            group_id: config.group_id,
        })
    }

    fn api(&self, path: &str) -> String {
        format!("{}/api/v2/{path}", self.base_url)
    }

    fn authed(&self, request: RequestBuilder) -> RequestBuilder {
        request
            .basic_auth(format!("{}/token", self.email), Some(self.token.expose()))
            .header("Accept", "application/json")
    }

    fn ticket_ref(&self, id: u64) -> TicketRef {
        TicketRef {
            id: id.to_string(),
            url: Some(format!("{}/agent/tickets/{id}", self.base_url)),
        }
    }

    async fn update(&self, ticket: &TicketRef, update: Value) -> Result<(), ConnectorError> {
        let path = format!("tickets/{}.json", ticket_id(ticket)?);
        let request = self
            .authed(self.http.client().put(self.api(&path)))
            .json(&json!({ "ticket": update }));
        let _: TicketEnvelope = self.http.send_json(request).await?;
        Ok(())
    }
}

#[async_trait]
impl Connector for Zendesk {
    fn system(&self) -> &'static str {
        SYSTEM
    }

    async fn find_open(&self, correlation_key: &str) -> Result<Option<TicketRef>, ConnectorError> {
        let request = self
            .authed(self.http.client().get(self.api("tickets.json")))
            .query(&[("external_id", correlation_key)]);
        let list: TicketList = self.http.send_json(request).await?;
        Ok(list
            .tickets
            .into_iter()
            .filter(|t| is_open(&t.status))
            .min_by_key(|t| t.id)
            .map(|t| self.ticket_ref(t.id)))
    }

    async fn open(&self, request: &TicketRequest) -> Result<TicketRef, ConnectorError> {
        let http = self
            .authed(self.http.client().post(self.api("tickets.json")))
            .json(&ticket_body(request, self.group_id));
        let created: TicketEnvelope = self.http.send_json(http).await?;
        Ok(self.ticket_ref(created.ticket.id))
    }

    async fn comment(&self, ticket: &TicketRef, text: &str) -> Result<(), ConnectorError> {
        self.update(
            ticket,
            json!({ "comment": { "body": text, "public": false } }),
        )
        .await
    }

    async fn resolve(&self, ticket: &TicketRef, text: &str) -> Result<(), ConnectorError> {
        self.update(
            ticket,
            json!({ "status": "solved", "comment": { "body": text, "public": false } }),
        )
        .await
    }

    async fn worked_by_human(&self, ticket: &TicketRef) -> Result<bool, ConnectorError> {
        let id = ticket_id(ticket)?;
        let request = self.authed(
            self.http
                .client()
                .get(self.api(&format!("tickets/{id}.json"))),
        );
        let record: TicketEnvelope = self.http.send_json(request).await?;
        let record = record.ticket;
        if record.assignee_id.is_some() || !matches!(record.status.as_str(), "new" | "open") {
            return Ok(true);
        }
        let request = self.authed(
            self.http
                .client()
                .get(self.api(&format!("tickets/{id}/comments.json"))),
        );
        let comments: CommentList = self.http.send_json(request).await?;
        Ok(comments
            .comments
            .iter()
            .any(|c| Some(c.author_id) != record.submitter_id))
    }

    async fn check_access(&self) -> Vec<String> {
        let request = self.authed(self.http.client().get(self.api("users/me.json")));
        match self.http.send_json::<Value>(request).await {
            Ok(me) => match me.pointer("/user/role").and_then(Value::as_str) {
                Some("admin" | "agent") => Vec::new(),
                Some(role) => vec![format!(
                    "{:?} is a Zendesk {role}; tickets need an agent or admin account",
                    self.email
                )],
                None => vec!["Zendesk did not say who this account is".into()],
            },
            Err(ConnectorError::Unauthorized { .. }) => vec![format!(
                "Zendesk at {} refused {:?} with its API token: the token is wrong or revoked, or token access is off (Admin Center > Apps and integrations > Zendesk API)",
                self.base_url, self.email
            )],
            Err(e) => vec![format!("cannot talk to Zendesk at {}: {e}", self.base_url)],
        }
    }
}
