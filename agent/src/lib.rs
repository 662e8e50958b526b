//! Forewarn agent: read-only probes on a managed device, reported to a
//! collector over gRPC with mutual TLS.
//!
//! # Layout
//! - [`config`]: the local TOML config (what this device allows probes to do).
//! - [`checks`]: the `Check` enum and one folder per check.
//! - [`facts`]: host identity (name, OS, hardware).
//! - [`file_stamp`]: a file's identity, to re-parse files only when they change.
//! - [`report`]: one snapshot of the device.
//! - [`enroll`]: key pair, CSR, CA pinning, identity saved.
//! - [`runner`]: the `run` loop (collect, spool, deliver, renew).
//! - [`daemon`]: `run` as a service: instance lock, config reload.
//! - [`lock`]: one `run` per state directory.
//! - [`owner_only`]: the state directory readable by its owner only (ACL on Windows).
//! - [`service`]: systemd, launchd and the Windows service manager.
//! - [`install`]: `install` and `uninstall`.
//! - [`status`]: `status` and its exit codes.
//! - [`last_delivery`]: the last delivered report, for `status`.
//! - [`spool`]: bounded durable queue of unacknowledged reports.
//! - [`state`]: files in the state directory.
//! - [`transport`]: the mTLS gRPC channel.
//! - [`backoff`]: retry delays with jitter.
//! - [`command`]: `CommandRunner`, the one way probes run programs.
//! - [`clock`]: the wall clock, read in one place.
//! - [`trigger`]: asking for a report before the interval.
//! - [`watch`]: file watching with a polling fallback.
//! - [`output`]: the table `check --once` prints.
//! - [`presented_chain`]: reading a TLS server's chain before deciding trust.
//! - `fixtures` (tests only): captured real outputs, without their source line.
//!
//! The agent never executes anything the collector sends: central policy can
//! only disable checks and set intervals.

pub mod backoff;
pub mod checks;
pub mod clock;
pub mod command;
pub mod config;
pub mod daemon;
pub mod enroll;
pub mod facts;
pub mod file_stamp;
#[cfg(test)]
mod fixtures;
pub mod install;
pub mod last_delivery;
pub mod lock;
pub mod output;
pub mod owner_only;
pub mod presented_chain;
pub mod report;
pub mod runner;
pub mod service;
pub mod spool;
pub mod state;
pub mod status;
pub mod transport;
pub mod trigger;
pub mod watch;

pub use runner::run;
