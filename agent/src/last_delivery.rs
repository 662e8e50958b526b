//! What `forewarn-agent status` says about delivery: when the collector last
//! accepted a report, and how each check went in it.
//!
//! The run loop writes `<state_dir>/last-delivery.json` when the collector
//! acknowledges a report whose check outcomes differ from the recorded ones,
//! and otherwise at most every [`REWRITE_AFTER`]: a write (with its fsync)
//! per delivered report was most of an unchanged cycle's system time.
//! `status` reads it, allowing for that age. A missing file means no report
//! has been delivered yet.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use forewarn_proto::pb;

use crate::state::{StateDir, StateError, write_atomically};

const FILE: &str = "last-delivery.json";

/// Longest a record with unchanged check outcomes goes without being
/// rewritten while reports are delivered: how stale `delivered_at` may be.
pub const REWRITE_AFTER: Duration = Duration::from_secs(60);

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
    /// The record for `report`, delivered now; [`DeliveryRecorder::record`]
    /// stamps it again with the time the collector acknowledged it.
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
            delivered_at_unix_secs: crate::clock::now_unix(),
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

/// Writes the delivery record of a running agent when it says something new.
#[derive(Debug, Default)]
pub struct DeliveryRecorder {
    /// The check outcomes last written, and when.
    written: Option<(Vec<CheckOutcome>, Instant)>,
}

impl DeliveryRecorder {
    /// Whether a delivery with these outcomes, at `now`, must be written.
    pub fn due(&self, checks: &[CheckOutcome], now: Instant) -> bool {
        match &self.written {
            Some((written, at)) => {
                written.as_slice() != checks || now.saturating_duration_since(*at) >= REWRITE_AFTER
            }
            None => true,
        }
    }

    /// Saves `delivery`, delivered now, if it is [`due`](Self::due); a
    /// failed write is tried again next time.
    pub fn record(
        &mut self,
        delivery: &LastDelivery,
        state: &StateDir,
        now: Instant,
    ) -> Result<(), StateError> {
        if !self.due(&delivery.checks, now) {
            return Ok(());
        }
        self.written = None;
        let delivery = LastDelivery {
            delivered_at_unix_secs: crate::clock::now_unix(),
            ..delivery.clone()
        };
        delivery.save(state)?;
        self.written = Some((delivery.checks, now));
        Ok(())
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

    #[test]
    fn unchanged_outcomes_are_rewritten_only_after_the_refresh_period() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let ok = |seq| LastDelivery {
            delivered_at_unix_secs: 100 + seq as i64,
            seq,
            collected_at_unix_secs: 100,
            checks: vec![CheckOutcome {
                check: "disks".into(),
                ok: true,
                problems: Vec::new(),
            }],
        };
        let start = Instant::now();
        let mut recorder = DeliveryRecorder::default();
        recorder.record(&ok(1), &state, start).unwrap();
        recorder
            .record(&ok(2), &state, start + Duration::from_secs(1))
            .unwrap();
        assert_eq!(LastDelivery::load(&state).unwrap().unwrap().seq, 1);

        let mut failed = ok(3);
        failed.checks[0].ok = false;
        recorder
            .record(&failed, &state, start + Duration::from_secs(2))
            .unwrap();
        assert_eq!(
            LastDelivery::load(&state).unwrap().unwrap().seq,
            3,
            "outcome changed"
        );

        recorder
            .record(&ok(4), &state, start + Duration::from_secs(3))
            .unwrap();
        recorder
            .record(&ok(5), &state, start + Duration::from_secs(4))
            .unwrap();
        assert_eq!(
            LastDelivery::load(&state).unwrap().unwrap().seq,
            4,
            "outcome back"
        );
        recorder
            .record(
                &ok(6),
                &state,
                start + Duration::from_secs(3) + REWRITE_AFTER,
            )
            .unwrap();
        assert_eq!(
            LastDelivery::load(&state).unwrap().unwrap().seq,
            6,
            "refreshed"
        );
    }
}
