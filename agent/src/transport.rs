//! The gRPC channel to the collector.
//!
//! One long-lived HTTP/2 connection over TLS, with the device's client
//! certificate once enrolled. tonic reconnects a lazy channel on the next
//! call after a failure; the run loop adds backoff between attempts, and
//! while the collector cannot be reached at all it checks with a bare TCP
//! connection ([`reachable`]) whether it is back, so delivery resumes within
//! seconds rather than at the end of a long backoff.
//!
//! No HTTP/2 keep-alive pings: hyper's keep-alive timer woke every idle
//! agent once after each report (120 s later), and, not pinging idle
//! connections, it only ever tested a connection when a report was sent.
//! A connection that died silently (a laptop that slept and woke on
//! another network) is noticed by the request timeout instead, and the run
//! loop then drops it ([`may_be_dead`]) rather than sending on it again.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body as _, Frame, SizeHint};
use prost::bytes::BufMut;
use tonic::body::Body;
use tonic::client::Grpc;
use tonic::codec::{Codec, EncodeBuf, Encoder};
use tonic::codegen::{BoxFuture, Bytes, Service, StdError, http};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use forewarn_proto::codec::WireCodec;
use forewarn_proto::limits::MAX_MESSAGE_BYTES;
use forewarn_proto::pb;
use forewarn_proto::pb::enrollment_client::EnrollmentClient;
use forewarn_proto::pb::ingest_client::IngestClient;

use crate::state::DeviceIdentity;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

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
        .connect_lazy())
}

/// The client reports go through: each call's message sent as one frame.
pub type Ingest = IngestClient<WholeMessage<Channel>>;

pub fn ingest_client(channel: Channel) -> Ingest {
    IngestClient::new(WholeMessage(channel))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// `Ingest.Report` for reports already encoded: the run loop encodes each
/// report once, and the same bytes go to the collector and, when that
/// fails, to the spool, so a report kept for a retry is not copied or
/// encoded again. On the wire it is the generated client's call.
#[derive(Debug, Clone)]
pub struct ReportSender(Grpc<WholeMessage<Channel>>);

/// The method [`ReportSender`] calls, as the generated client names it.
const REPORT_PATH: &str = "/forewarn.v1.Ingest/Report";

impl ReportSender {
    pub fn new(channel: Channel) -> Self {
        Self(
            Grpc::new(WholeMessage(channel))
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
    }

    /// Sends `report`, the protobuf encoding of a `StatusReport`.
    pub async fn report(
        &mut self,
        report: Bytes,
    ) -> Result<tonic::Response<pb::ReportAck>, tonic::Status> {
        report_encoded(&mut self.0, report).await
    }
}

async fn report_encoded<S>(
    grpc: &mut Grpc<S>,
    report: Bytes,
) -> Result<tonic::Response<pb::ReportAck>, tonic::Status>
where
    S: tonic::client::GrpcService<Body>,
    S::Error: Into<StdError>,
    S::ResponseBody: http_body::Body<Data = Bytes> + Send + 'static,
    <S::ResponseBody as http_body::Body>::Error: Into<StdError>,
{
    grpc.ready()
        .await
        .map_err(|err| tonic::Status::unknown(format!("Service was not ready: {}", err.into())))?;
    let mut request = tonic::Request::new(report);
    request
        .extensions_mut()
        .insert(tonic::GrpcMethod::new("forewarn.v1.Ingest", "Report"));
    let path = http::uri::PathAndQuery::from_static(REPORT_PATH);
    grpc.unary(request, path, EncodedCodec).await
}

/// Writes a message already encoded as it is; reads the answer as the
/// generated client does.
#[derive(Debug, Clone, Copy, Default)]
struct EncodedCodec;

impl Codec for EncodedCodec {
    type Encode = Bytes;
    type Decode = pb::ReportAck;
    type Encoder = EncodedCodec;
    type Decoder = <WireCodec<pb::StatusReport, pb::ReportAck> as Codec>::Decoder;

    fn encoder(&mut self) -> Self::Encoder {
        EncodedCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        WireCodec::<pb::StatusReport, pb::ReportAck>::default().decoder()
    }
}

impl Encoder for EncodedCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

/// Sends a unary call's message as one HTTP/2 DATA frame that ends the stream.
///
/// tonic streams every request body, so a report went out as HEADERS, DATA
/// and an empty DATA frame ending the stream: three TLS records, three
/// writes and three TCP segments per report, each handled by the collector
/// too. A unary message is encoded whole as soon as the body is polled, so
/// it is taken whole here and handed on as a body that says it has ended
/// once its one frame is read: hyper then marks that frame as the end.
/// (A gRPC request has no trailers, so none are lost.)
#[derive(Debug, Clone)]
pub struct WholeMessage<S>(S);

impl<S, ResponseBody> Service<http::Request<Body>> for WholeMessage<S>
where
    S: Service<http::Request<Body>, Response = http::Response<ResponseBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    S::Error: Into<StdError>,
{
    type Response = http::Response<ResponseBody>;
    type Error = StdError;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        // The service made ready by `poll_ready` is the one that must take the call.
        let ready = self.0.clone();
        let mut inner = std::mem::replace(&mut self.0, ready);
        Box::pin(async move {
            let (parts, mut body) = request.into_parts();
            let mut message: Option<Bytes> = None;
            while let Some(frame) =
                std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
            {
                let Ok(data) = frame?.into_data() else {
                    continue;
                };
                message = Some(match message.take() {
                    None => data,
                    Some(before) => [before, data].concat().into(),
                });
            }
            let body = Body::new(OneFrame(message));
            inner
                .call(http::Request::from_parts(parts, body))
                .await
                .map_err(Into::into)
        })
    }
}

/// A body of at most one frame, ended once that frame is read.
struct OneFrame(Option<Bytes>);

impl http_body::Body for OneFrame {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.take().map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }

    /// Not exact on purpose: an exact size would make hyper add a
    /// content-length header, which gRPC does not use.
    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

pub fn enrollment_client(channel: Channel) -> EnrollmentClient<Channel> {
    EnrollmentClient::new(channel)
}

/// Whether a TCP connection to the collector opens within `timeout`: no TLS,
/// nothing sent, so it costs the collector an accept and a close.
pub async fn reachable(host: &str, port: u16, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await,
        Ok(Ok(_))
    )
}

