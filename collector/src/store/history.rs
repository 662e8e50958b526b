//! What a report leaves behind, decided the same way by every backend: whether
//! it changed anything, when its disks are sampled, and how old history is
//! thinned out (raw, then hourly, then daily disk samples).
//!
//! A device sends mostly the same report again; only its numbering and time
//! move. Such a report costs a last-seen update and one small history line
//! without a body. Disk samples are written when a filesystem's numbers move
//! and at least once an hour, which is all the forecast can tell apart: it
//! keeps each day's *least* free space, and a repeated value never lowers it.
//! Retention keeps raw samples for `raw_days`, then the fullest sample of each
//! hour up to `hourly_days`, then of each day up to `daily_days`; the sample
//! kept is a real one (its own time and bytes), so a day's minimum, the
//! largest size and the newest value are the same on thinned history.
//!
//! Every backend also keeps each filesystem's fullest sample of each day (UTC)
//! as a *day row*, updated as samples are written; the forecast reads those
//! instead of two weeks of samples (see [`ForecastReads`]), so its cost does
//! not grow with the history a device has.

use std::collections::BTreeMap;

use prost::Message;
use sha2::{Digest, Sha256};

use forewarn_proto::pb;

use crate::rules::{DiskSample, RulesConfig};

pub const HOUR_SECS: i64 = 3_600;
pub const DAY_SECS: i64 = 24 * HOUR_SECS;

/// How long history is kept, from `[history]` in the collector's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryConfig {
    /// Days each stored report and every raw disk sample is kept.
    #[serde(default = "default_raw_days")]
    pub raw_days: u32,
    /// Days the fullest disk sample of each hour is kept; must cover the disk
    /// forecast's window (`[rules.disk_forecast] window_secs`, 14 days by
    /// default) so forecasts read hourly, never daily, samples.
    #[serde(default = "default_hourly_days")]
    pub hourly_days: u32,
    /// Days the fullest disk sample of each day is kept, for long trends.
    #[serde(default = "default_daily_days")]
    pub daily_days: u32,
    /// Seconds between retention rounds (one collector runs them).
    #[serde(default = "default_retention_interval_secs")]
    pub retention_interval_secs: u64,
}

fn default_raw_days() -> u32 {
    2
}
fn default_hourly_days() -> u32 {
    15
}
fn default_daily_days() -> u32 {
    400
}
fn default_retention_interval_secs() -> u64 {
    3_600
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            raw_days: default_raw_days(),
            hourly_days: default_hourly_days(),
            daily_days: default_daily_days(),
            retention_interval_secs: default_retention_interval_secs(),
        }
    }
}

impl HistoryConfig {
    /// Every bad key, named.
    pub fn problems(&self, forecast_window_secs: u64) -> Vec<String> {
        let mut problems = Vec::new();
        if self.raw_days == 0 {
            problems.push("history.raw_days must be at least 1".to_owned());
        }
        if self.hourly_days < self.raw_days {
            problems.push(format!(
                "history.hourly_days ({}) must be at least history.raw_days ({})",
                self.hourly_days, self.raw_days
            ));
        }
        if u64::from(self.hourly_days) * DAY_SECS as u64 <= forecast_window_secs {
            problems.push(format!(
                "history.hourly_days ({}) must be longer than the disk forecast window ({} days), or forecasts lose history",
                self.hourly_days,
                forecast_window_secs.div_ceil(DAY_SECS as u64)
            ));
        }
        if self.daily_days < self.hourly_days {
            problems.push(format!(
                "history.daily_days ({}) must be at least history.hourly_days ({})",
                self.daily_days, self.hourly_days
            ));
        }
        if self.retention_interval_secs == 0 {
            problems.push("history.retention_interval_secs must be at least 1".to_owned());
        }
        problems
    }

    /// The cut-offs of one retention round at `now`.
    pub fn cutoffs(&self, now: i64) -> Cutoffs {
        let before = |days: u32| now - i64::from(days) * DAY_SECS;
        Cutoffs {
            raw_before: before(self.raw_days).div_euclid(HOUR_SECS) * HOUR_SECS,
            hourly_before: before(self.hourly_days).div_euclid(DAY_SECS) * DAY_SECS,
            daily_before: before(self.daily_days),
        }
    }
}

