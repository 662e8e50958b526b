//! The audit log (`/audit`, admins over all groups): every change, newest
//! first, filtered by who and what, 200 rows a page.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::format::{self, when};
use super::{Chrome, PageError, SignedIn, render};
use crate::console::authz::{Action, can};
use crate::console::state::ConsoleState;
use crate::store::console::AuditQuery;

const PAGE_SIZE: usize = 200;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AuditFilter {
    pub actor: String,
    pub action: String,
    /// Rows older than this id (the next page).
    pub before: Option<i64>,
}

#[derive(Debug)]
pub struct AuditRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub source: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    filter: AuditFilter,
    rows: Vec<AuditRow>,
    next_link: Option<String>,
}

pub async fn page(
    State(state): State<ConsoleState>,
    SignedIn(caller): SignedIn,
    Query(filter): Query<AuditFilter>,
) -> Result<Response, PageError> {
    if !can(&caller.principal, Action::ReadAudit, None) {
        return Err(PageError::Forbidden(
            "The audit log is for admins over all groups.".into(),
        ));
    }
    let non_empty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    let entries = state
        .store
        .list_audit(AuditQuery {
            before_id: filter.before,
            actor: non_empty(&filter.actor),
            action: non_empty(&filter.action),
            limit: PAGE_SIZE,
        })
        .await?;
    let next_link = (entries.len() == PAGE_SIZE).then(|| {
        let last = entries.last().map_or(0, |e| e.id).to_string();
        format!(
            "/audit{}",
            format::query(&[
                ("actor", &filter.actor),
                ("action", &filter.action),
                ("before", &last)
            ])
        )
    });
    let rows = entries
        .into_iter()
        .map(|e| AuditRow {
            at: when(Some(e.entry.at)),
            actor: e.entry.actor,
            action: e.entry.action,
            target: e.entry.target,
            detail: e.entry.detail,
            source: e.entry.source,
        })
        .collect();
    let page = AuditPage {
        chrome: Chrome::new(&caller, "Audit log", "audit"),
        filter,
        rows,
        next_link,
    };
    Ok(render(&page))
}
