//! A real Request Tracker 5 for one test: `.ci/rt/start.sh` starts it on a free
//! loopback port with a private copy of RT's database (so tests running in
//! parallel each have their own RT), and it is stopped when the value is dropped.
//! The methods read tickets back through RT's REST 2 API, as the bot user or as
//! the technician `tech-alice` created by `.ci/rt/bootstrap.pl`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use crate::runtime;

/// The queue `.ci/rt/bootstrap.pl` creates, with the `AlertKey` custom field applied.
pub const QUEUE: &str = "Endpoint Alerts";

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/rt")
}

/// A running RT; stopped (its whole process group) when dropped.
#[derive(Debug)]
pub struct RequestTracker {
    server: Server,
    /// Loopback port RT listens on.
    pub port: u16,
    bot_token: String,
    tech_token: String,
    http: reqwest::Client,
}

/// A ticket as the tests look at it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub id: String,
    pub subject: String,
    pub status: String,
    pub priority: String,
    /// Values of the `AlertKey` custom field.
    pub alert_keys: Vec<String>,
}

/// One transaction of a ticket's history.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    pub id: String,
    /// `Create`, `Comment`, `Correspond`, `Status`, ...
    pub kind: String,
    /// Name of the user who made it.
    pub creator: String,
}

impl RequestTracker {
    /// Starts RT through `.ci/rt/start.sh` (needs root and `.ci/rt/install.sh` done).
    pub fn start() -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let http = crate::http_client();
        let server = Server {
            state: tempfile::tempdir()?,
        };
        let started = Instant::now();
        let output = Command::new("bash")
            .arg(scripts().join("start.sh"))
            .arg(port.to_string())
            .arg(server.state.path())
            .output()
            .context("cannot run .ci/rt/start.sh")?;
        ensure!(
            output.status.success(),
            "starting Request Tracker failed (install it with .ci/rt/install.sh as root):\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        eprintln!(
            "{} (start.sh total {} ms)",
            String::from_utf8_lossy(&output.stdout).trim(),
            started.elapsed().as_millis()
        );
        let tokens = std::fs::read_to_string(server.state.path().join("tokens.env"))?;
        let token = |name: &str| -> Result<String> {
            tokens
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}='")))
                .and_then(|v| v.strip_suffix('\''))
                .map(str::to_owned)
                .with_context(|| format!("{name} missing from tokens.env"))
        };
        Ok(Self {
            port,
            bot_token: token("RT_BOT_TOKEN")?,
            tech_token: token("RT_TECH_TOKEN")?,
            server,
            http,
        })
    }

    /// RT's base URL including its web path, as a connector config wants it.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/rt", self.port)
    }

    /// The auth token of the collector's RT user.
    pub fn bot_token(&self) -> &str {
        &self.bot_token
    }

    /// Writes the bot's token to a file in `dir` and returns the file's path.
    pub fn bot_token_file(&self, dir: &Path) -> Result<PathBuf> {
        let path = dir.join("rt-token");
        std::fs::write(&path, format!("{}\n", self.bot_token))?;
        Ok(path)
    }

    /// The `[tickets]` section pointing the collector's RT connector at `url`
    /// (RT itself or a proxy in front of it), with timings short enough for tests;
    /// `extra` holds more `[tickets]` keys, one per line.
    pub fn tickets_config(&self, url: &str, token_file: &Path, extra: &str) -> String {
        format!(
            r#"
[tickets]
poll_interval_ms = 100
lease_secs = 3
min_retry_secs = 1
max_retry_secs = 2
{extra}

[tickets.connectors.rt]
kind = "request_tracker"
url = "{url}"
token = {{ file = {token:?} }}
queue = "{QUEUE}"
"#,
            token = token_file.display().to_string(),
        )
    }

    /// `GET /REST/2.0/{path}` as the collector's RT user, for async tests.
    pub async fn api_get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value> {
        let response = self
            .http
            .get(format!("{}/REST/2.0/{path}", self.url()))
            .header("Authorization", format!("token {}", self.bot_token))
            .query(query)
            .send()
            .await?;
        let status = response.status();
        let body = response.text().await?;
        ensure!(status.is_success(), "RT GET {path}: HTTP {status}: {body}");
        Ok(serde_json::from_str(&body)?)
    }

    /// Tickets in [`QUEUE`] whose `AlertKey` contains `text` (e.g. a device id), oldest first.
    pub fn tickets_with_key_containing(&self, text: &str) -> Result<Vec<Ticket>> {
        let query = format!(
            "Queue = '{QUEUE}' AND 'CF.{{AlertKey}}' LIKE '{}'",
            text.replace('\\', "\\\\").replace('\'', "\\'")
        );
        let page = runtime().block_on(self.api_get(
            "tickets",
            &[
                ("query", &query),
                ("orderby", "id"),
                ("order", "ASC"),
                ("per_page", "100"),
                ("fields", "Subject,Status,Priority,CustomFields"),
            ],
        ))?;
        let items = page["items"].as_array().context("no items in search")?;
        items.iter().map(ticket_from_json).collect()
    }

    /// The one ticket whose `AlertKey` is exactly `key`; fails if there are several.
    pub fn ticket_with_key(&self, key: &str) -> Result<Option<Ticket>> {
        let mut matching: Vec<Ticket> = self
            .tickets_with_key_containing(key)?
            .into_iter()
            .filter(|t| t.alert_keys.iter().any(|k| k == key))
            .collect();
        match matching.len() {
            0 => Ok(None),
            1 => Ok(matching.pop()),
            n => bail!("{n} tickets carry the key {key:?}: {matching:?}"),
        }
    }

    /// The ticket's transactions, oldest first.
    pub fn history(&self, id: &str) -> Result<Vec<Transaction>> {
        let page = runtime().block_on(self.api_get(
            &format!("ticket/{id}/history"),
            &[("fields", "Type,Creator"), ("per_page", "100")],
        ))?;
        let items = page["items"].as_array().context("no items in history")?;
        items
            .iter()
            .map(|item| {
                Ok(Transaction {
                    id: text(&item["id"]).context("transaction id")?,
                    kind: text(&item["Type"]).context("transaction Type")?,
                    creator: text(&item["Creator"]["id"]).context("transaction Creator")?,
                })
            })
            .collect()
    }

    /// Texts of the comments the collector's user (`forewarn-bot`) made, oldest first.
    pub fn bot_comments(&self, id: &str) -> Result<Vec<String>> {
        let mut texts = Vec::new();
        for transaction in self.history(id)? {
            if transaction.kind != "Comment" || transaction.creator != "forewarn-bot" {
                continue;
            }
            let page = runtime().block_on(self.api_get(
                &format!("transaction/{}/attachments", transaction.id),
                &[("fields", "Content")],
            ))?;
            let content = page["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["Content"].as_str())
                .collect::<Vec<_>>()
                .join("\n");
            texts.push(content);
        }
        Ok(texts)
    }

    /// The technician answers the requestor on the ticket, as a person in RT's UI would.
    pub fn technician_replies(&self, id: &str, text: &str) -> Result<()> {
        runtime().block_on(self.reply_as_technician(id, text))
    }

    /// [`RequestTracker::technician_replies`], for async tests.
    pub async fn reply_as_technician(&self, id: &str, text: &str) -> Result<()> {
        let response = self
            .http
            .post(format!("{}/REST/2.0/ticket/{id}/correspond", self.url()))
            .header("Authorization", format!("token {}", self.tech_token))
            .json(&json!({ "Content": text, "ContentType": "text/plain" }))
            .send()
            .await?;
        ensure!(
            response.status() == 201,
            "technician reply: HTTP {}",
            response.status()
        );
        Ok(())
    }

    /// RT's server log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.server.state.path().join("rt-server.log")).unwrap_or_default()
    }
}

/// The state directory of an RT started by `start.sh`; dropping it stops that RT,
/// also when the test fails before [`RequestTracker`] is complete.
#[derive(Debug)]
struct Server {
    state: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(scripts().join("stop.sh"))
            .arg(self.state.path())
            .status();
    }
}

/// RT answers some values as strings and others as numbers.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn ticket_from_json(item: &Value) -> Result<Ticket> {
    let alert_keys = item["CustomFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|cf| cf["name"] == "AlertKey")
        .flat_map(|cf| cf["values"].as_array().into_iter().flatten())
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    Ok(Ticket {
        id: text(&item["id"]).context("ticket id")?,
        subject: text(&item["Subject"]).context("ticket Subject")?,
        status: text(&item["Status"]).context("ticket Status")?,
        priority: text(&item["Priority"]).context("ticket Priority")?,
        alert_keys,
    })
}
