//! The agent's `agent.toml`: TOML parsing, `deny_unknown_fields` and every
//! check's validation. Properties: no panic; an error names the file, and a
//! refused config lists at least one problem; an accepted config holds the
//! bounds validation promises.
#![no_main]

use std::path::Path;

use forewarn_agent::config::{AgentConfig, ConfigError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match AgentConfig::from_toml(text, Path::new("agent.toml")) {
        Ok(config) => {
            assert!(config.spool.max_reports >= 1);
            assert!(config.spool.max_bytes >= 64 * 1024);
        }
        Err(err) => {
            if let ConfigError::Invalid { problems, .. } = &err {
                assert!(!problems.is_empty(), "refused without a problem");
            }
            assert!(err.to_string().contains("agent.toml"), "{err}");
        }
    }
});
