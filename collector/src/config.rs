//! Collector configuration (TOML).
//!
//! Every field is documented here because this is the operator's reference.
//! Unknown keys are errors, and `validate` reports every problem at once, each
//! with its key and the file it came from. Relative paths are resolved against
//! the directory of the config file, so a service does not depend on its cwd.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use forewarn_proto::{CheckKind, pb};
use forewarn_secret::{Secret, SecretSource};

use crate::console::config::ConsoleConfig;
use crate::listen::ConnectionsConfig;
use crate::rules::config::builtin_group_overrides;
use crate::rules::{RuleBook, RulesConfig};
use crate::store::history::HistoryConfig;
use crate::store::{DEFAULT_POSTGRES_CONNECTIONS, StoreConfig};
use crate::tickets::config::TicketsConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid config file {path}:\n  - {}", problems.join("\n  - "))]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorConfig {
    /// Directory holding the database and the collector's CA and keys.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Where the fleet's state lives: `"sqlite"` (the default: the file
    /// `forewarn.sqlite3` in `data_dir`), or a PostgreSQL URL,
    /// `postgres://USER@HOST:PORT/DATABASE`, which several collectors may
    /// share (see `docs/scaling.md`; `?sslmode=require&sslrootcert=CA.pem`
    /// for TLS). Never printed: it may hold a password, but prefer
    /// `store_password`.
    #[serde(default = "default_store")]
    pub store: Secret,
    /// The PostgreSQL password, from `{ env = "NAME" }` or
    /// `{ file = "PATH" }`; wins over a password in `store`.
    #[serde(default)]
    pub store_password: Option<SecretSource>,
    /// PostgreSQL only: the most connections this collector opens to the
    /// database at once (default 16, within 4..=1024). Ingest stores up to
    /// four batches of reports at once, each on a connection of its own; the
    /// sweeper, the ticket worker and the web page take one each while they
    /// work; calls beyond the limit wait for a free connection. Size the
    /// server's `max_connections` for this plus 2 (the locks of the sweeper
    /// and of retention, each on a connection of its own) times the number
    /// of collectors, plus a few admin sessions (see `docs/scaling.md`).
    #[serde(default)]
    pub store_max_connections: Option<usize>,
    /// Address the gRPC/mTLS port for agents listens on.
    #[serde(default = "default_agent_listen")]
    pub agent_listen: SocketAddr,
    /// Address of the web page and API; omit to serve no web page.
    #[serde(default = "default_web_listen")]
    pub web_listen: Option<SocketAddr>,
    /// Host names and IP addresses agents use to reach the collector; all go
    /// into the server certificate the collector creates for itself.
    #[serde(default = "default_server_names")]
    pub server_names: Vec<String>,
    /// Lifetime of device certificates. Agents renew after two thirds of it.
    #[serde(default = "default_device_cert_validity_secs")]
    pub device_cert_validity_secs: u64,
    /// Report interval for devices whose group does not set one.
    #[serde(default = "default_report_interval_secs")]
    pub report_interval_secs: u32,
    /// Per-group policy, keyed by the group name used in `token create --group`.
    #[serde(default)]
    pub groups: BTreeMap<String, GroupConfig>,
    /// Operator-provided CA and server certificate, instead of generated ones.
    #[serde(default)]
    pub tls: Option<ProvidedTls>,
    /// Alert rules for every device (see `docs/rules.md` for the defaults).
    #[serde(default)]
    pub rules: RulesConfig,
    /// Seconds between sweeps for time-based rules (offline, `for`, dead-man,
    /// silences ending).
    #[serde(default = "default_sweep_interval_secs")]
    pub sweep_interval_secs: u64,
    /// Helpdesk tickets and notifications for alerts (see `docs/tickets.md`);
    /// without connectors, no tickets are opened.
    #[serde(default)]
    pub tickets: TicketsConfig,
    /// Timeouts and caps that keep the ports usable under load or attack
    /// (see `listen::ConnectionsConfig`).
    #[serde(default)]
    pub connections: ConnectionsConfig,
    /// How long reports and disk samples are kept (see `docs/history.md`).
    #[serde(default)]
    pub history: HistoryConfig,
    /// The web console and API: sessions, sign-in throttling, trusted
    /// reverse proxies and single sign-on (see `console::config` and
    /// `docs/console.md`).
    #[serde(default)]
    pub console: ConsoleConfig,
}

