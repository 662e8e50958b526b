//! Live updates: an open page's `GET /events` stream says `change` when
//! something it could show changed, here a device moved to another group
//! through the API (a move changes no count, report or alert, so only the
//! move's own mark can announce it).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use forewarn_collector::console::authz::Role;

use crate::harness::*;

/// Whether the stream says `change` within `wait`.
async fn change_within(events: &mut reqwest::Response, wait: Duration) -> bool {
    let mut seen = String::new();
    tokio::time::timeout(wait, async {
        while let Some(chunk) = events.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("event: change") {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false)
}

#[tokio::test]
async fn an_open_page_hears_of_a_device_moved_to_another_group() {
    let console = Console::start(|_| {}).await;
    console.add_user("olga", Role::Operator, &["*"]).await;
    let olga = console.login("olga").await;
    let mut events = console
        .http
        .get(format!("http://{}/events", console.addr))
        .header("cookie", &olga.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    // Quiet while nothing happens (and long enough for the stream to have
    // read the mark it compares with).
    assert!(!change_within(&mut events, Duration::from_millis(1500)).await);

    let (status, moved) = console
        .call(
            &olga,
            Method::POST,
            "/devices/l1/move",
            Some(json!({"group": "servers"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert!(
        change_within(&mut events, Duration::from_secs(10)).await,
        "the move reached the open page"
    );
    let (_, servers) = console
        .call(&olga, Method::GET, "/devices?group=servers", None)
        .await;
    assert_eq!(hostnames(&servers), ["LAPTOP-042", "SRV-DB-01"]);
}
