//! Starting and stopping the collector: listeners, TLS, and graceful shutdown.
//!
//! `Collector::open` loads config-derived state (store, PKI), `bind` takes the
//! ports (so callers learn the real addresses when they asked for port 0), and
//! `serve` runs until the shutdown future completes, letting in-flight
//! requests finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::Server;
use tracing::{info, warn};

use forewarn_proto::limits::MAX_MESSAGE_BYTES;
use forewarn_proto::pb::enrollment_server::EnrollmentServer;
use forewarn_proto::pb::ingest_server::IngestServer;

use crate::alerts::sweeper::{self, Sweep};
use crate::config::CollectorConfig;
use crate::console::state::ConsoleSettings;
use crate::fleet::state::ReportIntervals;
use crate::ingest::IngestMetrics;
use crate::ingest::{EnrollmentService, IngestContext, IngestService};
use crate::listen::agents::{AgentListener, TlsSetupError, server_tls_config};
use crate::listen::fd_limit::{self, FdBudget, FdNeeds};
use crate::listen::web::WebListener;
use crate::pki::{CollectorPki, PkiError};
use crate::store::{Store, StoreError};
use crate::tickets::config::BuildError;
use crate::tickets::metrics::TicketMetrics;
use crate::tickets::worker::TicketWorker;
use crate::web;
use crate::web::health::Readiness;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("cannot set up ticketing: {0}")]
    Tickets(#[from] BuildError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error("agent port failed: {0}")]
    Transport(#[source] tonic::transport::Error),
    #[error("web server failed: {0}")]
    Web(#[source] std::io::Error),
    #[error("cannot read console.oidc.client_secret: {0}")]
    OidcSecret(#[from] forewarn_secret::SecretError),
}

/// A collector with its store and PKI loaded, not yet listening.
#[derive(Debug, Clone)]
pub struct Collector {
    pub config: Arc<CollectorConfig>,
    pub store: Arc<dyn Store>,
    pub pki: Arc<CollectorPki>,
    /// Delivers the outbox to the ticket connectors.
    pub tickets: Arc<TicketWorker>,
    pub ticket_metrics: Arc<TicketMetrics>,
    /// Sequence restarts, stale and refused reports, rejected items.
    pub ingest_metrics: Arc<IngestMetrics>,
}

impl Collector {
    pub async fn open(config: CollectorConfig) -> Result<Self, ServeError> {
        let store = crate::store::open(&config.store_config()).await?;
        let pki = CollectorPki::load_or_create(
            &config.data_dir,
            &config.server_names,
            config.tls.as_ref(),
        )?;
        let config = Arc::new(config);
        let ticket_metrics = Arc::new(TicketMetrics::default());
        // Built here so a missing secret stops the start, not the first alert.
        let tickets = Arc::new(TicketWorker::from_config(
            Arc::new(config.tickets.clone()),
            Arc::clone(&store),
            Arc::clone(&ticket_metrics),
        )?);
        Ok(Self {
            config,
            store,
            pki: Arc::new(pki),
            tickets,
            ticket_metrics,
            ingest_metrics: Arc::default(),
        })
    }

    pub async fn bind(self) -> Result<BoundCollector, ServeError> {
        let agent_listener = bind(self.config.agent_listen).await?;
        let web_listener = match self.config.web_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let fd_budget = FdBudget::new(self.check_fd_limit().await?);
        Ok(BoundCollector {
            collector: self,
            agent_listener,
            web_listener,
            fd_budget,
        })
    }

    /// Raises the open file limit and warns when it is below what the
    /// enrolled fleet and the connection caps need; returns the limit.
    async fn check_fd_limit(&self) -> Result<Option<u64>, ServeError> {
        let limit = fd_limit::raise_soft_limit();
        if let Some(limit) = limit {
            let connections = &self.config.connections;
            let needs = FdNeeds {
                devices: self.store.list_devices().await?.len(),
                max_unauthenticated: connections.max_unauthenticated,
                max_web: if self.config.web_listen.is_some() {
                    connections.max_web
                } else {
                    0
                },
            };
            if let Some(warning) = fd_limit::shortfall(limit, &needs) {
                warn!(limit, needs = needs.total(), "{warning}");
            }
        }
        Ok(limit)
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

/// A collector holding its ports.
#[derive(Debug)]
pub struct BoundCollector {
    collector: Collector,
    agent_listener: TcpListener,
    web_listener: Option<TcpListener>,
    /// Open connections against the open file limit.
    fd_budget: Arc<FdBudget>,
}

impl BoundCollector {
    pub fn agent_addr(&self) -> SocketAddr {
        self.agent_listener
            .local_addr()
            .unwrap_or(self.collector.config.agent_listen)
    }

    pub fn web_addr(&self) -> Option<SocketAddr> {
        self.web_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// Serves agents (and the web page) until `shutdown` completes.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let Collector {
            config,
            store,
            pki,
            tickets,
            ticket_metrics,
            ingest_metrics,
        } = self.collector;
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });

        let tls = server_tls_config(
            pki.server_chain_pem(),
            pki.server_key_pem(),
            pki.ca_cert_pem(),
        )?;
        let connections = config.connections.clone();
        let console = match &self.web_listener {
            Some(listener) => Some(ConsoleSettings::from_config(
                &config.console,
                listener.local_addr().map_err(ServeError::Web)?,
            )?),
            None => None,
        };
        let rules = Arc::new(config.rule_book());
        let console = console.map(|console| ConsoleSettings {
            rules: Arc::clone(&rules),
            tickets: Arc::new(config.tickets.clone()),
            ..console
        });
        let sweeper = sweeper::run(
            Arc::clone(&store),
            Arc::clone(&rules),
            Sweep {
                interval: Duration::from_secs(config.sweep_interval_secs),
                delivered_retention_secs: config
                    .tickets
                    .delivered_retention_days
                    .saturating_mul(86_400),
            },
            stopped(stop_rx.clone()),
        );
        let retention = crate::store::retention::run(
            Arc::clone(&store),
            config.history,
            stopped(stop_rx.clone()),
        );
        let sweeper = async move { tokio::join!(sweeper, retention).0 };
        let context = IngestContext {
            config,
            store: Arc::clone(&store),
            pki,
            rules,
            ticket_wake: tickets.waker(),
            metrics: Arc::clone(&ingest_metrics),
        };
        let readiness = Arc::new(Readiness::default());
        let intervals: Arc<dyn ReportIntervals> = Arc::clone(&context.config) as _;
        let ticket_worker = readiness.ticket_worker(tickets.run(stopped(stop_rx.clone())));
        let agent_connections = AgentListener::new(
            self.agent_listener,
            tls,
            &connections,
            Arc::clone(&self.fd_budget),
        )
        .incoming(stopped(stop_rx.clone()));
        let agent_server = Server::builder()
            .add_service(
                EnrollmentServer::new(EnrollmentService::new(context.clone()))
                    .max_decoding_message_size(MAX_MESSAGE_BYTES),
            )
            .add_service(
                IngestServer::new(IngestService::new(context))
                    .max_decoding_message_size(MAX_MESSAGE_BYTES),
            )
            .serve_with_incoming_shutdown(agent_connections, stopped(stop_rx.clone()));
        let agent_server = readiness.agent_listener(agent_server);

        let web_readiness = Arc::clone(&readiness);
        let web_server = async move {
            match (self.web_listener, console) {
                (Some(listener), Some(console)) => {
                    let listener = WebListener::new(listener, &connections, self.fd_budget);
                    web::serve(
                        listener,
                        store,
                        ticket_metrics,
                        ingest_metrics,
                        web_readiness,
                        intervals,
                        console,
                        stopped(stop_rx),
                    )
                    .await
                }
                _ => Ok(()),
            }
        };
        info!("collector serving");
        let (agents, web, (), ()) = tokio::join!(agent_server, web_server, sweeper, ticket_worker);
        agents.map_err(ServeError::Transport)?;
        web.map_err(ServeError::Web)?;
        info!("collector stopped");
        Ok(())
    }
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// Completes on SIGINT or SIGTERM (Ctrl-C on Windows).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    info!("shutdown requested");
}
