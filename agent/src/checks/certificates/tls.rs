//! Probing TLS endpoints for the certificates they present.
//!
//! The handshake accepts any chain ([`crate::presented_chain`]): the point is
//! to see what a server presents, including expired or self-signed
//! certificates, and judge it afterwards. "Handshake ok" still means a real
//! TLS session was established.
//! Whether the leaf is valid for the name is checked separately with webpki.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use forewarn_proto::pb;
use rustls_pki_types::{CertificateDer, ServerName};

use super::parse;
use crate::presented_chain::{ChainError, presented_chain_at};

/// How long an endpoint's looked-up addresses are used before the name is
/// looked up again. A lookup (`getaddrinfo`: /etc/hosts, resolver, a
/// thread to run it on) cost more than the rest of a probe; a server that
/// moves is followed within this time, or at once when its old address
/// refuses the connection.
pub const ADDRESS_REUSE: Duration = Duration::from_secs(60);

/// An endpoint's addresses and when they were looked up.
#[derive(Debug, Clone)]
pub struct KnownAddresses {
    addresses: Vec<SocketAddr>,
    looked_up: Instant,
}

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

/// Connects to `endpoint`, completes a handshake with SNI and reads the
/// chain; `known` are its addresses from an earlier probe, if any. Returns
/// the addresses to use next time.
pub async fn probe(
    endpoint_text: &str,
    endpoint: &Endpoint,
    timeout: Duration,
    known: Option<KnownAddresses>,
) -> (Probe, Option<KnownAddresses>) {
    let mut status = pb::TlsEndpointStatus {
        endpoint: endpoint_text.to_owned(),
        server_name: endpoint.host.clone(),
        ..Default::default()
    };
    let mut known = known.filter(|k| k.looked_up.elapsed() < ADDRESS_REUSE);
    let chain = match tokio::time::timeout(timeout, handshake(endpoint, &mut known)).await {
        Ok(Ok(chain)) => chain,
        Ok(Err(message)) => {
            status.error = message;
            let probe = Probe {
                status,
                chain: Vec::new(),
            };
            return (probe, known);
        }
        Err(_) => {
            status.error = format!("timed out after {} s", timeout.as_secs_f32());
            let probe = Probe {
                status,
                chain: Vec::new(),
            };
            return (probe, None);
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
    (Probe { status, chain }, known)
}

/// The handshake, on `known` addresses when there are some (looked up again
/// if they refuse the connection), else on freshly looked-up ones, which
/// are left in `known`.
async fn handshake(
    endpoint: &Endpoint,
    known: &mut Option<KnownAddresses>,
) -> Result<Vec<Vec<u8>>, String> {
    if let Some(addresses) = known.as_ref() {
        match presented_chain_at(&endpoint.host, &addresses.addresses).await {
            Err(ChainError::Connect(_)) => *known = None,
            other => return chain_bytes(other),
        }
    }
    let addresses: Vec<SocketAddr> =
        tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port))
            .await
            .map_err(|err| format!("cannot look up {}: {err}", endpoint.host))?
            .collect();
    let chain = presented_chain_at(&endpoint.host, &addresses).await;
    *known = Some(KnownAddresses {
        addresses,
        looked_up: Instant::now(),
    });
    chain_bytes(chain)
}

fn chain_bytes(
    chain: Result<Vec<CertificateDer<'static>>, ChainError>,
) -> Result<Vec<Vec<u8>>, String> {
    let chain = chain.map_err(|err| err.to_string())?;
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
