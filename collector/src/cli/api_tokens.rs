//! `api-token create/list/revoke`: console API tokens. The secret is shown
//! once; only its SHA-256 is stored. A token made here for `--user` is also
//! bounded by that user's rights; without `--user` it is a service token
//! with exactly the rights given.

use std::io::Write;
use std::time::Duration;

use clap::Subcommand;

use super::tokens::parse_lifetime;
use super::users::{audit_entry, parse_role};
use super::{AdminError, format_time};
use crate::clock::now_unix;
use crate::console::authz::{Role, Scope};
use crate::console::secrets;
use crate::store::Store;
use crate::store::console::ApiTokenRecord;

#[derive(Debug, Subcommand)]
pub enum ApiTokenCommand {
    /// Create a token; its secret is printed once.
    Create {
        /// What it is for, e.g. "inventory export".
        #[arg(long)]
        name: String,
        /// viewer, operator or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Comma-separated groups it reaches (default: all groups).
        #[arg(long, value_delimiter = ',')]
        groups: Option<Vec<String>>,
        /// Lifetime, e.g. 90d (units: m, h, d, w).
        #[arg(long, value_parser = parse_lifetime)]
        expires: Duration,
        /// The user the token acts for; it never has more rights than they do.
        #[arg(long)]
        user: Option<String>,
        #[arg(long, env = "USER")]
        by: Option<String>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id.
    Revoke {
        id: String,
        #[arg(long, env = "USER")]
        by: Option<String>,
    },
}

pub async fn run(
    command: ApiTokenCommand,
    store: &dyn Store,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    match command {
        ApiTokenCommand::Create {
            name,
            role,
            groups,
            expires,
            user,
            by,
        } => {
            let by = super::actor(by)?;
            let scope = Scope::from_list(groups.as_deref()).map_err(AdminError::InvalidUser)?;
            create(store, &name, role, scope, expires, user, &by, out)
                .await
                .map(drop)
        }
        ApiTokenCommand::List => list(store, out).await,
        ApiTokenCommand::Revoke { id, by } => {
            let by = super::actor(by)?;
            let audit = audit_entry(&by, "api_token.revoke", &id, "");
            if !store.revoke_api_token(&id, audit).await? {
                return Err(AdminError::NotFound {
                    kind: "API token",
                    id,
                });
            }
            writeln!(out, "API token {id} revoked")?;
            Ok(())
        }
    }
}

/// Creates a token and prints its secret once; returns the secret.
#[allow(clippy::too_many_arguments)] // One per command-line option.
pub async fn create(
    store: &dyn Store,
    name: &str,
    role: Role,
    scope: Scope,
    expires_in: Duration,
    owner: Option<String>,
    by: &str,
    out: &mut impl Write,
) -> Result<String, AdminError> {
    if let Some(owner) = &owner
        && store.user(owner).await?.is_none()
    {
        return Err(AdminError::NotFound {
            kind: "user",
            id: owner.clone(),
        });
    }
    let now = now_unix();
    let (id, secret) = secrets::api_token();
    let token = ApiTokenRecord {
        id: id.clone(),
        secret_hash: secrets::hash(&secret),
        name: name.trim().into(),
        owner,
        role,
        scope: scope.clone(),
        created_by: format!("cli:{by}"),
        created_at: now,
        expires_at: now.saturating_add(i64::try_from(expires_in.as_secs()).unwrap_or(i64::MAX)),
        last_used_at: None,
        revoked_at: None,
    };
    let expires_at = token.expires_at;
    let groups = scope.to_list().join(",");
    let audit = audit_entry(
        by,
        "api_token.create",
        &id,
        &format!("{name:?} {role} over {groups}"),
    );
    store.create_api_token(token, audit).await?;
    writeln!(out, "{secret}")?;
    writeln!(
        out,
        "# API token {id} ({name}): {role} over {groups}, expires {}. Send it as \"Authorization: Bearer <secret>\"; it is not shown again.",
        format_time(expires_at)
    )?;
    Ok(secret)
}

pub async fn list(store: &dyn Store, out: &mut impl Write) -> Result<(), AdminError> {
    let now = now_unix();
    writeln!(
        out,
        "{:<14} {:<24} {:<9} {:<20} {:<14} {:<22} STATE",
        "ID", "NAME", "ROLE", "GROUPS", "USER", "EXPIRES"
    )?;
    for token in store.list_api_tokens().await? {
        let state = if token.revoked_at.is_some() {
            "revoked".to_owned()
        } else if token.expires_at <= now {
            "expired".to_owned()
        } else {
            match token.last_used_at {
                Some(at) => format!("active, last used {}", format_time(at)),
                None => "active, never used".to_owned(),
            }
        };
        writeln!(
            out,
            "{:<14} {:<24} {:<9} {:<20} {:<14} {:<22} {state}",
            token.id,
            token.name,
            token.role.as_str(),
            token.scope.to_list().join(","),
            token.owner.as_deref().unwrap_or("-"),
            format_time(token.expires_at)
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
    async fn secret_is_printed_once_found_by_hash_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db")).unwrap();
        let mut out = Vec::new();
        let secret = create(
            &store,
            "export",
            Role::Viewer,
            Scope::All,
            Duration::from_secs(3600),
            None,
            "it",
            &mut out,
        )
        .await
        .unwrap();
        assert!(String::from_utf8(out).unwrap().starts_with(&secret));
        let token = store
            .api_token_by_hash(&secrets::hash(&secret))
            .await
            .unwrap()
            .unwrap();
        let mut listed = Vec::new();
        list(&store, &mut listed).await.unwrap();
        let listed = String::from_utf8(listed).unwrap();
        assert!(
            listed.contains("export") && listed.contains("never used") && !listed.contains(&secret)
        );
        run(
            ApiTokenCommand::Revoke {
                id: token.id.clone(),
                by: Some("it".into()),
            },
            &store,
            &mut Vec::new(),
        )
        .await
        .unwrap();
        let mut listed = Vec::new();
        list(&store, &mut listed).await.unwrap();
        assert!(String::from_utf8(listed).unwrap().contains("revoked"));
        let err = create(
            &store,
            "x",
            Role::Viewer,
            Scope::All,
            Duration::from_secs(3600),
            Some("nobody".into()),
            "it",
            &mut Vec::new(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, AdminError::NotFound { kind: "user", .. }));
    }
}
