//! The collector's CPU time and memory, read from Linux `/proc/PID`.
//!
//! `/proc/PID/stat` gives user and system CPU time in clock ticks (fields 14
//! and 15, counted after the command name, which is in parentheses and may
//! itself hold spaces or parentheses); `/proc/PID/status` gives the resident
//! set size now (`VmRSS`) and at its peak (`VmHWM`), in kB; `/proc/PID/io`
//! gives `write_bytes`, what the process sent towards the disk (the write
//! amplification of its database: log, pages, checkpoints), readable only by
//! the process's owner or root.

use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("cannot read {path}: {source}; is the collector still running with that pid?")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("unexpected content in {path}: {message}")]
    Parse { path: PathBuf, message: String },
}

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// User plus system CPU time since the process started.
    pub cpu: Duration,
    pub rss_bytes: u64,
    pub peak_rss_bytes: u64,
    /// Bytes the process caused to be written to storage; `None` where
    /// `/proc/PID/io` cannot be read.
    pub written_bytes: Option<u64>,
}

/// Reads process `pid` under `proc_root` (normally `/proc`).
pub fn sample(proc_root: &Path, pid: u32) -> Result<Sample, ProcError> {
    let dir = proc_root.join(pid.to_string());
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path)
            .map(|text| (text, path.clone()))
            .map_err(|source| ProcError::Read { path, source })
    };
    let (stat, stat_path) = read("stat")?;
    let ticks = cpu_ticks(&stat).ok_or_else(|| ProcError::Parse {
        path: stat_path,
        message: "no utime and stime after the command name".into(),
    })?;
    let (status, status_path) = read("status")?;
    let memory = |key: &str| {
        status_kib(&status, key)
            .map(|kib| kib * 1024)
            .ok_or_else(|| ProcError::Parse {
                path: status_path.clone(),
                message: format!("no {key} line"),
            })
    };
    let per_second = rustix::param::clock_ticks_per_second();
    Ok(Sample {
        cpu: Duration::from_secs_f64(ticks as f64 / per_second as f64),
        rss_bytes: memory("VmRSS")?,
        peak_rss_bytes: memory("VmHWM")?,
        written_bytes: std::fs::read_to_string(dir.join("io"))
            .ok()
            .and_then(|io| io_value(&io, "write_bytes")),
    })
}

/// The value of a `key: 123` line in `/proc/PID/io`.
pub fn io_value(io: &str, key: &str) -> Option<u64> {
    io.lines().find_map(|line| {
        line.strip_prefix(key)?
            .strip_prefix(':')?
            .trim()
            .parse()
            .ok()
    })
}

/// utime + stime, in clock ticks, from the text of `/proc/PID/stat`.
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    // The command name ends at the last ')'; fields from state (3) follow.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The value of a `Key:   123 kB` line in `/proc/PID/status`, in kB.
pub fn status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // From a running forewarn-collector (Linux 6.8), shortened after field 20.
    const STAT: &str = "4242 (forewarn-collec) S 1 4242 4242 0 -1 4194560 2331 0 0 0 1234 567 0 0 20 0 515 0 9021 1073741824 51200";

    #[test]
    fn cpu_ticks_are_utime_plus_stime() {
        assert_eq!(cpu_ticks(STAT), Some(1234 + 567));
    }

    #[test]
    fn a_command_name_with_spaces_and_parentheses_is_skipped() {
        let stat = STAT.replace("(forewarn-collec)", "(a (b) c)");
        assert_eq!(cpu_ticks(&stat), Some(1801));
        assert_eq!(cpu_ticks("4242 (cut short) S 1"), None);
    }

    #[test]
    fn memory_lines_are_read_in_kib() {
        let status =
            "Name:\tforewarn-collec\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t515\n";
        assert_eq!(status_kib(status, "VmHWM"), Some(204_800));
        assert_eq!(status_kib(status, "VmRSS"), Some(102_400));
        assert_eq!(status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn written_bytes_are_read_from_io() {
        let io = "rchar: 9123\nwchar: 4567\nread_bytes: 0\nwrite_bytes: 1232896\ncancelled_write_bytes: 0\n";
        assert_eq!(io_value(io, "write_bytes"), Some(1_232_896));
        assert_eq!(io_value(io, "cancelled_write_bytes"), Some(0));
        assert_eq!(io_value(io, "syscw"), None);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let me = sample(Path::new("/proc"), std::process::id()).unwrap();
        assert!(me.rss_bytes > 0);
        assert!(me.peak_rss_bytes >= me.rss_bytes);
        let missing = sample(Path::new("/proc"), u32::MAX).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("is the collector still running"),
            "{missing}"
        );
    }
}
