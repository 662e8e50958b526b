//! The outbox worker: claims due outbox rows, maps each alert event through the
//! ticket policy to a connector operation, and records the result.
//!
//! - `opened` (or `escalated` of an alert without a ticket whose new severity's
//!   policy opens one): join a ticket of the same device within the policy's
//!   grouping window, or `find_open` by the correlation key and `open` only if
//!   nothing is found. The reference is stored on the alert in the same
//!   transaction that ends the outbox row.
//! - `escalated`, `deescalated`, `flapping`, `reminder`: a comment.
//! - `resolved`: resolve, unless other alerts on a grouped ticket are still
//!   firing, the policy says `resolve_on_recovery = false`, or a technician has
//!   worked the ticket; then a comment only.
//!
//! Per alert, events are delivered in order (the claim hands out no row while
//! an earlier one of its alert is undelivered); different alerts in parallel. Retryable errors back off
//! exponentially with jitter and honour `Retry-After`; permanent ones end the
//! row as `failed` with its error. Work older than `max_delivery_age_secs`, or a
//! permanent failure not followed by a success, raises the collector's own
//! "ticketing is failing" alert. Semantics: `docs/tickets.md`.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn};

use super::config::{BuildError, PolicyMatch, TicketsConfig};
use super::metrics::{DeliveryResult, TicketMetrics};
use super::template::TemplateError;
use super::{AlertSummary, Connector, ConnectorError, DeviceFacts, Severity, TicketRef};
use crate::alerts::notification::Notification;
use crate::rules::conditions::section;
use crate::rules::{Event, RuleId};
use crate::store::ledger::{LinkedTicket, NewTicket, TicketClose};
use crate::store::outbox::OutboxEvent;
use crate::store::{Store, StoreError};

/// Rows claimed per round.
const BATCH: usize = 32;

/// Deliveries in flight at once, so a burst does not flood the ticket system.
const PARALLEL: usize = 8;

