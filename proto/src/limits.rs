//! Bounds on what crosses the wire.
//!
//! The collector enforces these and refuses anything larger with a clear
//! status; the agent truncates lists to them before sending so a device with
//! an unusual number of filesystems still reports.

/// Largest encoded gRPC message either side accepts.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// Longest string field (paths, names, messages), in bytes.
pub const MAX_STRING_BYTES: usize = 4096;
/// Longest PEM field (certificates and CSRs).
pub const MAX_PEM_BYTES: usize = 16 * 1024;
/// Most filesystems in one report.
pub const MAX_FILESYSTEMS: usize = 256;
/// Most certificates in one report.
pub const MAX_CERTIFICATES: usize = 5000;
/// Most TLS endpoints in one report.
pub const MAX_TLS_ENDPOINTS: usize = 500;
/// Most pending updates in one report.
pub const MAX_PENDING_UPDATES: usize = 5000;
/// Most backup jobs in one report.
pub const MAX_BACKUP_JOBS: usize = 200;
/// Most errors in one report.
pub const MAX_CHECK_ERRORS: usize = 1000;
/// Most entries in any other repeated field (SANs, locations, reasons, ...).
pub const MAX_LIST_ITEMS: usize = 1000;
/// How far in the future a timestamp may be before it is refused (clock skew allowance).
pub const MAX_FUTURE_SKEW_SECS: i64 = 10 * 60;
/// How old a report may be; older ones (a long-offline spool) are refused.
pub const MAX_REPORT_AGE_SECS: i64 = 30 * 24 * 3600;
