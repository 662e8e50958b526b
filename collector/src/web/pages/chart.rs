//! The disk chart of the device page, drawn as server-side SVG (no chart
//! library, nothing for the browser to fetch): used space in percent over
//! the last weeks, and the forecast as a dashed line from now to the moment
//! the filesystem is full (cut at the chart's right edge).
//!
//! Pure geometry: samples and `now` in, coordinates out.

use crate::rules::forecast::{DiskSample, Forecast};

/// Drawing area in SVG user units (the SVG scales to its container).
pub const WIDTH: f64 = 600.0;
pub const HEIGHT: f64 = 160.0;
/// Room for the axis labels.
const LEFT: f64 = 34.0;
const BOTTOM: f64 = 18.0;
const TOP: f64 = 6.0;

/// One disk chart, ready for the template.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskChart {
    /// `x,y x,y ...` of the used-space line.
    pub used_points: String,
    /// The forecast line from now to full (or to the right edge).
    pub forecast: Option<Segment>,
    /// x of "now".
    pub now_x: f64,
    /// y of the 100 % and 50 % lines.
    pub full_y: f64,
    pub half_y: f64,
    pub bottom_y: f64,
    pub left_x: f64,
    pub right_x: f64,
    /// Labels of the left edge and of "now".
    pub start_label: String,
    pub end_label: String,
    /// For screen readers: what the chart says in words.
    pub description: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub x1: f64,
    pub y1: f64,
    pub x2: f64,
    pub y2: f64,
}

fn used_percent(sample: &DiskSample) -> f64 {
    if sample.total_bytes == 0 {
        return 0.0;
    }
    let used = sample.total_bytes.saturating_sub(sample.available_bytes) as f64;
    (100.0 * used / sample.total_bytes as f64).clamp(0.0, 100.0)
}

/// Maps time and used percent to chart coordinates.
#[derive(Debug, Clone, Copy)]
struct Scale {
    start: i64,
    end: i64,
}

impl Scale {
    fn x(&self, at: i64) -> f64 {
        let span = (self.end - self.start).max(1) as f64;
        LEFT + (WIDTH - LEFT) * ((at - self.start) as f64 / span).clamp(0.0, 1.0)
    }

    fn y(percent: f64) -> f64 {
        TOP + (HEIGHT - BOTTOM - TOP) * (1.0 - percent.clamp(0.0, 100.0) / 100.0)
    }
}

