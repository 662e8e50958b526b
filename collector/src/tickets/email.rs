//! E-mail over SMTP, for help desks that open tickets from mail.
//!
//! The first message of a problem gets a `Message-ID` the collector makes up; every
//! update and the recovery are sent `In-Reply-To` and `References` that id, so a
//! help desk that ingests mail files them on the same ticket. The ticket reference
//! is that Message-ID. Mail cannot be searched: `find_open` finds nothing (the
//! outbox worker keeps the reference), and nobody "works" a mail.
//!
//! TLS: `starttls` (port 587, upgrade required, never falls back to plain text),
//! `tls` (implicit TLS, port 465) or `none` (only for a relay on loopback).

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use forewarn_secret::{Secret, SecretSource};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Mailboxes};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;

use super::connector_config::{
    BuildError, ConnectorSettings, built, check_secret, check_timeout, default_timeout_secs,
    load_secret,
};
use super::{Connector, ConnectorError, TicketRef, TicketRequest, correlation_tag};

/// `kind = "email"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// SMTP relay host name (also the name its TLS certificate must carry).
    pub smtp_host: String,
    /// SMTP port: 587 for STARTTLS, 465 for implicit TLS.
    #[serde(default = "default_smtp_port")]
    pub smtp_port: u16,
    /// "starttls" (required, no fallback), "tls" (implicit) or "none" (loopback relays only).
    #[serde(default)]
    pub tls: EmailTls,
    /// PEM file of an extra CA to trust for the relay (an internal CA).
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// SMTP user name, if the relay wants authentication.
    #[serde(default)]
    pub username: Option<String>,
    /// SMTP password; required with `username`.
    #[serde(default)]
    pub password: Option<SecretSource>,
    /// Sender, e.g. `Forewarn <forewarn@example.com>`.
    pub from: String,
    /// Recipients, e.g. the help desk's intake address.
    pub to: Vec<String>,
    /// Timeout of each SMTP session, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTls {
    #[default]
    Starttls,
    Tls,
    None,
}

fn default_smtp_port() -> u16 {
    587
}

impl ConnectorSettings for EmailConfig {
    fn problems(&self, key: &str, problems: &mut Vec<String>) {
        if self.to.is_empty() {
            problems.push(format!("{key}.to: name at least one recipient"));
        }
        if self.username.is_some() != self.password.is_some() {
            problems.push(format!(
                "{key}.password: give both username and password, or neither"
            ));
        }
        if let Some(password) = &self.password {
            check_secret(key, "password", password, problems);
        }
        check_timeout(key, self.timeout_secs, problems);
    }

    fn resolve_paths(&mut self, base: &Path) {
        if let Some(password) = &mut self.password {
            password.resolve_path(base);
        }
        if let Some(ca) = &mut self.tls_ca_file
            && ca.is_relative()
        {
            *ca = base.join(&*ca);
        }
    }
}

impl EmailConfig {
    /// Reads the password, if any, and builds the connector named `name`.
    pub fn build(&self, name: &str) -> Result<Box<dyn Connector>, BuildError> {
        let password = match &self.password {
            Some(source) => Some(load_secret(name, "password", source)?),
            None => None,
        };
        built(name, Email::new(self, password))
    }
}

const SYSTEM: &str = "SMTP";

#[derive(Debug)]
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Mailboxes,
    domain: String,
    server: String,
    timeout: Duration,
}

fn rejected(message: String) -> ConnectorError {
    ConnectorError::Rejected {
        system: SYSTEM,
        status: None,
        message,
    }
}

fn smtp_error(error: lettre::transport::smtp::Error, timeout: Duration) -> ConnectorError {
    if error.is_timeout() {
        ConnectorError::Timeout {
            system: SYSTEM,
            timeout,
        }
    } else if error.is_permanent() {
        rejected(error.to_string())
    } else {
        // Transient (4xx) replies and connection failures: the relay may recover.
        ConnectorError::Unavailable {
            system: SYSTEM,
            status: error.status().map(u16::from).unwrap_or(0),
            message: error.to_string(),
            retry_after: None,
        }
    }
}

