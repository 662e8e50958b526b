//! The collector's `collector.toml`: TOML parsing, rules, groups and ticket
//! connectors. Properties: no panic; an error names the file, and a refused
//! config lists at least one problem; everything the running collector asks
//! of an accepted config (rules and policy per group, the rule book, the
//! certificate validity, the database path) works without panicking, as the
//! code relies on validation having run.
#![no_main]

use std::path::Path;

use forewarn_collector::config::{CollectorConfig, ConfigError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match CollectorConfig::from_toml(
        text,
        Path::new("collector.toml"),
        Path::new("/etc/forewarn"),
    ) {
        Ok(config) => {
            let _ = config.rule_book();
            let _ = config.device_cert_validity();
            let _ = config.database_path();
            let groups = config.groups.keys().cloned();
            for group in groups.chain(["default".to_owned(), "servers".to_owned()]) {
                let _ = config.rules_for(&group);
                let _ = config.policy_for(&group);
            }
        }
        Err(err) => {
            if let ConfigError::Invalid { problems, .. } = &err {
                assert!(!problems.is_empty(), "refused without a problem");
            }
            assert!(err.to_string().contains("collector.toml"), "{err}");
        }
    }
});
