//! Who may do what to which group: roles, group scopes and the one pure
//! decision, [`can`]. Handlers ask it; nothing else decides.
//!
//! A role orders rights (viewer < operator < admin); a scope bounds them to
//! all groups or a list of groups. Fleet-wide things (users, API tokens of
//! others, the audit log, the collector's own alerts) need all groups.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Rights, from least to most.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads the fleet, alerts and silences of its groups.
    Viewer,
    /// Also acknowledges alerts, silences, retires, restores and moves devices.
    Operator,
    /// Also manages enrollment tokens; with all groups, users, API tokens and the audit log.
    Admin,
}

impl Role {
    pub const ALL: [Self; 3] = [Self::Viewer, Self::Operator, Self::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The groups a user or token reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Groups(BTreeSet<String>),
}

impl Scope {
    /// Stored form: `*` or a comma-separated list.
    pub fn to_stored(&self) -> String {
        match self {
            Self::All => "*".into(),
            Self::Groups(groups) => groups.iter().cloned().collect::<Vec<_>>().join(","),
        }
    }

    pub fn from_stored(text: &str) -> Self {
        if text == "*" {
            Self::All
        } else {
            Self::Groups(
                text.split(',')
                    .filter(|g| !g.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )
        }
    }

    /// From the API's and command line's form: `None` or `["*"]` means all.
    pub fn from_list(groups: Option<&[String]>) -> Result<Self, String> {
        match groups {
            None => Ok(Self::All),
            Some(list) if list.iter().any(|g| g == "*") => Ok(Self::All),
            Some(list) => {
                if let Some(bad) = list.iter().find(|g| !valid_group(g)) {
                    return Err(format!(
                        "invalid group name {bad:?}: use letters, digits, '-', '_' or '.' (at most 64)"
                    ));
                }
                if list.is_empty() {
                    return Err("give at least one group, or \"*\" for all groups".into());
                }
                Ok(Self::Groups(list.iter().cloned().collect()))
            }
        }
    }

    /// The API's form: `["*"]` or the group names.
    pub fn to_list(&self) -> Vec<String> {
        match self {
            Self::All => vec!["*".into()],
            Self::Groups(groups) => groups.iter().cloned().collect(),
        }
    }

    pub fn contains(&self, group: &str) -> bool {
        match self {
            Self::All => true,
            Self::Groups(groups) => groups.contains(group),
        }
    }

    pub fn is_all(&self) -> bool {
        matches!(self, Self::All)
    }

    /// Whether every group `other` reaches, this one reaches too.
    pub fn covers(&self, other: &Scope) -> bool {
        match (self, other) {
            (Self::All, _) => true,
            (Self::Groups(_), Self::All) => false,
            (Self::Groups(mine), Self::Groups(theirs)) => theirs.is_subset(mine),
        }
    }

    /// The groups both reach.
    pub fn intersect(&self, other: &Scope) -> Scope {
        match (self, other) {
            (Self::All, s) | (s, Self::All) => s.clone(),
            (Self::Groups(a), Self::Groups(b)) => {
                Self::Groups(a.intersection(b).cloned().collect())
            }
        }
    }
}

/// A group name as enrollment tokens accept it.
pub fn valid_group(group: &str) -> bool {
    !group.is_empty()
        && group.len() <= 64
        && group
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Who is asking: a signed-in user or an API token, with the rights in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// As the audit log names them: the user name, or `token:<id>`.
    pub name: String,
    pub role: Role,
    pub scope: Scope,
}

impl Principal {
    /// A token's rights bounded by its owner's current rights: a token never
    /// outlives a demotion of the user who made it.
    pub fn narrowed(self, role: Role, scope: &Scope) -> Self {
        Self {
            role: self.role.min(role),
            scope: self.scope.intersect(scope),
            ..self
        }
    }
}

/// What a request wants to do; `group` is the device group it touches, or
/// `None` for fleet-wide things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    AckAlert,
    Silence,
    ManageDevice,
    /// Put a failed ticket delivery back in line.
    RetryDelivery,
    /// Delete a device and everything kept about it.
    DeleteDevice,
    ManageEnrollment,
    ManageUsers,
    ReadAudit,
    /// Create or revoke API tokens of one's own (bounded by one's own rights).
    OwnApiTokens,
    /// List or revoke every API token.
    ManageApiTokens,
}

impl Action {
    fn needs(self) -> Role {
        match self {
            Self::Read | Self::OwnApiTokens => Role::Viewer,
            Self::AckAlert | Self::Silence | Self::ManageDevice | Self::RetryDelivery => {
                Role::Operator
            }
            Self::DeleteDevice
            | Self::ManageEnrollment
            | Self::ManageUsers
            | Self::ReadAudit
            | Self::ManageApiTokens => Role::Admin,
        }
    }

