//! The Zendesk connector against an in-process server: requests checked against the
//! documented Tickets API shapes (golden files under `tests/fixtures/tickets/zendesk/`,
//! each naming the documentation it follows), answered with documented responses.

mod support;

use forewarn_collector::tickets::{TicketRef, TicketRequest, access};
use forewarn_testkit::vendor::Reply;
use serde_json::{Value, json};
use support::{VendorSetup, assert_matches_golden};

fn fixture(name: &str) -> Value {
    support::vendor_fixture("zendesk", name)
}

async fn setup() -> VendorSetup {
    VendorSetup::start(
        "zd",
        "6wiIBWbGkBMo1mRDMuVwkw1EPsNkeUj95PIz2akv",
        r#"kind = "zendesk"
url = "{url}"
email = "forewarn@example.com"
token = { file = "{secret}" }
group_id = 98738
timeout_secs = 1
"#,
    )
    .await
}

fn request() -> TicketRequest {
    support::backup_failure_request("urgent")
}

fn ticket() -> TicketRef {
    support::ticket_ref("35436")
}

#[tokio::test]
async fn zendesk_create_matches_documented_tickets_api_shape() {
    let s = setup().await;
    s.server
        .reply(Reply::json(201, &fixture("create-ticket-response.json")));
    let ticket = s.connector().open(&request()).await.unwrap();
    assert_eq!(ticket.id, "35436");
    let recorded = s.server.take();
    assert_eq!(
        (recorded[0].method.as_str(), recorded[0].path.as_str()),
        ("POST", "/api/v2/tickets.json")
    );
    // base64("forewarn@example.com/token:6wiIBWbGkBMo1mRDMuVwkw1EPsNkeUj95PIz2akv")
    assert_eq!(
        recorded[0].headers["authorization"],
        "Basic Zm9yZXdhcm5AZXhhbXBsZS5jb20vdG9rZW46NndpSUJXYkdrQk1vMW1SRE11VndrdzFFUHNOa2VVajk1UEl6MmFrdg=="
    );
    assert_matches_golden(&recorded[0].json(), "zendesk/create-ticket-request.json");
}

#[tokio::test]
async fn zendesk_find_open_by_external_id_skips_solved_tickets() {
    let s = setup().await;
    s.server.reply(Reply::json(
        200,
        &fixture("list-by-external-id-response.json"),
    ));
    let found = s
        .connector()
        .find_open("dev-7/backup_failed/nightly")
        .await
        .unwrap();
    assert_eq!(found.map(|t| t.id), Some("35436".to_string()));
    let recorded = s.server.take();
    assert_eq!(recorded[0].path, "/api/v2/tickets.json");
    assert_eq!(
        recorded[0].query_value("external_id"),
        Some("dev-7/backup_failed/nightly")
    );
}

#[tokio::test]
async fn zendesk_comment_and_solve_match_documented_shape() {
    let s = setup().await;
    let connector = s.connector();
    s.server
        .reply(Reply::json(200, &fixture("create-ticket-response.json")));
    s.server
        .reply(Reply::json(200, &fixture("create-ticket-response.json")));
    connector
        .comment(&ticket(), "Still failing.")
        .await
        .unwrap();
    connector
        .resolve(&ticket(), "Recovered: backup succeeded at 04:00 UTC.")
        .await
        .unwrap();
    let recorded = s.server.take();
    assert_eq!(
        (recorded[0].method.as_str(), recorded[0].path.as_str()),
        ("PUT", "/api/v2/tickets/35436.json")
    );
    assert_eq!(
        recorded[0].json(),
        json!({"ticket": {"comment": {"body": "Still failing.", "public": false}}})
    );
    assert_matches_golden(&recorded[1].json(), "zendesk/solve-request.json");
}

#[tokio::test]
async fn zendesk_ticket_assigned_or_answered_by_an_agent_counts_as_worked() {
    let s = setup().await;
    let connector = s.connector();
    let untouched = json!({"ticket": {"id": 35436, "status": "new", "assignee_id": null, "submitter_id": 123123}});
    s.server.reply(Reply::json(200, &untouched));
    s.server.reply(Reply::json(
        200,
        &json!({"comments": [{"id": 1, "author_id": 123123, "public": false}]}),
    ));
    assert!(!connector.worked_by_human(&ticket()).await.unwrap());

    s.server.reply(Reply::json(200, &untouched));
    s.server.reply(Reply::json(200, &json!({"comments": [{"id": 1, "author_id": 123123}, {"id": 2, "author_id": 555, "public": true}]})));
    assert!(connector.worked_by_human(&ticket()).await.unwrap());

    s.server.reply(Reply::json(200, &json!({"ticket": {"id": 35436, "status": "open", "assignee_id": 555, "submitter_id": 123123}})));
    assert!(connector.worked_by_human(&ticket()).await.unwrap());

    s.server.reply(Reply::json(200, &json!({"ticket": {"id": 35436, "status": "pending", "assignee_id": null, "submitter_id": 123123}})));
    assert!(connector.worked_by_human(&ticket()).await.unwrap());
}

#[tokio::test]
async fn zendesk_errors_are_retryable_or_permanent_as_documented() {
    let s = setup().await;
    support::assert_documented_error_classes(
        &s,
        &[
            (401, false),
            (403, false),
            (404, false),
            (422, false),
            (500, true),
        ],
        &fixture("error-401.json"),
        &fixture("create-ticket-response.json"),
        &request(),
    )
    .await;
}

#[tokio::test]
async fn zendesk_tickets_test_needs_an_agent() {
    let s = setup().await;
    s.server.reply(Reply::json(
        200,
        &json!({"user": {"id": 123123, "role": "end-user"}}),
    ));
    let problems = access::test_connector(&s.config, "zd").await;
    assert_eq!(
        problems,
        vec![
            "\"forewarn@example.com\" is a Zendesk end-user; tickets need an agent or admin account"
        ]
    );
    s.server.reply(Reply::json(401, &fixture("error-401.json")));
    let problems = access::test_connector(&s.config, "zd").await;
    assert!(
        problems[0].contains("refused \"forewarn@example.com\""),
        "{problems:?}"
    );
    s.server.reply(Reply::json(
        200,
        &json!({"user": {"id": 123123, "role": "agent"}}),
    ));
    assert_eq!(
        access::test_connector(&s.config, "zd").await,
        Vec::<String>::new()
    );
}
