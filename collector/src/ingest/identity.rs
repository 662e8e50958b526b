//! The device id of an authenticated request, from its client certificate.
//!
//! rustls has already verified the chain against the collector CA by the time
//! a request arrives; here we only read the subject CN the CA wrote. Nothing
//! in the message body is ever used as identity. Serial and not-before are
//! read too: a certificate a re-enrollment replaced is refused
//! ([`crate::fleet::certificate`]).

use tonic::Request;

use super::IngestError;

/// The client certificate of a request, as far as identity goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedCertificate {
    pub device_id: String,
    /// Lowercase hex.
    pub serial_hex: String,
    pub not_before: i64,
}

pub fn presented_certificate<T>(request: &Request<T>) -> Result<PresentedCertificate, IngestError> {
    let certs = request
        .peer_certs()
        .ok_or(IngestError::NoClientCertificate)?;
    let leaf = certs.first().ok_or(IngestError::NoClientCertificate)?;
    from_der(leaf.as_ref())
}

fn from_der(der: &[u8]) -> Result<PresentedCertificate, IngestError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|err| IngestError::UnreadableClientCertificate(err.to_string()))?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .ok_or_else(|| IngestError::UnreadableClientCertificate("no subject CN".into()))?;
    let id = cn
        .as_str()
        .map_err(|err| IngestError::UnreadableClientCertificate(err.to_string()))?;
    if id.is_empty() || id.len() > 64 {
        return Err(IngestError::UnreadableClientCertificate(format!(
            "subject CN {id:?} is not a device id"
        )));
    }
    Ok(PresentedCertificate {
        device_id: id.to_owned(),
        serial_hex: hex::encode(cert.raw_serial()),
        not_before: cert.validity().not_before.timestamp(),
    })
}
