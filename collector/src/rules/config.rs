//! Rule thresholds from the collector's TOML config (`[rules]`, overridden per
//! group under `[groups.<name>.rules]`).
//!
//! Every rule has a fixed direction (free space is bad when *low*, hours since
//! the last backup are bad when *high*); the unit is in the rule's name. The
//! defaults are the table in `docs/rules.md`; keep the two in step.

use serde::{Deserialize, Serialize};

use crate::severity::Severity;

/// Thresholds of a numeric rule. Fires at `warning`/`critical` and clears
/// only once the value is `hysteresis` past the level it fired at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdRule {
    /// Whether the rule runs at all.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Level at which the alert fires as a warning (unit in the rule name).
    pub warning: Option<f64>,
    /// Level at which the alert fires (or rises) to critical.
    pub critical: Option<f64>,
    /// How far back past a level the value must go before it clears (same unit).
    #[serde(default)]
    pub hysteresis: f64,
    /// Seconds the condition must hold before the alert fires (0: at once).
    #[serde(default)]
    pub for_secs: u64,
}

/// A yes/no condition (a failed job, a scan error) with a fixed severity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagRule {
    /// Whether the rule runs at all.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Severity of the alert when the condition holds: "warning" or "critical".
    pub severity: Severity,
    /// Seconds the condition must hold before the alert fires (0: at once).
    #[serde(default)]
    pub for_secs: u64,
    /// Seconds the condition must stay false before the alert clears (hysteresis in time).
    #[serde(default)]
    pub clear_after_secs: u64,
}

/// Disk-full forecast: fits the trend of free space and fires on the days left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastRule {
    /// Whether the rule runs at all.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Predicted days until full at which the alert fires as a warning.
    pub warning: Option<f64>,
    /// Predicted days until full at which the alert is critical.
    pub critical: Option<f64>,
    /// Days past a level the forecast must go before it clears.
    #[serde(default)]
    pub hysteresis: f64,
    /// Seconds the forecast must hold before the alert fires (0: at once).
    #[serde(default)]
    pub for_secs: u64,
    /// How far back samples are used, in seconds.
    #[serde(default = "default_forecast_window_secs")]
    pub window_secs: u64,
    /// Width of the buckets whose fullest point is fitted, in seconds (one day
    /// by default, which hides a daily log-rotation sawtooth).
    #[serde(default = "default_forecast_bucket_secs")]
    pub bucket_secs: u64,
    /// Fewest buckets with samples needed before forecasting.
    #[serde(default = "default_forecast_min_buckets")]
    pub min_buckets: usize,
    /// Largest median distance of bucket minima from the fitted line, as a
    /// percentage of the filesystem size; a worse fit forecasts nothing.
    #[serde(default = "default_forecast_max_residual_percent")]
    pub max_residual_percent: f64,
    /// A rise in free space between buckets of more than this percentage of the
    /// filesystem size is a cleanup: the trend restarts after it.
    #[serde(default = "default_forecast_cleanup_percent")]
    pub cleanup_percent: f64,
}

/// Flapping: too many transitions of one alert within a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlappingConfig {
    /// Transitions within `window_secs` that make an alert flapping.
    #[serde(default = "default_flap_transitions")]
    pub transitions: usize,
    /// Window over which transitions are counted, in seconds; a flapping alert
    /// settles once it has been quiet this long.
    #[serde(default = "default_flap_window_secs")]
    pub window_secs: u64,
}

