//! Alerts: records, transitions, silences, and the engine that decides them.
//! Rules measure ([`crate::rules`]); the [`engine`] plans each alert change and
//! its notification; the store keeps what it is handed ([`crate::store`]).
//!
//! # Layout
//! - [`engine`]: the pure planner of alert changes and notifications.
//! - [`notification`]: the typed notification the outbox carries.
//! - [`silence`]: silences and maintenance windows, and what they match.
//! - [`sweeper`]: the timer that re-plans alerts and prunes the outbox.
//! - [`texts`]: what a resolution says.

pub mod engine;
pub mod notification;
pub mod silence;
pub mod sweeper;
pub mod texts;

use crate::rules::{RuleId, Severity};

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertStatus {
    /// The condition holds but its `for` duration has not passed.
    Pending,
    Firing,
    Acknowledged,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Firing => "firing",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Firing,
            Self::Acknowledged,
            Self::Resolved,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// One alert row.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    pub id: i64,
    pub device_id: String,
    pub hostname: String,
    pub rule: RuleId,
    pub subject: String,
    /// The subject as people know it (CN and path, mount point, job name).
    pub subject_name: String,
    pub status: AlertStatus,
    pub severity: Option<Severity>,
    pub flapping: bool,
    pub first_seen: i64,
    pub last_seen: i64,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub summary: String,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<i64>,
}

/// One entry of an alert's history.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertTransitionRecord {
    pub at: i64,
    pub from_severity: Option<Severity>,
    pub to_severity: Option<Severity>,
    /// The notification event, `acknowledged`, or `note`.
    pub event: Option<String>,
    pub value: Option<f64>,
    pub summary: String,
    pub actor: Option<String>,
    pub note: Option<String>,
}

/// Which alerts `alerts list` shows; `None` matches all.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub status: Option<AlertStatus>,
    pub severity: Option<Severity>,
    pub device_id: Option<String>,
}
