//! `alerts list/show/ack`: alerts as the rules raised them, with their history.
//!
//! Like every command, they work on the store directly and write plain text.

use std::io::Write;

use clap::Subcommand;

use super::{AdminError, format_time};
use crate::alerts::{AlertFilter, AlertRecord, AlertStatus};
use crate::rules::Severity;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// List alerts, most recently seen first.
    List {
        /// pending, firing, acknowledged or resolved.
        #[arg(long, value_parser = parse_status)]
        state: Option<AlertStatus>,
        /// warning or critical.
        #[arg(long, value_parser = parse_severity)]
        severity: Option<Severity>,
        /// Hostname (any case), device id, or the start of a device id.
        #[arg(long)]
        device: Option<String>,
    },
    /// Show one alert with its full history.
    Show { id: i64 },
    /// Acknowledge a firing alert: no more notifications until it changes.
    Ack {
        id: i64,
        /// Why, or what is being done about it.
        #[arg(long)]
        note: String,
        /// Who acknowledges (default: $USER; refused when neither is given).
        #[arg(long, env = "USER")]
        by: Option<String>,
    },
}

pub async fn run(
    command: AlertsCommand,
    store: &dyn Store,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    match command {
        AlertsCommand::List {
            state,
            severity,
            device,
        } => {
            let device_id = match device {
                Some(query) => Some(super::devices::find_device(store, &query).await?.id),
                None => None,
            };
            let filter = AlertFilter {
                status: state,
                severity,
                device_id,
            };
            list_alerts(store, filter, out).await
        }
        AlertsCommand::Show { id } => show_alert(store, id, out).await,
        AlertsCommand::Ack { id, note, by } => {
            let by = super::actor(by)?;
            ack_alert(store, id, &by, &note, out).await
        }
    }
}

fn severity_text(severity: Option<Severity>) -> &'static str {
    severity.map_or("-", Severity::as_str)
}

fn value_text(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{v:.2}"))
}

pub async fn list_alerts(
    store: &dyn Store,
    filter: AlertFilter,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    writeln!(
        out,
        "{:<6} {:<13} {:<9} {:<20} {:<26} {:<28} {:<20} SUMMARY",
        "ID", "STATE", "SEVERITY", "HOSTNAME", "RULE", "SUBJECT", "LAST SEEN"
    )?;
    for alert in store.list_alerts(filter).await? {
        writeln!(out, "{}", list_line(&alert))?;
    }
    Ok(())
}

/// The subject as people know it; the machine key when the rule gave no name
/// (alerts stored before names were kept), `-` for a device-wide alert.
fn subject_text(alert: &AlertRecord) -> &str {
    [alert.subject_name.as_str(), alert.subject.as_str()]
        .into_iter()
        .find(|text| !text.is_empty())
        .unwrap_or("-")
}

/// One row of `alerts list`.
fn list_line(alert: &AlertRecord) -> String {
    format!(
        "{:<6} {:<13} {:<9} {:<20} {:<26} {:<28} {:<20} {}{}",
        alert.id,
        alert.status.as_str(),
        severity_text(alert.severity),
        alert.hostname,
        alert.rule.as_str(),
        subject_text(alert),
        format_time(alert.last_seen),
        if alert.flapping { "[flapping] " } else { "" },
        alert.summary
    )
}

/// The `rule` line of `alerts show`: the human name, with the key kept for
/// scripts and for matching overrides when it differs.
fn rule_line(alert: &AlertRecord) -> String {
    let name = subject_text(alert);
    if alert.subject.is_empty() || alert.subject == name {
        format!("{} {name}", alert.rule.as_str())
    } else {
        format!("{} {name} (key {})", alert.rule.as_str(), alert.subject)
    }
}

