//! Single sign-on against a real OpenID provider on loopback: panva's
//! `oidc-provider` (Node.js, OpenID Certified), started per test from
//! `tests/oidc-provider/provider.mjs`. The test plays the browser: it follows
//! each redirect itself and keeps the cookies, so it can also cross two
//! sign-ins (state), swap the PKCE verifier, or have the provider send an
//! ID token for another audience or an expired one.
//!
//! Needs Node.js 20+ and `npm ci --prefix collector/tests/oidc-provider`
//! (CI's deps step runs it); without them the tests fail saying so.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use forewarn_collector::console::authz::{Role, Scope};
use forewarn_collector::console::config::OidcConfig;
use forewarn_collector::console::password;
use forewarn_collector::console::state::ConsoleSettings;
use forewarn_collector::store::Store;
use forewarn_collector::store::console::{AuditQuery, UserRecord, UserUpdate};
use forewarn_secret::Secret;
use forewarn_testkit::store::TempStore;

const CLIENT_SECRET: &str = "test-client-secret";
const LOCAL_PASSWORD: &str = "a local password here";

/// The provider process; killed when dropped.
struct Provider {
    issuer: String,
    _child: tokio::process::Child,
}

impl Provider {
    /// `minimal_id_token`: the ID token carries only `sub` (and the
    /// protocol's claims); names and groups come from userinfo alone.
    async fn start(redirect_uri: &str, accounts: Value, minimal_id_token: bool) -> Provider {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-provider");
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "the test OpenID provider is not installed: run `npm ci --prefix collector/tests/oidc-provider` (Node.js 20+; CI's deps step does this)"
        );
        let mut child = tokio::process::Command::new("node")
            .arg("provider.mjs")
            .current_dir(&dir)
            .env("REDIRECT_URI", redirect_uri)
            .env("ACCOUNTS", accounts.to_string())
            .env(
                "ID_TOKEN_CLAIMS",
                if minimal_id_token { "minimal" } else { "full" },
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot run `node` for the test OpenID provider ({err}): install Node.js 20+"
                )
            });
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the test OpenID provider did not start within 30 s")
            .unwrap()
            .expect("the test OpenID provider exited; see its output above");
        let ready: Value = serde_json::from_str(&line).unwrap();
        // Keep reading, so the provider's later output never meets a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Provider {
            issuer: ready["issuer"].as_str().unwrap().to_owned(),
            _child: child,
        }
    }

    /// Makes the provider's next ID token go wrong (`wrong-audience`, `expired`).
    async fn tamper(&self, mode: &str) {
        let response = reqwest::Client::new()
            .post(format!("{}/test/tamper?mode={mode}", self.issuer))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }

    /// The claims of the last ID token the provider issued.
    async fn last_id_token(&self) -> Value {
        reqwest::get(format!("{}/test/last-id-token", self.issuer))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// A collector web port with single sign-on, and its provider.
struct Fixture {
    addr: SocketAddr,
    store: Arc<dyn Store>,
    provider: Provider,
    _store: TempStore,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Accounts at the provider, with the `groups` claim the collector maps.
fn accounts() -> Value {
    json!({
        "olga": {"preferred_username": "olga", "groups": ["staff", "helpdesk"]},
        "sam": {"preferred_username": "sam", "groups": ["sales"]},
        "root": {"preferred_username": "root", "groups": ["it-admins"]},
    })
}

impl Fixture {
    async fn start() -> Fixture {
        Self::start_with(false).await
    }

    async fn start_with(minimal_id_token: bool) -> Fixture {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let fixture = TempStore::new().unwrap();
        let store = Arc::clone(&fixture.store);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let redirect = format!("http://{addr}/api/v1/session/oidc/callback");
        let provider = Provider::start(&redirect, accounts(), minimal_id_token).await;
        let oidc: OidcConfig = toml::from_str(&format!(
            r#"
            issuer_url = "{issuer}"
            client_id = "forewarn"
            client_secret = {{ env = "UNUSED_IN_TEST" }}
            redirect_url = "{redirect}"
            scopes = ["profile", "groups"]
            mappings = [
                {{ value = "it-admins", role = "admin", groups = ["*"] }},
                {{ value = "helpdesk", role = "operator", groups = ["laptops"] }},
                {{ value = "staff", role = "viewer", groups = ["laptops", "servers"] }},
            ]
            "#,
            issuer = provider.issuer
        ))
        .unwrap();
        let mut console = ConsoleSettings::for_listen(addr);
        console.oidc = Some((oidc, Secret::new(CLIENT_SECRET)));
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
        Fixture {
            addr,
            store,
            provider,
            _store: fixture,
            _stop: stop,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A viewer over all groups with the password [`LOCAL_PASSWORD`].
    async fn add_local_user(&self, name: &str) {
        self.store
            .create_user(
                UserRecord {
                    username: name.into(),
                    role: Role::Viewer,
                    scope: Scope::All,
                    password_hash: password::hash(LOCAL_PASSWORD).unwrap(),
                    created_at: 0,
                    disabled_at: None,
                    password_set_at: 0,
                },
                forewarn_collector::console::auth::audit_entry(
                    "test",
                    "user.create",
                    name,
                    "",
                    "test",
                ),
            )
            .await
            .unwrap();
    }

    async fn audit_actions(&self) -> Vec<(String, String, String, String)> {
        self.store
            .list_audit(AuditQuery {
                limit: 100,
                ..AuditQuery::default()
            })
            .await
            .unwrap()
            .into_iter()
            .rev()
            .map(|a| {
                (
                    a.entry.actor,
                    a.entry.action,
                    a.entry.target,
                    a.entry.detail,
                )
            })
            .collect()
    }
}

/// A browser: follows nothing by itself, keeps every cookie by name (the
/// collector's and the provider's names differ, both on 127.0.0.1).
struct Browser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    async fn get(&mut self, url: &str) -> reqwest::Response {
        self.send(self.http.get(url)).await
    }

    /// Sends `request` with this browser's cookies and keeps what it sets.
    async fn send(&mut self, request: reqwest::RequestBuilder) -> reqwest::Response {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let response = request.header(COOKIE, cookie).send().await.unwrap();
        for set in response.headers().get_all(SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (name, rest) = set.split_once('=').unwrap();
            let value = rest.split(';').next().unwrap();
            if value.is_empty() || set.contains("Max-Age=0") || set.contains("1970") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        response
    }

    /// The redirect target of `response`, made absolute against `base`.
    fn location(response: &reqwest::Response, base: &str) -> String {
        assert!(
            response.status().is_redirection(),
            "expected a redirect from {}, got {}",
            response.url(),
            response.status()
        );
        let location = response.headers()[LOCATION].to_str().unwrap();
        if location.starts_with("http") {
            location.to_owned()
        } else {
            format!("{base}{location}")
        }
    }

    /// Starts a sign-in at the collector; the provider URL it redirects to.
    async fn begin(&mut self, fixture: &Fixture) -> String {
        let response = self.get(&fixture.url("/api/v1/session/oidc")).await;
        Self::location(&response, "")
    }

    /// Signs `account` in at the provider; the collector callback URL it
    /// sends the browser back to.
    async fn authorize(&mut self, fixture: &Fixture, auth_url: &str, account: &str) -> String {
        let issuer = fixture.provider.issuer.as_str();
        let response = self.get(auth_url).await;
        let interaction = Self::location(&response, issuer);
        let response = self.get(&format!("{interaction}?login={account}")).await;
        let resume = Self::location(&response, issuer);
        let response = self.get(&resume).await;
        let callback = Self::location(&response, issuer);
        assert!(
            callback.starts_with(&fixture.url("/api/v1/session/oidc/callback?")),
            "{callback}"
        );
        callback
    }

    /// The whole sign-in; the callback's status and body.
    async fn sign_in(&mut self, fixture: &Fixture, account: &str) -> (StatusCode, String) {
        let auth_url = self.begin(fixture).await;
        let callback = self.authorize(fixture, &auth_url, account).await;
        let response = self.get(&callback).await;
        (response.status(), response.text().await.unwrap())
    }

    /// Who the collector says this browser is.
    async fn whoami(&mut self, fixture: &Fixture) -> (StatusCode, Value) {
        let response = self.get(&fixture.url("/api/v1/session")).await;
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

fn message(body: &str) -> String {
    let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn sign_in_creates_the_user_with_the_mapped_role_and_updates_it_later() {
    let fixture = Fixture::start().await;
    let mut browser = Browser::new();
    let (status, body) = browser.sign_in(&fixture, "olga").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("url=/"), "{body}");
    assert!(
        !browser.cookies.contains_key("forewarn_oidc"),
        "the pending sign-in cookie is spent"
    );
    let (status, me) = browser.whoami(&fixture).await;
    assert_eq!(status, StatusCode::OK);
    // olga holds "staff" and "helpdesk"; "helpdesk" is listed first.
    assert_eq!(me["name"], "olga");
    assert_eq!(me["role"], "operator");
    assert_eq!(me["groups"], json!(["laptops"]));
    let user = fixture.store.user("olga").await.unwrap().unwrap();
    assert!(
        !password::verify("", &user.password_hash),
        "no password signs an SSO user in"
    );

    // An admin lowered her in Forewarn; the provider's claim wins at the next sign-in.
    fixture
        .store
        .update_user(
            "olga",
            UserUpdate {
                role: Some(Role::Viewer),
                ..UserUpdate::default()
            },
            forewarn_collector::console::auth::audit_entry(
                "root",
                "user.change",
                "olga",
                "viewer over *",
                "127.0.0.1",
            ),
        )
        .await
        .unwrap();
    let (status, body) = Browser::new().sign_in(&fixture, "olga").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        fixture.store.user("olga").await.unwrap().unwrap().role,
        Role::Operator
    );
    let issuer_actor = format!("oidc:{}", fixture.provider.issuer);
    let audit = fixture.audit_actions().await;
    let actions: Vec<(&str, &str, &str)> = audit
        .iter()
        .map(|(actor, action, target, _)| (actor.as_str(), action.as_str(), target.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            (issuer_actor.as_str(), "user.create", "olga"),
            ("olga", "session.login", "olga"),
            ("root", "user.change", "olga"),
            (issuer_actor.as_str(), "user.change", "olga"),
            ("olga", "session.login", "olga"),
        ]
    );
    assert!(audit[0].3.contains("operator") && audit[0].3.contains("helpdesk"));
}

#[tokio::test]
async fn a_token_without_a_mapped_role_is_refused_and_local_users_are_not_taken_over() {
    let fixture = Fixture::start().await;
    let mut browser = Browser::new();
    let (status, body) = browser.sign_in(&fixture, "sam").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let text = message(&body);
    assert!(
        text.contains("sam") && text.contains("\"groups\"") && text.contains("sales"),
        "{text}"
    );
    assert_eq!(fixture.store.user("sam").await.unwrap(), None);
    assert_eq!(browser.whoami(&fixture).await.0, StatusCode::UNAUTHORIZED);

    fixture.add_local_user("root").await;
    let (status, body) = Browser::new().sign_in(&fixture, "root").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(message(&body).contains("local user named root"), "{body}");
    assert_eq!(
        fixture.store.user("root").await.unwrap().unwrap().role,
        Role::Viewer
    );
}

#[tokio::test]
async fn wrong_audience_and_expired_id_tokens_are_refused() {
    let fixture = Fixture::start().await;
    for (mode, why) in [("wrong-audience", "audience"), ("expired", "expired")] {
        fixture.provider.tamper(mode).await;
        let mut browser = Browser::new();
        let (status, body) = browser.sign_in(&fixture, "olga").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{mode}: {body}");
        let text = message(&body);
        assert!(
            text.contains("ID token was refused") && text.to_lowercase().contains(why),
            "{mode}: {text}"
        );
        assert_eq!(browser.whoami(&fixture).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(fixture.store.user("olga").await.unwrap(), None);
    // The same provider, untampered, signs her in: the refusals were the tokens'.
    assert_eq!(
        Browser::new().sign_in(&fixture, "olga").await.0,
        StatusCode::OK
    );
    let failures = fixture
        .audit_actions()
        .await
        .into_iter()
        .filter(|(_, action, _, _)| action == "session.login_failed")
        .count();
    assert_eq!(failures, 2);
}

#[tokio::test]
async fn crossed_state_and_a_wrong_pkce_verifier_are_refused() {
    let fixture = Fixture::start().await;

    // Two sign-ins started in one browser: the provider's answer to the
    // first comes back while the browser holds the second's state.
    let mut browser = Browser::new();
    let first = browser.begin(&fixture).await;
    let callback = browser.authorize(&fixture, &first, "olga").await;
    let _second = browser.begin(&fixture).await;
    let response = browser.get(&callback).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let text = message(&response.text().await.unwrap());
    assert!(text.contains("state"), "{text}");

    // A callback in a browser that started nothing.
    let mut browser = Browser::new();
    let auth_url = browser.begin(&fixture).await;
    let callback = browser.authorize(&fixture, &auth_url, "olga").await;
    let mut stranger = Browser::new();
    let response = stranger.get(&callback).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(message(&response.text().await.unwrap()).contains("no sign-in was started"));

    // The right state with another sign-in's PKCE verifier: the provider
    // refuses the code (as `invalid_grant`; oidc-provider does not say why
    // to clients, its log does).
    let mut browser = Browser::new();
    let auth_url = browser.begin(&fixture).await;
    let pending = browser.cookies["forewarn_oidc"].clone();
    let _other = browser.begin(&fixture).await;
    let other_verifier = browser.cookies["forewarn_oidc"]
        .split('.')
        .nth(1)
        .unwrap()
        .to_owned();
    let parts: Vec<&str> = pending.split('.').collect();
    browser.cookies.insert(
        "forewarn_oidc".into(),
        format!("{}.{}.{}", parts[0], other_verifier, parts[2]),
    );
    let callback = browser.authorize(&fixture, &auth_url, "olga").await;
    let response = browser.get(&callback).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let text = message(&response.text().await.unwrap());
    assert!(
        text.contains("refused the code exchange") && text.contains("invalid_grant"),
        "{text}"
    );
    assert_eq!(browser.whoami(&fixture).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(fixture.store.user("olga").await.unwrap(), None);
}

#[tokio::test]
async fn without_oidc_configured_the_start_answers_404() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let fixture = TempStore::new().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(forewarn_collector::web::serve(
        listener,
        Arc::clone(&fixture.store),
        Arc::default(),
        Arc::default(),
        Arc::default(),
        Arc::new(forewarn_collector::config::CollectorConfig::default()),
        ConsoleSettings::for_listen(addr),
        async move {
            let _ = stopped.await;
        },
    ));
    let response = reqwest::get(format!("http://{addr}/api/v1/session/oidc"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(message(&response.text().await.unwrap()).contains("[console.oidc]"));
}

#[tokio::test]
async fn claims_the_id_token_lacks_are_read_from_userinfo() {
    let fixture = Fixture::start_with(true).await;
    let mut browser = Browser::new();
    let (status, body) = browser.sign_in(&fixture, "olga").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id_token = fixture.provider.last_id_token().await;
    assert!(
        id_token.get("groups").is_none() && id_token.get("preferred_username").is_none(),
        "the provider must keep the claims out of the ID token for this test: {id_token}"
    );
    let (status, me) = browser.whoami(&fixture).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (me["name"].clone(), me["role"].clone(), me["groups"].clone()),
        (json!("olga"), json!("operator"), json!(["laptops"]))
    );
    // Userinfo does not make a role out of nothing: sam's groups map to none.
    let (status, body) = Browser::new().sign_in(&fixture, "sam").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(message(&body).contains("sales"), "{body}");
}

#[tokio::test]
async fn signing_out_ends_the_session_at_the_provider_and_comes_back_to_login() {
    let fixture = Fixture::start().await;
    let mut browser = Browser::new();
    assert_eq!(browser.sign_in(&fixture, "olga").await.0, StatusCode::OK);
    let (_, me) = browser.whoami(&fixture).await;
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let request = browser
        .http
        .delete(fixture.url("/api/v1/session"))
        .header("x-csrf-token", csrf);
    let response = browser.send(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let out: Value = response.json().await.unwrap();
    let end_session = out["end_session_url"].as_str().unwrap().to_owned();
    let issuer = fixture.provider.issuer.clone();
    assert!(end_session.starts_with(&issuer), "{end_session}");
    let login = fixture.url("/login");
    for part in [
        "id_token_hint=".to_owned(),
        "client_id=forewarn".to_owned(),
        format!(
            "post_logout_redirect_uri={}",
            login.replace(':', "%3A").replace('/', "%2F")
        ),
    ] {
        assert!(end_session.contains(&part), "{part} in {end_session}");
    }
    assert!(
        !browser.cookies.contains_key("forewarn_oidc_id"),
        "the ID token is forgotten at sign-out"
    );
    assert_eq!(browser.whoami(&fixture).await.0, StatusCode::UNAUTHORIZED);

    // At the provider: it accepts the hint and asks to confirm, then sends
    // the browser back to the console's sign-in page.
    let response = browser.get(&end_session).await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    let xsrf = page
        .split("name=\"xsrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no confirmation form at the provider: {page}"))
        .to_owned();
    let confirm = browser
        .http
        .post(format!("{issuer}/session/end/confirm"))
        .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")]);
    let response = browser.send(confirm).await;
    assert_eq!(Browser::location(&response, &issuer), login);

    // A password session has nothing to end elsewhere.
    fixture.add_local_user("lena").await;
    let http = reqwest::Client::new();
    let signed_in = http
        .post(fixture.url("/api/v1/session"))
        .json(&json!({"username": "lena", "password": LOCAL_PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = signed_in.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let body: Value = signed_in.json().await.unwrap();
    let out = http
        .delete(fixture.url("/api/v1/session"))
        .header(COOKIE, cookie)
        .header("x-csrf-token", body["csrf_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_failed_callback_is_a_page_for_a_browser_and_json_for_api_clients() {
    let fixture = Fixture::start().await;
    let html = |browser: &Browser, url: &str| {
        browser
            .http
            .get(url)
            .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
    };

    // An unmapped role.
    let mut browser = Browser::new();
    let auth_url = browser.begin(&fixture).await;
    let callback = browser.authorize(&fixture, &auth_url, "sam").await;
    let request = html(&browser, &callback);
    let response = browser.send(request).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = response.text().await.unwrap();
    for text in [
        "Single sign-on did not work",
        "sales",
        "[console.oidc] mappings",
        "href=\"/login\"",
    ] {
        assert!(page.contains(text), "{text:?} in {page}");
    }

    // A wrong audience.
    fixture.provider.tamper("wrong-audience").await;
    let mut browser = Browser::new();
    let auth_url = browser.begin(&fixture).await;
    let callback = browser.authorize(&fixture, &auth_url, "olga").await;
    let request = html(&browser, &callback);
    let response = browser.send(request).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("Single sign-on did not work") && page.to_lowercase().contains("audience"),
        "{page}"
    );

    // A crossed state, first as a browser, then as an API client.
    let mut browser = Browser::new();
    let auth_url = browser.begin(&fixture).await;
    let callback = browser.authorize(&fixture, &auth_url, "olga").await;
    let _second = browser.begin(&fixture).await;
    let mut again = Browser {
        http: browser.http.clone(),
        cookies: browser.cookies.clone(),
    };
    let request = html(&browser, &callback);
    let response = browser.send(request).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("state") && page.contains("Try single sign-on again"),
        "{page}"
    );
    let request = again
        .http
        .get(&callback)
        .header("accept", "application/json");
    let response = again.send(request).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(message(&response.text().await.unwrap()).contains("state"));
}
