//! Certificate check: expiry and identity of the device's own certificates.
//!
//! Sources, all chosen in the local config:
//! - files and folders (`files`): PEM bundles and DER, walked within caps;
//! - TLS endpoints (`tls`): what a server presents, with SNI and a timeout;
//! - OS stores: macOS keychains through `security find-certificate -a -p`
//!   (run on every OS through the [`CommandRunner`] so the mapping is
//!   tested; only macOS configures keychains by default) and Windows
//!   certificate stores (`windows.rs`, through the Windows API).
//!
//! Every certificate found is decoded by the pure `parse` module and listed
//! once per SHA-256 fingerprint with every place it was found. Bad input is
//! a per-item error; the rest is still read. Trust-anchor bundles such as
//! `/etc/ssl/certs` are never looked at unless configured: a device's CA
//! roots are not its certificates.

mod containers;
mod files;
mod found;
pub mod parse;
mod tls;
#[cfg(windows)]
mod windows;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use forewarn_proto::limits::{MAX_CERTIFICATES, MAX_TLS_ENDPOINTS};
use forewarn_proto::pb;
use serde::Deserialize;

use super::CheckError;
use crate::command::{CommandRunner, CommandSpec};
use crate::trigger::ReportTrigger;
use crate::watch::{PathWatcher, watch_to_depth};
pub use files::WalkLimits;
use found::{Found, ParsedFile, read_files};

pub const CHECK_NAME: &str = forewarn_proto::CheckKind::Certificates.as_str();

/// Longest the watched paths go without being walked while the watch says
/// nothing changed: what no watch sees (a file behind a symlink to a folder
/// elsewhere, rewritten in place) is seen within this time.
const WALK_QUIET_PATHS_EVERY: Duration = Duration::from_secs(300);

/// What the files gave at a walk: certificates by fingerprint, and errors.
#[derive(Debug, Default)]
struct FromFiles {
    certificates: BTreeMap<String, pb::CertificateStatus>,
    errors: Vec<pb::CheckError>,
    /// When the walk was; None before the first walk.
    walked_at: Option<Instant>,
}

impl FromFiles {
    /// Whether both walks happened and found the same certificates and errors.
    fn same_as(&self, other: &Self) -> bool {
        self.walked_at.is_some()
            && other.walked_at.is_some()
            && self.certificates == other.certificates
            && self.errors == other.errors
    }
}

/// Local settings of the certificate check.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificatesConfig {
    /// Certificate files and folders to read (folders recursively).
    #[serde(default)]
    pub paths: Vec<PathBuf>,
    /// Watch `paths` and report a change within seconds instead of at the next interval.
    #[serde(default = "default_watch")]
    pub watch: bool,
    /// TLS endpoints to probe, as "host:port"; the host is also the SNI name checked.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// How long one endpoint may take to connect and complete the handshake.
    #[serde(default = "default_endpoint_timeout_secs")]
    pub endpoint_timeout_secs: u64,
    /// Deepest folder level read below a configured folder.
    #[serde(default = "default_max_depth")]
    pub max_depth: usize,
    /// Most files read in one cycle across all paths.
    #[serde(default = "default_max_files")]
    pub max_files: usize,
    /// Largest file read; larger files are reported as errors.
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
    /// macOS keychains read with `security find-certificate -a -p`.
    #[serde(default = "default_keychains")]
    pub keychains: Vec<String>,
    /// Windows certificate stores, as "LocalMachine\\My" or "CurrentUser\\My".
    #[serde(default = "default_windows_stores")]
    pub windows_stores: Vec<String>,
}

fn default_watch() -> bool {
    true
}
fn default_endpoint_timeout_secs() -> u64 {
    10
}
fn default_max_depth() -> usize {
    8
}
fn default_max_files() -> usize {
    10_000
}
fn default_max_file_bytes() -> u64 {
    4 * 1024 * 1024
}
fn default_keychains() -> Vec<String> {
    if cfg!(target_os = "macos") {
        vec!["/Library/Keychains/System.keychain".to_owned()]
    } else {
        Vec::new()
    }
}
fn default_windows_stores() -> Vec<String> {
    if cfg!(windows) {
        vec![r"LocalMachine\My".to_owned()]
    } else {
        Vec::new()
    }
}

