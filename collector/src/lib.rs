//! Forewarn collector: authenticates devices by their client certificates,
//! validates and stores their reports, and serves the fleet's state.
//!
//! # Layout
//! - [`config`]: the collector's TOML config and per-group policy.
//! - [`console`]: sign-in, roles, API tokens, audit log and the REST API.
//! - [`pki`]: the collector CA; signs device certificates from CSRs.
//! - [`severity`]: the one severity scale of alerts, notifications and tickets.
//! - [`tokens`]: enrollment token secrets and their hashes.
//! - [`store`]: the `Store` trait and its SQLite implementation.
//! - [`rules`]: rule thresholds and the pure evaluation of a device's alerts.
//! - [`alerts`]: alert records, silences and the notification outbox.
//! - [`ingest`]: the gRPC services agents call, with validation.
//! - [`listen`]: connection timeouts and caps, the open file limit.
//! - [`fleet`]: what state a device is in, which device a hostname or id
//!   names, and which record a re-imaged machine's enrollment belongs to.
//! - [`server`]: listeners, TLS and graceful shutdown.
//! - [`tickets`]: helpdesk connectors, ticket policy and the outbox worker.
//! - [`web`]: the plain fleet page and Prometheus `/metrics`.
//! - [`cli`]: the command line and its admin commands.
//! - [`clock`]: the wall clock, read in one place.
//! - [`causes`]: an error with its causes, for messages people read.

pub mod alerts;
pub mod causes;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod fleet;
pub mod ingest;
pub mod listen;
pub mod pki;
pub mod rules;
pub mod server;
pub mod severity;
pub mod store;
pub mod tickets;
pub mod tokens;
pub mod web;
