//! Probing TLS endpoints for the certificates they present.
//!
//! The handshake accepts any chain ([`crate::presented_chain`]): the point is
//! to see what a server presents, including expired or self-signed
//! certificates, and judge it afterwards. "Handshake ok" still means a real
//! TLS session was established.
//! Whether the leaf is valid for the name is checked separately with webpki.

use std::time::Duration;

use forewarn_proto::pb;
use rustls_pki_types::{CertificateDer, ServerName};

use super::parse;
use crate::presented_chain::presented_chain;

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
    // The earliest expiry is filled in by the caller, which describes each
    // certificate once per cycle (and not again while the chain is unchanged).
    Probe { status, chain }
}

async fn handshake(endpoint: &Endpoint) -> Result<Vec<Vec<u8>>, String> {
    let chain = presented_chain(&endpoint.host, endpoint.port)
        .await
        .map_err(|err| err.to_string())?;
    Ok(chain.iter().map(|cert| cert.as_ref().to_vec()).collect())
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