impl Email {
    pub fn new(config: &EmailConfig, password: Option<Secret>) -> Result<Self, ConnectorError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| rejected(format!("from address {:?}: {e}", config.from)))?;
        let mut to = Mailboxes::new();
        for address in &config.to {
            to.push(
                address
                    .parse()
                    .map_err(|e| rejected(format!("to address {address:?}: {e}")))?,
            );
        }
        let mut tls = TlsParameters::builder(config.smtp_host.clone());
        if let Some(path) = &config.tls_ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| rejected(format!("cannot read {}: {e}", path.display())))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| rejected(format!("{}: {e}", path.display())))?;
            tls = tls.add_root_certificate(cert);
        }
        let tls = || {
            tls.clone()
                .build_rustls()
                .map_err(|e| rejected(format!("TLS set-up: {e}")))
        };
        let tls = match config.tls {
            EmailTls::Starttls => Tls::Required(tls()?),
            EmailTls::Tls => Tls::Wrapper(tls()?),
            EmailTls::None => Tls::None,
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.smtp_host)
                .port(config.smtp_port)
                .tls(tls)
                .timeout(Some(Duration::from_secs(config.timeout_secs)));
        if let (Some(user), Some(password)) = (&config.username, password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        let domain = from.email.domain().to_string();
        Ok(Self {
            transport: builder.build(),
            from,
            to,
            domain,
            server: format!("{}:{}", config.smtp_host, config.smtp_port),
            timeout: Duration::from_secs(config.timeout_secs),
        })
    }

    async fn send(
        &self,
        subject: &str,
        body: String,
        message_id: &str,
        in_reply_to: Option<&str>,
    ) -> Result<(), ConnectorError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .message_id(Some(message_id.to_string()))
            .header(ContentType::TEXT_PLAIN);
        for to in self.to.iter() {
            builder = builder.to(to.clone());
        }
        if let Some(parent) = in_reply_to {
            builder = builder
                .in_reply_to(parent.to_string())
                .references(parent.to_string());
        }
        let message = builder
            .body(body)
            .map_err(|e| rejected(format!("cannot build the message: {e}")))?;
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(|e| smtp_error(e, self.timeout))
    }

    fn new_message_id(&self, key: &str) -> String {
        format!(
            "<{}.{}@{}>",
            correlation_tag(key),
            uuid::Uuid::new_v4().simple(),
            self.domain
        )
    }
}

#[async_trait]
impl Connector for Email {
    fn system(&self) -> &'static str {
        SYSTEM
    }

    async fn find_open(&self, _correlation_key: &str) -> Result<Option<TicketRef>, ConnectorError> {
        Ok(None)
    }

    async fn open(&self, request: &TicketRequest) -> Result<TicketRef, ConnectorError> {
        let id = self.new_message_id(&request.correlation_key);
        let mut body = request.body.clone();
        if let Some(url) = &request.device_url {
            body.push_str(&format!("\n\nDevice in Forewarn: {url}\n"));
        }
        self.send(&request.subject, body, &id, None).await?;
        Ok(TicketRef { id, url: None })
    }

    async fn comment(&self, ticket: &TicketRef, text: &str) -> Result<(), ConnectorError> {
        let id = self.new_message_id(&ticket.id);
        self.send(
            "Re: Forewarn alert update",
            text.to_string(),
            &id,
            Some(&ticket.id),
        )
        .await
    }

    async fn resolve(&self, ticket: &TicketRef, text: &str) -> Result<(), ConnectorError> {
        let id = self.new_message_id(&ticket.id);
        self.send(
            "Re: Forewarn alert resolved",
            text.to_string(),
            &id,
            Some(&ticket.id),
        )
        .await
    }

    async fn worked_by_human(&self, _ticket: &TicketRef) -> Result<bool, ConnectorError> {
        Ok(false)
    }

    async fn check_access(&self) -> Vec<String> {
        match self.transport.test_connection().await {
            Ok(true) => Vec::new(),
            Ok(false) => vec![format!(
                "the SMTP server at {} did not answer NOOP",
                self.server
            )],
            Err(e) => vec![format!(
                "cannot use the SMTP server at {}: {e} (check host, port, tls mode, the CA and the credentials)",
                self.server
            )],
        }
    }
}
