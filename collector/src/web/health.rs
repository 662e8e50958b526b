//! `GET /healthz` and `GET /readyz`, unauthenticated, for load balancers
//! and orchestrators.
//!
//! - `/healthz` (live): 200 while the process serves HTTP at all.
//! - `/readyz`: 200 only when the database answers (within
//!   [`DATABASE_TIMEOUT`]), the agent listener is serving and the ticket
//!   worker's loop is running; otherwise 503. Both bodies are JSON naming
//!   each part and, for one that is not ready, why.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::store::Store;

/// A database slower than this to answer `SELECT 1` is not ready.
pub const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the serving tasks report about themselves.
#[derive(Debug, Default)]
pub struct Readiness {
    agent_listener: Arc<AtomicBool>,
    ticket_worker: Arc<AtomicBool>,
}

/// Sets a flag while alive; clears it when dropped (the task ended or panicked).
struct Alive(Arc<AtomicBool>);

impl Alive {
    fn new(flag: &Arc<AtomicBool>) -> Self {
        flag.store(true, Ordering::SeqCst);
        Self(Arc::clone(flag))
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl Readiness {
    /// Runs the agent server, counted as serving until it ends.
    pub async fn agent_listener<F: Future>(&self, server: F) -> F::Output {
        let _alive = Alive::new(&self.agent_listener);
        server.await
    }

    /// Runs the ticket worker, counted as alive until its loop ends.
    pub async fn ticket_worker<F: Future>(&self, worker: F) -> F::Output {
        let _alive = Alive::new(&self.ticket_worker);
        worker.await
    }
}

/// One part's readiness: `None` when ready, else why not.
pub type Part = (&'static str, Option<String>);

/// The status and JSON body of `/readyz` for these parts.
pub fn readiness_answer(parts: &[Part]) -> (StatusCode, Value) {
    let ready = parts.iter().all(|(_, problem)| problem.is_none());
    let checks: serde_json::Map<String, Value> = parts
        .iter()
        .map(|(name, problem)| {
            let value = match problem {
                None => json!({"ready": true}),
                Some(why) => json!({"ready": false, "problem": why}),
            };
            ((*name).to_owned(), value)
        })
        .collect();
    let not_ready: Vec<&str> = parts
        .iter()
        .filter(|(_, problem)| problem.is_some())
        .map(|(name, _)| *name)
        .collect();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        json!({"ready": ready, "not_ready": not_ready, "checks": checks}),
    )
}

pub async fn healthz() -> Json<Value> {
    Json(json!({"live": true}))
}

pub async fn readyz(store: &dyn Store, readiness: &Readiness) -> (StatusCode, Json<Value>) {
    let database = match tokio::time::timeout(DATABASE_TIMEOUT, store.ping()).await {
        Ok(Ok(())) => None,
        Ok(Err(err)) => Some(format!("the database does not answer: {err}")),
        Err(_) => Some(format!(
            "the database did not answer within {} s",
            DATABASE_TIMEOUT.as_secs()
        )),
    };
    let flag = |flag: &AtomicBool, problem: &str| {
        (!flag.load(Ordering::SeqCst)).then(|| problem.to_owned())
    };
    let parts = [
        ("database", database),
        (
            "agent_listener",
            flag(
                &readiness.agent_listener,
                "the agent port is not serving (starting, or its server stopped: see the collector's log)",
            ),
        ),
        (
            "ticket_worker",
            flag(
                &readiness.ticket_worker,
                "the ticket worker is not running (starting, or it stopped: see the collector's log)",
            ),
        ),
    ];
    let (status, body) = readiness_answer(&parts);
    (status, Json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_part_is() {
        let (status, body) = readiness_answer(&[("database", None), ("ticket_worker", None)]);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["not_ready"], json!([]));
        let (status, body) =
            readiness_answer(&[("database", Some("locked".into())), ("ticket_worker", None)]);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["not_ready"], json!(["database"]));
        assert_eq!(body["checks"]["database"]["problem"], "locked");
        assert_eq!(body["checks"]["ticket_worker"]["ready"], true);
    }

    #[tokio::test]
    async fn a_task_counts_as_alive_until_it_ends() {
        let readiness = Readiness::default();
        assert!(!readiness.ticket_worker.load(Ordering::SeqCst));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let flag = Arc::clone(&readiness.ticket_worker);
        let task = async { readiness.ticket_worker(async { rx.await.ok() }).await };
        let check = async {
            tokio::task::yield_now().await;
            let alive = flag.load(Ordering::SeqCst);
            tx.send(()).unwrap();
            alive
        };
        let (_, alive) = tokio::join!(task, check);
        assert!(alive);
        assert!(!flag.load(Ordering::SeqCst));
    }
}
