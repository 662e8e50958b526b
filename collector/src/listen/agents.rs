//! The agent port: accepting, and TLS handshakes with a deadline.
//!
//! tonic is handed connections that already finished their handshake (it
//! reads the device certificate from them as before). Each handshake runs in
//! its own task holding a slot of the unauthenticated pool; a connection that
//! presents a device certificate gives its slot back and gets the long idle
//! time, one without (an agent enrolling) keeps it until it ends.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;
use tracing::debug;

use crate::ingest::AgentPeer;

use super::ConnectionsConfig;
use super::fd_limit::{FdBudget, OpenConnection, is_out_of_descriptors};
use super::guarded::Guarded;
use super::slots::SlotPool;

/// An agent connection after its TLS handshake, with its peer as read then.
#[derive(Debug)]
pub struct AgentConnection {
    stream: Guarded<TlsStream<TcpStream>>,
    peer: AgentPeer,
}

/// Pause after an accept error, so a persistent one never spins the loop.
pub(crate) const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// Handshaken connections waiting for tonic to take them.
const HANDED_OVER: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("the collector's server certificate or key cannot be used: {0}")]
    Identity(String),
    #[error("TLS configuration rejected: {0}")]
    Config(#[from] rustls::Error),
    #[error("the collector CA cannot verify device certificates: {0}")]
    ClientVerifier(#[from] rustls::server::VerifierBuilderError),
}

/// TLS for the agent port: the server chain and key, device certificates
/// verified against the collector CA but optional (enrollment has none yet;
/// Report and Renew check for one), HTTP/2 only. All arguments are PEM.
pub fn server_tls_config(
    server_chain: &str,
    server_key: &str,
    ca_cert: &str,
) -> Result<rustls::ServerConfig, TlsSetupError> {
    let chain = CertificateDer::pem_slice_iter(server_chain.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| TlsSetupError::Identity(err.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(server_key.as_bytes())
        .map_err(|err| TlsSetupError::Identity(err.to_string()))?;
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(CertificateDer::pem_slice_iter(ca_cert.as_bytes()).flatten());
    // Named, not the process default: a build that also links the agent
    // (tests, the demo) has ring as well, and then rustls has no default.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), Arc::clone(&provider))
        .allow_unauthenticated()
        .build()?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// The agent port's listener with its limits.
pub struct AgentListener {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    idle_timeout: Duration,
    unauthenticated: Arc<SlotPool>,
    budget: Arc<FdBudget>,
}

impl std::fmt::Debug for AgentListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentListener")
            .field("listener", &self.listener)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl AgentListener {
    pub fn new(
        listener: TcpListener,
        tls: rustls::ServerConfig,
        config: &ConnectionsConfig,
        budget: Arc<FdBudget>,
    ) -> Self {
        Self {
            listener,
            acceptor: TlsAcceptor::from(Arc::new(tls)),
            handshake_timeout: config.handshake_timeout(),
            idle_timeout: config.idle_timeout(),
            unauthenticated: SlotPool::new(
                "unauthenticated agent",
                config.max_unauthenticated,
                config.max_unauthenticated_per_source,
            ),
            budget,
        }
    }

    /// Accepts until `stop` completes (or tonic stops taking connections);
    /// connections come out of the stream once their handshake is done.
    pub fn incoming(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> ReceiverStream<Result<AgentConnection, Infallible>> {
        let (handed_over, incoming) = mpsc::channel(HANDED_OVER);
        tokio::spawn(self.accept_loop(handed_over, stop));
        ReceiverStream::new(incoming)
    }

    async fn accept_loop(
        self,
        handed_over: mpsc::Sender<Result<AgentConnection, Infallible>>,
        stop: impl Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        loop {
            let accepted = tokio::select! {
                () = &mut stop => return,
                () = handed_over.closed() => return,
                accepted = self.listener.accept() => accepted,
            };
            match accepted {
                Ok((tcp, peer)) => {
                    let open = self.budget.open();
                    let _ = tcp.set_nodelay(true);
                    tokio::spawn(self.handshake(tcp, peer, open, handed_over.clone()));
                }
                Err(err) if is_out_of_descriptors(&err) => {
                    self.budget.out_of_descriptors("agent", &err);
                    self.unauthenticated.close_one();
                    tokio::time::sleep(ACCEPT_RETRY).await;
                }
                Err(err) => {
                    debug!(error = %err, "agent port: accept failed");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                }
            }
        }
    }

    fn handshake(
        &self,
        tcp: TcpStream,
        peer: SocketAddr,
        open: OpenConnection,
        handed_over: mpsc::Sender<Result<AgentConnection, Infallible>>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let mut slot = self.unauthenticated.admit(peer.ip());
        let acceptor = self.acceptor.clone();
        let (handshake_timeout, idle_timeout) = (self.handshake_timeout, self.idle_timeout);
        async move {
            let handshake = tokio::time::timeout(handshake_timeout, acceptor.accept(tcp));
            let tls = tokio::select! {
                finished = handshake => match finished {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(err)) => {
                        debug!(%peer, error = %err, "agent port: TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        debug!(%peer, timeout_secs = handshake_timeout.as_secs(), "agent port: TLS handshake timed out");
                        return;
                    }
                },
                () = slot.taken() => {
                    debug!(%peer, "agent port: closed during its TLS handshake to make room");
                    return;
                }
            };
            let peer = AgentPeer::after_handshake(Some(peer), tls.get_ref().1.peer_certificates());
            let stream = if peer.has_certificate() {
                drop(slot);
                Guarded::new(tls, idle_timeout, None, open)
            } else {
                Guarded::new(tls, handshake_timeout, Some(slot), open)
            };
            let connection = AgentConnection { stream, peer };
            // Err only when the server is stopping.
            let _ = handed_over.send(Ok(connection)).await;
        }
    }
}

/// Every request on the connection gets its [`AgentPeer`].
impl Connected for AgentConnection {
    type ConnectInfo = AgentPeer;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.peer.clone()
    }
}

impl AsyncRead for AgentConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for AgentConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
