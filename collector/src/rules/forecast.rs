//! Disk-full forecast: when will this filesystem run out of space?
//!
//! Method (the reasons are in `docs/rules.md`):
//! 1. keep the samples of the last `window_secs`;
//! 2. group them into buckets of `bucket_secs` (a day) and keep each bucket's
//!    *least* free space — the day's fullest moment, which is what runs out;
//!    a daily log rotation's sawtooth and a copy deleted the same day vanish;
//! 3. a rise in free space of more than `cleanup_percent` between buckets is a
//!    cleanup: only buckets after the last one are used;
//! 4. fit a Theil–Sen line (median of pairwise slopes), which ignores a
//!    minority of outlying buckets such as a one-off copy kept for a day;
//! 5. refuse to forecast with fewer than `min_buckets` buckets or when the
//!    median distance of the buckets from the line exceeds
//!    `max_residual_percent` of the filesystem (no trend worth the name).

use std::collections::BTreeMap;

use super::config::ForecastRule;

/// One observation of a filesystem, from the disk-history table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSample {
    pub at: i64,
    pub total_bytes: u64,
    pub available_bytes: u64,
}

/// A trend that will fill the filesystem.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    /// Predicted seconds from `now` until no space is available.
    pub secs_until_full: f64,
    /// Fitted change of free space, bytes per day (negative: filling).
    pub bytes_per_day: f64,
}

/// What the forecast can say about a filesystem now; shown with the device
/// (`device show`) whether or not it raises an alert.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ForecastState {
    /// Free space is shrinking along a clear trend.
    FullIn(Forecast),
    /// Too few buckets with samples yet (or since the last cleanup): this
    /// many more seconds of history are needed.
    NeedsHistory { secs: u64 },
    /// Enough history, but free space is not shrinking along a clear line.
    NoTrend,
}

impl ForecastState {
    /// "full in ~5 days", "needs 3 more days of history", "no trend".
    pub fn describe(&self) -> String {
        use super::conditions::format_duration;
        match self {
            Self::FullIn(f) => format!("full in ~{}", format_duration(f.secs_until_full)),
            Self::NeedsHistory { secs } => {
                let needed = format_duration(*secs as f64);
                match needed.split_once(' ') {
                    Some((amount, unit)) => format!("needs {amount} more {unit} of history"),
                    None => format!("needs {needed} more history"),
                }
            }
            Self::NoTrend => "no trend".to_owned(),
        }
    }
}

/// Forecasts from `samples` (any order); `None` when there is not enough
/// history, the fit is poor, or free space is not shrinking.
pub fn forecast(rule: &ForecastRule, samples: &[DiskSample], now: i64) -> Option<Forecast> {
    match forecast_state(rule, samples, now) {
        ForecastState::FullIn(f) => Some(f),
        _ => None,
    }
}

/// The forecast of `samples` (any order) with the reason when there is none.
pub fn forecast_state(rule: &ForecastRule, samples: &[DiskSample], now: i64) -> ForecastState {
    let needs = |buckets: usize| ForecastState::NeedsHistory {
        secs: (rule.min_buckets.saturating_sub(buckets) as u64).saturating_mul(rule.bucket_secs),
    };
    let (Ok(bucket_secs), Ok(window)) = (
        i64::try_from(rule.bucket_secs),
        i64::try_from(rule.window_secs),
    ) else {
        return ForecastState::NoTrend;
    };
    let bucket_secs = bucket_secs.max(1);
    let since = now.saturating_sub(window);
    let Some(total) = samples
        .iter()
        .filter(|s| s.at >= since)
        .map(|s| s.total_bytes)
        .max()
        .filter(|&t| t > 0)
    else {
        return needs(0);
    };
    // Bucket index -> (time of the minimum, minimum available).
    let mut buckets: BTreeMap<i64, (i64, u64)> = Default::default();
    for sample in samples.iter().filter(|s| s.at >= since && s.at <= now) {
        let bucket = buckets
            .entry(sample.at.div_euclid(bucket_secs))
            .or_insert((sample.at, sample.available_bytes));
        if sample.available_bytes < bucket.1 {
            *bucket = (sample.at, sample.available_bytes);
        }
    }
    let mut points: Vec<(f64, f64)> = buckets
        .values()
        .map(|&(at, available)| (at as f64, available as f64))
        .collect();
    let cleanup = rule.cleanup_percent / 100.0 * total as f64;
    if let Some(last_cleanup) = points.windows(2).rposition(|w| w[1].1 - w[0].1 > cleanup) {
        points.drain(..=last_cleanup);
    }
    if points.len() < rule.min_buckets {
        return needs(points.len());
    }
    fit(rule, &points, samples, total, now).map_or(ForecastState::NoTrend, ForecastState::FullIn)
}

