//! Thinned history must forecast exactly what the raw history forecasts: the
//! forecast module's cases, sampled every five minutes as agents report,
//! against what ingest and retention keep of them.

use super::*;
use crate::rules::RulesConfig;
use crate::rules::forecast::{ForecastState, forecast_state};

const MINUTE: i64 = 60;
const TOTAL: u64 = 100 * 1024 * 1024 * 1024;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const NOW: i64 = 1_800_000_000 + 17 * MINUTE;

/// A sample every five minutes for `days` days up to `NOW`, free space from
/// `free(t)` rounded to whole MiB, as a disk reports it.
fn every_five_minutes(days: i64, free: impl Fn(i64) -> f64) -> Vec<DiskSample> {
    (0..=days * DAY_SECS / (5 * MINUTE))
        .map(|n| {
            let at = NOW - days * DAY_SECS + n * 5 * MINUTE;
            let mib = (free(at).clamp(0.0, TOTAL as f64) / 1_048_576.0).round() as u64;
            DiskSample {
                at,
                total_bytes: TOTAL,
                available_bytes: mib * 1_048_576,
            }
        })
        .collect()
}

/// What ingest writes of `raw`: a sample when the numbers move, else once an
/// hour.
fn written(raw: &[DiskSample]) -> Vec<DiskSample> {
    let mut written: Vec<DiskSample> = Vec::new();
    for sample in raw {
        let changed = written.last().is_none_or(|last| {
            (last.total_bytes, last.available_bytes) != (sample.total_bytes, sample.available_bytes)
        });
        if disks_due(changed, written.last().map(|s| s.at), sample.at) {
            written.push(*sample);
        }
    }
    written
}

/// What retention leaves at `NOW` with `config` of what ingest wrote of `raw`.
fn kept(raw: &[DiskSample], config: &HistoryConfig) -> Vec<DiskSample> {
    let written = written(raw);
    let cut = config.cutoffs(NOW);
    let (old, recent): (Vec<_>, Vec<_>) = written.into_iter().partition(|s| s.at < cut.raw_before);
    let (older, old): (Vec<_>, Vec<_>) = old.into_iter().partition(|s| s.at < cut.hourly_before);
    let mut kept: Vec<DiskSample> = thin(&older, DAY_SECS)
        .into_iter()
        .filter(|s| s.at >= cut.daily_before)
        .collect();
    kept.extend(thin(&old, HOUR_SECS));
    kept.extend(recent);
    kept
}

