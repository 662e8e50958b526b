//! Certificates seen by a real agent reach a real collector, and a replaced
//! certificate in a watched folder is reported within seconds, long before
//! the report interval.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use forewarn_e2e::{Agent, CollectorProcess, wait_for};
use forewarn_proto::pb;

/// So long that only the file-watch trigger can explain a fast second report.
const SLOW_REPORTS: &str = "report_interval_secs = 300";

/// A self-signed certificate for `name` valid until 1 January of `year`.
fn certificate(name: &str, year: i32) -> rcgen::Certificate {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(year, 1, 1);
    params.self_signed(&key).unwrap()
}

/// 2027-01-01 and 2030-01-01 00:00 UTC: the expiries of the old and the renewed certificate.
const OLD_NOT_AFTER: i64 = 1_798_761_600;
const RENEWED_NOT_AFTER: i64 = 1_893_456_000;

/// The reported certificate that expires at `not_after`, if any.
fn expiring_at(report: &pb::StatusReport, not_after: i64) -> Option<pb::CertificateStatus> {
    report
        .certificates
        .as_ref()?
        .certificates
        .iter()
        .find(|c| c.not_after_unix_secs == not_after)
        .cloned()
}

fn write_config(dir: &Path, watched: &Path) -> Result<std::path::PathBuf> {
    let path = dir.join("agent.toml");
    std::fs::write(
        &path,
        format!(
            // No patch probe: this test times the certificate path, not this host's apt.
            "[checks.certificates]\npaths = [{:?}]\n\n[checks.patches]\npackage_manager = \"none\"\n",
            watched.display().to_string()
        ),
    )?;
    Ok(path)
}

#[test]
fn replaced_certificate_in_watched_folder_reaches_collector_within_5_s() -> Result<()> {
    let collector = CollectorProcess::start(SLOW_REPORTS)?;
    let token = collector.create_token("servers", "1h", Some(1))?;
    let mut agent = Agent::new()?;
    let device_id = agent.enroll_ok(&collector, &token)?;

    let work = tempfile::tempdir()?;
    let watched = work.path().join("tls");
    std::fs::create_dir(&watched)?;
    let old = certificate("www.example.test", 2027);
    std::fs::write(watched.join("server.pem"), old.pem())?;
    let config = write_config(work.path(), &watched)?;
    agent.start_with_config(&config)?;

    let first = wait_for(
        "first report with the old certificate",
        Duration::from_secs(30),
        || {
            collector
                .latest_report(&device_id)
                .ok()
                .flatten()
                .and_then(|r| expiring_at(&r, OLD_NOT_AFTER))
        },
    )?;
    assert_eq!(first.subject, "CN=rcgen self signed cert");
    assert!(
        first.locations[0].location.ends_with("server.pem"),
        "{first:?}"
    );

    // Renewal as certbot and friends do it: write aside, then rename over.
    let renewed = certificate("www.example.test", 2030);
    let staged = work.path().join("server.pem.new");
    std::fs::write(&staged, renewed.pem())?;
    std::fs::rename(&staged, watched.join("server.pem"))?;
    let replaced_at = Instant::now();

    let report = wait_for(
        "report with the renewed certificate",
        Duration::from_secs(5),
        || {
            collector
                .latest_report(&device_id)
                .ok()
                .flatten()
                .filter(|r| expiring_at(r, RENEWED_NOT_AFTER).is_some())
        },
    )?;
    let seen_after = replaced_at.elapsed();
    let certificates = &report.certificates.as_ref().unwrap().certificates;
    assert_eq!(
        certificates.len(),
        1,
        "old certificate must be gone: {certificates:?}"
    );
    assert_eq!(certificates[0].not_after_unix_secs, RENEWED_NOT_AFTER);
    assert!(seen_after < Duration::from_secs(5), "{seen_after:?}");
    agent.stop()
}
