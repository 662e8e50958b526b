//! The Jira connector against an in-process server: requests checked against the
//! documented REST API v2 shapes (golden files under `tests/fixtures/tickets/jira/`,
//! each naming the documentation it follows), answered with documented responses.

mod support;

use forewarn_collector::tickets::{TicketRef, TicketRequest, access};
use forewarn_testkit::vendor::Reply;
use serde_json::{Value, json};
use support::{VendorSetup, assert_matches_golden};

fn fixture(name: &str) -> Value {
    support::vendor_fixture("jira", name)
}

async fn setup(extra: &str) -> VendorSetup {
    let table = format!(
        r#"kind = "jira"
url = "{{url}}"
token = {{ file = "{{secret}}" }}
project = "OPS"
timeout_secs = 1
{extra}
"#
    );
    VendorSetup::start("jira", "ATATT3xFfGF0-test-token", &table).await
}

fn request() -> TicketRequest {
    support::backup_failure_request("Highest")
}

fn ticket() -> TicketRef {
    support::ticket_ref("OPS-24")
}

#[tokio::test]
async fn jira_create_matches_documented_rest_v2_shape_with_cloud_basic_auth() {
    let s = setup("email = \"ops-bot@example.com\"").await;
    s.server
        .reply(Reply::json(201, &fixture("create-issue-response.json")));
    let ticket = s.connector().open(&request()).await.unwrap();
    assert_eq!(ticket.id, "OPS-24");
    assert_eq!(
        ticket.url.as_deref(),
        Some(format!("{}/browse/OPS-24", s.server.url()).as_str())
    );
    let recorded = s.server.take();
    assert_eq!(recorded[0].method, "POST");
    assert_eq!(recorded[0].path, "/rest/api/2/issue");
    // base64("ops-bot@example.com:ATATT3xFfGF0-test-token")
    assert_eq!(
        recorded[0].headers["authorization"],
        "Basic b3BzLWJvdEBleGFtcGxlLmNvbTpBVEFUVDN4RmZHRjAtdGVzdC10b2tlbg=="
    );
    assert_matches_golden(&recorded[0].json(), "jira/create-issue-request.json");
}

#[tokio::test]
async fn jira_find_open_searches_by_label_with_jql_on_cloud_and_data_center() {
    let s = setup("").await;
    s.server
        .reply(Reply::json(200, &fixture("search-response.json")));
    let found = s
        .connector()
        .find_open("dev-7/backup_failed/nightly")
        .await
        .unwrap();
    assert_eq!(found.map(|t| t.id), Some("OPS-24".to_string()));
    let recorded = s.server.take();
    assert_eq!(recorded[0].path, "/rest/api/2/search/jql");
    assert_eq!(
        recorded[0].headers["authorization"],
        "Bearer ATATT3xFfGF0-test-token"
    );
    assert_eq!(
        recorded[0].query_value("jql"),
        Some(
            "project = \"OPS\" AND labels = \"forewarn-7f6d0d3ccd080288\" AND statusCategory != Done ORDER BY created ASC"
        )
    );

    let dc = setup("cloud = false").await;
    dc.server.reply(Reply::json(
        200,
        &json!({"startAt": 0, "maxResults": 1, "total": 0, "issues": []}),
    ));
    assert_eq!(dc.connector().find_open("k").await.unwrap(), None);
    assert_eq!(dc.server.take()[0].path, "/rest/api/2/search");
}

#[tokio::test]
async fn jira_comment_and_resolve_by_transition_name_match_documented_shape() {
    let s = setup("").await;
    let connector = s.connector();
    s.server.reply(Reply::json(201, &json!({"id": "10000"})));
    connector
        .comment(&ticket(), "Still failing: 2nd run failed at 03:00 UTC.")
        .await
        .unwrap();
    // resolve: closing comment, list transitions, post the one named "Done".
    s.server.reply(Reply::json(201, &json!({"id": "10001"})));
    s.server
        .reply(Reply::json(200, &fixture("transitions-response.json")));
    s.server.reply(Reply::json(204, &json!(null)));
    connector.resolve(&ticket(), "Recovered.").await.unwrap();

    let recorded = s.server.take();
    assert_eq!(recorded.len(), 4);
    assert_eq!(recorded[0].path, "/rest/api/2/issue/OPS-24/comment");
    assert_matches_golden(&recorded[0].json(), "jira/comment-request.json");
    assert_eq!(recorded[1].json(), json!({"body": "Recovered."}));
    assert_eq!(
        (recorded[2].method.as_str(), recorded[2].path.as_str()),
        ("GET", "/rest/api/2/issue/OPS-24/transitions")
    );
    assert_eq!(recorded[3].method, "POST");
    assert_matches_golden(&recorded[3].json(), "jira/transition-request.json");
}

