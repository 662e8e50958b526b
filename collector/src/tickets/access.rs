//! `tickets test --connector NAME`: builds one configured connector and asks the
//! ticket system whether the credentials work and carry the rights the collector
//! needs, without creating anything. The answer is a list of plain-words problems,
//! for a person to act on.

use super::config::TicketsConfig;

/// Problems found for the named connector; empty when it is ready to use.
pub async fn test_connector(config: &TicketsConfig, name: &str) -> Vec<String> {
    let Some(connector_config) = config.connectors.get(name) else {
        let known = config.connectors.keys().cloned().collect::<Vec<_>>();
        return vec![if known.is_empty() {
            format!(
                "there is no connector {name:?}: no [tickets.connectors.*] section is configured"
            )
        } else {
            format!(
                "there is no connector {name:?}; configured: {}",
                known.join(", ")
            )
        }];
    };
    let prefix = format!("tickets.connectors.{name}");
    let mut problems: Vec<String> = config
        .problems()
        .into_iter()
        .filter(|p| p.starts_with(&prefix))
        .collect();
    if !problems.is_empty() {
        return problems;
    }
    match connector_config.build(name) {
        Ok(connector) => problems.extend(connector.check_access().await),
        Err(e) => problems.push(e.to_string()),
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_receiver_that_is_down_is_named_with_the_cause() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("hook-secret");
        std::fs::write(&secret, "It is a secret").unwrap();
        // A port that was just free: nothing listens on it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config: TicketsConfig = toml::from_str(&format!(
            "[connectors.hook]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = {{ file = {:?} }}\ntimeout_secs = 2\n",
            secret.display().to_string()
        ))
        .unwrap();
        let problems = test_connector(&config, "hook").await;
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].to_lowercase().contains("connection refused"),
            "{problems:?}"
        );
    }
}
