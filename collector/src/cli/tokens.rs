//! `token create/list/revoke`: enrollment tokens. A token's secret is shown
//! once, at creation; only its hash is stored.
//!
//! Like every command, they work on the store directly and write plain text.

use std::io::Write;
use std::time::Duration;

use clap::Subcommand;

use super::AdminError;
use super::format_time;
use crate::clock::now_unix;
use crate::store::console::NewAuditEntry;
use crate::store::{NewToken, Store};
use crate::tokens;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; its secret is printed once.
    Create {
        /// Device group the token enrolls into.
        #[arg(long)]
        group: String,
        /// Lifetime: a number with a unit, m (minutes), h (hours), d (days) or w (weeks), e.g. 7d.
        #[arg(long, value_parser = parse_lifetime)]
        expires: Duration,
        /// How many devices may enroll with it (default: unlimited until expiry).
        #[arg(long)]
        uses: Option<u32>,
        /// Who makes it, for the audit log (default: $USER; without either
        /// the row names the command line only).
        #[arg(long, env = "USER")]
        by: Option<String>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id.
    Revoke {
        id: String,
        /// Who revokes it, for the audit log (default: $USER).
        #[arg(long, env = "USER")]
        by: Option<String>,
    },
}

pub async fn run(
    command: TokenCommand,
    store: &dyn Store,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    match command {
        TokenCommand::Create {
            group,
            expires,
            uses,
            by,
        } => create_token(store, &group, expires, uses, by.as_deref(), out)
            .await
            .map(drop),
        TokenCommand::List => list_tokens(store, out).await,
        TokenCommand::Revoke { id, by } => revoke_token(store, &id, by.as_deref(), out).await,
    }
}

/// Shortest lifetime a token may have: a zero lifetime has expired before its
/// secret is printed. (Tests use a few seconds to see expiry refused.)
const MIN_LIFETIME: Duration = Duration::from_secs(1);

/// Parses `--expires`: a number with a unit. A bare number is refused with the
/// same number in days as the suggestion, since tokens live for days, not seconds.
pub fn parse_lifetime(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "{text:?} has no unit: write e.g. {text}d for {text} days or {text}h for {text} hours (units: m, h, d, w)"
        ));
    }
    let lifetime = humantime::parse_duration(text).map_err(|err| {
        format!("{text:?} is not a lifetime ({err}): write e.g. 7d, 12h or 30m (units: m, h, d, w)")
    })?;
    if lifetime < MIN_LIFETIME {
        return Err(format!(
            "{text:?} would make a token that has expired before anyone can use it: give a lifetime above zero, e.g. 7d"
        ));
    }
    Ok(lifetime)
}

