//! The Request Tracker connector against a real Request Tracker 5 (Debian's
//! `request-tracker5` with SQLite, installed by `.ci/rt/install.sh`), started on a
//! free loopback port by `.ci/rt/start.sh` for this test and stopped after it.
//!
//! One test function walks the whole ticket life on one RT, because starting an
//! RT costs seconds; each started RT has its own copy of the database
//! (`.ci/rt/start.sh`), so further test functions could run in parallel.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use forewarn_collector::tickets::config::TicketsConfig;
use forewarn_collector::tickets::{
    Connector, ConnectorError, Severity, TicketRef, TicketRequest, access,
};
use serde_json::Value;

fn rt_scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/rt")
}

/// A running RT; stopped (whole process group) when dropped.
struct RequestTrackerServer {
    state: tempfile::TempDir,
    url: String,
    bot_token: String,
    tech_token: String,
}

impl RequestTrackerServer {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let state = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let output = Command::new("bash")
            .arg(rt_scripts().join("start.sh"))
            .arg(port.to_string())
            .arg(state.path())
            .output()
            .expect("run .ci/rt/start.sh");
        assert!(
            output.status.success(),
            "starting Request Tracker failed (install it with .ci/rt/install.sh as root):\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        eprintln!(
            "{} (start.sh total {} ms)",
            String::from_utf8_lossy(&output.stdout).trim(),
            started.elapsed().as_millis()
        );
        let tokens = std::fs::read_to_string(state.path().join("tokens.env")).unwrap();
        let token = |name: &str| {
            tokens
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}='")))
                .and_then(|v| v.strip_suffix('\''))
                .unwrap_or_else(|| panic!("{name} missing from tokens.env"))
                .to_string()
        };
        Self {
            url: format!("http://127.0.0.1:{port}/rt"),
            bot_token: token("RT_BOT_TOKEN"),
            tech_token: token("RT_TECH_TOKEN"),
            state,
        }
    }

    /// Tickets config with the bot's token in a file, as an operator would set it up.
    fn config(&self, token: &str, extra: &str) -> TicketsConfig {
        let token_file = self
            .state
            .path()
            .join(format!("token-{}", uuid::Uuid::new_v4()));
        std::fs::write(&token_file, format!("{token}\n")).unwrap();
        let text = format!(
            r#"
[connectors.rt]
kind = "request_tracker"
url = "{url}"
token = {{ file = "{file}" }}
queue = "Endpoint Alerts"
{extra}
"#,
            url = self.url,
            file = token_file.display()
        );
        let config: TicketsConfig = toml::from_str(&text).unwrap();
        assert_eq!(config.problems(), Vec::<String>::new());
        config
    }

    fn connector(&self, extra: &str) -> Box<dyn Connector> {
        self.config(&self.bot_token, extra).connectors["rt"]
            .build("rt")
            .unwrap()
    }

    async fn api_get(&self, path: &str, query: &[(&str, &str)]) -> Value {
        reqwest::Client::new()
            .get(format!("{}/REST/2.0/{path}", self.url))
            .header("Authorization", format!("token {}", self.bot_token))
            .query(query)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn tickets_with_key(&self, key: &str) -> u64 {
        let query = format!("'CF.{{AlertKey}}' = '{}'", key.replace('\'', "\\'"));
        let page = self.api_get("tickets", &[("query", &query)]).await;
        page["total"].as_u64().unwrap()
    }

    async fn technician_replies(&self, ticket: &TicketRef) {
        let status = reqwest::Client::new()
            .post(format!(
                "{}/REST/2.0/ticket/{}/correspond",
                self.url, ticket.id
            ))
            .header("Authorization", format!("token {}", self.tech_token))
            .json(&serde_json::json!({
                "Content": "Looking into it, please leave the laptop on tonight.",
                "ContentType": "text/plain",
            }))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 201);
    }
}

impl Drop for RequestTrackerServer {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(rt_scripts().join("stop.sh"))
            .arg(self.state.path())
            .status();
    }
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
    let rt = RequestTrackerServer::start();
    let connector = rt.connector("");
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
    let record = rt.api_get(&format!("ticket/{}", ticket.id), &[]).await;
    assert_eq!(record["Subject"], request(&key).subject);
    assert_eq!(record["Priority"].to_string().trim_matches('"'), "90");
    let in_queue = rt
        .api_get(
            "tickets",
            &[(
                "query",
                &format!("Queue = 'Endpoint Alerts' AND id = {}", ticket.id),
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
    assert_eq!(rt.tickets_with_key(&key).await, 1, "no duplicate ticket");

    // Only the collector touched it: may be resolved.
    assert!(!connector.worked_by_human(&ticket).await.unwrap());
    connector
        .resolve(&ticket, "Recovered: backup succeeded at 04:00 UTC.")
        .await
        .unwrap();
    let record = rt.api_get(&format!("ticket/{}", ticket.id), &[]).await;
    assert_eq!(record["Status"], "resolved");
    assert_eq!(connector.find_open(&key).await.unwrap(), None);

    // A technician replies before recovery: the ticket counts as worked.
    let key2 = format!("dev-8/backup_stale/home-{run}");
    let worked = connector.open(&request(&key2)).await.unwrap();
    assert!(!connector.worked_by_human(&worked).await.unwrap());
    rt.technician_replies(&worked).await;
    assert!(connector.worked_by_human(&worked).await.unwrap());

    // RT answers 200 with an error message for a status it does not know; the
    // connector reads the status back and reports a permanent failure.
    let bogus = rt.connector("resolved_status = \"fixed-ish\"");
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
        access::test_connector(&rt.config(&rt.bot_token, ""), "rt").await,
        Vec::<String>::new()
    );
    let problems = access::test_connector(&rt.config("not-a-token", ""), "rt").await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("refused the token"), "{problems:?}");
    let mut wrong_queue = rt.config(&rt.bot_token, "");
    if let Some(forewarn_collector::tickets::config::ConnectorConfig::RequestTracker(c)) =
        wrong_queue.connectors.get_mut("rt")
    {
        c.queue = "General".into();
    }
    let problems = access::test_connector(&wrong_queue, "rt").await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("lacks SeeQueue"), "{problems:?}");
}
