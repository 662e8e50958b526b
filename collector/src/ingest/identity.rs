//! The device id of an authenticated request, from its client certificate.
//!
//! rustls has already verified the chain against the collector CA by the time
//! a request arrives; here we only read the subject CN the CA wrote. Nothing
//! in the message body is ever used as identity.

use tonic::Request;

use super::IngestError;

pub fn device_id<T>(request: &Request<T>) -> Result<String, IngestError> {
    let certs = request
        .peer_certs()
        .ok_or(IngestError::NoClientCertificate)?;
    let leaf = certs.first().ok_or(IngestError::NoClientCertificate)?;
    device_id_from_der(leaf.as_ref())
}

fn device_id_from_der(der: &[u8]) -> Result<String, IngestError> {
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
    Ok(id.to_owned())
}
