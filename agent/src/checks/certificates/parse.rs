//! Pure decoding of certificate bytes, shared by every source and every OS.
//!
//! Files, `security find-certificate -p` output and TLS chains all end up
//! here: [`split_certificates`] turns PEM bundles, PKCS#7 bundles (`.p7b`,
//! `.p7c`, PEM or DER) or a single DER certificate into DER certificates,
//! and [`describe`] turns one DER certificate into its wire status. Private
//! keys are recognised by their PEM label and skipped before their body is
//! decoded, so key material never leaves this module.
//!
//! Bytes that hold no certificate are never silence: a PEM file without a
//! certificate block says which blocks it holds, and DER that is something
//! else says what it is (a key, a request, a revocation list, PKCS#12).

use std::sync::LazyLock;

use forewarn_proto::limits::MAX_LIST_ITEMS;
use forewarn_proto::pb;
use sha2::{Digest, Sha256};
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_PKCS1_RSAENCRYPTION, OID_SIG_ED448, OID_SIG_ED25519, OidRegistry,
};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use super::containers;

/// Why some bytes did not yield a certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("PEM block {index} ({label}) has no END line")]
    UnterminatedPem { index: usize, label: String },
    #[error("PEM block {index} ({label}) is not valid base64: {message}")]
    BadPem {
        index: usize,
        label: String,
        message: String,
    },
    #[error("not a certificate: {0}")]
    NotCertificate(String),
    #[error("no certificate found (neither PEM nor DER)")]
    NoCertificate,
    #[error("no certificate in this PEM file; it holds {}", holds.join(", "))]
    PemWithoutCertificate { holds: Vec<String> },
    #[error("{0}")]
    OtherDer(&'static str),
    #[error("PKCS#7 bundle holds no certificate")]
    EmptyBundle,
}

impl ParseError {
    /// A PEM file of private keys only: expected beside certificates in a
    /// folder (`privkey.pem`), so the walk skips it unless it was named.
    pub fn is_key_file(&self) -> bool {
        matches!(self, Self::PemWithoutCertificate { holds }
            if !holds.is_empty() && holds.iter().all(|label| label.ends_with("PRIVATE KEY")))
    }
}

/// PEM labels whose body is a certificate.
const CERTIFICATE_LABELS: &[&str] = &["CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"];
/// PEM labels whose body is a PKCS#7 / CMS bundle.
const BUNDLE_LABELS: &[&str] = &["PKCS7", "CMS", "PKCS #7 SIGNED DATA"];

/// The DER certificates in `bytes` (a PEM bundle or one DER certificate),
/// with a problem for each block that could not be decoded.
///
/// Blocks that are not certificates (private keys, CSRs, parameters) are
/// skipped without decoding them. Bytes with no PEM block at all are taken
/// as DER.
pub fn split_certificates(bytes: &[u8]) -> (Vec<Vec<u8>>, Vec<ParseError>) {
    if !contains(bytes, b"-----BEGIN ") {
        return split_der(bytes);
    }
    let text = String::from_utf8_lossy(bytes);
    let mut certificates = Vec::new();
    let mut problems = Vec::new();
    let mut rest: &str = &text;
    let mut index = 0;
    let mut other_labels: Vec<String> = Vec::new();
    while let Some(start) = rest.find("-----BEGIN ") {
        index += 1;
        let after_begin = &rest[start + "-----BEGIN ".len()..];
        let Some(label_end) = after_begin.find("-----") else {
            problems.push(ParseError::UnterminatedPem {
                index,
                label: String::new(),
            });
            break;
        };
        let label = after_begin[..label_end].to_owned();
        let end_marker = format!("-----END {label}-----");
        let Some(end) = after_begin.find(&end_marker) else {
            problems.push(ParseError::UnterminatedPem { index, label });
            break;
        };
        let block_len = "-----BEGIN ".len() + end + end_marker.len();
        let block = &rest[start..start + block_len];
        rest = &rest[start + block_len..];
        let bundle = BUNDLE_LABELS.contains(&label.as_str());
        if !CERTIFICATE_LABELS.contains(&label.as_str()) && !bundle {
            if !other_labels.contains(&label) {
                other_labels.push(label);
            }
            continue;
        }
        match pem::parse(block) {
            Ok(parsed) if bundle => match containers::pkcs7_certificates(parsed.contents()) {
                Some(ders) if ders.is_empty() => problems.push(ParseError::EmptyBundle),
                Some(ders) => certificates.extend(ders),
                None => problems.push(ParseError::NotCertificate(format!(
                    "PEM block {index} ({label}) is not a PKCS#7 bundle"
                ))),
            },
            Ok(parsed) => match X509Certificate::from_der(parsed.contents()) {
                Ok(_) => certificates.push(parsed.into_contents()),
                Err(err) => problems.push(ParseError::NotCertificate(format!(
                    "PEM block {index}: {err}"
                ))),
            },
            Err(err) => problems.push(ParseError::BadPem {
                index,
                label,
                message: err.to_string(),
            }),
        }
    }
    if certificates.is_empty() && problems.is_empty() {
        let holds = if other_labels.is_empty() {
            vec!["no complete PEM block".to_owned()]
        } else {
            other_labels
        };
        problems.push(ParseError::PemWithoutCertificate { holds });
    }
    (certificates, problems)
}

