//! The HTTP client the HTTP connectors share: one timeout for the whole request,
//! rustls for TLS, and one place that turns HTTP answers into [`ConnectorError`]s
//! (what is retryable, what is permanent, and `Retry-After`).

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;

use super::ConnectorError;
use crate::causes::with_causes;

/// Longest part of an error body kept in an error message; bodies can be whole HTML pages.
const MAX_ERROR_BODY_CHARS: usize = 300;

/// An HTTP client for one ticket system.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    system: &'static str,
    client: reqwest::Client,
    timeout: Duration,
}

impl HttpTransport {
    pub fn new(system: &'static str, timeout: Duration) -> Result<Self, ConnectorError> {
        // reqwest is built without a crypto provider of its own, so that rustls keeps
        // exactly one (aws-lc-rs, as tonic uses); it takes the process default.
        // An error only means a default is already installed.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("forewarn-collector/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| ConnectorError::Unreachable {
                system,
                cause: with_causes(&err),
            })?;
        Ok(Self {
            system,
            client,
            timeout,
        })
    }

    pub fn system(&self) -> &'static str {
        self.system
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends the request; any non-2xx answer becomes an error.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, ConnectorError> {
        let response = request.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = parse_retry_after(response.headers(), SystemTime::now());
        let body = response.text().await.unwrap_or_default();
        Err(status_error(self.system, status, retry_after, &body))
    }

    /// Sends the request and decodes a 2xx JSON answer.
    pub async fn send_json<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
    ) -> Result<T, ConnectorError> {
        let response = self.send(request).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(e))?;
        serde_json::from_slice(&bytes).map_err(|e| ConnectorError::InvalidResponse {
            system: self.system,
            message: format!("{e} in {}", excerpt(&String::from_utf8_lossy(&bytes))),
        })
    }

    fn transport_error(&self, source: reqwest::Error) -> ConnectorError {
        if source.is_timeout() {
            ConnectorError::Timeout {
                system: self.system,
                timeout: self.timeout,
            }
        } else {
            // The URL can be the credential (Slack and Teams webhooks), and this
            // message goes to logs and to `alert_outbox.last_error`: leave it out.
            ConnectorError::Unreachable {
                system: self.system,
                cause: with_causes(&source.without_url()),
            }
        }
    }
}

/// Maps a non-2xx HTTP answer to the error the outbox worker acts on.
pub fn status_error(
    system: &'static str,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &str,
) -> ConnectorError {
    let message = excerpt(body);
    match status.as_u16() {
        401 => ConnectorError::Unauthorized { system, message },
        403 => ConnectorError::Forbidden { system, message },
        404 => ConnectorError::NotFound { system, message },
        429 => ConnectorError::RateLimited {
            system,
            retry_after,
        },
        // 408 Request Timeout is the server giving up on a slow request: try again.
        408 => ConnectorError::Unavailable {
            system,
            status: 408,
            message,
            retry_after,
        },
        code if status.is_server_error() => ConnectorError::Unavailable {
            system,
            status: code,
            message,
            retry_after,
        },
        code => ConnectorError::Rejected {
            system,
            status: Some(code),
            message,
        },
    }
}

/// `Retry-After` as either delay-seconds or an HTTP date (RFC 9110 section 10.2.3).
/// A date in the past means "now".
pub fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let format = time::format_description::well_known::Rfc2822;
    let at = time::OffsetDateTime::parse(value, &format).ok()?;
    let at = SystemTime::from(at);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn excerpt(body: &str) -> String {
    let body = body.trim();
    if body.chars().count() <= MAX_ERROR_BODY_CHARS {
        return body.to_string();
    }
    let cut: String = body.chars().take(MAX_ERROR_BODY_CHARS).collect();
    format!("{cut}...")
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        h
    }

    #[tokio::test]
    async fn connection_errors_name_their_cause_but_not_the_url() {
        let transport = HttpTransport::new("Slack", Duration::from_secs(2)).unwrap();
        // Nothing listens on the discard port of loopback here.
        let request = transport
            .client()
            .post("http://127.0.0.1:9/services/T000/B000/s3cr3tpath");
        let err = transport.send(request).await.unwrap_err();
        assert!(matches!(err, ConnectorError::Unreachable { .. }), "{err}");
        let text = format!("{err} {err:?}");
        assert!(!text.contains("s3cr3tpath"), "{text}");
        assert!(
            err.to_string()
                .to_lowercase()
                .contains("connection refused"),
            "the cause, not only \"error sending request\": {err}"
        );
    }

    #[test]
    fn retry_after_in_seconds() {
        assert_eq!(
            parse_retry_after(&headers("120"), SystemTime::now()),
            Some(Duration::from_secs(120))
        );
    }

    #[test]
    fn retry_after_as_http_date() {
        // The example date of RFC 9110.
        let now = SystemTime::from(time::macros::datetime!(2015-10-21 07:26:00 UTC));
        assert_eq!(
            parse_retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT"), now),
            Some(Duration::from_secs(120))
        );
    }

    #[test]
    fn retry_after_garbage_is_ignored() {
        assert_eq!(parse_retry_after(&headers("soon"), SystemTime::now()), None);
    }

    #[test]
    fn client_errors_are_permanent_and_server_errors_retryable() {
        let e = |code: u16| status_error("test", StatusCode::from_u16(code).unwrap(), None, "x");
        for code in [400, 401, 403, 404, 409, 422] {
            assert!(!e(code).is_retryable(), "{code} must not be retried");
        }
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(e(code).is_retryable(), "{code} must be retried");
        }
    }

    #[test]
    fn long_error_bodies_are_cut() {
        let err = status_error("test", StatusCode::BAD_REQUEST, None, &"a".repeat(5000));
        assert!(err.to_string().len() < 400);
    }
}
