//! Jira Software / Jira Service Management issues through the REST API v2
//! (plain-text descriptions and comments; v3 would need Atlassian Document Format).
//!
//! - open: `POST /rest/api/2/issue` in the configured project with issue type,
//!   priority (by name) and labels, plus a label derived from the correlation key
//!   (`forewarn-<16 hex digits of its SHA-256>`: labels cannot hold spaces, and a
//!   hash keeps every key usable);
//! - find_open: JQL `labels = "<that label>" AND statusCategory != Done`
//!   (Cloud: `GET /rest/api/2/search/jql`; Data Center: `GET /rest/api/2/search`);
//! - comment: `POST /rest/api/2/issue/{key}/comment`;
//! - resolve: the closing note as a comment, then the transition with the configured
//!   name (`GET`/`POST /rest/api/2/issue/{key}/transitions`);
//! - worked_by_human: an assignee, a status outside the "To Do" category, or a
//!   comment by anyone other than the issue's creator (the collector).
//!
//! Authentication: Cloud uses basic auth with an account e-mail and API token;
//! Data Center a personal access token as a bearer token.
//! Documented at <https://developer.atlassian.com/cloud/jira/platform/rest/v2/intro/>.

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
    #[serde(default = "default_issue_type")]
    pub issue_type: String,
    /// Name of the workflow transition that resolves an issue.
    #[serde(default = "default_resolve_transition")]
    pub resolve_transition: String,
    /// Priority name for each severity.
    #[serde(default = "default_priorities")]
    pub priorities: PriorityMap,
    /// Jira Cloud (true) or Data Center / Server (false): they search at different endpoints.
    #[serde(default = "default_true")]
    pub cloud: bool,
    /// Timeout of each HTTP request, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_issue_type() -> String {
    "Task".into()
}
fn default_resolve_transition() -> String {
    "Done".into()
}
fn default_priorities() -> PriorityMap {
    PriorityMap {
        critical: "Highest".into(),
        warning: "Medium".into(),
        info: "Low".into(),
    }
}
fn default_true() -> bool {
    true
}

