//! The one secret type of Forewarn, shared by the agent's and the collector's
//! configs: a value that never prints, and where a config says to read it from.
//!
//! A [`Secret`]'s `Debug` and `Display` show `[redacted]`, so a config struct,
//! an error or a log line holding one cannot leak it by accident; the value
//! is reached only through [`Secret::expose`], at the one place that sends it.
//!
//! Secrets are never written in the collector's config itself: a
//! [`SecretSource`] names an environment variable (`token = { env = "RT_TOKEN" }`)
//! or a file (`token = { file = "/etc/forewarn/rt-token" }`), read when the
//! secret is needed.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A value that must never be printed: `Debug` and `Display` show `[redacted]`.
/// Deserializes from a plain string, for the agent's local settings that hold a
/// secret inline (a password command).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

/// What `Debug` and `Display` show instead of a secret's value.
pub const REDACTED: &str = "[redacted]";

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that sends it; never for messages.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Where a secret is read from: exactly one of `env` or `file`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// Name of an environment variable holding the secret.
    #[serde(default)]
    pub env: Option<String>,
    /// File holding the secret (trailing newlines are ignored).
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {name} is not set")]
    EnvMissing { name: String },
    #[error("cannot read secret file {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("secret is empty")]
    Empty,
    #[error("name exactly one of `env` or `file`")]
    Ambiguous,
}

impl SecretSource {
    /// Reads the secret now; trailing line breaks of a file are not part of it.
    pub fn load(&self) -> Result<Secret, SecretError> {
        let value = match (&self.env, &self.file) {
            (Some(name), None) => {
                std::env::var(name).map_err(|_| SecretError::EnvMissing { name: name.clone() })?
            }
            (None, Some(path)) => {
                std::fs::read_to_string(path).map_err(|source| SecretError::File {
                    path: path.clone(),
                    source,
                })?
            }
            _ => return Err(SecretError::Ambiguous),
        };
        let value = value.trim_end_matches(['\r', '\n']);
        if value.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Secret(value.to_string()))
    }

    /// The config problem with this source, naming `key`, if any.
    pub fn problem(&self, key: &str) -> Option<String> {
        match (&self.env, &self.file) {
            (Some(_), None) | (None, Some(_)) => None,
            _ => Some(format!("{key}: name exactly one of `env` or `file`")),
        }
    }

    /// Makes a relative `file` relative to `base` (the config file's
    /// directory), so a service does not depend on its working directory.
    pub fn resolve_path(&mut self, base: &Path) {
        if let Some(file) = &mut self.file
            && file.is_relative()
        {
            *file = base.join(&*file);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_read_from_a_file_and_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cr3t-value\n").unwrap();
        let source = SecretSource {
            env: None,
            file: Some(path),
        };
        let secret = source.load().unwrap();
        assert_eq!(secret.expose(), "s3cr3t-value");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(secret.to_string(), "[redacted]");
    }

    #[test]
    fn inline_secret_deserializes_from_a_string_and_never_prints_in_its_struct() {
        #[derive(Debug, Deserialize)]
        struct Job {
            password_command: Secret,
        }
        let job: Job = toml::from_str("password_command = \"echo hunter2\"").unwrap();
        assert_eq!(job.password_command.expose(), "echo hunter2");
        assert!(!format!("{job:?}").contains("hunter2"), "{job:?}");
    }

    #[test]
    fn missing_secret_env_var_is_an_error_naming_it() {
        let source = SecretSource {
            env: Some("FOREWARN_TEST_SURELY_UNSET_VAR".into()),
            file: None,
        };
        let err = source.load().unwrap_err();
        assert!(err.to_string().contains("FOREWARN_TEST_SURELY_UNSET_VAR"));
    }

    #[test]
    fn a_source_needs_exactly_one_of_env_or_file() {
        let both = SecretSource {
            env: Some("A".into()),
            file: Some("/b".into()),
        };
        assert_eq!(
            both.problem("tickets.connectors.rt.token").as_deref(),
            Some("tickets.connectors.rt.token: name exactly one of `env` or `file`")
        );
        assert!(matches!(both.load(), Err(SecretError::Ambiguous)));
        let relative = SecretSource {
            env: None,
            file: Some("rt-token".into()),
        };
        let mut resolved = relative.clone();
        resolved.resolve_path(Path::new("/srv/fw"));
        assert_eq!(resolved.file, Some(PathBuf::from("/srv/fw/rt-token")));
        assert_eq!(relative.problem("k"), None);
    }
}
