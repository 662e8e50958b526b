//! The device list (`/devices`): filters, sortable columns, saved views
//! (kept by the browser, see `assets/app.js`) and bulk actions for
//! operators (silence, retire, restore, move).

use std::collections::HashSet;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::fleet;
use super::format::{self, ago};
use super::{Chrome, PageError, SignedIn, render};
use crate::clock::now_unix;
use crate::console::api::views::DeviceSummary;
use crate::console::state::ConsoleState;
use crate::store::DeviceRecord;

/// The device list's filters and order, from the query string.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DeviceQuery {
    pub group: String,
    pub os: String,
    /// online, offline, retired, never_reported.
    pub state: String,
    /// disks, certificates, patches, backups, offline, or `any`.
    pub problem: String,
    /// Free text: id prefix, hostname, group, serial number, model or
    /// primary user (the store's search, as in the API).
    pub q: String,
    /// hostname (default), group, os, state, problems, last_seen.
    pub sort: String,
    /// asc (default) or desc.
    pub order: String,
    pub page: Option<usize>,
}

pub const PAGE_SIZE: usize = 200;

/// The sortable columns: (key, heading).
pub const COLUMNS: [(&str, &str); 6] = [
    ("hostname", "Host"),
    ("group", "Group"),
    ("os", "OS"),
    ("state", "State"),
    ("problems", "Problems"),
    ("last_seen", "Last report"),
];

impl DeviceQuery {
    /// `found`: the devices the free text found (`None`: no free text).
    fn keeps(&self, d: &DeviceRecord, s: &DeviceSummary, found: Option<&HashSet<String>>) -> bool {
        (self.group.is_empty() || d.group == self.group)
            && (self.os.is_empty() || d.os == self.os)
            && (self.state.is_empty() || s.state == self.state)
            && match self.problem.as_str() {
                "" => true,
                "any" => !s.problems.is_empty(),
                p => s.problems.iter().any(|x| x == p),
            }
            && found.is_none_or(|found| found.contains(&d.id))
    }

    /// The free text, if any.
    pub fn text(&self) -> Option<&str> {
        Some(self.q.trim()).filter(|q| !q.is_empty())
    }

    pub fn descending(&self) -> bool {
        self.order == "desc"
    }

    /// The link of a column heading: sorts by it, flipping the order when
    /// it is already the sort column.
    pub fn sort_link(&self, column: &str) -> String {
        let current = if self.sort.is_empty() {
            "hostname"
        } else {
            &self.sort
        };
        let order = if current == column && !self.descending() {
            "desc"
        } else {
            ""
        };
        self.link(column, order, 1)
    }

    /// `ascending`, `descending` or `none`, for the heading's aria-sort.
    pub fn aria_sort(&self, column: &str) -> &'static str {
        let current = if self.sort.is_empty() {
            "hostname"
        } else {
            &self.sort
        };
        match (current == column, self.descending()) {
            (false, _) => "none",
            (true, false) => "ascending",
            (true, true) => "descending",
        }
    }

    pub fn page_link(&self, page: usize) -> String {
        self.link(&self.sort, &self.order, page)
    }

    fn link(&self, sort: &str, order: &str, page: usize) -> String {
        let page = if page > 1 {
            page.to_string()
        } else {
            String::new()
        };
        format!(
            "/devices{}",
            format::query(&[
                ("group", &self.group),
                ("os", &self.os),
                ("state", &self.state),
                ("problem", &self.problem),
                ("q", &self.q),
                ("sort", sort),
                ("order", order),
                ("page", &page),
            ])
        )
    }
}

/// The devices `query` keeps, in its order (ties by hostname, then id);
/// `found`: what the store's search found for the query's free text. Pure.
pub fn select<'a>(
    devices: &'a [(DeviceRecord, DeviceSummary)],
    query: &DeviceQuery,
    found: Option<&HashSet<String>>,
) -> Vec<&'a (DeviceRecord, DeviceSummary)> {
    let mut kept: Vec<_> = devices
        .iter()
        .filter(|(d, s)| query.keeps(d, s, found))
        .collect();
    let by_name =
        |(d, _): &&(DeviceRecord, DeviceSummary)| (d.hostname.to_lowercase(), d.id.clone());
    kept.sort_by(|a, b| {
        let primary = match query.sort.as_str() {
            "group" => a.0.group.cmp(&b.0.group),
            "os" => a.0.os.cmp(&b.0.os),
            "state" => a.1.state.cmp(&b.1.state),
            "problems" => (a.1.problems.len(), a.1.firing_alerts)
                .cmp(&(b.1.problems.len(), b.1.firing_alerts)),
            "last_seen" => a.0.last_seen_at.cmp(&b.0.last_seen_at),
            _ => std::cmp::Ordering::Equal,
        };
        let ordered = primary.then_with(|| by_name(a).cmp(&by_name(b)));
        if query.descending() {
            ordered.reverse()
        } else {
            ordered
        }
    });
    kept
}

/// A device as the list shows it.
#[derive(Debug, Clone)]
pub struct DeviceRow {
    pub id: String,
    pub hostname: String,
    pub group: String,
    pub os: String,
    pub state: String,
    pub problems: Vec<String>,
    pub firing: usize,
    pub last_seen: String,
}

#[derive(Template)]
#[template(path = "devices.html")]
struct DevicesPage {
    chrome: Chrome,
    query: DeviceQuery,
    rows: Vec<DeviceRow>,
    total: usize,
    page: usize,
    pages: usize,
    groups: Vec<String>,
    oses: Vec<String>,
    columns: [(&'static str, &'static str); 6],
}

