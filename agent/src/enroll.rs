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
        "the collector's CA does not match: expected ({pinned_by}) SHA-256 {expected}; the \
         collector at {url} presented {}; check the fingerprint with \
         `forewarn-collector ca-fingerprint` on the collector (and that --url names that collector)",
        presented_text(.presented)
    )]
    CaMismatch {
        /// The option the expected CA came from: `--ca-fingerprint` or `--ca-cert`.
        pinned_by: &'static str,
        expected: String,
        url: String,
        presented: Presented,
    },
    #[error(
        "{url} did not answer with TLS; is this the collector's web page port? Agents enroll on \
         the collector's agent_listen port (default 7443)"
    )]
    NotTls { url: String },
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

impl CaPin {
    /// The `enroll` option this pin came from, as the user typed it.
    fn option_name(&self) -> &'static str {
        match self {
            Self::Fingerprint(_) => "--ca-fingerprint",
            Self::Certificate(_) => "--ca-cert",
        }
    }
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
            host: Some(host_facts().await),
        })
        .await
        .map_err(|status| enroll_failure(status, &address))?
        .into_inner();
    let presented = fingerprint_of(&ca_der(&response.ca_certificate_pem)?);
    if presented != expected_ca {
        return Err(EnrollError::CaMismatch {
            pinned_by: options.ca.option_name(),
            expected: expected_ca,
            url: address.url,
            presented: Presented::Ca(presented),
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
    if peer_not_tls(status.source()) {
        return EnrollError::NotTls {
            url: address.url.clone(),
        };
    }
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
    match rustls_error(status.source()) {
        Some(rustls::Error::InvalidCertificate(refusal)) => Some(refusal),
        _ => None,
    }
}

/// Whether the handshake failed because the peer does not speak TLS: a
/// plain HTTP server's reply ("HTTP/1.1 …") is not a TLS record type.
fn peer_not_tls(err: Option<&(dyn std::error::Error + 'static)>) -> bool {
    matches!(
        rustls_error(err),
        Some(rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType
        ))
    )
}

/// The first rustls error in `err`'s chain.
fn rustls_error<'a>(
    mut next: Option<&'a (dyn std::error::Error + 'static)>,
) -> Option<&'a rustls::Error> {
    while let Some(err) = next {
        // io::Error shows its inner error but does not list it as a source.
        let inner = err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        for candidate in [Some(err), inner].into_iter().flatten() {
            if let Some(found) = candidate.downcast_ref::<rustls::Error>() {
                return Some(found);
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

/// The SHA-256 fingerprints the collector showed when they did not match the pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// The CA of the enrollment answer.
    Ca(String),
    /// The TLS chain as presented, the collector's own certificate first.
    Chain(Vec<String>),
}

fn presented_text(presented: &Presented) -> String {
    match presented {
        Presented::Ca(fingerprint) => format!("a CA with SHA-256 {fingerprint}"),
        Presented::Chain(chain) => {
            let labelled: Vec<String> = chain
                .iter()
                .enumerate()
                .map(|(i, fingerprint)| match i {
                    0 => format!("{fingerprint} (its own certificate)"),
                    _ => format!("{fingerprint} (issuer {i})"),
                })
                .collect();
            format!(
                "certificates with SHA-256 {}, none of them the pinned CA",
                labelled.join(", ")
            )
        }
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
    .map_err(|err| {
        if peer_not_tls(Some(&err)) {
            EnrollError::NotTls {
                url: address.url.clone(),
            }
        } else {
            EnrollError::ChainFetch {
                addr: addr.clone(),
                message: err.to_string(),
            }
        }
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
            pinned_by: "--ca-fingerprint",
            expected,
            url: address.url.clone(),
            presented: Presented::Chain(presented),
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
    fn a_ca_mismatch_labels_both_fingerprints_and_says_what_to_check() {
        let text = EnrollError::CaMismatch {
            pinned_by: "--ca-fingerprint",
            expected: "ab".repeat(32),
            url: "https://fw.example.com:7443".into(),
            presented: Presented::Ca("cd".repeat(32)),
        }
        .to_string();
        assert!(
            text.contains(&format!(
                "expected (--ca-fingerprint) SHA-256 {}",
                "ab".repeat(32)
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "the collector at https://fw.example.com:7443 presented a CA with SHA-256 {}",
                "cd".repeat(32)
            )),
            "{text}"
        );
        assert!(
            text.contains("`forewarn-collector ca-fingerprint` on the collector"),
            "{text}"
        );
    }

    #[test]
    fn a_pinned_chain_mismatch_names_each_presented_certificate_by_its_place() {
        let text = EnrollError::CaMismatch {
            pinned_by: "--ca-fingerprint",
            expected: "ab".repeat(32),
            url: "https://fw.example.com:7443".into(),
            presented: Presented::Chain(vec!["cd".repeat(32), "ef".repeat(32)]),
        }
        .to_string();
        assert!(
            text.contains(&format!(
                "presented certificates with SHA-256 {} (its own certificate), {} (issuer 1), \
                 none of them the pinned CA",
                "cd".repeat(32),
                "ef".repeat(32)
            )),
            "{text}"
        );
        assert!(!text.contains("presented a CA"), "{text}");
    }

    /// A plain HTTP server on loopback, answering whatever it is sent.
    async fn http_listener() -> u16 {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let _ = stream
                    .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    .await;
            }
        });
        port
    }

    #[tokio::test]
    async fn a_plain_http_port_is_named_as_such() {
        let port = http_listener().await;
        let address = CollectorAddress::parse(&format!("https://127.0.0.1:{port}")).unwrap();
        let err = fetch_pinned_ca(&address, &"ab".repeat(32))
            .await
            .unwrap_err();
        assert!(matches!(err, EnrollError::NotTls { .. }), "{err}");
        assert!(err.to_string().contains("agent_listen port"), "{err}");
    }

    #[test]
    fn fingerprints_accept_colons_and_case() {
        let colon = "AB:".repeat(31) + "AB";
        assert_eq!(normalize_fingerprint(&colon).unwrap(), "ab".repeat(32));
        assert!(normalize_fingerprint("abc").is_err());
        assert!(normalize_fingerprint(&"zz".repeat(32)).is_err());
    }
}
