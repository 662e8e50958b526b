//! Conformance cases for bounded history: unchanged reports, disk sampling
//! and retention (see [`crate::store::history`]).

use std::sync::Arc;

use prost::Message;

use forewarn_proto::pb;

use super::enroll_d1;
use crate::rules::forecast::{ForecastState, forecast_state};
use crate::rules::{DiskSample, RuleBook};
use crate::store::history::{DAY_SECS, HOUR_SECS, HistoryConfig};
use crate::store::{HistorySummary, IncomingReport, Store, SweepScope, retention};

const T0: i64 = 1_795_000_000 - 1_795_000_000 % DAY_SECS;
const GIB: u64 = 1024 * 1024 * 1024;

fn status(seq: u64, at: i64, available: u64) -> pb::StatusReport {
    pb::StatusReport {
        seq,
        collected_at_unix_secs: at,
        disks: Some(pb::DiskCheck {
            filesystems: ["/", "/var"]
                .into_iter()
                .map(|mount| pb::DiskStatus {
                    mount_point: mount.into(),
                    total_bytes: 100 * GIB,
                    free_bytes: available,
                    available_bytes: available,
                    ..Default::default()
                })
                .collect(),
        }),
        check_runs: vec![pb::CheckRun {
            check: "disks".into(),
            duration_ms: (seq % 7) as u32,
            ok: true,
        }],
        ..Default::default()
    }
}

fn report(seq: u64, at: i64, available: u64) -> IncomingReport {
    IncomingReport {
        device_id: "d1".into(),
        seq,
        boot_id: 0,
        collected_at: at,
        received_at: at + 1,
        hostname: "LAPTOP-042".into(),
        os: "linux".into(),
        agent_version: "0.1.0".into(),
        body: status(seq, at, available).encode_to_vec().into(),
        certificate: None,
    }
}

fn rules() -> Arc<RuleBook> {
    Arc::new(RuleBook::default())
}

pub(crate) async fn an_unchanged_report_is_a_line_without_a_body(store: &dyn Store) {
    enroll_d1(store, "laptops").await;
    let free = 50 * GIB;
    store
        .ingest_report(report(1, T0, free), rules())
        .await
        .unwrap();
    // Same content, five minutes later, same hour: no body, no disk sample.
    store
        .ingest_report(report(2, T0 + 300, free), rules())
        .await
        .unwrap();
    assert_eq!(
        store.history_summary("d1").await.unwrap(),
        HistorySummary {
            reports: 2,
            bodies: 1,
            disk_samples: 2
        }
    );
    let latest = store.latest_status("d1").await.unwrap().unwrap();
    assert_eq!(
        (latest.seq, latest.collected_at, latest.received_at),
        (2, T0 + 300, T0 + 301)
    );
    assert_eq!(latest.encoded, status(1, T0, free).encode_to_vec());
    // The next hour samples the disks again, still without a body.
    store
        .ingest_report(report(3, T0 + HOUR_SECS, free), rules())
        .await
        .unwrap();
    // A change of disk usage alone becomes the latest status, with its
    // samples; its history line has no body (the samples keep the numbers).
    store
        .ingest_report(report(4, T0 + HOUR_SECS + 300, free - GIB), rules())
        .await
        .unwrap();
    assert_eq!(
        store.history_summary("d1").await.unwrap(),
        HistorySummary {
            reports: 4,
            bodies: 1,
            disk_samples: 6
        }
    );
    let latest = store.latest_status("d1").await.unwrap().unwrap();
    assert_eq!(
        latest.encoded,
        status(4, T0 + HOUR_SECS + 300, free - GIB).encode_to_vec()
    );
    // Any other change is stored whole, in history too.
    let mut remounted = status(5, T0 + HOUR_SECS + 600, free - GIB);
    remounted.disks.as_mut().unwrap().filesystems[1].read_only = true;
    store
        .ingest_report(
            IncomingReport {
                body: remounted.encode_to_vec().into(),
                ..report(5, T0 + HOUR_SECS + 600, free - GIB)
            },
            rules(),
        )
        .await
        .unwrap();
    assert_eq!(
        store.history_summary("d1").await.unwrap(),
        HistorySummary {
            reports: 5,
            bodies: 2,
            disk_samples: 8
        }
    );
    let latest = store.latest_status("d1").await.unwrap().unwrap();
    assert_eq!(latest.encoded, remounted.encode_to_vec());
}