/// One DER value: a certificate, a PKCS#7 bundle, or something named.
fn split_der(bytes: &[u8]) -> (Vec<Vec<u8>>, Vec<ParseError>) {
    let error = match X509Certificate::from_der(bytes) {
        Ok(_) => return (vec![bytes.to_vec()], Vec::new()),
        Err(err) => err,
    };
    if let Some(ders) = containers::pkcs7_certificates(bytes) {
        if ders.is_empty() {
            return (Vec::new(), vec![ParseError::EmptyBundle]);
        }
        return (ders, Vec::new());
    }
    let problem = match containers::der_kind(bytes) {
        Some(kind) => ParseError::OtherDer(kind),
        // A first byte other than SEQUENCE is not even an attempt at DER.
        None if bytes.first() != Some(&0x30) => ParseError::NoCertificate,
        None => ParseError::NotCertificate(error.to_string()),
    };
    (Vec::new(), vec![problem])
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Short names of signature algorithms ("sha256WithRSAEncryption").
static OID_NAMES: LazyLock<OidRegistry<'static>> =
    LazyLock::new(|| OidRegistry::default().with_crypto().with_x509());

/// Everything the report says about one DER certificate; `locations` is left empty.
pub fn describe(der: &[u8]) -> Result<pb::CertificateStatus, ParseError> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|err| ParseError::NotCertificate(err.to_string()))?;
    let subject_alt_names = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .take(MAX_LIST_ITEMS)
            .map(general_name_text)
            .collect(),
        _ => Vec::new(),
    };
    let (key_type, key_bits) = key_type_and_bits(&cert);
    let signature_oid = &cert.signature_algorithm.algorithm;
    let signature_algorithm = OID_NAMES
        .get(signature_oid)
        .map_or_else(|| signature_oid.to_id_string(), |e| e.sn().to_owned());
    let self_signed =
        cert.subject().as_raw() == cert.issuer().as_raw() && cert.verify_signature(None).is_ok();
    Ok(pb::CertificateStatus {
        sha256_fingerprint: fingerprint(der),
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        subject_alt_names,
        serial: serial_hex(cert.raw_serial()),
        not_before_unix_secs: cert.validity().not_before.timestamp(),
        not_after_unix_secs: cert.validity().not_after.timestamp(),
        self_signed,
        is_ca: cert.is_ca(),
        key_type,
        key_bits,
        signature_algorithm,
        locations: Vec::new(),
    })
}

/// The serial as a number in hex: DER's sign-padding zero bytes dropped,
/// as `openssl x509 -serial` prints it.
fn serial_hex(raw: &[u8]) -> String {
    let first_significant = raw
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(raw.len().saturating_sub(1));
    hex::encode(&raw[first_significant..])
}

/// SHA-256 of `der`, lowercase hex.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

fn general_name_text(name: &GeneralName<'_>) -> String {
    match name {
        GeneralName::DNSName(dns) => format!("DNS:{dns}"),
        GeneralName::RFC822Name(email) => format!("email:{email}"),
        GeneralName::URI(uri) => format!("URI:{uri}"),
        GeneralName::IPAddress(bytes) => match <[u8; 4]>::try_from(*bytes) {
            Ok(v4) => format!("IP:{}", std::net::Ipv4Addr::from(v4)),
            Err(_) => match <[u8; 16]>::try_from(*bytes) {
                Ok(v6) => format!("IP:{}", std::net::Ipv6Addr::from(v6)),
                Err(_) => format!("IP:{}", hex::encode(bytes)),
            },
        },
        other => other.to_string(),
    }
}