impl Default for CertificatesConfig {
    fn default() -> Self {
        Self {
            paths: Vec::new(),
            watch: default_watch(),
            endpoints: Vec::new(),
            endpoint_timeout_secs: default_endpoint_timeout_secs(),
            max_depth: default_max_depth(),
            max_files: default_max_files(),
            max_file_bytes: default_max_file_bytes(),
            keychains: default_keychains(),
            windows_stores: default_windows_stores(),
        }
    }
}

impl CertificatesConfig {
    /// Problems with these settings, each prefixed with `key`.
    pub fn problems(&self, key: &str) -> Vec<String> {
        let mut problems: Vec<String> = self
            .endpoints
            .iter()
            .filter_map(|e| tls::Endpoint::parse(e).err())
            .map(|err| format!("{key}.endpoints: {err}"))
            .collect();
        if self.endpoints.len() > MAX_TLS_ENDPOINTS {
            problems.push(format!(
                "{key}.endpoints: at most {MAX_TLS_ENDPOINTS} endpoints"
            ));
        }
        if !(1..=300).contains(&self.endpoint_timeout_secs) {
            problems.push(format!(
                "{key}.endpoint_timeout_secs: must be between 1 and 300"
            ));
        }
        if self.max_files == 0 {
            problems.push(format!("{key}.max_files: must be at least 1"));
        }
        if self.max_file_bytes < 1024 {
            problems.push(format!("{key}.max_file_bytes: must be at least 1024"));
        }
        problems.extend(
            self.windows_stores
                .iter()
                .filter_map(|s| parse::windows_store(s).err())
                .map(|err| format!("{key}.windows_stores: {err}")),
        );
        if self.paths.iter().any(|p| p.as_os_str().is_empty()) {
            problems.push(format!("{key}.paths: empty path"));
        }
        problems
    }

    fn walk_limits(&self) -> WalkLimits {
        WalkLimits {
            max_depth: self.max_depth,
            max_files: self.max_files,
            max_file_bytes: self.max_file_bytes,
        }
    }
}

#[derive(Debug)]
pub struct CertificateCheck {
    config: CertificatesConfig,
    runner: Arc<dyn CommandRunner>,
    trigger: ReportTrigger,
    /// The watch on `paths` while the check is enabled; refreshed at each
    /// walk so folders created since are watched too.
    watcher: Option<PathWatcher>,
    /// Whether the check should watch (it is enabled and `watch` is set).
    watching: bool,
    /// Each certificate file as parsed, by path, with the stamp it had then;
    /// a file whose stamp has not moved is not read or parsed again.
    files: HashMap<PathBuf, ParsedFile>,
    /// Certificates from other sources (stores, endpoints) as described last
    /// cycle, by fingerprint, so an unchanged chain is not parsed again.
    described: HashMap<String, pb::CertificateStatus>,
    /// Each endpoint's addresses from its last probe, by position in `endpoints`.
    addresses: Vec<Option<tls::KnownAddresses>>,
    /// What the files gave at the last walk: while the watch says nothing
    /// changed, the paths are not walked again.
    from_files: FromFiles,
    /// The section last handed out, given back by [`reclaim`](Self::reclaim)
    /// once its report was encoded; handed out again while the files give
    /// the same, so a quiet cycle moves 200 certificates instead of copying
    /// them. Only kept when files are the only source.
    kept: Option<pb::CertificateCheck>,
    /// Whether a section built from the current `from_files` is out in a
    /// report, so one given back may be kept.
    lent: bool,
}

