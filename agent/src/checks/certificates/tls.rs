//! Probing TLS endpoints for the certificates they present.
//!
//! The handshake accepts any chain: the point is to see what a server
//! presents, including expired or self-signed certificates, and judge it
//! afterwards. Handshake signatures are still checked with the provider's
//! algorithms, so "handshake ok" means a real TLS session was established.
//! Whether the leaf is valid for the name is checked separately with webpki.

use std::sync::Arc;
use std::time::Duration;

use forewarn_proto::pb;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;

use super::parse;

/// A configured endpoint split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    /// Parses "host:port" or "[v6]:port".
    pub fn parse(text: &str) -> Result<Self, String> {
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| format!("{text:?} is not host:port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("{text:?} has no host"));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{text:?} has no valid port"))?;
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

/// What an endpoint presented: its status and the DER chain (leaf first).
#[derive(Debug)]
pub struct Probe {
    pub status: pb::TlsEndpointStatus,
    pub chain: Vec<Vec<u8>>,
}

/// Connects to `endpoint`, completes a handshake with SNI and reads the chain.
pub async fn probe(endpoint_text: &str, endpoint: &Endpoint, timeout: Duration) -> Probe {
    let mut status = pb::TlsEndpointStatus {
        endpoint: endpoint_text.to_owned(),
        server_name: endpoint.host.clone(),
        ..Default::default()
    };
    let chain = match tokio::time::timeout(timeout, handshake(endpoint)).await {
        Ok(Ok(chain)) => chain,
        Ok(Err(message)) => {
            status.error = message;
            return Probe {
                status,
                chain: Vec::new(),
            };
        }
        Err(_) => {
            status.error = format!("timed out after {} s", timeout.as_secs_f32());
            return Probe {
                status,
                chain: Vec::new(),
            };
        }
    };
    status.handshake_ok = true;
    if let Some(leaf) = chain.first() {
        status.leaf_sha256_fingerprint = parse::fingerprint(leaf);
        match leaf_matches_name(leaf, &endpoint.host) {
            Ok(()) => status.hostname_matches = true,
            Err(message) => status.error = message,
        }
    }
    status.earliest_chain_expiry_unix_secs = chain
        .iter()
        .filter_map(|der| parse::describe(der).ok())
        .map(|c| c.not_after_unix_secs)
        .min();
    Probe { status, chain }
}

async fn handshake(endpoint: &Endpoint) -> Result<Vec<Vec<u8>>, String> {
    let server_name = ServerName::try_from(endpoint.host.clone())
        .map_err(|err| format!("invalid server name {:?}: {err}", endpoint.host))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("tls configuration: {err}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PresentedChain(provider)))
        .with_no_client_auth();
    let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
        .await
        .map_err(|err| format!("cannot connect: {err}"))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await
        .map_err(|err| format!("tls handshake failed: {err}"))?;
    let (_, connection) = tls.get_ref();
    Ok(connection
        .peer_certificates()
        .unwrap_or_default()
        .iter()
        .map(|c| c.as_ref().to_vec())
        .collect())
}

/// Whether `leaf_der` names `host` (DNS name or IP address), by webpki's rules.
fn leaf_matches_name(leaf_der: &[u8], host: &str) -> Result<(), String> {
    let der = CertificateDer::from(leaf_der);
    let cert = webpki::EndEntityCert::try_from(&der)
        .map_err(|err| format!("leaf certificate cannot be parsed: {err}"))?;
    let name = ServerName::try_from(host).map_err(|err| format!("invalid server name: {err}"))?;
    cert.verify_is_valid_for_subject_name(&name)
        .map_err(|err| format!("hostname mismatch: certificate is not valid for {host}: {err}"))
}

/// Accepts whatever chain the server presents; verifies handshake signatures.
#[derive(Debug)]
struct PresentedChain(Arc<CryptoProvider>);

impl PresentedChain {
    fn algorithms(&self) -> &WebPkiSupportedAlgorithms {
        &self.0.signature_verification_algorithms
    }
}

impl ServerCertVerifier for PresentedChain {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, self.algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, self.algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms().supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_with_and_without_brackets() {
        assert_eq!(
            Endpoint::parse("db.example.test:5432").unwrap(),
            Endpoint {
                host: "db.example.test".into(),
                port: 5432
            }
        );
        assert_eq!(Endpoint::parse("[::1]:443").unwrap().host, "::1");
        for bad in ["example.test", ":443", "a:0", "a:http", "a:70000"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
