//! Conformance cases for the console's part of the store.

use super::console_changes::audit_rows;
use super::enroll_d1;
use crate::console::authz::{Role, Scope};
use crate::store::Store;
use crate::store::console::{
    ApiTokenRecord, AuditQuery, NewAuditEntry, SessionRecord, UserRecord, UserUpdate,
};

fn alice() -> UserRecord {
    UserRecord {
        username: "alice".into(),
        role: Role::Operator,
        scope: Scope::Groups(["laptops".to_string()].into()),
        password_hash: "$argon2id$one".into(),
        created_at: 10,
        disabled_at: None,
        password_set_at: 10,
    }
}

/// An audit row by `root` at `at`, for the cases that make changes.
pub(crate) fn entry(at: i64, action: &str, target: &str) -> NewAuditEntry {
    NewAuditEntry {
        at,
        actor: "root".into(),
        action: action.into(),
        target: target.into(),
        detail: String::new(),
        source: "127.0.0.1".into(),
    }
}

/// `action target` of every audit row, oldest first.
async fn audited(store: &dyn Store) -> Vec<String> {
    let mut rows: Vec<String> = audit_rows(store)
        .await
        .into_iter()
        .map(|e| format!("{} {}", e.action, e.target))
        .collect();
    rows.reverse();
    rows
}

fn session_of(username: &str, id_hash: &str) -> SessionRecord {
    SessionRecord {
        id_hash: id_hash.into(),
        username: username.into(),
        csrf_token: "csrf".into(),
        created_at: 20,
        expires_at: 1_000,
        last_seen_at: 20,
        ip: "127.0.0.1".into(),
    }
}