/// Every rule, with the defaults an IT lead would pick for a small fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// Free space below this percentage of the filesystem (available to users).
    #[serde(default = "default_disk_free_percent")]
    pub disk_free_percent: ThresholdRule,
    /// Free space below this many bytes.
    #[serde(default = "default_disk_free_bytes")]
    pub disk_free_bytes: ThresholdRule,
    /// How `disk_free_percent` relaxes for filesystems larger than a reference size.
    #[serde(default)]
    pub disk_free_percent_scaling: PercentScaling,
    /// Inodes in use above this percentage.
    #[serde(default = "default_inode_used_percent")]
    pub inode_used_percent: ThresholdRule,
    /// Filesystem predicted full within this many days.
    #[serde(default = "default_disk_forecast")]
    pub disk_forecast: ForecastRule,
    /// Certificate expiring within this many days (expired counts as negative days).
    #[serde(default = "default_certificate_days_left")]
    pub certificate_days_left: ThresholdRule,
    /// Security updates pending; `for_secs` is how long they may wait.
    #[serde(default = "default_security_updates_pending")]
    pub security_updates_pending: FlagRule,
    /// Days since the last successful patch scan.
    #[serde(default = "default_patch_scan_age_days")]
    pub patch_scan_age_days: ThresholdRule,
    /// The patch scan reports an error.
    #[serde(default = "default_patch_scan_error")]
    pub patch_scan_error: FlagRule,
    /// A reboot is pending for patches; `for_secs` is how long it may wait.
    #[serde(default = "default_reboot_pending")]
    pub reboot_pending: FlagRule,
    /// The last run of a backup job failed.
    #[serde(default = "default_backup_failed")]
    pub backup_failed: FlagRule,
    /// Hours since a backup job last succeeded (dead-man).
    #[serde(default = "default_backup_hours_since_success")]
    pub backup_hours_since_success: ThresholdRule,
    /// The agent cannot read a backup job's status.
    #[serde(default = "default_backup_probe_error")]
    pub backup_probe_error: FlagRule,
    /// A restore test of a backup job failed.
    #[serde(default = "default_backup_restore_failed")]
    pub backup_restore_failed: FlagRule,
    /// Minutes since the device last reported.
    #[serde(default = "default_offline_minutes")]
    pub offline_minutes: ThresholdRule,
    /// When an alert counts as flapping.
    #[serde(default = "default_flapping")]
    pub flapping: FlappingConfig,
    /// Which filesystems the disk rules judge.
    #[serde(default)]
    pub disks: DiskScope,
    /// Disk thresholds for one device, one mount point, or a mount point of
    /// one device; when several match, the last one listed wins per rule.
    #[serde(default)]
    pub disk_overrides: Vec<DiskOverride>,
}

/// The percent levels of `disk_free_percent` shrink for filesystems larger
/// than `reference_gib`, as `level × (size / reference)^(exponent − 1)`: 5 %
/// of 20 TiB is a terabyte, not an emergency. With the defaults, the 10 % /
/// 5 % levels become 6.3 % / 3.1 % at 1 TiB and 3.5 % / 1.7 % at 20 TiB.
/// `exponent = 1` turns this off; smaller filesystems keep the levels as set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PercentScaling {
    /// Filesystems up to this size (GiB) are judged by the levels as written.
    #[serde(default = "default_scaling_reference_gib")]
    pub reference_gib: f64,
    /// 1 keeps the levels for every size; 0.8 is a common choice; lower relaxes more.
    #[serde(default = "default_scaling_exponent")]
    pub exponent: f64,
}

impl Default for PercentScaling {
    fn default() -> Self {
        Self {
            reference_gib: default_scaling_reference_gib(),
            exponent: default_scaling_exponent(),
        }
    }
}

fn default_scaling_reference_gib() -> f64 {
    100.0
}
fn default_scaling_exponent() -> f64 {
    0.8
}

impl PercentScaling {
    /// The factor a percent level is multiplied by for a filesystem of `total` bytes.
    pub fn factor(&self, total: f64) -> f64 {
        let reference = self.reference_gib * GIB;
        if total <= reference || reference <= 0.0 {
            return 1.0;
        }
        (total / reference).powf(self.exponent - 1.0)
    }
}

/// Which filesystems the disk rules judge: a filesystem is judged when its
/// mount point is selected *and* its type is selected. Mount patterns are
/// exact (`/var`) or end in `*` to match a prefix (`/run/user/*`); types
/// compare without case (`tmpfs`, `NTFS`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskScope {
    /// Only these mount points are judged (empty: every mount point).
    #[serde(default)]
    pub include_mounts: Vec<String>,
    /// These mount points are never judged.
    #[serde(default)]
    pub exclude_mounts: Vec<String>,
    /// Only filesystems of these types are judged (empty: every type).
    #[serde(default)]
    pub include_types: Vec<String>,
    /// Filesystems of these types are never judged.
    #[serde(default)]
    pub exclude_types: Vec<String>,
}

