//! The collector's certificate authority.
//!
//! On first start the collector creates its own CA and a server certificate in
//! its data directory (or loads ones the operator provides). The generated
//! server certificate is issued again, under the same CA, whenever its names
//! differ from `server_names` or it nears its end, so a config change takes
//! effect at the next start and agents (which pin the CA) notice nothing. An
//! operator's certificate is never replaced; a warning says when it does not
//! name everything in `server_names`. The CA signs
//! short-lived device certificates from CSRs; the device's private key never
//! leaves the device. The device id is written into the certificate's subject
//! CN, which is the only place ingest reads identity from.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tracing::{info, warn};

use crate::config::ProvidedTls;

/// How far back a new certificate's validity starts, to absorb small clock skew.
/// Short test lifetimes are backdated by a tenth of their validity at most.
const BACKDATE: Duration = Duration::from_secs(60);
/// Lifetime of a CA the collector creates for itself.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Lifetime of a server certificate the collector creates for itself.
const SERVER_VALIDITY: Duration = Duration::from_secs(2 * 365 * 24 * 3600);
/// A generated server certificate this close to its end is issued again at start.
const SERVER_RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid key or certificate in {path}: {source}")]
    InvalidMaterial {
        path: PathBuf,
        #[source]
        source: rcgen::Error,
    },
    #[error("certificate signing request is not valid: {0}")]
    InvalidCsr(#[source] rcgen::Error),
    #[error("cannot sign certificate: {0}")]
    Signing(#[source] rcgen::Error),
}

/// A certificate the CA issued to a device.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    pub pem: String,
    pub serial_hex: String,
    pub not_before_unix_secs: i64,
    pub not_after_unix_secs: i64,
}

/// The CA plus the server identity agents connect to.
pub struct CollectorPki {
    ca_cert_pem: String,
    ca_fingerprint: String,
    issuer: Issuer<'static, KeyPair>,
    server_chain_pem: String,
    server_key_pem: String,
}

impl std::fmt::Debug for CollectorPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectorPki")
            .field("ca_fingerprint", &self.ca_fingerprint)
            .finish_non_exhaustive()
    }
}

/// Files the collector keeps its own PKI in, under `<data_dir>/pki/`.
struct PkiFiles {
    ca_cert: PathBuf,
    ca_key: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
}

impl PkiFiles {
    fn generated_in(data_dir: &Path) -> Self {
        let dir = data_dir.join("pki");
        Self {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca-key.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server-key.pem"),
        }
    }

    fn provided(tls: &ProvidedTls) -> Self {
        Self {
            ca_cert: tls.ca_cert.clone(),
            ca_key: tls.ca_key.clone(),
            server_cert: tls.server_cert.clone(),
            server_key: tls.server_key.clone(),
        }
    }
}

impl CollectorPki {
    /// Loads the CA and server certificate, creating them on first start.
    ///
    /// Operator-provided material is used as is and never overwritten.
    pub fn load_or_create(
        data_dir: &Path,
        server_names: &[String],
        provided: Option<&ProvidedTls>,
    ) -> Result<Self, PkiError> {
        match provided {
            Some(tls) => {
                let files = PkiFiles::provided(tls);
                let pki = Self::load(&files)?;
                pki.warn_unless_names_covered(&files.server_cert, server_names);
                Ok(pki)
            }
            None => {
                let files = PkiFiles::generated_in(data_dir);
                if !files.ca_cert.exists() {
                    create_ca_and_server(&files, server_names)?;
                }
                let mut pki = Self::load(&files)?;
                pki.reissue_server_if_outdated(&files, server_names)?;
                Ok(pki)
            }
        }
    }

    /// Issues the generated server certificate again when its names are not
    /// `server_names` or it nears its end.
    fn reissue_server_if_outdated(
        &mut self,
        files: &PkiFiles,
        server_names: &[String],
    ) -> Result<(), PkiError> {
        let current = self.server_certificate(&files.server_cert)?;
        let wanted: BTreeSet<String> = server_names.iter().map(|n| normalize_name(n)).collect();
        let now = OffsetDateTime::now_utc();
        let reason = if current.names != wanted {
            format!(
                "its names ({}) differ from server_names ({})",
                join(&current.names),
                join(&wanted)
            )
        } else if current.not_after < now + SERVER_RENEW_BEFORE {
            format!("it expires on {}", current.not_after.date())
        } else {
            return Ok(());
        };
        let (cert_pem, key_pem) = issue_server_certificate(&self.issuer, server_names)?;
        // The key first: should the cert not follow, its old names make the
        // next start issue both again.
        write_private(&files.server_key, &key_pem)?;
        write_public(&files.server_cert, &cert_pem)?;
        info!(
            path = %files.server_cert.display(),
            "issued the collector's server certificate again (same CA, agents need nothing): {reason}"
        );
        self.server_chain_pem = format!("{}\n{}", cert_pem.trim_end(), self.ca_cert_pem);
        self.server_key_pem = key_pem;
        Ok(())
    }

