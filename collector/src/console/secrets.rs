//! The console's random secrets: session ids, CSRF tokens and API token
//! secrets. All have full entropy, so the store keeps a SHA-256 of each
//! (a slow hash would add cost, not safety), compared by lookup, never by
//! a timing-dependent string comparison in Rust.

/// Prefix that makes an API token recognisable in a paste or a secret scanner.
pub const API_TOKEN_PREFIX: &str = "fwk_";

fn random_hex<const N: usize>() -> String {
    let bytes: [u8; N] = rand::random();
    hex::encode(bytes)
}

/// A new session id (the cookie's value).
pub fn session_id() -> String {
    random_hex::<32>()
}

/// A new CSRF token for a session.
pub fn csrf_token() -> String {
    random_hex::<32>()
}

/// A new API token: its public id and its one-time-shown secret.
pub fn api_token() -> (String, String) {
    (
        random_hex::<6>(),
        format!("{API_TOKEN_PREFIX}{}", random_hex::<32>()),
    )
}

/// What the store keeps in place of a session id or token secret.
pub fn hash(secret: &str) -> String {
    crate::tokens::hash(secret)
}

/// Compares two secrets in time independent of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_distinct_prefixed_and_compared_whole() {
        let (id, secret) = api_token();
        assert_eq!(id.len(), 12);
        assert!(secret.starts_with(API_TOKEN_PREFIX));
        assert_ne!(session_id(), session_id());
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
        assert_ne!(hash(&secret), secret);
    }
}
