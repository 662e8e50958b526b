//! The web port's listener: a bounded number of connections, each closed
//! after a quiet spell, and accept errors that never stop the page.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tracing::debug;

use super::ConnectionsConfig;
use super::agents::ACCEPT_RETRY;
use super::fd_limit::{FdBudget, is_out_of_descriptors};
use super::guarded::Guarded;
use super::slots::SlotPool;

#[derive(Debug)]
pub struct WebListener {
    listener: TcpListener,
    idle_timeout: Duration,
    connections: Arc<SlotPool>,
    budget: Arc<FdBudget>,
}

impl WebListener {
    pub fn new(listener: TcpListener, config: &ConnectionsConfig, budget: Arc<FdBudget>) -> Self {
        Self {
            listener,
            idle_timeout: config.web_idle_timeout(),
            // Browsers and Prometheus come from few addresses: no per-source share.
            connections: SlotPool::new("web", config.max_web, config.max_web),
            budget,
        }
    }
}

impl axum::serve::Listener for WebListener {
    type Io = Guarded<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.listener.accept().await {
                Ok((tcp, peer)) => {
                    let open = self.budget.open();
                    let slot = self.connections.admit(peer.ip());
                    return (Guarded::new(tcp, self.idle_timeout, Some(slot), open), peer);
                }
                Err(err) if is_out_of_descriptors(&err) => {
                    self.budget.out_of_descriptors("web", &err);
                    self.connections.close_one();
                    tokio::time::sleep(ACCEPT_RETRY).await;
                }
                Err(err) => {
                    debug!(error = %err, "web port: accept failed");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}
