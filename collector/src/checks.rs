//! The checks agents run, by the names config files use for them
//! (`groups.NAME.disabled_checks`, `tickets.policies[].checks`). Below both
//! configs, so neither has to import the other for the list.

/// Names of the checks an agent can run; policies may only name these.
pub const CHECK_NAMES: &[&str] = &["disks", "certificates", "patches", "backups"];
