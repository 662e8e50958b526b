//! Slack and Teams incoming webhooks against an in-process server: message bodies
//! checked against the documented payloads (golden files under
//! `tests/fixtures/tickets/{slack,teams}/`), answers as the services document them.

mod support;

use std::time::Duration;

use forewarn_collector::tickets::{Severity, TicketRequest, access};
use forewarn_testkit::vendor::Reply;
use serde_json::json;
use support::{VendorSetup, assert_matches_golden};

/// A Slack or Teams connector whose webhook address (its secret) is kept in a
/// file, as an administrator would keep it.
async fn setup(kind: &str) -> VendorSetup {
    let table = format!(
        r#"kind = "{kind}"
url = {{ file = "{{secret}}" }}
timeout_secs = 1
[[policies]]
action = "notify"
"#
    );
    VendorSetup::start("chat", "{url}/services/T000/B000/XXXX", &table).await
}

fn request() -> TicketRequest {
    TicketRequest {
        correlation_key: "dev-7/backup_failed/nightly".into(),
        subject: "[critical] laptop-042: backup job nightly failed (exit code 3)".into(),
        body: "backup job nightly failed (exit code 3)".into(),
        severity: Severity::Critical,
        priority: "critical".into(),
        destination: None,
        labels: vec![],
        device_url: Some("https://forewarn.example/devices/dev-7".into()),
    }
}

fn text_reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        headers: vec![("content-type", "text/html".into())],
        body: body.into(),
        delay: Duration::ZERO,
    }
}

#[tokio::test]
async fn slack_message_matches_documented_incoming_webhook_payload() {
    let s = setup("slack").await;
    let slack = s.connector();
    s.server.reply(text_reply(200, "ok"));
    let ticket = slack.open(&request()).await.unwrap();
    assert_eq!(slack.find_open(&ticket.id).await.unwrap(), None);
    s.server.reply(text_reply(200, "ok"));
    slack.resolve(&ticket, "backup succeeded").await.unwrap();
    let recorded = s.server.take();
    assert_eq!(recorded[0].path, "/services/T000/B000/XXXX");
    assert_matches_golden(&recorded[0].json(), "slack/open-message.json");
    assert_eq!(
        recorded[1].json(),
        json!({"text": "*Resolved: dev-7/backup_failed/nightly*\nbackup succeeded"})
    );
}

#[tokio::test]
async fn slack_archived_channel_is_a_permanent_error_and_tickets_test_says_so() {
    let s = setup("slack").await;
    s.server.reply(text_reply(410, "channel_is_archived"));
    let err = s.connector().open(&request()).await.unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
    s.server.reply(text_reply(404, "no_service"));
    let problems = access::test_connector(&s.config, "chat").await;
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("no_service"), "{problems:?}");
    s.server.reply(text_reply(500, "rollup_error"));
    assert!(
        s.connector()
            .open(&request())
            .await
            .unwrap_err()
            .is_retryable()
    );
}

#[tokio::test]
async fn teams_message_matches_documented_adaptive_card_payload() {
    let s = setup("teams").await;
    // Workflows answers 202 Accepted.
    s.server.reply(text_reply(202, ""));
    s.connector().open(&request()).await.unwrap();
    let recorded = s.server.take();
    assert_matches_golden(&recorded[0].json(), "teams/open-message.json");
    s.server
        .reply(text_reply(429, "").with_header("retry-after", "10"));
    let err = s.connector().open(&request()).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(10)));
}