/// Whether `status` says the collector could not be reached at all (nothing
/// listening, no route, connection timed out), as opposed to a collector
/// that answered with an error.
pub fn is_unreachable(status: &tonic::Status) -> bool {
    use std::io::ErrorKind;
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::TimedOut
                    | ErrorKind::HostUnreachable
                    | ErrorKind::NetworkUnreachable
                    | ErrorKind::NotConnected
                    | ErrorKind::AddrNotAvailable
            );
        }
        // tonic and hyper wrap the connect timeout in their own error types.
        let text = cause.to_string();
        if text.contains("timed out") || text.contains("timeout expired") {
            return true;
        }
        source = cause.source();
    }
    false
}

/// Whether the connection `status` came over may be dead: the collector
/// could not be reached, or the request timed out (on a connection the
/// network dropped without a word, every request would time out until the
/// kernel gives up on it, many minutes later).
pub fn may_be_dead(status: &tonic::Status) -> bool {
    let timed_out = status.code() == tonic::Code::Cancelled
        && status.message() == tonic::TimeoutExpired(()).to_string();
    timed_out || is_unreachable(status)
}

/// A status in one line with the transport causes tonic keeps in its source,
/// each said once: tonic and hyper repeat a cause's text in the error that
/// wraps it ("tcp connect error: transport error: tcp connect error: ...").
pub fn describe(status: &tonic::Status) -> String {
    let mut parts = vec![format!("{:?}", status.code()), status.message().to_owned()];
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    each_once(&parts)
}

