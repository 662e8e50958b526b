//! Pure decoding of certificate bytes, shared by every source and every OS.
//!
//! Files, `security find-certificate -p` output and TLS chains all end up
//! here: [`split_certificates`] turns PEM bundles or a single DER blob into
//! DER certificates, and [`describe`] turns one DER certificate into its
//! wire status. Private keys are recognised by their PEM label and skipped
//! before their body is decoded, so key material never leaves this module.

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
}

/// PEM labels whose body is a certificate.
const CERTIFICATE_LABELS: &[&str] = &["CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"];

/// The DER certificates in `bytes` (a PEM bundle or one DER certificate),
/// with a problem for each block that could not be decoded.
///
/// Blocks that are not certificates (private keys, CSRs, parameters) are
/// skipped without decoding them. Bytes with no PEM block at all are taken
/// as DER.
pub fn split_certificates(bytes: &[u8]) -> (Vec<Vec<u8>>, Vec<ParseError>) {
    if !contains(bytes, b"-----BEGIN ") {
        return match X509Certificate::from_der(bytes) {
            Ok(_) => (vec![bytes.to_vec()], Vec::new()),
            // A first byte other than SEQUENCE is not even an attempt at DER.
            Err(_) if bytes.first() != Some(&0x30) => (Vec::new(), vec![ParseError::NoCertificate]),
            Err(err) => (
                Vec::new(),
                vec![ParseError::NotCertificate(err.to_string())],
            ),
        };
    }
    let text = String::from_utf8_lossy(bytes);
    let mut certificates = Vec::new();
    let mut problems = Vec::new();
    let mut rest: &str = &text;
    let mut index = 0;
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
        if !CERTIFICATE_LABELS.contains(&label.as_str()) {
            continue;
        }
        match pem::parse(block) {
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
    (certificates, problems)
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
    fn key_only_file_yields_nothing_and_no_error() {
        let key = rcgen::KeyPair::generate().unwrap();
        let (ders, problems) = split_certificates(key.serialize_pem().as_bytes());
        assert!(ders.is_empty() && problems.is_empty());
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
