//! `Enrollment.Enroll`: a token and a CSR become a device and its certificate.

use tonic::{Request, Response, Status};
use tracing::{info, warn};

use forewarn_proto::pb;
use forewarn_proto::pb::enrollment_server::Enrollment;

use super::{IngestContext, IngestError, now_unix, validate};
use crate::store::NewDevice;
use crate::tokens;

#[derive(Debug, Clone)]
pub struct EnrollmentService {
    context: IngestContext,
}

impl EnrollmentService {
    pub fn new(context: IngestContext) -> Self {
        Self { context }
    }

    async fn enroll(&self, request: pb::EnrollRequest) -> Result<pb::EnrollResponse, IngestError> {
        validate::enroll_request(&request)?;
        let now = now_unix();
        let device_id = uuid::Uuid::new_v4().simple().to_string();
        let issued = self.context.pki.sign_device_csr(
            &request.csr_pem,
            &device_id,
            self.context.config.device_cert_validity(),
        )?;
        let host = request.host.unwrap_or_default();
        let device = NewDevice {
            id: device_id.clone(),
            hostname: host.hostname.clone(),
            os: os_summary(&host),
            agent_version: host.agent_version.clone(),
            enrolled_at: now,
            cert_serial: issued.serial_hex,
            cert_not_after: issued.not_after_unix_secs,
        };
        let token_hash = tokens::hash(&request.token);
        let record = match self
            .context
            .store
            .enroll_device(&token_hash, device, now)
            .await?
        {
            Ok(record) => record,
            Err(refusal) => {
                warn!(hostname = %host.hostname, reason = %refusal, "enrollment refused");
                return Err(refusal.into());
            }
        };
        info!(device_id = %record.id, hostname = %record.hostname, group = %record.group, "device enrolled");
        Ok(pb::EnrollResponse {
            device_id: record.id,
            certificate_pem: issued.pem,
            ca_certificate_pem: self.context.pki.ca_cert_pem().to_owned(),
            policy: Some(self.context.config.policy_for(&record.group)),
            group: record.group,
        })
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
        Ok(Response::new(self.enroll(request.into_inner()).await?))
    }
}
