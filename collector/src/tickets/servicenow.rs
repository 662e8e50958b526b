//! ServiceNow incidents through the Table API (`/api/now/table/incident`), basic auth.
//!
//! - open: `POST` with short_description, description, urgency and impact (both
//!   from the severity), assignment_group and `correlation_id` = the alert's key;
//! - find_open: `GET` with `sysparm_query=correlation_id=<key>^active=true`;
//! - comment: `PATCH` the incident's `work_notes` (internal, not mailed to the caller);
//! - resolve: `PATCH` state Resolved (6), close_code and close_notes;
//! - worked_by_human: the incident has an assignee, or left state New without us,
//!   or its journal (`sys_journal_field`) has an entry by another user.
//!
//! Documented at <https://developer.servicenow.com/dev.do#!/reference/api/xanadu/rest/c_TableAPI>.

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
    #[serde(default = "default_priorities")]
    pub priorities: PriorityMap,
    /// `close_code` set on resolve; must be one of the instance's resolution codes.
    #[serde(default = "default_close_code")]
    pub close_code: String,
    /// Incident `state` value meaning Resolved (6 on a stock instance).
    #[serde(default = "default_resolved_state")]
    pub resolved_state: String,
    /// Timeout of each HTTP request, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_priorities() -> PriorityMap {
    PriorityMap {
        critical: "1".into(),
        warning: "2".into(),
        info: "3".into(),
    }
}
fn default_close_code() -> String {
    "Solved (Permanently)".into()
}
fn default_resolved_state() -> String {
    "6".into()
}

impl ConnectorSettings for ServiceNowConfig {
    fn problems(&self, key: &str, problems: &mut Vec<String>) {
        check_http_url(key, "instance_url", &self.instance_url, problems);
        if self.username.trim().is_empty() {
            problems.push(format!("{key}.username: must not be empty"));
        }
        check_secret(key, "password", &self.password, problems);
        check_timeout(key, self.timeout_secs, problems);
    }

    fn resolve_paths(&mut self, base: &Path) {
        self.password.resolve_path(base);
    }

    fn priorities(&self) -> Option<&PriorityMap> {
        Some(&self.priorities)
    }
}

impl ServiceNowConfig {
    /// Reads the password and builds the connector named `name`.
    pub fn build(&self, name: &str) -> Result<Box<dyn Connector>, BuildError> {
        built(
            name,
            ServiceNow::new(self, load_secret(name, "password", &self.password)?),
        )
    }
}

const SYSTEM: &str = "ServiceNow";

/// Incident `state` New on a stock instance.
const STATE_NEW: &str = "1";

#[derive(Debug)]
pub struct ServiceNow {
    http: HttpTransport,
    instance_url: String,
    username: String,
    password: Secret,
    assignment_group: Option<String>,
    priorities: PriorityMap,
    close_code: String,
    resolved_state: String,
}

/// The Table API wraps every answer in `result`.
#[derive(Debug, Deserialize)]
struct Envelope<T> {
    result: T,
}

#[derive(Debug, Deserialize)]
struct IncidentRecord {
    sys_id: String,
}

#[derive(Debug, Deserialize)]
struct IncidentWork {
    #[serde(default)]
    state: String,
    /// Empty string when unassigned; a reference (`{link, value}`) otherwise.
    #[serde(default)]
    assigned_to: Value,
    #[serde(default)]
    sys_updated_by: String,
}

/// The `incident` body for a new ticket.
pub fn incident_body(request: &TicketRequest, default_group: Option<&str>) -> Value {
    let mut body = json!({
        "short_description": request.subject,
        "description": request.body,
        "urgency": request.priority,
        "impact": request.priority,
        "correlation_id": request.correlation_key,
        "correlation_display": "Forewarn",
    });
    if let Some(group) = request.destination.as_deref().or(default_group) {
        body["assignment_group"] = json!(group);
    }
    body
}

/// Encoded query for the open incident carrying a key. `^` separates terms in an
/// encoded query; a literal one is written `^^`.
pub fn open_incident_query(key: &str) -> String {
    format!("correlation_id={}^active=true", key.replace('^', "^^"))
}

fn is_sys_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

impl ServiceNow {
    pub fn new(config: &ServiceNowConfig, password: Secret) -> Result<Self, ConnectorError> {
        Ok(Self {
            http: HttpTransport::new(SYSTEM, Duration::from_secs(config.timeout_secs))?,
            instance_url: config.instance_url.trim_end_matches('/').to_string(),
            username: config.username.clone(),
            password,
            assignment_group: config.assignment_group.clone(),
            priorities: config.priorities.clone(),
            close_code: config.close_code.clone(),
            resolved_state: config.resolved_state.clone(),
        })
    }

    fn table(&self, path: &str) -> String {
        format!("{}/api/now/table/{path}", self.instance_url)
    }

    fn authed(&self, request: RequestBuilder) -> RequestBuilder {
        request
            .basic_auth(&self.username, Some(self.password.expose()))
            .header("Accept", "application/json")
    }

    fn ticket_ref(&self, record: IncidentRecord) -> TicketRef {
        let url = Some(format!(
            "{}/nav_to.do?uri=incident.do?sys_id={}",
            self.instance_url, record.sys_id
        ));
        TicketRef {
            id: record.sys_id,
            url,
        }
    }

