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

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::config::{ChatConfig, Secret};
use super::transport::HttpTransport;
use super::{Connector, ConnectorError, TicketRef, TicketRequest};

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
