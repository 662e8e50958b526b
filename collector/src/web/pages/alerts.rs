//! The alert list (`/alerts`): filters, who acknowledged and why, the
//! ticket reference, and bulk acknowledge / silence for operators.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::fleet::{self, raised};
use super::format::{self, ago, when};
use super::{Chrome, PageError, SignedIn, render};
use crate::alerts::{AlertRecord, AlertStatus};
use crate::clock::now_unix;
use crate::console::api::views::domain;
use crate::console::state::ConsoleState;
use crate::rules::RuleId;
use crate::store::pages::TicketLink;

/// An alert as lists show it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    pub id: i64,
    pub device_id: String,
    pub hostname: String,
    pub rule: &'static str,
    pub domain: &'static str,
    pub subject: String,
    pub state: &'static str,
    pub severity: &'static str,
    pub summary: String,
    pub first_seen: String,
    pub last_seen: String,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: String,
    /// The note of the last acknowledgement (filled in by pages that show it).
    pub ack_note: Option<String>,
    /// Ticket id and link, when a ticket was opened for it.
    pub ticket: Option<(String, Option<String>)>,
    /// Whether it can be acknowledged (firing).
    pub firing: bool,
}

impl AlertRow {
    pub fn new(a: &AlertRecord, now: i64) -> Self {
        Self {
            id: a.id,
            device_id: a.device_id.clone(),
            hostname: a.hostname.clone(),
            rule: a.rule.as_str(),
            domain: domain(a.rule),
            subject: if a.subject_name.is_empty() {
                a.subject.clone()
            } else {
                a.subject_name.clone()
            },
            state: a.status.as_str(),
            severity: a.severity.map_or("", |s| s.as_str()),
            summary: a.summary.clone(),
            first_seen: when(Some(a.first_seen)),
            last_seen: ago(now, Some(a.last_seen)),
            acknowledged_by: a.acknowledged_by.clone(),
            acknowledged_at: when(a.acknowledged_at),
            ack_note: None,
            ticket: None,
            firing: a.status == AlertStatus::Firing,
        }
    }

    /// Adds the ticket reference from `links` (by alert id).
    pub fn with_ticket(mut self, links: &HashMap<i64, &TicketLink>) -> Self {
        self.ticket = links
            .get(&self.id)
            .map(|l| (l.reference.id.clone(), l.reference.url.clone()));
        self
    }

    /// Whether the alert's device has a page (the collector's own alerts do not).
    pub fn has_device(&self) -> bool {
        self.device_id != crate::alerts::engine::COLLECTOR_DEVICE_ID
    }
}

/// The alert list's filters, from the query string.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AlertQuery {
    /// `open` (default: firing, acknowledged), `firing`, `acknowledged`,
    /// `pending`, `resolved` or `all`.
    pub state: String,
    pub severity: String,
    pub rule: String,
    pub group: String,
    /// A device id.
    pub device: String,
    /// Free text over hostname, subject and summary.
    pub q: String,
    /// Page number from 1.
    pub page: Option<usize>,
}

pub const PAGE_SIZE: usize = 100;

impl AlertQuery {
    fn keeps(&self, a: &AlertRecord, group: Option<&str>) -> bool {
        let state_ok = match self.state.as_str() {
            "" | "open" => raised(a),
            "all" => true,
            s => a.status.as_str() == s,
        };
        let needle = self.q.trim().to_lowercase();
        state_ok
            && (self.severity.is_empty()
                || a.severity.map(|s| s.as_str()) == Some(self.severity.as_str()))
            && (self.rule.is_empty() || a.rule.as_str() == self.rule)
            && (self.group.is_empty() || group == Some(self.group.as_str()))
            && (self.device.is_empty() || a.device_id == self.device)
            && (needle.is_empty()
                || [&a.hostname, &a.subject, &a.subject_name, &a.summary]
                    .iter()
                    .any(|t| t.to_lowercase().contains(&needle)))
    }
}

/// The alerts `query` keeps, newest change first. Pure.
pub fn select<'a>(
    alerts: &'a [AlertRecord],
    groups: &HashMap<&str, &str>,
    query: &AlertQuery,
) -> Vec<&'a AlertRecord> {
    let mut kept: Vec<&AlertRecord> = alerts
        .iter()
        .filter(|a| query.keeps(a, groups.get(a.device_id.as_str()).copied()))
        .collect();
    kept.sort_by_key(|a| (std::cmp::Reverse(a.last_seen), std::cmp::Reverse(a.id)));
    kept
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    chrome: Chrome,
    query: AlertQuery,
    rows: Vec<AlertRow>,
    total: usize,
    page: usize,
    pages: usize,
    groups: Vec<String>,
    rules: Vec<&'static str>,
    prev_link: String,
    next_link: String,
}

fn page_link(query: &AlertQuery, page: usize) -> String {
    format!(
        "/alerts{}",
        format::query(&[
            ("state", &query.state),
            ("severity", &query.severity),
            ("rule", &query.rule),
            ("group", &query.group),
            ("device", &query.device),
            ("q", &query.q),
            ("page", &page.to_string()),
        ])
    )
}

