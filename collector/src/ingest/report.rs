//! `Ingest.Report` and `Ingest.Renew`: what enrolled devices call.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use tracing::{debug, error, info, warn};

use forewarn_proto::pb;
use forewarn_proto::pb::ingest_server::Ingest;

use super::enrollment::os_summary;
use super::identity::{self, PresentedCertificate};
use super::{IngestContext, IngestError, ReportResult, now_unix, validate};
use crate::fleet::certificate;
use crate::store::{self, IncomingReport, IngestOutcome};

#[derive(Debug, Clone)]
pub struct IngestService {
    context: IngestContext,
}

impl IngestService {
    pub fn new(context: IngestContext) -> Self {
        Self { context }
    }

    /// Stores a report; the store also checks, in the same call, that a
    /// re-enrollment has not replaced the certificate it came with.
    async fn report(
        &self,
        presented: PresentedCertificate,
        mut report: pb::StatusReport,
    ) -> Result<(pb::ReportAck, ReportResult), IngestError> {
        let device_id = presented.device_id;
        let now = now_unix();
        validate::status_report(&report, now)?;
        let rejected = validate::drop_implausible_times(&mut report, now);
        if rejected > 0 {
            self.context.metrics.items_rejected(rejected);
            warn!(device_id = %device_id, seq = report.seq, rejected, "report values that cannot be true were dropped and stored as item errors");
        }
        if !report.claimed_device_id.is_empty() && report.claimed_device_id != device_id {
            warn!(device_id = %device_id, claimed = %report.claimed_device_id, "report names another device; stored under the certificate's device");
        }
        // The stored body must not contradict the authenticated identity.
        report.claimed_device_id.clone_from(&device_id);
        let no_host = pb::HostFacts::default();
        let host = report.host.as_ref().unwrap_or(&no_host);
        let (hostname, os, agent_version) = (
            host.hostname.clone(),
            os_summary(host),
            host.agent_version.clone(),
        );
        let (seq, boot_id) = (report.seq, report.boot_id);
        let policy_version = report.policy_version.clone();
        let incoming = IncomingReport {
            device_id: device_id.clone(),
            seq,
            boot_id,
            collected_at: report.collected_at_unix_secs,
            received_at: now,
            hostname: hostname.clone(),
            os,
            agent_version,
            body: report.into(),
            certificate: Some(store::PresentedCertificate {
                serial_hex: presented.serial_hex,
                not_before: presented.not_before,
            }),
        };
        let (group, acked_seq, result) = match self
            .context
            .store
            .ingest_report(incoming, Arc::clone(&self.context.rules))
            .await?
        {
            IngestOutcome::Stored {
                group,
                notifications,
            } => {
                debug!(device_id = %device_id, seq, "report stored");
                self.wake_ticket_worker(notifications);
                (group, seq, ReportResult::Stored)
            }
            IngestOutcome::Renumbered {
                group,
                previous_seq,
                notifications,
            } => {
                self.context.metrics.renumbered();
                warn!(
                    device_id = %device_id,
                    hostname = %hostname,
                    seq,
                    previous_seq,
                    "the agent's report numbering restarted (state directory restored or not writable); report stored and numbering continues from it"
                );
                self.wake_ticket_worker(notifications);
                (group, seq, ReportResult::Stored)
            }
            IngestOutcome::Replay { group, acked_seq } => {
                debug!(device_id = %device_id, seq, acked_seq, "replayed report acknowledged");
                (group, acked_seq, ReportResult::Replay)
            }
            IngestOutcome::Stale { group } => {
                self.context.metrics.stale();
                debug!(device_id = %device_id, seq, boot_id, "report from an earlier agent boot is older than the stored status; acknowledged, not stored");
                (group, seq, ReportResult::Stale)
            }
            IngestOutcome::UnknownDevice => return Err(IngestError::UnknownDevice(device_id)),
            IngestOutcome::Retired => return Err(IngestError::Retired(device_id)),
            IngestOutcome::SupersededCertificate => {
                return Err(IngestError::SupersededCertificate(device_id));
            }
        };
        let policy = self.context.config.policy_for(&group);
        Ok((
            pb::ReportAck {
                acked_seq,
                next_report_in_secs: policy.report_interval_secs,
                policy: (policy.version != policy_version).then_some(policy),
            },
            result,
        ))
    }

