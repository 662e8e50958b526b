//! The alert list (`/alerts`): filters, who acknowledged and why, the
//! ticket reference, and bulk acknowledge / silence for operators.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::fleet;
use super::format::{self, ago, when};
use super::{Chrome, PageError, SignedIn, render};
use crate::alerts::{AlertRecord, AlertStatus};
use crate::clock::now_unix;
use crate::console::api::views::domain;
use crate::console::authz::sees;
use crate::console::state::ConsoleState;
use crate::rules::RuleId;
use crate::severity::Severity;
use crate::store::pages::{AlertOrder, FleetAlerts, TicketLink};
use crate::store::{DeviceRecord, Store, StoreError};

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
    /// What the store is asked for, over the groups `scope` (see
    /// [`fleet::scope`]), free text aside, newest change first; `None`
    /// when the filters name a state, severity or rule that does not exist
    /// (nothing matches). Pure.
    pub fn store_filter(&self, scope: Option<Vec<String>>) -> Option<FleetAlerts> {
        let (raised_only, state) = match self.state.as_str() {
            "" | "open" => (true, None),
            "all" => (false, None),
            s => (false, Some(AlertStatus::parse(s)?)),
        };
        let severity = match self.severity.as_str() {
            "" => None,
            s => Some(Severity::parse(s)?),
        };
        let rules = match self.rule.as_str() {
            "" => Vec::new(),
            r => vec![RuleId::parse(r)?],
        };
        let groups = match (self.group.as_str(), scope) {
            ("", scope) => scope,
            (group, None) => Some(vec![group.to_owned()]),
            (group, Some(scope)) => Some(scope.into_iter().filter(|g| g == group).collect()),
        };
        Some(FleetAlerts {
            raised_only,
            state,
            severity,
            rules,
            device_id: Some(self.device.clone()).filter(|d| !d.is_empty()),
            groups,
            order: AlertOrder::LastSeen,
            ..FleetAlerts::default()
        })
    }

    /// Whether `a` holds the free text (case-insensitive) in its hostname,
    /// subject or summary; true without free text. Pure.
    pub fn text_matches(&self, a: &AlertRecord) -> bool {
        let needle = self.q.trim().to_lowercase();
        needle.is_empty()
            || [&a.hostname, &a.subject, &a.subject_name, &a.summary]
                .iter()
                .any(|t| t.to_lowercase().contains(&needle))
    }
}

