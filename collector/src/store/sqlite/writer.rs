//! The one thread that owns the SQLite connection.
//!
//! Every store call is a job sent to this thread over a channel and answered
//! on a oneshot, so no call parks a thread of tokio's blocking pool on a
//! mutex. Reports and ticket delivery outcomes are group-committed: those
//! queued while the previous transaction committed (or calls ran) are
//! written together in one transaction, each in a savepoint of its own (one
//! that fails rolls back alone), and each is answered only after that
//! transaction committed, so an ack still means the report is on disk
//! (`synchronous = FULL`). Under load the cost of a commit (the WAL sync) is
//! shared by the whole batch; when idle, a batch is one write and nothing
//! waits.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::oneshot;
use tracing::error;

use crate::store::StoreError;

/// At most this many batched writes share one transaction: bounds how long the
/// database stays locked for other processes (the command line).
const MAX_BATCH: usize = 512;

type Call = Box<dyn FnOnce(&mut Connection) + Send>;
/// Given the shared transaction (or why there is none), does its work and
/// returns how to answer once the transaction's fate is known.
type Batched = Box<dyn FnOnce(Result<&Connection, &str>) -> Answer + Send>;
/// Answers a batched call: `Some(error)` if its transaction did not commit.
type Answer = Box<dyn FnOnce(Option<&str>) + Send>;

enum Job {
    /// Runs alone, with the connection to itself (it may open its own
    /// transaction).
    Call(Call),
    /// Runs inside a shared transaction.
    Batched(Batched),
}

/// The sending side; dropping the last one ends the thread and closes the
/// connection.
#[derive(Debug, Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Job::Call(_) => "Call",
            Job::Batched(_) => "Batched",
        })
    }
}

impl Writer {
    /// Starts the thread that owns `connection`.
    pub fn start(connection: Connection, name: String) -> Result<Self, StoreError> {
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name(name)
            .spawn(move || run(connection, queue))
            .map_err(|err| StoreError::Task(format!("cannot start the database thread: {err}")))?;
        Ok(Self { jobs })
    }

    /// Runs `work` alone on the connection.
    pub async fn call<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Call = Box::new(move |connection| {
            let _ = answer.send(work(connection));
        });
        self.send(Job::Call(job), answered).await
    }

    /// Runs `work` in a savepoint of the next shared transaction and answers
    /// once that transaction committed.
    pub async fn batched<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Batched = Box::new(move |tx| {
            let result = match tx {
                Ok(tx) => in_savepoint(tx, work),
                Err(err) => Err(StoreError::Task(format!(
                    "cannot start a database transaction: {err}"
                ))),
            };
            Box::new(move |commit_error: Option<&str>| {
                let result = match commit_error {
                    Some(err) => result.and(Err(StoreError::Task(format!(
                        "the database did not commit the batch this write was in: {err}"
                    )))),
                    None => result,
                };
                let _ = answer.send(result);
            })
        });
        self.send(Job::Batched(job), answered).await
    }

    async fn send<T>(
        &self,
        job: Job,
        answered: oneshot::Receiver<Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Task("the database thread has stopped".into()))?;
        answered.await.map_err(|_| {
            StoreError::Task("the database thread dropped a call (it panicked)".into())
        })?
    }
}

/// Runs `work` in a savepoint of `tx`: kept if it succeeds, rolled back alone
/// if it fails.
fn in_savepoint<T>(
    tx: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    tx.execute_batch("SAVEPOINT report")?;
    match work(tx) {
        Ok(value) => {
            tx.execute_batch("RELEASE report")?;
            Ok(value)
        }
        Err(err) => {
            tx.execute_batch("ROLLBACK TO report; RELEASE report")?;
            Err(err)
        }
    }
}

/// Takes what is queued: the batched writes go into one transaction, then the
/// calls run, each alone. A call does not end the batch it arrived in (a
/// report's certificate check comes just before it), or every report would
/// get a transaction and a sync of its own.
fn run(mut connection: Connection, queue: mpsc::Receiver<Job>) {
    let mut batch: Vec<Batched> = Vec::new();
    let mut calls: Vec<Call> = Vec::new();
    while let Ok(first) = queue.recv() {
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Call(call) => calls.push(call),
                Job::Batched(work) => batch.push(work),
            }
            if batch.len() >= MAX_BATCH || calls.len() >= MAX_BATCH {
                break;
            }
            next = queue.try_recv().ok();
        }
        commit_batch(&mut connection, &mut batch);
        for call in calls.drain(..) {
            if catch_unwind(AssertUnwindSafe(|| call(&mut connection))).is_err() {
                error!("a database call panicked; its caller gets an error");
            }
        }
    }
}

/// Runs the queued writes in one transaction and answers them.
fn commit_batch(connection: &mut Connection, batch: &mut Vec<Batched>) {
    if batch.is_empty() {
        return;
    }
    let jobs = std::mem::take(batch);
    let tx = match connection.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(err) => {
            let message = err.to_string();
            error!(error = %message, writes = jobs.len(), "cannot start a database transaction; the reports and delivery outcomes waiting for it are refused (agents send their reports again, deliveries are retried after their lease)");
            for job in jobs {
                job(Err(&message))(None);
            }
            return;
        }
    };
    let mut answers = Vec::with_capacity(jobs.len());
    for job in jobs {
        match catch_unwind(AssertUnwindSafe(|| job(Ok(&tx)))) {
            Ok(answer) => answers.push(answer),
            Err(_) => {
                error!(
                    "a batched write (a report or a delivery outcome) panicked; its caller gets an error"
                );
                // Its savepoint may still be open: undo what it wrote.
                let _ = tx.execute_batch("ROLLBACK TO report; RELEASE report");
            }
        }
    }
    let commit_error = tx.commit().err().map(|err| err.to_string());
    if let Some(err) = &commit_error {
        error!(error = %err, writes = answers.len(), "a batch of writes did not commit; each is refused (agents send their reports again, deliveries are retried after their lease)");
    }
    for answer in answers {
        answer(commit_error.as_deref());
    }
}
