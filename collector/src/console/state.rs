//! What every console handler shares: the store, the session and throttle
//! settings, the throttle itself.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::throttle::LoginThrottle;
use crate::store::Store;

/// Session and sign-in settings (docs/console.md says why these values).
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    /// A session ends this long after sign-in, used or not.
    pub session_lifetime_secs: i64,
    /// A session ends after this long without a request.
    pub session_idle_secs: i64,
    /// Whether cookies carry `Secure` (sent over HTTPS only).
    pub secure_cookie: bool,
    pub login_free_failures: u32,
    pub login_base_lockout: Duration,
    pub login_max_lockout: Duration,
}

impl ConsoleSettings {
    /// Cookies are `Secure` unless the web port listens on loopback only:
    /// reached over a network, the port must sit behind TLS (a reverse
    /// proxy), and a session cookie must never cross the network in clear.
    pub fn for_listen(addr: SocketAddr) -> Self {
        Self {
            session_lifetime_secs: 12 * 3600,
            session_idle_secs: 3600,
            secure_cookie: !addr.ip().is_loopback(),
            login_free_failures: 5,
            login_base_lockout: Duration::from_secs(30),
            login_max_lockout: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ConsoleState {
    pub store: Arc<dyn Store>,
    pub settings: Arc<ConsoleSettings>,
    pub throttle: Arc<LoginThrottle>,
}

impl ConsoleState {
    pub fn new(store: Arc<dyn Store>, settings: ConsoleSettings) -> Self {
        let throttle = LoginThrottle::new(
            settings.login_free_failures,
            settings.login_base_lockout,
            settings.login_max_lockout,
        );
        Self {
            store,
            settings: Arc::new(settings),
            throttle: Arc::new(throttle),
        }
    }
}
