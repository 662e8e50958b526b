//! Enrollment: key pair on the device, CSR to the collector, identity saved.
//!
//! The admin gives the agent either the collector CA certificate or its
//! SHA-256 fingerprint. With a fingerprint, the agent first reads the chain
//! the collector presents (sending nothing), keeps the certificate whose
//! fingerprint matches, and only then opens a normally verified TLS
//! connection trusting exactly that CA. A collector whose CA does not match is
//! refused before the token leaves the device.
//!
//! When enrollment fails, the message says which side refused: the collector
//! (a bad token, say), or this agent (the collector's certificate does not
//! name the host in `--url`, which is fixed in the collector's `server_names`),
//! or nobody because the collector could not be reached.

use std::error::Error as _;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};

use forewarn_proto::pb;

use crate::facts::host_facts;
use crate::presented_chain::presented_chain;
use crate::state::{DeviceIdentity, Enrollment, StateDir, StateError};
use crate::transport::{self, CollectorAddress, TransportError};

const PIN_FETCH_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("cannot read the collector's certificate chain at {addr}: {message}")]
    ChainFetch { addr: String, message: String },
    #[error(
        "the collector's CA does not match: expected SHA-256 {expected}, collector presented {presented}"
    )]
    CaMismatch { expected: String, presented: String },
    #[error("invalid --ca-fingerprint {0:?}: expected 64 hex digits (colons allowed)")]
    BadFingerprint(String),
    #[error("invalid CA certificate: {0}")]
    BadCaCertificate(String),
    #[error("cannot create a key pair: {0}")]
    KeyGeneration(#[source] rcgen::Error),
    #[error("the collector refused enrollment: {}", .0.message())]
    Refused(tonic::Status),
    #[error(
        "the collector's certificate does not name {host}; it names {presented}; fix server_names \
         on the collector (or enroll with a --url that uses one of those names)"
    )]
    CertificateNamesOther { host: String, presented: String },
    #[error("this agent refused the collector's certificate: {reason}")]
    CertificateRefused { reason: String },
    #[error("cannot reach the collector at {url}: {cause}")]
    Unreachable { url: String, cause: String },
    #[error(transparent)]
    State(#[from] StateError),
}

/// How the agent knows which collector CA to trust.
#[derive(Debug, Clone)]
pub enum CaPin {
    /// SHA-256 of the CA certificate's DER, hex (case and colons ignored).
    Fingerprint(String),
    /// The CA certificate itself (PEM).
    Certificate(String),
}

#[derive(Debug, Clone)]
pub struct EnrollOptions {
    pub url: String,
    pub token: String,
    pub ca: CaPin,
}

/// Enrolls this device and saves its identity under `state`.
pub async fn enroll(options: &EnrollOptions, state: &StateDir) -> Result<Enrollment, EnrollError> {
    let address = CollectorAddress::parse(&options.url)?;
    let ca_pem = match &options.ca {
        CaPin::Certificate(pem) => {
            ca_der(pem)?;
            pem.clone()
        }
        CaPin::Fingerprint(fingerprint) => fetch_pinned_ca(&address, fingerprint).await?,
    };
    let expected_ca = fingerprint_of(&ca_der(&ca_pem)?);

    let key = rcgen::KeyPair::generate().map_err(EnrollError::KeyGeneration)?;
    let csr_pem = certificate_request(&key)?;
    let channel = transport::channel(&address.url, &address.host, &ca_pem, None)?;
    let response = transport::enrollment_client(channel)
        .enroll(pb::EnrollRequest {
            token: options.token.trim().to_owned(),
            csr_pem,
            host: Some(host_facts()),
        })
        .await
        .map_err(|status| enroll_failure(status, &address))?
        .into_inner();
    let presented = fingerprint_of(&ca_der(&response.ca_certificate_pem)?);
    if presented != expected_ca {
        return Err(EnrollError::CaMismatch {
            expected: expected_ca,
            presented,
        });
    }
    let enrollment = Enrollment {
        collector_url: address.url,
        server_name: address.host,
        device_id: response.device_id,
        group: response.group,
    };
    let identity = DeviceIdentity {
        cert_pem: response.certificate_pem,
        key_pem: key.serialize_pem(),
    };
    let policy = response.policy.unwrap_or_else(crate::state::default_policy);
    state.save_enrollment(&enrollment, &identity, &ca_pem, &policy)?;
    Ok(enrollment)
}