impl ConnectorSettings for JiraConfig {
    fn problems(&self, key: &str, problems: &mut Vec<String>) {
        check_http_url(key, "url", &self.url, problems);
        if self.project.trim().is_empty() {
            problems.push(format!("{key}.project: must name a project key"));
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

impl JiraConfig {
    /// Reads the token and builds the connector named `name`.
    pub fn build(&self, name: &str) -> Result<Box<dyn Connector>, BuildError> {
        built(
            name,
            Jira::new(self, load_secret(name, "token", &self.token)?),
        )
    }
}

const SYSTEM: &str = "Jira";

/// Project permissions the collector needs (names from `GET /rest/api/2/permissions`).
const NEEDED_PERMISSIONS: &[(&str, &str)] = &[
    ("BROWSE_PROJECTS", "see the project's issues"),
    ("CREATE_ISSUES", "create issues"),
    ("ADD_COMMENTS", "comment"),
    ("TRANSITION_ISSUES", "transition issues"),
];

#[derive(Debug)]
pub struct Jira {
    http: HttpTransport,
    base_url: String,
    email: Option<String>,
    token: Secret,
    project: String,
    issue_type: String,
    resolve_transition: String,
    priorities: PriorityMap,
    cloud: bool,
}

/// JQL for the open issue carrying a correlation key.
pub fn open_issue_jql(project: &str, key: &str) -> String {
    format!(
        "project = \"{}\" AND labels = \"{}\" AND statusCategory != Done ORDER BY created ASC",
        project.replace('\\', "\\\\").replace('"', "\\\""),
        correlation_tag(key)
    )
}

/// The body of `POST /rest/api/2/issue`.
pub fn issue_body(request: &TicketRequest, project: &str, issue_type: &str) -> Value {
    let mut labels: Vec<String> = request
        .labels
        .iter()
        .map(|l| l.replace(char::is_whitespace, "_"))
        .collect();
    labels.push(correlation_tag(&request.correlation_key));
    let mut description = request.body.clone();
    if let Some(url) = &request.device_url {
        description.push_str(&format!("\n\nDevice in Forewarn: {url}"));
    }
    json!({
        "fields": {
            "project": { "key": request.destination.as_deref().unwrap_or(project) },
            "issuetype": { "name": issue_type },
            "summary": request.subject,
            "description": description,
            "priority": { "name": request.priority },
            "labels": labels,
        }
    })
}

#[derive(Debug, Deserialize)]
struct Created {
    key: String,
}

#[derive(Debug, Deserialize)]
struct SearchAnswer {
    #[serde(default)]
    issues: Vec<Created>,
}

#[derive(Debug, Deserialize)]
struct Transitions {
    transitions: Vec<Transition>,
}

#[derive(Debug, Deserialize)]
struct Transition {
    id: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct IssueWork {
    fields: IssueWorkFields,
}

#[derive(Debug, Deserialize)]
struct IssueWorkFields {
    #[serde(default)]
    assignee: Option<Value>,
    #[serde(default)]
    creator: Option<Value>,
    status: Value,
    #[serde(default)]
    comment: Option<Comments>,
}

#[derive(Debug, Deserialize)]
struct Comments {
    #[serde(default)]
    comments: Vec<CommentEntry>,
}

#[derive(Debug, Deserialize)]
struct CommentEntry {
    author: Value,
}

/// A user as Cloud (`accountId`) or Data Center (`name`) identifies it.
fn user_id(user: &Value) -> Option<&str> {
    user.get("accountId")
        .or_else(|| user.get("name"))
        .and_then(Value::as_str)
}

fn path_key(key: &str) -> Result<&str, ConnectorError> {
    let valid = key.split_once('-').is_some_and(|(project, number)| {
        !project.is_empty()
            && project
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !number.is_empty()
            && number.bytes().all(|b| b.is_ascii_digit())
    });
    if valid {
        Ok(key)
    } else {
        Err(ConnectorError::Rejected {
            system: SYSTEM,
            status: None,
            message: format!("{key:?} is not a Jira issue key"),
        })
    }
}

impl Jira {
    pub fn new(config: &JiraConfig, token: Secret) -> Result<Self, ConnectorError> {
        Ok(Self {
            http: HttpTransport::new(SYSTEM, Duration::from_secs(config.timeout_secs))?,
            base_url: config.url.trim_end_matches('/').to_string(),
            email: config.email.clone(),
            token,
            project: config.project.clone(),
            issue_type: config.issue_type.clone(),
            resolve_transition: config.resolve_transition.clone(),
            priorities: config.priorities.clone(),
            cloud: config.cloud,
        })
    }

    fn api(&self, path: &str) -> String {
        format!("{}/rest/api/2/{path}", self.base_url)
    }

    fn authed(&self, request: RequestBuilder) -> RequestBuilder {
        let request = request.header("Accept", "application/json");
        match &self.email {
            Some(email) => request.basic_auth(email, Some(self.token.expose())),
            None => request.bearer_auth(self.token.expose()),
        }
    }

    fn ticket_ref(&self, key: String) -> TicketRef {
        let url = Some(format!("{}/browse/{key}", self.base_url));
        TicketRef { id: key, url }
    }
}

#[async_trait]
impl Connector for Jira {
    fn system(&self) -> &'static str {
        SYSTEM
    }

    async fn find_open(&self, correlation_key: &str) -> Result<Option<TicketRef>, ConnectorError> {
        let jql = open_issue_jql(&self.project, correlation_key);
        let endpoint = if self.cloud { "search/jql" } else { "search" };
        let request = self
            .authed(self.http.client().get(self.api(endpoint)))
            .query(&[
                ("jql", jql.as_str()),
                ("fields", "key"),
                ("maxResults", "1"),
            ]);
        let answer: SearchAnswer = self.http.send_json(request).await?;
        Ok(answer
            .issues
            .into_iter()
            .next()
            .map(|issue| self.ticket_ref(issue.key)))
    }

    async fn open(&self, request: &TicketRequest) -> Result<TicketRef, ConnectorError> {
        let mut request = request.clone();
        if request.priority.is_empty() {
            request.priority = self.priorities.for_severity(request.severity).to_string();
        }
        let body = issue_body(&request, &self.project, &self.issue_type);
        let http = self
            .authed(self.http.client().post(self.api("issue")))
            .json(&body);
        let created: Created = self.http.send_json(http).await?;
        Ok(self.ticket_ref(created.key))
    }

    async fn comment(&self, ticket: &TicketRef, text: &str) -> Result<(), ConnectorError> {
        let path = format!("issue/{}/comment", path_key(&ticket.id)?);
        let request = self
            .authed(self.http.client().post(self.api(&path)))
            .json(&json!({ "body": text }));
        self.http.send(request).await.map(drop)
    }

    async fn resolve(&self, ticket: &TicketRef, text: &str) -> Result<(), ConnectorError> {
        self.comment(ticket, text).await?;
        let path = format!("issue/{}/transitions", path_key(&ticket.id)?);
        let request = self.authed(self.http.client().get(self.api(&path)));
        let available: Transitions = self.http.send_json(request).await?;
        let Some(transition) = available
            .transitions
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(&self.resolve_transition))
        else {
            return Err(ConnectorError::Rejected {
                system: SYSTEM,
                status: None,
                message: format!(
                    "issue {} has no transition named {:?} from its current status (available: {})",
                    ticket.id,
                    self.resolve_transition,
                    available
                        .transitions
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        };
        let request = self
            .authed(self.http.client().post(self.api(&path)))
            .json(&json!({ "transition": { "id": transition.id } }));
        self.http.send(request).await.map(drop)
    }

    async fn worked_by_human(&self, ticket: &TicketRef) -> Result<bool, ConnectorError> {
        let path = format!("issue/{}", path_key(&ticket.id)?);
        let request = self
            .authed(self.http.client().get(self.api(&path)))
            .query(&[("fields", "assignee,creator,status,comment")]);
        let issue: IssueWork = self.http.send_json(request).await?;
        let fields = issue.fields;
        if fields.assignee.as_ref().is_some_and(|a| !a.is_null()) {
            return Ok(true);
        }
        let category = fields
            .status
            .pointer("/statusCategory/key")
            .and_then(Value::as_str)
            .unwrap_or("new");
        if category != "new" {
            return Ok(true);
        }
        let creator = fields.creator.as_ref().and_then(user_id);
        Ok(fields
            .comment
            .map(|c| c.comments)
            .unwrap_or_default()
            .iter()
            .any(|c| user_id(&c.author) != creator))
    }

    async fn check_access(&self) -> Vec<String> {
        let request = self.authed(self.http.client().get(self.api("myself")));
        if let Err(e) = self.http.send(request).await {
            return vec![match e {
                ConnectorError::Unauthorized { .. } => match &self.email {
                    Some(email) => format!(
                        "Jira at {} refused {email:?} with its API token: the token is wrong or revoked, or the e-mail is not the token owner's",
                        self.base_url
                    ),
                    None => format!(
                        "Jira at {} refused the personal access token: it is wrong, expired or revoked",
                        self.base_url
                    ),
                },
                ConnectorError::NotFound { .. } => format!(
                    "{} has no Jira REST API: check the URL (e.g. https://example.atlassian.net)",
                    self.base_url
                ),
                e => format!("cannot talk to Jira at {}: {e}", self.base_url),
            }];
        }
        let permissions = NEEDED_PERMISSIONS
            .iter()
            .map(|(p, _)| *p)
            .collect::<Vec<_>>()
            .join(",");
        let request = self
            .authed(self.http.client().get(self.api("mypermissions")))
            .query(&[
                ("projectKey", self.project.as_str()),
                ("permissions", permissions.as_str()),
            ]);
        let answer: Value = match self.http.send_json(request).await {
            Ok(answer) => answer,
            Err(ConnectorError::NotFound { .. } | ConnectorError::Rejected { .. }) => {
                return vec![format!(
                    "project {:?} does not exist or this account cannot see it",
                    self.project
                )];
            }
            Err(e) => return vec![format!("cannot read permissions: {e}")],
        };
        NEEDED_PERMISSIONS
            .iter()
            .filter(|(name, _)| {
                answer
                    .pointer(&format!("/permissions/{name}/havePermission"))
                    .and_then(Value::as_bool)
                    != Some(true)
            })
            .map(|(name, what)| {
                format!(
                    "this account may not {what} in project {:?} (permission {name})",
                    self.project
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_label_is_stable_and_label_safe() {
        let label = correlation_tag("dev 7/backup failed");
        assert_eq!(label, correlation_tag("dev 7/backup failed"));
        assert_eq!(label.len(), "forewarn-".len() + 16);
        assert!(!label.contains(' '));
        assert_ne!(label, correlation_tag("dev 8/backup failed"));
    }

    #[test]
    fn jql_quotes_the_project() {
        assert!(
            open_issue_jql("O\"PS", "k")
                .starts_with("project = \"O\\\"PS\" AND labels = \"forewarn-")
        );
    }

    #[test]
    fn only_issue_keys_go_into_paths() {
        assert!(path_key("OPS-12").is_ok());
        assert!(path_key("../myself").is_err());
        assert!(path_key("OPS-").is_err());
    }
}
