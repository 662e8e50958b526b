//! The gRPC channel to the collector.
//!
//! One long-lived HTTP/2 connection over TLS, with the device's client
//! certificate once enrolled. tonic reconnects a lazy channel on the next
//! call after a failure; the run loop adds backoff between attempts.

use std::time::Duration;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use forewarn_proto::limits::MAX_MESSAGE_BYTES;
use forewarn_proto::pb::enrollment_client::EnrollmentClient;
use forewarn_proto::pb::ingest_client::IngestClient;

use crate::state::DeviceIdentity;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("invalid collector URL {url:?}: {message}")]
    InvalidUrl { url: String, message: String },
    #[error("cannot reach the collector at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: tonic::transport::Error,
    },
}

/// Where the collector is: URL plus the name its certificate must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorAddress {
    pub url: String,
    pub host: String,
    pub port: u16,
}

impl CollectorAddress {
    /// Accepts `https://host:port` only: plain HTTP would send the token in the clear.
    pub fn parse(url: &str) -> Result<Self, TransportError> {
        let invalid = |message: &str| TransportError::InvalidUrl {
            url: url.to_owned(),
            message: message.to_owned(),
        };
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| invalid("must start with https://"))?;
        let authority = rest.trim_end_matches('/');
        if authority.contains('/') || authority.contains('@') {
            return Err(invalid("expected https://HOST:PORT with no path"));
        }
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or_else(|| invalid("missing :PORT"))?;
        let port: u16 = port.parse().map_err(|_| invalid("port is not a number"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(invalid("missing host"));
        }
        Ok(Self {
            url: format!("https://{authority}"),
            host: host.to_owned(),
            port,
        })
    }
}

/// A channel that connects on first use and reconnects after failures.
pub fn channel(
    url: &str,
    server_name: &str,
    ca_pem: &str,
    identity: Option<&DeviceIdentity>,
) -> Result<Channel, TransportError> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name(server_name);
    if let Some(identity) = identity {
        tls = tls.identity(Identity::from_pem(&identity.cert_pem, &identity.key_pem));
    }
    let connect_error = |source| TransportError::Connect {
        url: url.to_owned(),
        source,
    };
    Ok(Channel::from_shared(url.to_owned())
        .map_err(|err| TransportError::InvalidUrl {
            url: url.to_owned(),
            message: err.to_string(),
        })?
        .tls_config(tls)
        .map_err(connect_error)?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_while_idle(false)
        .connect_lazy())
}

pub fn ingest_client(channel: Channel) -> IngestClient<Channel> {
    IngestClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

pub fn enrollment_client(channel: Channel) -> EnrollmentClient<Channel> {
    EnrollmentClient::new(channel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_host_port_is_parsed() {
        let address = CollectorAddress::parse("https://collector.example.com:7443/").unwrap();
        assert_eq!(address.host, "collector.example.com");
        assert_eq!(address.port, 7443);
        assert_eq!(address.url, "https://collector.example.com:7443");
        assert_eq!(
            CollectorAddress::parse("https://[::1]:7443").unwrap().host,
            "::1"
        );
    }

    #[test]
    fn plain_http_and_paths_are_refused() {
        assert!(CollectorAddress::parse("http://c:7443").is_err());
        assert!(CollectorAddress::parse("https://c:7443/api").is_err());
        assert!(CollectorAddress::parse("https://c").is_err());
    }
}
