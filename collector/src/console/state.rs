//! What every console handler shares: the store, the session and throttle
//! settings, the throttle itself, the single sign-on client, and the parts
//! of the collector's config pages show or use (rules, ticket connectors).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use forewarn_secret::SecretError;

use super::config::{ConsoleConfig, IpRange, OidcConfig};
use super::oidc::OidcLogin;
use super::throttle::LoginThrottle;
use crate::rules::RuleBook;
use crate::store::Store;
use crate::tickets::config::TicketsConfig;

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
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpRange>,
    /// Single sign-on, when configured, with its secret loaded.
    pub oidc: Option<(OidcConfig, forewarn_secret::Secret)>,
    /// The rules of every group: the device page draws a disk's forecast
    /// line with its group's forecast settings, as the stored forecast was made.
    pub rules: Arc<RuleBook>,
    /// `[tickets]`: the settings page lists the connectors and tests one.
    pub tickets: Arc<TicketsConfig>,
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
            trusted_proxies: Vec::new(),
            oidc: None,
            rules: Arc::default(),
            tickets: Arc::default(),
        }
    }

    /// The settings of the config's `[console]` section; reads the OIDC
    /// client secret now, so a missing one stops the start, not a sign-in.
    pub fn from_config(config: &ConsoleConfig, addr: SocketAddr) -> Result<Self, SecretError> {
        let oidc = match &config.oidc {
            Some(oidc) => Some((oidc.clone(), oidc.client_secret.load()?)),
            None => None,
        };
        let secs = |s: u64| i64::try_from(s).unwrap_or(i64::MAX);
        Ok(Self {
            session_lifetime_secs: secs(config.session_lifetime_secs),
            session_idle_secs: secs(config.session_idle_secs),
            login_free_failures: config.login_free_failures,
            login_base_lockout: Duration::from_secs(config.login_base_lockout_secs),
            login_max_lockout: Duration::from_secs(config.login_max_lockout_secs),
            trusted_proxies: config.proxy_ranges(),
            oidc,
            ..Self::for_listen(addr)
        })
    }
}

#[derive(Debug, Clone)]
pub struct ConsoleState {
    pub store: Arc<dyn Store>,
    pub settings: Arc<ConsoleSettings>,
    pub throttle: Arc<LoginThrottle>,
    /// `None` when single sign-on is not configured.
    pub oidc: Option<Arc<OidcLogin>>,
}

impl ConsoleState {
    pub fn new(store: Arc<dyn Store>, settings: ConsoleSettings) -> Self {
        let throttle = LoginThrottle::new(
            settings.login_free_failures,
            settings.login_base_lockout,
            settings.login_max_lockout,
        );
        let oidc = settings
            .oidc
            .as_ref()
            .map(|(config, secret)| Arc::new(OidcLogin::new(config.clone(), secret.clone())));
        Self {
            store,
            settings: Arc::new(settings),
            throttle: Arc::new(throttle),
            oidc,
        }
    }
}
