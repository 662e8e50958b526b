//! The console test harness: the collector's web router on loopback with a
//! real SQLite store, devices in two groups and a real disk alert raised by
//! ingesting reports; a signed-in browser and API token calls.

use std::net::SocketAddr;
use std::sync::Arc;

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

pub const GIB: u64 = 1 << 30;
pub const PASSWORD: &str = "correct horse battery staple";
/// The audit actor of the users the harness makes.
pub const HARNESS: &str = "harness";

pub struct Console {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub store: Arc<dyn Store>,
    /// What keeps the store's database alive (a temporary directory or schema).
    _fixture: Box<dyn std::any::Any + Send>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A signed-in browser: its session cookie and CSRF token.
#[derive(Clone)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

impl Console {
    pub async fn start(settings: impl FnOnce(&mut ConsoleSettings)) -> Console {
        let fixture = TempStore::new().unwrap();
        let store = Arc::clone(&fixture.store);
        seed_fleet(store.as_ref()).await;
        Console::serve(store, Box::new(fixture), settings).await
    }

    /// The web router on a loopback port over `store`, already seeded;
    /// `fixture` is kept as long as the console.
    pub async fn serve(
        store: Arc<dyn Store>,
        fixture: Box<dyn std::any::Any + Send>,
        settings: impl FnOnce(&mut ConsoleSettings),
    ) -> Console {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
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

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/api/v1{path}", self.addr)
    }

    pub async fn add_user(&self, name: &str, role: Role, groups: &[&str]) {
        let scope = if groups == ["*"] {
            Scope::All
        } else {
            Scope::Groups(groups.iter().map(|g| g.to_string()).collect())
        };
        self.store
            .create_user(
                UserRecord {
                    username: name.into(),
                    role,
                    scope,
                    password_hash: password::hash(PASSWORD).unwrap(),
                    created_at: 0,
                    disabled_at: None,
                    password_set_at: 0,
                },
                forewarn_collector::console::auth::audit_entry(
                    HARNESS,
                    "user.create",
                    name,
                    "",
                    "test",
                ),
            )
            .await
            .unwrap();
    }

    pub async fn login_as(&self, name: &str, password: &str) -> reqwest::Response {
        self.http
            .post(self.url("/session"))
            .json(&json!({"username": name, "password": password}))
            .send()
            .await
            .unwrap()
    }

    pub async fn login(&self, name: &str) -> Session {
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
    pub async fn call(
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

    pub async fn bearer(&self, token: &str, method: Method, path: &str) -> (StatusCode, Value) {
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

pub async fn into_parts(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub fn hostnames(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["hostname"].as_str().unwrap().to_owned())
        .collect()
}

pub async fn enroll(store: &dyn Store, token: &str, group: &str, id: &str, hostname: &str) {
    store
        .create_token(
            NewToken {
                id: token.into(),
                token_hash: format!("hash-{token}"),
                group: group.into(),
                created_at: 0,
                expires_at: i64::MAX,
                max_uses: None,
            },
            forewarn_collector::console::auth::audit_entry(
                HARNESS,
                "enrollment_token.create",
                token,
                "",
                "test",
            ),
        )
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

pub fn disk_report(
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
        body: status.into(),
        certificate: None,
    }
}

/// Laptop `l1` (LAPTOP-042, group laptops) and server `s1` (SRV-DB-01, group
/// servers), each with a firing critical disk alert on `/`.
pub async fn seed_fleet(store: &dyn Store) {
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

pub async fn alert_of(console: &Console, session: &Session, device: &str) -> i64 {
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