#[tokio::test]
async fn jira_missing_resolve_transition_is_a_permanent_error_naming_the_available_ones() {
    let s = setup("resolve_transition = \"Resolve Issue\"").await;
    s.server.reply(Reply::json(201, &json!({"id": "10001"})));
    s.server
        .reply(Reply::json(200, &fixture("transitions-response.json")));
    let err = s.connector().resolve(&ticket(), "x").await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.to_string()
            .contains("available: To Do, In Progress, Done"),
        "{err}"
    );
}

#[tokio::test]
async fn jira_issue_assigned_moved_or_commented_by_a_person_counts_as_worked() {
    let s = setup("").await;
    let connector = s.connector();
    let bot = json!({"accountId": "5b10a2844c20165700ede21g"});
    let to_do = json!({"name": "To Do", "statusCategory": {"key": "new"}});
    let issue = |assignee: Value, status: Value, authors: Vec<Value>| {
        json!({"key": "OPS-24", "fields": {
            "assignee": assignee, "creator": bot, "status": status,
            "comment": {"comments": authors.into_iter().map(|a| json!({"author": a, "body": "x"})).collect::<Vec<_>>()}
        }})
    };
    let cases = [
        (issue(Value::Null, to_do.clone(), vec![bot.clone()]), false),
        (
            issue(
                Value::Null,
                to_do.clone(),
                vec![
                    bot.clone(),
                    json!({"accountId": "5b10ac8d82e05b22cc7d4ef5"}),
                ],
            ),
            true,
        ),
        (
            issue(
                json!({"accountId": "5b10ac8d82e05b22cc7d4ef5"}),
                to_do.clone(),
                vec![],
            ),
            true,
        ),
        (
            issue(
                Value::Null,
                json!({"name": "In Progress", "statusCategory": {"key": "indeterminate"}}),
                vec![],
            ),
            true,
        ),
    ];
    for (answer, worked) in cases {
        s.server.reply(Reply::json(200, &answer));
        assert_eq!(
            connector.worked_by_human(&ticket()).await.unwrap(),
            worked,
            "{answer}"
        );
    }
}

#[tokio::test]
async fn jira_errors_are_retryable_or_permanent_as_documented() {
    let s = setup("").await;
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
        &fixture("create-issue-response.json"),
        &request(),
    )
    .await;
}

#[tokio::test]
async fn jira_tickets_test_names_missing_project_permissions() {
    let s = setup("").await;
    s.server.reply(Reply::json(
        200,
        &json!({"accountId": "5b10a2844c20165700ede21g"}),
    ));
    s.server.reply(Reply::json(
        200,
        &json!({"permissions": {
            "BROWSE_PROJECTS": {"key": "BROWSE_PROJECTS", "havePermission": true},
            "CREATE_ISSUES": {"key": "CREATE_ISSUES", "havePermission": true},
            "ADD_COMMENTS": {"key": "ADD_COMMENTS", "havePermission": true},
            "TRANSITION_ISSUES": {"key": "TRANSITION_ISSUES", "havePermission": false}
        }}),
    ));
    let problems = access::test_connector(&s.config, "jira").await;
    assert_eq!(
        problems,
        vec![
            "this account may not transition issues in project \"OPS\" (permission TRANSITION_ISSUES)"
        ]
    );
    let recorded = s.server.take();
    assert_eq!(recorded[1].path, "/rest/api/2/mypermissions");
    assert_eq!(recorded[1].query_value("projectKey"), Some("OPS"));

    s.server.reply(Reply::json(401, &fixture("error-401.json")));
    let problems = access::test_connector(&s.config, "jira").await;
    assert!(
        problems[0].contains("refused the personal access token"),
        "{problems:?}"
    );
}
