//! The alert sweeper: re-plans alerts on a timer, for what changes with time
//! alone (offline, `for` durations, dead-man rules, silences ending), and
//! prunes delivered outbox rows past retention. Each tick plans only the
//! devices whose next sweep time has come (the engine sets it with every
//! plan, see [`crate::alerts::engine::next_sweep_at`]); the first tick after
//! start plans them all.
//! Collectors sharing one database run it one at a time: each tick, only
//! the holder of [`Singleton::Sweeper`] sweeps, and another takes over when
//! the holder goes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use crate::rules::RuleBook;
use crate::store::{Singleton, Store, SweepScope};

/// How often the sweeper runs and what it keeps.
#[derive(Debug, Clone, Copy)]
pub struct Sweep {
    /// Time between sweeps.
    pub interval: Duration,
    /// Delivered outbox rows older than this are pruned.
    pub delivered_retention_secs: u64,
}

/// The outbox is pruned at most this often: retention is counted in days,
/// and each prune steps over the rows it keeps (one or two per alert) again.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Outbox rows deleted per transaction: a few milliseconds of the one
/// connection, so a prune of a long-grown table never stalls ingest.
const PRUNE_BATCH_ROWS: usize = 500;

/// Re-evaluates time-based rules (offline, `for`, dead-man, silences ending)
/// of the devices due every `interval` until stopped, and prunes delivered outbox rows (first on
/// start, then hourly). A failed sweep or prune is logged and retried on a
/// later tick; ingest keeps working either way.
pub async fn run(
    store: Arc<dyn Store>,
    rules: Arc<RuleBook>,
    sweep: Sweep,
    shutdown: impl Future<Output = ()>,
) {
    let mut ticks = tokio::time::interval(sweep.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune: Option<tokio::time::Instant> = None;
    // The first sweep plans every device: the rules, and so when each device
    // is next due, may have changed with the config since the last run.
    let mut swept_all = false;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = ticks.tick() => {}
        }
        match store.hold_singleton(Singleton::Sweeper).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(err) => {
                warn!(error = %err, "cannot tell whether this collector runs the alert sweep; retrying on the next tick");
                continue;
            }
        }
        let now = crate::clock::now_unix();
        let scope = if swept_all {
            SweepScope::Due
        } else {
            SweepScope::All
        };
        match store.sweep_alerts(Arc::clone(&rules), now, scope).await {
            Ok(notifications) => {
                swept_all = true;
                if notifications > 0 {
                    info!(notifications, "alert sweep queued notifications");
                }
            }
            Err(err) => warn!(error = %err, "alert sweep failed"),
        }
        if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            last_prune = Some(tokio::time::Instant::now());
            prune_outbox(store.as_ref(), sweep.delivered_retention_secs, now).await;
        }
    }
}

async fn prune_outbox(store: &dyn Store, retention_secs: u64, now: i64) {
    let before = now.saturating_sub(i64::try_from(retention_secs).unwrap_or(i64::MAX));
    let started = std::time::Instant::now();
    match store.prune_delivered_outbox(before, PRUNE_BATCH_ROWS).await {
        Ok(outcome) if outcome.rows == 0 => {}
        Ok(outcome) => info!(
            rows = outcome.rows,
            batches = outcome.batches,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "pruned delivered outbox rows past retention"
        ),
        Err(err) => warn!(error = %err, "outbox prune failed"),
    }
}

#[cfg(test)]
mod tests {

    use tokio::sync::watch;

    use super::*;
    use crate::store::outbox::OutboxState;
    use crate::store::{IncomingReport, store_with_device};

    const DAY: i64 = 86_400;
    const GIB: u64 = 1 << 30;

    fn disk_report(seq: u64, at: i64, available_gib: u64) -> IncomingReport {
        let status = forewarn_proto::pb::StatusReport {
            seq,
            collected_at_unix_secs: at,
            disks: Some(forewarn_proto::pb::DiskCheck {
                filesystems: vec![forewarn_proto::pb::DiskStatus {
                    mount_point: "/".into(),
                    total_bytes: 100 * GIB,
                    free_bytes: available_gib * GIB,
                    available_bytes: available_gib * GIB,
                    ..Default::default()
                }],
            }),
            ..Default::default()
        };
        IncomingReport {
            device_id: "d1".into(),
            seq,
            boot_id: 0,
            collected_at: at,
            received_at: at,
            hostname: "LAPTOP-042".into(),
            os: "linux".into(),
            agent_version: "0.1.0".into(),
            body: status.into(),
            certificate: None,
        }
    }

    #[tokio::test]
    async fn sweeper_prunes_delivered_outbox_rows_past_retention_on_its_first_tick() {
        let (_dir, store) = store_with_device("laptops").await;
        let store: Arc<dyn Store> = Arc::new(store);
        let rules = Arc::new(RuleBook::default());
        // The disk filled up and recovered 40 days ago; both were delivered then.
        let then = time::OffsetDateTime::now_utc().unix_timestamp() - 40 * DAY;
        for (seq, free_gib) in [(1, 3), (2, 50)] {
            let at = then + seq as i64 * 60;
            store
                .ingest_report(disk_report(seq, at, free_gib), Arc::clone(&rules))
                .await
                .unwrap();
            for row in store.claim_outbox(10, 60, at).await.unwrap() {
                store.mark_delivered(row.id, at).await.unwrap();
            }
        }
        let delivered = store.outbox_in_state(OutboxState::Delivered).await.unwrap();
        assert_eq!(delivered.len(), 2, "{delivered:#?}");

        let (stop_tx, stop_rx) = watch::channel(false);
        let mut stop_rx = stop_rx;
        let sweeper = tokio::spawn(run(
            Arc::clone(&store),
            rules,
            Sweep {
                interval: Duration::from_secs(3600),
                delivered_retention_secs: 30 * 86_400,
            },
            async move {
                let _ = stop_rx.wait_for(|stopped| *stopped).await;
            },
        ));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let kept = loop {
            let kept = store.outbox_in_state(OutboxState::Delivered).await.unwrap();
            if kept.len() < 2 || std::time::Instant::now() > deadline {
                break kept;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        stop_tx.send(true).unwrap();
        sweeper.await.unwrap();
        // The recovery is the alert's newest row: kept.
        assert_eq!(kept.len(), 1, "{kept:#?}");
        assert_eq!(kept[0].id, delivered[1].id);
        assert_eq!(kept[0].event, "resolved");
    }
}
