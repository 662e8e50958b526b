//! `forewarn-demo`: the whole road on one machine in one command.
//!
//! Starts a collector with its embedded store in a local directory, creates a
//! single-use token, enrolls an in-process agent for this machine (pinning the
//! CA by fingerprint, as a real device would), runs it, and serves the fleet
//! page. Re-running reuses the directory: the agent is enrolled once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use forewarn_agent::config::AgentConfig;
use forewarn_agent::enroll::{CaPin, EnrollOptions, enroll};
use forewarn_agent::state::StateDir;

use forewarn_collector::cli::{AdminError, tokens};
use forewarn_collector::config::{CollectorConfig, ConfigError};
use forewarn_collector::server::{Collector, ServeError, shutdown_signal};

/// How long the demo waits for the agent's first report before saying so.
const FIRST_REPORT_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error("the demo agent could not enroll: {0}")]
    Enroll(#[from] forewarn_agent::enroll::EnrollError),
    #[error("cannot prepare demo directory {path}: {source}")]
    Directory {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub dir: PathBuf,
    pub web_listen: SocketAddr,
    pub agent_port: u16,
    pub report_interval_secs: u32,
}

pub async fn run(options: DemoOptions) -> Result<(), DemoError> {
    let started = Instant::now();
    let dir = absolute(&options.dir)?;
    std::fs::create_dir_all(&dir).map_err(|source| DemoError::Directory {
        path: dir.clone(),
        source,
    })?;
    let config_path = dir.join("collector.toml");
    if !config_path.exists() {
        let text = format!(
            "# Written by `forewarn-demo`.\n\
             data_dir = \"data\"\n\
             agent_listen = \"127.0.0.1:{}\"\n\
             web_listen = \"{}\"\n\
             report_interval_secs = {}\n",
            options.agent_port, options.web_listen, options.report_interval_secs
        );
        std::fs::write(&config_path, text).map_err(|source| DemoError::Directory {
            path: config_path.clone(),
            source,
        })?;
    }
    let config = CollectorConfig::load(&config_path)?;
    let collector = Collector::open(config)?;
    let store = Arc::clone(&collector.store);
    let fingerprint = collector.pki.ca_fingerprint().to_owned();
    let bound = collector.bind().await?;
    let agent_addr = bound.agent_addr();
    let web_addr = bound.web_addr();

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let server = tokio::spawn(bound.serve(stopped(stop_rx.clone())));
    println!(
        "collector   agents on https://{agent_addr}, data in {}",
        dir.join("data").display()
    );
    println!("CA          SHA-256 {fingerprint}");

    let agent_state = StateDir::new(dir.join("agent"));
    let device_id = match agent_state.load() {
        Ok(existing) => {
            println!(
                "agent       already enrolled as {}",
                existing.enrollment.device_id
            );
            existing.enrollment.device_id
        }
        Err(_) => {
            let mut token_output = Vec::new();
            let token = tokens::create_token(
                store.as_ref(),
                "demo",
                Duration::from_secs(3600),
                Some(1),
                &mut token_output,
            )
            .await?;
            let enrollment = enroll(
                &EnrollOptions {
                    url: format!("https://127.0.0.1:{}", agent_addr.port()),
                    token,
                    ca: CaPin::Fingerprint(fingerprint.clone()),
                },
                &agent_state,
            )
            .await?;
            println!(
                "agent       enrolled this machine as {} (single-use token, CA pinned by fingerprint)",
                enrollment.device_id
            );
            enrollment.device_id
        }
    };
    let agent_config = AgentConfig {
        state_dir: agent_state.root().to_path_buf(),
        ..AgentConfig::default()
    };
    let agent = tokio::spawn(forewarn_agent::run(agent_config, stopped(stop_rx)));

    let deadline = Instant::now() + FIRST_REPORT_WAIT;
    let seq_at_start = store
        .latest_status(&device_id)
        .await
        .ok()
        .flatten()
        .map_or(0, |s| s.seq);
    loop {
        if let Ok(Some(status)) = store.latest_status(&device_id).await
            && status.seq > seq_at_start
        {
            println!(
                "report      first report stored {} ms after start (seq {})",
                started.elapsed().as_millis(),
                status.seq
            );
            break;
        }
        if Instant::now() > deadline {
            println!(
                "report      none stored after {} s; see the log above",
                FIRST_REPORT_WAIT.as_secs()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if let Some(web) = web_addr {
        println!("dashboard   http://{web}");
    }
    println!(
        "\nTry next:\n  forewarn-collector --config {cfg} device list\n  forewarn-collector --config {cfg} device show {device_id}\n  forewarn-collector --config {cfg} token create --group laptops --expires 7d\n  forewarn-agent check --once\nPress Ctrl-C to stop.",
        cfg = config_path.display()
    );

    shutdown_signal().await;
    let _ = stop_tx.send(true);
    if let Ok(Err(err)) = agent.await {
        tracing::warn!(error = %err, "demo agent stopped with an error");
    }
    match server.await {
        Ok(result) => result?,
        Err(err) => tracing::error!(error = %err, "collector task failed"),
    }
    Ok(())
}

fn absolute(path: &std::path::Path) -> Result<PathBuf, DemoError> {
    std::path::absolute(path).map_err(|source| DemoError::Directory {
        path: path.to_path_buf(),
        source,
    })
}