/// Thresholds for the disks of one device and/or one mount point. A rule
/// given here replaces that rule whole for the disks it matches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskOverride {
    /// The device's hostname or id (unset: every device).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// A mount point pattern, as in [`DiskScope`] (unset: every mount point).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount: Option<String>,
    /// Replaces `disk_free_percent` for the matching disks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_free_percent: Option<ThresholdRule>,
    /// Replaces `disk_free_bytes` for the matching disks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_free_bytes: Option<ThresholdRule>,
    /// Replaces `inode_used_percent` for the matching disks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inode_used_percent: Option<ThresholdRule>,
}

/// Whether a mount pattern (exact, or a prefix ending in `*`) matches `mount`.
pub fn mount_matches(pattern: &str, mount: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => mount.starts_with(prefix),
        None => pattern == mount,
    }
}

impl DiskScope {
    /// Whether the disk rules judge the filesystem at `mount` of type `fs_type`.
    pub fn judges(&self, mount: &str, fs_type: &str) -> bool {
        let listed = |patterns: &[String]| patterns.iter().any(|p| mount_matches(p, mount));
        let typed = |types: &[String]| types.iter().any(|t| t.eq_ignore_ascii_case(fs_type));
        let mount_selected = (self.include_mounts.is_empty() || listed(&self.include_mounts))
            && !listed(&self.exclude_mounts);
        let type_selected = (self.include_types.is_empty() || typed(&self.include_types))
            && !typed(&self.exclude_types);
        mount_selected && type_selected
    }
}

/// The free-space and inode thresholds that apply to one disk.
#[derive(Debug, Clone, Copy)]
pub struct DiskRules<'a> {
    pub free_percent: &'a ThresholdRule,
    pub free_bytes: &'a ThresholdRule,
    pub inode_used_percent: &'a ThresholdRule,
}

impl RulesConfig {
    /// The disk thresholds for `mount` on the device with this id and hostname,
    /// after the matching [`DiskOverride`]s.
    pub fn disk_rules(&self, device_id: &str, hostname: &str, mount: &str) -> DiskRules<'_> {
        let mut rules = DiskRules {
            free_percent: &self.disk_free_percent,
            free_bytes: &self.disk_free_bytes,
            inode_used_percent: &self.inode_used_percent,
        };
        for o in &self.disk_overrides {
            let device_ok = o
                .device
                .as_deref()
                .is_none_or(|d| d == device_id || d.eq_ignore_ascii_case(hostname));
            let mount_ok = o.mount.as_deref().is_none_or(|p| mount_matches(p, mount));
            if !(device_ok && mount_ok) {
                continue;
            }
            if let Some(rule) = &o.disk_free_percent {
                rules.free_percent = rule;
            }
            if let Some(rule) = &o.disk_free_bytes {
                rules.free_bytes = rule;
            }
            if let Some(rule) = &o.inode_used_percent {
                rules.inode_used_percent = rule;
            }
        }
        rules
    }
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            disk_free_percent: default_disk_free_percent(),
            disk_free_bytes: default_disk_free_bytes(),
            disk_free_percent_scaling: PercentScaling::default(),
            inode_used_percent: default_inode_used_percent(),
            disk_forecast: default_disk_forecast(),
            certificate_days_left: default_certificate_days_left(),
            security_updates_pending: default_security_updates_pending(),
            patch_scan_age_days: default_patch_scan_age_days(),
            patch_scan_error: default_patch_scan_error(),
            reboot_pending: default_reboot_pending(),
            backup_failed: default_backup_failed(),
            backup_hours_since_success: default_backup_hours_since_success(),
            backup_probe_error: default_backup_probe_error(),
            backup_restore_failed: default_backup_restore_failed(),
            offline_minutes: default_offline_minutes(),
            flapping: default_flapping(),
            disks: DiskScope::default(),
            disk_overrides: Vec::new(),
        }
    }
}

const DAY_SECS: u64 = 24 * 3600;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

