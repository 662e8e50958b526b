//! E-mail against a real SMTP server: Debian's `python3-aiosmtpd`, started by the
//! test on a free loopback port with a Maildir handler, plain and with STARTTLS
//! (certificate from a CA made by the test). Checks the threading headers a help
//! desk relies on to keep one ticket: updates carry In-Reply-To and References.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use forewarn_collector::tickets::config::TicketsConfig;
use forewarn_collector::tickets::{Connector, ConnectorError, Severity, TicketRequest, access};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// Debian's interpreter: aiosmtpd is installed for it, not for other pythons on PATH.
const PYTHON: &str = "/usr/bin/python3";

struct SmtpServer {
    child: Child,
    port: u16,
}

impl SmtpServer {
    fn start(maildir: &Path, tls: Option<(&Path, &Path)>) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new(PYTHON);
        command.args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")]);
        if let Some((cert, key)) = tls {
            command.arg("--tlscert").arg(cert).arg("--tlskey").arg(key);
        }
        command
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command
            .spawn()
            .expect("python3-aiosmtpd (apt) must be installed: see .ci/run");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(port: u16, extra: &str) -> TicketsConfig {
    let config: TicketsConfig = toml::from_str(&format!(
        r#"
[connectors.mail]
kind = "email"
smtp_host = "localhost"
smtp_port = {port}
from = "Forewarn <forewarn@example.com>"
to = ["helpdesk@example.com"]
timeout_secs = 5
{extra}
"#
    ))
    .unwrap();
    assert_eq!(config.problems(), Vec::<String>::new());
    config
}

fn request() -> TicketRequest {
    TicketRequest {
        correlation_key: "dev-7/backup_failed/nightly".into(),
        subject: "[critical] laptop-042: backup job nightly failed (exit code 3)".into(),
        body: "backup job nightly failed (exit code 3)".into(),
        severity: Severity::Critical,
        priority: "critical".into(),
        destination: None,
        labels: vec![],
        device_url: Some("https://forewarn.example/devices/dev-7".into()),
    }
}

/// Headers of every delivered message, oldest first (unfolded, name lowercased).
fn delivered(maildir: &Path) -> Vec<Vec<(String, String)>> {
    let mut files: Vec<_> = std::fs::read_dir(maildir.join("new"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort_by_key(|p| std::fs::metadata(p).unwrap().modified().unwrap());
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            let head = text
                .split("\n\n")
                .next()
                .unwrap()
                .replace("\n ", " ")
                .replace("\n\t", " ");
            head.lines()
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
                .collect()
        })
        .collect()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn open_comment_resolve_are_threaded(connector: &dyn Connector, maildir: &Path) {
    let ticket = connector.open(&request()).await.unwrap();
    connector.comment(&ticket, "Still failing.").await.unwrap();
    connector
        .resolve(&ticket, "Backup succeeded.")
        .await
        .unwrap();
    let mails = delivered(maildir);
    assert_eq!(mails.len(), 3);
    assert_eq!(header(&mails[0], "message-id"), Some(ticket.id.as_str()));
    assert_eq!(
        header(&mails[0], "subject"),
        Some("[critical] laptop-042: backup job nightly failed (exit code 3)")
    );
    assert_eq!(header(&mails[0], "in-reply-to"), None);
    for reply in &mails[1..] {
        assert_eq!(header(reply, "in-reply-to"), Some(ticket.id.as_str()));
        assert_eq!(header(reply, "references"), Some(ticket.id.as_str()));
        assert_ne!(header(reply, "message-id"), Some(ticket.id.as_str()));
    }
}

#[tokio::test]
async fn email_updates_are_threaded_to_the_first_message_over_plain_smtp_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    let server = SmtpServer::start(&maildir, None);
    let config = config(server.port, "tls = \"none\"");
    let connector = config.connectors["mail"].build("mail").unwrap();
    open_comment_resolve_are_threaded(connector.as_ref(), &maildir).await;
    assert_eq!(
        access::test_connector(&config, "mail").await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn email_over_starttls_verifies_the_relay_against_the_configured_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, &ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let (ca_file, cert_file, key_file) = (
        dir.path().join("ca.pem"),
        dir.path().join("server.pem"),
        dir.path().join("server.key"),
    );
    std::fs::write(&ca_file, ca_cert.pem()).unwrap();
    std::fs::write(&cert_file, server_cert.pem()).unwrap();
    std::fs::write(&key_file, server_key.serialize_pem()).unwrap();
    let maildir = dir.path().join("mail");
    let server = SmtpServer::start(&maildir, Some((&cert_file, &key_file)));

    let trusted = config(
        server.port,
        &format!(
            "tls = \"starttls\"\ntls_ca_file = \"{}\"",
            ca_file.display()
        ),
    );
    let connector = trusted.connectors["mail"].build("mail").unwrap();
    open_comment_resolve_are_threaded(connector.as_ref(), &maildir).await;

    // Without our CA the relay's certificate is not trusted, and nothing is sent in clear.
    let untrusted = config(server.port, "tls = \"starttls\"");
    let connector = untrusted.connectors["mail"].build("mail").unwrap();
    let err = connector.open(&request()).await.unwrap_err();
    assert!(
        matches!(
            err,
            ConnectorError::Unavailable { .. } | ConnectorError::Rejected { .. }
        ),
        "{err:?}"
    );
    assert_eq!(delivered(&maildir).len(), 3);
    let problems = access::test_connector(&untrusted, "mail").await;
    assert_eq!(problems.len(), 1, "{problems:?}");
}
