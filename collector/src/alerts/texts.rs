//! What an alert says when it resolves: what is true now and what it ends,
//! naming the subject as people know it. Pure, like the engine that calls it.

use forewarn_proto::pb;

use super::engine::StoredAlert;
use crate::rules::conditions::{certificate_name, format_duration, format_minute};
use crate::rules::{AlertKey, Condition, RuleId};

/// The resolution of the alert `stored` on `host`, given what was measured
/// at `now` (`condition`, clear) and the report that cleared it, if any.
pub fn resolution(
    host: &str,
    key: &AlertKey,
    stored: &StoredAlert,
    condition: &Condition,
    report: Option<&pb::StatusReport>,
    now: i64,
) -> String {
    let since = format_minute(stored.first_seen);
    let name = if stored.subject_name.is_empty() {
        if key.subject.is_empty() {
            key.rule.as_str().to_owned()
        } else {
            key.subject.clone()
        }
    } else {
        stored.subject_name.clone()
    };
    if condition.gone {
        if key.rule == RuleId::CertificateDaysLeft
            && let Some(new) = replacement(key, &stored.subject_name, report)
        {
            let expiry = new.not_after_unix_secs;
            let left = Some(expiry.saturating_sub(now))
                .filter(|&secs| secs > 0)
                .map(|secs| format!(", in {}", format_duration(secs as f64)))
                .unwrap_or_default();
            return format!(
                "Certificate {name} on {host} replaced; the new one expires {} UTC{left}",
                format_minute(expiry)
            );
        }
        return format!(
            "{name} on {host} is no longer reported; it was: {}",
            stored.summary
        );
    }
    match key.rule {
        RuleId::BackupFailed if stored.cause.is_empty() => {
            format!("{}; it had failed since {since} UTC", condition.summary)
        }
        RuleId::BackupFailed => format!(
            "{}; it had failed since {since} UTC with: {}",
            condition.summary, stored.cause
        ),
        _ => format!(
            "{}; the alert had held since {since} UTC",
            condition.summary
        ),
    }
}

/// The certificate now reported under the same name and location as the
/// vanished one `key` names, with another fingerprint: its renewal.
fn replacement<'a>(
    key: &AlertKey,
    name: &str,
    report: Option<&'a pb::StatusReport>,
) -> Option<&'a pb::CertificateStatus> {
    report?
        .certificates
        .as_ref()?
        .certificates
        .iter()
        .filter(|c| c.sha256_fingerprint != key.subject && certificate_name(c) == name)
        .max_by_key(|c| c.not_after_unix_secs)
}
