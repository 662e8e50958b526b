//! Pure parser of Time Machine's preferences plist,
//! `/Library/Preferences/com.apple.TimeMachine.plist`, and what reading it
//! tells. Compiled and tested on every OS.
//!
//! The file is a binary plist on disk; its XML form (`plutil -convert xml1`)
//! parses too. Keys read, as they appear in real dumps:
//! - `AutoBackup`: automatic backups on (true) or off (false, what
//!   `tmutil disable` writes). Older tools wrote 0/1, so integers count too.
//! - `LastDestinationID`: the destination of the latest backup attempt.
//! - `Destinations[]`: per destination `DestinationID`, `RESULT` (the latest
//!   attempt's result code, 0 = success), `SnapshotDates` (UTC times of the
//!   completed backups) and, on newer macOS, `AttemptDates`.
//!
//! This is the only place Time Machine keeps a failure: `tmutil` shows none,
//! so without `RESULT` a failing Mac reports its last good backup as success.

use std::io::{self, Cursor, ErrorKind};

use plist::{Dictionary, Value};
use time::OffsetDateTime;

use super::parse::ParseError;
use super::tmutil::FULL_DISK_ACCESS_ADVICE;

pub const PREFERENCES_PATH: &str = "/Library/Preferences/com.apple.TimeMachine.plist";

/// What the preferences say about Time Machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    /// `None` when the key is absent (macOS then backs up automatically).
    pub auto_backup: Option<bool>,
    pub last_destination_id: Option<String>,
    pub destinations: Vec<PreferenceDestination>,
}

/// One entry of `Destinations`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreferenceDestination {
    pub id: String,
    /// The latest attempt's result code; 0 is success.
    pub result: Option<i64>,
    pub newest_snapshot_unix: Option<i64>,
    pub newest_attempt_unix: Option<i64>,
}

/// The preferences file, or the sign that Time Machine was never set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreferencesFile {
    /// macOS writes the file when Time Machine is first configured.
    NeverConfigured,
    Configured(Preferences),
}

/// A latest attempt that did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedAttempt {
    pub code: i64,
    pub attempt_unix: Option<i64>,
}

impl Preferences {
    /// The destination of the latest attempt: `LastDestinationID`'s, or the
    /// only destination when the key is missing.
    fn latest_attempt(&self) -> Option<&PreferenceDestination> {
        match &self.last_destination_id {
            Some(id) => self.destinations.iter().find(|d| &d.id == id),
            None if self.destinations.len() == 1 => self.destinations.first(),
            None => None,
        }
    }

    /// The latest attempt, when its `RESULT` is not success.
    pub fn failed_attempt(&self) -> Option<FailedAttempt> {
        let destination = self.latest_attempt()?;
        let code = destination.result.filter(|&code| code != 0)?;
        Some(FailedAttempt {
            code,
            attempt_unix: destination.newest_attempt_unix,
        })
    }

    /// The newest completed backup on any destination.
    pub fn newest_snapshot_unix(&self) -> Option<i64> {
        self.destinations
            .iter()
            .filter_map(|d| d.newest_snapshot_unix)
            .max()
    }
}

/// What reading the file gave: missing means never configured; denied means
/// the agent lacks Full Disk Access (the file is TCC-protected).
pub fn preferences_file(read: io::Result<Vec<u8>>) -> Result<PreferencesFile, String> {
    match read {
        Ok(bytes) => parse_preferences(&bytes)
            .map(PreferencesFile::Configured)
            .map_err(|err| format!("{PREFERENCES_PATH}: {err}")),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(PreferencesFile::NeverConfigured),
        Err(err) if err.kind() == ErrorKind::PermissionDenied => Err(format!(
            "permission denied: reading the Time Machine preferences needs Full Disk Access; {FULL_DISK_ACCESS_ADVICE} ({PREFERENCES_PATH}: {err})"
        )),
        Err(err) => Err(format!("cannot read {PREFERENCES_PATH}: {err}")),
    }
}