/// The fitted line's forecast; `None` when the fit is poor or not filling.
fn fit(
    rule: &ForecastRule,
    points: &[(f64, f64)],
    samples: &[DiskSample],
    total: u64,
    now: i64,
) -> Option<Forecast> {
    let slope = theil_sen_slope(points)?;
    if slope >= 0.0 {
        return None;
    }
    let mut intercepts: Vec<f64> = points.iter().map(|(x, y)| y - slope * x).collect();
    let intercept = median(&mut intercepts)?;
    let mut residuals: Vec<f64> = points
        .iter()
        .map(|(x, y)| (y - (intercept + slope * x)).abs())
        .collect();
    let residual = median(&mut residuals)?;
    if residual > rule.max_residual_percent / 100.0 * total as f64 {
        return None;
    }
    let latest = samples
        .iter()
        .filter(|s| s.at <= now)
        .max_by_key(|s| s.at)?;
    // The fullest of "now on the line" and "now as measured".
    let available_now = (intercept + slope * now as f64).min(latest.available_bytes as f64);
    Some(Forecast {
        secs_until_full: (available_now / -slope).max(0.0),
        bytes_per_day: slope * 86_400.0,
    })
}

/// The filesystems of a report that the disk rules judge, in report order:
/// writable, with a size, not excluded.
pub fn judged_filesystems<'a>(
    rules: &'a super::RulesConfig,
    report: &'a forewarn_proto::pb::StatusReport,
) -> impl Iterator<Item = &'a forewarn_proto::pb::DiskStatus> {
    report
        .disks
        .iter()
        .flat_map(|disks| &disks.filesystems)
        .filter(|fs| fs.total_bytes > 0 && !fs.read_only)
        .filter(|fs| rules.disks.judges(&fs.mount_point, &fs.filesystem))
}

/// The forecast of every judged filesystem of a report that has history, by
/// mount point; empty without a disk section.
pub fn disk_forecasts(
    rules: &super::RulesConfig,
    report: &forewarn_proto::pb::StatusReport,
    history: &BTreeMap<String, Vec<DiskSample>>,
    now: i64,
) -> BTreeMap<String, ForecastState> {
    judged_filesystems(rules, report)
        .filter_map(|fs| {
            let samples = history.get(&fs.mount_point)?;
            Some((
                fs.mount_point.clone(),
                forecast_state(&rules.disk_forecast, samples, now),
            ))
        })
        .collect()
}

/// What the device page shows for each judged filesystem of a report, in
/// report order: its forecast, or how much history one needs.
pub fn shown_forecasts(
    rules: &super::RulesConfig,
    report: &forewarn_proto::pb::StatusReport,
    forecasts: &BTreeMap<String, ForecastState>,
    now: i64,
) -> Vec<(String, ForecastState)> {
    judged_filesystems(rules, report)
        .map(|fs| {
            let state = forecasts
                .get(&fs.mount_point)
                .copied()
                .unwrap_or_else(|| forecast_state(&rules.disk_forecast, &[], now));
            (fs.mount_point.clone(), state)
        })
        .collect()
}

