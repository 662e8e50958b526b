//! Harness for end-to-end tests: real `forewarn-collector` and
//! `forewarn-agent` processes on loopback ports picked at run time, each with
//! its own temporary directory, talking real gRPC over real mutual TLS.
//!
//! The binaries are built once per test process with the cargo that runs the
//! tests (a no-op when they are fresh), so `cargo nextest run --workspace` is
//! all a fresh checkout needs.
//!
//! What tests of several crates share (the Request Tracker harness, the ticket
//! proxy, the harness runtime, report fixtures, reading the collector's store)
//! is in `forewarn-testkit`; this crate holds the collector and agent processes.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use forewarn_collector::alerts::{AlertFilter, AlertRecord};
use forewarn_collector::store::ledger::LinkedTicket;
use forewarn_collector::store::outbox::{OutboxEvent, OutboxState};
use forewarn_collector::store::{DeviceRecord, Store};
use forewarn_proto::pb;
use forewarn_testkit::{http_client, runtime};
use prost::Message;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// How long a process may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Directory holding the workspace's binaries (`target/<profile>`).
fn binary_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "-p",
                "forewarn-collector",
                "-p",
                "forewarn-agent",
                "--bins",
            ])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .status()
            .expect("cannot run cargo to build the binaries");
        assert!(status.success(), "building forewarn binaries failed");
        // The test executable lives in target/<profile>/deps/.
        let exe = std::env::current_exe().expect("current test executable");
        exe.parent()
            .and_then(Path::parent)
            .expect("test executable under target/<profile>/deps")
            .to_path_buf()
    })
}

pub fn collector_bin() -> PathBuf {
    binary_dir().join("forewarn-collector")
}

pub fn agent_bin() -> PathBuf {
    binary_dir().join("forewarn-agent")
}

/// Runs a store read on the harness runtime from a thread of its own, so
/// blocking tests and `#[tokio::test]`s can both call the store helpers.
fn block_on<F>(future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| runtime().block_on(future))
            .join()
            .expect("a store read panicked")
    })
}

/// Polls `probe` until it returns `Some`, or fails after `timeout`.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends SIGTERM, then waits; SIGKILL if the process does not stop in time.
fn stop_gracefully(child: &mut Child) -> Result<()> {
    let pid = rustix::process::Pid::from_child(child);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM)?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill()?;
    child.wait()?;
    bail!("process did not stop within 15 s of SIGTERM")
}

/// A running `forewarn-collector serve` with its own data directory.
#[derive(Debug)]
pub struct CollectorProcess {
    pub dir: tempfile::TempDir,
    pub agent_addr: SocketAddr,
    pub web_addr: SocketAddr,
    pub ca_fingerprint: String,
    extra_config: String,
    child: Option<Child>,
}