    /// Fleet-wide actions: only a principal over all groups may take them,
    /// since they could reach any group (make a user for it, read its audit).
    fn fleet_wide(self) -> bool {
        matches!(
            self,
            Self::ManageUsers | Self::ReadAudit | Self::ManageApiTokens
        )
    }
}

/// Whether `principal` may take `action` on `group` (`None`: on something
/// that belongs to no group, which needs all groups).
pub fn can(principal: &Principal, action: Action, group: Option<&str>) -> bool {
    if principal.role < action.needs() {
        return false;
    }
    if action.fleet_wide() {
        return principal.scope.is_all();
    }
    match group {
        Some(group) => principal.scope.contains(group),
        None => principal.scope.is_all() || action == Action::OwnApiTokens,
    }
}

/// Whether `principal` may see `group`'s things at all: out-of-scope things
/// answer 404, as if they did not exist.
pub fn sees(principal: &Principal, group: &str) -> bool {
    can(principal, Action::Read, Some(group))
}

/// Whether `principal` may hand out `role` over `scope` (a user, a token):
/// never more than it has itself.
pub fn may_grant(principal: &Principal, role: Role, scope: &Scope) -> bool {
    role <= principal.role && principal.scope.covers(scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role, groups: &[&str]) -> Principal {
        Principal {
            name: "p".into(),
            role,
            scope: if groups == ["*"] {
                Scope::All
            } else {
                Scope::Groups(groups.iter().map(|g| g.to_string()).collect())
            },
        }
    }

    #[test]
    fn decisions_as_data() {
        use Action::*;
        use Role::*;
        // role, groups, action, on group, allowed
        type Case = (
            Role,
            &'static [&'static str],
            Action,
            Option<&'static str>,
            bool,
        );
        let cases: &[Case] = &[
            (Viewer, &["*"], Read, Some("laptops"), true),
            (Viewer, &["*"], AckAlert, Some("laptops"), false),
            (Viewer, &["*"], Read, None, true),
            (Viewer, &["laptops"], Read, Some("laptops"), true),
            (Viewer, &["laptops"], Read, Some("servers"), false),
            (Viewer, &["laptops"], Read, None, false),
            (Viewer, &["laptops"], OwnApiTokens, None, true),
            (Operator, &["laptops"], AckAlert, Some("laptops"), true),
            (Operator, &["laptops"], AckAlert, Some("servers"), false),
            (Operator, &["laptops"], Silence, Some("laptops"), true),
            (Operator, &["laptops"], Silence, None, false),
            (Operator, &["*"], Silence, None, true),
            (Operator, &["laptops"], ManageDevice, Some("laptops"), true),
            (Operator, &["*"], ManageEnrollment, Some("laptops"), false),
            (Admin, &["laptops"], ManageEnrollment, Some("laptops"), true),
            (
                Admin,
                &["laptops"],
                ManageEnrollment,
                Some("servers"),
                false,
            ),
            (Admin, &["laptops"], ManageUsers, None, false),
            (Admin, &["laptops"], ReadAudit, None, false),
            (Admin, &["laptops"], ManageApiTokens, None, false),
            (Admin, &["*"], ManageUsers, None, true),
            (Admin, &["*"], ReadAudit, None, true),
            (Operator, &["*"], ManageUsers, None, false),
            (Operator, &["laptops"], RetryDelivery, Some("laptops"), true),
            (Operator, &["laptops"], RetryDelivery, None, false),
            (Viewer, &["*"], RetryDelivery, Some("laptops"), false),
            (Operator, &["*"], DeleteDevice, Some("laptops"), false),
            (Admin, &["laptops"], DeleteDevice, Some("laptops"), true),
            (Admin, &["laptops"], DeleteDevice, Some("servers"), false),
        ];
        for (role, groups, action, group, want) in cases {
            let principal = who(*role, groups);
            assert_eq!(
                can(&principal, *action, *group),
                *want,
                "{role} over {groups:?} doing {action:?} on {group:?}"
            );
        }
    }

    #[test]
    fn grants_never_exceed_the_granter() {
        let admin_laptops = who(Role::Admin, &["laptops"]);
        let laptops = Scope::Groups(["laptops".to_string()].into());
        assert!(may_grant(&admin_laptops, Role::Admin, &laptops));
        assert!(!may_grant(&admin_laptops, Role::Viewer, &Scope::All));
        let operator = who(Role::Operator, &["*"]);
        assert!(!may_grant(&operator, Role::Admin, &laptops));
        assert!(may_grant(&operator, Role::Operator, &Scope::All));
    }

    #[test]
    fn token_is_bounded_by_its_owner() {
        let token = who(Role::Admin, &["*"]);
        let owner_scope = Scope::Groups(["laptops".to_string()].into());
        let narrowed = token.narrowed(Role::Viewer, &owner_scope);
        assert_eq!(narrowed.role, Role::Viewer);
        assert_eq!(narrowed.scope, owner_scope);
    }

    #[test]
    fn scope_round_trips_and_validates() {
        let scope = Scope::from_list(Some(&["b".into(), "a".into()])).unwrap();
        assert_eq!(scope.to_stored(), "a,b");
        assert_eq!(Scope::from_stored("a,b"), scope);
        assert_eq!(Scope::from_stored("*"), Scope::All);
        assert_eq!(Scope::from_list(None).unwrap(), Scope::All);
        assert!(Scope::from_list(Some(&["a,b".into()])).is_err());
        assert!(Scope::from_list(Some(&[])).is_err());
    }
}
