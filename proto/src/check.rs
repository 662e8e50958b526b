//! The checks an agent runs, by the names both sides put on the wire
//! (`CheckRun.check`, `CheckError.check`, `Policy.disabled_checks`) and that
//! collector config uses (`disabled_checks`, ticket policies' `checks`).
//!
//! The wire keeps these as strings so a newer agent's check does not break
//! an older collector; this enum is the one list of the names that exist.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    Disks,
    Certificates,
    Patches,
    Backups,
}

impl CheckKind {
    pub const ALL: [Self; 4] = [
        Self::Disks,
        Self::Certificates,
        Self::Patches,
        Self::Backups,
    ];

    /// The names of [`Self::ALL`], in the same order (for messages listing them).
    pub const NAMES: [&'static str; 4] = [
        Self::Disks.as_str(),
        Self::Certificates.as_str(),
        Self::Patches.as_str(),
        Self::Backups.as_str(),
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Disks => "disks",
            Self::Certificates => "certificates",
            Self::Patches => "patches",
            Self::Backups => "backups",
        }
    }

    /// The check of a wire or config name; `None` for a name this build does not know.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_name_parses_back_and_unknown_names_do_not() {
        for kind in CheckKind::ALL {
            assert_eq!(CheckKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(
            CheckKind::NAMES,
            ["disks", "certificates", "patches", "backups"]
        );
        assert_eq!(CheckKind::parse("backup"), None);
    }
}
