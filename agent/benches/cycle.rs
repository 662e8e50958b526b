//! CPU cost of the agent's collection cycle, with nothing changed since the
//! cycle before (the steady state of a running agent):
//! - `disk_cycle`: the disk check alone;
//! - `default_cycle`: the checks a default config runs (disks, patches with
//!   this machine's package manager, certificates with no paths);
//! - `certificates_200_cycle`: disks plus a folder of 200 certificate files
//!   (one certificate and its key each, as servers keep them) and one bundle
//!   of the same 200, so dedup by fingerprint is in the cycle;
//! - `tls_probe_cycle`: disks plus one TLS endpoint (a real rustls server
//!   on loopback, in this process) probed with a full handshake;
//! - `disk_report` and `certificates_200_watched_report`: the disk check
//!   alone, and disks plus the same 200 certificate files watched (the
//!   default), each through what the run loop does every cycle
//!   ([`Reporter::encoded`]: build the report with its host facts, encode it
//!   once for the wire and the spool, give back what the next cycle can
//!   reuse). Their difference is the per-cycle cost of 200 unchanged
//!   certificates that the footprint script measures in the running agent.
//!
//! Run with `cargo bench -p forewarn-agent --bench cycle`; the footprint
//! script (`agent/benches/footprint.py`) measures the same cycles in the
//! running agent against peer agents.

use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use forewarn_agent::checks::{CheckSet, Collection};
use forewarn_agent::config::AgentConfig;
use forewarn_agent::report::Reporter;
use forewarn_agent::state::StateDir;
use forewarn_agent::trigger::ReportTrigger;
use forewarn_proto::pb;

const CERTIFICATES: usize = 200;

fn write_certificates(dir: &Path) {
    let mut bundle = String::new();
    for i in 0..CERTIFICATES {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec![format!("host-{i}.example.test")])
            .expect("params")
            .self_signed(&key)
            .expect("certificate");
        let pem = format!("{}{}", key.serialize_pem(), cert.pem());
        std::fs::write(dir.join(format!("host-{i}.pem")), pem).expect("write");
        bundle.push_str(&cert.pem());
    }
    std::fs::write(dir.join("bundle.crt"), bundle).expect("write bundle");
}

/// A TLS server on loopback presenting a fresh certificate for `localhost`.
async fn tls_server() -> u16 {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    let key = rustls_pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("key der");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(tcp).await;
            });
        }
    });
    port
}

fn checks(toml: &str, state: &Path) -> CheckSet {
    let config = AgentConfig::from_toml(toml, Path::new("bench.toml")).expect("config");
    CheckSet::from_config(
        &config.checks,
        &StateDir::new(state),
        &ReportTrigger::default(),
        Collection::Once,
    )
}

fn cycle(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let policy = pb::Policy::default();
    let dir = tempfile::tempdir().expect("tempdir");
    write_certificates(dir.path());
    let port = runtime.block_on(tls_server());
    let no_patches = "[checks.patches]\npackage_manager = \"none\"\n";
    let cases = [
        ("disk_cycle", no_patches.to_owned()),
        ("default_cycle", String::new()),
        (
            "certificates_200_cycle",
            format!(
                "{no_patches}[checks.certificates]\npaths = [{:?}]\nwatch = false\n",
                dir.path().display().to_string()
            ),
        ),
        (
            "tls_probe_cycle",
            format!("{no_patches}[checks.certificates]\nendpoints = [\"localhost:{port}\"]\n"),
        ),
    ];
    for (name, toml) in cases {
        // Built inside the runtime: the patch check's watch needs one.
        let mut checks = runtime.block_on(async { checks(&toml, dir.path()) });
        // The first cycle reads everything (and waits for the patch scan);
        // what is measured is every cycle after it.
        let mut report = pb::StatusReport::default();
        runtime.block_on(checks.collect(&policy, &mut report));
        let errors: Vec<_> = report
            .errors
            .iter()
            .filter(|e| e.check == "certificates" || e.check == "disks")
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
        if name == "certificates_200_cycle" {
            let found = report
                .certificates
                .as_ref()
                .map_or(0, |c| c.certificates.len());
            assert_eq!(found, CERTIFICATES, "every certificate found once");
        }
        if name == "tls_probe_cycle" {
            let endpoints = report.certificates.as_ref().map(|c| &c.endpoints);
            assert!(
                endpoints.is_some_and(|e| e.len() == 1 && e[0].handshake_ok),
                "{endpoints:?}"
            );
        }
        c.bench_function(name, |b| {
            b.iter(|| {
                let mut report = pb::StatusReport::default();
                runtime.block_on(checks.collect(&policy, &mut report));
                report
            });
        });
    }
}

/// A report as the run loop makes it each cycle, ready for the wire.
async fn report_cycle(
    reporter: &mut Reporter,
    checks: &mut CheckSet,
    policy: &pb::Policy,
) -> usize {
    let report = reporter.encoded(checks, policy, 1, "bench", 1).await;
    report.bytes.len()
}

fn report(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let policy = pb::Policy::default();
    let dir = tempfile::tempdir().expect("tempdir");
    write_certificates(dir.path());
    let no_patches = "[checks.patches]\npackage_manager = \"none\"\n";
    let cases = [
        ("disk_report", no_patches.to_owned()),
        (
            "certificates_200_watched_report",
            format!(
                "{no_patches}[checks.certificates]\npaths = [{:?}]\n",
                dir.path().display().to_string()
            ),
        ),
    ];
    for (name, toml) in cases {
        let mut checks = runtime.block_on(async { checks(&toml, dir.path()) });
        let mut reporter = Reporter::default();
        // The first cycle walks and parses the files; later ones find the watch quiet.
        runtime.block_on(report_cycle(&mut reporter, &mut checks, &policy));
        let mut first = pb::StatusReport::default();
        runtime.block_on(checks.collect(&policy, &mut first));
        if name.starts_with("certificates") {
            let found = first
                .certificates
                .as_ref()
                .map_or(0, |c| c.certificates.len());
            assert_eq!(found, CERTIFICATES, "every certificate found once");
        }
        c.bench_function(name, |b| {
            b.iter(|| runtime.block_on(report_cycle(&mut reporter, &mut checks, &policy)));
        });
    }
}

criterion_group!(benches, cycle, report);
criterion_main!(benches);
