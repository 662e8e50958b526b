//! Subject and body templates: `{name}` placeholders filled from the alert and the
//! device facts. `{{` and `}}` are literal braces. Unknown placeholders are
//! config errors, found when the config is loaded, not when a ticket is due.

use super::AlertSummary;

/// Placeholders a template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "severity",
    "summary",
    "rule",
    "subject",
    "hostname",
    "os",
    "model",
    "serial",
    "user",
    "last_values",
    "device_url",
    "correlation_key",
];

/// Default ticket subject.
pub const DEFAULT_SUBJECT: &str = "[{severity}] {hostname}: {summary}";

/// Default ticket body.
pub const DEFAULT_BODY: &str = "{summary}\n\n\
Device: {hostname}\n\
OS: {os}\n\
Model: {model}\n\
Serial: {serial}\n\
User: {user}\n\
Dashboard: {device_url}\n\n\
Last values:\n{last_values}\n\n\
Alert key: {correlation_key}\n";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown placeholder {{{name}}} (known: {})", PLACEHOLDERS.join(", "))]
    UnknownPlaceholder { name: String },
    #[error("unclosed '{{' at byte {at}")]
    Unclosed { at: usize },
    #[error("lone '}}' at byte {at} (write '}}}}' for a literal brace)")]
    LoneClose { at: usize },
}

/// Checks a template without rendering it.
pub fn check(template: &str) -> Result<(), TemplateError> {
    expand(template, |_| String::new()).map(|_| ())
}

/// Renders a template for an alert.
pub fn render(template: &str, alert: &AlertSummary) -> Result<String, TemplateError> {
    expand(template, |name| value(name, alert))
}

fn value(name: &str, alert: &AlertSummary) -> String {
    let unknown = || "unknown".to_string();
    let or_unknown = |s: &str| {
        if s.is_empty() {
            unknown()
        } else {
            s.to_string()
        }
    };
    match name {
        "severity" => alert.severity.to_string(),
        "summary" => alert.summary.clone(),
        "rule" => alert.rule.clone(),
        "subject" => alert.subject.clone(),
        "hostname" => or_unknown(&alert.device.hostname),
        "os" => or_unknown(&alert.device.os),
        "model" => or_unknown(&alert.device.model),
        "serial" => or_unknown(&alert.device.serial),
        "user" => alert.device.user.clone().unwrap_or_else(unknown),
        "last_values" => alert
            .last_values
            .iter()
            .map(|(k, v)| format!("- {k}: {v}"))
            .collect::<Vec<_>>()
            .join("\n"),
        "device_url" => alert
            .device_url
            .clone()
            .unwrap_or_else(|| "(no dashboard URL configured)".into()),
        "correlation_key" => alert.correlation_key.clone(),
        _ => String::new(),
    }
}

fn expand(template: &str, mut lookup: impl FnMut(&str) -> String) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    let mut offset = 0;
    while let Some(pos) = rest.find(['{', '}']) {
        out.push_str(&rest[..pos]);
        let at = offset + pos;
        let tail = &rest[pos..];
        let consumed = if let Some(after) = tail.strip_prefix("{{") {
            out.push('{');
            tail.len() - after.len()
        } else if let Some(after) = tail.strip_prefix("}}") {
            out.push('}');
            tail.len() - after.len()
        } else if tail.starts_with('}') {
            return Err(TemplateError::LoneClose { at });
        } else {
            let end = tail.find('}').ok_or(TemplateError::Unclosed { at })?;
            let name = &tail[1..end];
            if !PLACEHOLDERS.contains(&name) {
                return Err(TemplateError::UnknownPlaceholder { name: name.into() });
            }
            out.push_str(&lookup(name));
            end + 1
        };
        rest = &tail[consumed..];
        offset = at + consumed;
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tickets::{DeviceFacts, Severity};

    pub(crate) fn alert() -> AlertSummary {
        AlertSummary {
            correlation_key: "dev-7/backup_failed/nightly".into(),
            rule: "backup_failed".into(),
            subject: "nightly".into(),
            severity: Severity::Critical,
            summary: "backup job nightly failed (exit code 3)".into(),
            last_values: vec![
                ("result".into(), "failed".into()),
                ("last success".into(), "2026-11-20T02:00:00Z".into()),
            ],
            device: DeviceFacts {
                hostname: "laptop-042".into(),
                os: "Debian GNU/Linux 12".into(),
                model: "ThinkPad T14".into(),
                serial: "PF3XYZ".into(),
                user: None,
            },
            device_url: Some("https://forewarn.example/devices/dev-7".into()),
        }
    }

    #[test]
    fn default_subject_names_severity_host_and_summary() {
        assert_eq!(
            render(DEFAULT_SUBJECT, &alert()).unwrap(),
            "[critical] laptop-042: backup job nightly failed (exit code 3)"
        );
    }

    #[test]
    fn default_body_carries_device_facts_values_and_link() {
        let body = render(DEFAULT_BODY, &alert()).unwrap();
        for expected in [
            "Device: laptop-042",
            "OS: Debian GNU/Linux 12",
            "Model: ThinkPad T14",
            "Serial: PF3XYZ",
            "User: unknown",
            "Dashboard: https://forewarn.example/devices/dev-7",
            "- result: failed\n- last success: 2026-11-20T02:00:00Z",
            "Alert key: dev-7/backup_failed/nightly",
        ] {
            assert!(body.contains(expected), "{expected:?} missing from {body}");
        }
    }

    #[test]
    fn double_braces_are_literal() {
        assert_eq!(
            render("{{x}} {rule}}}", &alert()).unwrap(),
            "{x} backup_failed}"
        );
    }

    #[test]
    fn unknown_placeholder_is_an_error() {
        assert_eq!(
            check("{hostnme}"),
            Err(TemplateError::UnknownPlaceholder {
                name: "hostnme".into()
            })
        );
    }

    #[test]
    fn unclosed_and_lone_braces_are_errors() {
        assert_eq!(check("ab {rule"), Err(TemplateError::Unclosed { at: 3 }));
        assert_eq!(check("ab } c"), Err(TemplateError::LoneClose { at: 3 }));
    }
}
