//! `Enrollment.Enroll`: a token and a CSR become a device and its certificate.
//!
//! A machine the collector already knows by its firmware identity (a
//! re-image: new key, same hardware; see [`crate::fleet::hardware`]) gets
//! its existing device id back with a new certificate, and the old
//! certificate stops working, so re-running an install never leaves a ghost.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::{Request, Response, Status};
use tracing::{info, warn};

use forewarn_proto::pb;
use forewarn_proto::pb::enrollment_server::Enrollment;

use super::enroll_throttle::EnrollThrottle;
use super::{IngestContext, IngestError, identity, now_unix, validate};
use crate::fleet::hardware::{self, HardwareIdentity, KnownMachine, MatchBasis};
use crate::store::NewDevice;
use crate::tokens;

#[derive(Debug, Clone)]
pub struct EnrollmentService {
    context: IngestContext,
    throttle: Arc<EnrollThrottle>,
}

impl EnrollmentService {
    pub fn new(context: IngestContext) -> Self {
        let connections = &context.config.connections;
        let throttle = Arc::new(EnrollThrottle::new(
            connections.enroll_failures_per_source,
            Duration::from_secs(connections.enroll_failure_refill_secs),
        ));
        Self { context, throttle }
    }

    /// Enrolls unless `source` is throttled; counts refusals against it.
    async fn enroll_from(
        &self,
        source: Option<IpAddr>,
        request: pb::EnrollRequest,
    ) -> Result<pb::EnrollResponse, IngestError> {
        let Some(source) = source else {
            return self.enroll(request).await;
        };
        if let Some(wait) = self.throttle.wait(source, Instant::now()) {
            return Err(IngestError::EnrollThrottled {
                source_addr: source,
                retry_after_secs: wait.as_secs_f64().ceil() as u64,
            });
        }
        let result = self.enroll(request).await;
        if let Err(
            IngestError::Invalid(_)
            | IngestError::Token(_)
            | IngestError::Pki(crate::pki::PkiError::InvalidCsr(_)),
        ) = &result
        {
            self.throttle.failed(source, Instant::now());
        }
        result
    }

    async fn enroll(&self, request: pb::EnrollRequest) -> Result<pb::EnrollResponse, IngestError> {
        validate::enroll_request(&request)?;
        let now = now_unix();
        let host = request.host.clone().unwrap_or_default();
        let hardware = HardwareIdentity::from_facts(&host.serial_number, &host.hardware_uuid);
        let token_hash = tokens::hash(&request.token);
        let existing = self
            .existing_device(&token_hash, &hardware, &host.hostname)
            .await?;
        let device_id = existing.as_ref().map_or_else(
            || uuid::Uuid::new_v4().simple().to_string(),
            |(known, _)| known.device.id.clone(),
        );
        let issued = self.context.pki.sign_device_csr(
            &request.csr_pem,
            &device_id,
            self.context.config.device_cert_validity(),
        )?;
        let device = NewDevice {
            id: device_id,
            hostname: host.hostname.clone(),
            os: os_summary(&host),
            agent_version: host.agent_version.clone(),
            enrolled_at: now,
            cert_serial: issued.serial_hex,
            cert_not_after: issued.not_after_unix_secs,
            hardware,
        };
        let store = &self.context.store;
        let outcome = match &existing {
            Some(_) => {
                store
                    .reenroll_device(
                        &token_hash,
                        device.clone(),
                        issued.not_before_unix_secs,
                        now,
                    )
                    .await?
            }
            None => {
                store
                    .enroll_device(&token_hash, device.clone(), now)
                    .await?
            }
        };
        let record = match outcome {
            Ok(record) => record,
            Err(refusal) => {
                warn!(hostname = %host.hostname, reason = %refusal, "enrollment refused");
                return Err(refusal.into());
            }
        };
        match &existing {
            Some((known, basis)) => warn!(
                device_id = %record.id,
                hostname = %record.hostname,
                previous_hostname = %known.device.hostname,
                serial = %device.hardware.serial_number,
                hardware_uuid = %device.hardware.hardware_uuid,
                matched_on = basis.as_str(),
                group = %record.group,
                "machine enrolled again (re-imaged or reinstalled): linked to its existing device record; its previous certificate is refused from now on. If this is another machine with cloned firmware identity, give it a new SMBIOS UUID and retire-and-re-enroll"
            ),
            None => {
                info!(device_id = %record.id, hostname = %record.hostname, group = %record.group, "device enrolled")
            }
        }
        Ok(pb::EnrollResponse {
            device_id: record.id,
            certificate_pem: issued.pem,
            ca_certificate_pem: self.context.pki.ca_cert_pem().to_owned(),
            policy: Some(self.context.config.policy_for(&record.group)),
            group: record.group,
        })
    }

    /// The device record an enrolling machine already has, if its firmware
    /// identity says so ([`crate::fleet::hardware`]).
    async fn existing_device(
        &self,
        token_hash: &str,
        hardware: &HardwareIdentity,
        hostname: &str,
    ) -> Result<Option<(KnownMachine, MatchBasis)>, IngestError> {
        if hardware.is_unknown() {
            return Ok(None);
        }
        let Some(group) = self.context.store.token_group(token_hash).await? else {
            return Ok(None);
        };
        let known = self.context.store.known_machines(hardware).await?;
        Ok(
            hardware::existing_device(hardware, hostname, &group, &known)
                .map(|(machine, basis)| (machine.clone(), basis)),
        )
    }
}

/// One line naming the OS, as the device list shows it.
pub(super) fn os_summary(host: &pb::HostFacts) -> String {
    [host.os_name.as_str(), host.os_version.as_str()]
        .iter()
        .filter(|part| !part.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

#[tonic::async_trait]
impl Enrollment for EnrollmentService {
    async fn enroll(
        &self,
        request: Request<pb::EnrollRequest>,
    ) -> Result<Response<pb::EnrollResponse>, Status> {
        let source = identity::remote_addr(&request).map(|addr| addr.ip());
        Ok(Response::new(
            self.enroll_from(source, request.into_inner()).await?,
        ))
    }
}
