//! `user add/list/disable/reset`: console users. A new or reset password is
//! generated and printed once; only its argon2id hash is stored. Every change
//! is written to the console's audit log as `cli:<who>`.

use std::io::Write;

use clap::Subcommand;

use super::{AdminError, format_time};
use crate::clock::now_unix;
use crate::console::api::admin::valid_username;
use crate::console::authz::{Role, Scope};
use crate::console::password;
use crate::store::Store;
use crate::store::console::{NewAuditEntry, UserRecord, UserUpdate};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; a one-time password is generated and printed.
    Add {
        username: String,
        /// viewer, operator or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Comma-separated groups the user reaches (default: all groups).
        #[arg(long, value_delimiter = ',')]
        groups: Option<Vec<String>>,
        /// Who makes the change, for the audit log (default: $USER).
        #[arg(long, env = "USER")]
        by: Option<String>,
    },
    /// List users (never their passwords).
    List,
    /// Disable a user and end their sessions; their API tokens stop working.
    Disable {
        username: String,
        #[arg(long, env = "USER")]
        by: Option<String>,
    },
    /// Set a new generated password (printed once) and end the user's sessions.
    Reset {
        username: String,
        #[arg(long, env = "USER")]
        by: Option<String>,
    },
}

pub fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text)
        .ok_or_else(|| format!("{text:?} is not a role: use viewer, operator or admin"))
}

pub async fn run(
    command: UserCommand,
    store: &dyn Store,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    match command {
        UserCommand::Add {
            username,
            role,
            groups,
            by,
        } => {
            let by = super::actor(by)?;
            add_user(store, &username, role, groups.as_deref(), &by, out)
                .await
                .map(drop)
        }
        UserCommand::List => list_users(store, out).await,
        UserCommand::Disable { username, by } => {
            let by = super::actor(by)?;
            let audit = audit_entry(&by, "user.disable", &username, "");
            let update = UserUpdate {
                disabled_at: Some(Some(audit.at)),
                ..UserUpdate::default()
            };
            if !store.update_user(&username, update, audit).await? {
                return Err(not_found(&username));
            }
            writeln!(out, "user {username} disabled; their sessions have ended")?;
            Ok(())
        }
        UserCommand::Reset { username, by } => {
            let by = super::actor(by)?;
            reset_password(store, &username, &by, out).await.map(drop)
        }
    }
}

fn not_found(username: &str) -> AdminError {
    AdminError::NotFound {
        kind: "user",
        id: username.to_owned(),
    }
}

/// The audit row of a command-line change made now by `by`, for the store
/// method that writes it with the change.
pub fn audit_entry(by: &str, action: &str, target: &str, detail: &str) -> NewAuditEntry {
    NewAuditEntry {
        at: now_unix(),
        actor: format!("cli:{by}"),
        action: action.into(),
        target: target.into(),
        detail: detail.into(),
        source: "cli".into(),
    }
}

fn hash(plain: &str) -> Result<String, AdminError> {
    password::hash(plain).map_err(|e| AdminError::InvalidUser(e.to_string()))
}

/// Adds a user and prints its one-time password; returns the password.
pub async fn add_user(
    store: &dyn Store,
    username: &str,
    role: Role,
    groups: Option<&[String]>,
    by: &str,
    out: &mut impl Write,
) -> Result<String, AdminError> {
    if !valid_username(username) {
        return Err(AdminError::InvalidUser(format!(
            "invalid user name {username:?}: use letters, digits, '-', '_', '.' or '@' (at most 64)"
        )));
    }
    let scope = Scope::from_list(groups).map_err(AdminError::InvalidUser)?;
    let plain = password::generate();
    let now = now_unix();
    let user = UserRecord {
        username: username.into(),
        role,
        scope: scope.clone(),
        password_hash: hash(&plain)?,
        created_at: now,
        disabled_at: None,
        password_set_at: now,
    };
    let groups = scope.to_list().join(",");
    let audit = audit_entry(
        by,
        "user.create",
        username,
        &format!("{role} over {groups}"),
    );
    if !store.create_user(user, audit).await? {
        return Err(AdminError::InvalidUser(format!(
            "user {username:?} already exists: `user reset {username}` sets a new password"
        )));
    }
    writeln!(out, "{plain}")?;
    writeln!(
        out,
        "# user {username}: {role} over {groups}. The password above is not shown again."
    )?;
    Ok(plain)
}