pub(crate) async fn retention_bounds_history_and_keeps_the_forecast(store: &dyn Store) {
    enroll_d1(store, "laptops").await;
    // 20 days of reports every 20 minutes, filling 2 GiB a day from 80 GiB
    // free, with the numbers moving every other report.
    let step = 1_200;
    let end = T0 + 20 * DAY_SECS;
    let mut raw: Vec<DiskSample> = Vec::new();
    let mut seq = 0;
    for at in (T0..=end).step_by(step) {
        seq += 1;
        let half_hour = (at - T0) / 2_400 * 2_400;
        let free = 80 * GIB - (2 * GIB) * (half_hour as u64) / DAY_SECS as u64;
        raw.push(DiskSample {
            at,
            total_bytes: 100 * GIB,
            available_bytes: free,
        });
        store
            .ingest_report(report(seq, at, free), rules())
            .await
            .unwrap();
    }
    let rule = RuleBook::default().default.disk_forecast;
    let expected = forecast_state(&rule, &raw, end + 2).describe();
    let before = store.history_summary("d1").await.unwrap();
    assert_eq!(before.reports, seq);

    let config = HistoryConfig::default();
    let (reports_deleted, samples_deleted) =
        retention::round(store, &config, end + 1).await.unwrap();
    let after = store.history_summary("d1").await.unwrap();
    assert_eq!(after.reports, before.reports - reports_deleted);
    assert_eq!(after.disk_samples, before.disk_samples - samples_deleted);
    // Two days of lines are left, the oldest with a body.
    assert_eq!(after.reports, 2 * DAY_SECS as u64 / step as u64 + 1);
    assert!(
        after.bodies >= 1 && after.bodies < after.reports,
        "{after:?}"
    );
    // Per filesystem: raw samples of two days, then one an hour.
    assert!(
        after.disk_samples < before.disk_samples / 2,
        "{before:?} -> {after:?}"
    );
    // A second round finds nothing left to do.
    assert_eq!(
        retention::round(store, &config, end + 1).await.unwrap(),
        (0, 0)
    );
    // The forecast on what is left is the forecast of the raw history.
    seq += 1;
    let free = raw.last().unwrap().available_bytes;
    store
        .ingest_report(report(seq, end + 1, free), rules())
        .await
        .unwrap();
    let forecasts = store.disk_forecasts("d1").await.unwrap();
    assert_eq!(forecasts.len(), 2, "{forecasts:?}");
    for forecast in forecasts {
        assert_eq!(forecast.description, expected, "{}", forecast.mount_point);
    }
}

