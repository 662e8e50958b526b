//! The API's JSON shapes of devices and alerts, built from store records by
//! pure functions (the OpenAPI schemas are derived from these types).

use prost::Message;
use serde::Serialize;
use utoipa::ToSchema;

use forewarn_proto::pb;

use crate::alerts::{AlertRecord, AlertStatus, AlertTransitionRecord};
use crate::rules::RuleId;
use crate::store::pages::AlertCounts;
use crate::store::{DeviceRecord, DiskForecastRecord, LatestStatus};

/// A device as lists show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeviceSummary {
    pub id: String,
    pub hostname: String,
    pub group: String,
    pub os: String,
    pub agent_version: String,
    /// `online`, `offline` (its offline alert is raised), `retired`, `never_reported`.
    pub state: String,
    pub last_seen_at: Option<i64>,
    pub enrolled_at: i64,
    pub retired_at: Option<i64>,
    /// Domains with a firing or acknowledged alert: disks, certificates,
    /// patches, backups, offline.
    pub problems: Vec<String>,
    /// Firing (not acknowledged) alerts.
    pub firing_alerts: usize,
}

/// The problem domain of a rule, as the console groups them.
pub fn domain(rule: RuleId) -> &'static str {
    match rule {
        RuleId::DiskFree
        | RuleId::DiskFreePercent
        | RuleId::DiskFreeBytes
        | RuleId::InodeUsedPercent
        | RuleId::DiskForecast => "disks",
        RuleId::CertificateDaysLeft => "certificates",
        RuleId::SecurityUpdatesPending
        | RuleId::PatchScanAgeDays
        | RuleId::PatchScanError
        | RuleId::RebootPending => "patches",
        RuleId::BackupFailed
        | RuleId::BackupHoursSinceSuccess
        | RuleId::BackupProbeError
        | RuleId::BackupRestoreFailed => "backups",
        RuleId::OfflineMinutes => "offline",
        RuleId::TicketingFailing => "ticketing",
    }
}

fn raised(alert: &AlertRecord) -> bool {
    matches!(
        alert.status,
        AlertStatus::Firing | AlertStatus::Acknowledged
    )
}

/// A device's summary from its record and its alerts (any states).
pub fn summarize(device: &DeviceRecord, alerts: &[&AlertRecord]) -> DeviceSummary {
    let problems = alerts
        .iter()
        .filter(|a| raised(a))
        .map(|a| domain(a.rule))
        .collect();
    let firing = alerts
        .iter()
        .filter(|a| a.status == AlertStatus::Firing)
        .count();
    summary(device, problems, firing)
}

/// A device's summary from its record and its alerts counted per domain
/// (the lists, which do not read every alert row).
pub fn summarize_counts(device: &DeviceRecord, counts: &[&AlertCounts]) -> DeviceSummary {
    let problems = counts
        .iter()
        .filter(|c| c.raised() > 0)
        .map(|c| c.domain)
        .collect();
    let firing = counts.iter().map(|c| c.firing).sum();
    summary(device, problems, firing)
}