/// Policy for one device group.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// Seconds between reports for this group; defaults to the top-level value.
    pub report_interval_secs: Option<u32>,
    /// Checks this group does not run ("disks", "certificates", "patches", "backups").
    #[serde(default)]
    pub disabled_checks: Vec<String>,
    /// Rule overrides for this group, shaped like the top-level `[rules]`.
    #[serde(default)]
    pub rules: toml::Table,
}

/// PEM files of an operator-managed PKI. The CA key is needed to sign device certificates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvidedTls {
    /// CA certificate that signs device certificates (and usually the server's).
    pub ca_cert: PathBuf,
    /// Private key of that CA.
    pub ca_key: PathBuf,
    /// Server certificate agents see; must name every entry agents connect to.
    pub server_cert: PathBuf,
    /// Private key of the server certificate.
    pub server_key: PathBuf,
}

fn default_store() -> Secret {
    Secret::new(SQLITE_STORE)
}

/// The `store` value that keeps the fleet in SQLite.
const SQLITE_STORE: &str = "sqlite";

/// Whether `store` names a PostgreSQL database.
fn is_postgres_url(store: &str) -> bool {
    store.starts_with("postgres://") || store.starts_with("postgresql://")
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
fn default_agent_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 7443))
}
fn default_web_listen() -> Option<SocketAddr> {
    Some(SocketAddr::from(([127, 0, 0, 1], 8080)))
}
fn default_server_names() -> Vec<String> {
    vec!["localhost".into(), "127.0.0.1".into()]
}
fn default_device_cert_validity_secs() -> u64 {
    30 * 24 * 3600
}
fn default_report_interval_secs() -> u32 {
    300
}
fn default_sweep_interval_secs() -> u64 {
    30
}

/// Fewer than 4 and reports wait for the sweeper and the web page (ingest
/// alone stores 4 batches at once); more than 1024 is more than a
/// PostgreSQL server serves well, for one collector.
const STORE_CONNECTIONS: std::ops::RangeInclusive<usize> = 4..=1024;

const MIN_CERT_VALIDITY_SECS: u64 = 30;
const MAX_CERT_VALIDITY_SECS: u64 = 397 * 24 * 3600;
const MIN_REPORT_INTERVAL_SECS: u32 = 1;
const MAX_REPORT_INTERVAL_SECS: u32 = 24 * 3600;

