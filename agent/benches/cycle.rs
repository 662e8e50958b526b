//! CPU cost of one disk + certificates cycle with 200 certificates.
//!
//! Run with `cargo bench -p forewarn-agent --bench cycle`. The folder holds
//! 200 PEM files (one certificate and its key each, as servers keep them)
//! plus one bundle of the same 200, so parsing, dedup by fingerprint and
//! the disk check are all in the measured cycle.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use forewarn_agent::checks::{CheckSet, Collection};
use forewarn_agent::config::AgentConfig;
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

fn cycle(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    write_certificates(dir.path());
    let toml = format!(
        "[checks.certificates]\npaths = [{:?}]\nwatch = false\n",
        dir.path().display().to_string()
    );
    let config = AgentConfig::from_toml(&toml, Path::new("bench.toml")).expect("config");
    let mut checks = CheckSet::from_config(
        &config.checks,
        &StateDir::new(dir.path()),
        &ReportTrigger::default(),
        Collection::Once,
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let policy = pb::Policy::default();

    let mut report = pb::StatusReport::default();
    runtime.block_on(checks.collect(&policy, &mut report));
    let found = report
        .certificates
        .as_ref()
        .map_or(0, |c| c.certificates.len());
    assert_eq!(found, CERTIFICATES, "every certificate found once");
    assert!(
        report.errors.iter().all(|e| e.check != "certificates"),
        "{:?}",
        report.errors
    );

    c.bench_function("disk_and_certificates_cycle_200", |b| {
        b.iter(|| {
            let mut report = pb::StatusReport::default();
            runtime.block_on(checks.collect(&policy, &mut report));
            report
        });
    });
}

criterion_group!(benches, cycle);
criterion_main!(benches);