impl CollectorProcess {
    /// Starts a collector; `extra_config` is appended to its TOML config.
    pub fn start(extra_config: &str) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut collector = Self {
            dir,
            agent_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            web_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            ca_fingerprint: String::new(),
            extra_config: extra_config.to_owned(),
            child: None,
        };
        collector.spawn()?;
        Ok(collector)
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("collector.toml")
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.agent_addr.port())
    }

    fn spawn(&mut self) -> Result<()> {
        let config = format!(
            "data_dir = \"data\"\nagent_listen = \"{}\"\nweb_listen = \"{}\"\n{}\n",
            self.agent_addr, self.web_addr, self.extra_config
        );
        std::fs::write(self.config_path(), config)?;
        let mut child = Command::new(collector_bin())
            .arg("--config")
            .arg(self.config_path())
            .arg("serve")
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot start forewarn-collector")?;
        let stdout = child.stdout.take().context("collector stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        self.child = Some(child);
        let line = rx
            .recv_timeout(START_TIMEOUT)
            .map_err(|_| anyhow!("collector printed no listening line within {START_TIMEOUT:?}"))?;
        let field = |name: &str| -> Result<String> {
            line.split_whitespace()
                .find_map(|part| part.strip_prefix(&format!("{name}=")))
                .map(str::to_owned)
                .with_context(|| format!("no {name}= in {line:?}"))
        };
        self.agent_addr = field("agents")?.parse()?;
        self.web_addr = field("web")?.parse()?;
        self.ca_fingerprint = field("ca_sha256")?;
        Ok(())
    }

    /// Stops the collector with SIGTERM (graceful shutdown).
    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            stop_gracefully(&mut child)?;
        }
        Ok(())
    }

    /// Stops and starts again on the same ports and data directory.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.spawn()
    }

    /// Process id of the running collector, for a test that kills it from outside.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Waits for a collector killed from outside (e.g. by the ticket proxy) to be
    /// gone, and returns how it ended.
    pub fn wait_killed(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let mut child = self.child.take().context("collector is not running")?;
        let status = wait_for("the collector to exit", timeout, || {
            child.try_wait().ok().flatten()
        });
        if status.is_err() {
            self.child = Some(child);
        }
        status
    }

    /// Starts the collector again on the same ports and data directory, after
    /// [`CollectorProcess::wait_killed`].
    pub fn start_again(&mut self) -> Result<()> {
        ensure!(self.child.is_none(), "collector is still running");
        self.spawn()
    }

    /// The Prometheus text of `GET /metrics` on the web port.
    pub fn metrics(&self) -> Result<String> {
        let url = format!("http://{}/metrics", self.web_addr);
        runtime().block_on(async {
            let response = http_client().get(&url).send().await?.error_for_status()?;
            Ok(response.text().await?)
        })
    }

    /// Runs an admin subcommand against this collector's config.
    pub fn admin(&self, args: &[&str]) -> Result<Output> {
        Ok(Command::new(collector_bin())
            .arg("--config")
            .arg(self.config_path())
            .args(args)
            .output()?)
    }

    /// Creates a token and returns its secret.
    pub fn create_token(&self, group: &str, expires: &str, uses: Option<u32>) -> Result<String> {
        let mut args = vec!["token", "create", "--group", group, "--expires", expires];
        let uses_text = uses.map(|n| n.to_string());
        if let Some(uses) = &uses_text {
            args.extend(["--uses", uses]);
        }
        let output = self.admin(&args)?;
        ensure!(
            output.status.success(),
            "token create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout)?;
        stdout
            .lines()
            .next()
            .map(str::to_owned)
            .context("token create printed nothing")
    }

    /// The collector's store, read through the `Store` trait the way its CLI
    /// reads it (the collector keeps running).
    pub fn store(&self) -> Result<std::sync::Arc<dyn Store>> {
        forewarn_testkit::store::open(&self.dir.path().join("data"))
    }

    /// Devices enrolled, retired ones included.
    pub fn device_count(&self) -> Result<usize> {
        let store = self.store()?;
        Ok(block_on(store.list_devices())?.len())
    }

    /// One enrolled device.
    pub fn device(&self, device_id: &str) -> Result<Option<DeviceRecord>> {
        let store = self.store()?;
        Ok(block_on(store.device(device_id))?)
    }

    /// The latest stored report of a device.
    pub fn latest_report(&self, device_id: &str) -> Result<Option<pb::StatusReport>> {
        let store = self.store()?;
        Ok(match block_on(store.latest_status(device_id))? {
            Some(status) => Some(pb::StatusReport::decode(status.encoded.as_slice())?),
            None => None,
        })
    }

    /// The alert of `rule` on `subject` of a device.
    pub fn alert(&self, device_id: &str, rule: &str, subject: &str) -> Result<Option<AlertRecord>> {
        let store = self.store()?;
        let filter = AlertFilter {
            device_id: Some(device_id.to_owned()),
            ..AlertFilter::default()
        };
        Ok(block_on(store.list_alerts(filter))?
            .into_iter()
            .find(|alert| alert.rule.as_str() == rule && alert.subject == subject))
    }

    /// Alerts of a device.
    pub fn alerts(&self, device_id: &str) -> Result<Vec<AlertRecord>> {
        let store = self.store()?;
        let filter = AlertFilter {
            device_id: Some(device_id.to_owned()),
            ..AlertFilter::default()
        };
        Ok(block_on(store.list_alerts(filter))?)
    }

    /// Notifications queued for an alert, in every state, oldest first.
    pub fn outbox(&self, alert_id: i64) -> Result<Vec<OutboxEvent>> {
        let store = self.store()?;
        let mut events = Vec::new();
        for state in [
            OutboxState::Pending,
            OutboxState::Claimed,
            OutboxState::Delivered,
            OutboxState::Failed,
        ] {
            events.extend(
                block_on(store.outbox_in_state(state))?
                    .into_iter()
                    .filter(|event| event.alert_id == alert_id),
            );
        }
        events.sort_by_key(|event| event.id);
        Ok(events)
    }

    /// The ticket the collector stored for an alert, if any.
    pub fn alert_ticket(&self, alert_id: i64) -> Result<Option<LinkedTicket>> {
        let store = self.store()?;
        Ok(block_on(store.alert_ticket(alert_id))?)
    }

    /// A read-only connection to the collector's database, only for what the
    /// `Store` trait has no read for yet (the status history, how a ticket was
    /// closed); everything else goes through [`CollectorProcess::store`].
    pub fn db(&self) -> Result<rusqlite::Connection> {
        Ok(rusqlite::Connection::open_with_flags(
            self.dir.path().join("data/forewarn.sqlite3"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?)
    }

    /// Reports stored in history for a device: one line per report, whether
    /// or not it changed anything (an unchanged one has no body).
    pub fn history_len(&self, device_id: &str) -> Result<i64> {
        Ok(self.db()?.query_row(
            "SELECT COUNT(*) FROM status_history WHERE device_id = ?1",
            [device_id],
            |row| row.get(0),
        )?)
    }

    /// Reports stored in history for every device, one line per report.
    pub fn history_total(&self) -> Result<i64> {
        Ok(self
            .db()?
            .query_row("SELECT COUNT(*) FROM status_history", [], |row| row.get(0))?)
    }

    /// The CA certificate (PEM) from the collector's data directory.
    pub fn ca_pem(&self) -> Result<String> {
        Ok(std::fs::read_to_string(
            self.dir.path().join("data/pki/ca.pem"),
        )?)
    }
}

impl Drop for CollectorProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An agent's state directory and the commands that use it.
#[derive(Debug)]
pub struct Agent {
    pub state_dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Agent {
    pub fn new() -> Result<Self> {
        Ok(Self {
            state_dir: tempfile::tempdir()?,
            child: None,
        })
    }

    pub fn command(&self) -> Command {
        let mut command = Command::new(agent_bin());
        command.arg("--state-dir").arg(self.state_dir.path());
        command
    }

    /// Runs `enroll`, pinning the collector CA by fingerprint.
    pub fn enroll(&self, collector: &CollectorProcess, token: &str) -> Result<Output> {
        self.enroll_with_fingerprint(collector, token, &collector.ca_fingerprint)
    }

    pub fn enroll_with_fingerprint(
        &self,
        collector: &CollectorProcess,
        token: &str,
        fingerprint: &str,
    ) -> Result<Output> {
        Ok(self
            .command()
            .args([
                "enroll",
                "--url",
                &collector.url(),
                "--token",
                token,
                "--ca-fingerprint",
                fingerprint,
            ])
            .output()?)
    }

    /// Enrolls and returns the device id, failing the test if enrollment fails.
    pub fn enroll_ok(&self, collector: &CollectorProcess, token: &str) -> Result<String> {
        let output = self.enroll(collector, token)?;
        ensure!(
            output.status.success(),
            "enroll failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        self.device_id()
    }

    pub fn device_id(&self) -> Result<String> {
        let text = std::fs::read_to_string(self.state_dir.path().join("enrollment.toml"))?;
        text.lines()
            .find_map(|line| line.strip_prefix("device_id = "))
            .map(|v| v.trim_matches('"').to_owned())
            .context("no device_id in enrollment.toml")
    }

    /// Starts `run` in the background.
    pub fn start(&mut self) -> Result<()> {
        self.child = Some(self.command().arg("run").spawn()?);
        Ok(())
    }

    /// Starts `run` in the background after `configure` adjusted the command
    /// (a `--config` file, environment, where stderr goes).
    pub fn start_with(&mut self, configure: impl FnOnce(&mut Command)) -> Result<()> {
        let mut command = self.command();
        configure(&mut command);
        self.child = Some(command.arg("run").spawn()?);
        Ok(())
    }

    /// Whether the background `run` is still running.
    pub fn is_running(&mut self) -> Result<bool> {
        Ok(match &mut self.child {
            Some(child) => child.try_wait()?.is_none(),
            None => false,
        })
    }

    /// Starts `run` in the background with the local config file `config`.
    pub fn start_with_config(&mut self, config: &Path) -> Result<()> {
        self.start_with(|command| {
            command.arg("--config").arg(config);
        })
    }

    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            stop_gracefully(&mut child)?;
        }
        Ok(())
    }

    /// A gRPC channel with this agent's own client certificate, for crafted requests.
    pub async fn channel(&self, collector: &CollectorProcess) -> Result<Channel> {
        let combined = std::fs::read_to_string(self.state_dir.path().join("device.pem"))?;
        let ca = std::fs::read_to_string(self.state_dir.path().join("ca.pem"))?;
        let identity = Identity::from_pem(&combined, &combined);
        tls_channel(collector, &ca, Some(identity)).await
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A connected channel trusting `ca_pem`, optionally presenting `identity`.
pub async fn tls_channel(
    collector: &CollectorProcess,
    ca_pem: &str,
    identity: Option<Identity>,
) -> Result<Channel> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name("127.0.0.1");
    if let Some(identity) = identity {
        tls = tls.identity(identity);
    }
    Ok(Channel::from_shared(collector.url())?
        .tls_config(tls)?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await?)
}

/// The value of one sample (`name{labels}` exactly as exposed) in Prometheus
/// text, `None` if it is absent.
pub fn metric(text: &str, sample: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(sample)?.strip_prefix(' ')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// Size and total of `/` as `df` (coreutils) reports them, independent of the agent.
pub fn df_root_bytes() -> Result<u64> {
    let output = Command::new("df")
        .args(["-B1", "--output=size", "/"])
        .output()?;
    ensure!(output.status.success(), "df failed");
    let text = String::from_utf8(output.stdout)?;
    Ok(text
        .lines()
        .nth(1)
        .context("df printed no size")?
        .trim()
        .parse()?)
}
