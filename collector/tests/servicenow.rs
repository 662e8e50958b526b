//! The ServiceNow connector against an in-process server: every request is checked
//! against the Table API's documented shape (golden files under
//! `tests/fixtures/tickets/servicenow/`, each naming the documentation it follows),
//! and answered with documented responses and errors.

mod support;

use std::time::Duration;

use forewarn_collector::tickets::{ConnectorError, TicketRef, TicketRequest, access};
use forewarn_testkit::vendor::Reply;
use serde_json::{Value, json};
use support::{VendorSetup, assert_matches_golden};

const SYS_ID: &str = "46d44a5ea9fe198101a4a3c1f2a2cc7f";

fn fixture(name: &str) -> Value {
    support::vendor_fixture("servicenow", name)
}

async fn setup() -> VendorSetup {
    VendorSetup::start(
        "sn",
        "pa55-w0rd",
        r#"kind = "servicenow"
instance_url = "{url}"
username = "forewarn.integration"
password = { file = "{secret}" }
assignment_group = "Service Desk"
timeout_secs = 1
"#,
    )
    .await
}

fn request() -> TicketRequest {
    TicketRequest {
        device_url: None,
        ..support::backup_failure_request("1")
    }
}

fn ticket() -> TicketRef {
    support::ticket_ref(SYS_ID)
}

fn assert_basic_auth(recorded: &forewarn_testkit::vendor::Recorded) {
    // base64("forewarn.integration:pa55-w0rd")
    assert_eq!(
        recorded.headers["authorization"],
        "Basic Zm9yZXdhcm4uaW50ZWdyYXRpb246cGE1NS13MHJk"
    );
    assert_eq!(recorded.headers["accept"], "application/json");
}

#[tokio::test]
async fn servicenow_create_matches_documented_table_api_shape() {
    let s = setup().await;
    s.server
        .reply(Reply::json(201, &fixture("create-incident-response.json")));
    let ticket = s.connector().open(&request()).await.unwrap();
    assert_eq!(ticket.id, SYS_ID);
    assert_eq!(
        ticket.url.as_deref(),
        Some(
            format!(
                "{}/nav_to.do?uri=incident.do?sys_id={SYS_ID}",
                s.server.url()
            )
            .as_str()
        )
    );
    let recorded = s.server.take();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].method, "POST");
    assert_eq!(recorded[0].path, "/api/now/table/incident");
    assert_basic_auth(&recorded[0]);
    assert_matches_golden(
        &recorded[0].json(),
        "servicenow/create-incident-request.json",
    );
}

#[tokio::test]
async fn servicenow_find_open_searches_active_incidents_by_correlation_id() {
    let s = setup().await;
    let connector = s.connector();
    s.server.reply(Reply::json(
        200,
        &json!({"result": [{"sys_id": SYS_ID, "number": "INC0010023"}]}),
    ));
    let found = connector
        .find_open("dev-7/backup_failed/nightly")
        .await
        .unwrap();
    assert_eq!(found.map(|t| t.id), Some(SYS_ID.to_string()));
    s.server.reply(Reply::json(200, &json!({"result": []})));
    assert_eq!(connector.find_open("dev-8/other").await.unwrap(), None);

    let recorded = s.server.take();
    assert_eq!(recorded[0].method, "GET");
    assert_eq!(recorded[0].path, "/api/now/table/incident");
    assert_basic_auth(&recorded[0]);
    assert_eq!(
        recorded[0].query_value("sysparm_query"),
        Some("correlation_id=dev-7/backup_failed/nightly^active=true^ORDERBYsys_created_on")
    );
    assert_eq!(recorded[0].query_value("sysparm_limit"), Some("1"));
}

#[tokio::test]
async fn servicenow_work_notes_and_resolve_match_documented_table_api_shape() {
    let s = setup().await;
    let connector = s.connector();
    let record = fixture("create-incident-response.json");
    s.server.reply(Reply::json(200, &record));
    s.server.reply(Reply::json(200, &record));
    connector
        .comment(&ticket(), "Still failing: 2nd run failed at 03:00 UTC.")
        .await
        .unwrap();
    connector
        .resolve(&ticket(), "Recovered: backup succeeded at 04:00 UTC.")
        .await
        .unwrap();
    let recorded = s.server.take();
    for r in &recorded {
        assert_eq!(r.method, "PATCH");
        assert_eq!(r.path, format!("/api/now/table/incident/{SYS_ID}"));
        assert_basic_auth(r);
    }
    assert_matches_golden(&recorded[0].json(), "servicenow/work-notes-request.json");
    assert_matches_golden(&recorded[1].json(), "servicenow/resolve-request.json");
}