/// Where one retention round cuts: slot-aligned, so a slot is thinned whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    /// Reports and raw disk samples before this go (samples: to hourly).
    pub raw_before: i64,
    /// Hourly disk samples before this become daily.
    pub hourly_before: i64,
    /// Daily disk samples before this are deleted.
    pub daily_before: i64,
}

/// Two fingerprints of a report, the first 8 bytes of SHA-256 digests,
/// stable across versions so they can be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprints {
    /// What the report says, without what moves in every report (its
    /// numbering, its time, the policy it ran and how long each check took):
    /// equal for two reports that change nothing, so the second is not
    /// stored again as the device's status.
    pub status: i64,
    /// The same without the filesystems' usage numbers (sizes, free bytes
    /// and inodes), which move in nearly every report of a device in use:
    /// equal for two reports whose only change is usage, so the second's
    /// history line has no body ([`disk_samples`](disk_sample_columns) keep
    /// the sizes and available bytes).
    pub content: i64,
}

/// What a report changed against the device's stored fingerprints; a report
/// that does not decode (no fingerprints) or a device with none stored
/// counts as changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Changes {
    /// Stored as the device's latest status.
    pub status: bool,
    /// More than disk usage: its history line gets a body.
    pub content: bool,
}

impl Changes {
    pub fn between(
        report: Option<Fingerprints>,
        stored_status: Option<i64>,
        stored_content: Option<i64>,
    ) -> Self {
        let differs = |now: Option<i64>, stored: Option<i64>| now.is_none() || now != stored;
        Self {
            status: differs(report.map(|f| f.status), stored_status),
            content: differs(report.map(|f| f.content), stored_content),
        }
    }
}

/// The report's [`Fingerprints`]. The moving fields are cleared for the hash
/// and put back (no copy of the report is made).
pub fn fingerprints(status: &mut pb::StatusReport) -> Fingerprints {
    let seq = std::mem::take(&mut status.seq);
    let collected_at = std::mem::take(&mut status.collected_at_unix_secs);
    let boot_id = std::mem::take(&mut status.boot_id);
    let policy_version = std::mem::take(&mut status.policy_version);
    let durations: Vec<u32> = status
        .check_runs
        .iter_mut()
        .map(|run| std::mem::take(&mut run.duration_ms))
        .collect();
    let usage: Vec<[Option<u64>; 5]> = filesystems(status).iter_mut().map(take_usage).collect();
    let content = Sha256::digest(status.encode_to_vec());
    let mut with_usage = Sha256::new_with_prefix(content);
    for numbers in &usage {
        for number in numbers {
            // Present and absent inode counts hash apart.
            match number {
                Some(n) => {
                    with_usage.update([1]);
                    with_usage.update(n.to_be_bytes());
                }
                None => with_usage.update([0]),
            }
        }
    }
    let fingerprints = Fingerprints {
        status: first_eight(&with_usage.finalize()),
        content: first_eight(&content),
    };
    for (filesystem, numbers) in filesystems(status).iter_mut().zip(usage) {
        put_usage(filesystem, numbers);
    }
    status.seq = seq;
    status.collected_at_unix_secs = collected_at;
    status.boot_id = boot_id;
    status.policy_version = policy_version;
    for (run, duration) in status.check_runs.iter_mut().zip(durations) {
        run.duration_ms = duration;
    }
    fingerprints
}

fn filesystems(status: &mut pb::StatusReport) -> &mut [pb::DiskStatus] {
    status
        .disks
        .as_mut()
        .map_or(&mut [][..], |disks| disks.filesystems.as_mut_slice())
}

fn take_usage(filesystem: &mut pb::DiskStatus) -> [Option<u64>; 5] {
    [
        Some(std::mem::take(&mut filesystem.total_bytes)),
        Some(std::mem::take(&mut filesystem.free_bytes)),
        Some(std::mem::take(&mut filesystem.available_bytes)),
        filesystem.inodes_total.take(),
        filesystem.inodes_free.take(),
    ]
}

