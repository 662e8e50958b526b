//! Silences and maintenance windows: they suppress notifications (no outbox
//! rows), never state. An alert still firing when a window ends is notified
//! by the next sweep, because its notified severity lags its real one.

use crate::rules::AlertKey;

const WEEK_SECS: i64 = 7 * 24 * 3600;
/// 1970-01-01 was a Thursday: weekday 3 when Monday is 0.
const EPOCH_WEEKDAY: i64 = 3;

/// A weekly window: every `weekday` (0 = Monday) from `start_minute` after
/// 00:00 UTC, for `duration_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weekly {
    pub weekday: u8,
    pub start_minute: u16,
    pub duration_secs: u32,
}

/// A silence as stored; empty matchers match everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    pub id: String,
    pub device_id: String,
    pub group: String,
    pub rule: String,
    pub subject: String,
    pub starts_at: i64,
    pub ends_at: Option<i64>,
    pub weekly: Option<Weekly>,
    pub comment: String,
    pub created_by: String,
    pub created_at: i64,
    pub expired_at: Option<i64>,
}

impl Silence {
    /// Whether the silence is in force at `now` (ignoring what it matches).
    pub fn active_at(&self, now: i64) -> bool {
        if self.expired_at.is_some_and(|at| at <= now)
            || now < self.starts_at
            || self.ends_at.is_some_and(|end| now >= end)
        {
            return false;
        }
        match self.weekly {
            None => true,
            Some(weekly) => {
                // Seconds since the most recent Monday 00:00 UTC.
                let into_week = (now + EPOCH_WEEKDAY * 86_400).rem_euclid(WEEK_SECS);
                let start =
                    i64::from(weekly.weekday) * 86_400 + i64::from(weekly.start_minute) * 60;
                let since_start = (into_week - start).rem_euclid(WEEK_SECS);
                since_start < i64::from(weekly.duration_secs)
            }
        }
    }

    /// When a silence in force at `now` stops being in force (its end, its
    /// expiry or the end of this week's window); `None` if it is not in
    /// force or never ends.
    pub fn lifts_at(&self, now: i64) -> Option<i64> {
        if !self.active_at(now) {
            return None;
        }
        let window_end = self.weekly.map(|weekly| {
            let into_week = (now + EPOCH_WEEKDAY * 86_400).rem_euclid(WEEK_SECS);
            let start = i64::from(weekly.weekday) * 86_400 + i64::from(weekly.start_minute) * 60;
            let since_start = (into_week - start).rem_euclid(WEEK_SECS);
            now + i64::from(weekly.duration_secs) - since_start
        });
        [self.expired_at, self.ends_at, window_end]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether the silence covers this alert of this device at `now`.
    pub fn covers(&self, device_id: &str, group: &str, key: &AlertKey, now: i64) -> bool {
        let matches = |want: &str, have: &str| want.is_empty() || want == have;
        matches(&self.device_id, device_id)
            && matches(&self.group, group)
            && matches(&self.rule, key.rule.as_str())
            && matches(&self.subject, &key.subject)
            && self.active_at(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleId;

    fn silence() -> Silence {
        Silence {
            id: "s1".into(),
            device_id: String::new(),
            group: "servers".into(),
            rule: String::new(),
            subject: String::new(),
            starts_at: 0,
            ends_at: None,
            weekly: Some(Weekly {
                weekday: 6,
                start_minute: 60,
                duration_secs: 4 * 3600,
            }),
            comment: "patch window".into(),
            created_by: "it".into(),
            created_at: 0,
            expired_at: None,
        }
    }

    fn at(text: &str) -> i64 {
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .unwrap()
            .unix_timestamp()
    }

    #[test]
    fn weekly_window_is_sunday_one_to_five_utc() {
        let s = silence();
        assert!(
            !s.active_at(at("2026-11-22T00:59:59Z")),
            "Sunday before 01:00"
        );
        assert!(s.active_at(at("2026-11-22T01:00:00Z")));
        assert!(s.active_at(at("2026-11-22T04:59:59Z")));
        assert!(!s.active_at(at("2026-11-22T05:00:00Z")));
        assert!(!s.active_at(at("2026-11-23T02:00:00Z")), "Monday");
    }

    #[test]
    fn weekly_window_lifts_at_its_end_and_a_one_off_at_the_earlier_of_end_and_expiry() {
        let mut s = silence();
        let five = at("2026-11-22T05:00:00Z");
        assert_eq!(s.lifts_at(at("2026-11-22T01:00:00Z")), Some(five));
        assert_eq!(s.lifts_at(at("2026-11-22T04:59:59Z")), Some(five));
        assert_eq!(s.lifts_at(five), None, "not in force");
        s.ends_at = Some(at("2026-11-22T03:00:00Z"));
        assert_eq!(
            s.lifts_at(at("2026-11-22T02:00:00Z")),
            Some(at("2026-11-22T03:00:00Z"))
        );
        s.weekly = None;
        s.ends_at = None;
        assert_eq!(s.lifts_at(five), None, "never ends");
        s.expired_at = Some(five + 60);
        assert_eq!(s.lifts_at(five), Some(five + 60));
    }

    #[test]
    fn matchers_and_expiry() {
        let key = AlertKey {
            rule: RuleId::OfflineMinutes,
            subject: String::new(),
        };
        let mut s = silence();
        s.weekly = None;
        let now = at("2026-11-23T02:00:00Z");
        assert!(s.covers("d1", "servers", &key, now));
        assert!(!s.covers("d1", "laptops", &key, now));
        s.rule = "disk_free_percent".into();
        assert!(!s.covers("d1", "servers", &key, now));
        s.rule = String::new();
        s.expired_at = Some(now - 1);
        assert!(!s.covers("d1", "servers", &key, now));
        s.expired_at = None;
        s.ends_at = Some(now);
        assert!(!s.covers("d1", "servers", &key, now));
    }
}