fn theil_sen_slope(points: &[(f64, f64)]) -> Option<f64> {
    let mut slopes = Vec::with_capacity(points.len() * points.len() / 2);
    for (i, a) in points.iter().enumerate() {
        for b in &points[i + 1..] {
            if b.0 != a.0 {
                slopes.push((b.1 - a.1) / (b.0 - a.0));
            }
        }
    }
    median(&mut slopes)
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::config::RulesConfig;

    const HOUR: i64 = 3600;
    const DAY: i64 = 24 * HOUR;
    const TOTAL: u64 = 100 * 1024 * 1024 * 1024;
    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

    fn rule() -> ForecastRule {
        RulesConfig::default().disk_forecast
    }

    /// Hourly samples for `days` days ending at `now`, free bytes from `free(t)`.
    fn series(days: i64, now: i64, mut free: impl FnMut(i64) -> f64) -> Vec<DiskSample> {
        (0..=days * 24)
            .map(|h| {
                let at = now - days * DAY + h * HOUR;
                DiskSample {
                    at,
                    total_bytes: TOTAL,
                    available_bytes: free(at).clamp(0.0, TOTAL as f64) as u64,
                }
            })
            .collect()
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn steady_fill_predicts_time_to_full_within_ten_percent() {
        // 20 GiB free now, filling 4 GiB a day: full in 5 days.
        let samples = series(10, NOW, |t| {
            20.0 * GIB - 4.0 * GIB * (t - NOW) as f64 / DAY as f64
        });
        let f = forecast(&rule(), &samples, NOW).expect("forecast");
        let days = f.secs_until_full / DAY as f64;
        assert!((days - 5.0).abs() <= 0.5, "predicted {days} days");
    }

    #[test]
    fn daily_rotation_sawtooth_on_a_slow_fill_is_not_a_short_forecast() {
        // Logs grow 6 GiB during the day and are rotated away at midnight,
        // on top of a slow fill of 0.2 GiB/day with 50 GiB free.
        let samples = series(10, NOW, |t| {
            let into_day = t.rem_euclid(DAY) as f64 / DAY as f64;
            50.0 * GIB - 0.2 * GIB * (t - NOW) as f64 / DAY as f64 - 6.0 * GIB * into_day
        });
        let f = forecast(&rule(), &samples, NOW);
        let days = f.map(|f| f.secs_until_full / DAY as f64);
        assert!(days.is_none_or(|d| d > 30.0), "predicted {days:?} days");
    }

    #[test]
    fn one_off_copy_then_delete_does_not_forecast_full() {
        // Flat at 30 GiB free; a 25 GiB copy sits there for 10 hours on day 6.
        let samples = series(10, NOW, |t| {
            let day6 = NOW - 4 * DAY;
            if (day6..day6 + 10 * HOUR).contains(&t) {
                5.0 * GIB
            } else {
                30.0 * GIB
            }
        });
        assert_eq!(forecast(&rule(), &samples, NOW), None);
    }

    #[test]
    fn cleanup_restarts_the_trend() {
        // Filled fast until a cleanup 2 days ago, flat since: not enough buckets after it.
        let samples = series(10, NOW, |t| {
            if t < NOW - 2 * DAY {
                20.0 * GIB - 2.0 * GIB * (t - NOW + 10 * DAY) as f64 / DAY as f64
            } else {
                60.0 * GIB
            }
        });
        assert_eq!(forecast(&rule(), &samples, NOW), None);
    }

    #[test]
    fn noise_around_a_flat_level_does_not_forecast() {
        let mut state: u64 = 42;
        let samples = series(10, NOW, |_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 4.0 * GIB;
            30.0 * GIB + noise
        });
        let f = forecast(&rule(), &samples, NOW);
        let days = f.map(|f| f.secs_until_full / DAY as f64);
        assert!(days.is_none_or(|d| d > 30.0), "predicted {days:?} days");
    }

    #[test]
    fn flat_series_does_not_forecast() {
        let samples = series(10, NOW, |_| 30.0 * GIB);
        assert_eq!(forecast(&rule(), &samples, NOW), None);
    }

    #[test]
    fn too_little_history_does_not_forecast() {
        let samples = series(2, NOW, |t| {
            10.0 * GIB - 8.0 * GIB * (t - NOW) as f64 / DAY as f64
        });
        assert_eq!(forecast(&rule(), &samples, NOW), None);
    }
}
