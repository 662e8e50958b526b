//! Reading the certificate chain a TLS server presents, whatever it is.
//!
//! Used where trust is decided afterwards by the caller: enrollment pins the
//! collector CA by fingerprint, and the certificate check reports expired or
//! self-signed certificates rather than refusing them. The handshake accepts
//! any chain, but handshake signatures are still verified with the provider's
//! algorithms, so the peer really holds the leaf's key. Nothing is sent over
//! the connection.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("invalid server name {name:?}: {message}")]
    ServerName { name: String, message: String },
    #[error("tls configuration: {0}")]
    Config(#[source] rustls::Error),
    #[error("cannot connect: {0}")]
    Connect(#[source] std::io::Error),
    #[error("tls handshake failed: {0}")]
    Handshake(#[source] std::io::Error),
}

/// Connects to `host:port` with SNI `host` and returns the presented chain, leaf first.
pub async fn presented_chain(
    host: &str,
    port: u16,
) -> Result<Vec<CertificateDer<'static>>, ChainError> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(ChainError::Connect)?
        .collect();
    presented_chain_at(host, &addresses).await
}

/// Like [`presented_chain`], connecting to `addresses` (the first that
/// answers) already looked up for `host`.
pub async fn presented_chain_at(
    host: &str,
    addresses: &[SocketAddr],
) -> Result<Vec<CertificateDer<'static>>, ChainError> {
    let server_name =
        ServerName::try_from(host.to_owned()).map_err(|err| ChainError::ServerName {
            name: host.to_owned(),
            message: err.to_string(),
        })?;
    let config = any_chain_config().map_err(ChainError::Config)?;
    let tcp = TcpStream::connect(addresses)
        .await
        .map_err(ChainError::Connect)?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(server_name, tcp)
        .await
        .map_err(ChainError::Handshake)?;
    Ok(tls
        .get_ref()
        .1
        .peer_certificates()
        .unwrap_or_default()
        .iter()
        .map(|cert| cert.clone().into_owned())
        .collect())
}

/// The client configuration, built once per process: building it (provider,
/// suites, verifier) cost as much as the rest of a probe.
///
/// Session resumption is off: a resumed session carries the chain of the
/// first handshake, so a certificate replaced on the server would go unseen.
/// Key exchange is X25519 (then P-256), the cheapest two: the probe sends
/// nothing secret.
fn any_chain_config() -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, rustls::Error>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut provider = rustls::crypto::ring::default_provider();
            provider.kx_groups = vec![
                rustls::crypto::ring::kx_group::X25519,
                rustls::crypto::ring::kx_group::SECP256R1,
            ];
            let provider = Arc::new(provider);
            let mut config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
                .with_safe_default_protocol_versions()?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyChain(provider)))
                .with_no_client_auth();
            config.resumption = rustls::client::Resumption::disabled();
            Ok(Arc::new(config))
        })
        .clone()
}

/// Accepts whatever chain the server presents; verifies handshake signatures.
#[derive(Debug)]
struct AnyChain(Arc<CryptoProvider>);

impl AnyChain {
    fn algorithms(&self) -> &WebPkiSupportedAlgorithms {
        &self.0.signature_verification_algorithms
    }
}

impl ServerCertVerifier for AnyChain {
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
