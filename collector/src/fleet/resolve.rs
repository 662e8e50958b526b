//! Which device a person means: `device show LAPTOP-042`, `device show 3f9a`.
//!
//! A query names a device by its full id, its hostname (any case) or the
//! start of its id. A query that fits several devices is refused with every
//! candidate listed, so six devices called `vm` can be told apart and the
//! person picks one by id. Pure: the caller passes the devices.

use crate::store::DeviceRecord;

/// Why a query names no single device. The text says what is true and how
/// to go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "no device has hostname or id starting with {query:?}; list devices with `forewarn-collector device list`"
    )]
    Unknown { query: String },
    #[error(
        "{query:?} fits {} devices; pick one by its id (a unique start of it is enough):\n{}",
        candidates.len(),
        candidate_table(candidates)
    )]
    Ambiguous {
        query: String,
        candidates: Vec<Candidate>,
    },
    #[error(
        "an empty device name or id matches nothing; list devices with `forewarn-collector device list`"
    )]
    Empty,
}

/// One device a query could mean, as the refusal lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub hostname: String,
    pub id: String,
    pub group: String,
    /// RFC 3339, or "never".
    pub last_seen: String,
}

/// The device `query` names among `devices`: an exact id first; otherwise
/// every device whose hostname equals it (ignoring case) or whose id starts
/// with it (ignoring case). `last_seen` formats a device's last report time.
pub fn resolve<'a>(
    devices: &'a [DeviceRecord],
    query: &str,
    last_seen: impl Fn(&DeviceRecord) -> String,
) -> Result<&'a DeviceRecord, ResolveError> {
    let query = query.trim();
    if query.is_empty() {
        return Err(ResolveError::Empty);
    }
    if let Some(exact) = devices.iter().find(|device| device.id == query) {
        return Ok(exact);
    }
    let lowered = query.to_lowercase();
    let matches: Vec<&DeviceRecord> = devices
        .iter()
        .filter(|device| {
            device.hostname.to_lowercase() == lowered
                || device.id.to_lowercase().starts_with(&lowered)
        })
        .collect();
    match matches.as_slice() {
        [] => Err(ResolveError::Unknown {
            query: query.to_owned(),
        }),
        [one] => Ok(one),
        several => Err(ResolveError::Ambiguous {
            query: query.to_owned(),
            candidates: several
                .iter()
                .map(|device| Candidate {
                    hostname: device.hostname.clone(),
                    id: device.id.clone(),
                    group: device.group.clone(),
                    last_seen: last_seen(device),
                })
                .collect(),
        }),
    }
}

fn candidate_table(candidates: &[Candidate]) -> String {
    let mut lines = vec![format!(
        "  {:<24} {:<32} {:<12} LAST SEEN",
        "HOSTNAME", "ID", "GROUP"
    )];
    lines.extend(candidates.iter().map(|c| {
        format!(
            "  {:<24} {:<32} {:<12} {}",
            c.hostname, c.id, c.group, c.last_seen
        )
    }));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(id: &str, hostname: &str, group: &str) -> DeviceRecord {
        DeviceRecord {
            id: id.into(),
            group: group.into(),
            hostname: hostname.into(),
            os: "Debian 12".into(),
            agent_version: "0.1.0".into(),
            enrolled_at: 0,
            retired_at: None,
            cert_serial: "01".into(),
            cert_not_after: 1,
            last_seen_at: None,
            last_seq: 0,
        }
    }

    fn fleet() -> Vec<DeviceRecord> {
        vec![
            device("3f9a0000000000000000000000000001", "LAPTOP-042", "laptops"),
            device("3f9b0000000000000000000000000002", "vm", "servers"),
            device("a1000000000000000000000000000003", "vm", "lab"),
            device("a2000000000000000000000000000004", "web-1", "servers"),
        ]
    }

    fn never(_: &DeviceRecord) -> String {
        "never".into()
    }

    #[test]
    fn a_query_names_one_device_by_hostname_any_case_or_id_start() {
        let devices = fleet();
        let cases = [
            ("LAPTOP-042", "3f9a0000000000000000000000000001"),
            ("laptop-042", "3f9a0000000000000000000000000001"),
            ("3f9a", "3f9a0000000000000000000000000001"),
            ("3F9B", "3f9b0000000000000000000000000002"),
            ("a1", "a1000000000000000000000000000003"),
            (" web-1 ", "a2000000000000000000000000000004"),
            (
                "a2000000000000000000000000000004",
                "a2000000000000000000000000000004",
            ),
        ];
        for (query, id) in cases {
            assert_eq!(
                resolve(&devices, query, never).map(|d| d.id.as_str()),
                Ok(id),
                "{query}"
            );
        }
    }

    #[test]
    fn an_ambiguous_query_lists_every_candidate_and_how_to_pick() {
        let devices = fleet();
        for (query, ids) in [
            (
                "VM",
                vec![
                    "3f9b0000000000000000000000000002",
                    "a1000000000000000000000000000003",
                ],
            ),
            (
                "3f9",
                vec![
                    "3f9a0000000000000000000000000001",
                    "3f9b0000000000000000000000000002",
                ],
            ),
            (
                "a",
                vec![
                    "a1000000000000000000000000000003",
                    "a2000000000000000000000000000004",
                ],
            ),
        ] {
            let err = resolve(&devices, query, never).unwrap_err();
            let ResolveError::Ambiguous { candidates, .. } = &err else {
                panic!("{query}: {err:?}");
            };
            let found: Vec<&str> = candidates.iter().map(|c| c.id.as_str()).collect();
            assert_eq!(found, ids, "{query}");
            let text = err.to_string();
            assert!(text.contains("pick one by its id"), "{text}");
            for id in ids {
                assert!(text.contains(id), "{text}");
            }
        }
    }

    #[test]
    fn an_ambiguous_hostname_shows_group_and_last_seen() {
        let devices = fleet();
        let err = resolve(&devices, "vm", |d| format!("seen-{}", d.group)).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("\"vm\" fits 2 devices"), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].contains("HOSTNAME") && lines[1].contains("LAST SEEN"),
            "{text}"
        );
        assert!(
            lines[2].contains("servers") && lines[2].contains("seen-servers"),
            "{text}"
        );
        assert!(
            lines[3].contains("lab") && lines[3].contains("seen-lab"),
            "{text}"
        );
    }

    #[test]
    fn unknown_and_empty_queries_say_how_to_list_devices() {
        let devices = fleet();
        for query in ["nope", "ff", ""] {
            let text = resolve(&devices, query, never).unwrap_err().to_string();
            assert!(text.contains("forewarn-collector device list"), "{text}");
        }
        assert_eq!(
            resolve(&devices, "nope", never),
            Err(ResolveError::Unknown {
                query: "nope".into()
            })
        );
    }
}
