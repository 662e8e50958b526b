//! Who a verified ID token makes of its bearer: the user name and the role
//! and groups that `[console.oidc] mappings` grant. Pure: the claims are
//! already verified (signature, issuer, audience, expiry, nonce).

use serde_json::{Map, Value};

use crate::console::api::admin::valid_username;
use crate::console::authz::{Role, Scope};
use crate::console::config::OidcConfig;

/// The console user an ID token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedUser {
    pub username: String,
    pub role: Role,
    pub scope: Scope,
    /// The claim value whose mapping granted them, for the audit log.
    pub matched: String,
}

/// Why a verified ID token still does not sign anyone in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error(
        "the ID token has no usable claim {claim:?} for the user name; set console.oidc.username_claim to a claim your provider sends"
    )]
    NoUsername { claim: String },
    #[error(
        "the ID token's user name {name:?} (claim {claim:?}) is not a valid console user name (letters, digits, '-', '_', '.', '@', at most 64)"
    )]
    BadUsername { claim: String, name: String },
    #[error(
        "{username} signed in at the provider, but claim {claim:?} holds none of the values mapped to a role in [console.oidc] mappings (it holds {held:?}): ask a Forewarn admin to map one of them, or your provider's admin to grant you one"
    )]
    NoRole {
        username: String,
        claim: String,
        held: Vec<String>,
    },
}

/// Maps verified `claims` to a console user, first matching mapping first.
pub fn map_claims(
    claims: &Map<String, Value>,
    config: &OidcConfig,
) -> Result<MappedUser, MappingError> {
    let username = claims
        .get(&config.username_claim)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .ok_or_else(|| MappingError::NoUsername {
            claim: config.username_claim.clone(),
        })?;
    if !valid_username(username) {
        return Err(MappingError::BadUsername {
            claim: config.username_claim.clone(),
            name: username.to_owned(),
        });
    }
    let held: Vec<String> = match claims.get(&config.role_claim) {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    config
        .mappings
        .iter()
        .find(|mapping| held.contains(&mapping.value))
        .and_then(|mapping| {
            Some(MappedUser {
                username: username.to_owned(),
                role: mapping.role,
                scope: mapping.scope().ok()?,
                matched: mapping.value.clone(),
            })
        })
        .ok_or_else(|| MappingError::NoRole {
            username: username.to_owned(),
            claim: config.role_claim.clone(),
            held,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> OidcConfig {
        toml::from_str(
            r#"
            issuer_url = "https://login.example.com"
            client_id = "forewarn"
            client_secret = { env = "SECRET" }
            redirect_url = "https://forewarn.example.com/api/v1/session/oidc/callback"
            mappings = [
                { value = "it-admins", role = "admin", groups = ["*"] },
                { value = "helpdesk", role = "operator", groups = ["laptops", "kiosks"] },
                { value = "staff", role = "viewer", groups = ["laptops"] },
            ]
            "#,
        )
        .unwrap()
    }

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn first_listed_mapping_the_claim_holds_wins() {
        let user = map_claims(
            &claims(json!({"preferred_username": "olga", "groups": ["staff", "helpdesk"]})),
            &config(),
        )
        .unwrap();
        assert_eq!(user.username, "olga");
        assert_eq!(user.role, Role::Operator);
        assert_eq!(
            user.scope,
            Scope::Groups(["kiosks".to_string(), "laptops".to_string()].into())
        );
        assert_eq!(user.matched, "helpdesk");
    }

    #[test]
    fn a_single_string_claim_maps_too() {
        let user = map_claims(
            &claims(json!({"preferred_username": "root@example.com", "groups": "it-admins"})),
            &config(),
        )
        .unwrap();
        assert_eq!((user.role, user.scope), (Role::Admin, Scope::All));
    }

    #[test]
    fn no_mapped_value_is_refused_naming_what_the_claim_holds() {
        let err = map_claims(
            &claims(json!({"preferred_username": "olga", "groups": ["sales"]})),
            &config(),
        )
        .unwrap_err();
        assert!(matches!(err, MappingError::NoRole { ref held, .. } if held == &["sales"]));
        let message = err.to_string();
        assert!(
            message.contains("olga") && message.contains("\"groups\""),
            "{message}"
        );
        let err = map_claims(&claims(json!({"preferred_username": "olga"})), &config());
        assert!(matches!(err, Err(MappingError::NoRole { .. })));
    }

    #[test]
    fn user_name_must_be_present_and_plain() {
        assert!(matches!(
            map_claims(&claims(json!({"groups": ["staff"]})), &config()),
            Err(MappingError::NoUsername { .. })
        ));
        assert!(matches!(
            map_claims(
                &claims(json!({"preferred_username": "a b", "groups": ["staff"]})),
                &config()
            ),
            Err(MappingError::BadUsername { .. })
        ));
    }
}