pub async fn show_alert(
    store: &dyn Store,
    id: i64,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let (alert, history) = store.alert(id).await?.ok_or_else(|| AdminError::NotFound {
        kind: "alert",
        id: id.to_string(),
    })?;
    writeln!(out, "alert      {}", alert.id)?;
    writeln!(out, "summary    {}", alert.summary)?;
    writeln!(out, "device     {} ({})", alert.hostname, alert.device_id)?;
    writeln!(out, "rule       {}", rule_line(&alert))?;
    writeln!(
        out,
        "state      {}{}",
        alert.status.as_str(),
        if alert.flapping { " (flapping)" } else { "" }
    )?;
    writeln!(out, "severity   {}", severity_text(alert.severity))?;
    writeln!(
        out,
        "value      {} (threshold {})",
        value_text(alert.value),
        value_text(alert.threshold)
    )?;
    writeln!(out, "first seen {}", format_time(alert.first_seen))?;
    writeln!(out, "last seen  {}", format_time(alert.last_seen))?;
    if let (Some(by), Some(at)) = (&alert.acknowledged_by, alert.acknowledged_at) {
        writeln!(out, "acked      by {by} at {}", format_time(at))?;
    }
    writeln!(out, "history")?;
    for entry in history {
        write!(
            out,
            "  {} {} -> {} {}",
            format_time(entry.at),
            severity_text(entry.from_severity),
            severity_text(entry.to_severity),
            entry.event.as_deref().unwrap_or("(no notification)"),
        )?;
        if let Some(actor) = &entry.actor {
            write!(out, " by {actor}")?;
        }
        if let Some(note) = entry.note.as_deref().filter(|n| !n.is_empty()) {
            write!(out, ": {note}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

pub async fn ack_alert(
    store: &dyn Store,
    id: i64,
    by: &str,
    note: &str,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let (alert, _) = store.alert(id).await?.ok_or_else(|| AdminError::NotFound {
        kind: "alert",
        id: id.to_string(),
    })?;
    match alert.status {
        AlertStatus::Acknowledged => {
            // A second ack adds nothing: no new history line, say who did it.
            writeln!(
                out,
                "alert {id} is already acknowledged by {} at {}",
                alert.acknowledged_by.as_deref().unwrap_or("someone"),
                alert
                    .acknowledged_at
                    .map_or("an unknown time".into(), format_time)
            )?;
            return Ok(());
        }
        AlertStatus::Firing => {}
        other => {
            return Err(AdminError::NotAckable {
                id,
                state: other.as_str(),
            });
        }
    }
    let audit = super::users::audit_entry(by, "alert.ack", &id.to_string(), note);
    if !store.ack_alert(id, by, note, audit).await? {
        return Err(AdminError::NotAckable {
            id,
            state: "no longer firing",
        });
    }
    writeln!(out, "alert {id} acknowledged by {by}")?;
    Ok(())
}

/// Parses `--state` for `alerts list`.
pub fn parse_status(text: &str) -> Result<AlertStatus, String> {
    AlertStatus::parse(text)
        .ok_or_else(|| format!("{text:?}: use pending, firing, acknowledged or resolved"))
}

/// Parses `--severity` for `alerts list`.
pub fn parse_severity(text: &str) -> Result<Severity, String> {
    Severity::parse(text).ok_or_else(|| format!("{text:?}: use warning or critical"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::console::ConsoleStore;
    use crate::store::ledger::TicketLedger;
    use crate::store::sqlite::SqliteStore;

    #[tokio::test]
    async fn second_ack_says_who_acked_and_adds_no_history() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db")).unwrap();
        store
            .set_ticketing_failing(Some("2 ticket operation(s) undelivered".into()), 100)
            .await
            .unwrap();
        let id = store.list_alerts(AlertFilter::default()).await.unwrap()[0].id;
        let mut out = Vec::new();
        ack_alert(&store, id, "alice", "helpdesk is down", &mut out)
            .await
            .unwrap();
        let (_, history_after_first) = store.alert(id).await.unwrap().unwrap();
        let mut again = Vec::new();
        ack_alert(&store, id, "bob", "me too", &mut again)
            .await
            .unwrap();
        let again = String::from_utf8(again).unwrap();
        assert!(again.contains("already acknowledged by alice"), "{again}");
        let (alert, history) = store.alert(id).await.unwrap().unwrap();
        assert_eq!(history.len(), history_after_first.len());
        assert_eq!(alert.acknowledged_by.as_deref(), Some("alice"));
        let audit = store
            .list_audit(crate::store::console::AuditQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        let rows: Vec<(&str, &str, &str)> = audit
            .iter()
            .map(|a| {
                (
                    a.entry.actor.as_str(),
                    a.entry.action.as_str(),
                    a.entry.detail.as_str(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [("cli:alice", "alert.ack", "helpdesk is down")],
            "one row, for the ack that changed something"
        );
    }

    fn certificate_alert() -> AlertRecord {
        AlertRecord {
            id: 7,
            device_id: "dev-1".into(),
            hostname: "web01".into(),
            rule: crate::rules::RuleId::CertificateDaysLeft,
            subject: "afde0f19c3da97b".into(),
            subject_name: "CN=www.example.com at /etc/ssl/www.pem".into(),
            status: AlertStatus::Firing,
            severity: Some(Severity::Warning),
            flapping: false,
            first_seen: 100,
            last_seen: 200,
            value: Some(5.0),
            threshold: Some(14.0),
            summary: "certificate expires in 5 days".into(),
            acknowledged_by: None,
            acknowledged_at: None,
        }
    }

    #[test]
    fn alerts_are_listed_and_shown_by_their_human_subject() {
        let alert = certificate_alert();
        let line = list_line(&alert);
        assert!(
            line.contains("CN=www.example.com at /etc/ssl/www.pem"),
            "{line}"
        );
        assert!(!line.contains("afde0f19c3da97b"), "{line}");
        assert_eq!(
            rule_line(&alert),
            "certificate_days_left CN=www.example.com at /etc/ssl/www.pem (key afde0f19c3da97b)"
        );
    }

    #[test]
    fn an_alert_without_a_name_shows_its_key_or_a_dash() {
        let mut alert = certificate_alert();
        alert.subject_name.clear();
        assert!(list_line(&alert).contains("afde0f19c3da97b"));
        assert_eq!(rule_line(&alert), "certificate_days_left afde0f19c3da97b");
        alert.subject.clear();
        assert_eq!(subject_text(&alert), "-");
        assert_eq!(rule_line(&alert), "certificate_days_left -");
    }

    #[test]
    fn ack_without_a_name_is_refused() {
        assert!(matches!(
            super::super::actor(None),
            Err(AdminError::NoActor)
        ));
        assert!(matches!(
            super::super::actor(Some("  ".into())),
            Err(AdminError::NoActor)
        ));
        assert_eq!(super::super::actor(Some("alice".into())).unwrap(), "alice");
        assert!(AdminError::NoActor.to_string().contains("--by"));
    }
}
