//! Group commit of reports on PostgreSQL, as the SQLite writer does: the
//! reports queued while earlier batches were being stored go into one
//! transaction, each in a savepoint of its own (a report that fails rolls
//! back alone), and each is answered only after that transaction committed,
//! so an acknowledgement still means the report is in the database. The
//! cost of a commit (its WAL flush) is shared by the batch.
//!
//! A few batches run at once, each on its own pooled connection, so one
//! batch waiting for the database does not hold back the reports behind it.
//! Each device row stays locked `FOR UPDATE` from its report's judgement to
//! the batch's commit, so two collectors never both store one report; every
//! batch locks its devices in id order, so batches here and on other
//! collectors wait for each other instead of deadlocking.

use std::sync::Arc;

use deadpool_postgres::{Pool, Transaction};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::error;

use super::ingest;
use crate::rules::RuleBook;
use crate::store::{IncomingReport, IngestOutcome, ReadyReport, StoreError};

/// At most this many reports share one transaction: bounds how long a batch
/// holds its device rows.
const MAX_BATCH: usize = 256;

/// Batches being stored at once, each on a connection of its own.
const BATCHES_AT_ONCE: usize = 4;

type Answer = oneshot::Sender<Result<IngestOutcome, StoreError>>;

struct Job {
    report: ReadyReport,
    rules: Arc<RuleBook>,
    answer: Answer,
}

/// The sending side of the report queue; the task storing the batches ends
/// when the last one is dropped.
#[derive(Debug, Clone)]
pub struct IngestQueue {
    jobs: mpsc::UnboundedSender<Job>,
}

impl IngestQueue {
    /// Starts the task that takes queued reports in batches from `pool`'s
    /// connections (on the current tokio runtime).
    pub fn start(pool: Pool) -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, queue));
        Self { jobs }
    }

    /// Stores `report` in the next batch; answers once the batch committed.
    pub async fn ingest(
        &self,
        report: IncomingReport,
        rules: Arc<RuleBook>,
    ) -> Result<IngestOutcome, StoreError> {
        let (answer, answered) = oneshot::channel();
        self.jobs
            .send(Job {
                report: report.ready(),
                rules,
                answer,
            })
            .map_err(|_| StoreError::Task("the report queue has stopped".into()))?;
        answered.await.map_err(|_| {
            StoreError::Task("the batch this report was in was dropped (it panicked)".into())
        })?
    }
}

/// Takes what is queued once a batch may start, and stores it.
async fn run(pool: Pool, mut queue: mpsc::UnboundedReceiver<Job>) {
    let slots = Arc::new(Semaphore::new(BATCHES_AT_ONCE));
    while let Some(first) = queue.recv().await {
        // Reports arriving while every slot is busy join this batch.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            store_batch(&pool, batch).await;
            drop(slot);
        });
    }
}

/// Stores a batch in one transaction and answers each report.
async fn store_batch(pool: &Pool, mut batch: Vec<Job>) {
    // One lock order for every batch (stable: a device's reports keep theirs).
    batch.sort_by(|a, b| a.report.report.device_id.cmp(&b.report.report.device_id));
    let mut client = match pool.get().await {
        Ok(client) => client,
        Err(err) => return refuse(batch, &format!("no database connection: {err}")),
    };
    let mut tx = match client.transaction().await {
        Ok(tx) => tx,
        Err(err) => {
            return refuse(
                batch,
                &format!("cannot start a database transaction: {err}"),
            );
        }
    };
    let mut answers = Vec::with_capacity(batch.len());
    for job in batch {
        let result = in_savepoint(&mut tx, job.report, &job.rules).await;
        answers.push((job.answer, result));
    }
    let commit_error = tx.commit().await.err().map(|err| err.to_string());
    if let Some(err) = &commit_error {
        error!(error = %err, reports = answers.len(), "a batch of reports did not commit; each is refused and its agent sends it again");
    }
    for (answer, result) in answers {
        let result = match &commit_error {
            Some(err) => result.and(Err(StoreError::Task(format!(
                "the database did not commit the batch this report was in: {err}"
            )))),
            None => result,
        };
        let _ = answer.send(result);
    }
}

/// Stores one report in a savepoint of `tx`: kept if it wrote something,
/// rolled back (with its row lock) if there was nothing to write or it failed.
async fn in_savepoint(
    tx: &mut Transaction<'_>,
    report: ReadyReport,
    rules: &RuleBook,
) -> Result<IngestOutcome, StoreError> {
    let savepoint = tx.transaction().await?;
    match ingest::ingest(&savepoint, report, rules).await {
        Ok(Ok(stored)) => {
            savepoint.commit().await?;
            Ok(stored)
        }
        Ok(Err(nothing_written)) => {
            savepoint.rollback().await?;
            Ok(nothing_written)
        }
        Err(err) => {
            // If even the rollback fails, the transaction is lost and its
            // commit refuses every report of the batch.
            let _ = savepoint.rollback().await;
            Err(err)
        }
    }
}

fn refuse(batch: Vec<Job>, why: &str) {
    error!(error = %why, reports = batch.len(), "a batch of reports could not be stored; each is refused and its agent sends it again");
    for job in batch {
        let _ = job.answer.send(Err(StoreError::Task(why.to_owned())));
    }
}
