//! History retention in the background: every `retention_interval_secs`, the
//! collector holding [`Singleton::Retention`] walks the devices in batches
//! (one short transaction each, so ingest never waits long), deleting reports
//! older than `raw_days` and thinning disk samples (see [`super::history`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, info, warn};

use super::history::HistoryConfig;
use super::{Singleton, Store, StoreError};
use crate::clock::now_unix;

/// Devices per transaction: a few milliseconds of the database each.
const BATCH_DEVICES: usize = 20;

/// Runs retention rounds until `shutdown`; the first one soon after start.
pub async fn run(store: Arc<dyn Store>, config: HistoryConfig, shutdown: impl Future<Output = ()>) {
    let mut ticks =
        tokio::time::interval(Duration::from_secs(config.retention_interval_secs.max(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    let mut compaction = Compaction::default();
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = ticks.tick() => {}
        }
        match store.hold_singleton(Singleton::Retention).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(err) => {
                warn!(error = %err, "cannot tell whether this collector runs history retention; retrying on the next round");
                continue;
            }
        }
        let now = now_unix();
        tokio::select! {
            () = &mut shutdown => return,
            result = round(store.as_ref(), &config, now) => match result {
                Ok(done) => info!(reports_deleted = done.0, samples_deleted = done.1, "history retention round done"),
                Err(err) => {
                    warn!(error = %err, "history retention stopped part way; the next round continues");
                    continue;
                }
            }
        }
        tokio::select! {
            () = &mut shutdown => return,
            result = compaction.after_round(store.as_ref(), &config, now) => match result {
                Ok(true) => info!("history storage compacted after the day's retention"),
                Ok(false) => {}
                Err(err) => warn!(error = %err, "compacting history storage failed (on PostgreSQL: REINDEX TABLE CONCURRENTLY disk_samples, which the collector's database user must own); retried after the next retention round"),
            }
        }
    }
}

/// Runs [`Store::compact_history`] after the first retention round of each
/// day of history thinned (the hourly cut-off moves once a UTC day), and
/// after the first round this collector runs.
#[derive(Debug, Default)]
pub struct Compaction {
    done_for: Option<i64>,
}

impl Compaction {
    /// Whether it compacted.
    pub async fn after_round(
        &mut self,
        store: &dyn Store,
        config: &HistoryConfig,
        now: i64,
    ) -> Result<bool, StoreError> {
        let day = config.cutoffs(now).hourly_before;
        if self.done_for == Some(day) {
            return Ok(false);
        }
        store.compact_history().await?;
        self.done_for = Some(day);
        Ok(true)
    }
}

/// One round over every device at `now`: (reports, samples) deleted.
pub async fn round(
    store: &dyn Store,
    config: &HistoryConfig,
    now: i64,
) -> Result<(u64, u64), StoreError> {
    let cutoffs = config.cutoffs(now);
    let mut after = String::new();
    let mut deleted = (0, 0);
    loop {
        let batch = store.retain_history(cutoffs, &after, BATCH_DEVICES).await?;
        deleted.0 += batch.reports_deleted;
        deleted.1 += batch.samples_deleted;
        let Some(last) = batch.last_device else {
            return Ok(deleted);
        };
        debug!(last_device = %last, "history retention batch done");
        after = last;
        // Let queued reports in between batches.
        tokio::task::yield_now().await;
    }
}
