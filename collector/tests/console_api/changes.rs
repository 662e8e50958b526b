//! The console's changes beyond acknowledging and silencing: enrollment
//! tokens, ticket deliveries and their retry, device deletion, maintenance
//! windows and alert notes; each bounded by role and groups, each audited.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use forewarn_collector::console::authz::Role;
use forewarn_collector::store::console::AuditQuery;
use forewarn_collector::store::outbox::OutboxState;

use crate::harness::*;

async fn audit_actions(console: &Console) -> Vec<(String, String, String)> {
    console
        .store
        .list_audit(AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .rev()
        .filter(|a| !a.entry.action.starts_with("session.") && a.entry.actor != HARNESS)
        .map(|a| (a.entry.actor, a.entry.action, a.entry.target))
        .collect()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].to_string().trim_matches('"').to_owned())
        .collect()
}

#[tokio::test]
async fn enrollment_tokens_are_made_listed_and_revoked_by_a_groups_admin() {
    let console = Console::start(|_| {}).await;
    console.add_user("lena", Role::Admin, &["laptops"]).await;
    console.add_user("olga", Role::Operator, &["*"]).await;
    let lena = console.login("lena").await;
    let olga = console.login("olga").await;

    let request = json!({"group": "laptops", "expires_in_secs": 86400, "max_uses": 3});
    let (status, created) = console
        .call(
            &lena,
            Method::POST,
            "/enrollment-tokens",
            Some(request.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert!(created["secret"].as_str().unwrap().starts_with("fwt_"));
    assert_eq!(created["token"]["state"], "usable");
    let id = created["token"]["id"].as_str().unwrap().to_owned();
    let (status, _) = console
        .call(&olga, Method::POST, "/enrollment-tokens", Some(request))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an operator makes no tokens");
    let (status, body) = console
        .call(
            &lena,
            Method::POST,
            "/enrollment-tokens",
            Some(json!({"group": "servers", "expires_in_secs": 86400})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    for bad in [
        json!({"group": "laptops", "expires_in_secs": 5}),
        json!({"group": "laptops", "expires_in_secs": 86400, "max_uses": 0}),
        json!({"group": "lap tops", "expires_in_secs": 86400}),
    ] {
        let (status, body) = console
            .call(&lena, Method::POST, "/enrollment-tokens", Some(bad))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }

    // The seeded fleet's tokens: t1 (laptops) and t2 (servers).
    let (_, page) = console
        .call(&lena, Method::GET, "/enrollment-tokens", None)
        .await;
    assert_eq!(ids(&page), [id.clone(), "t1".to_string()]);
    assert!(
        page["items"][0].get("secret").is_none(),
        "the secret is shown once"
    );
    let (status, _) = console
        .call(&lena, Method::DELETE, "/enrollment-tokens/t2", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another group's token");
    let (status, revoked) = console
        .call(
            &lena,
            Method::DELETE,
            &format!("/enrollment-tokens/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(revoked["state"], "revoked");
    assert_eq!(
        audit_actions(&console).await,
        [
            ("lena".into(), "enrollment_token.create".into(), id.clone()),
            ("lena".into(), "enrollment_token.revoke".into(), id),
        ]
    );
}

#[tokio::test]
async fn a_failed_delivery_is_listed_in_its_group_and_retried_by_an_operator() {
    let console = Console::start(|_| {}).await;
    console.add_user("olga", Role::Operator, &["laptops"]).await;
    console.add_user("sven", Role::Operator, &["servers"]).await;
    console.add_user("vic", Role::Viewer, &["laptops"]).await;
    let olga = console.login("olga").await;
    let sven = console.login("sven").await;
    let vic = console.login("vic").await;
    // No ticket worker runs here: fail every notification by hand (each
    // alert has two: opened at warning, escalated to critical).
    let laptop_alert = alert_of(&console, &olga, "l1").await;
    let now = forewarn_collector::clock::now_unix();
    let mut laptop_deliveries = Vec::new();
    loop {
        let claimed = console.store.claim_outbox(10, 60, now).await.unwrap();
        if claimed.is_empty() {
            break;
        }
        for event in &claimed {
            if event.alert_id == laptop_alert {
                laptop_deliveries.push(event.id);
            }
            console
                .store
                .mark_failed(event.id, "helpdesk answered 503", None)
                .await
                .unwrap();
        }
    }
    let [superseded, delivery] = laptop_deliveries[..] else {
        panic!("two deliveries of the laptop's alert: {laptop_deliveries:?}");
    };

    let (status, page) = console
        .call(&olga, Method::GET, "/deliveries?state=failed", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(ids(&page), [delivery.to_string(), superseded.to_string()]);
    assert_eq!(page["items"][0]["hostname"], "LAPTOP-042");
    assert_eq!(page["items"][0]["last_error"], "helpdesk answered 503");
    let (_, page) = console
        .call(&sven, Method::GET, "/deliveries?state=failed", None)
        .await;
    assert_eq!(page["total"], 2, "only the server's own");
    assert!(!ids(&page).contains(&delivery.to_string()));
    let (status, _) = console
        .call(&olga, Method::GET, "/deliveries?state=lost", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The escalation replaced the opening notice: that one stays given up.
    let (status, body) = console
        .call(
            &olga,
            Method::POST,
            &format!("/deliveries/{superseded}/retry"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let retry = format!("/deliveries/{delivery}/retry");
    assert_eq!(
        console.call(&vic, Method::POST, &retry, None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        console.call(&sven, Method::POST, &retry, None).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, retried) = console.call(&olga, Method::POST, &retry, None).await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert_eq!(
        (retried["state"].clone(), retried["attempts"].clone()),
        (json!("pending"), json!(0))
    );
    let pending = console
        .store
        .outbox_in_state(OutboxState::Pending)
        .await
        .unwrap();
    assert!(pending.iter().any(|e| e.id == delivery));
    assert_eq!(
        console.call(&olga, Method::POST, &retry, None).await.0,
        StatusCode::NOT_FOUND,
        "no longer failed"
    );
    assert_eq!(
        audit_actions(&console).await,
        [("olga".into(), "delivery.retry".into(), delivery.to_string())]
    );
}

#[tokio::test]
async fn only_an_admin_of_its_group_deletes_a_device_and_is_told_what_went() {
    let console = Console::start(|_| {}).await;
    console.add_user("olga", Role::Operator, &["*"]).await;
    console.add_user("lena", Role::Admin, &["laptops"]).await;
    let olga = console.login("olga").await;
    let lena = console.login("lena").await;
    assert_eq!(
        console
            .call(&olga, Method::DELETE, "/devices/l1", None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        console
            .call(&lena, Method::DELETE, "/devices/s1", None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (status, deleted) = console
        .call(&lena, Method::DELETE, "/devices/l1", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["hostname"], "LAPTOP-042");
    assert_eq!(
        (deleted["reports"].clone(), deleted["alerts"].clone()),
        (json!(3), json!(1))
    );
    assert_eq!(
        console
            .call(&lena, Method::GET, "/devices/l1", None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, fleet) = console.call(&olga, Method::GET, "/fleet", None).await;
    assert_eq!(fleet["devices"], 1);
    assert_eq!(
        audit_actions(&console).await,
        [("lena".into(), "device.delete".into(), "l1".into())]
    );
}

#[tokio::test]
async fn maintenance_windows_silence_a_device_or_a_group_ahead() {
    let console = Console::start(|_| {}).await;
    console.add_user("olga", Role::Operator, &["laptops"]).await;
    let olga = console.login("olga").await;
    let now = forewarn_collector::clock::now_unix();
    let window = |target: Value| {
        let mut body =
            json!({"starts_at": now + 3600, "ends_at": now + 7200, "comment": "disk swap"});
        body.as_object_mut()
            .unwrap()
            .extend(target.as_object().unwrap().clone());
        body
    };
    let (status, group) = console
        .call(
            &olga,
            Method::POST,
            "/maintenance-windows",
            Some(window(json!({"group": "laptops"}))),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{group}");
    assert_eq!(
        (group[0]["group"].clone(), group[0]["starts_at"].clone()),
        (json!("laptops"), json!(now + 3600))
    );
    let (status, device) = console
        .call(
            &olga,
            Method::POST,
            "/maintenance-windows",
            Some(window(json!({"device_id": "l1"}))),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{device}");
    assert_eq!(device[0]["device_id"], "l1");
    for (target, want) in [
        (json!({"group": "servers"}), StatusCode::FORBIDDEN),
        (json!({"device_id": "s1"}), StatusCode::NOT_FOUND),
        (
            json!({"device_id": "l1", "group": "laptops"}),
            StatusCode::BAD_REQUEST,
        ),
        (json!({}), StatusCode::BAD_REQUEST),
    ] {
        let (status, body) = console
            .call(
                &olga,
                Method::POST,
                "/maintenance-windows",
                Some(window(target.clone())),
            )
            .await;
        assert_eq!(status, want, "{target}: {body}");
    }
    let (status, _) = console
        .call(
            &olga,
            Method::POST,
            "/maintenance-windows",
            Some(json!({"group": "laptops", "starts_at": now + 60, "ends_at": now + 30, "comment": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, silences) = console.call(&olga, Method::GET, "/silences", None).await;
    assert_eq!(silences["total"], 2);
    let actions: Vec<String> = audit_actions(&console)
        .await
        .into_iter()
        .map(|a| a.1)
        .collect();
    assert_eq!(actions, ["maintenance.add", "maintenance.add"]);
}

#[tokio::test]
async fn a_weekly_maintenance_window_is_one_silence_per_day_and_errors_name_the_field() {
    let console = Console::start(|_| {}).await;
    console.add_user("olga", Role::Operator, &["laptops"]).await;
    let olga = console.login("olga").await;
    let weekly = |days: Value, start: &str, minutes: u32| {
        json!({"group": "laptops", "comment": "patch night",
               "weekly": {"days": days, "start": start, "duration_minutes": minutes}})
    };
    let (status, windows) = console
        .call(
            &olga,
            Method::POST,
            "/maintenance-windows",
            Some(weekly(json!(["saturday", "sun"]), "01:30", 240)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{windows}");
    let windows = windows.as_array().unwrap();
    assert_eq!(windows.len(), 2, "{windows:?}");
    assert!(
        windows
            .iter()
            .all(|w| w["weekly"] == true && w["group"] == "laptops" && w["ends_at"].is_null()),
        "{windows:?}"
    );
    for (body, field) in [
        (weekly(json!(["funday"]), "01:00", 60), "weekly.days"),
        (weekly(json!([]), "01:00", 60), "weekly.days"),
        (weekly(json!(["mon"]), "24:00", 60), "weekly.start"),
        (
            weekly(json!(["mon"]), "01:00", 0),
            "weekly.duration_minutes",
        ),
        (
            json!({"group": "bad group!", "ends_at": 1, "comment": ""}),
            "group",
        ),
    ] {
        let (status, answer) = console
            .call(&olga, Method::POST, "/maintenance-windows", Some(body))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{field}: {message}");
    }
    let actions: Vec<String> = audit_actions(&console)
        .await
        .into_iter()
        .map(|a| a.1)
        .collect();
    assert_eq!(actions, ["maintenance.add", "maintenance.add"]);
}

#[tokio::test]
async fn a_note_joins_the_alerts_history_without_acknowledging_it() {
    let console = Console::start(|_| {}).await;
    console.add_user("olga", Role::Operator, &["laptops"]).await;
    console.add_user("vic", Role::Viewer, &["*"]).await;
    let olga = console.login("olga").await;
    let vic = console.login("vic").await;
    let alert = alert_of(&console, &olga, "l1").await;
    let path = format!("/alerts/{alert}/notes");
    let note = json!({"note": "user is cleaning up Downloads"});
    assert_eq!(
        console
            .call(&vic, Method::POST, &path, Some(note.clone()))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        console
            .call(&olga, Method::POST, &path, Some(json!({"note": "  "})))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    let server_alert = alert_of(&console, &vic, "s1").await;
    assert_eq!(
        console
            .call(
                &olga,
                Method::POST,
                &format!("/alerts/{server_alert}/notes"),
                Some(note.clone())
            )
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (status, detail) = console.call(&olga, Method::POST, &path, Some(note)).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["alert"]["state"], "firing");
    let last = detail["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["event"], "note");
    assert_eq!(last["actor"], "olga");
    assert_eq!(last["note"], "user is cleaning up Downloads");
    assert_eq!(
        audit_actions(&console).await,
        [("olga".into(), "alert.note".into(), alert.to_string())]
    );
}

#[tokio::test]
async fn an_alerts_silence_holds_its_rule_and_subject_and_each_change_has_one_audit_row() {
    let console = Console::start(|_| {}).await;
    console.add_user("olga", Role::Operator, &["laptops"]).await;
    let olga = console.login("olga").await;
    let alert = alert_of(&console, &olga, "l1").await;
    let (_, detail) = console
        .call(&olga, Method::GET, &format!("/alerts/{alert}"), None)
        .await;
    let rule = detail["alert"]["rule"].as_str().unwrap().to_owned();

    let (status, acked) = console
        .call(
            &olga,
            Method::POST,
            &format!("/alerts/{alert}/ack"),
            Some(json!({"note": " ordering a disk "})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{acked}");
    let (status, _) = console
        .call(
            &olga,
            Method::POST,
            "/alerts/999999/ack",
            Some(json!({"note": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, narrow) = console
        .call(
            &olga,
            Method::POST,
            &format!("/alerts/{alert}/silence"),
            Some(json!({"duration_secs": 3600, "comment": "disk swap"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{narrow}");
    assert_eq!(
        (
            narrow["device_id"].clone(),
            narrow["rule"].clone(),
            narrow["in_force"].clone(),
            narrow["next_start_at"].clone()
        ),
        (json!("l1"), json!(rule), json!(true), Value::Null)
    );
    assert_eq!(narrow["subject"], "/", "the alert's mount point");
    let (status, whole) = console
        .call(
            &olga,
            Method::POST,
            &format!("/alerts/{alert}/silence"),
            Some(json!({"duration_secs": 3600, "comment": "moving desks", "whole_device": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{whole}");
    assert_eq!(
        (whole["rule"].clone(), whole["subject"].clone()),
        (json!(""), json!(""))
    );
    let (status, body) = console
        .call(
            &olga,
            Method::POST,
            &format!("/alerts/{alert}/silence"),
            Some(json!({"duration_secs": 10, "comment": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let narrow_id = narrow["id"].as_str().unwrap().to_owned();
    let end = format!("/silences/{narrow_id}");
    let (status, ended) = console.call(&olga, Method::DELETE, &end, None).await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_eq!(ended["in_force"], false);
    let (status, _) = console.call(&olga, Method::DELETE, &end, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "already ended");

    let (status, _) = console
        .call(&olga, Method::POST, "/devices/l1/retire", Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::OK);

    let whole_id = whole["id"].as_str().unwrap().to_owned();
    assert_eq!(
        audit_actions(&console).await,
        [
            ("olga".into(), "alert.ack".into(), alert.to_string()),
            ("olga".into(), "silence.add".into(), narrow_id.clone()),
            ("olga".into(), "silence.add".into(), whole_id),
            ("olga".into(), "silence.expire".into(), narrow_id),
            ("olga".into(), "device.retire".into(), "l1".into()),
        ],
        "one row per change made; none for the refused ones"
    );
    let rows = console
        .store
        .list_audit(AuditQuery {
            action: Some("silence.add".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let narrow_row = &rows.last().unwrap().entry.detail;
    assert!(
        narrow_row.contains(&format!("{rule} on / (from alert {alert})")),
        "{narrow_row}"
    );
}