/// The chart of `samples` (oldest first) from `now - history_secs` to `now`,
/// with room on the right (a quarter of the width) for the forecast; `None`
/// without samples in that time.
pub fn disk_chart(
    samples: &[DiskSample],
    forecast: Option<Forecast>,
    now: i64,
    history_secs: i64,
    label: impl Fn(i64) -> String,
) -> Option<DiskChart> {
    let start = now - history_secs;
    let shown: Vec<&DiskSample> = samples
        .iter()
        .filter(|s| s.at >= start && s.at <= now)
        .collect();
    let last = *shown.last()?;
    let scale = Scale {
        start,
        end: now + history_secs / 3,
    };
    let used_points = shown
        .iter()
        .map(|s| format!("{:.1},{:.1}", scale.x(s.at), Scale::y(used_percent(s))))
        .collect::<Vec<_>>()
        .join(" ");
    let used_now = used_percent(last);
    let forecast = forecast.filter(|f| f.secs_until_full.is_finite());
    let segment = forecast.map(|f| {
        let full_at = now as f64 + f.secs_until_full;
        let (x2, y2) = if full_at <= scale.end as f64 {
            (scale.x(full_at as i64), Scale::y(100.0))
        } else {
            // Cut at the right edge, on the line from (now, used) to (full_at, 100 %).
            let fraction = (scale.end - now) as f64 / f.secs_until_full.max(1.0);
            (
                scale.x(scale.end),
                Scale::y(used_now + (100.0 - used_now) * fraction),
            )
        };
        Segment {
            x1: scale.x(now),
            y1: Scale::y(used_now),
            x2,
            y2,
        }
    });
    let description = match forecast {
        Some(f) => format!(
            "{used_now:.0}% used now, filling about {:.1} GiB a day",
            -f.bytes_per_day / (1u64 << 30) as f64
        ),
        None => format!("{used_now:.0}% used now, no forecast"),
    };
    Some(DiskChart {
        used_points,
        forecast: segment,
        now_x: scale.x(now),
        full_y: Scale::y(100.0),
        half_y: Scale::y(50.0),
        bottom_y: Scale::y(0.0),
        left_x: LEFT,
        right_x: WIDTH,
        start_label: label(start),
        end_label: label(now),
        description,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;
    const DAY: i64 = 86_400;

    fn sample(at: i64, available_gib: u64) -> DiskSample {
        DiskSample {
            at,
            total_bytes: 100 * GIB,
            available_bytes: available_gib * GIB,
        }
    }

    fn chart(samples: &[DiskSample], forecast: Option<Forecast>) -> Option<DiskChart> {
        disk_chart(samples, forecast, 30 * DAY, 30 * DAY, |t| t.to_string())
    }

    fn points(chart: &DiskChart) -> Vec<(f64, f64)> {
        chart
            .used_points
            .split(' ')
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn no_samples_in_the_window_draws_no_chart() {
        assert_eq!(chart(&[], None), None);
        assert_eq!(
            chart(&[sample(-5, 10)], None),
            None,
            "older than the window"
        );
    }

    #[test]
    fn samples_map_left_to_now_and_used_percent_to_height() {
        let c = chart(&[sample(0, 100), sample(30 * DAY, 50)], None).unwrap();
        let p = points(&c);
        assert_eq!(p[0].0, LEFT, "the window's start is the left edge");
        assert_eq!(p[0].1, c.bottom_y, "0 % used sits on the bottom line");
        assert_eq!(p[1].0, (c.now_x * 10.0).round() / 10.0);
        assert!(
            (p[1].1 - c.half_y).abs() < 0.1,
            "50 % used on the half line"
        );
        assert!(c.now_x < c.right_x, "room on the right for the forecast");
        assert_eq!(c.forecast, None);
        assert!(c.description.contains("50% used"), "{}", c.description);
    }

    #[test]
    fn forecast_within_the_chart_ends_on_the_full_line() {
        let f = Forecast {
            secs_until_full: 5.0 * DAY as f64,
            bytes_per_day: -((4 * GIB) as f64),
        };
        let c = chart(&[sample(29 * DAY, 24), sample(30 * DAY, 20)], Some(f)).unwrap();
        let s = c.forecast.unwrap();
        assert_eq!((s.x1, s.y1), (c.now_x, Scale::y(80.0)));
        assert_eq!(s.y2, c.full_y);
        assert!(s.x2 > s.x1 && s.x2 < c.right_x, "{s:?}");
        assert!(c.description.contains("4.0 GiB a day"), "{}", c.description);
    }

    #[test]
    fn forecast_beyond_the_chart_is_cut_at_the_right_edge_on_its_line() {
        // 80 % used, full in 40 days; the chart shows 10 days ahead: a quarter of the way.
        let f = Forecast {
            secs_until_full: 40.0 * DAY as f64,
            bytes_per_day: -((GIB / 2) as f64),
        };
        let c = chart(&[sample(30 * DAY, 20)], Some(f)).unwrap();
        let s = c.forecast.unwrap();
        assert_eq!(s.x2, c.right_x);
        assert!((s.y2 - Scale::y(85.0)).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn an_empty_filesystem_total_counts_as_unused() {
        let c = chart(
            &[DiskSample {
                at: 30 * DAY,
                total_bytes: 0,
                available_bytes: 0,
            }],
            None,
        )
        .unwrap();
        assert_eq!(points(&c)[0].1, c.bottom_y);
    }
}
