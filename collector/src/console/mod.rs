//! The console's foundation: sign-in, roles scoped to groups, API tokens,
//! the audit log and the REST API under `/api/v1` (docs/console.md).
//!
//! # Layout
//! - [`authz`]: roles, group scopes and the pure decision `can`.
//! - [`password`]: argon2id password hashes and generated passwords.
//! - [`secrets`]: session ids, CSRF tokens and API token secrets.
pub mod authz;
pub mod password;
pub mod secrets;
