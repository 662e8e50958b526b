//! `forewarn-agent install` and `uninstall`: what every package and
//! deployment script calls.
//!
//! `install` is idempotent, because deployment tools re-run it: a device
//! already enrolled with the same collector (same URL, same CA) whose
//! certificate is still valid keeps its identity, so running the install twice
//! never makes a second device. Anything else (not enrolled, another
//! collector, another CA, an expired or unreadable identity) enrolls anew,
//! and the output says why.

use std::path::{Path, PathBuf};

use crate::enroll::{
    CaPin, EnrollError, EnrollOptions, ca_fingerprint, enroll, normalize_fingerprint,
};
use crate::service;
use crate::state::{EnrolledState, StateDir, StateError};
use crate::transport::CollectorAddress;

#[derive(Debug, Clone)]
pub struct InstallOptions {
    pub url: String,
    pub token: String,
    pub ca: CaPin,
    /// The config file the service will read.
    pub config_path: PathBuf,
    pub state_dir: PathBuf,
    /// What to do with the OS service.
    pub service: ServiceStep,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Enroll(#[from] EnrollError),
    #[error(transparent)]
    Service(#[from] service::ServiceError),
    #[error("cannot find this program's path for the service: {0}")]
    OwnPath(#[source] std::io::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What `install` does with the OS service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceStep {
    /// Register it and start (or restart, for a new identity) it.
    RegisterAndStart,
    /// Register it; the package starts it (the MSI's own service step).
    Register,
    /// Leave it alone.
    None,
}

/// Keep the identity, or enroll and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollDecision {
    Keep,
    Enroll(String),
}

/// Decides from the current state whether the device must enroll with
/// `url` (already normalized) whose CA has fingerprint `ca` (normalized).
pub fn decide(
    current: &Result<EnrolledState, StateError>,
    url: &str,
    ca: &str,
    now_unix: i64,
) -> EnrollDecision {
    let enrolled = match current {
        Ok(enrolled) => enrolled,
        Err(StateError::NotEnrolled { .. }) => {
            return EnrollDecision::Enroll("not enrolled yet".into());
        }
        Err(err) => {
            return EnrollDecision::Enroll(format!("the saved identity is unusable ({err})"));
        }
    };
    let previous = &enrolled.enrollment;
    if previous.collector_url != url {
        return EnrollDecision::Enroll(format!(
            "enrolled as device {} with {}, now moving to {url}",
            previous.device_id, previous.collector_url
        ));
    }
    match ca_fingerprint(&enrolled.ca_pem) {
        Ok(saved) if saved == ca => {}
        Ok(saved) => {
            return EnrollDecision::Enroll(format!(
                "the collector's CA changed (saved SHA-256 {saved}, given {ca})"
            ));
        }
        Err(err) => return EnrollDecision::Enroll(format!("the saved CA is unusable ({err})")),
    }
    match enrolled.identity.validity() {
        Some((_, not_after)) if not_after > now_unix => EnrollDecision::Keep,
        Some(_) => EnrollDecision::Enroll("the device certificate has expired".into()),
        None => EnrollDecision::Enroll("the device certificate is unreadable".into()),
    }
}

/// Enrolls if needed, writes the config if there is none, registers and starts the service.
/// Returns what was done, one line each.
pub async fn install(options: &InstallOptions) -> Result<Vec<String>, InstallError> {
    let mut done = Vec::new();
    let url = CollectorAddress::parse(&options.url)
        .map_err(EnrollError::from)?
        .url;
    let expected_ca = match &options.ca {
        CaPin::Fingerprint(fingerprint) => normalize_fingerprint(fingerprint)?,
        CaPin::Certificate(pem) => ca_fingerprint(pem)?,
    };
    let state = StateDir::new(&options.state_dir);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    match decide(&state.load(), &url, &expected_ca, now) {
        EnrollDecision::Keep => {
            let enrolled = state.load().map_err(EnrollError::from)?;
            let enrollment = enrolled.enrollment;
            done.push(format!(
                "already enrolled with {} as device {} (group {}); keeping this identity",
                enrollment.collector_url, enrollment.device_id, enrollment.group
            ));
        }
        EnrollDecision::Enroll(reason) => {
            let enrollment = enroll(
                &EnrollOptions {
                    url: options.url.clone(),
                    token: options.token.clone(),
                    ca: options.ca.clone(),
                },
                &state,
            )
            .await?;
            done.push(format!(
                "enrolled with {} as device {} in group {} ({reason})",
                enrollment.collector_url, enrollment.device_id, enrollment.group
            ));
        }
    }
    state.create().map_err(EnrollError::from)?;
    if write_config_if_missing(&options.config_path, &options.state_dir)? {
        done.push(format!("wrote {}", options.config_path.display()));
    }
    let start = match options.service {
        ServiceStep::RegisterAndStart => true,
        ServiceStep::Register => false,
        ServiceStep::None => return Ok(done),
    };
    // The service runs this very program.
    let exe = std::env::current_exe().map_err(InstallError::OwnPath)?;
    done.extend(service::install(&exe, start)?);
    Ok(done)
}

/// The config a fresh install starts with: only what differs from the defaults.
pub fn initial_config(state_dir: &Path) -> String {
    let mut text = String::from(
        "# Forewarn agent config. Every key is optional; the README's \"Agent config\" lists them.\n\
         # After a change, reload without a restart:\n\
         #   Linux:   systemctl reload forewarn-agent\n\
         #   macOS:   sudo launchctl kill SIGHUP system/com.forewarn.agent\n\
         #   Windows: sc.exe control ForewarnAgent paramchange\n",
    );
    if state_dir != crate::config::default_state_dir() {
        let quoted = toml::Value::String(state_dir.display().to_string()).to_string();
        text.push_str(&format!("state_dir = {quoted}\n"));
    }
    text
}

fn write_config_if_missing(path: &Path, state_dir: &Path) -> Result<bool, InstallError> {
    if path.exists() {
        return Ok(false);
    }
    let write_error = |source| InstallError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(write_error)?;
    }
    std::fs::write(path, initial_config(state_dir)).map_err(write_error)?;
    Ok(true)
}

/// Stops and unregisters the service; with `purge`, also deletes the identity,
/// the spool and the config, so the collector sees a new device if it is ever
/// installed again. Returns what was done.
pub fn uninstall(
    config_path: &Path,
    state_dir: &Path,
    purge: bool,
) -> Result<Vec<String>, InstallError> {
    let mut done = service::uninstall()?;
    if purge {
        done.extend(purge_files(config_path, state_dir)?);
    } else if state_dir.join("enrollment.toml").exists() {
        done.push(format!(
            "kept the identity in {}: installing again reuses it (uninstall --purge deletes it)",
            state_dir.display()
        ));
    }
    Ok(done)
}

/// Deletes the identity, spool, config (and the Windows service log); returns what was deleted.
fn purge_files(config_path: &Path, state_dir: &Path) -> Result<Vec<String>, InstallError> {
    let mut done = Vec::new();
    let mut targets = vec![
        (state_dir.to_path_buf(), true),
        (config_path.to_path_buf(), false),
    ];
    if cfg!(windows) {
        // The Windows service logs beside the config (a service has no console).
        targets.push((config_path.with_file_name("agent.log"), false));
    }
    for (path, is_dir) in targets {
        let removed = if is_dir {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match removed {
            Ok(()) => done.push(format!("deleted {}", path.display())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(InstallError::Write { path, source }),
        }
    }
    // The Forewarn folder itself, when nothing else is in it.
    if let Some(parent) = config_path.parent()
        && std::fs::remove_dir(parent).is_ok()
    {
        done.push(format!("deleted {}", parent.display()));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{DeviceIdentity, Enrollment};

    fn enrolled(url: &str, ca_pem: &str, days: i64) -> EnrolledState {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["device".into()]).unwrap();
        params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
        params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(days);
        let cert = params.self_signed(&key).unwrap();
        EnrolledState {
            enrollment: Enrollment {
                collector_url: url.into(),
                server_name: "collector".into(),
                device_id: "dev-1".into(),
                group: "laptops".into(),
            },
            identity: DeviceIdentity {
                cert_pem: cert.pem(),
                key_pem: key.serialize_pem(),
            },
            ca_pem: ca_pem.into(),
        }
    }

    fn ca() -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["ca".into()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let pem = params.self_signed(&key).unwrap().pem();
        let fingerprint = ca_fingerprint(&pem).unwrap();
        (pem, fingerprint)
    }

    const URL: &str = "https://collector.example:7443";

    #[test]
    fn same_collector_same_ca_valid_certificate_keeps_the_identity() {
        let (pem, fingerprint) = ca();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert_eq!(
            decide(&Ok(enrolled(URL, &pem, 30)), URL, &fingerprint, now),
            EnrollDecision::Keep
        );
    }

    #[test]
    fn anything_else_enrolls_and_says_why() {
        let (pem, fingerprint) = ca();
        let (_, other_fingerprint) = ca();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let reason = |decision| match decision {
            EnrollDecision::Enroll(reason) => reason,
            EnrollDecision::Keep => panic!("kept"),
        };
        let not_enrolled = Err(StateError::NotEnrolled {
            path: "enrollment.toml".into(),
        });
        assert_eq!(
            reason(decide(&not_enrolled, URL, &fingerprint, now)),
            "not enrolled yet"
        );
        let moved = reason(decide(
            &Ok(enrolled("https://old:7443", &pem, 30)),
            URL,
            &fingerprint,
            now,
        ));
        assert!(
            moved.contains("https://old:7443") && moved.contains("dev-1"),
            "{moved}"
        );
        let new_ca = reason(decide(
            &Ok(enrolled(URL, &pem, 30)),
            URL,
            &other_fingerprint,
            now,
        ));
        assert!(new_ca.contains("CA changed"), "{new_ca}");
        let expired = reason(decide(
            &Ok(enrolled(URL, &pem, 30)),
            URL,
            &fingerprint,
            now + 31 * 86_400,
        ));
        assert!(expired.contains("expired"), "{expired}");
    }

    #[test]
    fn purge_deletes_identity_and_config_and_keeps_what_is_not_ours() {
        let root = tempfile::tempdir().unwrap();
        let forewarn = root.path().join("Forewarn");
        let state = forewarn.join("agent");
        std::fs::create_dir_all(state.join("spool")).unwrap();
        std::fs::write(state.join("device.pem"), "key").unwrap();
        let config = forewarn.join("agent.toml");
        std::fs::write(&config, "").unwrap();
        std::fs::write(forewarn.join("collector.toml"), "").unwrap();
        let done = purge_files(&config, &state).unwrap();
        assert!(!state.exists() && !config.exists(), "{done:?}");
        assert!(
            forewarn.join("collector.toml").exists(),
            "deleted a file not ours"
        );
        assert_eq!(done.len(), 2, "{done:?}");
        std::fs::remove_file(forewarn.join("collector.toml")).unwrap();
        std::fs::create_dir_all(&state).unwrap();
        let done = purge_files(&config, &state).unwrap();
        assert!(
            !forewarn.exists(),
            "an empty Forewarn folder is left: {done:?}"
        );
        assert!(purge_files(&config, &state).unwrap().is_empty());
    }

    #[test]
    fn initial_config_is_valid_and_names_a_non_default_state_dir() {
        let text = initial_config(Path::new("/srv/forewarn state"));
        let config = crate::config::AgentConfig::from_toml(&text, Path::new("agent.toml")).unwrap();
        assert_eq!(config.state_dir, Path::new("/srv/forewarn state"));
        let default = initial_config(&crate::config::default_state_dir());
        assert!(!default.contains("state_dir ="), "{default}");
    }
}
