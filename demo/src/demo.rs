//! `forewarn-demo`: the whole road on one machine in one command.
//!
//! Starts a collector with its embedded store in a local directory, creates a
//! single-use token, enrolls an in-process agent for this machine (pinning the
//! CA by fingerprint, as a real device would), runs it, and serves the fleet
//! page and the console API, with an `admin` user whose one-time password
//! it prints. Re-running reuses the directory: the agent is enrolled once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use forewarn_agent::config::AgentConfig;
use forewarn_agent::enroll::{CaPin, EnrollOptions, enroll};
use forewarn_agent::state::StateDir;

use forewarn_collector::cli::{AdminError, tokens, users};
use forewarn_collector::config::{CollectorConfig, ConfigError};
use forewarn_collector::console::authz::Role;
use forewarn_collector::server::{Collector, ServeError, shutdown_signal};

/// How long the demo waits for the agent's first report before saying so.
const FIRST_REPORT_WAIT: Duration = Duration::from_secs(60);

/// The console user the demo creates.
const DEMO_ADMIN: &str = "admin";

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
    /// The OS error is in the text, not the source, so the hint comes last
    /// and the error is printed once.
    #[error("cannot listen on {addr}: {cause}; {hint}")]
    Port {
        addr: SocketAddr,
        cause: std::io::Error,
        /// What to do: which option or file chooses the port.
        hint: String,
    },
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
    let writes_config = !config_path.exists();
    if writes_config {
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
    let collector = Collector::open(config).await?;
    let store = Arc::clone(&collector.store);
    let fingerprint = collector.pki.ca_fingerprint().to_owned();
    let bound = match collector.bind().await {
        Ok(bound) => bound,
        Err(ServeError::Bind { addr, source }) => {
            return Err(port_error(addr, source, &config_path, writes_config));
        }
        Err(err) => return Err(err.into()),
    };
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
                Some("demo"),
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
        console_admin(store.as_ref(), web).await?;
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

/// Creates the console's `admin` on the first start and prints its one-time
/// password with the API's address; later starts say how to get a new one.
async fn console_admin(
    store: &dyn forewarn_collector::store::Store,
    web: SocketAddr,
) -> Result<(), DemoError> {
    if store
        .user(DEMO_ADMIN)
        .await
        .map_err(AdminError::from)?
        .is_some()
    {
        println!(
            "console     http://{web}/login (API http://{web}/api/v1), user {DEMO_ADMIN}; \
             forgot the password? forewarn-collector user reset {DEMO_ADMIN}"
        );
        return Ok(());
    }
    let password = users::add_user(
        store,
        DEMO_ADMIN,
        Role::Admin,
        None,
        "demo",
        &mut Vec::new(),
    )
    .await?;
    print!("{}", sign_in_hint(web, &password));
    Ok(())
}

/// What the demo prints for a new admin: the console's sign-in page for a
/// browser and the API's sign-in for curl, both with the one-time password,
/// which is shown only here.
fn sign_in_hint(web: SocketAddr, password: &str) -> String {
    let api = format!("http://{web}/api/v1");
    format!(
        "console     http://{web}/login (API {api}, OpenAPI at {api}/openapi.json)\n\
         sign in     user {DEMO_ADMIN}, one-time password {password} (shown only now)\n\
         \x20           in a browser: http://{web}/login\n\
         \x20           with curl:    curl -c cookies -H 'content-type: application/json' \
         -d '{{\"username\":\"{DEMO_ADMIN}\",\"password\":\"{password}\"}}' {api}/session\n"
    )
}

/// The error for a port that cannot be bound. A config this run wrote is
/// removed, so the next start takes `--web` / `--agent-port` again instead of
/// the ports that just failed; a config the user kept is named as the place to
/// change them.
fn port_error(
    addr: SocketAddr,
    source: std::io::Error,
    config_path: &std::path::Path,
    wrote_config: bool,
) -> DemoError {
    let hint = if wrote_config {
        match std::fs::remove_file(config_path) {
            Ok(()) => {
                "choose free ones with --web ADDR:PORT (fleet page) and --agent-port PORT (agents)"
                    .to_owned()
            }
            Err(err) => format!(
                "choose free ones with --web ADDR:PORT and --agent-port PORT after deleting {} (cannot delete it: {err})",
                config_path.display()
            ),
        }
    } else {
        format!(
            "the ports come from {} (written by the first start): edit web_listen / agent_listen there, or delete it to use --web and --agent-port",
            config_path.display()
        )
    };
    DemoError::Port {
        addr,
        cause: source,
        hint,
    }
}

fn absolute(path: &std::path::Path) -> Result<PathBuf, DemoError> {
    std::path::absolute(path).map_err(|source| DemoError::Directory {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(dir: &std::path::Path, agent_port: u16) -> DemoOptions {
        DemoOptions {
            dir: dir.to_path_buf(),
            web_listen: "127.0.0.1:0".parse().unwrap(),
            agent_port,
            report_interval_secs: 10,
        }
    }

    #[test]
    fn sign_in_hint_gives_the_browser_sign_in_page_with_user_and_password() {
        let hint = sign_in_hint("127.0.0.1:8080".parse().unwrap(), "pw-123");
        let browser = hint
            .lines()
            .find(|line| line.contains("in a browser"))
            .expect(&hint);
        assert!(browser.ends_with("http://127.0.0.1:8080/login"), "{hint}");
        let sign_in = hint
            .lines()
            .find(|l| l.starts_with("sign in"))
            .expect(&hint);
        assert!(
            sign_in.contains("user admin") && sign_in.contains("pw-123"),
            "{hint}"
        );
        assert!(
            hint.contains("http://127.0.0.1:8080/api/v1/session"),
            "the curl hint stays: {hint}"
        );
    }

    #[tokio::test]
    async fn busy_port_names_the_options_and_does_not_pin_the_ports() {
        let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = busy.local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let err = run(options(dir.path(), port)).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, DemoError::Port { .. }), "{text}");
        assert!(
            text.contains("--agent-port") && text.contains("--web"),
            "{text}"
        );
        assert!(text.contains(&port.to_string()), "{text}");
        assert!(
            !dir.path().join("collector.toml").exists(),
            "a failed first start must not keep the ports it wrote"
        );
    }

    #[tokio::test]
    async fn busy_port_from_a_kept_config_names_the_file() {
        let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = busy.local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("collector.toml");
        std::fs::write(
            &config,
            format!("data_dir = \"data\"\nagent_listen = \"127.0.0.1:{port}\"\n"),
        )
        .unwrap();
        let text = run(options(dir.path(), 1)).await.unwrap_err().to_string();
        assert!(
            text.contains("collector.toml") && text.contains("agent_listen"),
            "{text}"
        );
        assert!(config.exists(), "a config the user kept stays");
    }
}