fn valid_group(group: &str) -> bool {
    !group.is_empty()
        && group.len() <= 64
        && group
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The audit row of a token change made now from the command line by `by`.
/// Tokens are also made by install scripts that name no one (and `token
/// create` has always worked without a name), so without `by` the row names
/// the command line alone rather than refusing.
fn audit_entry(by: Option<&str>, action: &str, target: &str, detail: &str) -> NewAuditEntry {
    let by = by.map(str::trim).filter(|by| !by.is_empty());
    NewAuditEntry {
        actor: by.map_or("cli".to_owned(), |by| format!("cli:{by}")),
        ..super::users::audit_entry("", action, target, detail)
    }
}

/// Creates a token (with its audit row) and writes its secret, which is
/// shown only this once.
pub async fn create_token(
    store: &dyn Store,
    group: &str,
    expires_in: Duration,
    max_uses: Option<u32>,
    by: Option<&str>,
    out: &mut impl Write,
) -> Result<String, AdminError> {
    if !valid_group(group) {
        return Err(AdminError::InvalidGroup(group.to_owned()));
    }
    if max_uses == Some(0) {
        return Err(AdminError::ZeroUses);
    }
    if expires_in < MIN_LIFETIME {
        return Err(AdminError::TokenLifetime);
    }
    let generated = tokens::generate();
    let now = now_unix();
    let expires_at = now.saturating_add(i64::try_from(expires_in.as_secs()).unwrap_or(i64::MAX));
    let uses = max_uses.map_or("unlimited".to_owned(), |n| n.to_string());
    let audit = audit_entry(
        by,
        "enrollment_token.create",
        &generated.id,
        &format!("group {group}, expires {expires_at}, uses {uses}"),
    );
    let token = NewToken {
        id: generated.id.clone(),
        token_hash: tokens::hash(&generated.secret),
        group: group.to_owned(),
        created_at: now,
        expires_at,
        max_uses,
    };
    if !store.create_token(token, audit).await? {
        return Err(AdminError::TokenTaken);
    }
    writeln!(out, "{}", generated.secret)?;
    writeln!(
        out,
        "# token id {} for group {group}, expires {}, uses: {}. The secret above is not shown again.",
        generated.id,
        format_time(expires_at),
        uses
    )?;
    Ok(generated.secret)
}

pub async fn list_tokens(store: &dyn Store, out: &mut impl Write) -> Result<(), AdminError> {
    let now = now_unix();
    writeln!(
        out,
        "{:<14} {:<16} {:<22} {:<13} STATE",
        "ID", "GROUP", "EXPIRES", "USES"
    )?;
    for token in store.list_tokens().await? {
        let state = if token.revoked_at.is_some() {
            "revoked"
        } else if token.expires_at <= now {
            "expired"
        } else if token.max_uses.is_some_and(|max| token.uses >= max) {
            "used up"
        } else {
            "active"
        };
        let uses = match token.max_uses {
            Some(max) => format!("{}/{max}", token.uses),
            None => format!("{}/unlimited", token.uses),
        };
        writeln!(
            out,
            "{:<14} {:<16} {:<22} {:<13} {state}",
            token.id,
            token.group,
            format_time(token.expires_at),
            uses
        )?;
    }
    Ok(())
}

pub async fn revoke_token(
    store: &dyn Store,
    id: &str,
    by: Option<&str>,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let audit = audit_entry(by, "enrollment_token.revoke", id, "");
    if !store.revoke_token(id, audit).await? {
        return Err(AdminError::NotFound {
            kind: "token",
            id: id.to_owned(),
        });
    }
    writeln!(out, "token {id} revoked")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::console::{AuditQuery, ConsoleStore};
    use crate::store::sqlite::SqliteStore;

    #[tokio::test]
    async fn made_and_revoked_tokens_are_audited_with_who_if_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db")).unwrap();
        let day = Duration::from_secs(86_400);
        create_token(&store, "lab", day, None, Some("ana"), &mut Vec::new())
            .await
            .unwrap();
        let id = store.list_tokens().await.unwrap()[0].id.clone();
        revoke_token(&store, &id, None, &mut Vec::new())
            .await
            .unwrap();
        let err = revoke_token(&store, "nope", Some("ana"), &mut Vec::new())
            .await
            .unwrap_err();
        assert!(matches!(err, AdminError::NotFound { .. }), "{err}");
        let rows: Vec<(String, String, String)> = store
            .list_audit(AuditQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.entry.actor, a.entry.action, a.entry.target))
            .collect();
        assert_eq!(
            rows,
            [
                ("cli".into(), "enrollment_token.revoke".into(), id.clone()),
                ("cli:ana".into(), "enrollment_token.create".into(), id),
            ],
            "newest first; nothing for the token that is not there"
        );
    }

    #[tokio::test]
    async fn token_secret_is_printed_once_and_never_listed() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db")).unwrap();
        let mut created = Vec::new();
        let secret = create_token(
            &store,
            "laptops",
            Duration::from_secs(3600),
            Some(1),
            Some("ana"),
            &mut created,
        )
        .await
        .unwrap();
        assert!(String::from_utf8(created).unwrap().starts_with(&secret));
        let mut listed = Vec::new();
        list_tokens(&store, &mut listed).await.unwrap();
        let listed = String::from_utf8(listed).unwrap();
        assert!(!listed.contains(&secret));
        assert!(listed.contains("laptops") && listed.contains("0/1") && listed.contains("active"));
    }

    #[tokio::test]
    async fn bad_group_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db")).unwrap();
        let mut out = Vec::new();
        let err = create_token(&store, "a b", Duration::from_secs(1), None, None, &mut out)
            .await
            .unwrap_err();
        assert!(matches!(err, AdminError::InvalidGroup(_)));
    }

    #[tokio::test]
    async fn expired_lifetime_is_refused_without_printing_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db")).unwrap();
        let mut out = Vec::new();
        let err = create_token(&store, "laptops", Duration::ZERO, None, None, &mut out)
            .await
            .unwrap_err();
        assert!(matches!(err, AdminError::TokenLifetime), "{err}");
        assert!(out.is_empty());
        assert!(store.list_tokens().await.unwrap().is_empty());
        let refused = parse_lifetime("0d").unwrap_err();
        assert!(refused.contains("above zero, e.g. 7d"), "{refused}");
    }

    #[test]
    fn bare_number_lifetime_suggests_days_and_names_the_units() {
        let err = parse_lifetime("7").unwrap_err();
        assert!(
            err.contains("7d") && err.contains("units: m, h, d, w"),
            "{err}"
        );
        assert!(!err.contains("sec"), "{err}");
        let err = parse_lifetime("7x").unwrap_err();
        assert!(err.contains("e.g. 7d"), "{err}");
        assert_eq!(
            parse_lifetime("7d").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
    }

    #[tokio::test]
    async fn unlimited_token_lists_as_unlimited() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db")).unwrap();
        create_token(
            &store,
            "servers",
            Duration::from_secs(3600),
            None,
            None,
            &mut Vec::new(),
        )
        .await
        .unwrap();
        let mut listed = Vec::new();
        list_tokens(&store, &mut listed).await.unwrap();
        let listed = String::from_utf8(listed).unwrap();
        assert!(listed.contains("0/unlimited"), "{listed}");
    }
}
