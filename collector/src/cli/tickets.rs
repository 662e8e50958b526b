//! Ticket commands for operators: `tickets test` checks a connector's address,
//! credentials and rights without creating anything; `tickets failed` lists the
//! ticket operations the worker gave up on, with their errors; `tickets
//! retry-failed` hands them to the worker again once the cause is fixed (a new
//! token, a granted right).
//!
//! Only the newest event of an alert is retried: when later events of the alert
//! were handled since, the failed one is history (retrying a given-up `opened`
//! of an alert that has since recovered would open a ticket nobody resolves).

use std::io::Write;
use std::path::Path;

use clap::Subcommand;

use super::{AdminError, format_time};
use crate::clock::now_unix;
use crate::config::CollectorConfig;
use crate::store::outbox::OutboxState;
use crate::store::{self, Store};
use crate::tickets::access;

#[derive(Debug, Subcommand)]
pub enum TicketsCommand {
    /// Check a connector's address, credentials and permissions without
    /// creating anything; prints each problem and exits non-zero if any.
    Test {
        /// Connector name, as in `[tickets.connectors.NAME]`.
        #[arg(long)]
        connector: String,
    },
    /// List the ticket operations the worker gave up on, with their errors.
    Failed,
    /// Queue the given-up operations again (each alert's newest only), e.g.
    /// after fixing a token; the running collector picks them up.
    RetryFailed,
}

pub async fn run(
    command: TicketsCommand,
    config_path: &Path,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let config = CollectorConfig::load(config_path)?;
    match command {
        TicketsCommand::Test { connector } => test_connector(&config, &connector, out).await?,
        TicketsCommand::Failed => {
            list_failed(store::open(&config.store_config()).await?.as_ref(), out).await?;
        }
        TicketsCommand::RetryFailed => {
            let store = store::open(&config.store_config()).await?;
            retry_failed(store.as_ref(), now_unix(), out).await?;
        }
    }
    Ok(())
}

/// `tickets test`: every problem on its own line, and an error when there is any.
pub async fn test_connector(
    config: &CollectorConfig,
    name: &str,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let problems = access::test_connector(&config.tickets, name).await;
    if !problems.is_empty() {
        for problem in &problems {
            writeln!(out, "problem: {problem}")?;
        }
        return Err(AdminError::ConnectorNotReady {
            name: name.to_owned(),
            problems: problems.len(),
        });
    }
    writeln!(
        out,
        "connector {name:?}: address, credentials and permissions are fine"
    )?;
    Ok(())
}

pub async fn list_failed(store: &dyn Store, out: &mut impl Write) -> Result<(), AdminError> {
    writeln!(
        out,
        "{:<8} {:<8} {:<12} {:<8} {:<20} ERROR",
        "ROW", "ALERT", "EVENT", "TRIES", "CREATED"
    )?;
    for row in store.outbox_in_state(OutboxState::Failed).await? {
        writeln!(
            out,
            "{:<8} {:<8} {:<12} {:<8} {:<20} {}",
            row.id,
            row.alert_id,
            row.event,
            row.attempts,
            format_time(row.created_at),
            row.last_error.as_deref().unwrap_or("-")
        )?;
    }
    Ok(())
}

pub async fn retry_failed(
    store: &dyn Store,
    now: i64,
    out: &mut impl Write,
) -> Result<u64, AdminError> {
    let failed = store.outbox_in_state(OutboxState::Failed).await?.len();
    let requeued = store.requeue_failed(now).await?;
    writeln!(
        out,
        "{requeued} failed ticket operation(s) queued again; {} left as history (later events of their alerts were handled)",
        failed as u64 - requeued.min(failed as u64)
    )?;
    Ok(requeued)
}