fn summary(device: &DeviceRecord, mut problems: Vec<&str>, firing: usize) -> DeviceSummary {
    problems.sort_unstable();
    problems.dedup();
    let state = if device.retired_at.is_some() {
        "retired"
    } else if device.last_seen_at.is_none() {
        "never_reported"
    } else if problems.contains(&"offline") {
        "offline"
    } else {
        "online"
    };
    DeviceSummary {
        id: device.id.clone(),
        hostname: device.hostname.clone(),
        group: device.group.clone(),
        os: device.os.clone(),
        agent_version: device.agent_version.clone(),
        state: state.into(),
        last_seen_at: device.last_seen_at,
        enrolled_at: device.enrolled_at,
        retired_at: device.retired_at,
        problems: problems.into_iter().map(str::to_owned).collect(),
        firing_alerts: firing,
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertView {
    pub id: i64,
    pub device_id: String,
    pub hostname: String,
    pub rule: String,
    /// disks, certificates, patches, backups, offline, ticketing.
    pub domain: String,
    /// The subject as people know it (mount point, CN and path, job name).
    pub subject: String,
    /// pending, firing, acknowledged, resolved.
    pub state: String,
    pub severity: Option<String>,
    pub flapping: bool,
    pub first_seen: i64,
    pub last_seen: i64,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub summary: String,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<i64>,
}

pub fn alert_view(a: &AlertRecord) -> AlertView {
    AlertView {
        id: a.id,
        device_id: a.device_id.clone(),
        hostname: a.hostname.clone(),
        rule: a.rule.as_str().into(),
        domain: domain(a.rule).into(),
        subject: if a.subject_name.is_empty() {
            a.subject.clone()
        } else {
            a.subject_name.clone()
        },
        state: a.status.as_str().into(),
        severity: a.severity.map(|s| s.as_str().into()),
        flapping: a.flapping,
        first_seen: a.first_seen,
        last_seen: a.last_seen,
        value: a.value,
        threshold: a.threshold,
        summary: a.summary.clone(),
        acknowledged_by: a.acknowledged_by.clone(),
        acknowledged_at: a.acknowledged_at,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertHistoryEntry {
    pub at: i64,
    pub from_severity: Option<String>,
    pub to_severity: Option<String>,
    /// The notification event, or `acknowledged`.
    pub event: Option<String>,
    pub summary: String,
    pub actor: Option<String>,
    pub note: Option<String>,
}

pub fn history_entry(t: &AlertTransitionRecord) -> AlertHistoryEntry {
    AlertHistoryEntry {
        at: t.at,
        from_severity: t.from_severity.map(|s| s.as_str().into()),
        to_severity: t.to_severity.map(|s| s.as_str().into()),
        event: t.event.clone(),
        summary: t.summary.clone(),
        actor: t.actor.clone(),
        note: t.note.clone(),
    }
}

/// What the device's last report said about the machine. The API answers
/// it as is; the device page shows it through [`Facts::labelled`], so both
/// say the same things.
#[derive(Debug, Serialize, ToSchema)]
pub struct Facts {
    pub os_name: String,
    pub os_version: String,
    /// OS build or kernel version.
    pub os_build: String,
    pub architecture: String,
    pub model: String,
    pub serial_number: String,
    pub primary_user: String,
    pub boot_time: Option<i64>,
    /// Version of the agent that made the report.
    pub agent_version: String,
}

impl Facts {
    pub fn of(host: &pb::HostFacts) -> Self {
        Self {
            os_name: host.os_name.clone(),
            os_version: host.os_version.clone(),
            os_build: host.os_build.clone(),
            architecture: host.architecture.clone(),
            model: host.model.clone(),
            serial_number: host.serial_number.clone(),
            primary_user: host.primary_user.clone(),
            boot_time: host.boot_time_unix_secs,
            agent_version: host.agent_version.clone(),
        }
    }

    /// The facts under the names people know them by, in the order the
    /// device page lists them; `when` writes the boot time.
    pub fn labelled(&self, when: impl Fn(Option<i64>) -> String) -> Vec<(&'static str, String)> {
        let os = [&self.os_name, &self.os_version, &self.os_build]
            .into_iter()
            .filter(|part| !part.is_empty())
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        vec![
            ("OS", os),
            ("Architecture", self.architecture.clone()),
            ("Model", self.model.clone()),
            ("Serial number", self.serial_number.clone()),
            ("Primary user", self.primary_user.clone()),
            ("Booted", when(self.boot_time)),
            ("Agent", self.agent_version.clone()),
        ]
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DiskView {
    pub mount_point: String,
    pub filesystem: String,
    pub total_bytes: u64,
    pub available_bytes: u64,
    /// "full in ~5 days", "needs 3 more days of history", "no trend".
    pub forecast: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CertificateView {
    pub subject: String,
    pub issuer: String,
    pub not_after: i64,
    /// Where it was found (file path, store, endpoint).
    pub locations: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PatchView {
    pub package_manager: String,
    pub pending: usize,
    pub security_pending: usize,
    pub reboot_required: bool,
    pub last_successful_scan: Option<i64>,
    pub scan_error: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BackupView {
    pub name: String,
    pub kind: String,
    /// success, warning, failed, running, unknown.
    pub result: String,
    pub last_success: Option<i64>,
    pub message: String,
}

/// One device in full.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceDetail {
    pub device: DeviceSummary,
    /// When the last stored report was collected.
    pub reported_at: Option<i64>,
    pub facts: Option<Facts>,
    pub disks: Vec<DiskView>,
    pub certificates: Vec<CertificateView>,
    pub patches: Option<PatchView>,
    pub backups: Vec<BackupView>,
    /// Every alert of the device, newest first, in all states.
    pub alerts: Vec<AlertView>,
}

/// A backup job's last result as the console names it.
pub fn backup_result(result: i32) -> &'static str {
    match pb::BackupResult::try_from(result) {
        Ok(pb::BackupResult::Success) => "success",
        Ok(pb::BackupResult::Warning) => "warning",
        Ok(pb::BackupResult::Failed) => "failed",
        Ok(pb::BackupResult::Running) => "running",
        _ => "unknown",
    }
}

/// The last report, decoded (a report that does not decode shows as none).
pub fn decode(status: Option<&LatestStatus>) -> Option<pb::StatusReport> {
    status.and_then(|s| pb::StatusReport::decode(s.encoded.as_slice()).ok())
}

pub fn detail(
    summary: DeviceSummary,
    status: Option<&LatestStatus>,
    forecasts: &[DiskForecastRecord],
    alerts: Vec<AlertView>,
) -> DeviceDetail {
    let report = decode(status);
    let report = report.as_ref();
    DeviceDetail {
        device: summary,
        reported_at: status.map(|s| s.collected_at),
        facts: report.and_then(|r| r.host.as_ref()).map(Facts::of),
        disks: report
            .and_then(|r| r.disks.as_ref())
            .map(|d| d.filesystems.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|fs| DiskView {
                mount_point: fs.mount_point.clone(),
                filesystem: fs.filesystem.clone(),
                total_bytes: fs.total_bytes,
                available_bytes: fs.available_bytes,
                forecast: forecasts
                    .iter()
                    .find(|f| f.mount_point == fs.mount_point)
                    .map(|f| f.description.clone()),
            })
            .collect(),
        certificates: report
            .and_then(|r| r.certificates.as_ref())
            .map(|c| c.certificates.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|c| CertificateView {
                subject: c.subject.clone(),
                issuer: c.issuer.clone(),
                not_after: c.not_after_unix_secs,
                locations: c.locations.iter().map(|l| l.location.clone()).collect(),
            })
            .collect(),
        patches: report.and_then(|r| r.patches.as_ref()).map(|p| PatchView {
            package_manager: p.package_manager.clone(),
            pending: p.pending.len(),
            security_pending: p.pending.iter().filter(|u| u.security).count(),
            reboot_required: p.reboot_required,
            last_successful_scan: p.last_successful_scan_unix_secs,
            scan_error: p.scan_error.clone(),
        }),
        backups: report
            .and_then(|r| r.backups.as_ref())
            .map(|b| b.jobs.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|j| BackupView {
                name: j.name.clone(),
                kind: j.kind.clone(),
                result: backup_result(j.result).into(),
                last_success: j.last_success_unix_secs,
                message: j.message.clone(),
            })
            .collect(),
        alerts,
    }
}
