//! The open file limit: raised at start, checked against what the collector
//! may hold, and watched while it runs.
//!
//! Each connection is a file descriptor. The soft limit a service starts with
//! is often 1,024 even where the hard limit allows far more, so the collector
//! raises its soft limit to the hard one at start (as Go programs and most
//! servers do), then warns when that is still below what the enrolled fleet
//! (one long-lived connection per device) and the configured caps need.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use super::WarnEvery;

/// Descriptors besides connections: the database and its WAL, logs, the
/// listeners, outgoing connections to ticket systems.
pub const RESERVED_FDS: u64 = 64;

/// Connections may use this share (in percent) of the limit before a warning.
const LOW_PERCENT: u64 = 80;

/// How often the same descriptor warning is logged while it persists.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// What the collector may hold open at once.
#[derive(Debug, Clone, Copy)]
pub struct FdNeeds {
    /// Enrolled devices, each with its long-lived connection.
    pub devices: usize,
    pub max_unauthenticated: usize,
    pub max_web: usize,
}

impl FdNeeds {
    pub fn total(&self) -> u64 {
        (self.devices + self.max_unauthenticated + self.max_web) as u64 + RESERVED_FDS
    }
}

/// The warning to log when `limit` is below `needs`, if it is.
pub fn shortfall(limit: u64, needs: &FdNeeds) -> Option<String> {
    let total = needs.total();
    (limit < total).then(|| {
        format!(
            "the open file limit is {limit} but the collector may need {total} descriptors \
             ({} enrolled devices + {} unauthenticated + {} web connections + {RESERVED_FDS} \
             for itself); raise LimitNOFILE= in the systemd unit (or ulimit -n), or lower \
             connections.max_unauthenticated / connections.max_web",
            needs.devices, needs.max_unauthenticated, needs.max_web
        )
    })
}

/// Raises the soft open file limit to the hard one; returns the soft limit
/// in force afterwards (`None` where the platform has no such limit).
#[cfg(unix)]
pub fn raise_soft_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    // The kernel refuses more than fs.nr_open (1,048,576 by default).
    const CEILING: u64 = 1 << 20;
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current.unwrap_or(u64::MAX);
    let target = limit.maximum.unwrap_or(CEILING).min(CEILING);
    if current >= target {
        return Some(current);
    }
    match setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(target),
            maximum: limit.maximum,
        },
    ) {
        Ok(()) => {
            debug!(from = current, to = target, "raised the open file limit");
            Some(target)
        }
        Err(err) => {
            debug!(error = %err, current, target, "cannot raise the open file limit");
            Some(current)
        }
    }
}

#[cfg(not(unix))]
pub fn raise_soft_limit() -> Option<u64> {
    None
}

/// True for "this process (or the system) has no descriptor left".
pub fn is_out_of_descriptors(err: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        use rustix::io::Errno;
        matches!(Errno::from_io_error(err), Some(Errno::MFILE | Errno::NFILE))
    }
    #[cfg(windows)]
    {
        /// WSAEMFILE: too many open sockets.
        const WSAEMFILE: i32 = 10024;
        err.raw_os_error() == Some(WSAEMFILE)
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = err;
        false
    }
}

/// Open connections counted against the limit, with the warnings about it.
#[derive(Debug)]
pub struct FdBudget {
    limit: Option<u64>,
    open: AtomicUsize,
    low: WarnEvery,
    exhausted: WarnEvery,
}

impl FdBudget {
    pub fn new(limit: Option<u64>) -> Arc<Self> {
        Arc::new(Self {
            limit,
            open: AtomicUsize::new(0),
            low: WarnEvery::new(WARN_EVERY),
            exhausted: WarnEvery::new(WARN_EVERY),
        })
    }

    /// Counts a new connection until the returned value is dropped; warns
    /// when connections use most of the limit.
    pub fn open(self: &Arc<Self>) -> OpenConnection {
        let open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(limit) = self.limit
            && open as u64 * 100 >= limit * LOW_PERCENT
            && self.low.event(Instant::now()).is_some()
        {
            warn!(
                open,
                limit,
                "file descriptors are running low: {open} connections are open and the \
                 open file limit is {limit}; raise LimitNOFILE= in the systemd unit (or ulimit -n)"
            );
        }
        OpenConnection {
            budget: Arc::clone(self),
        }
    }

    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Logs (at most once a minute) that `port` could not accept a connection.
    pub fn out_of_descriptors(&self, port: &str, err: &std::io::Error) {
        if let Some(times) = self.exhausted.event(Instant::now()) {
            warn!(
                port,
                error = %err,
                times,
                open = self.open_connections(),
                limit = self.limit,
                "out of file descriptors: cannot accept {port} connections; closing an \
                 unauthenticated connection; raise LimitNOFILE= in the systemd unit (or ulimit -n)"
            );
        }
    }
}

/// One open connection, counted until dropped.
#[derive(Debug)]
pub struct OpenConnection {
    budget: Arc<FdBudget>,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.budget.open.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_below_fleet_and_caps_is_reported_with_what_to_change() {
        let needs = FdNeeds {
            devices: 2_000,
            max_unauthenticated: 512,
            max_web: 128,
        };
        let message = shortfall(1_024, &needs).unwrap();
        assert!(message.contains("the open file limit is 1024"), "{message}");
        assert!(message.contains("2704"), "{message}");
        assert!(message.contains("LimitNOFILE"), "{message}");
        assert_eq!(shortfall(65_536, &needs), None);
    }

    #[cfg(unix)]
    #[test]
    fn running_out_of_descriptors_is_recognised() {
        let emfile = std::io::Error::from_raw_os_error(rustix::io::Errno::MFILE.raw_os_error());
        assert!(is_out_of_descriptors(&emfile));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionAborted);
        assert!(!is_out_of_descriptors(&refused));
    }
}