impl CollectorConfig {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_toml(&text, path, base)
    }

    /// Parses and validates TOML text; `path` is only used in messages.
    pub fn from_toml(text: &str, path: &Path, base_dir: &Path) -> Result<Self, ConfigError> {
        let mut config: Self = toml::from_str(text).map_err(|err| ConfigError::Parse {
            path: path.to_path_buf(),
            message: err.to_string(),
        })?;
        config.resolve_paths(base_dir);
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems,
            })
        }
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut self.data_dir);
        if let Some(password) = &mut self.store_password {
            password.resolve_path(base);
        }
        if let Some(tls) = &mut self.tls {
            resolve(&mut tls.ca_cert);
            resolve(&mut tls.ca_key);
            resolve(&mut tls.server_cert);
            resolve(&mut tls.server_key);
        }
        self.tickets.resolve_paths(base);
        self.console.resolve_paths(base);
    }

    /// Every problem with the config, each naming its key.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let store = self.store.expose();
        if store != SQLITE_STORE && !is_postgres_url(store) {
            problems.push(
                "store: must be \"sqlite\" or a PostgreSQL URL (postgres://USER@HOST:PORT/DATABASE)"
                    .into(),
            );
        }
        if let Some(password) = &self.store_password {
            if !is_postgres_url(store) {
                problems.push("store_password: only a PostgreSQL store has a password; set `store` to its postgres:// URL or remove this".into());
            }
            problems.extend(password.problem("store_password"));
        }
        if let Some(connections) = self.store_max_connections {
            if !is_postgres_url(store) {
                problems.push("store_max_connections: only a PostgreSQL store has a connection pool; set `store` to its postgres:// URL or remove this".into());
            }
            if !STORE_CONNECTIONS.contains(&connections) {
                problems.push(format!(
                    "store_max_connections: {connections} is outside {}..={}",
                    STORE_CONNECTIONS.start(),
                    STORE_CONNECTIONS.end()
                ));
            }
        }
        if self.server_names.is_empty() {
            problems.push("server_names: must list at least one name agents connect to".into());
        }
        for (index, name) in self.server_names.iter().enumerate() {
            if let Some(problem) = server_name_problem(name) {
                problems.push(format!("server_names[{index}]: {name:?} {problem}"));
            }
        }
        if !(MIN_CERT_VALIDITY_SECS..=MAX_CERT_VALIDITY_SECS)
            .contains(&self.device_cert_validity_secs)
        {
            problems.push(format!(
                "device_cert_validity_secs: {} is outside {MIN_CERT_VALIDITY_SECS}..={MAX_CERT_VALIDITY_SECS}",
                self.device_cert_validity_secs
            ));
        }
        check_interval(
            "report_interval_secs",
            self.report_interval_secs,
            &mut problems,
        );
        problems.extend(self.rules.problems("rules."));
        problems.extend(self.history.problems(self.rules.disk_forecast.window_secs));
        problems.extend(self.tickets.problems());
        problems.extend(self.connections.problems());
        problems.extend(self.console.problems());
        if self.sweep_interval_secs == 0 {
            problems.push("sweep_interval_secs: must be at least 1".into());
        }
        for (name, group) in &self.groups {
            match self.try_rules_for(name) {
                Ok(rules) => problems.extend(rules.problems(&format!("groups.{name}.rules."))),
                Err(message) => problems.push(format!("groups.{name}.rules: {message}")),
            }
            if let Some(interval) = group.report_interval_secs {
                check_interval(
                    &format!("groups.{name}.report_interval_secs"),
                    interval,
                    &mut problems,
                );
            }
            for check in &group.disabled_checks {
                if !CheckKind::NAMES.contains(&check.as_str()) {
                    problems.push(format!(
                        "groups.{name}.disabled_checks: unknown check {check:?} (known: {})",
                        CheckKind::NAMES.join(", ")
                    ));
                }
            }
        }
        problems
    }

    /// The rules for devices of `group`: top-level `[rules]`, then built-in
    /// group defaults (a `servers` group alerts on offline within minutes),
    /// then `[groups.<name>.rules]`.
    pub fn rules_for(&self, group: &str) -> RulesConfig {
        // Validated at load; a failure here can only mean a group without a section.
        self.try_rules_for(group)
            .unwrap_or_else(|_| self.rules.clone())
    }

    /// Rules of every configured group (and `servers`, which has built-in defaults).
    pub fn rule_book(&self) -> RuleBook {
        let groups = self
            .groups
            .keys()
            .map(String::as_str)
            .chain(["servers"])
            .map(|group| (group.to_owned(), self.rules_for(group)))
            .collect();
        RuleBook {
            default: self.rules.clone(),
            groups,
        }
    }

    fn try_rules_for(&self, group: &str) -> Result<RulesConfig, String> {
        let builtin = self.rules.with_overrides(&builtin_group_overrides(group))?;
        match self.groups.get(group) {
            Some(config) => builtin.with_overrides(&config.rules),
            None => Ok(builtin),
        }
    }

    pub fn device_cert_validity(&self) -> Duration {
        Duration::from_secs(self.device_cert_validity_secs)
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("forewarn.sqlite3")
    }

    /// Where the store lives: the SQLite file in `data_dir`, or the
    /// PostgreSQL database `store` names.
    pub fn store_config(&self) -> StoreConfig {
        if is_postgres_url(self.store.expose()) {
            StoreConfig::Postgres {
                url: self.store.clone(),
                password: self.store_password.clone(),
                max_connections: self
                    .store_max_connections
                    .unwrap_or(DEFAULT_POSTGRES_CONNECTIONS),
            }
        } else {
            StoreConfig::Sqlite {
                path: self.database_path(),
            }
        }
    }

    /// The policy pushed to devices of `group`; groups without a section get the defaults.
    pub fn policy_for(&self, group: &str) -> pb::Policy {
        let group_config = self.groups.get(group).cloned().unwrap_or_default();
        let report_interval_secs = group_config
            .report_interval_secs
            .unwrap_or(self.report_interval_secs);
        let mut disabled_checks = group_config.disabled_checks;
        disabled_checks.sort();
        let fingerprint = format!("{report_interval_secs}|{}", disabled_checks.join(","));
        pb::Policy {
            version: hex::encode(&Sha256::digest(fingerprint.as_bytes())[..8]),
            report_interval_secs,
            disabled_checks,
        }
    }
}

