//! What the store keeps for the console: users, sessions, API tokens and the
//! audit log. Secrets never reach the store: passwords arrive as argon2id
//! PHC strings, session ids and token secrets as SHA-256 hex.

use async_trait::async_trait;

use super::StoreError;
use crate::console::authz::{Role, Scope};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub username: String,
    pub role: Role,
    pub scope: Scope,
    pub password_hash: String,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
    pub password_set_at: i64,
}

/// Changes to a user; `None` keeps the field.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub role: Option<Role>,
    pub scope: Option<Scope>,
    /// `Some(None)` enables, `Some(Some(at))` disables.
    pub disabled_at: Option<Option<i64>>,
    /// A new password hash, set at `now` of the call.
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id_hash: String,
    pub username: String,
    pub csrf_token: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_seen_at: i64,
    pub ip: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenRecord {
    pub id: String,
    pub secret_hash: String,
    pub name: String,
    /// The user whose rights also bound the token; `None` for a service token.
    pub owner: Option<String>,
    pub role: Role,
    pub scope: Scope,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// One audit row to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    pub at: i64,
    /// The user name, `token:<id>`, or `cli:<name>`.
    pub actor: String,
    /// Dotted verb: `session.login`, `alert.ack`, `user.create`...
    pub action: String,
    /// What it acted on, as people name it (user name, device id, alert id).
    pub target: String,
    pub detail: String,
    /// The client address, or `cli`.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub entry: NewAuditEntry,
}

/// Which audit rows to read: newest first, ids below `before_id`.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub before_id: Option<i64>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub limit: usize,
}

/// What deleting a device removed besides the device itself (its status,
/// forecasts and alert histories and deliveries go with their parents).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeletedDevice {
    pub hostname: String,
    pub group: String,
    pub reports: u64,
    pub disk_samples: u64,
    pub alerts: u64,
    /// Rows of the ticket ledger; the tickets in the helpdesk stay as they are.
    pub tickets: u64,
    pub silences: u64,
}

impl DeletedDevice {
    /// What was removed, for the audit log and the answer.
    pub fn summary(&self) -> String {
        format!(
            "removed {} reports, {} disk samples, {} alerts, {} ticket ledger rows, {} silences",
            self.reports, self.disk_samples, self.alerts, self.tickets, self.silences
        )
    }
}

/// The console's part of the store (a part of [`super::Store`], like the
/// ticket ledger), so every backend keeps users, sessions, tokens and audit.
#[async_trait]
pub trait ConsoleStore: Send + Sync {
    /// Inserts a user and writes `audit`, in one transaction; false (and
    /// no audit row) if the name is taken.
    async fn create_user(&self, user: UserRecord, audit: NewAuditEntry)
    -> Result<bool, StoreError>;
    async fn user(&self, username: &str) -> Result<Option<UserRecord>, StoreError>;
    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError>;
    /// Applies `update` at `audit.at` and writes `audit`, in one
    /// transaction; a new password or a disable also ends the user's
    /// sessions. False (and no audit row) if no such user.
    async fn update_user(
        &self,
        username: &str,
        update: UserUpdate,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError>;
    /// Stores a session (and drops sessions expired by its creation time)
    /// and writes `audit` (the sign-in), in one transaction.
    async fn create_session(
        &self,
        session: SessionRecord,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError>;
    async fn session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Records activity, for the idle timeout.
    async fn touch_session(&self, id_hash: &str, now: i64) -> Result<(), StoreError>;
    /// Ends a session and writes `audit` (a sign-out; `None` for a session
    /// that ran out), in one transaction. False (and no audit row) if no
    /// such session.
    async fn delete_session(
        &self,
        id_hash: &str,
        audit: Option<NewAuditEntry>,
    ) -> Result<bool, StoreError>;
    /// Stores a token and writes `audit`, in one transaction.
    async fn create_api_token(
        &self,
        token: ApiTokenRecord,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError>;
    async fn api_token_by_hash(
        &self,
        secret_hash: &str,
    ) -> Result<Option<ApiTokenRecord>, StoreError>;
    async fn list_api_tokens(&self) -> Result<Vec<ApiTokenRecord>, StoreError>;
    /// Revokes a token at `audit.at` (a revoked one keeps its first time)
    /// and writes `audit`, in one transaction; false (and no audit row) if
    /// no such token.
    async fn revoke_api_token(&self, id: &str, audit: NewAuditEntry) -> Result<bool, StoreError>;
    async fn touch_api_token(&self, id: &str, now: i64) -> Result<(), StoreError>;
    /// Appends an audit row; returns its id.
    async fn append_audit(&self, entry: NewAuditEntry) -> Result<i64, StoreError>;
    /// Audit rows, newest first.
    async fn list_audit(&self, query: AuditQuery) -> Result<Vec<AuditEntry>, StoreError>;
    /// Moves a device to another group and writes `audit`, in one
    /// transaction; false (and no audit row) if no such device.
    async fn move_device(
        &self,
        id: &str,
        group: &str,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError>;
    /// Brings a retired device back (its reports are accepted again) and
    /// writes `audit`, in one transaction; false (and no audit row) if no
    /// such device.
    async fn restore_device(&self, id: &str, audit: NewAuditEntry) -> Result<bool, StoreError>;
    /// Adds `note` by `by` to an alert's history (event `note`, state
    /// unchanged) and writes `audit`, in one transaction; false (and no
    /// audit row) if no such alert.
    async fn note_alert(
        &self,
        id: i64,
        by: &str,
        note: &str,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError>;
    /// Puts a failed delivery back in line (pending, due at `audit.at`,
    /// attempts reset) and writes `audit`, in one transaction; false if it
    /// is not failed or a later notification of its alert superseded it.
    async fn retry_delivery(&self, id: i64, audit: NewAuditEntry) -> Result<bool, StoreError>;
    /// Deletes a device and everything kept about it (reports, samples,
    /// forecasts, alerts with their histories and deliveries, ticket ledger
    /// rows, its silences) and writes `audit`, in one transaction; `None`
    /// if no such device.
    async fn delete_device(
        &self,
        id: &str,
        audit: NewAuditEntry,
    ) -> Result<Option<DeletedDevice>, StoreError>;
}
