//! The device page (`/devices/{id}`): facts, the four domains in full
//! (disks with their chart and forecast line, certificates, patches, backup
//! jobs), check errors, every alert with who acknowledged it and why, and
//! the tickets opened for it. Ticket links from the ticket templates
//! (`{dashboard_url}/devices/{id}`) land here.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;

use forewarn_proto::pb;

use super::alerts::AlertRow;
use super::chart::{self, DiskChart};
use super::format::{ago, gib, when};
use super::{Chrome, PageError, SignedIn, render};
use crate::alerts::AlertFilter;
use crate::clock::now_unix;
use crate::console::api::views::{self, DeviceSummary};
use crate::console::authz::{Action, can, sees};
use crate::console::state::ConsoleState;
use crate::rules::config::ForecastRule;
use crate::rules::forecast::{ForecastState, forecast_state};
use crate::store::pages::TicketLink;

/// How far back the disk charts look.
pub const CHART_HISTORY_SECS: i64 = 30 * 86_400;

#[derive(Debug)]
pub struct DiskRow {
    pub mount_point: String,
    pub filesystem: String,
    pub used_percent: String,
    pub free: String,
    pub total: String,
    pub inodes: String,
    pub forecast: String,
    pub chart: Option<DiskChart>,
}

#[derive(Debug)]
pub struct CertificateRow {
    pub subject: String,
    pub issuer: String,
    pub expires: String,
    pub days_left: i64,
    pub self_signed: bool,
    pub locations: Vec<String>,
}

#[derive(Debug)]
pub struct PatchSection {
    pub package_manager: String,
    pub scan_state: &'static str,
    pub scan_error: String,
    pub last_scan: String,
    pub last_install: String,
    pub reboot_required: bool,
    pub reboot_reasons: Vec<String>,
    /// (name, installed, candidate, security)
    pub pending: Vec<(String, String, String, bool)>,
    pub security_pending: usize,
}

#[derive(Debug)]
pub struct BackupRow {
    pub name: String,
    pub kind: String,
    pub destination: String,
    pub result: &'static str,
    pub last_run: String,
    pub last_success: String,
    pub message: String,
}

fn scan_state(state: i32) -> &'static str {
    match pb::ScanState::try_from(state) {
        Ok(pb::ScanState::Ok) => "ok",
        Ok(pb::ScanState::Stale) => "stale",
        Ok(pb::ScanState::Error) => "error",
        Ok(pb::ScanState::Never) => "never scanned",
        _ => "unknown",
    }
}

/// The disk rows of a report, with charts from `history`; the chart's
/// forecast line uses `rule`, the device group's forecast settings, so it
/// agrees with the stored forecast written beside it. Pure.
pub fn disk_rows(
    report: &pb::StatusReport,
    history: &std::collections::BTreeMap<String, Vec<crate::rules::DiskSample>>,
    forecasts: &HashMap<&str, &str>,
    rule: &ForecastRule,
    now: i64,
) -> Vec<DiskRow> {
    report
        .disks
        .as_ref()
        .map(|d| d.filesystems.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|fs| {
            let used = fs.total_bytes.saturating_sub(fs.available_bytes);
            let samples = history.get(&fs.mount_point).map_or(&[][..], Vec::as_slice);
            let forecast = match forecast_state(rule, samples, now) {
                ForecastState::FullIn(f) => Some(f),
                _ => None,
            };
            DiskRow {
                mount_point: fs.mount_point.clone(),
                filesystem: fs.filesystem.clone(),
                used_percent: if fs.total_bytes == 0 {
                    "–".into()
                } else {
                    format!("{:.0}%", 100.0 * used as f64 / fs.total_bytes as f64)
                },
                free: gib(fs.available_bytes),
                total: gib(fs.total_bytes),
                inodes: match (fs.inodes_total, fs.inodes_free) {
                    (Some(total), Some(free)) if total > 0 => {
                        format!(
                            "{:.0}%",
                            100.0 * total.saturating_sub(free) as f64 / total as f64
                        )
                    }
                    _ => "–".into(),
                },
                forecast: forecasts
                    .get(fs.mount_point.as_str())
                    .map_or_else(String::new, |f| (*f).to_owned()),
                chart: chart::disk_chart(samples, forecast, now, CHART_HISTORY_SECS, |t| {
                    when(Some(t)).chars().take(10).collect()
                }),
            }
        })
        .collect()
}

