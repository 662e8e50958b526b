//! How pages print times, sizes and links: pure functions.

use time::OffsetDateTime;
use time::macros::format_description;

/// `2026-12-02 06:50 UTC`; "never" for `None`.
pub fn when(at: Option<i64>) -> String {
    let Some(at) = at else {
        return "never".into();
    };
    OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| {
            t.format(format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| at.to_string())
}

/// [`when`] of a time that is always there, as templates pass it.
pub fn when_at(at: &i64) -> String {
    when(Some(*at))
}

/// `in 3 h`, `5 min ago`, `just now`: the distance of `at` from `now`.
pub fn ago(now: i64, at: Option<i64>) -> String {
    let Some(at) = at else {
        return "never".into();
    };
    let secs = now - at;
    let amount = |s: i64| match s {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 2 * 86_400 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    };
    match secs {
        s if s.abs() < 5 => "just now".into(),
        s if s < 0 => format!("in {}", amount(-s)),
        s => format!("{} ago", amount(s)),
    }
}

/// `12.3 GiB`.
pub fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// Percent-encodes everything but unreserved characters (RFC 3986), for a
/// value inside a query string.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A query string (`?a=1&b=x`) from the pairs with a non-empty value.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode_component(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// A safe place to go after signing in: a path on this site, never another
/// site (`//evil.example`, `https://...`).
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_in_utc_and_relative() {
        assert_eq!(when(Some(1_795_000_000)), "2026-11-18 11:06 UTC");
        assert_eq!(when(None), "never");
        assert_eq!(ago(1000, Some(998)), "just now");
        assert_eq!(ago(1000, Some(880)), "2 min ago");
        assert_eq!(ago(0, Some(7200)), "in 2 h");
        assert_eq!(ago(10 * 86_400, Some(0)), "10 days ago");
    }

    #[test]
    fn query_strings_encode_values_and_drop_empty_ones() {
        assert_eq!(
            query(&[("q", "a b&c"), ("group", ""), ("sort", "hostname")]),
            "?q=a%20b%26c&sort=hostname"
        );
        assert_eq!(query(&[("q", "")]), "");
        assert_eq!(encode_component("/devices?x=1"), "%2Fdevices%3Fx%3D1");
    }

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(local_path(Some("/devices/d1")), "/devices/d1");
        assert_eq!(local_path(Some("//evil.example/")), "/");
        assert_eq!(local_path(Some("https://evil.example/")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(None), "/");
    }
}