fn put_usage(filesystem: &mut pb::DiskStatus, numbers: [Option<u64>; 5]) {
    let [total, free, available, inodes_total, inodes_free] = numbers;
    filesystem.total_bytes = total.unwrap_or_default();
    filesystem.free_bytes = free.unwrap_or_default();
    filesystem.available_bytes = available.unwrap_or_default();
    filesystem.inodes_total = inodes_total;
    filesystem.inodes_free = inodes_free;
}

fn first_eight(digest: &[u8]) -> i64 {
    i64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 has 32 bytes"))
}

/// Whether a report's disks are sampled: always when its content changed,
/// else once per hour, so every hour (and day) the forecast buckets by has a
/// sample.
pub fn disks_due(changed: bool, last_sampled_at: Option<i64>, at: i64) -> bool {
    changed
        || last_sampled_at.is_none_or(|last| last.div_euclid(HOUR_SECS) != at.div_euclid(HOUR_SECS))
}

/// The samples to keep of one filesystem's `samples` when thinning to one per
/// `slot_secs`: per slot, the one with the least available space (the earliest
/// of equals, as the forecast picks), carrying the slot's largest total size.
pub fn thin(samples: &[DiskSample], slot_secs: i64) -> Vec<DiskSample> {
    let mut slots: BTreeMap<i64, DiskSample> = BTreeMap::new();
    let mut sorted = samples.to_vec();
    sorted.sort_by_key(|s| s.at);
    for sample in sorted {
        let slot = slots
            .entry(sample.at.div_euclid(slot_secs))
            .or_insert(sample);
        let total = slot.total_bytes.max(sample.total_bytes);
        if sample.available_bytes < slot.available_bytes {
            *slot = sample;
        }
        slot.total_bytes = total;
    }
    slots.into_values().collect()
}

/// One device's disk samples in `[from, until)` by mount point, thinned to
/// `slot_secs`: what a backend writes back after deleting that range.
pub fn thin_all(
    samples: BTreeMap<String, Vec<DiskSample>>,
    slot_secs: i64,
) -> BTreeMap<String, Vec<DiskSample>> {
    samples
        .into_iter()
        .map(|(mount, samples)| {
            let kept = thin(&samples, slot_secs);
            (mount, kept)
        })
        .collect()
}

/// The report's filesystems as disk-history columns by mount point, sizes in
/// the stores' signed 64 bits: a mount point named twice counts once, as its
/// last entry (a sample's key is device, mount point and time).
pub fn disk_sample_columns(disks: &pb::DiskCheck) -> BTreeMap<&str, (i64, i64)> {
    disks
        .filesystems
        .iter()
        .map(|fs| {
            (
                fs.mount_point.as_str(),
                (
                    i64::try_from(fs.total_bytes).unwrap_or(i64::MAX),
                    i64::try_from(fs.available_bytes).unwrap_or(i64::MAX),
                ),
            )
        })
        .collect()
}

/// The start (UTC midnight) of the day holding `at`: the key of its day row.
pub fn day_of(at: i64) -> i64 {
    at.div_euclid(DAY_SECS) * DAY_SECS
}

/// What a backend reads for the disk forecast at `now`. The forecast uses, of
/// a filesystem's samples in its window, only each day's fullest one (the
/// earliest of equals), the largest size and the newest one; so when it
/// buckets by day, the day rows of the window forecast exactly what every
/// sample does, from a few dozen rows instead of thousands
/// ([`from_day_rows`]). Only where a day row cannot stand in for samples are
/// samples read: the part-day where the window starts, when that day's
/// fullest sample lies before the window, and the newest sample, when the
/// newest day row does not know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForecastReads {
    /// Where the window starts: samples before it are not read.
    pub since: i64,
    /// The day holding `since`: day rows from here on are read.
    pub first_day: i64,
    /// The first midnight at or after `since`: the days from here on are
    /// whole in the window; samples in `[since, whole_days_from)` are the
    /// part-day.
    pub whole_days_from: i64,
    /// The newest sample of each filesystem at or before this is read too.
    pub newest_until: i64,
}