/// Joins `parts` with ": ", keeping each ": "-separated piece once, in the
/// order first seen.
fn each_once(parts: &[String]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for piece in parts.iter().flat_map(|part| part.split(": ")) {
        let piece = piece.trim();
        if !piece.is_empty() && !seen.contains(&piece) {
            seen.push(piece);
        }
    }
    seen.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_said_once() {
        let parts: Vec<String> = [
            "Unavailable",
            "tcp connect error",
            "transport error",
            "tcp connect error: Connection refused (os error 111)",
            "tcp connect error: Connection refused (os error 111)",
            "Connection refused (os error 111)",
        ]
        .map(str::to_owned)
        .to_vec();
        assert_eq!(
            each_once(&parts),
            "Unavailable: tcp connect error: transport error: Connection refused (os error 111)"
        );
    }

    #[tokio::test]
    async fn refused_connection_is_unreachable_and_described_once() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(reachable("127.0.0.1", port, Duration::from_secs(2)).await);
        drop(listener);
        assert!(!reachable("127.0.0.1", port, Duration::from_secs(2)).await);

        let key = rcgen::KeyPair::generate().unwrap();
        let ca = rcgen::CertificateParams::new(vec!["127.0.0.1".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let url = format!("https://127.0.0.1:{port}");
        let mut client = ingest_client(channel(&url, "127.0.0.1", &ca.pem(), None).unwrap());
        let status = client
            .report(pb::StatusReport::default())
            .await
            .unwrap_err();
        assert!(is_unreachable(&status), "{status:?}");
        let text = describe(&status);
        assert!(text.contains("Connection refused"), "{text}");
        let pieces: Vec<&str> = text.split(": ").collect();
        for (i, piece) in pieces.iter().enumerate() {
            assert!(
                !pieces[i + 1..].contains(piece),
                "{piece:?} twice in {text}"
            );
        }
        let answered = tonic::Status::unavailable("collector is shutting down");
        assert!(!is_unreachable(&answered));
        assert!(!may_be_dead(&answered), "a collector that answers is alive");
        assert!(may_be_dead(&status), "nothing listening");
    }

    #[test]
    fn a_request_that_timed_out_may_have_been_sent_on_a_dead_connection() {
        let timed_out = tonic::Status::from_error(Box::new(tonic::TimeoutExpired(())));
        assert!(may_be_dead(&timed_out), "{timed_out:?}");
        let cancelled_by_collector = tonic::Status::cancelled("request cancelled");
        assert!(!may_be_dead(&cancelled_by_collector));
    }

    /// A body of several data frames that says it has ended only when polled empty, as tonic's does.
    struct Chunks(Vec<&'static [u8]>);

    impl http_body::Body for Chunks {
        type Data = Bytes;
        type Error = tonic::Status;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
            let next = (!self.0.is_empty()).then(|| self.0.remove(0));
            Poll::Ready(next.map(|chunk| Ok(Frame::data(Bytes::from_static(chunk)))))
        }
    }

    /// One request as the connection would be handed it: its path, and each
    /// data frame with whether the body had ended after it.
    type Request = (String, Vec<(Bytes, bool)>);

    /// Records each request, answering nothing.
    #[derive(Clone, Default)]
    struct Connection(std::sync::Arc<std::sync::Mutex<Vec<Request>>>);

    impl Service<http::Request<Body>> for Connection {
        type Response = http::Response<Body>;
        type Error = Infallible;
        type Future = BoxFuture<Self::Response, Infallible>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: http::Request<Body>) -> Self::Future {
            let requests = self.0.clone();
            Box::pin(async move {
                let path = request.uri().path().to_owned();
                let mut body = request.into_body();
                let mut frames = Vec::new();
                while let Some(frame) =
                    std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
                {
                    let data = frame.unwrap().into_data().unwrap();
                    frames.push((data, body.is_end_stream()));
                }
                requests.lock().unwrap().push((path, frames));
                Ok(http::Response::new(Body::empty()))
            })
        }
    }

    #[tokio::test]
    async fn a_message_reaches_the_connection_as_one_frame_that_ends_the_body() {
        let connection = Connection::default();
        let mut service = WholeMessage(connection.clone());
        let request = http::Request::new(Body::new(Chunks(vec![b"\0\0\0\0\x03", b"abc"])));
        std::future::poll_fn(|cx| service.poll_ready(cx))
            .await
            .unwrap();
        service.call(request).await.unwrap();
        let requests = connection.0.lock().unwrap().clone();
        assert_eq!(requests.len(), 1);
        assert_eq!(
            requests[0].1,
            [(Bytes::from_static(b"\0\0\0\0\x03abc"), true)]
        );
    }

    #[tokio::test]
    async fn an_encoded_report_goes_out_as_the_generated_client_sends_the_report() {
        use prost::Message;
        let report = pb::StatusReport {
            seq: 7,
            claimed_device_id: "device-7".into(),
            ..Default::default()
        };
        let generated = Connection::default();
        let _ = IngestClient::new(WholeMessage(generated.clone()))
            .report(report.clone())
            .await;
        let encoded = Connection::default();
        let _ = report_encoded(
            &mut Grpc::new(WholeMessage(encoded.clone())),
            report.encode_to_vec().into(),
        )
        .await;
        let sent = encoded.0.lock().unwrap().clone();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, "/forewarn.v1.Ingest/Report");
        assert_eq!(sent, *generated.0.lock().unwrap());
    }

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
