//! "Send test" on a ticket connector: the settings page's button calls
//! `POST /connectors/{name}/test`, which runs the check of `tickets test`
//! against the real connector (here a signed webhook at a stand-in server).

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::json;

use forewarn_collector::console::authz::Role;
use forewarn_collector::tickets::config::TicketsConfig;
use forewarn_testkit::vendor::{Reply, VendorServer};

use crate::harness::*;

fn webhook(url: &str, dir: &tempfile::TempDir) -> TicketsConfig {
    let secret = dir.path().join("hook-secret");
    std::fs::write(&secret, "It is a secret").unwrap();
    toml::from_str(&format!(
        "[connectors.hook]\nkind = \"webhook\"\nurl = \"{url}/hook\"\nsecret = {{ file = \"{}\" }}\ntimeout_secs = 2\n",
        secret.display()
    ))
    .unwrap()
}

#[tokio::test]
async fn an_admin_tests_a_connector_and_sees_the_systems_answer() {
    let server = VendorServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = webhook(&server.url(), &dir);
    let console = Console::start(move |settings| settings.tickets = Arc::new(config)).await;
    console.add_user("ada", Role::Admin, &["*"]).await;
    console.add_user("olga", Role::Operator, &["*"]).await;
    let ada = console.login("ada").await;

    server.reply(Reply::json(204, &json!({})));
    let (status, ready) = console
        .call(&ada, Method::POST, "/connectors/hook/test", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(
        (ready["ok"].clone(), ready["kind"].clone()),
        (json!(true), json!("webhook"))
    );
    let sent = server.take();
    assert_eq!(sent.len(), 1, "one test event reached the webhook");
    assert_eq!(sent[0].json()["event"], "test");

    server.reply(Reply::json(401, &json!({"error": "bad signature"})));
    let (status, refused) = console
        .call(&ada, Method::POST, "/connectors/hook/test", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{refused}");
    assert_eq!(refused["ok"], false);
    let problem = refused["problems"][0].as_str().unwrap();
    assert!(problem.contains("secret differs"), "{problem}");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("[tickets.connectors.hook]"), "{message}");

    let (status, body) = console
        .call(&ada, Method::POST, "/connectors/nope/test", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let olga = console.login("olga").await;
    let (status, body) = console
        .call(&olga, Method::POST, "/connectors/hook/test", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let no_csrf = console
        .http
        .post(console.url("/connectors/hook/test"))
        .header("cookie", &ada.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        server.take().len(),
        1,
        "only the second test reached the webhook"
    );

    let audit: Vec<(String, String)> = console
        .store
        .list_audit(forewarn_collector::store::console::AuditQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .rev()
        .filter(|a| a.entry.action == "connector.test")
        .map(|a| (a.entry.actor, a.entry.detail))
        .collect();
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert_eq!(audit[0], ("ada".to_owned(), "ready".to_owned()));
    assert!(audit[1].1.contains("secret differs"), "{audit:?}");
}

#[tokio::test]
async fn a_test_of_a_receiver_that_is_down_says_why() {
    let dir = tempfile::tempdir().unwrap();
    // A port that was just free: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = webhook(&format!("http://127.0.0.1:{port}"), &dir);
    let console = Console::start(move |settings| settings.tickets = Arc::new(config)).await;
    console.add_user("ada", Role::Admin, &["*"]).await;
    let ada = console.login("ada").await;
    let (status, down) = console
        .call(&ada, Method::POST, "/connectors/hook/test", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{down}");
    assert_eq!(down["ok"], false);
    let problem = down["problems"][0].as_str().unwrap();
    assert!(
        problem.to_lowercase().contains("connection refused"),
        "the cause, not only \"error sending request\": {problem}"
    );
}
