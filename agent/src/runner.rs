//! `forewarn-agent run`: collect on an interval, spool, deliver, renew.
//!
//! Collection and delivery are separate clocks. A report is collected every
//! policy interval (jittered) and spooled; delivery sends the spool oldest
//! first and, after a failure, retries with exponential backoff instead of
//! on every collection. Certificates are renewed after two thirds of their
//! lifetime. The loop never exits on a collector or disk problem, only on
//! shutdown.

use std::future::Future;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};
use tonic::Code;
use tonic::transport::Channel;
use tracing::{debug, error, info, warn};

use forewarn_proto::pb;
use forewarn_proto::pb::ingest_client::IngestClient;

use crate::backoff::{Backoff, jittered};
use crate::checks::{CheckSet, Collection};
use crate::config::AgentConfig;
use crate::enroll::{EnrollError, certificate_request};
use crate::report::snapshot;
use crate::spool::Spool;
use crate::state::{DeviceIdentity, EnrolledState, StateDir, StateError};
use crate::transport::{self, TransportError};
use crate::trigger::ReportTrigger;

const RETRY_INITIAL: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(300);
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
    #[error("collector unreachable or failing: {0}")]
    Unavailable(String),
    #[error("collector does not accept this device: {0}")]
    NotAccepted(String),
}

struct Agent {
    state_dir: StateDir,
    enrolled: EnrolledState,
    spool: Spool,
    checks: CheckSet,
    policy: pb::Policy,
    client: IngestClient<Channel>,
    /// Newest report that could not be spooled (disk full); sent after the spool.
    unspooled: Option<pb::StatusReport>,
    last_seq: u64,
    /// Drawn at each start and sent in every report, so the collector tells a
    /// restarted numbering (restored or unwritable state) from a replay.
    boot_id: u64,
}

pub async fn run(config: AgentConfig, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let state_dir = StateDir::new(&config.state_dir);
    let enrolled = state_dir.load()?;
    let spool = Spool::open(state_dir.spool_dir(), config.spool.clone())?;
    let client = connect(&enrolled)?;
    let trigger = ReportTrigger::default();
    let mut agent = Agent {
        policy: state_dir.load_policy(),
        last_seq: spool.max_seq(),
        boot_id: rand::random::<u64>().max(1),
        checks: CheckSet::from_config(&config.checks, &state_dir, &trigger, Collection::Continuous),
        state_dir,
        enrolled,
        spool,
        client,
        unspooled: None,
    };
    info!(
        device_id = %agent.enrolled.enrollment.device_id,
        collector = %agent.enrolled.enrollment.collector_url,
        "agent running"
    );
    let mut backoff = Backoff::new(RETRY_INITIAL, RETRY_MAX);
    let mut next_collect = Instant::now() + STARTUP_SPREAD.mul_f64(rand::random::<f64>());
    let mut next_delivery: Option<Instant> = (!agent.spool.is_empty()).then(Instant::now);
    tokio::pin!(shutdown);
    loop {
        let wake = next_delivery.map_or(next_collect, |at| at.min(next_collect));
        tokio::select! {
            () = &mut shutdown => break,
            () = sleep_until(wake) => {}
            () = trigger.fired() => {
                // Coalesce a burst of file changes into one report.
                next_collect = next_collect.min(Instant::now() + TRIGGER_DEBOUNCE);
                continue;
            }
        }
        let now = Instant::now();
        if now >= next_collect {
            agent.renew_if_due().await;
            agent.collect().await;
            next_collect = now + jittered(agent.interval());
            if backoff.is_idle() {
                next_delivery = Some(now);
            }
        }
        if next_delivery.is_some_and(|at| now >= at) {
            match agent.deliver().await {
                Ok(()) => {
                    backoff.reset();
                    next_delivery = None;
                }
                Err(err) => {
                    let delay = backoff.next_delay();
                    match &err {
                        DeliveryError::NotAccepted(_) => {
                            error!(error = %err, retry_in_secs = delay.as_secs(), "report not accepted")
                        }
                        DeliveryError::Unavailable(_) => {
                            warn!(error = %err, retry_in_secs = delay.as_secs(), "report not delivered")
                        }
                    }
                    next_delivery = Some(now + delay);
                }
            }
        }
    }
    info!("agent stopped");
    Ok(())
}

fn connect(enrolled: &EnrolledState) -> Result<IngestClient<Channel>, TransportError> {
    let channel = transport::channel(
        &enrolled.enrollment.collector_url,
        &enrolled.enrollment.server_name,
        &enrolled.ca_pem,
        Some(&enrolled.identity),
    )?;
    Ok(transport::ingest_client(channel))
}

impl Agent {
    fn interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.policy.report_interval_secs.max(1)))
    }

    async fn collect(&mut self) {
        let floor = self.last_seq.max(self.spool.max_seq());
        let seq = match self.state_dir.next_seq(floor) {
            Ok(seq) => seq,
            Err(err) => {
                warn!(error = %err, "cannot persist sequence number; continuing in memory");
                floor + 1
            }
        };
        self.last_seq = seq;
        let report = snapshot(
            &mut self.checks,
            &self.policy,
            seq,
            &self.enrolled.enrollment.device_id,
        )
        .await;
        let report = pb::StatusReport {
            boot_id: self.boot_id,
            ..report
        };
        debug!(seq, "report collected");
        match self.spool.push(&report) {
            Ok(()) => self.unspooled = None,
            Err(err) => {
                warn!(error = %err, seq, "cannot spool report; keeping the newest in memory");
                self.unspooled = Some(report);
            }
        }
    }

    /// Sends everything pending, oldest first.
    async fn deliver(&mut self) -> Result<(), DeliveryError> {
        while let Some(spooled) = self.spool.oldest() {
            if self.send(spooled.report).await? {
                // Refused for good: drop it so it cannot block newer reports.
                self.spool.remove(spooled.seq);
            }
        }
        if let Some(report) = self.unspooled.clone() {
            self.send(report).await?;
            self.unspooled = None;
        }
        Ok(())
    }

    /// Sends one report. Ok(true) means the collector refused this report permanently.
    async fn send(&mut self, report: pb::StatusReport) -> Result<bool, DeliveryError> {
        let seq = report.seq;
        match self.client.report(report).await {
            Ok(response) => {
                let ack = response.into_inner();
                self.spool.acknowledge(ack.acked_seq.max(seq));
                if let Some(policy) = ack.policy {
                    info!(version = %policy.version, interval_secs = policy.report_interval_secs, "new policy from collector");
                    if let Err(err) = self.state_dir.save_policy(&policy) {
                        warn!(error = %err, "cannot save policy");
                    }
                    self.policy = policy;
                }
                Ok(false)
            }
            Err(status) => match status.code() {
                Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => {
                    error!(seq, error = %status.message(), "collector refused report; dropping it");
                    Ok(true)
                }
                Code::Unauthenticated | Code::PermissionDenied => {
                    Err(DeliveryError::NotAccepted(status.message().to_owned()))
                }
                _ => Err(DeliveryError::Unavailable(describe(&status))),
            },
        }
    }

    async fn renew_if_due(&mut self) {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if !self.enrolled.identity.renewal_due(now) {
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

/// A status in one line, including the transport cause tonic hides in its source.
fn describe(status: &tonic::Status) -> String {
    let mut text = format!("{:?}: {}", status.code(), status.message());
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