pub fn parse_preferences(bytes: &[u8]) -> Result<Preferences, ParseError> {
    let malformed = |message: String| ParseError::Text {
        what: "Time Machine preferences",
        message,
    };
    let value = Value::from_reader(Cursor::new(bytes)).map_err(|err| malformed(err.to_string()))?;
    let root = value
        .as_dictionary()
        .ok_or_else(|| malformed("the top level is not a dictionary".to_owned()))?;
    let auto_backup = match root.get("AutoBackup") {
        None => None,
        Some(Value::Boolean(on)) => Some(*on),
        Some(Value::Integer(n)) => Some(n.as_signed() != Some(0)),
        Some(other) => return Err(malformed(format!("AutoBackup is {other:?}"))),
    };
    let last_destination_id = root
        .get("LastDestinationID")
        .map(|v| {
            v.as_string()
                .map(str::to_owned)
                .ok_or_else(|| malformed("LastDestinationID is not a string".to_owned()))
        })
        .transpose()?;
    let destinations = match root.get("Destinations") {
        None => Vec::new(),
        Some(value) => value
            .as_array()
            .ok_or_else(|| malformed("Destinations is not an array".to_owned()))?
            .iter()
            .map(|d| {
                d.as_dictionary()
                    .ok_or_else(|| malformed("a destination is not a dictionary".to_owned()))
                    .and_then(|d| destination(d).map_err(malformed))
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(Preferences {
        auto_backup,
        last_destination_id,
        destinations,
    })
}

fn destination(d: &Dictionary) -> Result<PreferenceDestination, String> {
    let id = d
        .get("DestinationID")
        .and_then(Value::as_string)
        .ok_or("a destination has no DestinationID")?
        .to_owned();
    let result = d
        .get("RESULT")
        .map(|v| {
            v.as_signed_integer()
                .ok_or_else(|| format!("RESULT of {id} is not an integer"))
        })
        .transpose()?;
    Ok(PreferenceDestination {
        newest_snapshot_unix: newest_date(d, "SnapshotDates", &id)?,
        newest_attempt_unix: newest_date(d, "AttemptDates", &id)?,
        id,
        result,
    })
}

fn newest_date(d: &Dictionary, key: &str, id: &str) -> Result<Option<i64>, String> {
    let Some(value) = d.get(key) else {
        return Ok(None);
    };
    let dates = value
        .as_array()
        .ok_or_else(|| format!("{key} of {id} is not an array"))?;
    dates
        .iter()
        .map(|date| {
            date.as_date()
                .map(|date| {
                    OffsetDateTime::from(std::time::SystemTime::from(date)).unix_timestamp()
                })
                .ok_or_else(|| format!("{key} of {id} holds a non-date"))
        })
        .try_fold(None, |newest, date| Ok(newest.max(Some(date?))))
}

/// The job message for a failed attempt: the code in words where Apple's
/// strings for it are known, always with the code itself.
pub fn failure_message(code: i64) -> String {
    match result_words(code) {
        Some(words) if is_deferral(code) => {
            format!("last backup skipped: {words} (Time Machine code {code})")
        }
        Some(words) => format!("last backup failed: {words} (Time Machine error code {code})"),
        None => format!("last backup failed: Time Machine error code {code}"),
    }
}

/// Codes for an attempt Time Machine put off because of power or heat (on
/// battery, battery low, too hot). Laptops meet them daily; they are not a
/// failure to open a ticket for. A Mac that keeps putting backups off is caught
/// by the collector's "no success in N hours" rule instead.
pub fn is_deferral(code: i64) -> bool {
    (100..=102).contains(&code)
}

/// `RESULT` codes in short words. Source: the messages of Apple's
/// TimeMachinePrivate.framework Localizable.loctable as collected by
/// lukepistrol/TimeMachineStatus (issue #44, DESTINATION_ERROR_<code>_MESSAGE).
fn result_words(code: i64) -> Option<&'static str> {
    Some(match code {
        1 => "Time Machine could not be launched",
        2 => "error while starting the backup (anti-virus software may block writes)",
        3 | 6 => "the backup disk is not APFS or Mac OS Extended (Journaled)",
        4 => "cannot get the status of the backup disk",
        5 => "error while enabling ownership on the backup disk",
        7 => "only part of the backup completed: not enough free space on the backup disk",
        8 => "the backup disk is read-only",
        9 => "the backup disk does not have Access Control Lists enabled",
        10 | 300..=303 => "error while preparing the backup",
        11 | 402 => "a disk could not be backed up",
        12 => "error while linking files on the backup disk",
        14 => "error while removing expired backups",
        15 | 16 => "the backup disk is still full after removing expired backups",
        17 => "no backup disk is selected",
        18 => "the backup disk could not be found",
        19 => "the backup disk is not available",
        20 => "the backup disk image could not be created",
        21 => "the backup disk image could not be accessed",
        22 => "the backup was canceled",
        23 => "a case-sensitive disk cannot be backed up to this backup disk",
        24 => "two disks to back up have the same name",
        25 => "no disks were found to back up (all excluded?)",
        26 => "the network backup disk disconnected during the backup",
        27 => "the backup disk was ejected or disconnected during the backup",
        28 => "not enough space on the backup disk",
        29 => "wrong user name or password for the network backup disk",
        30 => "the backup could not be inherited for this Mac",
        31 => "the backup disk image is already in use",
        32 => "the backup disk image could not be found",
        33 => "the system date and time are wrong",
        37 => "a disk being backed up was ejected or disconnected",
        38 => "the backup disk image is read-only",
        39 => "the backup disk was encrypted but no longer is",
        42 => "the backups could not be verified",
        44 => "the backup disk image could not be deleted",
        45 => "the network backup disk does not support the required capabilities",
        49 => "a snapshot of a disk could not be created",
        50 => "a disk to back up is nearly full",
        52 => "the backup is encrypted with an empty password",
        53 => "wrong password for the backup disk image",
        60 => "backups are restricted by a managed profile",
        70 => "the backup disk image was ejected or disconnected during the backup",
        100 => "the Mac was running on battery power",
        101 => "the battery charge was low",
        102 => "the Mac was too hot",
        103 => "FileVault is encrypting or decrypting a disk",
        104 => "some files were unavailable while the Mac was locked",
        105 | 106 => "cloud files have not finished syncing",
        404 => "error while finishing the backup",
        406 => "a file's path is too long",
        450 => "error while sealing the backup",
        451 => "the backup disk's configuration is out of date; remove and re-add the disk",
        455 => "the backup disk's configuration is invalid; remove and re-add the disk",
        501 => {
            "the backups cannot be reliably restored; Time Machine must start a new backup history"
        }
        703 => "canceled so that a disk being backed up could be ejected",
        704 => "canceled so that the backup disk could be ejected",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL_ID: &str = "5B33C22B-A4A1-4024-A2F5-C9979C4AAAAA";
    /// 2014-01-04 13:38:38 UTC, the newest of the real dump's 13 SnapshotDates.
    const REAL_NEWEST_SNAPSHOT: i64 = 1_388_842_718;

    fn real_binary() -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/backups/macos/com.apple.TimeMachine-result-100.plist",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
    }

    fn fixture(name: &str) -> Vec<u8> {
        crate::fixtures::captured_output(&format!("backups/macos/{name}")).into_bytes()
    }

    #[test]
    fn real_binary_plist_gives_the_failed_attempt_and_the_newest_snapshot() {
        let prefs = parse_preferences(&real_binary()).unwrap();
        assert_eq!(prefs.auto_backup, Some(true));
        assert_eq!(prefs.last_destination_id.as_deref(), Some(REAL_ID));
        assert_eq!(
            prefs.destinations,
            [PreferenceDestination {
                id: REAL_ID.to_owned(),
                result: Some(100),
                newest_snapshot_unix: Some(REAL_NEWEST_SNAPSHOT),
                newest_attempt_unix: None,
            }]
        );
        assert_eq!(
            prefs.failed_attempt(),
            Some(FailedAttempt {
                code: 100,
                attempt_unix: None
            })
        );
        assert_eq!(prefs.newest_snapshot_unix(), Some(REAL_NEWEST_SNAPSHOT));
    }

    #[test]
    fn documented_xml_form_parses_like_the_binary_one() {
        let success = parse_preferences(&fixture("com.apple.TimeMachine-success.txt")).unwrap();
        assert_eq!(success.destinations[0].result, Some(0));
        assert_eq!(success.failed_attempt(), None);
        assert_eq!(success.newest_snapshot_unix(), Some(REAL_NEWEST_SNAPSHOT));
        assert_eq!(success.auto_backup, Some(true));
        let off = parse_preferences(&fixture("com.apple.TimeMachine-auto-backup-off.txt")).unwrap();
        assert_eq!(off.auto_backup, Some(false));
    }

    #[test]
    fn the_latest_attempt_is_last_destination_ids() {
        let dest = |id: &str, result| PreferenceDestination {
            id: id.to_owned(),
            result: Some(result),
            newest_snapshot_unix: Some(10),
            newest_attempt_unix: Some(20),
        };
        let mut prefs = Preferences {
            auto_backup: Some(true),
            last_destination_id: Some("B".to_owned()),
            destinations: vec![dest("A", 0), dest("B", 26)],
        };
        assert_eq!(
            prefs.failed_attempt(),
            Some(FailedAttempt {
                code: 26,
                attempt_unix: Some(20)
            })
        );
        prefs.last_destination_id = Some("A".to_owned());
        assert_eq!(prefs.failed_attempt(), None);
        // Two destinations and no LastDestinationID: which one ran is unknown.
        prefs.last_destination_id = None;
        assert_eq!(prefs.failed_attempt(), None);
        prefs.destinations.remove(0);
        assert_eq!(prefs.failed_attempt().map(|f| f.code), Some(26));
    }

    #[test]
    fn auto_backup_as_an_integer_counts() {
        let xml = |v: &str| {
            format!(r#"<plist version="1.0"><dict><key>AutoBackup</key>{v}</dict></plist>"#)
        };
        let parse = |v| parse_preferences(xml(v).as_bytes()).map(|p| p.auto_backup);
        assert_eq!(parse("<integer>0</integer>"), Ok(Some(false)));
        assert_eq!(parse("<integer>1</integer>"), Ok(Some(true)));
        assert_eq!(parse("<false/>"), Ok(Some(false)));
        assert!(parse("<string>yes</string>").is_err());
        let none = parse_preferences(b"<plist version=\"1.0\"><dict/></plist>").unwrap();
        assert_eq!(none, Preferences::default());
    }

    #[test]
    fn malformed_plist_is_an_error_naming_the_file() {
        let truncated = preferences_file(Ok(fixture("com.apple.TimeMachine-truncated.txt")));
        let err = truncated.unwrap_err();
        assert!(
            err.starts_with(
                "/Library/Preferences/com.apple.TimeMachine.plist: unexpected Time Machine preferences output:"
            ),
            "{err}"
        );
        let mut cut = real_binary();
        cut.truncate(cut.len() / 2);
        assert!(parse_preferences(&cut).is_err());
        for bad in [
            &b""[..],
            b"not a plist",
            b"<plist version=\"1.0\"><array/></plist>",
            b"<plist version=\"1.0\"><dict><key>Destinations</key><dict/></dict></plist>",
            b"<plist version=\"1.0\"><dict><key>Destinations</key><array><dict><key>RESULT</key><integer>0</integer></dict></array></dict></plist>",
            b"<plist version=\"1.0\"><dict><key>Destinations</key><array><dict><key>DestinationID</key><string>A</string><key>RESULT</key><string>0</string></dict></array></dict></plist>",
            b"<plist version=\"1.0\"><dict><key>Destinations</key><array><dict><key>DestinationID</key><string>A</string><key>SnapshotDates</key><array><string>2014-01-04</string></array></dict></array></dict></plist>",
        ] {
            assert!(
                parse_preferences(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn missing_file_means_never_configured() {
        let dir = tempfile::tempdir().unwrap();
        let read = std::fs::read(dir.path().join("com.apple.TimeMachine.plist"));
        assert_eq!(preferences_file(read), Ok(PreferencesFile::NeverConfigured));
    }

    #[test]
    fn denied_read_is_the_full_disk_access_probe_error() {
        // Without Full Disk Access macOS refuses this file (xbar-plugins
        // issue #1830: "Error Reading File: .../com.apple.TimeMachine.plist",
        // gone once Full Disk Access was granted); TCC refusals are EPERM
        // ("Operation not permitted"), errno 1 on macOS and Linux alike.
        let err = preferences_file(Err(io::Error::from_raw_os_error(1))).unwrap_err();
        assert!(err.starts_with("permission denied: "), "{err}");
        assert!(err.contains("needs Full Disk Access"), "{err}");
        assert!(
            err.contains("Privacy & Security > Full Disk Access"),
            "{err}"
        );
        assert!(err.contains(PREFERENCES_PATH), "{err}");
        let other = preferences_file(Err(io::Error::other("disk on fire"))).unwrap_err();
        assert!(other.starts_with("cannot read "), "{other}");
    }

    #[test]
    fn result_codes_in_words_and_unknown_codes_by_number() {
        assert_eq!(
            failure_message(18),
            "last backup failed: the backup disk could not be found (Time Machine error code 18)"
        );
        assert_eq!(
            failure_message(100),
            "last backup skipped: the Mac was running on battery power (Time Machine code 100)"
        );
        assert!(is_deferral(102) && !is_deferral(103) && !is_deferral(18));
        assert_eq!(
            failure_message(302),
            "last backup failed: error while preparing the backup (Time Machine error code 302)"
        );
        assert_eq!(
            failure_message(999),
            "last backup failed: Time Machine error code 999"
        );
        assert_eq!(
            failure_message(-1),
            "last backup failed: Time Machine error code -1"
        );
    }
}
