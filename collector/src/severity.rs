//! How bad an alert is: the one severity scale of the collector, shared by
//! the rules (what fires), the alert store, the notifications and the ticket
//! policies (which priority, which connector).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Ordered from least to most severe, so `new > old` is an escalation.
/// Rules fire at `warning` or `critical`; `info` exists for ticket policies
/// and priority maps, which name all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub const ALL: [Self; 3] = [Self::Info, Self::Warning, Self::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order_runs_from_info_to_critical() {
        for severity in Severity::ALL {
            assert_eq!(Severity::parse(severity.as_str()), Some(severity));
            let json = serde_json::to_string(&severity).unwrap();
            assert_eq!(json, format!("\"{severity}\""));
        }
        assert_eq!(Severity::parse("Critical"), None);
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Critical);
    }
}