/// A named free-space curve over `days` days.
type Shape = (&'static str, i64, Box<dyn Fn(i64) -> f64>);

fn shapes() -> Vec<Shape> {
    let day = |t: i64| (t - NOW) as f64 / DAY_SECS as f64;
    vec![
        (
            "steady fill",
            10,
            Box::new(move |t| 20.0 * GIB - 4.0 * GIB * day(t)),
        ),
        (
            "daily rotation sawtooth on a slow fill",
            10,
            Box::new(move |t| {
                let into_day = t.rem_euclid(DAY_SECS) as f64 / DAY_SECS as f64;
                50.0 * GIB - 0.2 * GIB * day(t) - 6.0 * GIB * into_day
            }),
        ),
        (
            "one-off copy then delete",
            10,
            Box::new(|t| {
                let day6 = NOW - 4 * DAY_SECS;
                if (day6..day6 + 10 * HOUR_SECS).contains(&t) {
                    5.0 * GIB
                } else {
                    30.0 * GIB
                }
            }),
        ),
        (
            "cleanup restarts the trend",
            10,
            Box::new(move |t| {
                if t < NOW - 2 * DAY_SECS {
                    20.0 * GIB - 2.0 * GIB * (day(t) + 10.0)
                } else {
                    60.0 * GIB
                }
            }),
        ),
        (
            "noise around a flat level",
            10,
            Box::new(|t| {
                let mut state = (t as u64).wrapping_mul(6364136223846793005);
                state ^= state >> 29;
                let noise = ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 4.0 * GIB;
                30.0 * GIB + noise
            }),
        ),
        ("flat", 10, Box::new(|_| 30.0 * GIB)),
        (
            "too little history",
            2,
            Box::new(move |t| 10.0 * GIB - 8.0 * GIB * day(t)),
        ),
        (
            "slow fill over a month, longer than the window",
            30,
            Box::new(move |t| 80.0 * GIB - 1.5 * GIB * day(t)),
        ),
        (
            "fill in working hours only",
            21,
            Box::new(move |t| {
                let hour = t.rem_euclid(DAY_SECS) / HOUR_SECS;
                let days = (t - (NOW - 21 * DAY_SECS)).div_euclid(DAY_SECS) as f64;
                let today = (hour.clamp(8, 18) - 8) as f64 / 10.0;
                70.0 * GIB - 2.5 * GIB * (days + today)
            }),
        ),
    ]
}

#[test]
fn thinned_history_forecasts_exactly_what_raw_history_forecasts() {
    let rule = RulesConfig::default().disk_forecast;
    for config in [
        HistoryConfig::default(),
        HistoryConfig {
            raw_days: 1,
            hourly_days: 15,
            daily_days: 20,
            ..HistoryConfig::default()
        },
    ] {
        for (name, days, free) in shapes() {
            let raw = every_five_minutes(days, free);
            let kept = kept(&raw, &config);
            if days > i64::from(config.raw_days) {
                assert!(kept.len() < raw.len(), "{name}: nothing thinned");
            }
            assert_eq!(
                forecast_state(&rule, &kept, NOW),
                forecast_state(&rule, &raw, NOW),
                "{name} with {config:?}"
            );
        }
    }
}

/// What a backend reads for [`ForecastReads`] at `now`, and how many sample
/// reads it needs beside the day rows. Each day row keeps its day's fullest
/// written sample and, when `newest_known`, its day's newest kept sample
/// (retention moves it to the newest it keeps); where a row cannot stand in
/// ([`from_day_rows`]), the kept samples are read.
fn reads(
    raw: &[DiskSample],
    config: &HistoryConfig,
    now: i64,
    newest_known: bool,
) -> (Vec<DiskSample>, usize) {
    let reads = forecast_reads(&RulesConfig::default(), now).expect("the default buckets by day");
    let kept = kept(raw, config);
    let newest_of_day = |day: i64| {
        kept.iter()
            .filter(|s| day_of(s.at) == day)
            .max_by_key(|s| s.at)
            .copied()
    };
    let rows = thin(&written(raw), DAY_SECS)
        .into_iter()
        .filter(|fullest| day_of(fullest.at) >= reads.first_day)
        .map(|fullest| {
            let day = day_of(fullest.at);
            let newest = newest_of_day(day).filter(|_| newest_known);
            let row = DayRow {
                day,
                fullest,
                newest,
            };
            ("/".to_owned(), row)
        });
    let Some(from_days) = from_day_rows(&reads, rows).remove("/") else {
        return (Vec::new(), 0);
    };
    let mut samples = from_days.samples;
    let mut sample_reads = 0;
    if from_days.read_part_day {
        sample_reads += 1;
        samples.extend(
            kept.iter()
                .filter(|s| (reads.since..reads.whole_days_from).contains(&s.at)),
        );
    }
    if from_days.read_newest {
        sample_reads += 1;
        samples.extend(
            kept.iter()
                .filter(|s| (reads.since..=reads.newest_until).contains(&s.at))
                .max_by_key(|s| s.at),
        );
    }
    (forecast_order(samples), sample_reads)
}

#[test]
fn day_rows_forecast_what_every_sample_forecasts() {
    let rule = RulesConfig::default().disk_forecast;
    // The window starting mid-day, at a midnight, and a device gone quiet.
    let nows = [
        NOW,
        day_of(NOW) + DAY_SECS,
        NOW + 3 * DAY_SECS + 5 * HOUR_SECS,
    ];
    for config in [
        HistoryConfig::default(),
        HistoryConfig {
            raw_days: 1,
            ..HistoryConfig::default()
        },
    ] {
        for (name, days, free) in shapes() {
            let raw = every_five_minutes(days, free);
            for now in nows {
                for newest_known in [true, false] {
                    let (read, sample_reads) = reads(&raw, &config, now, newest_known);
                    if days > 2 && now == NOW {
                        assert!(read.len() < 60, "{name}: read {} rows", read.len());
                    }
                    if newest_known && name == "steady fill" {
                        assert_eq!(sample_reads, 0, "{name}: only day rows are read");
                    }
                    assert_eq!(
                        forecast_state(&rule, &read, now),
                        forecast_state(&rule, &raw, now),
                        "{name} at NOW{:+} s with {config:?}, newest sample known: {newest_known}",
                        now - NOW
                    );
                }
            }
        }
    }
}

/// A day row of `day` days after `NOW`'s day, its fullest sample `hours`
/// into the day with `total` bytes; its newest sample an hour before
/// midnight.
fn day_row(day: i64, hours: i64, total: u64) -> DayRow {
    let start = day_of(NOW) + day * DAY_SECS;
    let sample = |at| DiskSample {
        at,
        total_bytes: total,
        available_bytes: GIB as u64,
    };
    DayRow {
        day: start,
        fullest: sample(start + hours * HOUR_SECS),
        newest: Some(sample(start + 23 * HOUR_SECS)),
    }
}

#[test]
fn a_day_row_stands_in_for_samples_only_where_it_says_what_they_say() {
    // The window starts at 08:17 of day -14 and ends now, at 08:17 of day 0.
    let reads = forecast_reads(&RulesConfig::default(), NOW).unwrap();
    let from = |first: DayRow, newest: Option<DiskSample>| {
        let mut today = day_row(0, 1, TOTAL);
        today.newest = newest;
        let rows = [first, day_row(-13, 20, TOTAL), today];
        from_day_rows(&reads, rows.map(|row| ("/".to_owned(), row)))
            .remove("/")
            .unwrap()
    };
    let now_sample = |at| {
        Some(DiskSample {
            at,
            total_bytes: TOTAL,
            available_bytes: 1,
        })
    };
    // The part-day's fullest sample inside the window, newest known: rows only.
    let inside = from(day_row(-14, 20, TOTAL), now_sample(NOW - 60));
    assert!(!inside.read_part_day && !inside.read_newest);
    assert_eq!(inside.samples.len(), 4, "three fullest and the newest");
    // The day's fullest before the window starts: the part-day is read.
    let before = from(day_row(-14, 3, TOTAL), now_sample(NOW - 60));
    assert!(before.read_part_day);
    assert_eq!(before.samples.len(), 3, "the first day's row is left out");
    // The first day larger than every later day: the part-day is read.
    let larger = from(day_row(-14, 20, TOTAL + 1), now_sample(NOW - 60));
    assert!(larger.read_part_day);
    // Newest unknown, or after now (a clock ahead): the newest is read.
    assert!(from(day_row(-14, 20, TOTAL), None).read_newest);
    assert!(from(day_row(-14, 20, TOTAL), now_sample(NOW + 1)).read_newest);
    // A filesystem with no day row after the part-day is not judged.
    let only_part_day = [("/old".to_owned(), day_row(-14, 20, TOTAL))];
    assert!(from_day_rows(&reads, only_part_day).is_empty());
    // A window starting at midnight has no part-day.
    let at_midnight = forecast_reads(&RulesConfig::default(), day_of(NOW) + DAY_SECS).unwrap();
    let rows = [day_row(-13, 3, TOTAL), day_row(0, 1, TOTAL)];
    let read = from_day_rows(&at_midnight, rows.map(|row| ("/".to_owned(), row)));
    assert!(!read["/"].read_part_day);
    assert_eq!(read["/"].samples.len(), 3);
}

#[test]
fn forecasts_bucketed_other_than_by_day_read_every_sample() {
    let mut rules = RulesConfig::default();
    assert!(forecast_reads(&rules, NOW).is_some());
    rules.disk_forecast.bucket_secs = 6 * HOUR_SECS as u64;
    assert_eq!(forecast_reads(&rules, NOW), None);
}

#[test]
fn the_window_s_whole_days_start_at_the_first_midnight_in_it() {
    let rules = RulesConfig::default();
    let window = rules.disk_forecast.window_secs as i64;
    let mid_day = forecast_reads(&rules, NOW).unwrap();
    assert_eq!(mid_day.since, NOW - window);
    assert_eq!(mid_day.whole_days_from, day_of(NOW - window) + DAY_SECS);
    let midnight = day_of(NOW) + window;
    let at_midnight = forecast_reads(&rules, midnight).unwrap();
    assert_eq!(at_midnight.whole_days_from, at_midnight.since);
}

#[test]
fn the_cases_cover_every_forecast_outcome() {
    let rule = RulesConfig::default().disk_forecast;
    let states: Vec<ForecastState> = shapes()
        .into_iter()
        .map(|(_, days, free)| forecast_state(&rule, &every_five_minutes(days, free), NOW))
        .collect();
    assert!(states.iter().any(|s| matches!(s, ForecastState::FullIn(_))));
    assert!(states.iter().any(|s| matches!(s, ForecastState::NoTrend)));
    assert!(
        states
            .iter()
            .any(|s| matches!(s, ForecastState::NeedsHistory { .. }))
    );
}

#[test]
fn thinning_keeps_each_slots_fullest_real_sample_and_largest_size() {
    let sample = |at, total_bytes, available_bytes| DiskSample {
        at,
        total_bytes,
        available_bytes,
    };
    let samples = [
        sample(3_700, 100, 40),
        sample(3_610, 90, 30),
        sample(3_650, 100, 30),
        sample(7_300, 100, 50),
    ];
    assert_eq!(
        thin(&samples, HOUR_SECS),
        vec![sample(3_610, 100, 30), sample(7_300, 100, 50)]
    );
}

#[test]
fn an_unchanged_report_samples_disks_once_an_hour() {
    assert!(disks_due(false, None, 7_200));
    assert!(!disks_due(false, Some(7_200), 7_500));
    assert!(disks_due(false, Some(7_199), 7_200));
    assert!(disks_due(true, Some(7_200), 7_500));
}

#[test]
fn fingerprints_ignore_numbering_time_and_check_durations_only() {
    let report = |seq, at, duration_ms, free| pb::StatusReport {
        seq,
        collected_at_unix_secs: at,
        boot_id: 9,
        policy_version: format!("v{seq}"),
        disks: Some(pb::DiskCheck {
            filesystems: vec![pb::DiskStatus {
                mount_point: "/".into(),
                total_bytes: 100,
                free_bytes: free,
                available_bytes: free,
                inodes_total: Some(1_000),
                inodes_free: Some(free * 3),
                ..Default::default()
            }],
        }),
        check_runs: vec![pb::CheckRun {
            check: "disks".into(),
            duration_ms,
            ok: true,
        }],
        ..Default::default()
    };
    let mut sent = report(1, 100, 40, 50);
    let first = fingerprints(&mut sent);
    assert_eq!(sent, report(1, 100, 40, 50), "the report is left as it was");
    assert_eq!(first, fingerprints(&mut report(2, 400, 55, 50)));
    let used_more = fingerprints(&mut report(2, 400, 40, 49));
    assert_ne!(first.status, used_more.status);
    assert_eq!(
        first.content, used_more.content,
        "usage alone is no content change"
    );

    // Each usage number counts for the status, none for the content; an
    // absent inode count differs from a zero one.
    let changes: [fn(&mut pb::DiskStatus); 6] = [
        |fs| fs.total_bytes += 1,
        |fs| fs.free_bytes += 1,
        |fs| fs.available_bytes += 1,
        |fs| fs.inodes_total = Some(0),
        |fs| fs.inodes_free = None,
        |fs| fs.inodes_total = None,
    ];
    for change in changes {
        let mut changed = report(1, 100, 40, 50);
        change(&mut changed.disks.as_mut().unwrap().filesystems[0]);
        let kept = changed.clone();
        let changed_fingerprints = fingerprints(&mut changed);
        assert_eq!(changed, kept, "the report is left as it was");
        assert_ne!(first.status, changed_fingerprints.status, "{kept:?}");
        assert_eq!(first.content, changed_fingerprints.content, "{kept:?}");
    }
    // Anything else about a filesystem is content.
    let mut read_only = report(1, 100, 40, 50);
    read_only.disks.as_mut().unwrap().filesystems[0].read_only = true;
    let read_only = fingerprints(&mut read_only);
    assert_ne!(first.status, read_only.status);
    assert_ne!(first.content, read_only.content);
    let mut renamed = report(1, 100, 40, 50);
    renamed.disks.as_mut().unwrap().filesystems[0].mount_point = "/home".into();
    assert_ne!(first.content, fingerprints(&mut renamed).content);
}

#[test]
fn history_settings_that_would_starve_the_forecast_are_refused() {
    let window = 14 * DAY_SECS as u64;
    assert!(HistoryConfig::default().problems(window).is_empty());
    let short = HistoryConfig {
        hourly_days: 7,
        ..HistoryConfig::default()
    };
    let problems = short.problems(window);
    assert!(
        problems.iter().any(|p| p.contains("history.hourly_days")),
        "{problems:?}"
    );
}

#[test]
fn changes_tell_a_new_status_from_new_content() {
    let report = Some(Fingerprints {
        status: 1,
        content: 2,
    });
    let changes = |status, content| Changes::between(report, status, content);
    let both = Changes {
        status: true,
        content: true,
    };
    assert_eq!(changes(None, None), both, "nothing stored yet");
    assert_eq!(
        Changes::between(None, Some(1), Some(2)),
        both,
        "undecodable"
    );
    assert_eq!(
        changes(Some(1), Some(2)),
        Changes {
            status: false,
            content: false
        }
    );
    assert_eq!(
        changes(Some(9), Some(2)),
        Changes {
            status: true,
            content: false
        },
        "disk usage alone"
    );
    assert_eq!(changes(Some(9), Some(9)), both);
}