/// What went wrong, from the side that refused: a status the collector sent
/// has no source; one made by this agent's transport carries the error.
fn enroll_failure(status: tonic::Status, address: &CollectorAddress) -> EnrollError {
    if let Some(refusal) = certificate_refusal(&status) {
        return match refusal {
            rustls::CertificateError::NotValidForNameContext { presented, .. } => {
                EnrollError::CertificateNamesOther {
                    host: address.host.clone(),
                    presented: if presented.is_empty() {
                        "no names".into()
                    } else {
                        presented
                            .iter()
                            .map(|name| readable_name(name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                }
            }
            rustls::CertificateError::NotValidForName => EnrollError::CertificateNamesOther {
                host: address.host.clone(),
                presented: "other names".into(),
            },
            other => EnrollError::CertificateRefused {
                reason: other.to_string(),
            },
        };
    }
    match status.source() {
        Some(source) => EnrollError::Unreachable {
            url: address.url.clone(),
            cause: causes(source),
        },
        None => EnrollError::Refused(status),
    }
}

/// A name as webpki lists it (`DnsName("fw.example.com")`, `IpAddress(10.0.0.5)`),
/// written as it would be in `server_names`.
fn readable_name(presented: &str) -> &str {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|rest| rest.strip_suffix("\")"))
        .or_else(|| {
            presented
                .strip_prefix("IpAddress(")
                .and_then(|rest| rest.strip_suffix(')'))
        })
        .unwrap_or(presented)
}

/// The certificate error this agent's TLS raised, if that is what failed.
fn certificate_refusal(status: &tonic::Status) -> Option<&rustls::CertificateError> {
    let mut next = status.source();
    while let Some(err) = next {
        // io::Error shows its inner error but does not list it as a source.
        let inner = err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        for candidate in [Some(err), inner].into_iter().flatten() {
            if let Some(rustls::Error::InvalidCertificate(refusal)) =
                candidate.downcast_ref::<rustls::Error>()
            {
                return Some(refusal);
            }
        }
        next = err.source();
    }
    None
}

/// An error and its causes on one line, each said once: wrappers often
/// repeat their source's text in their own.
fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        next = cause.source();
    }
    line
}

/// A CSR for `key`. The collector ignores its subject and assigns the device id.
pub fn certificate_request(key: &rcgen::KeyPair) -> Result<String, EnrollError> {
    let params = rcgen::CertificateParams::default();
    params
        .serialize_request(key)
        .and_then(|csr| csr.pem())
        .map_err(EnrollError::KeyGeneration)
}

/// SHA-256 fingerprint of a PEM CA certificate, as [`fingerprint_of`] gives it.
pub fn ca_fingerprint(pem: &str) -> Result<String, EnrollError> {
    Ok(fingerprint_of(&ca_der(pem)?))
}

fn ca_der(pem: &str) -> Result<Vec<u8>, EnrollError> {
    use rustls_pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|der| der.to_vec())
        .map_err(|err| EnrollError::BadCaCertificate(err.to_string()))
}

/// Lowercase hex SHA-256.
pub fn fingerprint_of(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// Lowercase hex without colons; an error names the bad input.
pub fn normalize_fingerprint(input: &str) -> Result<String, EnrollError> {
    let hex: String = input
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(hex)
    } else {
        Err(EnrollError::BadFingerprint(input.to_owned()))
    }
}

/// Reads the collector's presented chain and returns the certificate matching `fingerprint`, as PEM.
async fn fetch_pinned_ca(
    address: &CollectorAddress,
    fingerprint: &str,
) -> Result<String, EnrollError> {
    let expected = normalize_fingerprint(fingerprint)?;
    let addr = format!("{}:{}", address.host, address.port);
    let chain = tokio::time::timeout(
        PIN_FETCH_TIMEOUT,
        presented_chain(&address.host, address.port),
    )
    .await
    .map_err(|_| EnrollError::ChainFetch {
        addr: addr.clone(),
        message: "timed out".into(),
    })?
    .map_err(|err| EnrollError::ChainFetch {
        addr: addr.clone(),
        message: err.to_string(),
    })?;
    let presented: Vec<String> = chain.iter().map(|der| fingerprint_of(der)).collect();
    match chain
        .iter()
        .zip(&presented)
        .find(|(_, fp)| **fp == expected)
    {
        Some((der, _)) => Ok(pem::encode(&pem::Pem::new(
            "CERTIFICATE",
            der.as_ref().to_vec(),
        ))),
        None => Err(EnrollError::CaMismatch {
            expected,
            presented: presented.join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_a_certificate_are_written_as_in_server_names() {
        assert_eq!(
            readable_name("DnsName(\"fw.example.com\")"),
            "fw.example.com"
        );
        assert_eq!(readable_name("IpAddress(10.0.0.5)"), "10.0.0.5");
        assert_eq!(readable_name("IpAddress(::1)"), "::1");
        assert_eq!(readable_name("DirectoryName"), "DirectoryName");
    }

    #[test]
    fn a_cause_repeated_by_its_wrapper_is_said_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot read /etc/forewarn/ca.pem: {0}")]
        struct Wrapper(#[source] std::io::Error);
        let err = Wrapper(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert_eq!(
            causes(&err),
            "cannot read /etc/forewarn/ca.pem: entity not found"
        );
    }

    #[test]
    fn fingerprints_accept_colons_and_case() {
        let colon = "AB:".repeat(31) + "AB";
        assert_eq!(normalize_fingerprint(&colon).unwrap(), "ab".repeat(32));
        assert!(normalize_fingerprint("abc").is_err());
        assert!(normalize_fingerprint(&"zz".repeat(32)).is_err());
    }
}
