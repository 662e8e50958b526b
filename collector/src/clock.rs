//! The one place the collector reads the wall clock. Pure code (rules, the
//! alert engine, silences) takes `now` as an argument so tests can choose it;
//! the adapters that call that code ask here.

/// Seconds since the Unix epoch, UTC: the unit every stored time uses.
pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