#[tokio::test]
async fn servicenow_incident_assigned_or_answered_by_a_person_counts_as_worked() {
    let s = setup().await;
    let connector = s.connector();
    let untouched = json!({"result": {"state": "1", "assigned_to": "", "sys_updated_by": "forewarn.integration"}});

    // Untouched: new, unassigned, no journal entry by anyone else.
    s.server.reply(Reply::json(200, &untouched));
    s.server.reply(Reply::json(200, &json!({"result": []})));
    assert!(!connector.worked_by_human(&ticket()).await.unwrap());
    let recorded = s.server.take();
    assert_eq!(recorded[1].path, "/api/now/table/sys_journal_field");
    assert_eq!(
        recorded[1].query_value("sysparm_query"),
        Some(format!("element_id={SYS_ID}^sys_created_by!=forewarn.integration").as_str())
    );

    // A technician replied.
    s.server.reply(Reply::json(200, &untouched));
    s.server
        .reply(Reply::json(200, &json!({"result": [{"sys_id": "a1b2c3"}]})));
    assert!(connector.worked_by_human(&ticket()).await.unwrap());

    // Assigned to someone (a reference field answers {link, value}).
    s.server.reply(Reply::json(
        200,
        &json!({"result": {"state": "1", "sys_updated_by": "beth.anglin",
            "assigned_to": {"link": "https://x.service-now.com/api/now/table/sys_user/46d4", "value": "46d4"}}}),
    ));
    assert!(connector.worked_by_human(&ticket()).await.unwrap());

    // Moved to In Progress by someone else.
    s.server.reply(Reply::json(
        200,
        &json!({"result": {"state": "2", "assigned_to": "", "sys_updated_by": "beth.anglin"}}),
    ));
    assert!(connector.worked_by_human(&ticket()).await.unwrap());
}

#[tokio::test]
async fn servicenow_errors_are_retryable_or_permanent_as_documented() {
    let s = setup().await;
    let connector = s.connector();
    let error = fixture("error-401.json");

    s.server.reply(Reply::json(401, &error));
    let err = connector.open(&request()).await.unwrap_err();
    assert!(
        matches!(err, ConnectorError::Unauthorized { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("User Not Authenticated"), "{err}");
    assert!(!err.is_retryable());

    s.server.reply(Reply::json(
        403,
        &json!({"error": {"message": "Operation Failed", "detail": "ACL Exception Insert Failed due to security constraints"}, "status": "failure"}),
    ));
    let err = connector.open(&request()).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Forbidden { .. }), "{err:?}");
    assert!(!err.is_retryable());

    s.server.reply(Reply::json(
        404,
        &json!({"error": {"message": "No Record found", "detail": "Record doesn't exist or ACL restricts the record retrieval"}, "status": "failure"}),
    ));
    let err = connector.comment(&ticket(), "x").await.unwrap_err();
    assert!(matches!(err, ConnectorError::NotFound { .. }), "{err:?}");
    assert!(!err.is_retryable());

    s.server.reply(
        Reply::json(
            429,
            &json!({"error": {"message": "Rate limit exceeded"}, "status": "failure"}),
        )
        .with_header("retry-after", "17"),
    );
    let err = connector.find_open("k").await.unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(17)));

    s.server.reply(Reply::json(
        500,
        &json!({"error": {"message": "Internal error"}, "status": "failure"}),
    ));
    let err = connector.resolve(&ticket(), "x").await.unwrap_err();
    assert!(
        matches!(err, ConnectorError::Unavailable { status: 500, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());

    s.server.reply(
        Reply::json(201, &fixture("create-incident-response.json")).after(Duration::from_secs(3)),
    );
    let err = connector.open(&request()).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Timeout { .. }), "{err:?}");
    assert!(err.is_retryable());

    // A 200 that is not the documented envelope is reported, not guessed at.
    s.server.reply(Reply::json(200, &json!({"records": []})));
    let err = connector.find_open("k").await.unwrap_err();
    assert!(
        matches!(err, ConnectorError::InvalidResponse { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn servicenow_tickets_test_explains_refused_credentials() {
    let s = setup().await;
    s.server.reply(Reply::json(401, &fixture("error-401.json")));
    let problems = access::test_connector(&s.config, "sn").await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("refused user \"forewarn.integration\""),
        "{problems:?}"
    );
    s.server.reply(Reply::json(200, &json!({"result": []})));
    assert_eq!(
        access::test_connector(&s.config, "sn").await,
        Vec::<String>::new()
    );
    assert_eq!(
        access::test_connector(&s.config, "jira").await,
        vec!["there is no connector \"jira\"; configured: sn"]
    );
}
