//! Console passwords: argon2id hashes in PHC form, generated one-time
//! passwords, and what a new password must be.

use argon2::password_hash::PasswordHasher;
use argon2::{Argon2, PasswordVerifier};

/// Shortest password accepted: NIST SP 800-63B's floor is 8; 12 keeps a
/// person's choice out of quick offline reach if the database leaks.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Generated passwords: 20 characters from an alphabet without look-alikes
/// (no 0/O, 1/l/I), about 115 bits.
const GENERATED_CHARS: usize = 20;
const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// The stored "hash" of a user who signs in only through the OpenID
/// provider: not a PHC string, so no password ever matches it.
pub const SINGLE_SIGN_ON: &str = "!single-sign-on";

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is too short: use at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// Refuses a password a person may not set.
pub fn check_new(password: &str) -> Result<(), PasswordError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    Ok(())
}

/// The argon2id hash (RFC 9106 defaults of the crate: 19 MiB, 2 passes) in PHC form.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    let salt: [u8; 16] = rand::random();
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| PasswordError::Hash(err.to_string()))
}

/// Whether `password` matches the stored PHC string; a malformed one never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// Spends the time of one verification, so an unknown user name answers
/// as slowly as a wrong password and does not reveal which names exist.
pub fn verify_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("not a password of anyone").unwrap_or_default());
    let _ = verify(password, phc);
}

/// A random password to show once (new user, reset).
pub fn generate() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..GENERATED_CHARS)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_only_the_same_password() {
        let phc = hash("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify("correct horse battery", &phc));
        assert!(!verify("correct horse batterY", &phc));
        assert!(!verify("correct horse battery", "not a phc string"));
    }

    #[test]
    fn generated_passwords_are_long_enough_and_differ() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(check_new(&a).is_ok());
        assert!(matches!(check_new("short"), Err(PasswordError::TooShort)));
    }
}
