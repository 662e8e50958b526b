//! The one place the agent reads the wall clock for report timestamps. Pure
//! code (parsers, status builders) takes `now` as an argument so tests can
//! choose it; the checks that call that code ask here.

/// Seconds since the Unix epoch, UTC: the unit every reported time uses.
pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
