//! The table printed at the end of a run.

use std::fmt::Write as _;
use std::time::Duration;

use crate::procfs::Sample;
use crate::stats::Tally;

/// Everything a run measured.
#[derive(Debug, Clone)]
pub struct Summary {
    pub devices: usize,
    /// Target total rate; `None` when sending as fast as possible.
    pub target_rate: Option<f64>,
    pub change_fraction: f64,
    pub window: Duration,
    pub tally: Tally,
    /// First reports sent while connecting, before the window.
    pub first_reports: Tally,
    /// The collector at the start and end of the window.
    pub collector: Option<(Sample, Sample)>,
    /// This load generator at the start and end of the window.
    pub loadgen: Option<(Sample, Sample)>,
    /// Database bytes (file plus write-ahead log) at the start and end of the window.
    pub database_bytes: Option<(u64, u64)>,
    /// `/proc/loadavg` at the end of the window.
    pub load_average: Option<String>,
}

impl Summary {
    pub fn reports_per_sec(&self) -> f64 {
        self.tally.succeeded() as f64 / self.window.as_secs_f64().max(f64::EPSILON)
    }

    /// The table, one measure a line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let reports = self.tally.succeeded();
        let target = match self.target_rate {
            None => "as fast as possible".to_owned(),
            Some(0.0) => "no reports: connections held open".to_owned(),
            Some(rate) => format!("{rate:.0} reports/s"),
        };
        let _ = writeln!(out, "devices               {}", self.devices);
        let _ = writeln!(out, "target                {target}");
        let _ = writeln!(
            out,
            "changing reports      {:.0} %",
            self.change_fraction * 100.0
        );
        let _ = writeln!(
            out,
            "window                {:.1} s",
            self.window.as_secs_f64()
        );
        let _ = writeln!(out, "reports stored        {reports}");
        let _ = writeln!(out, "reports/s sustained   {:.0}", self.reports_per_sec());
        match self.tally.latency() {
            Some(latency) => {
                let _ = writeln!(
                    out,
                    "Report latency        p50 {} · p90 {} · p99 {} · max {}",
                    millis(latency.p50),
                    millis(latency.p90),
                    millis(latency.p99),
                    millis(latency.max)
                );
            }
            None => {
                let _ = writeln!(out, "Report latency        no call succeeded");
            }
        }
        write_errors(&mut out, "errors", &self.tally);
        write_errors(&mut out, "errors while connecting", &self.first_reports);
        if let Some((start, end)) = self.collector {
            let cpu = end.cpu.saturating_sub(start.cpu);
            let _ = writeln!(
                out,
                "collector CPU         {:.2} s ({:.2} cores)",
                cpu.as_secs_f64(),
                cpu.as_secs_f64() / self.window.as_secs_f64().max(f64::EPSILON)
            );
            if reports > 0 {
                let _ = writeln!(
                    out,
                    "collector CPU/report  {:.3} ms",
                    cpu.as_secs_f64() * 1000.0 / reports as f64
                );
            } else {
                let _ = writeln!(
                    out,
                    "collector CPU/minute  {:.3} s (no reports in the window)",
                    cpu.as_secs_f64() * 60.0 / self.window.as_secs_f64().max(f64::EPSILON)
                );
            }
            let _ = writeln!(
                out,
                "collector RSS         {} at end · peak {} (VmHWM, since the collector started)",
                mebibytes(end.rss_bytes),
                mebibytes(end.peak_rss_bytes)
            );
            if let (Some(start), Some(end)) = (start.written_bytes, end.written_bytes) {
                let written = end.saturating_sub(start);
                let per_report = written.checked_div(reports).unwrap_or(0);
                let _ = writeln!(
                    out,
                    "collector wrote       {} to storage ({per_report} bytes/report)",
                    mebibytes(written)
                );
            }
        }
        if let Some((start, end)) = self.loadgen {
            let cpu = end.cpu.saturating_sub(start.cpu);
            let _ = writeln!(
                out,
                "loadgen CPU           {:.2} s ({:.2} cores, on the same machine)",
                cpu.as_secs_f64(),
                cpu.as_secs_f64() / self.window.as_secs_f64().max(f64::EPSILON)
            );
        }
        if let Some((start, end)) = self.database_bytes {
            let grown = end.saturating_sub(start);
            let per_report = grown.checked_div(reports).unwrap_or(0);
            let _ = writeln!(
                out,
                "database              {} → {} (+{}, {per_report} bytes/report)",
                mebibytes(start),
                mebibytes(end),
                mebibytes(grown)
            );
            let _ = writeln!(
                out,
                "                      {:.2} MB per device per day at one report every 5 minutes",
                (per_report * REPORTS_PER_DAY_AT_5_MIN) as f64 / 1e6
            );
        }
        if let Some(load) = &self.load_average {
            let _ = writeln!(out, "load average          {load}");
        }
        out
    }
}