fn default_enabled() -> bool {
    true
}
fn threshold(warning: f64, critical: Option<f64>, hysteresis: f64, for_secs: u64) -> ThresholdRule {
    ThresholdRule {
        enabled: true,
        warning: Some(warning),
        critical,
        hysteresis,
        for_secs,
    }
}
fn flag(severity: Severity, for_secs: u64, clear_after_secs: u64) -> FlagRule {
    FlagRule {
        enabled: true,
        severity,
        for_secs,
        clear_after_secs,
    }
}
fn default_disk_free_percent() -> ThresholdRule {
    threshold(10.0, Some(5.0), 2.0, 0)
}
fn default_disk_free_bytes() -> ThresholdRule {
    threshold(2.0 * GIB, Some(0.5 * GIB), 0.5 * GIB, 0)
}
fn default_inode_used_percent() -> ThresholdRule {
    threshold(90.0, Some(95.0), 2.0, 0)
}
fn default_disk_forecast() -> ForecastRule {
    ForecastRule {
        enabled: true,
        warning: Some(7.0),
        critical: Some(2.0),
        hysteresis: 2.0,
        for_secs: 0,
        window_secs: default_forecast_window_secs(),
        bucket_secs: default_forecast_bucket_secs(),
        min_buckets: default_forecast_min_buckets(),
        max_residual_percent: default_forecast_max_residual_percent(),
        cleanup_percent: default_forecast_cleanup_percent(),
    }
}
fn default_forecast_window_secs() -> u64 {
    14 * DAY_SECS
}
fn default_forecast_bucket_secs() -> u64 {
    DAY_SECS
}
fn default_forecast_min_buckets() -> usize {
    4
}
fn default_forecast_max_residual_percent() -> f64 {
    2.0
}
fn default_forecast_cleanup_percent() -> f64 {
    5.0
}
fn default_certificate_days_left() -> ThresholdRule {
    threshold(30.0, Some(7.0), 1.0, 0)
}
fn default_security_updates_pending() -> FlagRule {
    flag(Severity::Warning, 14 * DAY_SECS, 0)
}
fn default_patch_scan_age_days() -> ThresholdRule {
    threshold(7.0, Some(30.0), 1.0, 0)
}
fn default_patch_scan_error() -> FlagRule {
    flag(Severity::Warning, 3 * DAY_SECS, 0)
}
fn default_reboot_pending() -> FlagRule {
    flag(Severity::Warning, 7 * DAY_SECS, 0)
}
fn default_backup_failed() -> FlagRule {
    flag(Severity::Warning, 0, 0)
}
fn default_backup_hours_since_success() -> ThresholdRule {
    threshold(26.0, Some(72.0), 0.0, 0)
}
fn default_backup_probe_error() -> FlagRule {
    flag(Severity::Warning, DAY_SECS, 0)
}
fn default_backup_restore_failed() -> FlagRule {
    flag(Severity::Critical, 0, 0)
}
/// Devices outside the `servers` group may sleep overnight and over a weekend.
fn default_offline_minutes() -> ThresholdRule {
    threshold(3.0 * 24.0 * 60.0, None, 0.0, 0)
}
fn default_flapping() -> FlappingConfig {
    FlappingConfig {
        transitions: default_flap_transitions(),
        window_secs: default_flap_window_secs(),
    }
}
fn default_flap_transitions() -> usize {
    6
}
fn default_flap_window_secs() -> u64 {
    3600
}

/// Built-in overrides for well-known group names, applied before the
/// operator's `[groups.<name>.rules]`: a server missing for 10 minutes is critical.
pub fn builtin_group_overrides(group: &str) -> toml::Table {
    let mut table = toml::Table::new();
    if group == "servers" {
        let mut offline = toml::Table::new();
        offline.insert("warning".into(), toml::Value::Float(5.0));
        offline.insert("critical".into(), toml::Value::Float(10.0));
        table.insert("offline_minutes".into(), toml::Value::Table(offline));
    }
    table
}

impl RulesConfig {
    /// This config with `overrides` (a `[rules]`-shaped table) laid over it.
    pub fn with_overrides(&self, overrides: &toml::Table) -> Result<Self, String> {
        let mut base = toml::Table::try_from(self).map_err(|err| err.to_string())?;
        merge(&mut base, overrides);
        base.try_into()
            .map_err(|err: toml::de::Error| err.to_string())
    }

