//! Issue 11 part 6: the load generator against a real collector process.
//! Devices enroll for real, report over their own mTLS connections, and a
//! second run takes its identities from the cache without a token.

use std::time::Duration;

use anyhow::Result;
use forewarn_e2e::CollectorProcess;
use forewarn_loadgen::drive::Plan;
use forewarn_loadgen::identities::Collector;
use forewarn_loadgen::run::{self, Options, Progress};

struct Quiet;

impl Progress for Quiet {
    fn say(&self, _line: &str) {}
}

fn options(
    collector: &CollectorProcess,
    cache: &std::path::Path,
    token: Option<String>,
) -> Result<Options> {
    Ok(Options {
        collector: Collector {
            address: run::address(&collector.url())?,
            ca_pem: collector.ca_pem()?,
            token,
        },
        cache: cache.to_owned(),
        first_device: 0,
        devices: 3,
        plan: Plan {
            rate: Some(30.0),
            duration: Duration::from_secs(2),
            change_fraction: 0.5,
            connect_concurrency: 2,
        },
        enroll_concurrency: 2,
        collector_pid: collector.pid(),
        database: Some(collector.dir.path().join("data/forewarn.sqlite3")),
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn loadgen_enrolls_reports_and_reuses_its_identities() -> Result<()> {
    let collector = CollectorProcess::start("")?;
    let token = collector.create_token("load", "1h", Some(3))?;
    let cache = tempfile::tempdir()?;

    let first = run::run(&options(&collector, cache.path(), Some(token))?, &Quiet).await?;
    assert_eq!(first.tally.errors().count(), 0, "{}", first.render());
    assert_eq!(first.first_reports.succeeded(), 3, "{}", first.render());
    // 30 reports/s for 2 s; allow for a slow shared machine.
    assert!(first.tally.succeeded() >= 20, "{}", first.render());
    let (start, end) = first.collector.expect("collector sampled");
    assert!(end.cpu > start.cpu, "{}", first.render());
    let (before, after) = first.database_bytes.expect("database measured");
    assert!(after > before, "{}", first.render());
    assert_eq!(collector.device_count()?, 3);
    let hostnames: Vec<String> = collector
        .store()?
        .list_devices()
        .await?
        .into_iter()
        .map(|device| device.hostname)
        .collect();
    assert_eq!(hostnames, ["load-00000", "load-00001", "load-00002"]);

    // The token is used up: a second run must take every identity from the cache.
    let second = run::run(&options(&collector, cache.path(), None)?, &Quiet).await?;
    assert_eq!(second.tally.errors().count(), 0, "{}", second.render());
    assert!(second.tally.succeeded() >= 20, "{}", second.render());
    assert_eq!(collector.device_count()?, 3);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn loadgen_without_a_token_says_how_many_devices_need_one() -> Result<()> {
    let collector = CollectorProcess::start("")?;
    let cache = tempfile::tempdir()?;
    let err = run::run(&options(&collector, cache.path(), None)?, &Quiet)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("3 of 3 devices are not enrolled")
            && text.contains("forewarn-collector token create --uses 3"),
        "{text}"
    );
    Ok(())
}
