//! Ticket connectors as the console shows them, and "Send test": the check
//! `forewarn-collector tickets test --connector NAME` runs
//! ([`crate::tickets::access::test_connector`]), started from the settings
//! page. A ticket system is asked whether the address, credentials and
//! rights work, without creating a ticket; a webhook or chat channel gets a
//! test message. Connectors are set in the collector's config, so the
//! console can test them but not change them.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;

use crate::console::auth::Caller;
use crate::console::authz::{Action, can};
use crate::console::error::{ApiError, ErrorBody};
use crate::console::state::ConsoleState;
use crate::tickets::access;
use crate::tickets::config::ConnectorConfig;

/// The `kind` of a connector, as written in `[tickets.connectors.NAME]`.
pub fn kind(config: &ConnectorConfig) -> &'static str {
    match config {
        ConnectorConfig::RequestTracker(_) => "request_tracker",
        ConnectorConfig::Servicenow(_) => "servicenow",
        ConnectorConfig::Jira(_) => "jira",
        ConnectorConfig::Zendesk(_) => "zendesk",
        ConnectorConfig::Freshservice(_) => "freshservice",
        ConnectorConfig::Webhook(_) => "webhook",
        ConnectorConfig::Email(_) => "email",
        ConnectorConfig::Slack(_) => "slack",
        ConnectorConfig::Teams(_) => "teams",
    }
}

/// What "Send test" found.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectorTest {
    pub connector: String,
    /// The connector's kind (`jira`, `webhook`, …).
    pub kind: String,
    /// Whether the connector is ready: address, credentials and rights work.
    pub ok: bool,
    /// What the ticket system (or its absence) said, each problem in plain
    /// words; empty when `ok`.
    pub problems: Vec<String>,
    /// What was checked, or what to do next.
    pub message: String,
}

/// The answer for a connector's problems. Pure.
pub fn outcome(name: &str, config: &ConnectorConfig, problems: Vec<String>) -> ConnectorTest {
    let message = if problems.is_empty() {
        if config.keeps_tickets() {
            format!("{name}: address, credentials and rights are fine; no ticket was created")
        } else {
            format!("{name}: the test message was accepted; check that it arrived")
        }
    } else {
        format!(
            "check [tickets.connectors.{name}] in the collector's config (address, user, \
             the secret it names) and the account's rights in the ticket system; restart \
             the collector after a change, then send the test again"
        )
    };
    ConnectorTest {
        connector: name.to_owned(),
        kind: kind(config).to_owned(),
        ok: problems.is_empty(),
        problems,
        message,
    }
}

/// Test a ticket connector (admin over all groups): the check of
/// `forewarn-collector tickets test`. Answers 200 with what was found,
/// ready or not.
#[utoipa::path(post, path = "/connectors/{name}/test", tag = "admin", params(("name" = String, Path, description = "as in [tickets.connectors.NAME]")),
    responses((status = 200, body = ConnectorTest), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn test(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<ConnectorTest>, ApiError> {
    if !can(&caller.principal, Action::ManageUsers, None) {
        return Err(ApiError::forbidden(format!(
            "testing a ticket connector needs the admin role over all groups; you are {} over {}",
            caller.principal.role,
            caller.principal.scope.to_list().join(", ")
        )));
    }
    let Some(config) = state.settings.tickets.connectors.get(&name) else {
        return Err(ApiError::not_found("ticket connector", &name));
    };
    let problems = access::test_connector(&state.settings.tickets, &name).await;
    let result = outcome(&name, config, problems);
    let detail = if result.ok {
        "ready".to_owned()
    } else {
        result.problems.join("; ")
    };
    caller
        .audit(&state, "connector.test", &name, detail)
        .await?;
    Ok(Json(result))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::config::TicketsConfig;

    fn connector(table: &str) -> ConnectorConfig {
        let config: TicketsConfig = toml::from_str(&format!("[connectors.desk]\n{table}")).unwrap();
        config.connectors["desk"].clone()
    }

    #[test]
    fn the_outcome_says_what_was_checked_or_what_to_fix() {
        let jira = connector(
            "kind = \"jira\"\nurl = \"https://jira.example\"\nproject = \"IT\"\ntoken = { env = \"JIRA_TOKEN\" }",
        );
        let ready = outcome("desk", &jira, Vec::new());
        assert!(ready.ok);
        assert_eq!(ready.kind, "jira");
        assert!(
            ready.message.contains("no ticket was created"),
            "{}",
            ready.message
        );
        let broken = outcome("desk", &jira, vec!["401 from https://jira.example".into()]);
        assert!(!broken.ok);
        assert!(
            broken.message.contains("[tickets.connectors.desk]"),
            "{}",
            broken.message
        );
        let hook = connector(
            "kind = \"webhook\"\nurl = \"https://hooks.example\"\nsecret = { env = \"HOOK\" }",
        );
        assert!(
            outcome("desk", &hook, Vec::new())
                .message
                .contains("test message")
        );
    }
}
