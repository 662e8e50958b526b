//! The checks an agent runs, and the one place they are built from config.
//!
//! Dispatch is an explicit enum: a new check is a new folder under
//! `checks/`, a variant here, and a line in [`CheckSet::from_config`].
//! A check that cannot run says why (a [`CheckError`]); it is never silent.

pub mod backups;
pub mod certificates;
pub mod disk;
pub mod patches;

use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use forewarn_proto::pb;

use crate::command::SystemCommandRunner;
use crate::config::ChecksConfig;
use crate::state::StateDir;
use crate::trigger::ReportTrigger;

/// Why a whole check could not produce a status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    #[error("{0}")]
    Failed(String),
    #[error("timed out after {0} s")]
    Timeout(u64),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    #[error("required tool is missing: {0}")]
    ToolMissing(String),
    #[error("unexpected data: {0}")]
    InvalidData(String),
    #[error("not supported on this OS")]
    NotSupported,
}

impl CheckError {
    fn kind(&self) -> pb::CheckErrorKind {
        match self {
            Self::Failed(_) => pb::CheckErrorKind::Failed,
            Self::Timeout(_) => pb::CheckErrorKind::Timeout,
            Self::PermissionDenied(_) => pb::CheckErrorKind::PermissionDenied,
            Self::ToolMissing(_) => pb::CheckErrorKind::ToolMissing,
            Self::InvalidData(_) => pb::CheckErrorKind::InvalidData,
            Self::NotSupported => pb::CheckErrorKind::NotSupported,
        }
    }

    /// The wire form, for `check` and optionally one `item`.
    pub fn to_proto(&self, check: &str, item: &str) -> pb::CheckError {
        pb::CheckError {
            check: check.to_owned(),
            item: item.to_owned(),
            kind: self.kind() as i32,
            message: self.to_string(),
        }
    }
}

/// One configured check.
#[derive(Debug)]
pub enum Check {
    Disks(disk::DiskCheck),
    Backups(backups::BackupCheck),
    Patches(Box<patches::PatchCheck>),
    Certificates(Box<certificates::CertificateCheck>),
}

impl Check {
    /// The name used in reports, policies and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Disks(_) => disk::CHECK_NAME,
            Self::Backups(_) => backups::CHECK_NAME,
            Self::Patches(_) => patches::CHECK_NAME,
            Self::Certificates(_) => certificates::CHECK_NAME,
        }
    }

    /// Starts or stops the check's file watches (backups keep theirs; disks have none).
    fn set_watching(&mut self, on: bool) {
        match self {
            Self::Certificates(check) => check.set_watching(on),
            Self::Patches(check) => check.set_watching(on),
            Self::Disks(_) | Self::Backups(_) => {}
        }
    }

    /// Runs the check and writes its section of `report`, plus any per-item errors.
    ///
    /// Checks may keep state between cycles (`&mut self`): a heavy probe can
    /// return its cached result until it is due again.
    async fn collect_into(&mut self, report: &mut pb::StatusReport) -> Result<(), CheckError> {
        match self {
            Self::Disks(check) => {
                let (status, item_errors) = check.collect().await?;
                report.disks = Some(status);
                report.errors.extend(item_errors);
            }
            Self::Backups(check) => report.backups = Some(check.collect().await),
            Self::Patches(check) => {
                if let Some(status) = check.collect().await? {
                    report.patches = Some(status);
                }
            }
            Self::Certificates(check) => {
                let (status, item_errors) = check.collect().await?;
                report.certificates = Some(status);
                report.errors.extend(item_errors);
            }
        }
        Ok(())
    }
}

/// Who the reports are for, which decides whether they wait for slow probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    /// A one-off look on the device (`check --once`): wait for running probes.
    Once,
    /// The run loop: never hold a report back; a finished probe asks for its own.
    Continuous,
}

/// The checks this device runs.
#[derive(Debug)]
pub struct CheckSet {
    checks: Vec<Check>,
}

impl CheckSet {
    /// Builds the checks the local config asks for. Checks that watch files
    /// fire `trigger` to ask for a report before the next interval; checks
    /// that must remember across restarts keep it in `state`.
    pub fn from_config(
        config: &ChecksConfig,
        state: &StateDir,
        trigger: &ReportTrigger,
        collection: Collection,
    ) -> Self {
        let patch_scan_wait = match collection {
            Collection::Once => Duration::from_secs(config.patches.scan_timeout_secs),
            Collection::Continuous => Duration::ZERO,
        };
        let restore_verification_wait = match collection {
            Collection::Once => config.backups.restore_verification_timeout(),
            Collection::Continuous => Duration::ZERO,
        };
        let mut checks = vec![
            Check::Disks(disk::DiskCheck::new(config.disks.clone())),
            Check::Certificates(Box::new(certificates::CertificateCheck::new(
                config.certificates.clone(),
                Arc::new(SystemCommandRunner),
                trigger,
            ))),
            Check::Patches(Box::new(patches::PatchCheck::new(
                config.patches.clone(),
                trigger,
                patch_scan_wait,
            ))),
        ];
        if !config.backups.jobs.is_empty() {
            checks.push(Check::Backups(backups::BackupCheck::new(
                &config.backups,
                state.backups_state_path(),
                trigger,
                restore_verification_wait,
            )));
        }
        Self { checks }
    }

