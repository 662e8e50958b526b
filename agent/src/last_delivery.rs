//! What `forewarn-agent status` says about delivery: when the collector last
//! accepted a report, and how each check went in it.
//!
//! The run loop writes `<state_dir>/last-delivery.json` after every report the
//! collector acknowledges; `status` reads it. A missing file means no report
//! has been delivered yet.

use serde::{Deserialize, Serialize};

use forewarn_proto::pb;

use crate::state::{StateDir, StateError, write_atomically};

const FILE: &str = "last-delivery.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LastDelivery {
    /// When the collector acknowledged the report (Unix seconds).
    pub delivered_at_unix_secs: i64,
    /// The report's sequence number.
    pub seq: u64,
    /// When the report was collected (Unix seconds); older than the delivery after an outage.
    pub collected_at_unix_secs: i64,
    /// Each check that ran for that report.
    pub checks: Vec<CheckOutcome>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckOutcome {
    /// "disks", "certificates", "patches", "backups".
    pub check: String,
    /// False when the whole check failed.
    pub ok: bool,
    /// Problems reported for this check ("item: message", or the message alone).
    pub problems: Vec<String>,
}

impl LastDelivery {
    /// The record for `report`, delivered now.
    pub fn of(report: &pb::StatusReport) -> Self {
        let checks = report
            .check_runs
            .iter()
            .map(|run| CheckOutcome {
                check: run.check.clone(),
                ok: run.ok,
                problems: report
                    .errors
                    .iter()
                    .filter(|error| error.check == run.check)
                    .map(|error| {
                        if error.item.is_empty() {
                            error.message.clone()
                        } else {
                            format!("{}: {}", error.item, error.message)
                        }
                    })
                    .collect(),
            })
            .collect();
        Self {
            delivered_at_unix_secs: time::OffsetDateTime::now_utc().unix_timestamp(),
            seq: report.seq,
            collected_at_unix_secs: report.collected_at_unix_secs,
            checks,
        }
    }

    pub fn save(&self, state: &StateDir) -> Result<(), StateError> {
        let path = state.root().join(FILE);
        let text = serde_json::to_vec_pretty(self).map_err(|err| StateError::Damaged {
            path: path.clone(),
            message: err.to_string(),
        })?;
        write_atomically(&path, &text)
    }

    /// The last delivery; `Ok(None)` when nothing was delivered yet.
    pub fn load(state: &StateDir) -> Result<Option<Self>, StateError> {
        let path = state.root().join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|err| StateError::Damaged {
                        path,
                        message: err.to_string(),
                    })
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError::Read { path, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_filed_under_their_check_and_round_trip() {
        let report = pb::StatusReport {
            seq: 9,
            collected_at_unix_secs: 100,
            check_runs: vec![
                pb::CheckRun {
                    check: "disks".into(),
                    duration_ms: 3,
                    ok: true,
                },
                pb::CheckRun {
                    check: "backups".into(),
                    duration_ms: 5,
                    ok: false,
                },
            ],
            errors: vec![pb::CheckError {
                check: "backups".into(),
                item: "nightly".into(),
                kind: pb::CheckErrorKind::Failed as i32,
                message: "repository locked".into(),
            }],
            ..Default::default()
        };
        let record = LastDelivery::of(&report);
        assert_eq!(record.seq, 9);
        assert!(record.checks[0].ok && record.checks[0].problems.is_empty());
        assert_eq!(record.checks[1].problems, ["nightly: repository locked"]);

        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        assert_eq!(LastDelivery::load(&state).unwrap(), None);
        record.save(&state).unwrap();
        assert_eq!(LastDelivery::load(&state).unwrap(), Some(record));
    }
}