/// The certificate rows of a report, soonest expiry first. Pure.
pub fn certificate_rows(report: &pb::StatusReport, now: i64) -> Vec<CertificateRow> {
    let mut rows: Vec<CertificateRow> = report
        .certificates
        .as_ref()
        .map(|c| c.certificates.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|c| CertificateRow {
            subject: c.subject.clone(),
            issuer: c.issuer.clone(),
            expires: when(Some(c.not_after_unix_secs)),
            days_left: (c.not_after_unix_secs - now).div_euclid(86_400),
            self_signed: c.self_signed,
            locations: c.locations.iter().map(|l| l.location.clone()).collect(),
        })
        .collect();
    rows.sort_by_key(|r| r.days_left);
    rows
}

fn patch_section(report: &pb::StatusReport) -> Option<PatchSection> {
    let p = report.patches.as_ref()?;
    Some(PatchSection {
        package_manager: p.package_manager.clone(),
        scan_state: scan_state(p.scan_state),
        scan_error: p.scan_error.clone(),
        last_scan: when(p.last_successful_scan_unix_secs),
        last_install: when(p.last_successful_install_unix_secs),
        reboot_required: p.reboot_required,
        reboot_reasons: p
            .reboot_reasons
            .iter()
            .map(|r| {
                if r.detail.is_empty() {
                    r.source.clone()
                } else {
                    format!("{}: {}", r.source, r.detail)
                }
            })
            .collect(),
        pending: p
            .pending
            .iter()
            .map(|u| {
                (
                    u.name.clone(),
                    u.installed_version.clone(),
                    u.candidate_version.clone(),
                    u.security,
                )
            })
            .collect(),
        security_pending: p.pending.iter().filter(|u| u.security).count(),
    })
}

