//! Cluster-wide singletons (the sweeper, retention): the collector that
//! holds a session advisory lock runs the job. The lock lives on a
//! connection of its own, outside the pool, held as long as the store is;
//! when the holder's process dies or its connection breaks, PostgreSQL
//! releases the lock, and the next collector to ask takes it over.

use std::collections::HashMap;

use tokio::sync::Mutex;
use tracing::{info, warn};

use super::connect::Target;
use crate::store::{Singleton, StoreError};

/// The lock connections this store holds, one per job.
#[derive(Default)]
pub struct Leases {
    held: Mutex<HashMap<Singleton, tokio_postgres::Client>>,
}

impl Leases {
    /// Whether this store holds `job`'s lock now: keeps it while its
    /// connection answers, else tries to take it on a fresh connection.
    pub async fn hold(&self, target: &Target, job: Singleton) -> Result<bool, StoreError> {
        let mut held = self.held.lock().await;
        if let Some(client) = held.get(&job) {
            if !client.is_closed() && client.simple_query("SELECT 1").await.is_ok() {
                return Ok(true);
            }
            warn!(
                job = job.as_str(),
                database = %target.location,
                "lost the connection holding this collector's lock on the job; another collector may take it over"
            );
            held.remove(&job);
        }
        let client = connect(target).await?;
        let taken: bool = client
            .query_one(
                "SELECT pg_try_advisory_lock(hashtextextended(current_schema() || '/singleton/' || $1, 0))",
                &[&job.as_str()],
            )
            .await?
            .get(0);
        if taken {
            info!(job = job.as_str(), database = %target.location, "this collector now runs the job");
            held.insert(job, client);
        }
        Ok(taken)
    }
}

/// A connection outside the pool, its driver task on the runtime; it ends
/// when the client is dropped.
async fn connect(target: &Target) -> Result<tokio_postgres::Client, StoreError> {
    let open_error = |err: tokio_postgres::Error| StoreError::Open {
        location: target.location.clone(),
        source: Box::new(err),
    };
    let client = match &target.tls {
        Some(tls) => {
            let (client, connection) = target
                .config
                .connect(tls.clone())
                .await
                .map_err(open_error)?;
            tokio::spawn(connection);
            client
        }
        None => {
            let (client, connection) = target
                .config
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(open_error)?;
            tokio::spawn(connection);
            client
        }
    };
    Ok(client)
}
