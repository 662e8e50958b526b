//! gRPC ingest: the enrollment and report/renew services agents talk to.
//!
//! # Layout
//! - `enrollment`: token + CSR → device identity and certificate.
//! - `enroll_throttle`: failed enrollments throttled per source address.
//! - `report`: authenticated status reports and certificate renewal.
//! - `identity`: the device id, read only from the client certificate.
//! - `validate`: pure bounds checks on every incoming message.
//! - `metrics`: reports received by result, restarted numberings, stale and
//!   refused reports.
//! - `latency`: the histogram of how long handling one report takes.
//! - `error`: the one place domain errors become `tonic::Status`.

mod enroll_throttle;
mod enrollment;
mod error;
mod identity;
mod latency;
mod metrics;
mod report;
pub mod validate;

use std::sync::Arc;

use crate::config::CollectorConfig;
use crate::pki::CollectorPki;
use crate::rules::RuleBook;
use crate::store::Store;

pub use enrollment::EnrollmentService;
pub use error::IngestError;
pub use identity::AgentPeer;
pub use latency::{BUCKETS_SECS, LatencySnapshot};
pub use metrics::{IngestCounts, IngestMetrics, ReportResult};
pub use report::IngestService;

/// What both services share.
#[derive(Debug, Clone)]
pub struct IngestContext {
    pub config: Arc<CollectorConfig>,
    pub store: Arc<dyn Store>,
    pub pki: Arc<CollectorPki>,
    /// Alert rules per group, resolved from `config` once.
    pub rules: Arc<RuleBook>,
    /// Wakes the ticket worker after a stored report, which may have queued
    /// ticket work, so a ticket does not wait for the worker's next poll.
    pub ticket_wake: Arc<tokio::sync::Notify>,
    /// Counted here, rendered by `/metrics`.
    pub metrics: Arc<IngestMetrics>,
}

use crate::clock::now_unix;
