//! What every connector's config shares: the priority map, the error building a
//! connector, and the checks and defaults of fields most connectors have
//! (an http(s) address, a request timeout, a secret).
//!
//! Each connector owns its config, defaults, validation and `build` in its own
//! file; the `[tickets]` section ([`super::config`]) only lists them. This module
//! sits below both, so the dependency runs one way: config → connectors → here.

use std::path::Path;

use forewarn_secret::{Secret, SecretError, SecretSource};
use serde::Deserialize;

use super::{Connector, ConnectorError, Severity};

/// What the `[tickets]` section asks of every connector's settings.
pub trait ConnectorSettings: std::fmt::Debug {
    /// Every problem with these settings, each naming its key under `key`
    /// (`tickets.connectors.NAME`).
    fn problems(&self, key: &str, problems: &mut Vec<String>);
    /// Makes relative file paths (secrets, CA files) relative to `base`, the
    /// config file's directory, so a service does not depend on its cwd.
    fn resolve_paths(&mut self, base: &Path);
    /// The connector's own priority map, used when a policy has none.
    fn priorities(&self) -> Option<&PriorityMap> {
        None
    }
    /// Whether the system keeps tickets (as opposed to notify-only channels).
    fn keeps_tickets(&self) -> bool {
        true
    }
}

/// The target system's priority value for each severity.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityMap {
    pub critical: String,
    pub warning: String,
    pub info: String,
}

impl PriorityMap {
    pub fn for_severity(&self, severity: Severity) -> &str {
        match severity {
            Severity::Critical => &self.critical,
            Severity::Warning => &self.warning,
            Severity::Info => &self.info,
        }
    }
}

/// Errors building a connector from its config.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("tickets.connectors.{name}.{field}: {source}")]
    Secret {
        name: String,
        field: &'static str,
        #[source]
        source: SecretError,
    },
    #[error("tickets.connectors.{name}: {source}")]
    Client {
        name: String,
        #[source]
        source: ConnectorError,
    },
}

/// Reads the secret of connector `name`'s `field`.
pub fn load_secret(
    name: &str,
    field: &'static str,
    source: &SecretSource,
) -> Result<Secret, BuildError> {
    source.load().map_err(|source| BuildError::Secret {
        name: name.into(),
        field,
        source,
    })
}

/// Boxes a built connector, or names the connector whose client could not be built.
pub fn built(
    name: &str,
    connector: Result<impl Connector + 'static, ConnectorError>,
) -> Result<Box<dyn Connector>, BuildError> {
    match connector {
        Ok(connector) => Ok(Box::new(connector)),
        Err(source) => Err(BuildError::Client {
            name: name.into(),
            source,
        }),
    }
}

/// `{key}.{field}` must be an http:// or https:// address.
pub fn check_http_url(key: &str, field: &str, value: &str, problems: &mut Vec<String>) {
    if !(value.starts_with("https://") || value.starts_with("http://")) {
        problems.push(format!(
            "{key}.{field}: {value:?} is not an http:// or https:// address"
        ));
    }
}

/// `{key}.{field}` must name exactly one source.
pub fn check_secret(key: &str, field: &str, source: &SecretSource, problems: &mut Vec<String>) {
    problems.extend(source.problem(&format!("{key}.{field}")));
}

/// `{key}.timeout_secs` must be 1..=300.
pub fn check_timeout(key: &str, timeout_secs: u64, problems: &mut Vec<String>) {
    if !(1..=300).contains(&timeout_secs) {
        problems.push(format!(
            "{key}.timeout_secs: {timeout_secs} is outside 1..=300"
        ));
    }
}

/// Default timeout of each request, in seconds.
pub fn default_timeout_secs() -> u64 {
    10
}
