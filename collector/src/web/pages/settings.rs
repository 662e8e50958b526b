//! Settings (`/settings`): users (admins over all groups), API tokens
//! (one's own; every token for such an admin) and the ticket connectors of
//! the collector's config, each with "Send test" for such an admin. Adding a
//! user or a token, disabling a user, revoking a token and testing a
//! connector go through the REST API.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::format::{ago, when};
use super::{Chrome, PageError, SignedIn, render};
use crate::clock::now_unix;
use crate::console::api::connectors;
use crate::console::authz::{Action, can};
use crate::console::state::ConsoleState;

#[derive(Debug)]
pub struct UserRow {
    pub username: String,
    pub role: String,
    pub groups: String,
    pub created: String,
    pub disabled: bool,
}

#[derive(Debug)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub role: String,
    pub groups: String,
    pub expires: String,
    pub last_used: String,
    pub state: &'static str,
}

#[derive(Debug)]
pub struct ConnectorRow {
    pub name: String,
    pub kind: &'static str,
    /// "tickets" or "notifications only".
    pub keeps: &'static str,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    chrome: Chrome,
    users: Vec<UserRow>,
    tokens: Vec<TokenRow>,
    my_groups: String,
    connectors: Vec<ConnectorRow>,
}

pub async fn page(
    State(state): State<ConsoleState>,
    SignedIn(caller): SignedIn,
) -> Result<Response, PageError> {
    let now = now_unix();
    let p = &caller.principal;
    let users = if can(p, Action::ManageUsers, None) {
        state
            .store
            .list_users()
            .await?
            .into_iter()
            .map(|u| UserRow {
                role: u.role.to_string(),
                groups: u.scope.to_list().join(", "),
                created: when(Some(u.created_at)),
                disabled: u.disabled_at.is_some(),
                username: u.username,
            })
            .collect()
    } else {
        Vec::new()
    };
    let all_tokens = can(p, Action::ManageApiTokens, None);
    let mut tokens: Vec<_> = state
        .store
        .list_api_tokens()
        .await?
        .into_iter()
        .filter(|t| all_tokens || t.owner.as_deref() == Some(p.name.as_str()))
        .collect();
    tokens.sort_by_key(|t| std::cmp::Reverse(t.created_at));
    let tokens = tokens
        .into_iter()
        .map(|t| TokenRow {
            state: if t.revoked_at.is_some() {
                "revoked"
            } else if t.expires_at <= now {
                "expired"
            } else {
                "active"
            },
            owner: t.owner.unwrap_or_else(|| "(service)".into()),
            role: t.role.to_string(),
            groups: t.scope.to_list().join(", "),
            expires: when(Some(t.expires_at)),
            last_used: ago(now, t.last_used_at),
            id: t.id,
            name: t.name,
        })
        .collect();
    let connectors = state
        .settings
        .tickets
        .connectors
        .iter()
        .map(|(name, config)| ConnectorRow {
            name: name.clone(),
            kind: connectors::kind(config),
            keeps: if config.keeps_tickets() {
                "tickets"
            } else {
                "notifications only"
            },
        })
        .collect();
    let page = SettingsPage {
        connectors,
        my_groups: p.scope.to_list().join(","),
        chrome: Chrome::new(&caller, "Settings", "settings"),
        users,
        tokens,
    };
    Ok(render(&page))
}