    /// Wakes the ticket worker when the report queued notifications; a
    /// report that queued none leaves it asleep (it also polls).
    fn wake_ticket_worker(&self, notifications: usize) {
        if notifications > 0 {
            self.context.ticket_wake.notify_one();
        }
    }

    /// Refuses a certificate that a re-enrollment of the device replaced.
    async fn ensure_current(&self, presented: &PresentedCertificate) -> Result<(), IngestError> {
        let current = self
            .context
            .store
            .current_certificate(&presented.device_id)
            .await?
            .ok_or_else(|| IngestError::UnknownDevice(presented.device_id.clone()))?;
        if certificate::superseded(&current, &presented.serial_hex, presented.not_before) {
            return Err(IngestError::SupersededCertificate(
                presented.device_id.clone(),
            ));
        }
        Ok(())
    }

    async fn renew(
        &self,
        device_id: String,
        request: pb::RenewRequest,
    ) -> Result<pb::RenewResponse, IngestError> {
        validate::renew_request(&request)?;
        let device = self
            .context
            .store
            .device(&device_id)
            .await?
            .ok_or_else(|| IngestError::UnknownDevice(device_id.clone()))?;
        if device.retired_at.is_some() {
            return Err(IngestError::Retired(device_id));
        }
        let issued = self.context.pki.sign_device_csr(
            &request.csr_pem,
            &device_id,
            self.context.config.device_cert_validity(),
        )?;
        self.context
            .store
            .record_certificate(&device_id, &issued.serial_hex, issued.not_after_unix_secs)
            .await?;
        info!(device_id = %device_id, serial = %issued.serial_hex, "device certificate renewed");
        Ok(pb::RenewResponse {
            certificate_pem: issued.pem,
            ca_certificate_pem: self.context.pki.ca_cert_pem().to_owned(),
        })
    }
}

/// What became of a report, for `forewarn_reports_received_total`.
fn report_result(outcome: &Result<(pb::ReportAck, ReportResult), IngestError>) -> ReportResult {
    match outcome {
        Ok((_, result)) => *result,
        Err(IngestError::Invalid(_)) => ReportResult::Invalid,
        Err(IngestError::Store(_)) => ReportResult::StoreError,
        Err(_) => ReportResult::Refused,
    }
}

#[tonic::async_trait]
impl Ingest for IngestService {
    async fn report(
        &self,
        request: Request<pb::StatusReport>,
    ) -> Result<Response<pb::ReportAck>, Status> {
        let started = std::time::Instant::now();
        let presented = identity::presented_certificate(&request)?;
        let device_id = presented.device_id.clone();
        let outcome = self.report(presented, request.into_inner()).await;
        self.context
            .metrics
            .received(report_result(&outcome), started.elapsed());
        let ack = outcome.inspect_err(|err| match err {
                IngestError::Invalid(_) => {
                    self.context.metrics.refused_invalid();
                    error!(device_id = %device_id, error = %err, "report refused as invalid; the agent drops it");
                }
                _ => warn!(device_id = %device_id, error = %err, "report refused"),
            })?;
        Ok(Response::new(ack.0))
    }

    async fn renew(
        &self,
        request: Request<pb::RenewRequest>,
    ) -> Result<Response<pb::RenewResponse>, Status> {
        let presented = identity::presented_certificate(&request)?;
        let device_id = presented.device_id.clone();
        let response = async {
            self.ensure_current(&presented).await?;
            self.renew(device_id.clone(), request.into_inner()).await
        }
        .await
        .inspect_err(|err| warn!(device_id = %device_id, error = %err, "renewal refused"))?;
        Ok(Response::new(response))
    }
}