pub async fn page(
    State(state): State<ConsoleState>,
    SignedIn(caller): SignedIn,
    Query(query): Query<AlertQuery>,
) -> Result<Response, PageError> {
    // Pending and resolved alerts are read only when the filter may show them.
    let raised_only = matches!(
        query.state.as_str(),
        "" | "open" | "firing" | "acknowledged"
    );
    let fleet = fleet::load(state.store.as_ref(), &caller.principal, raised_only).await?;
    let now = now_unix();
    let groups: HashMap<&str, &str> = fleet
        .devices
        .iter()
        .map(|(d, _)| (d.id.as_str(), d.group.as_str()))
        .collect();
    let kept = select(&fleet.alerts, &groups, &query);
    let total = kept.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = query.page.unwrap_or(1).clamp(1, pages);
    let shown: Vec<&AlertRecord> = kept
        .into_iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .collect();
    let ids: Vec<i64> = shown.iter().map(|a| a.id).collect();
    let links = state.store.alert_tickets(&ids).await?;
    let links: HashMap<i64, &TicketLink> = links.iter().map(|l| (l.alert_id, l)).collect();
    let mut rows = Vec::with_capacity(shown.len());
    for alert in shown {
        let mut row = AlertRow::new(alert, now).with_ticket(&links);
        if alert.acknowledged_by.is_some() {
            row.ack_note = ack_note(&state, alert.id).await?;
        }
        rows.push(row);
    }
    let mut group_names: Vec<String> = fleet.devices.iter().map(|(d, _)| d.group.clone()).collect();
    group_names.sort();
    group_names.dedup();
    let page = AlertsPage {
        chrome: Chrome::new(&caller, "Alerts", "alerts"),
        prev_link: page_link(&query, page.saturating_sub(1).max(1)),
        next_link: page_link(&query, (page + 1).min(pages)),
        query,
        rows,
        total,
        page,
        pages,
        groups: group_names,
        rules: RuleId::ALL.iter().map(|r| r.as_str()).collect(),
    };
    Ok(render(&page))
}

/// The note of an alert's last acknowledgement.
pub async fn ack_note(state: &ConsoleState, id: i64) -> Result<Option<String>, PageError> {
    Ok(state.store.alert(id).await?.and_then(|(_, history)| {
        history
            .iter()
            .rev()
            .find(|t| t.event.as_deref() == Some("acknowledged"))
            .and_then(|t| t.note.clone())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::pages::fleet::tests::alert;

    fn query(state: &str) -> AlertQuery {
        AlertQuery {
            state: state.into(),
            ..AlertQuery::default()
        }
    }

    #[test]
    fn open_alerts_are_the_default_and_newest_come_first() {
        let alerts = vec![
            alert(1, "d1", RuleId::BackupFailed, AlertStatus::Firing),
            alert(2, "d1", RuleId::DiskFreePercent, AlertStatus::Resolved),
            alert(3, "d2", RuleId::BackupFailed, AlertStatus::Acknowledged),
            alert(4, "d2", RuleId::RebootPending, AlertStatus::Pending),
        ];
        let groups = HashMap::from([("d1", "alpha"), ("d2", "beta")]);
        let ids = |q: &AlertQuery| {
            select(&alerts, &groups, q)
                .iter()
                .map(|a| a.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&query("")), [3, 1]);
        assert_eq!(ids(&query("all")), [4, 3, 2, 1]);
        assert_eq!(ids(&query("resolved")), [2]);
        assert_eq!(ids(&query("pending")), [4]);
        let beta = AlertQuery {
            group: "beta".into(),
            ..query("all")
        };
        assert_eq!(ids(&beta), [4, 3]);
        let text = AlertQuery {
            q: "ALERT 1".into(),
            ..query("all")
        };
        assert_eq!(
            ids(&text),
            [1],
            "free text is case-insensitive over the summary"
        );
        let rule = AlertQuery {
            rule: "backup_failed".into(),
            device: "d2".into(),
            ..query("all")
        };
        assert_eq!(ids(&rule), [3]);
    }

    #[test]
    fn rows_name_the_subject_as_people_know_it_and_carry_the_ticket() {
        let mut a = alert(7, "d1", RuleId::CertificateDaysLeft, AlertStatus::Firing);
        a.subject = "ab12".into();
        a.subject_name = "CN=vpn, /etc/ssl/vpn.pem".into();
        let link = TicketLink {
            alert_id: 7,
            device_id: "d1".into(),
            connector: "rt".into(),
            reference: crate::tickets::TicketRef {
                id: "42".into(),
                url: Some("https://rt.example/42".into()),
            },
            opened_at: 0,
            closed_at: None,
            closed_as: None,
        };
        let row = AlertRow::new(&a, 10).with_ticket(&HashMap::from([(7, &link)]));
        assert_eq!(row.subject, "CN=vpn, /etc/ssl/vpn.pem");
        assert_eq!(row.domain, "certificates");
        assert!(row.firing && row.has_device());
        assert_eq!(
            row.ticket,
            Some(("42".into(), Some("https://rt.example/42".into())))
        );
    }
}