/// Sets a new generated password, prints it once and returns it.
pub async fn reset_password(
    store: &dyn Store,
    username: &str,
    by: &str,
    out: &mut impl Write,
) -> Result<String, AdminError> {
    let plain = password::generate();
    let update = UserUpdate {
        password_hash: Some(hash(&plain)?),
        ..UserUpdate::default()
    };
    let audit = audit_entry(by, "user.reset_password", username, "");
    if !store.update_user(username, update, audit).await? {
        return Err(not_found(username));
    }
    writeln!(out, "{plain}")?;
    writeln!(
        out,
        "# new password for {username}; their sessions have ended. It is not shown again."
    )?;
    Ok(plain)
}

pub async fn list_users(store: &dyn Store, out: &mut impl Write) -> Result<(), AdminError> {
    writeln!(
        out,
        "{:<24} {:<9} {:<24} {:<22} STATE",
        "USER", "ROLE", "GROUPS", "PASSWORD SET"
    )?;
    for user in store.list_users().await? {
        let state = match user.disabled_at {
            Some(at) => format!("disabled {}", format_time(at)),
            None => "active".into(),
        };
        writeln!(
            out,
            "{:<24} {:<9} {:<24} {:<22} {state}",
            user.username,
            user.role.as_str(),
            user.scope.to_list().join(","),
            format_time(user.password_set_at)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::console::ConsoleStore;
    use crate::store::sqlite::SqliteStore;

    #[tokio::test]
    async fn added_user_signs_in_with_the_printed_password_and_reset_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db")).unwrap();
        let mut out = Vec::new();
        let groups = ["laptops".to_string()];
        let first = add_user(
            &store,
            "olga",
            Role::Operator,
            Some(&groups),
            "it",
            &mut out,
        )
        .await
        .unwrap();
        assert!(String::from_utf8(out).unwrap().starts_with(&first));
        let user = store.user("olga").await.unwrap().unwrap();
        assert!(password::verify(&first, &user.password_hash));
        assert_eq!(user.scope.to_list(), ["laptops"]);
        let second = reset_password(&store, "olga", "it", &mut Vec::new())
            .await
            .unwrap();
        let user = store.user("olga").await.unwrap().unwrap();
        assert!(!password::verify(&first, &user.password_hash));
        assert!(password::verify(&second, &user.password_hash));
        let mut listed = Vec::new();
        list_users(&store, &mut listed).await.unwrap();
        let listed = String::from_utf8(listed).unwrap();
        assert!(
            listed.contains("olga") && listed.contains("operator") && !listed.contains(&second)
        );
        let audit = store
            .list_audit(crate::store::console::AuditQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        let actions: Vec<&str> = audit.iter().map(|e| e.entry.action.as_str()).collect();
        assert_eq!(actions, ["user.reset_password", "user.create"]);
        assert_eq!(audit[0].entry.actor, "cli:it");
    }

    #[tokio::test]
    async fn duplicate_and_bad_names_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db")).unwrap();
        add_user(&store, "ana", Role::Admin, None, "it", &mut Vec::new())
            .await
            .unwrap();
        let err = add_user(&store, "ana", Role::Admin, None, "it", &mut Vec::new())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        let err = add_user(&store, "a b", Role::Admin, None, "it", &mut Vec::new())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("invalid user name"), "{err}");
        let err = reset_password(&store, "nobody", "it", &mut Vec::new())
            .await
            .unwrap_err();
        assert!(matches!(err, AdminError::NotFound { .. }));
    }
}
