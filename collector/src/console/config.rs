//! The `[console]` section of the collector's config: session lifetimes,
//! sign-in throttling, the reverse proxies whose `X-Forwarded-For` is
//! believed, and single sign-on with an OpenID provider (docs/console.md).

use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;

use forewarn_secret::SecretSource;

use super::authz::{Role, Scope};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// A session ends this long after sign-in, used or not.
    #[serde(default = "default_session_lifetime_secs")]
    pub session_lifetime_secs: u64,
    /// A session ends after this long without a request.
    #[serde(default = "default_session_idle_secs")]
    pub session_idle_secs: u64,
    /// Failed sign-ins per user name and per address before lockouts start.
    #[serde(default = "default_login_free_failures")]
    pub login_free_failures: u32,
    /// The first lockout; each further failure doubles it.
    #[serde(default = "default_login_base_lockout_secs")]
    pub login_base_lockout_secs: u64,
    /// The longest lockout.
    #[serde(default = "default_login_max_lockout_secs")]
    pub login_max_lockout_secs: u64,
    /// Reverse proxies in front of the web port, as addresses or CIDR
    /// ranges (`"10.0.0.5"`, `"10.1.0.0/16"`). Only a request from one of
    /// these has its client address taken from `X-Forwarded-For` (for the
    /// audit log and the sign-in throttle); from anyone else the header is
    /// ignored, since any client can write it.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Single sign-on with an OpenID provider; omit for local users only.
    #[serde(default)]
    pub oidc: Option<OidcConfig>,
}

/// Sign-in with an OpenID provider (authorization code flow with PKCE).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer URL, as its discovery document names it
    /// (`https://login.example.com/realms/it`).
    pub issuer_url: String,
    /// This collector's client id at the provider.
    pub client_id: String,
    /// The client secret, from `{ env = "NAME" }` or `{ file = "PATH" }`.
    pub client_secret: SecretSource,
    /// Where the provider sends the browser back: this collector's
    /// `https://HOST/api/v1/session/oidc/callback`, registered at the provider.
    pub redirect_url: String,
    /// Scopes asked for besides `openid` (which is always asked).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The ID token claim that becomes the console user name.
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// The ID token claim (a string or a list of strings) matched against
    /// `mappings`, e.g. `groups` or `roles`.
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// Claim values and the role and device groups they grant. The first
    /// mapping whose `value` the claim holds wins, so list the strongest
    /// first. A sign-in whose claim holds none is refused.
    pub mappings: Vec<OidcMapping>,
}

/// One claim value and what it grants.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcMapping {
    /// A value of `role_claim`, e.g. the provider's group `it-admins`.
    pub value: String,
    pub role: Role,
    /// Device groups reached, `["*"]` for all.
    pub groups: Vec<String>,
}

fn default_session_lifetime_secs() -> u64 {
    12 * 3600
}
fn default_session_idle_secs() -> u64 {
    3600
}
fn default_login_free_failures() -> u32 {
    5
}
fn default_login_base_lockout_secs() -> u64 {
    30
}
fn default_login_max_lockout_secs() -> u64 {
    15 * 60
}
fn default_scopes() -> Vec<String> {
    vec!["profile".into()]
}
fn default_username_claim() -> String {
    "preferred_username".into()
}
fn default_role_claim() -> String {
    "groups".into()
}

/// Longest session accepted: a week.
const MAX_SESSION_SECS: u64 = 7 * 24 * 3600;

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            session_lifetime_secs: default_session_lifetime_secs(),
            session_idle_secs: default_session_idle_secs(),
            login_free_failures: default_login_free_failures(),
            login_base_lockout_secs: default_login_base_lockout_secs(),
            login_max_lockout_secs: default_login_max_lockout_secs(),
            trusted_proxies: Vec::new(),
            oidc: None,
        }
    }
}

/// An address or a CIDR range of addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// Parses `"10.0.0.5"`, `"10.1.0.0/16"`, `"fd00::/8"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or CIDR range"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0..={max}"))?,
        };
        Ok(Self { network, prefix })
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(v6) if self.network.is_ipv4() => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            other => other,
        };
        match (self.network, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl ConsoleConfig {
    pub fn resolve_paths(&mut self, base: &Path) {
        if let Some(oidc) = &mut self.oidc {
            oidc.client_secret.resolve_path(base);
        }
    }

    /// The trusted proxies, parsed (valid after [`Self::problems`] is empty).
    pub fn proxy_ranges(&self) -> Vec<IpRange> {
        self.trusted_proxies
            .iter()
            .filter_map(|p| IpRange::parse(p).ok())
            .collect()
    }

    /// Every problem of the section, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (key, value) in [
            ("console.session_lifetime_secs", self.session_lifetime_secs),
            ("console.session_idle_secs", self.session_idle_secs),
        ] {
            if !(60..=MAX_SESSION_SECS).contains(&value) {
                problems.push(format!("{key}: {value} is outside 60..={MAX_SESSION_SECS}"));
            }
        }
        if self.login_base_lockout_secs == 0 {
            problems.push("console.login_base_lockout_secs: must be at least 1".into());
        }
        if self.login_max_lockout_secs < self.login_base_lockout_secs {
            problems.push(format!(
                "console.login_max_lockout_secs: {} is below login_base_lockout_secs ({})",
                self.login_max_lockout_secs, self.login_base_lockout_secs
            ));
        }
        for (index, proxy) in self.trusted_proxies.iter().enumerate() {
            if let Err(problem) = IpRange::parse(proxy) {
                problems.push(format!("console.trusted_proxies[{index}]: {problem}"));
            }
        }
        if let Some(oidc) = &self.oidc {
            problems.extend(oidc.problems());
        }
        problems
    }
}

