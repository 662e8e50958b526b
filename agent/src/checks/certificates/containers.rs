//! DER that is not a bare certificate: PKCS#7 / CMS bundles, whose
//! certificates are read, and the look-alikes people mistake for
//! certificates (keys, requests, revocation lists, PKCS#12), which are named
//! so an error says what the file is. Pure, every OS.
//!
//! Parsed with `asn1-rs`, which `x509-parser` already brings and re-exports:
//! a degenerate SignedData ("certs-only" `.p7b`/`.p7c`) needs no more than
//! walking a few levels of DER, and no new crate is worth that. Keys are
//! recognised by their outer structure only; their contents are never read.

use x509_parser::asn1_rs::{Any, Class, FromBer, Tag};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

/// `id-signedData` (PKCS#7 / CMS).
const SIGNED_DATA: &str = "1.2.840.113549.1.7.2";

/// The certificates a PKCS#7 / CMS SignedData carries (possibly none), or
/// `None` when `der` is not a SignedData.
pub fn pkcs7_certificates(der: &[u8]) -> Option<Vec<Vec<u8>>> {
    let (_, content_info) = Any::from_ber(der).ok()?;
    if content_info.tag() != Tag::Sequence {
        return None;
    }
    let fields = children(content_info.data)?;
    let oid = fields.first()?.0.clone().oid().ok()?;
    if oid.to_id_string() != SIGNED_DATA {
        return None;
    }
    // content [0] EXPLICIT SignedData
    let (explicit, _) = fields.get(1)?;
    if explicit.class() != Class::ContextSpecific || explicit.tag() != Tag(0) {
        return None;
    }
    let (_, signed_data) = Any::from_ber(explicit.data).ok()?;
    let signed_fields = children(signed_data.data)?;
    // certificates [0] IMPLICIT CertificateSet, after version, digest
    // algorithms and the encapsulated content.
    let certificates = signed_fields
        .iter()
        .skip(3)
        .find(|(any, _)| any.class() == Class::ContextSpecific && any.tag() == Tag(0));
    let Some((set, _)) = certificates else {
        return Some(Vec::new());
    };
    let members = children(set.data)?;
    Some(
        members
            .into_iter()
            // Other CertificateChoices (attribute certificates, ...) are tagged; skip them.
            .filter(|(any, _)| any.tag() == Tag::Sequence && any.class() == Class::Universal)
            .map(|(_, raw)| raw.to_vec())
            .collect(),
    )
}

/// The elements inside a constructed value, each with its raw encoding.
fn children(mut data: &[u8]) -> Option<Vec<(Any<'_>, &[u8])>> {
    let mut items = Vec::new();
    while !data.is_empty() {
        let (rest, any) = Any::from_ber(data).ok()?;
        items.push((any, &data[..data.len() - rest.len()]));
        data = rest;
    }
    Some(items)
}

/// What a DER value that is not a certificate is, in words for a person
/// ("a private key (PKCS#8)"), when its shape says so.
pub fn der_kind(der: &[u8]) -> Option<&'static str> {
    if X509CertificationRequest::from_der(der).is_ok() {
        return Some("a certificate signing request (PKCS#10), not a certificate");
    }
    if CertificateRevocationList::from_der(der).is_ok() {
        return Some("a certificate revocation list (CRL), not a certificate");
    }
    let (_, outer) = Any::from_ber(der).ok()?;
    if outer.tag() != Tag::Sequence {
        return None;
    }
    let fields = children(outer.data)?;
    let tags: Vec<Tag> = fields.iter().map(|(any, _)| any.tag()).collect();
    let small_integer = |index: usize| -> Option<u8> {
        let (any, _) = fields.get(index)?;
        (any.tag() == Tag::Integer && any.data.len() == 1).then(|| any.data[0])
    };
    match (small_integer(0), tags.as_slice()) {
        (Some(0 | 1), [Tag::Integer, Tag::Sequence, Tag::OctetString, ..]) => {
            Some("a private key (PKCS#8), not a certificate")
        }
        (Some(1), [Tag::Integer, Tag::OctetString, ..]) => {
            Some("an EC private key (SEC 1), not a certificate")
        }
        (Some(0), [Tag::Integer, Tag::Integer, Tag::Integer, Tag::Integer, ..]) => {
            Some("an RSA private key (PKCS#1), not a certificate")
        }
        (Some(3), [Tag::Integer, Tag::Sequence, ..]) => Some(
            "a PKCS#12 bundle (.p12/.pfx), which needs its password; export its certificate to PEM",
        ),
        (None, [Tag::Sequence, Tag::OctetString]) => {
            Some("an encrypted private key (PKCS#8), not a certificate")
        }
        (None, [Tag::Sequence, Tag::BitString]) => Some("a public key, not a certificate"),
        (None, [Tag::Oid, ..]) => Some("a PKCS#7 / CMS message that is not a certificate bundle"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degenerate_signed_data_yields_its_certificates_in_order() {
        let bundle = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/certificates/openssl/bundle-der.p7c"
        ))
        .unwrap();
        let certificates = pkcs7_certificates(&bundle).unwrap();
        assert_eq!(certificates.len(), 2);
        for der in &certificates {
            assert!(x509_parser::parse_x509_certificate(der).is_ok());
        }
    }

    #[test]
    fn other_der_is_not_signed_data() {
        let key = rcgen::KeyPair::generate().unwrap();
        assert_eq!(pkcs7_certificates(&key.serialize_der()), None);
        assert_eq!(pkcs7_certificates(b"\x30\x03\x02\x01"), None);
        assert_eq!(pkcs7_certificates(b""), None);
    }

    #[test]
    fn keys_requests_and_public_keys_are_named() {
        let key = rcgen::KeyPair::generate().unwrap();
        assert_eq!(
            der_kind(&key.serialize_der()),
            Some("a private key (PKCS#8), not a certificate")
        );
        assert_eq!(
            der_kind(&rcgen::PublicKeyData::subject_public_key_info(&key)),
            Some("a public key, not a certificate")
        );
        let params = rcgen::CertificateParams::new(vec!["a.test".to_owned()]).unwrap();
        let csr = params.serialize_request(&key).unwrap();
        assert_eq!(
            der_kind(csr.der()),
            Some("a certificate signing request (PKCS#10), not a certificate")
        );
        assert_eq!(der_kind(b"\x30\x03\x01\x01\xff"), None);
    }
}