fn key_type_and_bits(cert: &X509Certificate<'_>) -> (String, u32) {
    let spki = cert.public_key();
    let algorithm = &spki.algorithm.algorithm;
    let bits = |key: &PublicKey<'_>| u32::try_from(key.key_size()).unwrap_or(0);
    if *algorithm == OID_PKCS1_RSAENCRYPTION {
        let size = spki.parsed().map_or(0, |key| bits(&key));
        ("rsa".to_owned(), size)
    } else if *algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        let (name, size) = match curve {
            Some(oid) if oid == OID_EC_P256 => ("ec-p256", 256),
            Some(oid) if oid == OID_NIST_EC_P384 => ("ec-p384", 384),
            Some(oid) if oid == OID_NIST_EC_P521 => ("ec-p521", 521),
            _ => ("ec", spki.parsed().map_or(0, |key| bits(&key))),
        };
        (name.to_owned(), size)
    } else if *algorithm == OID_SIG_ED25519 {
        ("ed25519".to_owned(), 256)
    } else if *algorithm == OID_SIG_ED448 {
        ("ed448".to_owned(), 456)
    } else {
        let name = OID_NAMES
            .get(algorithm)
            .map_or_else(|| algorithm.to_id_string(), |e| e.sn().to_owned());
        (name, spki.parsed().map_or(0, |key| bits(&key)))
    }
}

/// Which registry hive a Windows certificate store lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreLocation {
    LocalMachine,
    CurrentUser,
}

