//! Enrollment token secrets.
//!
//! A token is 32 random bytes shown to the admin once. The store keeps only
//! its SHA-256: the secret has full entropy, so a slow password hash would add
//! cost without adding safety.

use sha2::{Digest, Sha256};

/// Prefix that makes a token recognisable in a paste or a secret scanner.
const TOKEN_PREFIX: &str = "fwt_";

/// A freshly generated token: the public id and the one-time-shown secret.
#[derive(Debug)]
pub struct GeneratedToken {
    pub id: String,
    pub secret: String,
}

pub fn generate() -> GeneratedToken {
    let id: [u8; 6] = rand::random();
    let secret: [u8; 32] = rand::random();
    GeneratedToken {
        id: hex::encode(id),
        secret: format!("{TOKEN_PREFIX}{}", hex::encode(secret)),
    }
}

/// What the store keeps in place of the secret.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.trim().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_distinct_and_hash_stably() {
        let a = generate();
        let b = generate();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with(TOKEN_PREFIX));
        assert_eq!(hash(&a.secret), hash(&format!("{}\n", a.secret)));
        assert_ne!(hash(&a.secret), hash(&b.secret));
        assert!(!hash(&a.secret).contains(&a.secret[4..]));
    }
}