    fn incident_path(&self, ticket: &TicketRef) -> Result<String, ConnectorError> {
        if is_sys_id(&ticket.id) {
            Ok(self.table(&format!("incident/{}", ticket.id)))
        } else {
            Err(ConnectorError::Rejected {
                system: SYSTEM,
                status: None,
                message: format!("{:?} is not a ServiceNow sys_id", ticket.id),
            })
        }
    }

    async fn patch(&self, ticket: &TicketRef, body: &Value) -> Result<(), ConnectorError> {
        let url = self.incident_path(ticket)?;
        let request = self.authed(self.http.client().patch(url)).json(body);
        let _: Envelope<IncidentRecord> = self.http.send_json(request).await?;
        Ok(())
    }
}

#[async_trait]
impl Connector for ServiceNow {
    fn system(&self) -> &'static str {
        SYSTEM
    }

    async fn find_open(&self, correlation_key: &str) -> Result<Option<TicketRef>, ConnectorError> {
        let query = open_incident_query(correlation_key);
        let request = self
            .authed(self.http.client().get(self.table("incident")))
            .query(&[
                (
                    "sysparm_query",
                    format!("{query}^ORDERBYsys_created_on").as_str(),
                ),
                ("sysparm_fields", "sys_id,number"),
                ("sysparm_limit", "1"),
            ]);
        let found: Envelope<Vec<IncidentRecord>> = self.http.send_json(request).await?;
        Ok(found.result.into_iter().next().map(|r| self.ticket_ref(r)))
    }

    async fn open(&self, request: &TicketRequest) -> Result<TicketRef, ConnectorError> {
        let mut request = request.clone();
        // The policy's priority is already in ServiceNow terms; fall back to our map
        // if a severity name reached us.
        if !matches!(request.priority.as_str(), "1" | "2" | "3") {
            request.priority = self.priorities.for_severity(request.severity).to_string();
        }
        let body = incident_body(&request, self.assignment_group.as_deref());
        let http = self
            .authed(self.http.client().post(self.table("incident")))
            .json(&body);
        let created: Envelope<IncidentRecord> = self.http.send_json(http).await?;
        Ok(self.ticket_ref(created.result))
    }

    async fn comment(&self, ticket: &TicketRef, text: &str) -> Result<(), ConnectorError> {
        self.patch(ticket, &json!({ "work_notes": text })).await
    }

    async fn resolve(&self, ticket: &TicketRef, text: &str) -> Result<(), ConnectorError> {
        self.patch(
            ticket,
            &json!({
                "state": self.resolved_state,
                "close_code": self.close_code,
                "close_notes": text,
            }),
        )
        .await
    }

    async fn worked_by_human(&self, ticket: &TicketRef) -> Result<bool, ConnectorError> {
        let url = self.incident_path(ticket)?;
        let request = self
            .authed(self.http.client().get(url))
            .query(&[("sysparm_fields", "state,assigned_to,sys_updated_by")]);
        let incident: Envelope<IncidentWork> = self.http.send_json(request).await?;
        let incident = incident.result;
        let assigned = match &incident.assigned_to {
            Value::String(s) => !s.is_empty(),
            Value::Object(o) => o
                .get("value")
                .and_then(Value::as_str)
                .is_some_and(|v| !v.is_empty()),
            _ => false,
        };
        if assigned || (incident.state != STATE_NEW && incident.sys_updated_by != self.username) {
            return Ok(true);
        }
        let journal_query = format!(
            "element_id={}^sys_created_by!={}",
            ticket.id,
            self.username.replace('^', "^^")
        );
        let request = self
            .authed(self.http.client().get(self.table("sys_journal_field")))
            .query(&[
                ("sysparm_query", journal_query.as_str()),
                ("sysparm_fields", "sys_id"),
                ("sysparm_limit", "1"),
            ]);
        let entries: Envelope<Vec<Value>> = self.http.send_json(request).await?;
        Ok(!entries.result.is_empty())
    }

    async fn check_access(&self) -> Vec<String> {
        let request = self
            .authed(self.http.client().get(self.table("incident")))
            .query(&[("sysparm_fields", "sys_id"), ("sysparm_limit", "1")]);
        match self.http.send_json::<Envelope<Vec<Value>>>(request).await {
            Ok(_) => Vec::new(),
            Err(ConnectorError::Unauthorized { .. }) => vec![format!(
                "ServiceNow at {} refused user {:?}: wrong password, locked account, or not a web-service user",
                self.instance_url, self.username
            )],
            Err(ConnectorError::Forbidden { .. }) => vec![format!(
                "user {:?} may not read incidents: give it the itil role (or ACLs to read, create and update incident)",
                self.username
            )],
            Err(ConnectorError::NotFound { .. }) => vec![format!(
                "{} has no Table API: check instance_url (e.g. https://example.service-now.com)",
                self.instance_url
            )],
            Err(e) => vec![format!(
                "cannot talk to ServiceNow at {}: {e}",
                self.instance_url
            )],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_query_escapes_carets() {
        assert_eq!(
            open_incident_query("dev^7/backup"),
            "correlation_id=dev^^7/backup^active=true"
        );
    }

    #[test]
    fn only_sys_ids_go_into_paths() {
        assert!(is_sys_id("46d44a5ea9fe198101a4a3c1f2a2cc7f"));
        assert!(!is_sys_id("../sys_user"));
    }
}
