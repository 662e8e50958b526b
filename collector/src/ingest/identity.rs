//! The device id of an authenticated request, from its client certificate.
//!
//! rustls has already verified the chain against the collector CA by the time
//! a request arrives; here we only read the subject CN the CA wrote. Nothing
//! in the message body is ever used as identity. Serial and not-before are
//! read too: a certificate a re-enrollment replaced is refused
//! ([`crate::fleet::certificate`]).
//!
//! A connection's certificate cannot change after its handshake, so it is
//! read once per connection ([`AgentPeer::after_handshake`]) and every
//! request on it gets the result, instead of parsing the certificate again
//! for each report.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
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

/// Who is at the other end of an agent connection: tonic hands a copy to
/// every request on the connection (its connect info).
#[derive(Debug, Clone)]
pub struct AgentPeer {
    pub remote_addr: Option<SocketAddr>,
    /// `None`: no client certificate (an agent enrolling); `Err`: one that
    /// names no device, with why.
    device: Option<Arc<Result<PresentedCertificate, String>>>,
}

impl AgentPeer {
    /// Reads the leaf of the certificates the peer presented in its handshake.
    pub fn after_handshake(
        remote_addr: Option<SocketAddr>,
        certificates: Option<&[CertificateDer<'_>]>,
    ) -> Self {
        let device = certificates
            .and_then(|certs| certs.first())
            .map(|leaf| Arc::new(from_der(leaf.as_ref())));
        Self {
            remote_addr,
            device,
        }
    }
}

impl AgentPeer {
    /// Whether the peer presented a client certificate (verified by rustls).
    pub fn has_certificate(&self) -> bool {
        self.device.is_some()
    }
}

/// The device certificate the request's connection presented.
pub fn presented_certificate<T>(request: &Request<T>) -> Result<PresentedCertificate, IngestError> {
    let device = request
        .extensions()
        .get::<AgentPeer>()
        .and_then(|peer| peer.device.as_deref())
        .ok_or(IngestError::NoClientCertificate)?;
    device
        .clone()
        .map_err(IngestError::UnreadableClientCertificate)
}

/// The address the request came from, if the connection knows it.
pub fn remote_addr<T>(request: &Request<T>) -> Option<SocketAddr> {
    request
        .extensions()
        .get::<AgentPeer>()
        .and_then(|peer| peer.remote_addr)
}

fn from_der(der: &[u8]) -> Result<PresentedCertificate, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|err| err.to_string())?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .ok_or_else(|| "no subject CN".to_owned())?;
    let id = cn.as_str().map_err(|err| err.to_string())?;
    if id.is_empty() || id.len() > 64 {
        return Err(format!("subject CN {id:?} is not a device id"));
    }
    Ok(PresentedCertificate {
        device_id: id.to_owned(),
        serial_hex: hex::encode(cert.raw_serial()),
        not_before: cert.validity().not_before.timestamp(),
    })
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, DnType, KeyPair};

    use super::*;

    fn certificate(common_name: &str) -> CertificateDer<'static> {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.self_signed(&key).unwrap().der().clone()
    }

    fn request_from(peer: AgentPeer) -> Request<()> {
        let mut request = Request::new(());
        request.extensions_mut().insert(peer);
        request
    }

    #[test]
    fn every_request_on_a_connection_gets_the_device_its_certificate_names() {
        let addr: SocketAddr = "192.0.2.7:4711".parse().unwrap();
        let peer = AgentPeer::after_handshake(Some(addr), Some(&[certificate("dev-1")]));
        assert!(peer.has_certificate());
        for _ in 0..2 {
            let request = request_from(peer.clone());
            let presented = presented_certificate(&request).unwrap();
            assert_eq!(presented.device_id, "dev-1");
            assert!(!presented.serial_hex.is_empty());
            assert_eq!(remote_addr(&request), Some(addr));
        }
    }

    #[test]
    fn a_connection_without_a_client_certificate_is_unauthenticated() {
        let peer = AgentPeer::after_handshake(None, None);
        assert!(!peer.has_certificate());
        let err = presented_certificate(&request_from(peer)).unwrap_err();
        assert!(matches!(err, IngestError::NoClientCertificate), "{err}");
        let err = presented_certificate(&Request::new(())).unwrap_err();
        assert!(matches!(err, IngestError::NoClientCertificate), "{err}");
    }

    #[test]
    fn a_certificate_whose_name_is_no_device_id_is_refused() {
        let long = "d".repeat(65);
        let peer = AgentPeer::after_handshake(None, Some(&[certificate(&long)]));
        let err = presented_certificate(&request_from(peer)).unwrap_err();
        assert!(
            matches!(&err, IngestError::UnreadableClientCertificate(why) if why.contains("not a device id")),
            "{err}"
        );
    }
}