    /// Warns when an operator-provided server certificate does not name every
    /// entry of `server_names`: agents using such a name will refuse it.
    fn warn_unless_names_covered(&self, path: &Path, server_names: &[String]) {
        let presented = match self.server_certificate(path) {
            Ok(cert) => cert.names,
            Err(err) => {
                warn!(error = %err, "cannot read the names of the server certificate");
                return;
            }
        };
        let missing = uncovered_names(&presented, server_names);
        if !missing.is_empty() {
            warn!(
                path = %path.display(),
                "the server certificate from [tls] does not name {} listed in server_names \
                 (it names {}); agents connecting by those names will refuse it: replace the \
                 certificate or fix server_names",
                missing.join(", "),
                join(&presented)
            );
        }
    }

    /// Names and end of the server certificate (the first in the chain).
    fn server_certificate(&self, path: &Path) -> Result<ServerCertificate, PkiError> {
        let invalid = || PkiError::InvalidMaterial {
            path: path.to_path_buf(),
            source: rcgen::Error::CouldNotParseCertificate,
        };
        let der = first_pem_block_der(&self.server_chain_pem).ok_or_else(invalid)?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|_| invalid())?;
        let mut names = BTreeSet::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    x509_parser::extensions::GeneralName::DNSName(dns) => {
                        names.insert(normalize_name(dns));
                    }
                    x509_parser::extensions::GeneralName::IPAddress(bytes) => {
                        let ip = match bytes.len() {
                            4 => <[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from),
                            16 => <[u8; 16]>::try_from(*bytes).ok().map(IpAddr::from),
                            _ => None,
                        };
                        names.extend(ip.map(|ip| ip.to_string()));
                    }
                    _ => {}
                }
            }
        }
        let not_after = OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp())
            .map_err(|_| invalid())?;
        Ok(ServerCertificate { names, not_after })
    }

    fn load(files: &PkiFiles) -> Result<Self, PkiError> {
        let ca_cert_pem = read(&files.ca_cert)?;
        let ca_key = KeyPair::from_pem(&read(&files.ca_key)?).map_err(|source| {
            PkiError::InvalidMaterial {
                path: files.ca_key.clone(),
                source,
            }
        })?;
        let issuer = Issuer::from_ca_cert_pem(&ca_cert_pem, ca_key).map_err(|source| {
            PkiError::InvalidMaterial {
                path: files.ca_cert.clone(),
                source,
            }
        })?;
        let ca_der =
            first_pem_block_der(&ca_cert_pem).ok_or_else(|| PkiError::InvalidMaterial {
                path: files.ca_cert.clone(),
                source: rcgen::Error::CouldNotParseCertificate,
            })?;
        let server_cert_pem = read(&files.server_cert)?;
        Ok(Self {
            ca_fingerprint: hex::encode(Sha256::digest(&ca_der)),
            // Agents pin the CA, so the server sends it along with its leaf.
            server_chain_pem: format!("{}\n{}", server_cert_pem.trim_end(), ca_cert_pem),
            server_key_pem: read(&files.server_key)?,
            ca_cert_pem,
            issuer,
        })
    }

    /// PEM of the CA certificate, as handed to enrolling agents.
    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_cert_pem
    }

    /// SHA-256 of the CA certificate (lowercase hex); what admins give to `enroll --ca-fingerprint`.
    pub fn ca_fingerprint(&self) -> &str {
        &self.ca_fingerprint
    }

    /// Server certificate followed by the CA certificate.
    pub fn server_chain_pem(&self) -> &str {
        &self.server_chain_pem
    }

    pub fn server_key_pem(&self) -> &str {
        &self.server_key_pem
    }

    /// Signs a device certificate for the CSR's public key.
    ///
    /// Everything the CSR asks for besides its key is ignored: the subject is
    /// the collector-assigned device id and the usage is TLS client only.
    pub fn sign_device_csr(
        &self,
        csr_pem: &str,
        device_id: &str,
        validity: Duration,
    ) -> Result<IssuedCertificate, PkiError> {
        let csr =
            CertificateSigningRequestParams::from_pem(csr_pem).map_err(PkiError::InvalidCsr)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, device_id);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Forewarn device");
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        let serial: [u8; 16] = rand::random();
        // A positive serial: clear the top bit.
        let serial = {
            let mut s = serial;
            s[0] &= 0x7f;
            s
        };
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE.min(validity / 10);
        params.not_after = now + validity;
        let cert = params
            .signed_by(&csr.public_key, &self.issuer)
            .map_err(PkiError::Signing)?;
        Ok(IssuedCertificate {
            pem: cert.pem(),
            serial_hex: hex::encode(serial),
            not_before_unix_secs: params.not_before.unix_timestamp(),
            not_after_unix_secs: params.not_after.unix_timestamp(),
        })
    }
}

