//! The Freshservice connector against an in-process server: requests checked against
//! the documented API v2 shapes (golden files under `tests/fixtures/tickets/freshservice/`,
//! each naming the documentation it follows), answered with documented responses.

mod support;

use std::time::Duration;

use forewarn_collector::tickets::config::TicketsConfig;
use forewarn_collector::tickets::{Connector, ConnectorError, TicketRef, TicketRequest, access};
use forewarn_testkit::vendor::{Reply, VendorServer};
use serde_json::{Value, json};
use support::assert_matches_golden;

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tickets/freshservice")
        .join(name);
    let mut value: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    value.as_object_mut().unwrap().remove("_doc");
    value
}

struct Setup {
    server: VendorServer,
    config: TicketsConfig,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let server = VendorServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("freshservice-key");
    std::fs::write(&key, "sFx1sTr2APIkey\n").unwrap();
    let config: TicketsConfig = toml::from_str(&format!(
        r#"
[connectors.fs]
kind = "freshservice"
url = "{url}"
api_key = {{ file = "{key}" }}
requester_email = "it-monitoring@example.com"
group_id = 2000046549
timeout_secs = 1
"#,
        url = server.url(),
        key = key.display()
    ))
    .unwrap();
    assert_eq!(config.problems(), Vec::<String>::new());
    Setup {
        server,
        config,
        _dir: dir,
    }
}

impl Setup {
    fn connector(&self) -> Box<dyn Connector> {
        self.config.connectors["fs"].build("fs").unwrap()
    }
}

fn request() -> TicketRequest {
    support::backup_failure_request("4")
}

fn ticket() -> TicketRef {
    support::ticket_ref("1")
}

#[tokio::test]
async fn freshservice_create_matches_documented_v2_tickets_shape() {
    let s = setup().await;
    s.server
        .reply(Reply::json(201, &fixture("create-ticket-response.json")));
    let ticket = s.connector().open(&request()).await.unwrap();
    assert_eq!(ticket.id, "1");
    let recorded = s.server.take();
    assert_eq!(
        (recorded[0].method.as_str(), recorded[0].path.as_str()),
        ("POST", "/api/v2/tickets")
    );
    // base64("sFx1sTr2APIkey:X")
    assert_eq!(
        recorded[0].headers["authorization"],
        "Basic c0Z4MXNUcjJBUElrZXk6WA=="
    );
    assert_matches_golden(
        &recorded[0].json(),
        "freshservice/create-ticket-request.json",
    );
}

#[tokio::test]
async fn freshservice_find_open_filters_by_correlation_tag_and_open_statuses() {
    let s = setup().await;
    s.server
        .reply(Reply::json(200, &fixture("filter-response.json")));
    let found = s
        .connector()
        .find_open("dev-7/backup_failed/nightly")
        .await
        .unwrap();
    assert_eq!(found.map(|t| t.id), Some("1".to_string()));
    let recorded = s.server.take();
    assert_eq!(recorded[0].path, "/api/v2/tickets/filter");
    assert_eq!(
        recorded[0].query_value("query"),
        Some("\"tag:'forewarn-7f6d0d3ccd080288' AND (status:2 OR status:3)\"")
    );
}

#[tokio::test]
async fn freshservice_note_and_resolve_match_documented_shape() {
    let s = setup().await;
    let connector = s.connector();
    s.server.reply(Reply::json(
        201,
        &json!({"conversation": {"id": 7, "private": true}}),
    ));
    connector
        .comment(&ticket(), "Still failing: 2nd run failed at 03:00 UTC.")
        .await
        .unwrap();
    s.server.reply(Reply::json(
        201,
        &json!({"conversation": {"id": 8, "private": true}}),
    ));
    s.server
        .reply(Reply::json(200, &fixture("create-ticket-response.json")));
    connector.resolve(&ticket(), "Recovered.").await.unwrap();
    let recorded = s.server.take();
    assert_eq!(recorded[0].path, "/api/v2/tickets/1/notes");
    assert_matches_golden(&recorded[0].json(), "freshservice/note-request.json");
    assert_eq!(
        recorded[1].json(),
        json!({"body": "Recovered.", "private": true})
    );
    assert_eq!(
        (recorded[2].method.as_str(), recorded[2].path.as_str()),
        ("PUT", "/api/v2/tickets/1")
    );
    assert_matches_golden(&recorded[2].json(), "freshservice/resolve-request.json");
}

#[tokio::test]
async fn freshservice_ticket_assigned_moved_or_replied_to_counts_as_worked() {
    let s = setup().await;
    let connector = s.connector();
    let untouched = json!({"ticket": {"id": 1, "status": 2, "responder_id": null}});
    s.server.reply(Reply::json(200, &untouched));
    s.server.reply(Reply::json(
        200,
        &json!({"conversations": [{"id": 7, "private": true}]}),
    ));
    assert!(!connector.worked_by_human(&ticket()).await.unwrap());
    s.server.reply(Reply::json(200, &untouched));
    s.server.reply(Reply::json(200, &json!({"conversations": [{"id": 7, "private": true}, {"id": 9, "private": false, "incoming": false}]})));
    assert!(connector.worked_by_human(&ticket()).await.unwrap());
    s.server.reply(Reply::json(
        200,
        &json!({"ticket": {"id": 1, "status": 2, "responder_id": 2000000917}}),
    ));
    assert!(connector.worked_by_human(&ticket()).await.unwrap());
    s.server.reply(Reply::json(
        200,
        &json!({"ticket": {"id": 1, "status": 3, "responder_id": null}}),
    ));
    assert!(connector.worked_by_human(&ticket()).await.unwrap());
}

#[tokio::test]
async fn freshservice_errors_are_retryable_or_permanent_as_documented() {
    let s = setup().await;
    let connector = s.connector();
    for (status, retryable) in [
        (401, false),
        (403, false),
        (404, false),
        (400, false),
        (500, true),
    ] {
        s.server
            .reply(Reply::json(status, &fixture("error-401.json")));
        let err = connector.open(&request()).await.unwrap_err();
        assert_eq!(err.is_retryable(), retryable, "{status}: {err:?}");
    }
    s.server
        .reply(Reply::json(429, &json!({})).with_header("retry-after", "60"));
    let err = connector.find_open("k").await.unwrap_err();
    assert!(matches!(err, ConnectorError::RateLimited { .. }), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(60)));
    s.server.reply(
        Reply::json(201, &fixture("create-ticket-response.json")).after(Duration::from_secs(3)),
    );
    let err = connector.open(&request()).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Timeout { .. }), "{err:?}");
    // A priority outside 1-4 is refused before anything is sent.
    let mut bad = request();
    bad.priority = "urgent".into();
    let err = connector.open(&bad).await.unwrap_err();
    assert!(
        err.to_string().contains("not a Freshservice priority"),
        "{err}"
    );
}

#[tokio::test]
async fn freshservice_tickets_test_explains_a_refused_key() {
    let s = setup().await;
    s.server.reply(Reply::json(401, &fixture("error-401.json")));
    let problems = access::test_connector(&s.config, "fs").await;
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("refused the API key"), "{problems:?}");
    s.server.reply(Reply::json(200, &json!({"tickets": []})));
    assert_eq!(
        access::test_connector(&s.config, "fs").await,
        Vec::<String>::new()
    );
}