/// The forecast reads day rows, and samples where a day row cannot stand in
/// for them (`history::from_day_rows`); whatever every raw sample
/// forecasts, the store forecasts too, at every report as the window moves
/// through a day. Each day's fullest moment is a short dip at midnight that
/// deepens day by day, off a straight line, towards full within the last two
/// days (forecast to the hour), while the rest of the day fills slowly: the
/// window's first day is fullest before the window starts, so the part-day's
/// samples are read, and a wrong day row (the last sample) or a part-day
/// left out forecasts otherwise.
pub(crate) async fn forecast_from_day_rows_matches_every_sample_as_the_window_moves(
    store: &dyn Store,
) {
    enroll_d1(store, "laptops").await;
    let free = |at: i64| {
        let day = ((at - T0) / DAY_SECS) as u64;
        let hour = ((at - T0) % DAY_SECS / HOUR_SECS) as u64;
        if hour == 0 {
            let noise = [0, 6, 2, 9, 4][day as usize % 5];
            28 * GIB - 17 * GIB / 10 * day + noise * GIB / 10
        } else {
            80 * GIB - GIB / 10 * day - GIB / 100 * hour
        }
    };
    let rule = RuleBook::default().default.disk_forecast;
    let end = T0 + 17 * DAY_SECS;
    let mut raw: Vec<DiskSample> = Vec::new();
    let mut filling = 0;
    for (seq, at) in (T0..end).step_by(HOUR_SECS as usize).enumerate() {
        raw.push(DiskSample {
            at,
            total_bytes: 100 * GIB,
            available_bytes: free(at),
        });
        store
            .ingest_report(report(seq as u64 + 1, at, free(at)), rules())
            .await
            .unwrap();
        if at < end - 2 * DAY_SECS {
            continue;
        }
        let expected = forecast_state(&rule, &raw, at + 1);
        filling += usize::from(matches!(expected, ForecastState::FullIn(_)));
        for forecast in store.disk_forecasts("d1").await.unwrap() {
            assert_eq!(
                forecast.description,
                expected.describe(),
                "{} at T0{:+} s",
                forecast.mount_point,
                at - T0
            );
        }
    }
    assert!(filling > 0, "the dips forecast a full disk");
}

/// The forecast's newest sample comes from the newest day row: a report
/// whose disk just dipped forecasts from the dip, the next one from its
/// recovery, and after retention has thinned the hour a quiet device last
/// reported in, the sweep forecasts from the sample thinning kept, as every
/// stored sample does (a day row still naming a deleted sample forecasts
/// otherwise).
pub(crate) async fn the_newest_sample_the_forecast_reads_is_the_newest_stored(store: &dyn Store) {
    enroll_d1(store, "laptops").await;
    let rule = RuleBook::default().default.disk_forecast;
    let forecast_of = async |now: i64| {
        let forecasts = store.disk_forecasts("d1").await.unwrap();
        assert_eq!(forecasts.len(), 2, "{forecasts:?}");
        let stored = store.disk_history("d1", now - 20 * DAY_SECS).await.unwrap();
        let expected = forecast_state(&rule, &stored["/"], now);
        for forecast in forecasts {
            assert_eq!(
                forecast.description,
                expected.describe(),
                "{} at T0{:+} s",
                forecast.mount_point,
                now - T0
            );
        }
        expected
    };
    // Hourly reports for 15 days, filling 2 GiB a day from 80 GiB free.
    let line = |at: i64| 80 * GIB - 2 * GIB * (at - T0) as u64 / DAY_SECS as u64;
    let mut seq = 0;
    let mut ingest = async |at: i64, free: u64| {
        seq += 1;
        let report = report(seq, at, free);
        store.ingest_report(report, rules()).await.unwrap();
        at + 1
    };
    let end = T0 + 15 * DAY_SECS + 7 * HOUR_SECS;
    for at in (T0..end).step_by(HOUR_SECS as usize) {
        ingest(at, line(at)).await;
    }
    // A dip to 1 GiB free: the disk is full within hours.
    let dipped = forecast_of(ingest(end, GIB).await).await;
    assert!(
        matches!(dipped, ForecastState::FullIn(f) if f.secs_until_full < DAY_SECS as f64),
        "{dipped:?}"
    );
    // Recovered within the hour, reported every ten minutes, then quiet.
    let mut now = end;
    for minutes in [10, 20, 30, 40, 50] {
        now = ingest(end + minutes * 60, line(end)).await;
    }
    let recovered = forecast_of(now).await;
    assert_ne!(recovered, dipped, "the newest sample is the recovery");
    // Three days later, retention keeps the hour's fullest sample: the dip.
    let later = end + 3 * DAY_SECS;
    retention::round(store, &HistoryConfig::default(), later)
        .await
        .unwrap();
    store
        .sweep_alerts(rules(), later, SweepScope::All)
        .await
        .unwrap();
    let thinned = forecast_of(later).await;
    assert!(
        matches!(thinned, ForecastState::FullIn(f) if f.secs_until_full < DAY_SECS as f64),
        "{thinned:?}"
    );
}