pub async fn page(
    State(state): State<ConsoleState>,
    SignedIn(caller): SignedIn,
    Query(query): Query<DeviceQuery>,
) -> Result<Response, PageError> {
    let fleet = fleet::load(state.store.as_ref(), &caller.principal).await?;
    let found = match query.text() {
        Some(text) => Some(state.store.search_devices(text).await?),
        None => None,
    };
    let now = now_unix();
    let kept = select(&fleet.devices, &query, found.as_ref());
    let total = kept.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = query.page.unwrap_or(1).clamp(1, pages);
    let rows = kept
        .into_iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .map(|(d, s)| DeviceRow {
            id: d.id.clone(),
            hostname: d.hostname.clone(),
            group: d.group.clone(),
            os: d.os.clone(),
            state: s.state.clone(),
            problems: s.problems.clone(),
            firing: s.firing_alerts,
            last_seen: ago(now, d.last_seen_at),
        })
        .collect();
    let distinct = |f: fn(&DeviceRecord) -> &String| {
        let mut values: Vec<String> = fleet.devices.iter().map(|(d, _)| f(d).clone()).collect();
        values.sort();
        values.dedup();
        values
    };
    let page = DevicesPage {
        chrome: Chrome::new(&caller, "Devices", "devices"),
        groups: distinct(|d| &d.group),
        oses: distinct(|d| &d.os),
        query,
        rows,
        total,
        page,
        pages,
        columns: COLUMNS,
    };
    Ok(render(&page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::AlertStatus;
    use crate::console::authz::{Role, Scope};
    use crate::rules::RuleId;
    use crate::store::pages::AlertCounts;
    use crate::web::pages::fleet::tests::{alert, device, principal};
    use crate::web::pages::fleet::visible;

    fn fleet() -> Vec<(DeviceRecord, DeviceSummary)> {
        let mut mac = device("m1", "laptops");
        mac.hostname = "Zed-MacBook".into();
        mac.os = "macos".into();
        mac.last_seen_at = Some(50);
        let mut retired = device("r1", "servers");
        retired.hostname = "old-db".into();
        retired.retired_at = Some(3);
        let web = device("w1", "servers");
        visible(
            &principal(Role::Viewer, Scope::All),
            vec![web, mac, retired],
            AlertCounts::tally(&[alert(1, "w1", RuleId::BackupFailed, AlertStatus::Firing)]),
        )
        .devices
    }

    fn ids(devices: &[(DeviceRecord, DeviceSummary)], query: &DeviceQuery) -> Vec<String> {
        select(devices, query, None)
            .iter()
            .map(|(d, _)| d.id.clone())
            .collect()
    }

    #[test]
    fn filters_combine_and_the_default_order_is_by_hostname() {
        let devices = fleet();
        assert_eq!(ids(&devices, &DeviceQuery::default()), ["w1", "r1", "m1"]);
        let servers = DeviceQuery {
            group: "servers".into(),
            ..DeviceQuery::default()
        };
        assert_eq!(ids(&devices, &servers), ["w1", "r1"]);
        let problems = DeviceQuery {
            problem: "any".into(),
            ..DeviceQuery::default()
        };
        assert_eq!(ids(&devices, &problems), ["w1"]);
        let backups = DeviceQuery {
            problem: "backups".into(),
            state: "online".into(),
            ..DeviceQuery::default()
        };
        assert_eq!(ids(&devices, &backups), ["w1"]);
        let retired = DeviceQuery {
            state: "retired".into(),
            ..DeviceQuery::default()
        };
        assert_eq!(ids(&devices, &retired), ["r1"]);
        let linux = DeviceQuery {
            q: "macbook".into(),
            os: "linux".into(),
            ..DeviceQuery::default()
        };
        let found: HashSet<String> = ["m1".to_owned(), "r1".to_owned()].into();
        assert_eq!(
            select(&devices, &linux, Some(&found))
                .iter()
                .map(|(d, _)| d.id.as_str())
                .collect::<Vec<_>>(),
            ["r1"],
            "what the search found, within the other filters"
        );
    }

    #[test]
    fn columns_sort_both_ways() {
        let devices = fleet();
        let by_seen = DeviceQuery {
            sort: "last_seen".into(),
            ..DeviceQuery::default()
        };
        assert_eq!(ids(&devices, &by_seen), ["m1", "w1", "r1"]);
        let desc = DeviceQuery {
            order: "desc".into(),
            ..by_seen.clone()
        };
        assert_eq!(ids(&devices, &desc), ["r1", "w1", "m1"]);
        let by_problems = DeviceQuery {
            sort: "problems".into(),
            order: "desc".into(),
            ..DeviceQuery::default()
        };
        assert_eq!(ids(&devices, &by_problems)[0], "w1");
    }

    #[test]
    fn heading_links_flip_the_order_of_the_current_column_only() {
        let query = DeviceQuery {
            group: "servers".into(),
            ..DeviceQuery::default()
        };
        assert_eq!(
            query.sort_link("hostname"),
            "/devices?group=servers&sort=hostname&order=desc"
        );
        assert_eq!(query.sort_link("os"), "/devices?group=servers&sort=os");
        assert_eq!(query.aria_sort("hostname"), "ascending");
        assert_eq!(query.aria_sort("os"), "none");
        assert_eq!(query.page_link(2), "/devices?group=servers&page=2");
    }
}