fn backup_rows(report: &pb::StatusReport) -> Vec<BackupRow> {
    report
        .backups
        .as_ref()
        .map(|b| b.jobs.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|j| BackupRow {
            name: j.name.clone(),
            kind: j.kind.clone(),
            destination: j.destination.clone(),
            result: views::backup_result(j.result),
            last_run: when(
                j.last_run_finished_unix_secs
                    .or(j.last_run_started_unix_secs),
            ),
            last_success: when(j.last_success_unix_secs),
            message: j.message.clone(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "device.html")]
struct DevicePage {
    chrome: Chrome,
    device: DeviceSummary,
    can_act_here: bool,
    last_report: String,
    last_report_ago: String,
    seq: u64,
    facts: Vec<(&'static str, String)>,
    disks: Vec<DiskRow>,
    certificates: Vec<CertificateRow>,
    patches: Option<PatchSection>,
    backups: Vec<BackupRow>,
    errors: Vec<(String, String, String)>,
    alerts: Vec<AlertRow>,
    tickets: Vec<TicketLink>,
    has_report: bool,
}

pub async fn page(
    State(state): State<ConsoleState>,
    SignedIn(caller): SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let device = state
        .store
        .device(&id)
        .await?
        .filter(|d| sees(&caller.principal, &d.group))
        .ok_or_else(|| PageError::NotFound(format!("Device {id}")))?;
    let now = now_unix();
    let alerts = state
        .store
        .list_alerts(AlertFilter {
            device_id: Some(id.clone()),
            ..AlertFilter::default()
        })
        .await?;
    let summary = views::summarize(&device, &alerts.iter().collect::<Vec<_>>());
    let status = state.store.latest_status(&id).await?;
    let report = views::decode(status.as_ref()).unwrap_or_default();
    let stored_forecasts = state.store.disk_forecasts(&id).await?;
    let forecasts: HashMap<&str, &str> = stored_forecasts
        .iter()
        .map(|f| (f.mount_point.as_str(), f.description.as_str()))
        .collect();
    let history = state
        .store
        .disk_history(&id, now - CHART_HISTORY_SECS)
        .await?;
    let tickets = state.store.device_tickets(&id).await?;
    let links: HashMap<i64, &TicketLink> = tickets.iter().map(|l| (l.alert_id, l)).collect();
    let acknowledged: Vec<i64> = alerts
        .iter()
        .filter(|a| a.acknowledged_by.is_some())
        .map(|a| a.id)
        .collect();
    let mut notes = state.store.ack_notes(&acknowledged).await?;
    let mut sorted: Vec<_> = alerts.iter().collect();
    sorted.sort_by_key(|a| (fleet_order(a), std::cmp::Reverse(a.last_seen)));
    let rows: Vec<AlertRow> = sorted
        .into_iter()
        .map(|alert| {
            let mut row = AlertRow::new(alert, now).with_ticket(&links);
            row.ack_note = notes.remove(&alert.id);
            row
        })
        .collect();
    let facts = report
        .host
        .as_ref()
        .map(|h| views::Facts::of(h).labelled(when))
        .unwrap_or_default();
    let page = DevicePage {
        chrome: Chrome::new(&caller, device.hostname.clone(), "devices"),
        can_act_here: can(&caller.principal, Action::Silence, Some(&device.group)),
        last_report: when(status.as_ref().map(|s| s.received_at)),
        last_report_ago: ago(now, status.as_ref().map(|s| s.received_at)),
        seq: device.last_seq,
        facts,
        disks: disk_rows(
            &report,
            &history,
            &forecasts,
            &state.settings.rules.for_group(&device.group).disk_forecast,
            now,
        ),
        certificates: certificate_rows(&report, now),
        patches: patch_section(&report),
        backups: backup_rows(&report),
        errors: report
            .errors
            .iter()
            .map(|e| (e.check.clone(), e.item.clone(), e.message.clone()))
            .collect(),
        alerts: rows,
        tickets,
        has_report: status.is_some(),
        device: summary,
    };
    Ok(render(&page))
}

/// Raised alerts first, then pending, then resolved.
fn fleet_order(alert: &crate::alerts::AlertRecord) -> u8 {
    use crate::alerts::AlertStatus::*;
    match alert.status {
        Firing => 0,
        Acknowledged => 1,
        Pending => 2,
        Resolved => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const GIB: u64 = 1 << 30;
    const DAY: i64 = 86_400;

    #[test]
    fn disk_rows_carry_use_inodes_the_stored_forecast_and_a_chart() {
        let report = pb::StatusReport {
            disks: Some(pb::DiskCheck {
                filesystems: vec![pb::DiskStatus {
                    mount_point: "/".into(),
                    filesystem: "ext4".into(),
                    total_bytes: 100 * GIB,
                    available_bytes: 25 * GIB,
                    inodes_total: Some(1000),
                    inodes_free: Some(900),
                    ..Default::default()
                }],
            }),
            ..Default::default()
        };
        let now = 20 * DAY;
        // Filling 1 GiB a day for 10 days.
        let samples = (0..10)
            .map(|i| crate::rules::DiskSample {
                at: now - (9 - i) * DAY,
                total_bytes: 100 * GIB,
                available_bytes: (34 - i as u64) * GIB,
            })
            .collect();
        let history = BTreeMap::from([("/".to_owned(), samples)]);
        let forecasts = HashMap::from([("/", "full in ~25 days")]);
        let rule = crate::rules::RulesConfig::default().disk_forecast;
        let rows = disk_rows(&report, &history, &forecasts, &rule, now);
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(
            (row.used_percent.as_str(), row.inodes.as_str()),
            ("75%", "10%")
        );
        assert_eq!(row.forecast, "full in ~25 days");
        let chart = row.chart.as_ref().expect("a chart");
        assert!(
            chart.forecast.is_some(),
            "a filling disk draws its forecast line"
        );
    }

    #[test]
    fn the_forecast_line_follows_the_groups_forecast_settings() {
        let report = pb::StatusReport {
            disks: Some(pb::DiskCheck {
                filesystems: vec![pb::DiskStatus {
                    mount_point: "/".into(),
                    total_bytes: 100 * GIB,
                    available_bytes: 30 * GIB,
                    ..Default::default()
                }],
            }),
            ..Default::default()
        };
        let now = 20 * DAY;
        // Three days of filling 1 GiB a day: enough buckets for a group that
        // asks for 3, too few for the default (4).
        let samples: Vec<_> = (0..3)
            .map(|i| crate::rules::DiskSample {
                at: now - (2 - i) * DAY,
                total_bytes: 100 * GIB,
                available_bytes: (34 - i as u64) * GIB,
            })
            .collect();
        let history = BTreeMap::from([("/".to_owned(), samples)]);
        let default = crate::rules::RulesConfig::default().disk_forecast;
        let group = ForecastRule {
            min_buckets: 3,
            ..default.clone()
        };
        assert!(default.min_buckets > 3, "the case needs a stricter default");
        let line = |rule: &ForecastRule| {
            disk_rows(&report, &history, &HashMap::new(), rule, now)[0]
                .chart
                .as_ref()
                .is_some_and(|c| c.forecast.is_some())
        };
        assert!(!line(&default), "default: too little history");
        assert!(line(&group), "the group's settings forecast from 3 days");
    }

    #[test]
    fn certificates_are_listed_soonest_expiry_first() {
        let cert = |subject: &str, not_after: i64| pb::CertificateStatus {
            subject: subject.into(),
            not_after_unix_secs: not_after,
            ..Default::default()
        };
        let report = pb::StatusReport {
            certificates: Some(pb::CertificateCheck {
                certificates: vec![cert("CN=later", 40 * DAY), cert("CN=expired", -DAY)],
                ..Default::default()
            }),
            ..Default::default()
        };
        let rows = certificate_rows(&report, 0);
        assert_eq!(rows[0].subject, "CN=expired");
        assert_eq!(rows[0].days_left, -1);
        assert_eq!(rows[1].days_left, 40);
    }
}