/// Reports one device sends in a day at the default 5-minute interval.
const REPORTS_PER_DAY_AT_5_MIN: u64 = 24 * 60 / 5;

fn write_errors(out: &mut String, label: &str, tally: &Tally) {
    for (code, count, message) in tally.errors() {
        let _ = writeln!(out, "{label:<22}{code}: {count} (first: {message})");
    }
}

fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_states_rate_latency_cost_and_errors() {
        let mut tally = Tally::default();
        for ms in 1..=100 {
            tally.ok(Duration::from_millis(ms));
        }
        tally.error(tonic::Code::Unavailable, "collector is shutting down");
        let sample = |cpu_ms, rss| Sample {
            cpu: Duration::from_millis(cpu_ms),
            rss_bytes: rss,
            peak_rss_bytes: 2 * rss,
            written_bytes: Some(cpu_ms * 1_000_000),
        };
        let summary = Summary {
            devices: 10,
            target_rate: None,
            change_fraction: 0.1,
            window: Duration::from_secs(2),
            tally,
            first_reports: Tally::default(),
            collector: Some((sample(1_000, 1 << 20), sample(1_250, 100 << 20))),
            loadgen: Some((sample(0, 1 << 20), sample(500, 1 << 20))),
            database_bytes: Some((4096, 4096 + 100 * 12_000)),
            load_average: Some("1.50 1.20 0.90 3/400 1234".into()),
        };
        let table = summary.render();
        for expected in [
            "reports/s sustained   50\n",
            "p50 50.0 ms · p90 90.0 ms · p99 99.0 ms · max 100.0 ms",
            "errors                Unavailable: 1 (first: collector is shutting down)",
            "collector CPU         0.25 s (0.12 cores)",
            "collector CPU/report  2.500 ms",
            "100.0 MiB at end · peak 200.0 MiB",
            "collector wrote       238.4 MiB to storage (2500000 bytes/report)",
            "loadgen CPU           0.50 s (0.25 cores, on the same machine)",
            "12000 bytes/report",
            "3.46 MB per device per day at one report every 5 minutes",
            "load average          1.50 1.20 0.90",
        ] {
            assert!(table.contains(expected), "{expected:?} not in\n{table}");
        }
        assert!(!table.contains("errors while connecting"), "{table}");
    }

    #[test]
    fn a_held_window_states_cpu_per_minute_instead_of_per_report() {
        let sample = |cpu_ms| Sample {
            cpu: Duration::from_millis(cpu_ms),
            rss_bytes: 1 << 30,
            peak_rss_bytes: 1 << 30,
            written_bytes: None,
        };
        let summary = Summary {
            devices: 20_000,
            target_rate: Some(0.0),
            change_fraction: 0.1,
            window: Duration::from_secs(120),
            tally: Tally::default(),
            first_reports: Tally::default(),
            collector: Some((sample(10_000), sample(10_600))),
            loadgen: None,
            database_bytes: None,
            load_average: None,
        };
        let table = summary.render();
        for expected in [
            "target                no reports: connections held open\n",
            "collector CPU/minute  0.300 s (no reports in the window)",
            "collector RSS         1024.0 MiB at end",
        ] {
            assert!(table.contains(expected), "{expected:?} not in\n{table}");
        }
        assert!(!table.contains("CPU/report"), "{table}");
    }
}
