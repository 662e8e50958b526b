//! `forewarn-agent run`: collect on an interval, deliver, spool, renew.
//!
//! Collection and delivery are separate clocks. A report is collected every
//! policy interval (jittered) and sent at once; only when it cannot be
//! delivered is it spooled, so a reachable collector costs no disk writes.
//! After a failure, delivery retries the spool oldest first with
//! exponential backoff instead of on every collection; while the collector
//! cannot be reached at all, a bare TCP connection every few seconds tells
//! when it is back, and delivery resumes then rather than at the end of the
//! backoff. Certificates are renewed after two thirds of their lifetime.
//! The loop never exits on a collector or disk problem, only on shutdown.

use std::future::Future;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};
use tonic::Code;
use tracing::{debug, error, info, warn};

use forewarn_proto::pb;

use crate::backoff::{Backoff, jittered};
use crate::checks::{CheckSet, Collection};
use crate::config::AgentConfig;
use crate::enroll::{EnrollError, certificate_request};
use crate::last_delivery::DeliveryRecorder;
use crate::report::{EncodedReport, Reporter};
use crate::spool::Spool;
use crate::state::{DeviceIdentity, EnrolledState, Sequence, StateDir, StateError};
use crate::transport::{self, CollectorAddress, TransportError, describe};
use crate::trigger::ReportTrigger;

const RETRY_INITIAL: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(300);
/// How often an unreachable collector is checked for with a bare TCP connection.
const REACHABILITY_INTERVAL: Duration = Duration::from_secs(5);
/// How long that check waits for the connection.
const REACHABILITY_TIMEOUT: Duration = Duration::from_secs(3);
/// Wait after a watched file changes, so a burst of changes makes one report.
const TRIGGER_DEBOUNCE: Duration = Duration::from_millis(300);
/// Longest the first report waits after start, so a fleet rebooted together spreads out.
const STARTUP_SPREAD: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Why a delivery round stopped early.
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error("collector unreachable: {0}")]
    Unreachable(String),
    #[error("collector failing: {0}")]
    Unavailable(String),
    #[error("collector does not accept this device: {0}")]
    NotAccepted(String),
    /// PERMISSION_DENIED: the collector's answer for a retired device.
    #[error("{0}")]
    Retired(String),
}

struct Agent {
    state_dir: StateDir,
    enrolled: EnrolledState,
    /// Host and port of the collector, for the reachability check.
    address: Option<CollectorAddress>,
    /// When the device certificate is due for renewal (Unix seconds).
    renew_at: i64,
    spool: Spool,
    sequence: Sequence,
    checks: CheckSet,
    reporter: Reporter,
    /// Writes `last-delivery.json` for `status` when it has news.
    recorder: DeliveryRecorder,
    policy: pb::Policy,
    client: Client,
    /// The newest report, collected and neither delivered nor spooled yet (or
    /// not spoolable: disk full); sent after the spool.
    current: Option<EncodedReport>,
    /// Spooled reports delivered since the spool last filled, logged once it is empty.
    delivered_from_spool: usize,
    /// Drawn at each start and sent in every report, so the collector tells a
    /// restarted numbering (restored or unwritable state) from a replay.
    boot_id: u64,
}

/// The collector's calls, over one channel.
struct Client {
    /// The generated client, for renewal.
    ingest: transport::Ingest,
    /// Reports, sent as encoded once.
    reports: transport::ReportSender,
}

/// Where delivery stands between attempts.
#[derive(Debug)]
struct Delivery {
    backoff: Backoff,
    /// When to try the spool again; None when nothing waits.
    next_attempt: Option<Instant>,
    /// When to check whether an unreachable collector is back; None when it is not unreachable.
    next_reachability_check: Option<Instant>,
    /// Whether a reachability check failed since the last attempt: a later
    /// check that succeeds means the collector came back.
    seen_down: bool,
}

pub async fn run(config: AgentConfig, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let (_keep, configs) = tokio::sync::watch::channel(config);
    run_reloadable(configs, shutdown).await
}