impl Default for CollectorConfig {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
            store: default_store(),
            store_password: None,
            store_max_connections: None,
            agent_listen: default_agent_listen(),
            web_listen: default_web_listen(),
            server_names: default_server_names(),
            device_cert_validity_secs: default_device_cert_validity_secs(),
            report_interval_secs: default_report_interval_secs(),
            groups: BTreeMap::new(),
            tls: None,
            rules: RulesConfig::default(),
            sweep_interval_secs: default_sweep_interval_secs(),
            tickets: TicketsConfig::default(),
            connections: ConnectionsConfig::default(),
            history: HistoryConfig::default(),
            console: ConsoleConfig::default(),
        }
    }
}

/// Why `name` cannot go into a server certificate as agents use it, if it cannot.
///
/// Agents connect to `https://NAME:PORT` and check that the collector's
/// certificate names NAME, so each entry is a DNS name or an IP address, as
/// it appears in that URL.
fn server_name_problem(name: &str) -> Option<String> {
    if name.trim().is_empty() {
        return Some("is empty; list the DNS names and IP addresses agents connect to".into());
    }
    if let Some((_, rest)) = name.split_once("://") {
        let host = rest.split(['/', ':']).next().unwrap_or(rest);
        return Some(format!(
            "is a URL; list the host name only (e.g. {host:?}); the port is agent_listen's"
        ));
    }
    if name.chars().any(char::is_whitespace) {
        return Some("contains a space; list each name as its own entry".into());
    }
    if name.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']'))
        && inner.parse::<std::net::Ipv6Addr>().is_ok()
    {
        return Some(format!("has brackets; write the IPv6 address as {inner:?}"));
    }
    if let Some((host, port)) = name.rsplit_once(':')
        && port.parse::<u16>().is_ok()
    {
        return Some(format!(
            "has a port; list the host name only ({host:?}); the port is agent_listen's"
        ));
    }
    if name.contains('*') {
        return Some("is a wildcard; list each name agents connect to".into());
    }
    if rustls_pki_types::DnsName::try_from(name).is_err() {
        return Some(
            "is neither a DNS name (letters, digits, '-' and '.') nor an IP address".into(),
        );
    }
    None
}