impl OidcConfig {
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (key, url) in [
            ("console.oidc.issuer_url", &self.issuer_url),
            ("console.oidc.redirect_url", &self.redirect_url),
        ] {
            if let Some(problem) = url_problem(url) {
                problems.push(format!("{key}: {url:?} {problem}"));
            }
        }
        if self.client_id.trim().is_empty() {
            problems.push("console.oidc.client_id: must not be empty".into());
        }
        problems.extend(self.client_secret.problem("console.oidc.client_secret"));
        for (key, claim) in [
            ("console.oidc.username_claim", &self.username_claim),
            ("console.oidc.role_claim", &self.role_claim),
        ] {
            if claim.trim().is_empty() {
                problems.push(format!("{key}: must name an ID token claim"));
            }
        }
        if self.mappings.is_empty() {
            problems.push(
                "console.oidc.mappings: list at least one claim value with its role and groups"
                    .into(),
            );
        }
        for (index, mapping) in self.mappings.iter().enumerate() {
            let key = format!("console.oidc.mappings[{index}]");
            if mapping.value.is_empty() {
                problems.push(format!("{key}.value: must not be empty"));
            }
            if let Err(problem) = mapping.scope() {
                problems.push(format!("{key}.groups: {problem}"));
            }
        }
        problems
    }
}

impl OidcMapping {
    /// The groups as a scope: `["*"]` is all groups.
    pub fn scope(&self) -> Result<Scope, String> {
        Scope::from_list(Some(&self.groups))
    }
}

/// Why `url` cannot be an issuer or redirect URL, if it cannot: it must be
/// `https://`, or `http://` to a loopback address (a provider on the same
/// machine, as in tests).
fn url_problem(url: &str) -> Option<&'static str> {
    if url.starts_with("https://") {
        return None;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Some("must start with https://");
    };
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let host = host
        .rsplit_once(':')
        .filter(|(_, port)| port.parse::<u16>().is_ok())
        .map_or(host, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback =
        host == "localhost" || host.parse::<IpAddr>().is_ok_and(|addr| addr.is_loopback());
    (!loopback).then_some("must start with https:// (plain http:// only to a loopback address)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConsoleConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn defaults_are_todays_session_and_throttle_values() {
        let config = parse("").unwrap();
        assert_eq!(config.session_lifetime_secs, 12 * 3600);
        assert_eq!(config.session_idle_secs, 3600);
        assert_eq!(config.login_free_failures, 5);
        assert_eq!(config.login_base_lockout_secs, 30);
        assert_eq!(config.login_max_lockout_secs, 900);
        assert!(config.problems().is_empty());
    }

    #[test]
    fn unknown_keys_are_refused_in_every_table() {
        let err = parse("session_lifetime = 5").unwrap_err().to_string();
        assert!(err.contains("session_lifetime"), "{err}");
        let err = parse(
            "[oidc]\nissuer_url = \"https://a\"\nclient_id = \"c\"\nclient_secret = { env = \"S\" }\n\
             redirect_url = \"https://b\"\nmappings = [{ value = \"v\", role = \"admin\", groups = [\"*\"], rank = 1 }]",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("rank"), "{err}");
    }

    #[test]
    fn every_bad_key_is_named_at_once() {
        let config = parse(
            r#"
            session_idle_secs = 5
            login_base_lockout_secs = 60
            login_max_lockout_secs = 10
            trusted_proxies = ["10.0.0.1", "10.0.0.0/33", "proxy.example"]
            [oidc]
            issuer_url = "http://login.example.com"
            client_id = " "
            client_secret = { env = "A", file = "b" }
            redirect_url = "https://forewarn.example.com/api/v1/session/oidc/callback"
            role_claim = ""
            mappings = [{ value = "", role = "viewer", groups = [] },
                        { value = "x", role = "viewer", groups = ["bad group"] }]
            "#,
        )
        .unwrap();
        let problems = config.problems().join("\n");
        for key in [
            "console.session_idle_secs",
            "console.login_max_lockout_secs",
            "console.trusted_proxies[1]",
            "console.trusted_proxies[2]",
            "console.oidc.issuer_url",
            "console.oidc.client_id",
            "console.oidc.client_secret",
            "console.oidc.role_claim",
            "console.oidc.mappings[0].value",
            "console.oidc.mappings[0].groups",
            "console.oidc.mappings[1].groups",
        ] {
            assert!(problems.contains(key), "{key} missing in:\n{problems}");
        }
        assert!(!problems.contains("trusted_proxies[0]"), "{problems}");
        assert!(!problems.contains("redirect_url"), "{problems}");
    }

    #[test]
    fn ranges_match_addresses_inside_only() {
        let range = IpRange::parse("10.1.0.0/16").unwrap();
        assert!(range.contains("10.1.200.3".parse().unwrap()));
        assert!(!range.contains("10.2.0.1".parse().unwrap()));
        assert!(range.contains("::ffff:10.1.0.9".parse().unwrap()));
        let single = IpRange::parse("::1").unwrap();
        assert!(single.contains("::1".parse().unwrap()));
        assert!(!single.contains("::2".parse().unwrap()));
        assert!(
            IpRange::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
    }

    #[test]
    fn plain_http_is_for_loopback_only() {
        assert_eq!(url_problem("http://127.0.0.1:8080/x"), None);
        assert_eq!(url_problem("http://[::1]:9/"), None);
        assert_eq!(url_problem("http://localhost/"), None);
        assert!(url_problem("http://10.0.0.1/").is_some());
        assert!(url_problem("ftp://a/").is_some());
    }
}