/// A report from a device whose clock is a few minutes ahead (ingest allows
/// some skew) is stored with its own time, after `now`: the newest day row
/// then names a sample the forecast must not use yet, and the store reads
/// the newest sample at or before `now` instead, as every stored sample
/// says. Here that is a recovery after the day's dip: forecasting from the
/// dip (the day's fullest, what the day row alone gives) says otherwise.
pub(crate) async fn a_sample_from_a_clock_ahead_is_not_the_forecasts_newest_yet(store: &dyn Store) {
    enroll_d1(store, "laptops").await;
    let rule = RuleBook::default().default.disk_forecast;
    let line = |at: i64| 80 * GIB - 2 * GIB * (at - T0) as u64 / DAY_SECS as u64;
    let mut seq = 0;
    let mut ingest = async |collected_at: i64, received_at: i64, free: u64| {
        seq += 1;
        let mut report = report(seq, collected_at, free);
        report.received_at = received_at;
        store.ingest_report(report, rules()).await.unwrap();
    };
    let end = T0 + 15 * DAY_SECS + 7 * HOUR_SECS;
    for at in (T0..end).step_by(HOUR_SECS as usize) {
        ingest(at, at + 1, line(at)).await;
    }
    ingest(end, end + 1, GIB).await;
    ingest(end + 1_800, end + 1_801, line(end)).await;
    let now = end + 2_401;
    // Its numbers moved, so it is sampled and planned.
    ingest(now + 300, now, line(end) - GIB).await;
    assert_eq!(
        store.disk_history("d1", now + 1).await.unwrap()["/"].len(),
        1,
        "the sample from the clock ahead is stored"
    );
    let stored = store.disk_history("d1", now - 20 * DAY_SECS).await.unwrap();
    let expected = forecast_state(&rule, &stored["/"], now);
    let from_the_dip = forecast_state(
        &rule,
        &stored["/"]
            .iter()
            .copied()
            .filter(|s| s.at <= end)
            .collect::<Vec<_>>(),
        now,
    );
    assert_ne!(expected, from_the_dip, "the case tells the two apart");
    let forecasts = store.disk_forecasts("d1").await.unwrap();
    assert_eq!(forecasts.len(), 2, "{forecasts:?}");
    for forecast in forecasts {
        assert_eq!(
            forecast.description,
            expected.describe(),
            "{}",
            forecast.mount_point
        );
    }
}

/// Disk history as the release before day rows kept their newest sample
/// left it, for both backends' migration tests: one filesystem's day rows
/// whose newest sample is not their fullest, and a day row without samples.
pub(crate) const DAY_ROWS_WITHOUT_NEWEST: &str = "
    INSERT INTO disk_samples (device_id, mount_point, at, total_bytes, available_bytes)
      VALUES ('d1', '/', 86400, 100, 60), ('d1', '/', 90000, 100, 55), ('d1', '/', 95000, 110, 58),
             ('d1', '/', 172800, 110, 50), ('d1', '/home', 86400, 500, 400);
    INSERT INTO disk_days (device_id, mount_point, day, at, total_bytes, available_bytes)
      VALUES ('d1', '/', 86400, 90000, 110, 55), ('d1', '/', 172800, 172800, 110, 50),
             ('d1', '/home', 86400, 86400, 500, 400), ('d1', '/var', 86400, 86400, 10, 5);";

/// A day row's mount point, day and newest sample (time, size, available).
pub(crate) type DayRowNewest = (String, i64, Option<i64>, Option<i64>, Option<i64>);

/// What migrating [`DAY_ROWS_WITHOUT_NEWEST`] leaves, by mount point and day.
pub(crate) fn day_rows_with_newest() -> Vec<DayRowNewest> {
    vec![
        ("/".to_owned(), 86400, Some(95000), Some(110), Some(58)),
        ("/".to_owned(), 172800, Some(172800), Some(110), Some(50)),
        ("/home".to_owned(), 86400, Some(86400), Some(500), Some(400)),
        ("/var".to_owned(), 86400, None, None, None),
    ]
}
