//! What Forewarn's tests share across crates (a dev-dependency only, never
//! published): the collector's connector tests and the end-to-end tests both
//! use it, so each piece lives here once.
//!
//! # Layout
//! - this file: the harness runtime and HTTP client, and report fixtures.
//! - [`vendor`]: an in-process HTTP server standing in for a vendor's SaaS API.
//! - [`request_tracker`]: a real Request Tracker 5 per test, and the REST calls
//!   tests use to look at its tickets.
//! - [`ticket_proxy`]: an HTTP proxy between the collector and RT that records
//!   ticket creations, can play "RT is down" and can kill the collector at the
//!   worst moment.
//! - [`store`]: a collector store in a temporary directory, and reading a
//!   collector's store through the `Store` trait instead of its tables.

pub mod request_tracker;
pub mod store;
pub mod ticket_proxy;
pub mod vendor;

use std::sync::OnceLock;

use forewarn_proto::pb;

/// The runtime async parts of the harness run on (RT's REST API, the ticket
/// proxy, crafted gRPC reports, store reads), so end-to-end tests stay plain
/// blocking code. Its worker threads keep serving the proxy while a test blocks.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime for the harness")
    })
}

/// An HTTP client for RT's API, the proxy and `/metrics`. reqwest is built
/// without a rustls crypto provider of its own (the workspace keeps to one), so
/// the process-wide default is installed first.
pub fn http_client() -> reqwest::Client {
    static PROVIDER: OnceLock<()> = OnceLock::new();
    PROVIDER.get_or_init(|| {
        // Err only means another part of the process installed one first.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
    reqwest::Client::new()
}

/// A plausible report as an agent would send it: host "crafted", one disk `/`
/// half full, collected now.
pub fn report(seq: u64) -> pb::StatusReport {
    pb::StatusReport {
        seq,
        collected_at_unix_secs: forewarn_collector::clock::now_unix(),
        host: Some(pb::HostFacts {
            hostname: "crafted".into(),
            ..Default::default()
        }),
        disks: Some(pb::DiskCheck {
            filesystems: vec![pb::DiskStatus {
                mount_point: "/".into(),
                filesystem: "ext4".into(),
                total_bytes: 100,
                free_bytes: 50,
                available_bytes: 40,
                ..Default::default()
            }],
        }),
        ..Default::default()
    }
}
