//! Whether a device certificate was replaced when its machine enrolled
//! again (a re-image links to the old record, see [`super::hardware`]): the
//! old key is gone or, worse, in someone else's hands, so its certificates
//! must stop working although the CA signed them and they have not expired.
//!
//! Refused: any certificate issued up to the re-enrollment's certificate
//! (not-before at or before it) other than that certificate itself.
//! Renewals after the re-enrollment have a later not-before and pass.

use crate::store::CurrentCertificate;

/// Serials as hex, compared without leading zeros (DER drops them).
fn same_serial(a: &str, b: &str) -> bool {
    let trim = |s: &str| s.trim_start_matches('0').to_ascii_lowercase();
    trim(a) == trim(b)
}

/// Whether the presented certificate (`serial`, `not_before`) is one that a
/// re-enrollment replaced.
pub fn superseded(current: &CurrentCertificate, serial: &str, not_before: i64) -> bool {
    match current.reenrolled_not_before {
        Some(mark) => not_before <= mark && !same_serial(serial, &current.serial),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_certificates_from_before_the_reenrollment_are_refused() {
        let current = CurrentCertificate {
            serial: "0a1b".into(),
            reenrolled_not_before: Some(1_000),
        };
        let cases = [
            ("0a1b", 1_000, false), // the re-enrollment's own certificate
            ("a1b", 1_000, false),  // the same, with its leading zero dropped
            ("0A1B", 1_000, false),
            ("77", 999, true),    // the old machine's certificate
            ("77", 1_000, true),  // issued in the same second
            ("88", 1_001, false), // a renewal after it
        ];
        for (serial, not_before, refused) in cases {
            assert_eq!(
                superseded(&current, serial, not_before),
                refused,
                "{serial} {not_before}"
            );
        }
        let never = CurrentCertificate {
            serial: "0a1b".into(),
            reenrolled_not_before: None,
        };
        assert!(!superseded(&never, "77", 0));
    }
}
