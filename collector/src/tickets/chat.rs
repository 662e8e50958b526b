//! Slack and Microsoft Teams incoming webhooks: notifications only, no tickets.
//!
//! - Slack: `POST {"text": ...}` to the incoming-webhook URL
//!   (<https://api.slack.com/messaging/webhooks>); errors come back as 4xx with a
//!   word such as `invalid_payload`, `no_service` or `channel_is_archived`.
//! - Teams: a Workflows ("When a Teams webhook request is received") or legacy
//!   incoming-webhook URL, `POST` of a message with one Adaptive Card
//!   (<https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using>).
//!
//! The webhook URL carries its own credential, so it is configured as a secret.
//! A chat channel cannot be searched: `find_open` finds nothing, the returned
//! reference is the correlation key, and nobody "works" a chat message.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use forewarn_secret::{Secret, SecretSource};
use serde::Deserialize;
use serde_json::{Value, json};

use super::connector_config::{
    BuildError, ConnectorSettings, built, check_secret, check_timeout, default_timeout_secs,
    load_secret,
};
use super::transport::HttpTransport;
use super::{Connector, ConnectorError, TicketRef, TicketRequest};

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

impl ConnectorSettings for ChatConfig {
    fn problems(&self, key: &str, problems: &mut Vec<String>) {
        check_secret(key, "url", &self.url, problems);
        check_timeout(key, self.timeout_secs, problems);
    }

    fn resolve_paths(&mut self, base: &Path) {
        self.url.resolve_path(base);
    }

    fn keeps_tickets(&self) -> bool {
        false
    }
}

impl ChatConfig {
    /// Reads the webhook URL and builds the `service` connector named `name`.
    pub fn build(
        &self,
        service: ChatService,
        name: &str,
    ) -> Result<Box<dyn Connector>, BuildError> {
        built(
            name,
            ChatWebhook::new(service, self, load_secret(name, "url", &self.url)?),
        )
    }
}

/// Which chat service a webhook URL belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatService {
    Slack,
    Teams,
}

impl ChatService {
    fn system(self) -> &'static str {
        match self {
            ChatService::Slack => "Slack",
            ChatService::Teams => "Teams",
        }
    }
}

#[derive(Debug)]
pub struct ChatWebhook {
    service: ChatService,
    http: HttpTransport,
    url: Secret,
}

/// The JSON body posting `title` and `text` to the service.
pub fn message_body(service: ChatService, title: &str, text: &str, link: Option<&str>) -> Value {
    match service {
        ChatService::Slack => {
            let mut message = format!("*{title}*\n{text}");
            if let Some(link) = link {
                message.push_str(&format!("\n<{link}|Open the device in Forewarn>"));
            }
            json!({ "text": message })
        }
        ChatService::Teams => {
            let mut card = json!({
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    { "type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": true },
                    { "type": "TextBlock", "text": text, "wrap": true },
                ],
            });
            if let Some(link) = link {
                card["actions"] = json!([
                    { "type": "Action.OpenUrl", "title": "Open the device in Forewarn", "url": link }
                ]);
            }
            json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": null,
                    "content": card,
                }],
            })
        }
    }
}

impl ChatWebhook {
    pub fn new(
        service: ChatService,
        config: &ChatConfig,
        url: Secret,
    ) -> Result<Self, ConnectorError> {
        Ok(Self {
            service,
            http: HttpTransport::new(service.system(), Duration::from_secs(config.timeout_secs))?,
            url,
        })
    }

    async fn post(&self, body: &Value) -> Result<(), ConnectorError> {
        let request = self.http.client().post(self.url.expose()).json(body);
        self.http.send(request).await.map(drop)
    }
}

#[async_trait]
impl Connector for ChatWebhook {
    fn system(&self) -> &'static str {
        self.service.system()
    }

    async fn find_open(&self, _correlation_key: &str) -> Result<Option<TicketRef>, ConnectorError> {
        Ok(None)
    }

    async fn open(&self, request: &TicketRequest) -> Result<TicketRef, ConnectorError> {
        self.post(&message_body(
            self.service,
            &request.subject,
            &request.body,
            request.device_url.as_deref(),
        ))
        .await?;
        Ok(TicketRef {
            id: request.correlation_key.clone(),
            url: None,
        })
    }

    async fn comment(&self, ticket: &TicketRef, text: &str) -> Result<(), ConnectorError> {
        self.post(&message_body(
            self.service,
            &format!("Update: {}", ticket.id),
            text,
            None,
        ))
        .await
    }

    async fn resolve(&self, ticket: &TicketRef, text: &str) -> Result<(), ConnectorError> {
        self.post(&message_body(
            self.service,
            &format!("Resolved: {}", ticket.id),
            text,
            None,
        ))
        .await
    }

    async fn worked_by_human(&self, _ticket: &TicketRef) -> Result<bool, ConnectorError> {
        Ok(false)
    }

    /// Posts a visible test message: an incoming webhook has no read-only call.
    async fn check_access(&self) -> Vec<String> {
        let body = message_body(
            self.service,
            "Forewarn test message",
            "Sent by `tickets test`; alerts will be posted here.",
            None,
        );
        match self.post(&body).await {
            Ok(()) => Vec::new(),
            Err(
                ConnectorError::NotFound { message, .. }
                | ConnectorError::Forbidden { message, .. }
                | ConnectorError::Rejected { message, .. },
            ) => vec![format!(
                "{} refused the test message ({message}): the webhook was removed, its channel archived, or the URL is wrong",
                self.service.system()
            )],
            Err(e) => vec![format!("test message failed: {e}")],
        }
    }
}