/// The total and the alerts of page `page` (from 1, clamped to the pages
/// there are) that `query` finds over the groups `scope`. Without free
/// text the store counts and cuts the page; with it, the filtered alerts
/// are read and searched here.
async fn find(
    store: &dyn Store,
    query: &AlertQuery,
    scope: Option<Vec<String>>,
) -> Result<(usize, usize, Vec<AlertRecord>), StoreError> {
    let Some(filter) = query.store_filter(scope) else {
        return Ok((0, 1, Vec::new()));
    };
    let page_of = |total: usize| {
        let pages = total.div_ceil(PAGE_SIZE).max(1);
        query.page.unwrap_or(1).clamp(1, pages)
    };
    if query.q.trim().is_empty() {
        let total = store.count_alerts(filter.clone()).await?;
        let page = page_of(total);
        let shown = store
            .fleet_alerts(FleetAlerts {
                limit: Some(PAGE_SIZE),
                offset: (page - 1) * PAGE_SIZE,
                ..filter
            })
            .await?;
        return Ok((total, page, shown));
    }
    let mut kept = store.fleet_alerts(filter).await?;
    kept.retain(|a| query.text_matches(a));
    let total = kept.len();
    let page = page_of(total);
    let shown = kept
        .into_iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .collect();
    Ok((total, page, shown))
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
    let principal = &caller.principal;
    let (total, page, shown) = find(state.store.as_ref(), &query, fleet::scope(principal)).await?;
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let now = now_unix();
    let devices: Vec<DeviceRecord> = state
        .store
        .list_devices()
        .await?
        .into_iter()
        .filter(|d| sees(principal, &d.group))
        .collect();
    let groups: HashMap<&str, &str> = devices
        .iter()
        .map(|d| (d.id.as_str(), d.group.as_str()))
        .collect();
    // The store read only the caller's groups; this still decides.
    let shown: Vec<&AlertRecord> = shown
        .iter()
        .filter(|a| fleet::sees_alert(principal, groups.get(a.device_id.as_str()).copied()))
        .collect();
    let ids: Vec<i64> = shown.iter().map(|a| a.id).collect();
    let links = state.store.alert_tickets(&ids).await?;
    let links: HashMap<i64, &TicketLink> = links.iter().map(|l| (l.alert_id, l)).collect();
    let acknowledged: Vec<i64> = shown
        .iter()
        .filter(|a| a.acknowledged_by.is_some())
        .map(|a| a.id)
        .collect();
    let mut notes = state.store.ack_notes(&acknowledged).await?;
    let rows = shown
        .into_iter()
        .map(|alert| {
            let mut row = AlertRow::new(alert, now).with_ticket(&links);
            row.ack_note = notes.remove(&alert.id);
            row
        })
        .collect();
    let mut group_names: Vec<String> = devices.iter().map(|d| d.group.clone()).collect();
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
    fn open_alerts_are_the_default_and_filters_become_the_stores() {
        let open = query("").store_filter(None).unwrap();
        assert!(open.raised_only && open.state.is_none());
        assert_eq!(open.order, AlertOrder::LastSeen, "newest change first");
        assert_eq!(query("open").store_filter(None), Some(open));
        let all = query("all").store_filter(None).unwrap();
        assert!(!all.raised_only && all.state.is_none());
        assert_eq!(
            query("pending").store_filter(None).unwrap().state,
            Some(AlertStatus::Pending)
        );
        let narrow = AlertQuery {
            severity: "critical".into(),
            rule: "backup_failed".into(),
            device: "d2".into(),
            ..query("resolved")
        }
        .store_filter(None)
        .unwrap();
        assert_eq!(
            (
                narrow.state,
                narrow.severity,
                narrow.rules,
                narrow.device_id.as_deref()
            ),
            (
                Some(AlertStatus::Resolved),
                Some(Severity::Critical),
                vec![RuleId::BackupFailed],
                Some("d2")
            )
        );
        for unknown in [
            query("snoozed"),
            AlertQuery {
                severity: "dire".into(),
                ..query("")
            },
            AlertQuery {
                rule: "no_such_rule".into(),
                ..query("")
            },
        ] {
            assert_eq!(unknown.store_filter(None), None, "{unknown:?}");
        }
    }

    #[test]
    fn the_group_filter_stays_inside_the_callers_groups() {
        let beta = AlertQuery {
            group: "beta".into(),
            ..query("all")
        };
        let scope = || Some(vec!["alpha".to_owned(), "beta".to_owned()]);
        assert_eq!(
            beta.store_filter(None).unwrap().groups,
            Some(vec!["beta".to_owned()])
        );
        assert_eq!(
            beta.store_filter(scope()).unwrap().groups,
            Some(vec!["beta".to_owned()])
        );
        assert_eq!(
            beta.store_filter(Some(vec!["alpha".to_owned()]))
                .unwrap()
                .groups,
            Some(vec![]),
            "another group's alerts: none"
        );
        assert_eq!(query("").store_filter(scope()).unwrap().groups, scope());
        assert_eq!(query("").store_filter(None).unwrap().groups, None);
    }

    #[test]
    fn free_text_is_case_insensitive_over_host_subject_and_summary() {
        let mut a = alert(1, "d1", RuleId::BackupFailed, AlertStatus::Firing);
        a.subject_name = "Nightly Job".into();
        let text = |q: &str| AlertQuery {
            q: q.into(),
            ..query("")
        };
        for q in ["ALERT 1", "host-D1", " nightly job ", ""] {
            assert!(text(q).text_matches(&a), "{q:?}");
        }
        assert!(!text("alert 2").text_matches(&a));
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