/// Why one outbox row was not delivered.
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    #[error("template: {0}")]
    Template(#[from] TemplateError),
    #[error("connector {0:?} is not configured (any more)")]
    UnknownConnector(String),
    #[error("outbox payload is not understood: {0}")]
    Payload(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DeliveryError {
    fn is_retryable(&self) -> bool {
        match self {
            Self::Connector(e) => e.is_retryable(),
            _ => false,
        }
    }
}

/// The check kind a rule belongs to, as `[[tickets.policies]] checks` names it.
fn check_name(rule: RuleId) -> &'static str {
    section(rule).name()
}

/// Seconds until the next attempt after `attempts` failed ones: `min_secs`
/// doubling per attempt up to `max_secs`, with "equal jitter" (half fixed, half
/// random: `jitter` in 0..1) so a fleet's retries spread out, and never before
/// the `Retry-After` the system asked for.
pub fn retry_delay_secs(
    attempts: u32,
    min_secs: u64,
    max_secs: u64,
    retry_after: Option<Duration>,
    jitter: f64,
) -> u64 {
    let exponent = attempts.saturating_sub(1).min(32);
    let backoff = min_secs.saturating_mul(1u64 << exponent).min(max_secs);
    let jittered = backoff / 2 + ((backoff - backoff / 2) as f64 * jitter.clamp(0.0, 1.0)) as u64;
    let asked = retry_after.map_or(0, |d| d.as_secs() + u64::from(d.subsec_nanos() > 0));
    jittered.max(asked).max(1)
}

/// What the worker knows about recent outcomes, for the failing alert.
#[derive(Debug, Default)]
struct Health {
    last_success_at: Option<i64>,
    /// The last permanent failure: when, and what.
    last_permanent: Option<(i64, String)>,
    last_error: Option<String>,
}

/// Drives the connectors from the outbox. Build once per collector.
pub struct TicketWorker {
    store: Arc<dyn Store>,
    config: Arc<TicketsConfig>,
    connectors: BTreeMap<String, Arc<dyn Connector>>,
    metrics: Arc<TicketMetrics>,
    wake: Arc<Notify>,
    health: Mutex<Health>,
    jitter: fn() -> f64,
}

impl std::fmt::Debug for TicketWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketWorker")
            .field("connectors", &self.connectors.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn random_jitter() -> f64 {
    rand::random::<f64>()
}

impl TicketWorker {
    /// Builds every configured connector (reading their secrets).
    pub fn from_config(
        config: Arc<TicketsConfig>,
        store: Arc<dyn Store>,
        metrics: Arc<TicketMetrics>,
    ) -> Result<Self, BuildError> {
        let mut connectors = BTreeMap::new();
        for (name, connector) in &config.connectors {
            connectors.insert(name.clone(), Arc::from(connector.build(name)?));
        }
        Ok(Self::with_connectors(config, store, connectors, metrics))
    }

    /// A worker over connectors built elsewhere (tests use recording ones).
    pub fn with_connectors(
        config: Arc<TicketsConfig>,
        store: Arc<dyn Store>,
        connectors: BTreeMap<String, Arc<dyn Connector>>,
        metrics: Arc<TicketMetrics>,
    ) -> Self {
        Self {
            store,
            config,
            connectors,
            metrics,
            wake: Arc::new(Notify::new()),
            health: Mutex::new(Health::default()),
            jitter: random_jitter,
        }
    }

    /// Replaces the random jitter (0..1) of retry delays, for tests.
    pub fn with_jitter(mut self, jitter: fn() -> f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// Wakes the worker before its next poll (ingest calls this after a report).
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Delivers until `shutdown` completes: a round right away after a busy
    /// one, otherwise after `poll_interval_ms` or when woken.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let idle = Duration::from_millis(self.config.poll_interval_ms);
        loop {
            let busy = match self.run_once(crate::clock::now_unix()).await {
                Ok(n) => n > 0,
                Err(err) => {
                    warn!(error = %err, "ticket worker cannot read the outbox; retrying");
                    false
                }
            };
            if busy {
                tokio::select! {
                    biased;
                    () = &mut shutdown => return,
                    () = std::future::ready(()) => {}
                }
            } else {
                tokio::select! {
                    () = &mut shutdown => return,
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(idle) => {}
                }
            }
        }
    }

    /// One round at `now`: claims due rows (at most one per alert), delivers
    /// them in parallel, then updates the failing alert. With a grouping window
    /// configured, one device's rows go one after the other, so a second alert
    /// sees the ticket the first one opened. Returns the number of rows claimed.
    pub async fn run_once(self: &Arc<Self>, now: i64) -> Result<usize, StoreError> {
        let batch = self
            .store
            .claim_outbox(BATCH, self.config.lease_secs, now)
            .await?;
        let claimed = batch.len();
        let per_device = self.config.policies.iter().any(|p| p.group_window_secs > 0);
        let mut chains: BTreeMap<String, Vec<OutboxEvent>> = BTreeMap::new();
        for event in batch {
            let chain = if per_device {
                event
                    .notification
                    .as_ref()
                    .map(|n| n.device_id.clone())
                    .unwrap_or_default()
            } else {
                event.alert_id.to_string()
            };
            chains.entry(chain).or_default().push(event);
        }
        let slots = Arc::new(Semaphore::new(PARALLEL));
        let mut tasks = JoinSet::new();
        for events in chains.into_values() {
            let worker = Arc::clone(self);
            let slots = Arc::clone(&slots);
            tasks.spawn(async move {
                // The semaphore is never closed, so acquiring only waits.
                let _slot = slots.acquire_owned().await;
                for event in events {
                    worker.deliver(event, now).await;
                }
            });
        }
        while let Some(joined) = tasks.join_next().await {
            if let Err(err) = joined {
                error!(error = %err, "ticket delivery task failed");
            }
        }
        self.update_failing_alert(now).await?;
        Ok(claimed)
    }

    async fn deliver(&self, event: OutboxEvent, now: i64) {
        let (connector, outcome) = match self.apply(&event, now).await {
            Ok((connector, result)) => {
                // Only a ticket system that answered shows that delivery works again.
                if result == DeliveryResult::Delivered
                    && let Ok(mut health) = self.health.lock()
                {
                    health.last_success_at = Some(now);
                }
                debug!(outbox_id = event.id, alert_id = event.alert_id, event = %event.event, connector = %connector, result = result.as_str(), "ticket event done");
                (connector, Ok(result))
            }
            Err((connector, err)) => (connector, Err(err)),
        };
        let result = match outcome {
            Ok(result) => result,
            Err(DeliveryError::Store(err)) => {
                // The row stays claimed; the lease hands it out again.
                warn!(outbox_id = event.id, alert_id = event.alert_id, error = %err, "cannot record ticket delivery; will retry after the lease");
                return;
            }
            Err(err) => self.record_failure(&event, &connector, &err, now).await,
        };
        self.metrics.count(&connector, result);
    }

    async fn record_failure(
        &self,
        event: &OutboxEvent,
        connector: &str,
        err: &DeliveryError,
        now: i64,
    ) -> DeliveryResult {
        let message = err.to_string();
        let retry_at = err.is_retryable().then(|| {
            let retry_after = match err {
                DeliveryError::Connector(e) => e.retry_after(),
                _ => None,
            };
            now.saturating_add(
                i64::try_from(retry_delay_secs(
                    event.attempts,
                    self.config.min_retry_secs,
                    self.config.max_retry_secs,
                    retry_after,
                    (self.jitter)(),
                ))
                .unwrap_or(i64::MAX),
            )
        });
        if let Ok(mut health) = self.health.lock() {
            health.last_error = Some(message.clone());
            if retry_at.is_none() {
                health.last_permanent = Some((now, message.clone()));
            }
        }
        match retry_at {
            Some(at) => {
                warn!(outbox_id = event.id, alert_id = event.alert_id, event = %event.event, connector, attempts = event.attempts, retry_in_secs = at - now, error = %message, "ticket operation failed; will retry")
            }
            None => {
                error!(outbox_id = event.id, alert_id = event.alert_id, event = %event.event, connector, attempts = event.attempts, error = %message, "ticket operation failed permanently; not retried")
            }
        }
        if let Err(store_err) = self.store.mark_failed(event.id, &message, retry_at).await {
            warn!(outbox_id = event.id, error = %store_err, "cannot record ticket failure; will retry after the lease");
        }
        if retry_at.is_some() {
            DeliveryResult::Retry
        } else {
            DeliveryResult::Failed
        }
    }

    /// Applies one event; returns the connector name (for metrics) and the result.
    async fn apply(
        &self,
        event: &OutboxEvent,
        now: i64,
    ) -> Result<(String, DeliveryResult), (String, DeliveryError)> {
        let none = || "none".to_string();
        let payload = event
            .notification
            .as_ref()
            .map_err(|e| (none(), DeliveryError::Payload(e.clone())))?;
        let link = self
            .store
            .alert_ticket(event.alert_id)
            .await
            .map_err(|e| (none(), e.into()))?;
        if let Some(link) = &link
            && link.last_event_id >= event.id
        {
            // Applied before a crash that came ahead of marking the row.
            self.store
                .mark_delivered(event.id, now)
                .await
                .map_err(|e| (link.connector.clone(), e.into()))?;
            return Ok((link.connector.clone(), DeliveryResult::Skipped));
        }
        let policy = self.config.policy_for(
            check_name(payload.rule),
            payload.rule.as_str(),
            payload.policy_severity(),
            &payload.group,
        );
        let active = link.filter(|l| !l.alert_resolved);
        let Some(active) = active else {
            let opens = matches!(payload.event, Event::Opened | Event::Escalated);
            return match policy.filter(|_| opens) {
                Some(m) => {
                    let name = m.connector_name.to_owned();
                    self.open(event, payload, m)
                        .await
                        .map(|()| (name.clone(), DeliveryResult::Delivered))
                        .map_err(|e| (name, e))
                }
                None => {
                    self.store
                        .mark_skipped(event.id, now)
                        .await
                        .map_err(|e| (none(), e.into()))?;
                    Ok((none(), DeliveryResult::Skipped))
                }
            };
        };
        let name = active.connector.clone();
        let connector = self.connector(&name).map_err(|e| (name.clone(), e))?;
        let resolve_on_recovery = policy.is_none_or(|m| m.policy.resolve_on_recovery);
        let result = if payload.event == Event::Resolved {
            self.resolve(
                event,
                payload,
                connector.as_ref(),
                &active,
                resolve_on_recovery,
                now,
            )
            .await
        } else {
            self.comment(event, payload, connector.as_ref(), &active.reference, now)
                .await
        };
        result
            .map(|()| (name.clone(), DeliveryResult::Delivered))
            .map_err(|e| (name, e))
    }

    fn connector(&self, name: &str) -> Result<Arc<dyn Connector>, DeliveryError> {
        self.connectors
            .get(name)
            .cloned()
            .ok_or_else(|| DeliveryError::UnknownConnector(name.to_owned()))
    }

    /// Opens (or finds, or joins) the ticket of a new alert episode.
    async fn open(
        &self,
        event: &OutboxEvent,
        payload: &Notification,
        m: PolicyMatch<'_>,
    ) -> Result<(), DeliveryError> {
        let connector = self.connector(m.connector_name)?;
        let alert = self.alert_summary(payload);
        let window = i64::try_from(m.policy.group_window_secs).unwrap_or(i64::MAX);
        if window > 0
            && let Some(shared) = self
                .store
                .device_open_ticket(
                    &payload.device_id,
                    m.connector_name,
                    payload.at.saturating_sub(window),
                )
                .await?
        {
            let text = format!(
                "Forewarn: another alert on {}: [{}] {}\nAlert key: {}",
                alert.device.hostname, alert.severity, payload.summary, alert.correlation_key
            );
            connector.comment(&shared.reference, &text).await?;
            self.store
                .link_to_ticket(event.alert_id, event.id, shared.ticket_id, payload.at)
                .await?;
            info!(alert_id = event.alert_id, ticket = %shared.reference.id, connector = m.connector_name, "alert joined a ticket of the same device (grouping window)");
            return Ok(());
        }
        let request = m.request(&alert)?;
        let reference = match connector.find_open(&alert.correlation_key).await? {
            Some(found) => {
                info!(alert_id = event.alert_id, ticket = %found.id, connector = m.connector_name, "found an open ticket for this alert; not opening another");
                found
            }
            None => {
                let opened = connector.open(&request).await?;
                info!(alert_id = event.alert_id, ticket = %opened.id, connector = m.connector_name, "ticket opened");
                opened
            }
        };
        self.store
            .store_new_ticket(
                event.alert_id,
                event.id,
                NewTicket {
                    connector: m.connector_name.to_owned(),
                    device_id: payload.device_id.clone(),
                    correlation_key: alert.correlation_key,
                    reference,
                },
                payload.at,
            )
            .await?;
        Ok(())
    }

    async fn comment(
        &self,
        event: &OutboxEvent,
        payload: &Notification,
        connector: &dyn Connector,
        ticket: &TicketRef,
        now: i64,
    ) -> Result<(), DeliveryError> {
        let severity = |s: Option<Severity>| s.map_or("clear".to_string(), |s| s.to_string());
        let text = match payload.event {
            Event::Escalated => format!(
                "Forewarn: severity rose from {} to {}: {}",
                severity(payload.previous_severity),
                severity(payload.severity),
                payload.summary
            ),
            Event::Deescalated => format!(
                "Forewarn: severity fell from {} to {}: {}",
                severity(payload.previous_severity),
                severity(payload.severity),
                payload.summary
            ),
            Event::Flapping => format!(
                "Forewarn: this alert keeps changing state (flapping); updates are held until it settles. Now: {}",
                payload.summary
            ),
            Event::Opened => format!("Forewarn: the alert fired again: {}", payload.summary),
            Event::Resolved | Event::Reminder => format!(
                "Forewarn: still {}: {}",
                severity(payload.severity),
                payload.summary
            ),
        };
        connector.comment(ticket, &text).await?;
        self.store
            .record_ticket_event(event.alert_id, event.id, false, None, now)
            .await?;
        Ok(())
    }

    async fn resolve(
        &self,
        event: &OutboxEvent,
        payload: &Notification,
        connector: &dyn Connector,
        link: &LinkedTicket,
        resolve_on_recovery: bool,
        now: i64,
    ) -> Result<(), DeliveryError> {
        let ticket = &link.reference;
        let cleared = format!("Forewarn: the alert has cleared: {}", payload.summary);
        let others = self
            .store
            .other_open_alerts(link.ticket_id, event.alert_id)
            .await?;
        let close = if others > 0 {
            let text = format!(
                "{cleared}\nStill firing on this ticket: {others} other alert(s); it is resolved when they clear."
            );
            connector.comment(ticket, &text).await?;
            None
        } else if !resolve_on_recovery {
            let text = format!(
                "{cleared}\nThe ticket is left open: this policy does not resolve tickets on recovery."
            );
            connector.comment(ticket, &text).await?;
            Some(TicketClose::LeftOpen)
        } else if connector.worked_by_human(ticket).await? {
            let text =
                format!("{cleared}\nThe ticket is left open because a technician has worked it.");
            connector.comment(ticket, &text).await?;
            info!(alert_id = event.alert_id, ticket = %ticket.id, "alert cleared; ticket left open for the technician working it");
            Some(TicketClose::LeftOpen)
        } else {
            connector.resolve(ticket, &cleared).await?;
            info!(alert_id = event.alert_id, ticket = %ticket.id, "ticket resolved on recovery");
            Some(TicketClose::Resolved)
        };
        self.store
            .record_ticket_event(event.alert_id, event.id, true, close, now)
            .await?;
        Ok(())
    }

    /// The alert as templates see it, with the device facts the notification
    /// carries from the device's last report.
    fn alert_summary(&self, payload: &Notification) -> AlertSummary {
        let device = match &payload.device {
            Some(details) => DeviceFacts {
                hostname: details.hostname.clone(),
                os: details.os.clone(),
                model: details.model.clone(),
                serial: details.serial.clone(),
                user: details.user.clone(),
            },
            None => DeviceFacts {
                hostname: payload.hostname.clone(),
                ..DeviceFacts::default()
            },
        };
        let time = |t: i64| {
            time::OffsetDateTime::from_unix_timestamp(t)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_else(|| t.to_string())
        };
        let mut last_values = Vec::new();
        if let Some(value) = payload.value {
            last_values.push(("value".to_string(), format!("{value}")));
        }
        if let Some(threshold) = payload.threshold {
            last_values.push(("threshold".to_string(), format!("{threshold}")));
        }
        last_values.push(("first seen".to_string(), time(payload.first_seen)));
        last_values.push(("reported".to_string(), time(payload.at)));
        AlertSummary {
            correlation_key: payload.correlation_key(),
            rule: payload.rule.as_str().to_owned(),
            subject: payload.subject.clone(),
            severity: payload.policy_severity(),
            summary: payload.summary.clone(),
            last_values,
            device,
            device_url: self.config.dashboard_url.as_ref().map(|base| {
                format!(
                    "{}/devices/{}",
                    base.trim_end_matches('/'),
                    payload.device_id
                )
            }),
        }
    }

    /// Raises or clears the collector's "ticketing is failing" alert.
    async fn update_failing_alert(&self, now: i64) -> Result<(), StoreError> {
        let (undelivered, oldest_undelivered_at) = self.store.outbox_backlog().await?;
        let max_age = i64::try_from(self.config.max_delivery_age_secs).unwrap_or(i64::MAX);
        let (last_error, permanent) = match self.health.lock() {
            Ok(health) => (
                health.last_error.clone(),
                health
                    .last_permanent
                    .clone()
                    .filter(|(at, _)| health.last_success_at.is_none_or(|ok| ok < *at)),
            ),
            Err(_) => (None, None),
        };
        let overdue = oldest_undelivered_at
            .map(|oldest| now.saturating_sub(oldest))
            .filter(|age| *age > max_age);
        let summary = match (overdue, permanent) {
            (Some(age), _) => Some(format!(
                "{undelivered} ticket operation(s) undelivered, the oldest for {age} s (limit {max_age} s); last error: {}",
                last_error.as_deref().unwrap_or("none recorded since start")
            )),
            (None, Some((_, message))) => Some(format!(
                "a ticket operation failed and will not be retried: {message}"
            )),
            (None, None) => None,
        };
        let failing = summary.is_some();
        if self
            .store
            .set_ticketing_failing(summary.clone(), now)
            .await?
        {
            match &summary {
                Some(summary) => error!(summary = %summary, "ticketing is failing"),
                None => info!("ticketing recovered"),
            }
        }
        self.metrics.set_failing(failing);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_up_to_the_maximum_with_jitter_in_the_upper_half() {
        assert_eq!(retry_delay_secs(1, 5, 600, None, 1.0), 5);
        assert_eq!(retry_delay_secs(2, 5, 600, None, 1.0), 10);
        assert_eq!(retry_delay_secs(4, 5, 600, None, 1.0), 40);
        assert_eq!(retry_delay_secs(4, 5, 600, None, 0.0), 20);
        assert_eq!(retry_delay_secs(30, 5, 600, None, 1.0), 600);
        assert_eq!(retry_delay_secs(200, 5, 600, None, 0.0), 300);
    }

    #[test]
    fn retry_after_is_honoured_when_longer_than_the_backoff() {
        let after = Some(Duration::from_secs(120));
        assert_eq!(retry_delay_secs(1, 5, 600, after, 0.5), 120);
        assert_eq!(retry_delay_secs(10, 5, 600, after, 1.0), 600);
        // A fractional Retry-After rounds up: never earlier than asked.
        assert_eq!(
            retry_delay_secs(1, 1, 1, Some(Duration::from_millis(2500)), 0.0),
            3
        );
    }

    #[test]
    fn rules_map_to_their_check_kind() {
        assert_eq!(check_name(RuleId::BackupFailed), "backups");
        assert_eq!(check_name(RuleId::DiskFreePercent), "disks");
        assert_eq!(check_name(RuleId::OfflineMinutes), "device");
        assert_eq!(check_name(RuleId::TicketingFailing), "collector");
    }
}