    /// Every problem with the thresholds, each naming its key under `prefix`.
    pub fn problems(&self, prefix: &str) -> Vec<String> {
        let mut problems = Vec::new();
        let below = [
            ("disk_free_percent", &self.disk_free_percent),
            ("disk_free_bytes", &self.disk_free_bytes),
            ("disk_forecast", &self.disk_forecast.threshold()),
            ("certificate_days_left", &self.certificate_days_left),
        ];
        let above = [
            ("inode_used_percent", &self.inode_used_percent),
            ("patch_scan_age_days", &self.patch_scan_age_days),
            (
                "backup_hours_since_success",
                &self.backup_hours_since_success,
            ),
            ("offline_minutes", &self.offline_minutes),
        ];
        for (name, rule, low_is_bad) in below
            .iter()
            .map(|(n, r)| (n, r, true))
            .chain(above.iter().map(|(n, r)| (n, r, false)))
        {
            threshold_problems(&mut problems, &format!("{prefix}{name}"), rule, low_is_bad);
        }
        for (index, o) in self.disk_overrides.iter().enumerate() {
            let at = format!("{prefix}disk_overrides[{index}]");
            if o.device.is_none() && o.mount.is_none() {
                problems.push(format!("{at}: set device or mount (or both)"));
            }
            let rules = [
                ("disk_free_percent", &o.disk_free_percent, true),
                ("disk_free_bytes", &o.disk_free_bytes, true),
                ("inode_used_percent", &o.inode_used_percent, false),
            ];
            for (name, rule, low_is_bad) in rules {
                if let Some(rule) = rule {
                    threshold_problems(&mut problems, &format!("{at}.{name}"), rule, low_is_bad);
                }
            }
        }
        let forecast = &self.disk_forecast;
        if forecast.bucket_secs == 0 || forecast.window_secs < forecast.bucket_secs {
            problems.push(format!(
                "{prefix}disk_forecast.bucket_secs: must be at least 1 and at most window_secs"
            ));
        }
        if forecast.min_buckets < 3 {
            problems.push(format!(
                "{prefix}disk_forecast.min_buckets: must be at least 3"
            ));
        }
        let flags = [
            ("security_updates_pending", &self.security_updates_pending),
            ("patch_scan_error", &self.patch_scan_error),
            ("reboot_pending", &self.reboot_pending),
            ("backup_failed", &self.backup_failed),
            ("backup_probe_error", &self.backup_probe_error),
            ("backup_restore_failed", &self.backup_restore_failed),
        ];
        for (name, rule) in flags {
            if rule.severity < Severity::Warning {
                problems.push(format!(
                    "{prefix}{name}.severity: {} does not raise an alert; use warning or critical",
                    rule.severity
                ));
            }
        }
        let scaling = &self.disk_free_percent_scaling;
        if !(scaling.reference_gib > 0.0 && scaling.reference_gib.is_finite()) {
            problems.push(format!(
                "{prefix}disk_free_percent_scaling.reference_gib: must be more than 0"
            ));
        }
        if !(scaling.exponent > 0.0 && scaling.exponent <= 1.0) {
            problems.push(format!(
                "{prefix}disk_free_percent_scaling.exponent: must be more than 0 and at most 1 \
                 (1 keeps the percent levels for every size)"
            ));
        }
        if self.flapping.transitions < 2 {
            problems.push(format!("{prefix}flapping.transitions: must be at least 2"));
        }
        problems
    }
}

/// Problems of one threshold rule, each naming its key `at`.
fn threshold_problems(
    problems: &mut Vec<String>,
    at: &str,
    rule: &ThresholdRule,
    low_is_bad: bool,
) {
    if rule.hysteresis < 0.0 || !rule.hysteresis.is_finite() {
        problems.push(format!("{at}.hysteresis: must be 0 or more"));
    }
    if rule.warning.is_none() && rule.critical.is_none() && rule.enabled {
        problems.push(format!("{at}: set warning or critical, or enabled = false"));
    }
    if let (Some(w), Some(c)) = (rule.warning, rule.critical) {
        let ordered = if low_is_bad { c <= w } else { c >= w };
        if !ordered {
            problems.push(format!(
                "{at}.critical: {c} is less severe than warning {w}"
            ));
        }
    }
}

fn merge(base: &mut toml::Table, overrides: &toml::Table) {
    for (key, value) in overrides {
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(over)) => merge(inner, over),
            (_, value) => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

impl ForecastRule {
    /// The forecast's thresholds as a rule on days until full.
    pub fn threshold(&self) -> ThresholdRule {
        ThresholdRule {
            enabled: self.enabled,
            warning: self.warning,
            critical: self.critical,
            hysteresis: self.hysteresis,
            for_secs: self.for_secs,
        }
    }
}
