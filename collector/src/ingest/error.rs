//! Ingest failures and the gRPC status each one becomes.
//!
//! This is the only place a domain error turns into a `tonic::Status`, so the
//! codes agents see stay consistent: bad credentials are `UNAUTHENTICATED`, a
//! retired device is `PERMISSION_DENIED`, bad input is `INVALID_ARGUMENT`, and
//! a storage failure is `UNAVAILABLE` (the agent keeps the report and retries).

use tonic::Status;

use super::validate::ValidationError;
use crate::pki::PkiError;
use crate::store::{StoreError, TokenRefusal};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("a client certificate signed by this collector's CA is required")]
    NoClientCertificate,
    #[error("client certificate does not name a device: {0}")]
    UnreadableClientCertificate(String),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Token(#[from] TokenRefusal),
    #[error("device {0} is not enrolled with this collector")]
    UnknownDevice(String),
    #[error("device {0} has been retired")]
    Retired(String),
    #[error(
        "this certificate of device {0} was replaced when its machine enrolled again; this agent's identity is no longer valid: run `forewarn-agent install` on the machine it belongs to"
    )]
    SupersededCertificate(String),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("too many failed enrollments from {source_addr}; try again in {retry_after_secs} s")]
    EnrollThrottled {
        source_addr: std::net::IpAddr,
        retry_after_secs: u64,
    },
}

impl From<IngestError> for Status {
    fn from(err: IngestError) -> Self {
        match &err {
            IngestError::NoClientCertificate
            | IngestError::UnreadableClientCertificate(_)
            | IngestError::Token(_)
            | IngestError::UnknownDevice(_)
            | IngestError::SupersededCertificate(_) => Status::unauthenticated(err.to_string()),
            IngestError::Retired(_) => Status::permission_denied(err.to_string()),
            IngestError::EnrollThrottled { .. } => Status::resource_exhausted(err.to_string()),
            IngestError::Invalid(_) | IngestError::Pki(PkiError::InvalidCsr(_)) => {
                Status::invalid_argument(err.to_string())
            }
            IngestError::Pki(_) => {
                tracing::error!(error = %err, "certificate signing failed");
                Status::internal("the collector could not sign a certificate")
            }
            IngestError::Store(_) => {
                tracing::error!(error = %err, "store failure during ingest");
                Status::unavailable("the collector's store is unavailable; retry later")
            }
        }
    }
}