/// Splits a configured Windows store such as `LocalMachine\My` into its
/// location and store name (the names `certlm.msc` and PowerShell's
/// `Cert:\LocalMachine\My` drive use).
pub fn windows_store(text: &str) -> Result<(StoreLocation, &str), String> {
    let (location, name) = text
        .split_once('\\')
        .ok_or_else(|| format!("{text:?} is not Location\\Store"))?;
    let location = if location.eq_ignore_ascii_case("LocalMachine") {
        StoreLocation::LocalMachine
    } else if location.eq_ignore_ascii_case("CurrentUser") {
        StoreLocation::CurrentUser
    } else {
        return Err(format!(
            "{text:?}: location must be LocalMachine or CurrentUser"
        ));
    };
    if name.is_empty() || name.contains('\\') {
        return Err(format!("{text:?}: store name must be one word such as My"));
    }
    Ok((location, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(
        alg: &'static rcgen::SignatureAlgorithm,
    ) -> (rcgen::Certificate, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let mut params = rcgen::CertificateParams::new(vec![
            "db.example.test".to_owned(),
            "10.0.0.7".to_owned(),
        ])
        .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "db.example.test");
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x0a, 0xbc]));
        params.not_before = time::macros::datetime!(2026-01-01 0:00 UTC);
        params.not_after = time::macros::datetime!(2027-01-01 0:00 UTC);
        (params.self_signed(&key).unwrap(), key)
    }

    #[test]
    fn describes_every_field_of_a_self_signed_ec_certificate() {
        let (cert, _) = certificate(&rcgen::PKCS_ECDSA_P256_SHA256);
        let status = describe(cert.der()).unwrap();
        assert_eq!(status.subject, "CN=db.example.test");
        assert_eq!(status.issuer, "CN=db.example.test");
        assert_eq!(
            status.subject_alt_names,
            ["DNS:db.example.test", "IP:10.0.0.7"]
        );
        assert_eq!(status.serial, "0abc");
        assert_eq!(status.not_before_unix_secs, 1_767_225_600);
        assert_eq!(status.not_after_unix_secs, 1_798_761_600);
        assert!(status.self_signed);
        assert!(!status.is_ca);
        assert_eq!(status.key_type, "ec-p256");
        assert_eq!(status.key_bits, 256);
        assert_eq!(status.signature_algorithm, "ecdsa-with-SHA256");
        assert_eq!(
            status.sha256_fingerprint,
            hex::encode(Sha256::digest(cert.der()))
        );
        assert_eq!(status.sha256_fingerprint.len(), 64);
    }

    #[test]
    fn ed25519_key_type() {
        let (cert, _) = certificate(&rcgen::PKCS_ED25519);
        let status = describe(cert.der()).unwrap();
        assert_eq!(
            (status.key_type.as_str(), status.key_bits),
            ("ed25519", 256)
        );
        assert_eq!(status.signature_algorithm, "ed25519");
    }

    #[test]
    fn certificate_signed_by_another_is_not_self_signed_and_ca_flag_is_read() {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, &ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["a.test".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let ca_status = describe(ca.der()).unwrap();
        assert!(ca_status.is_ca && ca_status.self_signed);
        let leaf_status = describe(leaf.der()).unwrap();
        assert!(!leaf_status.is_ca && !leaf_status.self_signed);
        assert_eq!(leaf_status.issuer, "CN=Test CA");
    }

    #[test]
    fn bundle_with_key_yields_certificates_and_never_the_key() {
        let (first, key) = certificate(&rcgen::PKCS_ECDSA_P256_SHA256);
        let (second, _) = certificate(&rcgen::PKCS_ECDSA_P384_SHA384);
        let bundle = format!("{}{}\n{}", first.pem(), key.serialize_pem(), second.pem());
        let (ders, problems) = split_certificates(bundle.as_bytes());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(ders, [first.der().to_vec(), second.der().to_vec()]);
        assert_eq!(describe(&ders[1]).unwrap().key_type, "ec-p384");
    }

    #[test]
    fn single_der_certificate_is_read() {
        let (cert, _) = certificate(&rcgen::PKCS_ECDSA_P256_SHA256);
        let (ders, problems) = split_certificates(cert.der());
        assert!(problems.is_empty());
        assert_eq!(ders.len(), 1);
    }

    #[test]
    fn corrupt_block_is_an_error_and_the_rest_of_the_bundle_is_read() {
        let (good, _) = certificate(&rcgen::PKCS_ECDSA_P256_SHA256);
        let bundle = format!(
            "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n{}",
            good.pem()
        );
        let (ders, problems) = split_certificates(bundle.as_bytes());
        assert_eq!(ders, [good.der().to_vec()]);
        assert!(
            matches!(&problems[..], [ParseError::BadPem { index: 1, .. }]),
            "{problems:?}"
        );
    }

    #[test]
    fn valid_base64_that_is_not_a_certificate_is_an_error() {
        let bundle = "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";
        let (ders, problems) = split_certificates(bundle.as_bytes());
        assert!(ders.is_empty());
        assert!(matches!(&problems[..], [ParseError::NotCertificate(_)]));
    }

    #[test]
    fn unterminated_block_is_an_error_after_the_good_ones() {
        let (good, _) = certificate(&rcgen::PKCS_ECDSA_P256_SHA256);
        let pem = good.pem();
        let bundle = format!("{pem}{}", &pem[..pem.len() / 2]);
        let (ders, problems) = split_certificates(bundle.as_bytes());
        assert_eq!(ders.len(), 1);
        assert!(matches!(
            &problems[..],
            [ParseError::UnterminatedPem { index: 2, .. }]
        ));
    }

    #[test]
    fn truncated_der_is_an_error() {
        let (cert, _) = certificate(&rcgen::PKCS_ECDSA_P256_SHA256);
        let der = cert.der();
        let (ders, problems) = split_certificates(&der[..der.len() - 20]);
        assert!(ders.is_empty());
        assert!(matches!(&problems[..], [ParseError::NotCertificate(_)]));
    }

    #[test]
    fn binary_junk_is_no_certificate() {
        let junk: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8 | 1).collect();
        let (ders, problems) = split_certificates(&junk);
        assert!(ders.is_empty());
        assert_eq!(problems, [ParseError::NoCertificate]);
    }

    #[test]
    fn key_only_pem_is_a_key_file_error() {
        let key = rcgen::KeyPair::generate().unwrap();
        let (ders, problems) = split_certificates(key.serialize_pem().as_bytes());
        assert!(ders.is_empty());
        assert_eq!(
            problems,
            [ParseError::PemWithoutCertificate {
                holds: vec!["PRIVATE KEY".into()]
            }]
        );
        assert!(problems[0].is_key_file());
        assert_eq!(
            problems[0].to_string(),
            "no certificate in this PEM file; it holds PRIVATE KEY"
        );
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/certificates/openssl/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
    }

    fn subjects(ders: &[Vec<u8>]) -> Vec<String> {
        ders.iter().map(|d| describe(d).unwrap().subject).collect()
    }

    #[test]
    fn pkcs7_bundles_in_pem_and_der_yield_their_certificates() {
        for name in ["bundle.p7b", "bundle-der.p7c"] {
            let (ders, problems) = split_certificates(&fixture(name));
            assert!(problems.is_empty(), "{name}: {problems:?}");
            assert_eq!(
                subjects(&ders),
                ["CN=www.example.test", "CN=Forewarn Fixture CA"],
                "{name}"
            );
        }
        let (leaf, _) = split_certificates(&fixture("leaf.pem"));
        let (bundle, _) = split_certificates(&fixture("bundle.p7b"));
        assert_eq!(
            fingerprint(&leaf[0]),
            fingerprint(&bundle[0]),
            "one certificate, one identity"
        );
    }

    #[test]
    fn empty_bundle_and_pem_without_certificates_are_errors() {
        let (ders, problems) = split_certificates(&fixture("empty.p7b"));
        assert!(ders.is_empty());
        assert_eq!(problems, [ParseError::EmptyBundle]);
        let (_, problems) = split_certificates(&fixture("crl.pem"));
        assert_eq!(
            problems[0].to_string(),
            "no certificate in this PEM file; it holds X509 CRL"
        );
        assert!(!problems[0].is_key_file());
        let (_, problems) = split_certificates(
            b"-----BEGIN DH PARAMETERS-----\nMAYCAQI=\n-----END DH PARAMETERS-----\n",
        );
        assert_eq!(
            problems[0].to_string(),
            "no certificate in this PEM file; it holds DH PARAMETERS"
        );
    }

    #[test]
    fn der_that_is_not_a_certificate_says_what_it_is() {
        let said = |bytes: &[u8]| {
            let (ders, problems) = split_certificates(bytes);
            assert!(ders.is_empty());
            problems[0].to_string()
        };
        assert_eq!(
            said(&fixture("crl.der")),
            "a certificate revocation list (CRL), not a certificate"
        );
        assert_eq!(
            said(&fixture("request.der")),
            "a certificate signing request (PKCS#10), not a certificate"
        );
        let key = rcgen::KeyPair::generate().unwrap();
        assert_eq!(
            said(&key.serialize_der()),
            "a private key (PKCS#8), not a certificate"
        );
    }

    /// DER keys and bundles made by the real `openssl` in a temporary folder
    /// (none is kept in the repository).
    #[test]
    fn openssl_keys_and_pkcs12_in_der_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let status = std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .stderr(std::process::Stdio::null())
                .status()
                .expect("openssl runs");
            assert!(status.success(), "openssl {args:?}");
        };
        run(&[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-outform",
            "DER",
            "-out",
            "ec.der",
        ]);
        run(&["genrsa", "-traditional", "-out", "rsa.pem", "2048"]);
        run(&[
            "rsa",
            "-in",
            "rsa.pem",
            "-traditional",
            "-outform",
            "DER",
            "-out",
            "rsa.der",
        ]);
        run(&["genpkey", "-algorithm", "ed25519", "-out", "ed.pem"]);
        run(&[
            "pkcs8", "-topk8", "-in", "ed.pem", "-passout", "pass:x", "-outform", "DER", "-out",
            "enc.der",
        ]);
        let cert = format!(
            "{}/tests/fixtures/certificates/openssl/leaf.pem",
            env!("CARGO_MANIFEST_DIR")
        );
        run(&[
            "req",
            "-x509",
            "-key",
            "ed.pem",
            "-subj",
            "/CN=p12.test",
            "-out",
            "p12cert.pem",
        ]);
        run(&[
            "pkcs12",
            "-export",
            "-in",
            "p12cert.pem",
            "-inkey",
            "ed.pem",
            "-passout",
            "pass:x",
            "-out",
            "bundle.p12",
        ]);
        assert!(std::path::Path::new(&cert).exists());
        let said = |name: &str| {
            let bytes = std::fs::read(dir.path().join(name)).unwrap();
            let (ders, problems) = split_certificates(&bytes);
            assert!(ders.is_empty(), "{name}");
            problems[0].to_string()
        };
        assert_eq!(
            said("ec.der"),
            "an EC private key (SEC 1), not a certificate"
        );
        assert_eq!(
            said("rsa.der"),
            "an RSA private key (PKCS#1), not a certificate"
        );
        assert_eq!(
            said("enc.der"),
            "an encrypted private key (PKCS#8), not a certificate"
        );
        assert!(said("bundle.p12").starts_with("a PKCS#12 bundle"));
    }

    #[test]
    fn windows_store_names_split_into_location_and_store() {
        assert_eq!(
            windows_store(r"LocalMachine\My").unwrap(),
            (StoreLocation::LocalMachine, "My")
        );
        assert_eq!(
            windows_store(r"currentuser\WebHosting").unwrap(),
            (StoreLocation::CurrentUser, "WebHosting")
        );
        for bad in ["My", r"Services\My", r"LocalMachine\", r"LocalMachine\My\X"] {
            assert!(windows_store(bad).is_err(), "{bad}");
        }
    }
}
