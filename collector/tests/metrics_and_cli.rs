//! `/metrics` and the overview page (behind sign-in) over real HTTP, and `tickets test` run as the
//! real binary.

use std::process::Command;
use std::sync::Arc;

use forewarn_collector::console::authz::{Role, Scope};
use forewarn_collector::console::password;
use forewarn_collector::store::console::UserRecord;
use forewarn_collector::tickets::metrics::{DeliveryResult, TicketMetrics};
use forewarn_testkit::store::TempStore;

#[tokio::test]
async fn metrics_endpoint_serves_prometheus_text_and_the_fleet_page_shows_the_failing_alert() {
    // reqwest is built without a crypto provider of its own (the collector's is aws-lc-rs).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let fixture = TempStore::new().unwrap();
    let store = Arc::clone(&fixture.store);
    let metrics = Arc::new(TicketMetrics::default());
    metrics.count("rt", DeliveryResult::Delivered);
    metrics.count("rt", DeliveryResult::Delivered);
    metrics.count("rt", DeliveryResult::Retry);
    metrics.set_failing(true);
    store
        .set_ticketing_failing(
            Some("3 ticket operation(s) undelivered".into()),
            1_795_000_000,
        )
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(forewarn_collector::web::serve(
        listener,
        store,
        metrics,
        Arc::default(),
        Arc::default(),
        Arc::new(forewarn_collector::config::CollectorConfig::default()),
        forewarn_collector::console::state::ConsoleSettings::for_listen(addr),
        async move {
            let _ = stop_rx.await;
        },
    ));

    let response = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    for line in [
        "# TYPE forewarn_outbox_rows gauge",
        "forewarn_outbox_rows{state=\"pending\"} 0",
        "forewarn_outbox_rows{state=\"failed\"} 0",
        "# TYPE forewarn_outbox_oldest_undelivered_age_seconds gauge",
        "forewarn_outbox_oldest_undelivered_age_seconds 0",
        "# TYPE forewarn_ticket_deliveries_total counter",
        "forewarn_ticket_deliveries_total{connector=\"rt\",result=\"delivered\"} 2",
        "forewarn_ticket_deliveries_total{connector=\"rt\",result=\"retry\"} 1",
        "# TYPE forewarn_ticketing_failing gauge",
        "forewarn_ticketing_failing 1",
        "# TYPE forewarn_devices gauge",
        "forewarn_devices{state=\"online\"} 0",
        "forewarn_devices{state=\"never_reported\"} 0",
        "# TYPE forewarn_alerts_firing gauge",
        "forewarn_alerts_firing{rule=\"ticketing_failing\",severity=\"critical\"} 1",
        "# TYPE forewarn_reports_received_total counter",
        "forewarn_reports_received_total{result=\"stored\"} 0",
        "# TYPE forewarn_report_ingest_seconds histogram",
        "forewarn_report_ingest_seconds_bucket{le=\"+Inf\"} 0",
        "forewarn_report_ingest_seconds_count 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line:?} missing from\n{text}"
        );
    }
    // Every sample belongs to a family announced with HELP and TYPE.
    for sample in text.lines().filter(|l| !l.starts_with('#')) {
        let name = sample.split(['{', ' ']).next().unwrap();
        let name = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|family| text.contains(&format!("# TYPE {family} histogram")))
            .unwrap_or(name);
        assert!(text.contains(&format!("# HELP {name} ")), "{name}");
        assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
    }

    let live = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    // Served without the collector's agent port and ticket worker: not ready, and says why.
    let ready = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(
        body["not_ready"],
        serde_json::json!(["agent_listener", "ticket_worker"])
    );
    assert_eq!(body["checks"]["database"]["ready"], true);
    assert!(
        body["checks"]["ticket_worker"]["problem"]
            .as_str()
            .unwrap()
            .contains("ticket worker is not running"),
        "{body}"
    );

    // The overview needs sign-in: a visitor is sent to the sign-in page.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let visitor = no_redirects
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(visitor.status(), 303);
    assert_eq!(visitor.headers()["location"], "/login?next=%2F");
    fixture
        .store
        .create_user(
            UserRecord {
                username: "olga".into(),
                role: Role::Viewer,
                scope: Scope::All,
                password_hash: password::hash("correct horse battery").unwrap(),
                created_at: 0,
                disabled_at: None,
                password_set_at: 0,
            },
            forewarn_collector::console::auth::audit_entry(
                "test",
                "user.create",
                "olga",
                "",
                "test",
            ),
        )
        .await
        .unwrap();
    let login = no_redirects
        .post(format!("http://{addr}/api/v1/session"))
        .json(&serde_json::json!({"username": "olga", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("forewarn_session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = no_redirects
        .get(format!("http://{addr}/"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("data-rule=\"ticketing_failing\""), "{page}");
    assert!(page.contains("3 ticket operation(s) undelivered"), "{page}");
    assert!(
        !page.contains("data-action=\"ack\""),
        "a viewer gets no ack button"
    );
    let _ = stop_tx.send(());
    server.await.unwrap().unwrap();
}

fn tickets_test(config: &str, connector: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collector.toml");
    std::fs::write(&path, config).unwrap();
    std::fs::write(dir.path().join("rt-token"), "1-14-0123456789abcdef\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_forewarn-collector"))
        .args(["--config", path.to_str().unwrap()])
        .args(["tickets", "test", "--connector", connector])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn tickets_test_names_each_problem_and_exits_non_zero() {
    // Port 9 on loopback (discard) has no listener here: RT cannot be reached.
    let config = "[tickets.connectors.rt]\nkind = \"request_tracker\"\nurl = \"http://127.0.0.1:9/rt\"\ntoken = { file = \"rt-token\" }\nqueue = \"General\"\ntimeout_secs = 2\n";
    let (ok, text) = tickets_test(config, "rt");
    assert!(!ok, "{text}");
    assert!(text.contains("problem: "), "{text}");
    assert!(
        !text.contains("0123456789abcdef"),
        "the token is never printed: {text}"
    );

    let (ok, text) = tickets_test(config, "jira");
    assert!(!ok);
    assert!(
        text.contains("problem: there is no connector \"jira\"; configured: rt"),
        "{text}"
    );
}

#[test]
fn output_to_a_closed_pipe_exits_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collector.toml");
    std::fs::write(&path, "data_dir = \"data\"\n").unwrap();
    // The reader is gone before the command writes: like `| head` after it read enough.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = Command::new(env!("CARGO_BIN_EXE_forewarn-collector"))
        .args(["--config", path.to_str().unwrap(), "token", "list"])
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert!(output.status.success(), "{stderr}");
}
