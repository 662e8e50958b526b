//! The console API over real HTTP: the collector's web router on loopback
//! with a real SQLite store, devices in two groups and a real disk alert
//! raised by ingesting reports.

mod changes;
mod connectors;
mod harness;
mod live;
mod measure;

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use forewarn_collector::console::authz::Role;
use harness::*;

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
    // Idle limit wide enough that a loaded CI machine still makes the first call
    // inside it (a debug build's password hash runs between sign-in and that call).
    let console = Console::start(|s| s.session_idle_secs = 4).await;
    console.add_user("ana", Role::Viewer, &["*"]).await;
    let session = console.login("ana").await;
    let (status, _) = console.call(&session, Method::GET, "/fleet", None).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(8_500)).await;
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
    console
        .store
        .create_api_token(
            expired,
            forewarn_collector::console::auth::audit_entry(
                "test",
                "api_token.create",
                "expired1",
                "",
                "test",
            ),
        )
        .await
        .unwrap();
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
            forewarn_collector::console::auth::audit_entry(
                "test",
                "user.disable",
                "olga",
                "",
                "test",
            ),
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
        "DELETE /devices/{id}",
        "POST /devices/{id}/retire",
        "POST /devices/{id}/restore",
        "POST /devices/{id}/move",
        "GET /alerts",
        "GET /alerts/{id}",
        "POST /alerts/{id}/ack",
        "POST /alerts/{id}/silence",
        "POST /alerts/{id}/notes",
        "POST /maintenance-windows",
        "GET /enrollment-tokens",
        "POST /enrollment-tokens",
        "DELETE /enrollment-tokens/{id}",
        "GET /deliveries",
        "POST /deliveries/{id}/retry",
        "POST /connectors/{name}/test",
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
    // Every operation documents the answers any route may give.
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            for status in ["400", "401", "503"] {
                assert!(
                    operation["responses"][status].is_object(),
                    "{method} {path} does not document {status}"
                );
            }
        }
    }
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

#[tokio::test]
async fn forwarded_for_names_the_client_only_behind_a_trusted_proxy() {
    use forewarn_collector::console::config::IpRange;
    use forewarn_collector::store::console::AuditQuery;

    async fn sign_in(console: &Console, user: &str, password: &str, client: &str) -> StatusCode {
        console
            .http
            .post(console.url("/session"))
            .header("x-forwarded-for", client)
            .json(&json!({"username": user, "password": password}))
            .send()
            .await
            .unwrap()
            .status()
    }
    async fn last_source(console: &Console) -> String {
        let rows = console
            .store
            .list_audit(AuditQuery {
                limit: 1,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        rows[0].entry.source.clone()
    }

    // No trusted proxy: anyone could write the header, so it is ignored.
    let direct = Console::start(|_| {}).await;
    direct.add_user("ana", Role::Admin, &["*"]).await;
    assert_eq!(
        sign_in(&direct, "ana", PASSWORD, "203.0.113.9").await,
        StatusCode::OK
    );
    assert_eq!(last_source(&direct).await, "127.0.0.1");

    // Behind the proxy on loopback: the audit log names the client.
    let proxied = Console::start(|settings| {
        settings.trusted_proxies = vec![IpRange::parse("127.0.0.0/8").unwrap()];
    })
    .await;
    proxied.add_user("ana", Role::Admin, &["*"]).await;
    assert_eq!(
        sign_in(&proxied, "ana", PASSWORD, "198.51.100.1, 203.0.113.9").await,
        StatusCode::OK
    );
    assert_eq!(last_source(&proxied).await, "203.0.113.9");

    // The throttle counts per client too: a guesser at one address, trying
    // a new user name each time, is locked out; ana at another is not.
    for n in 0..5 {
        let status = sign_in(
            &proxied,
            &format!("guess{n}"),
            "wrong password!",
            "203.0.113.66",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        sign_in(&proxied, "guess5", "wrong password!", "203.0.113.66").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&proxied, "guess6", "wrong password!", "203.0.113.66").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(last_source(&proxied).await, "203.0.113.66");
    assert_eq!(
        sign_in(&proxied, "ana", PASSWORD, "203.0.113.10").await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_request_the_api_cannot_read_gets_the_one_error_shape() {
    let console = Console::start(|_| {}).await;
    console.add_user("ana", Role::Admin, &["*"]).await;
    let session = console.login("ana").await;
    let alert = alert_of(&console, &session, "l1").await;
    let response = console
        .http
        .post(console.url(&format!("/alerts/{alert}/ack")))
        .header("cookie", &session.cookie)
        .header("x-csrf-token", &session.csrf)
        .header("content-type", "text/plain")
        .body("ack it")
        .send()
        .await
        .unwrap();
    let (status, body) = into_parts(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid", "{body}");
    let (status, body) = console
        .call(&session, Method::GET, "/alerts/not-a-number", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid", "{body}");
}

#[tokio::test]
async fn the_alert_list_pages_with_a_cursor_and_names_what_it_does_not_know() {
    let console = Console::start(|_| {}).await;
    console.add_user("ana", Role::Admin, &["*"]).await;
    console.add_user("olga", Role::Operator, &["servers"]).await;
    let ana = console.login("ana").await;
    let (status, all) = console
        .call(&ana, Method::GET, "/alerts?sort=first_seen&order=asc", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let every: Vec<Value> = all["items"].as_array().unwrap().clone();
    assert_eq!((every.len(), all["total"].clone()), (2, json!(2)));
    assert!(all["next_cursor"].is_null());

    let mut paged = Vec::new();
    let mut path = "/alerts?sort=first_seen&order=asc&limit=1".to_owned();
    loop {
        let (status, page) = console.call(&ana, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["total"], 2, "every page counts them all");
        paged.extend(page["items"].as_array().unwrap().clone());
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!("/alerts?sort=first_seen&order=asc&limit=1&cursor={cursor}")
            }
            None => break,
        }
    }
    assert_eq!(
        paged, every,
        "one at a time, the same alerts in the same order"
    );

    let olga = console.login("olga").await;
    let (_, servers) = console.call(&olga, Method::GET, "/alerts", None).await;
    assert_eq!(servers["total"], 1);
    assert_eq!(servers["items"][0]["device_id"], "s1");
    let (_, other_group) = console
        .call(&olga, Method::GET, "/alerts?group=laptops", None)
        .await;
    assert_eq!(other_group["total"], 0, "{other_group}");

    let (status, unknown) = console
        .call(&ana, Method::GET, "/alerts?rule=disk_ful", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{unknown}");
    assert!(
        unknown.to_string().contains("disk_free_percent"),
        "names the rules it knows: {unknown}"
    );
    let (status, bad_cursor) = console
        .call(&ana, Method::GET, "/alerts?cursor=zz", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad_cursor}");
}
