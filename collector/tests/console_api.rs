//! The console API over real HTTP: the collector's web router on loopback
//! with a real SQLite store, devices in two groups and a real disk alert
//! raised by ingesting reports.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use forewarn_collector::console::authz::{Role, Scope};
use forewarn_collector::console::password;
use forewarn_collector::console::state::ConsoleSettings;
use forewarn_collector::rules::RuleBook;
use forewarn_collector::store::console::UserRecord;
use forewarn_collector::store::{IncomingReport, NewDevice, NewToken, Store};
use forewarn_proto::pb;
use forewarn_testkit::store::TempStore;

const GIB: u64 = 1 << 30;
const PASSWORD: &str = "correct horse battery staple";

struct Console {
    addr: SocketAddr,
    http: reqwest::Client,
    store: Arc<dyn Store>,
    _fixture: TempStore,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A signed-in browser: its session cookie and CSRF token.
#[derive(Clone)]
struct Session {
    cookie: String,
    csrf: String,
}

impl Console {
    async fn start(settings: impl FnOnce(&mut ConsoleSettings)) -> Console {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let fixture = TempStore::new().unwrap();
        let store = Arc::clone(&fixture.store);
        seed_fleet(store.as_ref()).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut console = ConsoleSettings::for_listen(addr);
        settings(&mut console);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(forewarn_collector::web::serve(
            listener,
            Arc::clone(&store),
            Arc::default(),
            Arc::default(),
            Arc::default(),
            Arc::new(forewarn_collector::config::CollectorConfig::default()),
            console,
            async move {
                let _ = stopped.await;
            },
        ));
        Console {
            addr,
            http: reqwest::Client::new(),
            store,
            _fixture: fixture,
            _stop: stop,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/api/v1{path}", self.addr)
    }

    async fn add_user(&self, name: &str, role: Role, groups: &[&str]) {
        let scope = if groups == ["*"] {
            Scope::All
        } else {
            Scope::Groups(groups.iter().map(|g| g.to_string()).collect())
        };
        self.store
            .create_user(UserRecord {
                username: name.into(),
                role,
                scope,
                password_hash: password::hash(PASSWORD).unwrap(),
                created_at: 0,
                disabled_at: None,
                password_set_at: 0,
            })
            .await
            .unwrap();
    }

    async fn login_as(&self, name: &str, password: &str) -> reqwest::Response {
        self.http
            .post(self.url("/session"))
            .json(&json!({"username": name, "password": password}))
            .send()
            .await
            .unwrap()
    }

    async fn login(&self, name: &str) -> Session {
        let response = self.login_as(name, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        let cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let session_cookie = cookies
            .iter()
            .find(|c| c.starts_with("forewarn_session="))
            .unwrap();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(session_cookie.contains(attribute), "{session_cookie}");
        }
        assert!(
            !session_cookie.contains("Secure"),
            "loopback port: no Secure"
        );
        let body: Value = response.json().await.unwrap();
        Session {
            cookie: session_cookie.split(';').next().unwrap().to_owned(),
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        }
    }

    /// A request with the session cookie and, on changes, the CSRF token.
    async fn call(
        &self,
        session: &Session,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method.clone(), self.url(path))
            .header("cookie", &session.cookie);
        if method != Method::GET {
            request = request.header("x-csrf-token", &session.csrf);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        into_parts(request.send().await.unwrap()).await
    }

    async fn bearer(&self, token: &str, method: Method, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .request(method, self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        into_parts(response).await
    }
}

async fn into_parts(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn hostnames(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["hostname"].as_str().unwrap().to_owned())
        .collect()
}

async fn enroll(store: &dyn Store, token: &str, group: &str, id: &str, hostname: &str) {
    store
        .create_token(NewToken {
            id: token.into(),
            token_hash: format!("hash-{token}"),
            group: group.into(),
            created_at: 0,
            expires_at: i64::MAX,
            max_uses: None,
        })
        .await
        .unwrap();
    store
        .enroll_device(
            &format!("hash-{token}"),
            NewDevice {
                id: id.into(),
                hostname: hostname.into(),
                os: "linux".into(),
                agent_version: "0.1.0".into(),
                enrolled_at: 10,
                cert_serial: "01".into(),
                cert_not_after: i64::MAX,
                hardware: Default::default(),
            },
            10,
        )
        .await
        .unwrap()
        .unwrap();
}

fn disk_report(
    device: &str,
    hostname: &str,
    seq: u64,
    at: i64,
    available_gib: u64,
) -> IncomingReport {
    let status = pb::StatusReport {
        seq,
        collected_at_unix_secs: at,
        host: Some(pb::HostFacts {
            hostname: hostname.into(),
            serial_number: format!("SN-{hostname}"),
            model: "ThinkPad T14".into(),
            primary_user: "jdoe".into(),
            ..Default::default()
        }),
        disks: Some(pb::DiskCheck {
            filesystems: vec![pb::DiskStatus {
                mount_point: "/".into(),
                total_bytes: 100 * GIB,
                free_bytes: available_gib * GIB,
                available_bytes: available_gib * GIB,
                ..Default::default()
            }],
        }),
        ..Default::default()
    };
    IncomingReport {
        device_id: device.into(),
        seq,
        boot_id: 0,
        collected_at: at,
        received_at: at,
        hostname: hostname.into(),
        os: "linux".into(),
        agent_version: "0.1.0".into(),
        encoded: status.encode_to_vec(),
    }
}

/// Laptop `l1` (LAPTOP-042, group laptops) and server `s1` (SRV-DB-01, group
/// servers), each with a firing critical disk alert on `/`.
async fn seed_fleet(store: &dyn Store) {
    enroll(store, "t1", "laptops", "l1", "LAPTOP-042").await;
    enroll(store, "t2", "servers", "s1", "SRV-DB-01").await;
    let now = forewarn_collector::clock::now_unix();
    let mut rules = RuleBook::default();
    rules.default.disk_free_bytes.enabled = false;
    let rules = Arc::new(rules);
    for (id, host) in [("l1", "LAPTOP-042"), ("s1", "SRV-DB-01")] {
        for (seq, at, gib) in [(1, now - 120, 50), (2, now - 60, 8), (3, now, 3)] {
            store
                .ingest_report(disk_report(id, host, seq, at, gib), Arc::clone(&rules))
                .await
                .unwrap();
        }
    }
}

async fn alert_of(console: &Console, session: &Session, device: &str) -> i64 {
    let (status, page) = console
        .call(
            session,
            Method::GET,
            &format!("/alerts?device={device}&state=firing"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"][0]["id"].as_i64().expect("a firing alert")
}

#[tokio::test]
async fn login_logout_and_csrf_guard_changes() {
    let console = Console::start(|_| {}).await;
    console.add_user("ana", Role::Admin, &["*"]).await;
    let unauthenticated = console
        .http
        .get(console.url("/devices"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    let (_, body) = into_parts(unauthenticated).await;
    assert_eq!(body["error"]["code"], "unauthenticated");

    let session = console.login("ana").await;
    let (status, me) = console.call(&session, Method::GET, "/session", None).await;
    assert_eq!(
        (status, me["name"].as_str(), me["role"].as_str()),
        (StatusCode::OK, Some("ana"), Some("admin"))
    );

    // A change with the cookie but without the CSRF token is refused and does nothing.
    let alert = alert_of(&console, &session, "l1").await;
    let forged = console
        .http
        .post(console.url(&format!("/alerts/{alert}/ack")))
        .header("cookie", &session.cookie)
        .json(&json!({"note": "forged"}))
        .send()
        .await
        .unwrap();
    let (status, body) = into_parts(forged).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("csrf"))
    );
    let (_, detail) = console
        .call(&session, Method::GET, &format!("/alerts/{alert}"), None)
        .await;
    assert_eq!(detail["alert"]["state"], "firing");

    // With the token it goes through, and the audit log says who, what and from where.
    let (status, acked) = console
        .call(
            &session,
            Method::POST,
            &format!("/alerts/{alert}/ack"),
            Some(json!({"note": "disk swap booked"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{acked}");
    assert_eq!(acked["alert"]["acknowledged_by"], "ana");
    let (_, audit) = console
        .call(&session, Method::GET, "/audit?action=alert.ack", None)
        .await;
    let row = &audit["items"][0];
    assert_eq!(
        (
            row["actor"].as_str(),
            row["target"].as_str(),
            row["detail"].as_str(),
            row["source"].as_str()
        ),
        (
            Some("ana"),
            Some(alert.to_string().as_str()),
            Some("disk swap booked"),
            Some("127.0.0.1")
        )
    );

    // A sign-in form posted from another site is refused.
    let cross_site = console
        .http
        .post(console.url("/session"))
        .header("origin", "https://evil.example")
        .form(&[("username", "ana"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    // The same form from the console's own origin signs in.
    let form = console
        .http
        .post(console.url("/session"))
        .header("origin", format!("http://{}", console.addr))
        .form(&[("username", "ana"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);

    let (status, _) = console
        .call(&session, Method::DELETE, "/session", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = console.call(&session, Method::GET, "/devices", None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old cookie no longer works"
    );
    let (_, audit) = console
        .call(&console.login("ana").await, Method::GET, "/audit", None)
        .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"session.logout") && actions.contains(&"session.login"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn idle_session_expires() {
    let console = Console::start(|s| s.session_idle_secs = 1).await;
    console.add_user("ana", Role::Viewer, &["*"]).await;
    let session = console.login("ana").await;
    let (status, _) = console.call(&session, Method::GET, "/fleet", None).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let (status, body) = console.call(&session, Method::GET, "/fleet", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sign in again"),
        "{body}"
    );
}

#[tokio::test]
async fn viewer_reads_but_gets_403_on_changes() {
    let console = Console::start(|_| {}).await;
    console.add_user("vic", Role::Viewer, &["*"]).await;
    let session = console.login("vic").await;
    let alert = alert_of(&console, &session, "l1").await;
    for (method, path, body) in [
        (
            Method::POST,
            format!("/alerts/{alert}/ack"),
            json!({"note": "x"}),
        ),
        (
            Method::POST,
            format!("/alerts/{alert}/silence"),
            json!({"duration_secs": 3600, "comment": "x"}),
        ),
        (Method::POST, "/devices/l1/retire".to_string(), json!({})),
        (
            Method::POST,
            "/users".to_string(),
            json!({"username": "eve", "role": "admin"}),
        ),
    ] {
        let (status, body) = console.call(&session, method, &path, Some(body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(body["error"]["code"], "forbidden");
    }
    let (_, detail) = console
        .call(&session, Method::GET, "/devices/l1", None)
        .await;
    assert_eq!(detail["device"]["state"], "online");
    assert_eq!(detail["facts"]["serial_number"], "SN-LAPTOP-042");
    assert_eq!(detail["disks"][0]["mount_point"], "/");
}

#[tokio::test]
async fn group_scoped_operator_never_sees_another_groups_device() {
    let console = Console::start(|_| {}).await;
    console.add_user("olga", Role::Operator, &["laptops"]).await;
    console.add_user("ana", Role::Admin, &["*"]).await;
    let admin = console.login("ana").await;
    let server_alert = alert_of(&console, &admin, "s1").await;
    let session = console.login("olga").await;

    let (status, body) = console
        .call(&session, Method::GET, "/devices/s1", None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    // The same answer as for a device that does not exist at all.
    let (_, missing) = console
        .call(&session, Method::GET, "/devices/nope", None)
        .await;
    assert_eq!(body["error"]["code"], missing["error"]["code"]);
    let (status, _) = console
        .call(
            &session,
            Method::GET,
            &format!("/alerts/{server_alert}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = console
        .call(
            &session,
            Method::POST,
            &format!("/alerts/{server_alert}/ack"),
            Some(json!({"note": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = console
        .call(
            &session,
            Method::POST,
            "/devices/s1/retire",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, devices) = console.call(&session, Method::GET, "/devices", None).await;
    assert_eq!(hostnames(&devices), ["LAPTOP-042"]);
    assert_eq!(devices["total"], 1);
    let (_, searched) = console
        .call(&session, Method::GET, "/devices?q=SRV", None)
        .await;
    assert_eq!(searched["total"], 0);
    let (_, alerts) = console.call(&session, Method::GET, "/alerts", None).await;
    let alert_hosts: BTreeSet<&str> = alerts["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["hostname"].as_str().unwrap())
        .collect();
    assert_eq!(alert_hosts, BTreeSet::from(["LAPTOP-042"]));
    let (_, fleet) = console.call(&session, Method::GET, "/fleet", None).await;
    assert_eq!(fleet["devices"], 1);
    assert_eq!(fleet["devices_by_problem"]["disks"], 1);
    assert_eq!(fleet["alerts_by_state"]["firing"], 1);

    // Its own group: it may act, but not move a device out to a group it does not reach.
    let (status, _) = console
        .call(
            &session,
            Method::POST,
            "/devices/l1/move",
            Some(json!({"group": "servers"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let laptop_alert = alert_of(&console, &session, "l1").await;
    let (status, silence) = console
        .call(
            &session,
            Method::POST,
            &format!("/alerts/{laptop_alert}/silence"),
            Some(json!({"duration_secs": 3600, "comment": "disk swap"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{silence}");
    assert_eq!(silence["device_id"], "l1");

    // The admin sees both.
    let (_, all) = console
        .call(
            &admin,
            Method::GET,
            "/devices?sort=hostname&order=desc",
            None,
        )
        .await;
    assert_eq!(hostnames(&all), ["SRV-DB-01", "LAPTOP-042"]);
    let (_, servers) = console
        .call(
            &admin,
            Method::GET,
            "/devices?group=servers&problem=disks",
            None,
        )
        .await;
    assert_eq!(hostnames(&servers), ["SRV-DB-01"]);
    let (_, by_serial) = console
        .call(&admin, Method::GET, "/devices?q=sn-laptop", None)
        .await;
    assert_eq!(hostnames(&by_serial), ["LAPTOP-042"]);
}

#[tokio::test]
async fn api_token_scope_expiry_and_revoke() {
    let console = Console::start(|_| {}).await;
    console.add_user("olga", Role::Operator, &["laptops"]).await;
    let session = console.login("olga").await;

    // No more rights than its maker.
    let (status, _) = console
        .call(
            &session,
            Method::POST,
            "/api-tokens",
            Some(json!({"name": "x", "role": "admin", "expires_in_secs": 3600})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, created) = console
        .call(
            &session,
            Method::POST,
            "/api-tokens",
            Some(json!({"name": "inventory script", "role": "viewer", "groups": ["laptops"], "expires_in_secs": 3600})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    let id = created["token"]["id"].as_str().unwrap().to_owned();

    let (status, devices) = console.bearer(&secret, Method::GET, "/devices").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hostnames(&devices), ["LAPTOP-042"]);
    let (status, _) = console.bearer(&secret, Method::GET, "/devices/s1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = console
        .bearer(&secret, Method::POST, "/devices/l1/retire")
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a viewer token, no CSRF needed but no right either"
    );
    let (_, listed) = console
        .call(&session, Method::GET, "/api-tokens", None)
        .await;
    assert!(listed["items"][0]["last_used_at"].is_i64(), "{listed}");
    assert!(!listed.to_string().contains(&secret));

    let (status, _) = console
        .call(&session, Method::DELETE, &format!("/api-tokens/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = console.bearer(&secret, Method::GET, "/devices").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{body}"
    );

    // An expired token is refused.
    let (status, short) = console
        .call(&session, Method::POST, "/api-tokens", Some(json!({"name": "short", "role": "viewer", "groups": ["laptops"], "expires_in_secs": 60})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let short_secret = short["secret"].as_str().unwrap().to_owned();
    // A token whose expiry has passed (made through the store: the API
    // refuses lifetimes under a minute).
    let mut expired = console
        .store
        .list_api_tokens()
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.name == "short")
        .unwrap();
    expired.id = "expired1".into();
    expired.secret_hash = forewarn_collector::console::secrets::hash("fwk_expired");
    expired.expires_at = 1;
    console.store.create_api_token(expired).await.unwrap();
    let (status, body) = console.bearer("fwk_expired", Method::GET, "/devices").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );
    let (status, _) = console.bearer(&short_secret, Method::GET, "/devices").await;
    assert_eq!(status, StatusCode::OK);

    // Disabling the owner disables the token.
    console
        .store
        .update_user(
            "olga",
            forewarn_collector::store::console::UserUpdate {
                disabled_at: Some(Some(1)),
                ..Default::default()
            },
            1,
        )
        .await
        .unwrap();
    let (status, _) = console.bearer(&short_secret, Method::GET, "/devices").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn repeated_bad_passwords_are_throttled_with_a_clear_429() {
    let console = Console::start(|s| {
        s.login_free_failures = 3;
        s.login_base_lockout = Duration::from_secs(60);
    })
    .await;
    console.add_user("ana", Role::Admin, &["*"]).await;
    for _ in 0..3 {
        let response = console.login_as("ana", "wrong password!!").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // The fourth failure locks the user name (and this address).
    let response = console.login_as("ana", "wrong password!!").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = console.login_as("ana", PASSWORD).await;
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let (_, body) = into_parts(response).await;
    assert_eq!(body["error"]["code"], "throttled");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("try again in"),
        "{body}"
    );
    let failed = console
        .store
        .list_audit(forewarn_collector::store::console::AuditQuery {
            action: Some("session.login_failed".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 4);
    assert_eq!(failed[0].entry.source, "127.0.0.1");
}

#[tokio::test]
async fn openapi_document_parses_and_lists_every_route() {
    let console = Console::start(|_| {}).await;
    let document: Value = console
        .http
        .get(console.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();
    let served: BTreeSet<String> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    let expected: BTreeSet<String> = [
        "POST /session",
        "GET /session",
        "DELETE /session",
        "GET /session/oidc",
        "GET /session/oidc/callback",
        "GET /fleet",
        "GET /devices",
        "GET /devices/{id}",
        "POST /devices/{id}/retire",
        "POST /devices/{id}/restore",
        "POST /devices/{id}/move",
        "GET /alerts",
        "GET /alerts/{id}",
        "POST /alerts/{id}/ack",
        "POST /alerts/{id}/silence",
        "GET /silences",
        "DELETE /silences/{id}",
        "GET /users",
        "POST /users",
        "PATCH /users/{username}",
        "GET /api-tokens",
        "POST /api-tokens",
        "DELETE /api-tokens/{id}",
        "GET /audit",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(served, expected);
    // Filters are documented as parameters, schemas come from the types.
    let device_params: Vec<&str> = paths["/devices"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "group", "os", "state", "problem", "q", "sort", "cursor", "limit",
    ] {
        assert!(
            device_params.contains(&name),
            "{name} missing from {device_params:?}"
        );
    }
    assert!(
        document["components"]["schemas"]["DeviceSummary"]["properties"]["hostname"].is_object()
    );
    // Every documented route answers (401 without credentials, never 404 or
    // 405), except sign-in's own: single sign-on is not configured here.
    for entry in &served {
        let (method, path) = entry.split_once(' ').unwrap();
        let path = path.replace("{id}", "1").replace("{username}", "ana");
        let response = console
            .http
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                console.url(&path),
            )
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(
            status == StatusCode::UNAUTHORIZED
                || (path == "/session" && method != "GET" && method != "DELETE")
                || (path.starts_with("/session/oidc") && status == StatusCode::NOT_FOUND),
            "{entry}: {status}"
        );
    }
}
