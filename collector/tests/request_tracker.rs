//! The Request Tracker connector against a real Request Tracker 5 (Debian's
//! `request-tracker5` with SQLite, installed by `.ci/rt/install.sh`), started on a
//! free loopback port by `.ci/rt/start.sh` for this test and stopped after it.
//!
//! One test function walks the whole ticket life on one RT, because starting an
//! RT costs seconds; each started RT has its own copy of the database
//! (`.ci/rt/start.sh`), so further test functions could run in parallel.

use std::path::Path;
use std::time::Instant;

use forewarn_collector::tickets::config::TicketsConfig;
use forewarn_collector::tickets::{
    Connector, ConnectorError, Severity, TicketRef, TicketRequest, access,
};
use forewarn_testkit::request_tracker::{QUEUE, RequestTracker};
use serde_json::Value;

/// Tickets config with `token` in a file under `dir`, as an operator would set it up.
fn config(rt: &RequestTracker, dir: &Path, token: &str, extra: &str) -> TicketsConfig {
    let token_file = dir.join(format!("token-{}", uuid::Uuid::new_v4()));
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let text = format!(
        r#"
[connectors.rt]
kind = "request_tracker"
url = "{url}"
token = {{ file = "{file}" }}
queue = "{QUEUE}"
{extra}
"#,
        url = rt.url(),
        file = token_file.display()
    );
    let config: TicketsConfig = toml::from_str(&text).unwrap();
    assert_eq!(config.problems(), Vec::<String>::new());
    config
}

fn build_connector(rt: &RequestTracker, dir: &Path, extra: &str) -> Box<dyn Connector> {
    config(rt, dir, rt.bot_token(), extra).connectors["rt"]
        .build("rt")
        .unwrap()
}

async fn api_get(rt: &RequestTracker, path: &str, query: &[(&str, &str)]) -> Value {
    rt.api_get(path, query).await.unwrap()
}

async fn tickets_with_key(rt: &RequestTracker, key: &str) -> u64 {
    let query = format!("'CF.{{AlertKey}}' = '{}'", key.replace('\'', "\\'"));
    let page = api_get(rt, "tickets", &[("query", &query)]).await;
    page["total"].as_u64().unwrap()
}

fn request(key: &str) -> TicketRequest {
    TicketRequest {
        correlation_key: key.into(),
        subject: "[critical] laptop-042: backup job nightly failed (exit code 3)".into(),
        body: "backup job nightly failed (exit code 3)\n\nDevice: laptop-042".into(),
        severity: Severity::Critical,
        priority: "90".into(),
        destination: None,
        labels: vec!["forewarn".into()],
        device_url: Some("https://forewarn.example/devices/dev-7".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_tracker_opens_one_ticket_per_key_comments_resolves_and_respects_technicians() {
    let rt = RequestTracker::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let connector = build_connector(&rt, dir.path(), "");
    // The database outlives the test; a fresh key per run keeps runs apart.
    let run = uuid::Uuid::new_v4();
    let key = format!("dev-7/backup_failed/nightly'{run}");

    // Nothing yet.
    assert_eq!(connector.find_open(&key).await.unwrap(), None);

    let opened_at = Instant::now();
    let ticket = connector.open(&request(&key)).await.unwrap();
    eprintln!(
        "open (create + read back) took {} ms",
        opened_at.elapsed().as_millis()
    );
    assert!(
        ticket
            .url
            .as_deref()
            .unwrap()
            .ends_with(&format!("id={}", ticket.id))
    );

    // Right queue, subject, priority and correlation key.
    let record = api_get(&rt, &format!("ticket/{}", ticket.id), &[]).await;
    assert_eq!(record["Subject"], request(&key).subject);
    assert_eq!(record["Priority"].to_string().trim_matches('"'), "90");
    let in_queue = api_get(
        &rt,
        "tickets",
        &[(
            "query",
            &format!("Queue = '{QUEUE}' AND id = {}", ticket.id),
        )],
    )
    .await;
    assert_eq!(in_queue["total"], 1);

    // Found again by its key; a second "open" for the same problem finds it and
    // comments instead of creating.
    assert_eq!(
        connector.find_open(&key).await.unwrap(),
        Some(ticket.clone())
    );
    connector
        .comment(&ticket, "Still failing: 2nd run failed at 03:00 UTC.")
        .await
        .unwrap();
    let again = connector
        .find_open(&key)
        .await
        .unwrap()
        .expect("still open");
    assert_eq!(again.id, ticket.id);
    assert_eq!(tickets_with_key(&rt, &key).await, 1, "no duplicate ticket");

    // Only the collector touched it: may be resolved.
    assert!(!connector.worked_by_human(&ticket).await.unwrap());
    connector
        .resolve(&ticket, "Recovered: backup succeeded at 04:00 UTC.")
        .await
        .unwrap();
    let record = api_get(&rt, &format!("ticket/{}", ticket.id), &[]).await;
    assert_eq!(record["Status"], "resolved");
    assert_eq!(connector.find_open(&key).await.unwrap(), None);

    // A technician replies before recovery: the ticket counts as worked.
    let key2 = format!("dev-8/backup_stale/home-{run}");
    let worked = connector.open(&request(&key2)).await.unwrap();
    assert!(!connector.worked_by_human(&worked).await.unwrap());
    rt.reply_as_technician(
        &worked.id,
        "Looking into it, please leave the laptop on tonight.",
    )
    .await
    .unwrap();
    assert!(connector.worked_by_human(&worked).await.unwrap());

    // RT answers 200 with an error message for a status it does not know; the
    // connector reads the status back and reports a permanent failure.
    let bogus = build_connector(&rt, dir.path(), "resolved_status = \"fixed-ish\"");
    let err = bogus.resolve(&worked, "done").await.unwrap_err();
    assert!(matches!(err, ConnectorError::Rejected { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("fixed-ish"), "{err}");

    // A ticket that does not exist: RT 5.0.3 answers 400 "Permission Denied"
    // (not 404); either way a permanent failure, not something to retry.
    let missing = TicketRef {
        id: "99999999".into(),
        url: None,
    };
    let err = connector.comment(&missing, "x").await.unwrap_err();
    assert!(
        matches!(
            err,
            ConnectorError::Rejected {
                status: Some(400),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());

    // `tickets test`: all good with the bot's token; plain words otherwise.
    assert_eq!(
        access::test_connector(&config(&rt, dir.path(), rt.bot_token(), ""), "rt").await,
        Vec::<String>::new()
    );
    let problems = access::test_connector(&config(&rt, dir.path(), "not-a-token", ""), "rt").await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("refused the token"), "{problems:?}");
    let mut wrong_queue = config(&rt, dir.path(), rt.bot_token(), "");
    if let Some(forewarn_collector::tickets::config::ConnectorConfig::RequestTracker(c)) =
        wrong_queue.connectors.get_mut("rt")
    {
        c.queue = "General".into();
    }
    let problems = access::test_connector(&wrong_queue, "rt").await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("lacks SeeQueue"), "{problems:?}");
}