/// [`run`], taking each new config sent on `configs` (checks and spool bounds; the state directory stays).
pub async fn run_reloadable(
    mut configs: tokio::sync::watch::Receiver<AgentConfig>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let config = configs.borrow_and_update().clone();
    let state_dir = StateDir::new(&config.state_dir);
    let enrolled = state_dir.load()?;
    let spool = Spool::open(state_dir.spool_dir(), config.spool.clone())?;
    let sequence = state_dir.sequence(spool.max_seq())?;
    let client = connect(&enrolled)?;
    let trigger = ReportTrigger::default();
    let mut agent = Agent {
        policy: state_dir.load_policy(),
        address: CollectorAddress::parse(&enrolled.enrollment.collector_url).ok(),
        renew_at: enrolled.identity.renewal_at(),
        boot_id: rand::random::<u64>().max(1),
        checks: CheckSet::from_config(&config.checks, &state_dir, &trigger, Collection::Continuous),
        reporter: Reporter::default(),
        recorder: DeliveryRecorder::default(),
        state_dir,
        enrolled,
        spool,
        sequence,
        client,
        current: None,
        delivered_from_spool: 0,
    };
    info!(
        device_id = %agent.enrolled.enrollment.device_id,
        collector = %agent.enrolled.enrollment.collector_url,
        "agent running"
    );
    let mut delivery = Delivery {
        backoff: Backoff::new(RETRY_INITIAL, RETRY_MAX),
        next_attempt: (!agent.spool.is_empty()).then(Instant::now),
        next_reachability_check: None,
        seen_down: false,
    };
    let mut next_collect = Instant::now() + STARTUP_SPREAD.mul_f64(rand::random::<f64>());
    tokio::pin!(shutdown);
    loop {
        let wake = [delivery.next_attempt, delivery.next_reachability_check]
            .into_iter()
            .flatten()
            .fold(next_collect, Instant::min);
        tokio::select! {
            () = &mut shutdown => break,
            () = sleep_until(wake) => {}
            () = trigger.fired() => {
                // Coalesce a burst of file changes into one report.
                next_collect = next_collect.min(Instant::now() + TRIGGER_DEBOUNCE);
                continue;
            }
            Ok(()) = configs.changed() => {
                let config = configs.borrow_and_update().clone();
                agent.apply(&config, &trigger);
                // Show the new settings' effect without waiting a whole interval.
                next_collect = next_collect.min(Instant::now() + TRIGGER_DEBOUNCE);
                continue;
            }
        }
        let now = Instant::now();
        if now >= next_collect {
            agent.renew_if_due().await;
            agent.collect().await;
            next_collect = now + jittered(agent.interval());
            if delivery.backoff.is_idle() {
                delivery.next_attempt = Some(now);
            } else if let Err(err) = agent.spool_current() {
                warn!(error = %err, "cannot spool report; keeping the newest in memory");
            }
        }
        if delivery.next_reachability_check.is_some_and(|at| now >= at) {
            agent.check_reachability(&mut delivery, now).await;
        }
        if delivery.next_attempt.is_some_and(|at| now >= at) {
            match agent.deliver().await {
                Ok(()) => {
                    delivery.backoff.reset();
                    delivery.next_attempt = None;
                    delivery.next_reachability_check = None;
                }
                Err(DeliveryError::Retired(reason)) => {
                    // Retrying can never succeed: say so once and wait to be stopped
                    // (exiting would only make launchd or the service manager restart us).
                    error!(
                        device_id = %agent.enrolled.enrollment.device_id,
                        collector = %agent.enrolled.enrollment.collector_url,
                        reason = %reason,
                        "the collector has retired this device; this agent stops sending reports. \
                         To report again as a new device: forewarn-agent uninstall --purge, then install with a new token"
                    );
                    (&mut shutdown).await;
                    break;
                }
                Err(err) => {
                    let delay = delivery.backoff.next_delay();
                    delivery.next_attempt = Some(now + delay);
                    delivery.seen_down = false;
                    match &err {
                        DeliveryError::NotAccepted(_) | DeliveryError::Retired(_) => {
                            error!(error = %err, retry_in_secs = delay.as_secs(), "report not accepted")
                        }
                        DeliveryError::Unreachable(_) => {
                            if agent.address.is_some() {
                                delivery.next_reachability_check =
                                    Some(now + REACHABILITY_INTERVAL);
                            }
                            warn!(
                                error = %err,
                                retry_in_secs = delay.as_secs(),
                                checking_every_secs = REACHABILITY_INTERVAL.as_secs(),
                                "report not delivered; sending as soon as the collector is back"
                            )
                        }
                        DeliveryError::Unavailable(_) => {
                            delivery.next_reachability_check = None;
                            warn!(error = %err, retry_in_secs = delay.as_secs(), "report not delivered")
                        }
                    }
                }
            }
        }
    }
    info!("agent stopped");
    Ok(())
}