    /// Runs every check the policy leaves enabled and fills `report`.
    /// A check the policy disables stops watching files until it is enabled again.
    pub async fn collect(&mut self, policy: &pb::Policy, report: &mut pb::StatusReport) {
        for check in &mut self.checks {
            let enabled = !policy
                .disabled_checks
                .iter()
                .any(|name| name == check.name());
            check.set_watching(enabled);
            if !enabled {
                continue;
            }
            let started = Instant::now();
            let name = check.name();
            let outcome = contained(name, check.collect_into(report)).await;
            let duration_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
            if let Err(err) = &outcome {
                tracing::warn!(check = check.name(), error = %err, "check failed");
                report.errors.push(err.to_proto(check.name(), ""));
            }
            report.check_runs.push(pb::CheckRun {
                check: check.name().to_owned(),
                duration_ms,
                ok: outcome.is_ok(),
            });
        }
    }

    /// Takes back from the report of the last [`collect`](Self::collect),
    /// once it is encoded, the sections a check can hand out again while
    /// nothing changes (the certificates), so the next cycle moves them
    /// into its report instead of copying them.
    pub fn reclaim(&mut self, report: pb::StatusReport) {
        let Some(section) = report.certificates else {
            return;
        };
        for check in &mut self.checks {
            if let Check::Certificates(check) = check {
                check.reclaim(section);
                return;
            }
        }
    }
}

/// Runs a check's collection, turning a panic into that check's error: a
/// probe that panics on strange input must not take the agent down (the
/// checks run on the agent's one thread, where nothing else would catch it).
async fn contained(
    check: &str,
    collecting: impl Future<Output = Result<(), CheckError>>,
) -> Result<(), CheckError> {
    let mut collecting = std::pin::pin!(collecting);
    std::future::poll_fn(|cx| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            collecting.as_mut().poll(cx)
        }))
        .unwrap_or_else(|panic| {
            let reason = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Poll::Ready(Err(CheckError::Failed(format!(
                "the {check} check stopped on an internal error ({reason}); \
                     please report it with the agent's log"
            ))))
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_check_becomes_its_error() {
        let outcome = contained("disks", async { panic!("strange mount table") }).await;
        let Err(CheckError::Failed(message)) = outcome else {
            panic!("{outcome:?}");
        };
        assert!(
            message.contains("disks") && message.contains("strange mount table"),
            "{message}"
        );
    }

    /// Whether `trigger` fires within `within` after `path` is written.
    async fn fires_after_write(
        trigger: &ReportTrigger,
        path: &std::path::Path,
        within: Duration,
    ) -> bool {
        std::fs::write(path, b"changed").unwrap();
        tokio::time::timeout(within, trigger.fired()).await.is_ok()
    }

    #[tokio::test]
    async fn a_disabled_patch_check_watches_nothing_until_enabled_again() {
        let root = tempfile::tempdir().unwrap();
        let dpkg = root.path().join("var/lib/dpkg");
        std::fs::create_dir_all(&dpkg).unwrap();
        std::fs::create_dir_all(root.path().join("var/lib/apt/lists")).unwrap();
        let status = dpkg.join("status");
        std::fs::write(&status, b"").unwrap();
        let config = patches::PatchConfig {
            package_manager: "apt".into(),
            root_dir: root.path().to_path_buf(),
            rescan_quiet_secs: 0,
            ..Default::default()
        };
        let trigger = ReportTrigger::default();
        let mut check = patches::PatchCheck::new(config, &trigger, Duration::ZERO);
        let long = Duration::from_secs(5);
        assert!(
            fires_after_write(&trigger, &status, long).await,
            "enabled: watched"
        );
        check.set_watching(false);
        assert!(
            !fires_after_write(&trigger, &status, Duration::from_secs(2)).await,
            "disabled: nothing watched"
        );
        check.set_watching(true);
        assert!(
            fires_after_write(&trigger, &status, long).await,
            "enabled again"
        );
    }
}