/// What agents check in a server certificate.
struct ServerCertificate {
    /// DNS names (lowercase) and IP addresses, as [`normalize_name`] writes them.
    names: BTreeSet<String>,
    not_after: OffsetDateTime,
}

/// A server name as certificates compare it: IP addresses in canonical
/// form, DNS names lowercase without a trailing dot.
fn normalize_name(name: &str) -> String {
    match name.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => name.trim_end_matches('.').to_ascii_lowercase(),
    }
}

fn join(names: &BTreeSet<String>) -> String {
    if names.is_empty() {
        "no names".into()
    } else {
        names.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// The entries of `server_names` a certificate naming `presented` does not
/// cover; a wildcard `*.example.com` covers one label (`fw.example.com`).
fn uncovered_names(presented: &BTreeSet<String>, server_names: &[String]) -> Vec<String> {
    server_names
        .iter()
        .filter(|name| {
            let name = normalize_name(name);
            let wildcard = name
                .split_once('.')
                .filter(|_| name.parse::<IpAddr>().is_err())
                .map(|(_, parent)| format!("*.{parent}"));
            !presented.contains(&name) && wildcard.is_none_or(|w| !presented.contains(&w))
        })
        .cloned()
        .collect()
}

fn create_ca_and_server(files: &PkiFiles, server_names: &[String]) -> Result<(), PkiError> {
    let dir = files.ca_cert.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|source| PkiError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let now = OffsetDateTime::now_utc();

    let ca_key = KeyPair::generate().map_err(PkiError::Signing)?;
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name = rcgen::DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Forewarn collector CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = now - BACKDATE;
    ca_params.not_after = now + CA_VALIDITY;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(PkiError::Signing)?;
    let issuer = Issuer::new(ca_params, &ca_key);
    let (server_cert_pem, server_key_pem) = issue_server_certificate(&issuer, server_names)?;

    write_private(&files.ca_key, &ca_key.serialize_pem())?;
    write_private(&files.server_key, &server_key_pem)?;
    write_public(&files.server_cert, &server_cert_pem)?;
    // The CA certificate is written last: its presence marks a complete set.
    write_public(&files.ca_cert, &ca_cert.pem())?;
    Ok(())
}

/// A server certificate (PEM) naming `server_names`, and its new key (PEM).
fn issue_server_certificate(
    issuer: &Issuer<'_, impl rcgen::SigningKey>,
    server_names: &[String],
) -> Result<(String, String), PkiError> {
    let now = OffsetDateTime::now_utc();
    let server_key = KeyPair::generate().map_err(PkiError::Signing)?;
    let mut params = CertificateParams::new(server_names.to_vec()).map_err(PkiError::Signing)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "Forewarn collector");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    params.not_before = now - BACKDATE;
    params.not_after = now + SERVER_VALIDITY;
    let cert = params
        .signed_by(&server_key, issuer)
        .map_err(PkiError::Signing)?;
    Ok((cert.pem(), server_key.serialize_pem()))
}

fn read(path: &Path) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(|source| PkiError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn write_public(path: &Path, contents: &str) -> Result<(), PkiError> {
    fs::write(path, contents).map_err(|source| PkiError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a private key readable by the owner only.
fn write_private(path: &Path, contents: &str) -> Result<(), PkiError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|source| PkiError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    file.write_all(contents.as_bytes())
        .map_err(|source| PkiError::Write {
            path: path.to_path_buf(),
            source,
        })
}

/// DER bytes of the first certificate in a PEM text.
pub fn first_pem_block_der(pem: &str) -> Option<Vec<u8>> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()?
        .ok()
        .map(|der| der.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr_pem() -> String {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "someone-else");
        params.serialize_request(&key).unwrap().pem().unwrap()
    }

    #[test]
    fn device_certificate_subject_is_assigned_id_not_csr_subject() {
        let dir = tempfile::tempdir().unwrap();
        let pki = CollectorPki::load_or_create(dir.path(), &["localhost".into()], None).unwrap();
        let issued = pki
            .sign_device_csr(&csr_pem(), "dev-1234", Duration::from_secs(3600))
            .unwrap();
        let der = first_pem_block_der(&issued.pem).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let cn = cert.subject().iter_common_name().next().unwrap();
        assert_eq!(cn.as_str().unwrap(), "dev-1234");
        let lifetime =
            cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp();
        assert_eq!(lifetime, 3600 + 60);
        let short = pki
            .sign_device_csr(&csr_pem(), "dev-1234", Duration::from_secs(30))
            .unwrap();
        let short_der = first_pem_block_der(&short.pem).unwrap();
        let (_, short) = x509_parser::parse_x509_certificate(&short_der).unwrap();
        let short_lifetime =
            short.validity().not_after.timestamp() - short.validity().not_before.timestamp();
        assert_eq!(
            short_lifetime, 33,
            "short lifetimes are backdated by a tenth"
        );
    }

    #[test]
    fn second_start_reuses_the_same_ca() {
        let dir = tempfile::tempdir().unwrap();
        let first = CollectorPki::load_or_create(dir.path(), &["localhost".into()], None).unwrap();
        let second = CollectorPki::load_or_create(dir.path(), &["localhost".into()], None).unwrap();
        assert_eq!(first.ca_fingerprint(), second.ca_fingerprint());
    }

    fn server_names_of(pki: &CollectorPki) -> BTreeSet<String> {
        pki.server_certificate(Path::new("server.pem"))
            .unwrap()
            .names
    }

    #[test]
    fn generated_server_certificate_follows_server_names_under_the_same_ca() {
        let dir = tempfile::tempdir().unwrap();
        let first = CollectorPki::load_or_create(dir.path(), &["localhost".into()], None).unwrap();
        let names = ["Collector.Example.com".to_owned(), "10.0.0.5".to_owned()];
        let second = CollectorPki::load_or_create(dir.path(), &names, None).unwrap();
        assert_eq!(second.ca_fingerprint(), first.ca_fingerprint());
        assert_eq!(
            server_names_of(&second),
            BTreeSet::from(["10.0.0.5".to_owned(), "collector.example.com".to_owned()])
        );
        let on_disk = fs::read_to_string(dir.path().join("pki/server.pem")).unwrap();
        assert!(second.server_chain_pem().starts_with(on_disk.trim_end()));
        // Unchanged names: the certificate is kept, not issued at every start.
        let third = CollectorPki::load_or_create(dir.path(), &names, None).unwrap();
        assert_eq!(third.server_chain_pem(), second.server_chain_pem());
        assert_eq!(third.server_key_pem(), second.server_key_pem());
    }

    #[test]
    fn operator_provided_certificate_is_never_replaced() {
        let generated = tempfile::tempdir().unwrap();
        CollectorPki::load_or_create(generated.path(), &["localhost".into()], None).unwrap();
        let pki = generated.path().join("pki");
        let tls = ProvidedTls {
            ca_cert: pki.join("ca.pem"),
            ca_key: pki.join("ca-key.pem"),
            server_cert: pki.join("server.pem"),
            server_key: pki.join("server-key.pem"),
        };
        let before = fs::read(&tls.server_cert).unwrap();
        let other = tempfile::tempdir().unwrap();
        let loaded =
            CollectorPki::load_or_create(other.path(), &["fw.example.com".into()], Some(&tls))
                .unwrap();
        assert_eq!(fs::read(&tls.server_cert).unwrap(), before);
        assert_eq!(
            server_names_of(&loaded),
            BTreeSet::from(["localhost".to_owned()])
        );
        assert!(!other.path().join("pki").exists());
    }

    #[test]
    fn names_a_provided_certificate_does_not_cover_are_found_wildcards_included() {
        let presented = BTreeSet::from([
            "*.corp.example".to_owned(),
            "fw.example.com".to_owned(),
            "10.0.0.5".to_owned(),
        ]);
        let names = [
            "FW.example.com",
            "collector.corp.example",
            "a.b.corp.example",
            "10.0.0.5",
            "10.0.0.6",
            "corp.example",
        ]
        .map(String::from);
        assert_eq!(
            uncovered_names(&presented, &names),
            ["a.b.corp.example", "10.0.0.6", "corp.example"]
        );
    }

    #[test]
    fn garbage_csr_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let pki = CollectorPki::load_or_create(dir.path(), &["localhost".into()], None).unwrap();
        let err = pki
            .sign_device_csr(
                "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
                "d",
                Duration::from_secs(60),
            )
            .unwrap_err();
        assert!(matches!(err, PkiError::InvalidCsr(_)));
    }
}