fn connect(enrolled: &EnrolledState) -> Result<Client, TransportError> {
    let channel = transport::channel(
        &enrolled.enrollment.collector_url,
        &enrolled.enrollment.server_name,
        &enrolled.ca_pem,
        Some(&enrolled.identity),
    )?;
    Ok(Client {
        ingest: transport::ingest_client(channel.clone()),
        reports: transport::ReportSender::new(channel),
    })
}

impl Agent {
    /// Takes a reloaded config: checks rebuilt, spool reopened with the new bounds.
    fn apply(&mut self, config: &AgentConfig, trigger: &ReportTrigger) {
        match Spool::open(self.state_dir.spool_dir(), config.spool.clone()) {
            Ok(spool) => self.spool = spool,
            Err(err) => warn!(error = %err, "cannot reopen the spool; keeping its previous bounds"),
        }
        self.checks = CheckSet::from_config(
            &config.checks,
            &self.state_dir,
            trigger,
            Collection::Continuous,
        );
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.policy.report_interval_secs.max(1)))
    }

    async fn collect(&mut self) {
        let (seq, err) = self.sequence.next(self.spool.max_seq());
        if let Some(err) = err {
            warn!(error = %err, "cannot persist sequence number; continuing in memory");
        }
        let report = self
            .reporter
            .encoded(
                &mut self.checks,
                &self.policy,
                seq,
                &self.enrolled.enrollment.device_id,
                self.boot_id,
            )
            .await;
        debug!(seq, "report collected");
        // A report that was neither sent nor spooled is replaced: the newest state is worth the most.
        self.current = Some(report);
    }

    /// Writes the newest report to the spool, for delivery after an outage.
    fn spool_current(&mut self) -> Result<(), StateError> {
        if let Some(report) = &self.current {
            self.spool.push(report)?;
            self.current = None;
        }
        Ok(())
    }

    /// While the collector is unreachable: a failed TCP connection marks it
    /// down, and a successful one after that means it is back, so the spool
    /// is sent now instead of at the end of the backoff.
    async fn check_reachability(&self, delivery: &mut Delivery, now: Instant) {
        let Some(address) = &self.address else {
            return;
        };
        let up = transport::reachable(&address.host, address.port, REACHABILITY_TIMEOUT).await;
        if !up {
            delivery.seen_down = true;
        } else if delivery.seen_down {
            info!(collector = %address.url, "collector is reachable again; sending queued reports");
            delivery.seen_down = false;
            delivery.next_attempt = Some(now);
        }
        delivery.next_reachability_check = Some(now + jittered(REACHABILITY_INTERVAL));
    }

    /// Sends everything pending, oldest first; what cannot be sent is spooled.
    async fn deliver(&mut self) -> Result<(), DeliveryError> {
        let outcome = self.send_pending().await;
        if outcome.is_err()
            && let Err(err) = self.spool_current()
        {
            warn!(error = %err, "cannot spool report; keeping the newest in memory");
        }
        outcome
    }

    async fn send_pending(&mut self) -> Result<(), DeliveryError> {
        while let Some(spooled) = self.spool.oldest() {
            if self.send(&spooled.report).await? {
                // Refused for good: drop it so it cannot block newer reports.
                self.spool.remove(spooled.seq);
            } else {
                self.delivered_from_spool += 1;
            }
        }
        if self.delivered_from_spool > 0 {
            info!(
                count = self.delivered_from_spool,
                "delivered {} queued reports", self.delivered_from_spool
            );
            self.delivered_from_spool = 0;
        }
        if let Some(report) = self.current.take()
            && let Err(err) = self.send(&report).await
        {
            self.current = Some(report);
            return Err(err);
        }
        Ok(())
    }

    /// Sends one report. Ok(true) means the collector refused this report permanently.
    async fn send(&mut self, report: &EncodedReport) -> Result<bool, DeliveryError> {
        let seq = report.seq;
        match self.client.reports.report(report.bytes.clone()).await {
            Ok(response) => {
                let ack = response.into_inner();
                self.spool.acknowledge(ack.acked_seq.max(seq));
                if let Err(err) = self.recorder.record(
                    &report.delivery,
                    &self.state_dir,
                    std::time::Instant::now(),
                ) {
                    warn!(error = %err, "cannot record the delivery for `forewarn-agent status`");
                }
                if let Some(policy) = ack.policy {
                    info!(version = %policy.version, interval_secs = policy.report_interval_secs, "new policy from collector");
                    if let Err(err) = self.state_dir.save_policy(&policy) {
                        warn!(error = %err, "cannot save policy");
                    }
                    self.policy = policy;
                }
                Ok(false)
            }
            Err(status) if transport::may_be_dead(&status) => {
                self.reconnect();
                Err(if transport::is_unreachable(&status) {
                    DeliveryError::Unreachable(describe(&status))
                } else {
                    DeliveryError::Unavailable(describe(&status))
                })
            }
            Err(status) => match status.code() {
                Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => {
                    error!(seq, error = %status.message(), "collector refused report; dropping it");
                    Ok(true)
                }
                Code::PermissionDenied => Err(DeliveryError::Retired(status.message().to_owned())),
                Code::Unauthenticated => {
                    Err(DeliveryError::NotAccepted(status.message().to_owned()))
                }
                _ if transport::is_unreachable(&status) => {
                    Err(DeliveryError::Unreachable(describe(&status)))
                }
                _ => Err(DeliveryError::Unavailable(describe(&status))),
            },
        }
    }

    /// Drops the connection: the next call opens a new one. tonic would
    /// otherwise keep sending on a connection the network dropped silently.
    fn reconnect(&mut self) {
        match connect(&self.enrolled) {
            Ok(client) => self.client = client,
            Err(err) => {
                warn!(error = %err, "cannot set up a new connection to the collector; the next attempt uses the old one")
            }
        }
    }

    async fn renew_if_due(&mut self) {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if now < self.renew_at {
            return;
        }
        match self.renew().await {
            Ok(()) => info!("device certificate renewed"),
            Err(err) => warn!(error = %err, "certificate renewal failed; will retry next cycle"),
        }
    }

    async fn renew(&mut self) -> Result<(), RenewError> {
        let key = rcgen::KeyPair::generate().map_err(EnrollError::KeyGeneration)?;
        let csr_pem = certificate_request(&key)?;
        let response = self
            .client
            .ingest
            .renew(pb::RenewRequest { csr_pem })
            .await
            .map_err(|status| RenewError::Refused(describe(&status)))?
            .into_inner();
        let identity = DeviceIdentity {
            cert_pem: response.certificate_pem,
            key_pem: key.serialize_pem(),
        };
        self.state_dir
            .save_identity(&identity, &response.ca_certificate_pem)?;
        self.renew_at = identity.renewal_at();
        self.enrolled.identity = identity;
        self.enrolled.ca_pem = response.ca_certificate_pem;
        self.client = connect(&self.enrolled)?;
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
enum RenewError {
    #[error(transparent)]
    Key(#[from] EnrollError),
    #[error("collector refused renewal: {0}")]
    Refused(String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Transport(#[from] TransportError),
}