pub(crate) async fn users_are_kept_and_a_new_password_ends_their_sessions(store: &dyn Store) {
    assert!(
        store
            .create_user(alice(), entry(10, "user.create", "alice"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .create_user(alice(), entry(11, "user.create", "alice"))
            .await
            .unwrap(),
        "name taken"
    );
    assert_eq!(store.user("alice").await.unwrap(), Some(alice()));
    store
        .create_session(session_of("alice", "s1"), entry(20, "session.login", "s1"))
        .await
        .unwrap();
    store.touch_session("s1", 30).await.unwrap();
    assert_eq!(store.session("s1").await.unwrap().unwrap().last_seen_at, 30);
    let update = UserUpdate {
        role: Some(Role::Viewer),
        scope: Some(Scope::All),
        password_hash: Some("$argon2id$two".into()),
        ..UserUpdate::default()
    };
    assert!(
        store
            .update_user("alice", update, entry(40, "user.reset_password", "alice"))
            .await
            .unwrap()
    );
    let user = store.user("alice").await.unwrap().unwrap();
    assert_eq!(
        (
            user.role,
            user.scope,
            user.password_hash.as_str(),
            user.password_set_at
        ),
        (Role::Viewer, Scope::All, "$argon2id$two", 40)
    );
    assert_eq!(store.session("s1").await.unwrap(), None);
    store
        .create_session(session_of("alice", "s2"), entry(20, "session.login", "s2"))
        .await
        .unwrap();
    let disable = UserUpdate {
        disabled_at: Some(Some(50)),
        ..UserUpdate::default()
    };
    assert!(
        store
            .update_user("alice", disable, entry(50, "user.disable", "alice"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.user("alice").await.unwrap().unwrap().disabled_at,
        Some(50)
    );
    assert_eq!(store.session("s2").await.unwrap(), None);
    let enable = UserUpdate {
        disabled_at: Some(None),
        ..UserUpdate::default()
    };
    assert!(
        store
            .update_user("alice", enable, entry(60, "user.enable", "alice"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.user("alice").await.unwrap().unwrap().disabled_at,
        None
    );
    assert!(
        !store
            .update_user(
                "bob",
                UserUpdate::default(),
                entry(60, "user.change", "bob")
            )
            .await
            .unwrap()
    );
    store
        .create_session(session_of("alice", "s3"), entry(20, "session.login", "s3"))
        .await
        .unwrap();
    assert!(
        store
            .delete_session("s3", Some(entry(70, "session.logout", "s3")))
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_session("s3", Some(entry(71, "session.logout", "s3")))
            .await
            .unwrap()
    );
    assert_eq!(
        audited(store).await,
        [
            "user.create alice",
            "session.login s1",
            "user.reset_password alice",
            "session.login s2",
            "user.disable alice",
            "user.enable alice",
            "session.login s3",
            "session.logout s3",
        ],
        "a done change has its row, a refused one (name taken, no such user or session) none"
    );
    assert_eq!(store.list_users().await.unwrap().len(), 1);
}

pub(crate) async fn api_tokens_are_found_by_hash_used_and_revoked(store: &dyn Store) {
    store
        .create_user(alice(), entry(10, "user.create", "alice"))
        .await
        .unwrap();
    let token = ApiTokenRecord {
        id: "k1".into(),
        secret_hash: "hash1".into(),
        name: "ci".into(),
        owner: Some("alice".into()),
        role: Role::Viewer,
        scope: Scope::Groups(["laptops".to_string(), "servers".to_string()].into()),
        created_by: "alice".into(),
        created_at: 10,
        expires_at: 100,
        last_used_at: None,
        revoked_at: None,
    };
    store
        .create_api_token(token.clone(), entry(20, "api_token.create", "k1"))
        .await
        .unwrap();
    assert_eq!(
        store.api_token_by_hash("hash1").await.unwrap(),
        Some(token.clone())
    );
    assert_eq!(store.api_token_by_hash("other").await.unwrap(), None);
    store.touch_api_token("k1", 20).await.unwrap();
    assert!(
        store
            .revoke_api_token("k1", entry(30, "api_token.revoke", "k1"))
            .await
            .unwrap()
    );
    assert!(
        store
            .revoke_api_token("k1", entry(40, "api_token.revoke", "k1"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_api_token("nope", entry(40, "api_token.revoke", "nope"))
            .await
            .unwrap()
    );
    assert_eq!(
        audited(store).await,
        [
            "user.create alice",
            "api_token.create k1",
            "api_token.revoke k1",
            "api_token.revoke k1",
        ]
    );
    let listed = store.list_api_tokens().await.unwrap();
    assert_eq!(
        (listed.len(), listed[0].last_used_at, listed[0].revoked_at),
        (1, Some(20), Some(30)),
        "revoking twice keeps the first time"
    );
}

pub(crate) async fn audit_rows_list_newest_first_with_filters(store: &dyn Store) {
    for (at, actor, action) in [
        (1, "alice", "session.login"),
        (2, "bob", "alert.ack"),
        (3, "alice", "alert.ack"),
    ] {
        store
            .append_audit(NewAuditEntry {
                at,
                actor: actor.into(),
                action: action.into(),
                target: "7".into(),
                detail: String::new(),
                source: "127.0.0.1".into(),
            })
            .await
            .unwrap();
    }
    let all = store
        .list_audit(AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let ats: Vec<i64> = all.iter().map(|e| e.entry.at).collect();
    assert_eq!(ats, [3, 2, 1]);
    let page = store
        .list_audit(AuditQuery {
            before_id: Some(all[0].id),
            limit: 1,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page[0].entry.at, 2);
    let acks = store
        .list_audit(AuditQuery {
            actor: Some("alice".into()),
            action: Some("alert.ack".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].entry.at, 3);
}

pub(crate) async fn devices_move_between_groups_and_are_restored(store: &dyn Store) {
    enroll_d1(store, "laptops").await;
    assert!(
        store
            .move_device("d1", "servers", entry(40, "device.move", "d1"))
            .await
            .unwrap()
    );
    assert_eq!(store.device("d1").await.unwrap().unwrap().group, "servers");
    assert!(
        store
            .retire_device("d1", entry(50, "device.retire", "d1"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.device("d1").await.unwrap().unwrap().retired_at,
        Some(50)
    );
    assert!(
        store
            .restore_device("d1", entry(60, "device.restore", "d1"))
            .await
            .unwrap()
    );
    assert_eq!(store.device("d1").await.unwrap().unwrap().retired_at, None);
    assert!(
        !store
            .move_device("nope", "servers", entry(70, "device.move", "nope"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .restore_device("nope", entry(70, "device.restore", "nope"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .retire_device("nope", entry(70, "device.retire", "nope"))
            .await
            .unwrap()
    );
    assert_eq!(
        audited(store).await,
        ["device.move d1", "device.retire d1", "device.restore d1"],
        "a refused change writes no audit row"
    );
}