impl CertificateCheck {
    /// Builds the check; when configured, changes under `paths` fire `trigger`.
    pub fn new(
        config: CertificatesConfig,
        runner: Arc<dyn CommandRunner>,
        trigger: &ReportTrigger,
    ) -> Self {
        let mut check = Self {
            config,
            runner,
            trigger: trigger.clone(),
            watcher: None,
            watching: false,
            files: HashMap::new(),
            described: HashMap::new(),
            addresses: Vec::new(),
            from_files: FromFiles::default(),
            kept: None,
            lent: false,
        };
        check.set_watching(true);
        check
    }

    /// Starts or stops watching `paths`: a check the policy disables watches nothing.
    pub fn set_watching(&mut self, on: bool) {
        let on = on && self.config.watch;
        if on == self.watching {
            return;
        }
        self.watching = on;
        // A new watch has seen nothing yet: what the last one saw is no guide.
        self.forget_files();
        self.watcher = if on {
            watch_to_depth(
                &self.config.paths,
                self.config.max_depth,
                self.trigger.clone(),
                CHECK_NAME,
            )
        } else {
            None
        };
    }

    /// Reads every configured source; bad items become errors, never a failed check.
    pub async fn collect(
        &mut self,
    ) -> Result<(pb::CertificateCheck, Vec<pb::CheckError>), CheckError> {
        self.refresh_files();
        let from_files = &self.from_files;
        if self.reads_files_only() {
            let section = match self.kept.take() {
                Some(kept) => kept,
                None => pb::CertificateCheck {
                    certificates: from_files
                        .certificates
                        .values()
                        .take(MAX_CERTIFICATES)
                        .cloned()
                        .collect(),
                    endpoints: Vec::new(),
                },
            };
            self.lent = true;
            return Ok((section, from_files.errors.clone()));
        }
        let mut found = Found {
            certificates: from_files.certificates.clone(),
            errors: from_files.errors.clone(),
            previous: std::mem::take(&mut self.described),
            ..Found::default()
        };
        for keychain in &self.config.keychains {
            self.read_keychain(keychain, &mut found).await;
        }
        #[cfg(windows)]
        for store in &self.config.windows_stores {
            match windows::store_certificates(store) {
                Ok(ders) => {
                    for der in ders {
                        found.add_der(&der, pb::CertificateSource::OsStore, store);
                    }
                }
                Err(err) => found.errors.push(err.to_proto(CHECK_NAME, store)),
            }
        }
        let endpoints = self.probe_endpoints(&mut found).await;
        self.described = found.described;
        let mut certificates: Vec<pb::CertificateStatus> =
            found.certificates.into_values().collect();
        certificates.truncate(MAX_CERTIFICATES);
        Ok((
            pb::CertificateCheck {
                certificates,
                endpoints,
            },
            found.errors,
        ))
    }

    /// Takes back the section of the report last collected, once that
    /// report is encoded: the next quiet cycle hands it out again. A section
    /// from before the files changed, or from other sources, is dropped.
    pub fn reclaim(&mut self, section: pb::CertificateCheck) {
        if self.lent && self.reads_files_only() {
            self.kept = Some(section);
        }
        self.lent = false;
    }

    /// Whether files are the only source: no keychain, store or endpoint,
    /// whose answers can change without a file changing.
    fn reads_files_only(&self) -> bool {
        self.config.keychains.is_empty()
            && self.config.endpoints.is_empty()
            && (cfg!(not(windows)) || self.config.windows_stores.is_empty())
    }

    /// Drops what the files gave and every section built from it.
    fn forget_files(&mut self) {
        self.from_files = FromFiles::default();
        self.kept = None;
        self.lent = false;
    }

