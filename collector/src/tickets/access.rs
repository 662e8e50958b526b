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
