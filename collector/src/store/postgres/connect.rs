//! How the collector reaches PostgreSQL: the `postgres://` URL (libpq's
//! form, as `tokio-postgres` parses it), an optional password from a
//! [`Secret`] so it need not sit in the config, and TLS with rustls.
//!
//! TLS follows the URL's `sslmode`: `disable` and `prefer` (the default)
//! connect in plain text; `require` connects over TLS and verifies the
//! server's certificate and name, against the `sslrootcert=FILE` CA (PEM) if
//! the URL names one, else against the public web PKI roots. (libpq's
//! `prefer` would try TLS first; here a server whose certificate cannot be
//! verified would then refuse every connection, so `prefer` stays plain.)

use std::sync::Arc;

use forewarn_secret::Secret;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::StoreError;

/// A parsed connection target: the driver's config, and TLS when asked for.
#[derive(Clone)]
pub struct Target {
    pub config: tokio_postgres::Config,
    pub tls: Option<MakeRustlsConnect>,
    /// Host, port, database and user, never the password: for messages.
    pub location: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("location", &self.location)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// Parses `url`, takes `sslrootcert` out of it (the driver does not know
/// it), and sets `password` if given.
pub fn target(url: &Secret, password: Option<&Secret>) -> Result<Target, StoreError> {
    let (url, root_cert) = take_param(url.expose(), "sslrootcert");
    let mut config: tokio_postgres::Config = url.parse().map_err(|err| StoreError::Open {
        location: "the `store` URL".into(),
        source: Box::new(err),
    })?;
    if let Some(password) = password {
        config.password(password.expose());
    }
    let location = describe(&config);
    let tls = match config.get_ssl_mode() {
        SslMode::Require => Some(rustls_connector(root_cert.as_deref(), &location)?),
        _ => None,
    };
    Ok(Target {
        config,
        tls,
        location,
    })
}

/// `user@host:port/dbname`, for messages.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

/// Removes `key=value` from the URL's query and returns the value.
fn take_param(url: &str, key: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut value = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some((k, v)) if k == key => {
                value = Some(v.to_owned());
                false
            }
            _ => true,
        })
        .collect();
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, value)
}

fn rustls_connector(
    root_cert: Option<&str>,
    location: &str,
) -> Result<MakeRustlsConnect, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    match root_cert {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|err| StoreError::Open {
                    location: format!("{location} (sslrootcert={path})"),
                    source: Box::new(err),
                })?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(StoreError::Open {
                    location: format!("{location} (sslrootcert={path})"),
                    source: "the file holds no usable CA certificate".into(),
                });
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| StoreError::Open {
            location: location.to_owned(),
            source: Box::new(err),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_cert_is_taken_out_of_the_url_and_the_rest_kept() {
        assert_eq!(
            take_param(
                "postgres://u@db/fw?sslmode=require&sslrootcert=/etc/ca.pem&application_name=x",
                "sslrootcert"
            ),
            (
                "postgres://u@db/fw?sslmode=require&application_name=x".to_owned(),
                Some("/etc/ca.pem".to_owned())
            )
        );
        assert_eq!(
            take_param("postgres://u@db/fw", "sslrootcert"),
            ("postgres://u@db/fw".to_owned(), None)
        );
    }

    #[test]
    fn location_names_host_and_database_but_never_the_password() {
        let target = target(
            &Secret::new("postgres://forewarn:hunter2@db.example:6432/fleet"),
            None,
        )
        .unwrap();
        assert_eq!(target.location, "postgres://forewarn@db.example:6432/fleet");
        assert!(!format!("{target:?}").contains("hunter2"));
        assert!(target.tls.is_none());
    }

    #[test]
    fn require_without_a_readable_root_cert_is_a_clear_error() {
        let err = target(
            &Secret::new("postgres://u@db/fw?sslmode=require&sslrootcert=/nonexistent/ca.pem"),
            None,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("sslrootcert=/nonexistent/ca.pem"),
            "{err}"
        );
        let tls = target(&Secret::new("postgres://u@db/fw?sslmode=require"), None).unwrap();
        assert!(tls.tls.is_some());
    }
}
