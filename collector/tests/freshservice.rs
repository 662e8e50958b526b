//! The Freshservice connector against an in-process server: requests checked against
//! the documented API v2 shapes (golden files under `tests/fixtures/tickets/freshservice/`,
//! each naming the documentation it follows), answered with documented responses.

mod support;

use forewarn_collector::tickets::{TicketRef, TicketRequest, access};
use forewarn_testkit::vendor::Reply;
use serde_json::{Value, json};
use support::{VendorSetup, assert_matches_golden};

fn fixture(name: &str) -> Value {
    support::vendor_fixture("freshservice", name)
}

async fn setup() -> VendorSetup {
    VendorSetup::start(
        "fs",
        "sFx1sTr2APIkey",
        r#"kind = "freshservice"
url = "{url}"
api_key = { file = "{secret}" }
requester_email = "it-monitoring@example.com"
group_id = 2000046549
timeout_secs = 1
"#,
    )
    .await
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
    support::assert_documented_error_classes(
        &s,
        &[
            (401, false),
            (403, false),
            (404, false),
            (400, false),
            (500, true),
        ],
        &fixture("error-401.json"),
        &fixture("create-ticket-response.json"),
        &request(),
    )
    .await;
    let connector = s.connector();
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