fn check_interval(key: &str, value: u32, problems: &mut Vec<String>) {
    if !(MIN_REPORT_INTERVAL_SECS..=MAX_REPORT_INTERVAL_SECS).contains(&value) {
        problems.push(format!(
            "{key}: {value} is outside {MIN_REPORT_INTERVAL_SECS}..={MAX_REPORT_INTERVAL_SECS}"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<CollectorConfig, ConfigError> {
        CollectorConfig::from_toml(text, Path::new("collector.toml"), Path::new("/srv/fw"))
    }

    #[test]
    fn empty_file_gives_defaults_with_data_dir_beside_config() {
        let config = parse("").unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/srv/fw/data"));
        assert_eq!(config.report_interval_secs, 300);
    }

    #[test]
    fn store_is_sqlite_in_data_dir_unless_a_postgres_url_is_given() {
        assert!(matches!(
            parse("").unwrap().store_config(),
            StoreConfig::Sqlite { path } if path == Path::new("/srv/fw/data/forewarn.sqlite3")
        ));
        let config = parse(
            "store = \"postgres://forewarn@db:5432/fleet\"\nstore_password = { file = \"pg-password\" }\n",
        )
        .unwrap();
        let StoreConfig::Postgres {
            url,
            password,
            max_connections,
        } = config.store_config()
        else {
            panic!("expected a PostgreSQL store");
        };
        assert_eq!(url.expose(), "postgres://forewarn@db:5432/fleet");
        assert_eq!(max_connections, DEFAULT_POSTGRES_CONNECTIONS);
        assert_eq!(
            password.and_then(|p| p.file),
            Some(PathBuf::from("/srv/fw/pg-password"))
        );
        assert!(
            !format!("{config:?}").contains("db:5432"),
            "the URL may hold a password"
        );
    }

    #[test]
    fn store_max_connections_sizes_the_postgres_pool_within_its_range() {
        let postgres = "store = \"postgres://forewarn@db:5432/fleet\"\n";
        let config = parse(&format!("{postgres}store_max_connections = 40\n")).unwrap();
        assert!(matches!(
            config.store_config(),
            StoreConfig::Postgres {
                max_connections: 40,
                ..
            }
        ));
        for (value, problem) in [
            (0, "store_max_connections: 0 is outside 4..=1024"),
            (3, "store_max_connections: 3 is outside 4..=1024"),
            (1025, "store_max_connections: 1025 is outside 4..=1024"),
        ] {
            let Err(ConfigError::Invalid { problems, .. }) =
                parse(&format!("{postgres}store_max_connections = {value}\n"))
            else {
                panic!("{value} connections accepted");
            };
            assert_eq!(problems, vec![problem.to_owned()]);
        }
        let Err(ConfigError::Invalid { problems, .. }) = parse("store_max_connections = 8\n")
        else {
            panic!("a pool size for SQLite accepted");
        };
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("store_max_connections: only a PostgreSQL store"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_store_that_is_neither_sqlite_nor_postgres_is_refused_with_its_key() {
        let err =
            parse("store = \"mysql://db/fleet\"\nstore_password = { env = \"PW\" }\n").unwrap_err();
        let ConfigError::Invalid { problems, .. } = err else {
            panic!("expected Invalid, got {err}");
        };
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("store: must be \"sqlite\" or a PostgreSQL URL"));
        assert!(problems[1].starts_with("store_password: only a PostgreSQL store"));
    }

    #[test]
    fn unknown_key_is_an_error_naming_the_key_and_file() {
        let err = parse("agent_lisen = \"0.0.0.0:1\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("agent_lisen"), "{err}");
        assert!(err.contains("collector.toml"), "{err}");
    }

    #[test]
    fn every_invalid_value_is_reported_with_its_key() {
        let err = parse(
            "device_cert_validity_secs = 1\n[groups.kiosk]\nreport_interval_secs = 0\ndisabled_checks = [\"dsks\"]\n",
        )
        .unwrap_err();
        let ConfigError::Invalid { problems, .. } = err else {
            panic!("expected Invalid, got {err}");
        };
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("device_cert_validity_secs"));
        assert!(problems[1].starts_with("groups.kiosk.report_interval_secs"));
        assert!(problems[2].starts_with("groups.kiosk.disabled_checks"));
    }

    #[test]
    fn server_names_that_agents_cannot_connect_to_are_refused_naming_key_and_file() {
        let err = parse(
            "server_names = [\"collector.example.com\", \"https://fw.example.com:7443\", \"fw example\", \"\", \"fw.example.com:7443\", \"[::1]\", \"*.example.com\", \"fw_01!\", \"10.0.0.5\", \"::1\"]\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("collector.toml"), "{err}");
        let ConfigError::Invalid { problems, .. } = err else {
            panic!("expected Invalid, got {err}");
        };
        assert_eq!(
            problems,
            [
                "server_names[1]: \"https://fw.example.com:7443\" is a URL; list the host name only (e.g. \"fw.example.com\"); the port is agent_listen's",
                "server_names[2]: \"fw example\" contains a space; list each name as its own entry",
                "server_names[3]: \"\" is empty; list the DNS names and IP addresses agents connect to",
                "server_names[4]: \"fw.example.com:7443\" has a port; list the host name only (\"fw.example.com\"); the port is agent_listen's",
                "server_names[5]: \"[::1]\" has brackets; write the IPv6 address as \"::1\"",
                "server_names[6]: \"*.example.com\" is a wildcard; list each name agents connect to",
                "server_names[7]: \"fw_01!\" is neither a DNS name (letters, digits, '-' and '.') nor an IP address",
            ]
        );
        assert!(
            parse("server_names = [\"fw-01.corp.example\", \"192.0.2.7\", \"localhost\"]\n")
                .is_ok()
        );
    }

    #[test]
    fn group_rules_override_defaults_and_servers_get_a_short_offline_limit() {
        let config = parse(
            "[rules.disk_free_percent]\nwarning = 15\n[groups.kiosk.rules.disk_free_percent]\ncritical = 2\n",
        )
        .unwrap();
        let kiosk = config.rules_for("kiosk");
        assert_eq!(kiosk.disk_free_percent.warning, Some(15.0));
        assert_eq!(kiosk.disk_free_percent.critical, Some(2.0));
        assert_eq!(
            config.rules_for("servers").offline_minutes.critical,
            Some(10.0)
        );
        assert_eq!(config.rules_for("laptops").offline_minutes.critical, None);
    }

    #[test]
    fn bad_rule_overrides_name_the_key_and_file() {
        let err = parse("[groups.kiosk.rules.disk_free_percent]\nwarnig = 2\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("groups.kiosk.rules"), "{err}");
        assert!(err.contains("warnig"), "{err}");
        assert!(err.contains("collector.toml"), "{err}");
        let err = parse("[rules.disk_free_percent]\nwarning = 2\ncritical = 5\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("rules.disk_free_percent.critical"), "{err}");
        let err = parse("[rules.disk_free_percnt]\nwarning = 2\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("disk_free_percnt"), "{err}");
    }

    #[test]
    fn tickets_section_is_read_and_its_problems_are_reported_with_keys() {
        let config = parse(
            "[tickets]\npoll_interval_ms = 50\n[tickets.connectors.rt]\nkind = \"request_tracker\"\nurl = \"http://127.0.0.1:8081\"\ntoken = { file = \"rt-token\" }\nqueue = \"General\"\n",
        )
        .unwrap();
        assert_eq!(config.tickets.poll_interval_ms, 50);
        let Some(crate::tickets::config::ConnectorConfig::RequestTracker(rt)) =
            config.tickets.connectors.get("rt")
        else {
            panic!("expected the rt connector: {:?}", config.tickets);
        };
        assert_eq!(rt.token.file, Some(PathBuf::from("/srv/fw/rt-token")));
        let err = parse("[tickets]\nlease_secs = 0\n[tickets.connectors.rt]\nkind = \"request_tracker\"\nurl = \"rt\"\ntoken = { env = \"RT\" }\nqueue = \"General\"\n")
            .unwrap_err();
        let ConfigError::Invalid { problems, .. } = err else {
            panic!("expected Invalid, got {err}");
        };
        assert!(
            problems[0].starts_with("tickets.connectors.rt.url"),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("tickets.lease_secs"),
            "{problems:?}"
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        let err = parse("[tickets]\npoll_interval = 5\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("poll_interval"), "{err}");
    }

    #[test]
    fn delivered_retention_defaults_to_thirty_days_and_a_bad_value_names_its_key_and_file() {
        assert_eq!(parse("").unwrap().tickets.delivered_retention_days, 30);
        assert_eq!(
            parse("[tickets]\ndelivered_retention_days = 7\n")
                .unwrap()
                .tickets
                .delivered_retention_days,
            7
        );
        for (value, problem) in [
            (
                "0",
                "tickets.delivered_retention_days: 0 is outside 1..=3650",
            ),
            (
                "3651",
                "tickets.delivered_retention_days: 3651 is outside 1..=3650",
            ),
        ] {
            let err =
                parse(&format!("[tickets]\ndelivered_retention_days = {value}\n")).unwrap_err();
            assert!(err.to_string().contains("collector.toml"), "{err}");
            let ConfigError::Invalid { problems, .. } = err else {
                panic!("expected Invalid, got {err}");
            };
            assert_eq!(problems, [problem]);
        }
        let err = parse("[tickets]\ndelivered_retention_days = -1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("delivered_retention_days"), "{err}");
        let err = parse("[tickets]\ndelivered_retention_dayz = 7\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("delivered_retention_dayz"), "{err}");
    }

    #[test]
    fn policy_version_changes_when_group_policy_changes() {
        let a = parse("[groups.servers]\nreport_interval_secs = 60\n").unwrap();
        let b = parse("[groups.servers]\nreport_interval_secs = 120\n").unwrap();
        assert_ne!(
            a.policy_for("servers").version,
            b.policy_for("servers").version
        );
        assert_eq!(a.policy_for("laptops").report_interval_secs, 300);
    }
}
