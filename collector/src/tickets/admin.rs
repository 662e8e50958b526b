//! Ticket commands for operators: `tickets failed` lists the ticket operations
//! the worker gave up on, with their errors; `tickets retry-failed` hands them
//! to the worker again once the cause is fixed (a new token, a granted right).
//!
//! Only the newest event of an alert is retried: when later events of the alert
//! were handled since, the failed one is history (retrying a given-up `opened`
//! of an alert that has since recovered would open a ticket nobody resolves).

use std::io::Write;

use crate::admin::{AdminError, format_time};
use crate::store::Store;
use crate::store::outbox::OutboxState;

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