/// How the forecast's history is read at `now`; `None` when the forecast does
/// not bucket by day (`[rules.disk_forecast] bucket_secs` changed), and every
/// sample since [`crate::alerts::engine::disk_history_since`] is read instead.
pub fn forecast_reads(rules: &RulesConfig, now: i64) -> Option<ForecastReads> {
    if rules.disk_forecast.bucket_secs != DAY_SECS as u64 {
        return None;
    }
    let since = crate::alerts::engine::disk_history_since(rules, now);
    Some(ForecastReads {
        since,
        first_day: day_of(since),
        whole_days_from: day_of(since.saturating_add(DAY_SECS - 1)),
        newest_until: now,
    })
}

/// One filesystem's day row as the forecast reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRow {
    /// The day's start (UTC midnight).
    pub day: i64,
    /// The day's fullest sample (the earliest of equals), carrying the day's
    /// largest size.
    pub fullest: DiskSample,
    /// The day's newest sample; `None` when not known (a row older than the
    /// column), and then the samples are read.
    pub newest: Option<DiskSample>,
}

/// One filesystem's forecast input as far as its day rows give it, and which
/// samples a backend still has to read for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromDayRows {
    pub samples: Vec<DiskSample>,
    /// Read the samples in `[since, whole_days_from)`.
    pub read_part_day: bool,
    /// Read the newest sample in `[since, newest_until]`.
    pub read_newest: bool,
}

/// The forecast's input at `reads` from the day rows from
/// [`ForecastReads::first_day`] on, by mount point. A filesystem without a
/// day row from `whole_days_from` on is left out: it has not been reported
/// for the whole of the window's later part, and only reported ones are
/// judged. A day row stands in for:
/// - a whole day: its fullest sample and largest size are all the forecast
///   takes of that day;
/// - the part-day where the window starts, when the day's fullest sample
///   lies inside the window (so it is the part-day's fullest too) and the
///   day's largest size is no larger than a later day's (so the window's
///   largest size is the same either way);
/// - the newest sample, when it is the newest day's and not after `now`.
pub fn from_day_rows(
    reads: &ForecastReads,
    rows: impl IntoIterator<Item = (String, DayRow)>,
) -> BTreeMap<String, FromDayRows> {
    let mut by_mount: BTreeMap<String, Vec<DayRow>> = BTreeMap::new();
    for (mount, row) in rows {
        by_mount.entry(mount).or_default().push(row);
    }
    by_mount
        .into_iter()
        .filter_map(|(mount, rows)| {
            let whole: Vec<&DayRow> = rows
                .iter()
                .filter(|row| row.day >= reads.whole_days_from)
                .collect();
            let newest_day = whole.iter().max_by_key(|row| row.day)?;
            let newest = newest_day
                .newest
                .filter(|newest| (reads.since..=reads.newest_until).contains(&newest.at));
            let largest = whole.iter().map(|row| row.fullest.total_bytes).max();
            let part_day = rows
                .iter()
                .find(|row| row.day == reads.first_day && reads.first_day < reads.whole_days_from);
            let part_day_stands_in = part_day.map(|row| {
                (reads.since..=reads.newest_until).contains(&row.fullest.at)
                    && Some(row.fullest.total_bytes) <= largest
            });
            let mut samples: Vec<DiskSample> = whole.iter().map(|row| row.fullest).collect();
            samples.extend(newest);
            if part_day_stands_in == Some(true) {
                samples.extend(part_day.map(|row| row.fullest));
            }
            Some((
                mount,
                FromDayRows {
                    samples,
                    read_part_day: part_day_stands_in == Some(false),
                    read_newest: newest.is_none(),
                },
            ))
        })
        .collect()
}

/// A filesystem's forecast input (day rows and samples, as read, in any
/// order and possibly repeated), oldest first without repeats.
pub fn forecast_order(mut samples: Vec<DiskSample>) -> Vec<DiskSample> {
    samples.sort_by_key(|s| (s.at, s.available_bytes, s.total_bytes));
    samples.dedup();
    samples
}

#[cfg(test)]
mod tests;