    /// Brings `from_files` up to date. It is kept while the watch has seen
    /// no change (and the last walk is recent); else the paths are walked,
    /// reading and parsing only files whose stamp moved, and what was built
    /// from it is dropped if the walk found something else.
    fn refresh_files(&mut self) {
        let quiet = self
            .watcher
            .as_ref()
            .is_some_and(PathWatcher::quiet_since_last_look);
        let recent = self
            .from_files
            .walked_at
            .is_some_and(|at| at.elapsed() < WALK_QUIET_PATHS_EVERY);
        if quiet && recent {
            return;
        }
        let walked = self.walk();
        if self.from_files.same_as(&walked) {
            self.from_files.walked_at = walked.walked_at;
        } else {
            self.forget_files();
            self.from_files = walked;
        }
    }

    /// Walks the paths, reading and parsing only files whose stamp moved.
    fn walk(&mut self) -> FromFiles {
        let walked_at = Instant::now();
        if let Some(watcher) = &mut self.watcher {
            watcher.refresh();
        }
        let previous = std::mem::take(&mut self.files);
        // On the agent's one thread: unchanged files cost a `stat` each, less
        // than handing the walk to another thread.
        let (files, parsed) = read_files(&self.config.paths, self.config.walk_limits(), previous);
        let mut found = Found::default();
        for (path, result) in files {
            let location = path.display().to_string();
            match result {
                Ok(()) => {
                    if let Some(file) = parsed.get(&path) {
                        let named = self.config.paths.contains(&path);
                        found.add_file(file, &location, named);
                    }
                }
                Err(err) => {
                    let error = if err.is_permission_denied() {
                        CheckError::PermissionDenied(err.to_string())
                    } else if err.is_missing() {
                        CheckError::Failed(format!(
                            "{location} {err}; correct checks.certificates.paths or create it"
                        ))
                    } else {
                        CheckError::InvalidData(err.to_string())
                    };
                    found.errors.push(error.to_proto(CHECK_NAME, &location));
                }
            }
        }
        self.files = parsed;
        FromFiles {
            certificates: found.certificates,
            errors: found.errors,
            walked_at: Some(walked_at),
        }
    }

    async fn read_keychain(&self, keychain: &str, found: &mut Found) {
        let spec = CommandSpec::new("security", ["find-certificate", "-a", "-p", keychain])
            .timeout(Duration::from_secs(60))
            .low_priority();
        match self.runner.run(&spec).await {
            Ok(output) if output.success() => {
                found.add_bytes(&output.stdout, pb::CertificateSource::OsStore, keychain);
            }
            Ok(output) => {
                let error = CheckError::Failed(format!(
                    "security find-certificate exited with {:?}: {}",
                    output.exit_code,
                    String::from_utf8_lossy(&output.stderr).trim()
                ));
                found.errors.push(error.to_proto(CHECK_NAME, keychain));
            }
            Err(err) => {
                let error = CheckError::ToolMissing(err.to_string());
                found.errors.push(error.to_proto(CHECK_NAME, keychain));
            }
        }
    }

    async fn probe_endpoints(&mut self, found: &mut Found) -> Vec<pb::TlsEndpointStatus> {
        let timeout = Duration::from_secs(self.config.endpoint_timeout_secs);
        self.addresses.resize(self.config.endpoints.len(), None);
        let mut probes = tokio::task::JoinSet::new();
        for (index, text) in self.config.endpoints.iter().enumerate() {
            // Validated at load; an endpoint that still fails to parse is skipped.
            let Ok(endpoint) = tls::Endpoint::parse(text) else {
                continue;
            };
            let text = text.clone();
            let known = self.addresses[index].take();
            probes.spawn(async move {
                let (probe, known) = tls::probe(&text, &endpoint, timeout, known).await;
                (index, probe, known)
            });
        }
        let mut results = probes.join_all().await;
        results.sort_by_key(|(index, _, _)| *index);
        results
            .into_iter()
            .map(|(index, mut probe, known)| {
                self.addresses[index] = known;
                probe.status.earliest_chain_expiry_unix_secs = probe
                    .chain
                    .iter()
                    .filter_map(|der| {
                        found.add_der(
                            der,
                            pb::CertificateSource::TlsEndpoint,
                            &probe.status.endpoint,
                        )
                    })
                    .min();
                probe.status
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
