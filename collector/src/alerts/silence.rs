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

impl Weekly {
    /// Seconds since this week's window (or last week's, if this week's is
    /// still ahead) opened, at `at`.
    fn since_start(self, at: i64) -> i64 {
        // Seconds since the most recent Monday 00:00 UTC.
        let into_week = (at + EPOCH_WEEKDAY * 86_400).rem_euclid(WEEK_SECS);
        let start = i64::from(self.weekday) * 86_400 + i64::from(self.start_minute) * 60;
        (into_week - start).rem_euclid(WEEK_SECS)
    }

    /// Whether the window is open at `at`.
    fn open_at(self, at: i64) -> bool {
        self.since_start(at) < i64::from(self.duration_secs)
    }
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
        self.weekly.is_none_or(|weekly| weekly.open_at(now))
    }

    /// When a silence that is not in force at `now` next comes into force:
    /// its start, or for a weekly window the next time its window opens
    /// (or its start, if that falls inside a window). `None` if it is in
    /// force at `now`, or never will be again (ended, expired, or its
    /// series ends before its next window).
    pub fn next_start(&self, now: i64) -> Option<i64> {
        if self.active_at(now) {
            return None;
        }
        let from = now.max(self.starts_at);
        let start = match self.weekly {
            None => from,
            Some(weekly) if weekly.open_at(from) => from,
            Some(weekly) => from + WEEK_SECS - weekly.since_start(from),
        };
        let stops = [self.expired_at, self.ends_at].into_iter().flatten().min();
        stops.is_none_or(|stop| start < stop).then_some(start)
    }

    /// When a silence in force at `now` stops being in force (its end, its
    /// expiry or the end of this week's window); `None` if it is not in
    /// force or never ends.
    pub fn lifts_at(&self, now: i64) -> Option<i64> {
        if !self.active_at(now) {
            return None;
        }
        let window_end = self
            .weekly
            .map(|weekly| now + i64::from(weekly.duration_secs) - weekly.since_start(now));
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
    fn a_weekly_window_next_starts_at_its_next_opening_unless_its_series_ends_first() {
        let mut s = silence();
        let sunday_one = at("2026-11-22T01:00:00Z");
        assert_eq!(
            s.next_start(at("2026-11-20T10:00:00Z")),
            Some(sunday_one),
            "Friday: this Sunday"
        );
        assert_eq!(s.next_start(sunday_one), None, "in force");
        assert_eq!(
            s.next_start(at("2026-11-22T05:00:00Z")),
            Some(at("2026-11-29T01:00:00Z")),
            "just closed: next Sunday"
        );
        s.starts_at = at("2026-12-01T00:00:00Z");
        assert_eq!(
            s.next_start(at("2026-11-20T10:00:00Z")),
            Some(at("2026-12-06T01:00:00Z")),
            "the first Sunday of the series"
        );
        s.starts_at = at("2026-11-22T03:00:00Z");
        assert_eq!(
            s.next_start(at("2026-11-20T10:00:00Z")),
            Some(s.starts_at),
            "a series starting inside a window is in force from its start"
        );
        s.starts_at = 0;
        s.ends_at = Some(at("2026-11-22T01:00:00Z"));
        assert_eq!(
            s.next_start(at("2026-11-20T10:00:00Z")),
            None,
            "the series ends before its next window"
        );
        s.ends_at = None;
        s.expired_at = Some(at("2026-11-21T00:00:00Z"));
        assert_eq!(
            s.next_start(at("2026-11-20T10:00:00Z")),
            None,
            "ended by hand"
        );
    }

    #[test]
    fn a_one_off_silence_next_starts_at_its_start_until_it_ends() {
        let mut s = silence();
        s.weekly = None;
        s.starts_at = 1000;
        s.ends_at = Some(2000);
        assert_eq!(s.next_start(500), Some(1000));
        assert_eq!(s.next_start(1500), None, "in force");
        assert_eq!(s.next_start(2000), None, "over");
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
