//! SQL for the console on PostgreSQL: users, sessions, API tokens, audit rows.

use async_trait::async_trait;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};

use super::PostgresStore;
use crate::console::authz::{Role, Scope};
use crate::store::StoreError;
use crate::store::console::{
    ApiTokenRecord, AuditEntry, AuditQuery, ConsoleStore, DeletedDevice, NewAuditEntry,
    SessionRecord, UserRecord, UserUpdate,
};

fn role_from(text: &str) -> Role {
    // Written only by this module from `Role::as_str`; an unknown value
    // (a newer release's role) reads as the least right.
    Role::parse(text).unwrap_or(Role::Viewer)
}

const USER_COLUMNS: &str =
    "username, role, groups, password_hash, created_at, disabled_at, password_set_at";

fn user_from_row(row: &Row) -> UserRecord {
    UserRecord {
        username: row.get(0),
        role: role_from(row.get(1)),
        scope: Scope::from_stored(row.get(2)),
        password_hash: row.get(3),
        created_at: row.get(4),
        disabled_at: row.get(5),
        password_set_at: row.get(6),
    }
}

const SESSION_COLUMNS: &str =
    "id_hash, username, csrf_token, created_at, expires_at, last_seen_at, ip";

const TOKEN_COLUMNS: &str = "id, secret_hash, name, owner, role, groups, created_by, created_at, expires_at, last_used_at, revoked_at";

fn token_from_row(row: &Row) -> ApiTokenRecord {
    ApiTokenRecord {
        id: row.get(0),
        secret_hash: row.get(1),
        name: row.get(2),
        owner: row.get(3),
        role: role_from(row.get(4)),
        scope: Scope::from_stored(row.get(5)),
        created_by: row.get(6),
        created_at: row.get(7),
        expires_at: row.get(8),
        last_used_at: row.get(9),
        revoked_at: row.get(10),
    }
}

pub(super) async fn append_audit_in(
    c: &impl GenericClient,
    e: &NewAuditEntry,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO console_audit (at, actor, action, target, detail, source)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[&e.at, &e.actor, &e.action, &e.target, &e.detail, &e.source],
    )
    .await?;
    Ok(())
}

impl PostgresStore {
    /// One change and, when it touched a row, its audit row, in one
    /// transaction: a refused change leaves no audit row, a done one always
    /// has its row. Answers whether the change touched a row.
    pub(super) async fn execute_audited(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        audit: &NewAuditEntry,
    ) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let changed = tx.execute(sql, params).await? > 0;
        if changed {
            append_audit_in(&*tx, audit).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }
}

async fn delete_device_in(
    c: &impl GenericClient,
    id: &str,
) -> Result<Option<DeletedDevice>, StoreError> {
    let Some(row) = c
        .query_opt(
            "SELECT hostname, group_name FROM devices WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?
    else {
        return Ok(None);
    };
    c.execute(
        "DELETE FROM alert_tickets WHERE alert_id IN (SELECT id FROM alerts WHERE device_id = $1)
            OR ticket_id IN (SELECT id FROM tickets WHERE device_id = $1)",
        &[&id],
    )
    .await?;
    for table in ["alert_outbox", "alert_transitions"] {
        c.execute(
            &format!(
                "DELETE FROM {table} WHERE alert_id IN (SELECT id FROM alerts WHERE device_id = $1)"
            ),
            &[&id],
        )
        .await?;
    }
    let mut counts = [0u64; 5];
    for (n, table) in [
        "status_history",
        "disk_samples",
        "alerts",
        "tickets",
        "silences",
    ]
    .into_iter()
    .enumerate()
    {
        counts[n] = c
            .execute(&format!("DELETE FROM {table} WHERE device_id = $1"), &[&id])
            .await?;
    }
    for sql in [
        "DELETE FROM disk_days WHERE device_id = $1",
        "DELETE FROM disk_forecasts WHERE device_id = $1",
        "DELETE FROM device_status WHERE device_id = $1",
        "DELETE FROM devices WHERE id = $1",
    ] {
        c.execute(sql, &[&id]).await?;
    }
    let [reports, disk_samples, alerts, tickets, silences] = counts;
    Ok(Some(DeletedDevice {
        hostname: row.get(0),
        group: row.get(1),
        reports,
        disk_samples,
        alerts,
        tickets,
        silences,
    }))
}

#[async_trait]
impl ConsoleStore for PostgresStore {
    async fn create_user(
        &self,
        user: UserRecord,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError> {
        self.execute_audited(
            &format!("INSERT INTO console_users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (username) DO NOTHING"),
            &[
                &user.username,
                &user.role.as_str(),
                &user.scope.to_stored(),
                &user.password_hash,
                &user.created_at,
                &user.disabled_at,
                &user.password_set_at,
            ],
            &audit,
        )
        .await
    }

    async fn user(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!("SELECT {USER_COLUMNS} FROM console_users WHERE username = $1"),
                &[&username],
            )
            .await?;
        Ok(row.as_ref().map(user_from_row))
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!("SELECT {USER_COLUMNS} FROM console_users ORDER BY username"),
                &[],
            )
            .await?;
        Ok(rows.iter().map(user_from_row).collect())
    }

    /// The user's row, on a disable or a new password the removal of their
    /// sessions, and the audit row commit together: no collector sees one
    /// without the others.
    async fn update_user(
        &self,
        username: &str,
        update: UserUpdate,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let changed = tx
            .execute(
                "UPDATE console_users SET
                   role = COALESCE($2::TEXT, role),
                   groups = COALESCE($3::TEXT, groups),
                   disabled_at = CASE WHEN $4 THEN $5::BIGINT ELSE disabled_at END,
                   password_hash = COALESCE($6::TEXT, password_hash),
                   password_set_at = CASE WHEN $6::TEXT IS NULL THEN password_set_at ELSE $7 END
                 WHERE username = $1",
                &[
                    &username,
                    &update.role.map(Role::as_str),
                    &update.scope.as_ref().map(Scope::to_stored),
                    &update.disabled_at.is_some(),
                    &update.disabled_at.flatten(),
                    &update.password_hash,
                    &audit.at,
                ],
            )
            .await?;
        if changed > 0 && (update.password_hash.is_some() || update.disabled_at.flatten().is_some())
        {
            tx.execute(
                "DELETE FROM console_sessions WHERE username = $1",
                &[&username],
            )
            .await?;
        }
        if changed > 0 {
            append_audit_in(&*tx, &audit).await?;
        }
        tx.commit().await?;
        Ok(changed > 0)
    }

    async fn create_session(
        &self,
        session: SessionRecord,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // Expired sessions are swept here: a login is rare enough to pay for it.
        tx.execute(
            "DELETE FROM console_sessions WHERE expires_at <= $1",
            &[&session.created_at],
        )
        .await?;
        tx.execute(
            &format!(
                "INSERT INTO console_sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ),
            &[
                &session.id_hash,
                &session.username,
                &session.csrf_token,
                &session.created_at,
                &session.expires_at,
                &session.last_seen_at,
                &session.ip,
            ],
        )
        .await?;
        append_audit_in(&*tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!("SELECT {SESSION_COLUMNS} FROM console_sessions WHERE id_hash = $1"),
                &[&id_hash],
            )
            .await?;
        Ok(row.map(|row| SessionRecord {
            id_hash: row.get(0),
            username: row.get(1),
            csrf_token: row.get(2),
            created_at: row.get(3),
            expires_at: row.get(4),
            last_seen_at: row.get(5),
            ip: row.get(6),
        }))
    }

    async fn touch_session(&self, id_hash: &str, now: i64) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "UPDATE console_sessions SET last_seen_at = $2 WHERE id_hash = $1",
            &[&id_hash, &now],
        )
        .await?;
        Ok(())
    }

    async fn delete_session(
        &self,
        id_hash: &str,
        audit: Option<NewAuditEntry>,
    ) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let ended = tx
            .execute(
                "DELETE FROM console_sessions WHERE id_hash = $1",
                &[&id_hash],
            )
            .await?
            > 0;
        if let Some(audit) = audit.filter(|_| ended) {
            append_audit_in(&*tx, &audit).await?;
        }
        tx.commit().await?;
        Ok(ended)
    }

    async fn create_api_token(
        &self,
        token: ApiTokenRecord,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        tx.execute(
            &format!("INSERT INTO console_api_tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"),
            &[
                &token.id,
                &token.secret_hash,
                &token.name,
                &token.owner,
                &token.role.as_str(),
                &token.scope.to_stored(),
                &token.created_by,
                &token.created_at,
                &token.expires_at,
                &token.last_used_at,
                &token.revoked_at,
            ],
        )
        .await?;
        append_audit_in(&*tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn api_token_by_hash(
        &self,
        secret_hash: &str,
    ) -> Result<Option<ApiTokenRecord>, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!("SELECT {TOKEN_COLUMNS} FROM console_api_tokens WHERE secret_hash = $1"),
                &[&secret_hash],
            )
            .await?;
        Ok(row.as_ref().map(token_from_row))
    }

    async fn list_api_tokens(&self) -> Result<Vec<ApiTokenRecord>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!("SELECT {TOKEN_COLUMNS} FROM console_api_tokens ORDER BY created_at, id"),
                &[],
            )
            .await?;
        Ok(rows.iter().map(token_from_row).collect())
    }

    async fn revoke_api_token(&self, id: &str, audit: NewAuditEntry) -> Result<bool, StoreError> {
        self.execute_audited(
            "UPDATE console_api_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
            &[&id, &audit.at],
            &audit,
        )
        .await
    }

    async fn touch_api_token(&self, id: &str, now: i64) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "UPDATE console_api_tokens SET last_used_at = $2 WHERE id = $1",
            &[&id, &now],
        )
        .await?;
        Ok(())
    }

    async fn append_audit(&self, entry: NewAuditEntry) -> Result<i64, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_one(
                "INSERT INTO console_audit (at, actor, action, target, detail, source)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[
                    &entry.at,
                    &entry.actor,
                    &entry.action,
                    &entry.target,
                    &entry.detail,
                    &entry.source,
                ],
            )
            .await?;
        Ok(row.get(0))
    }

    async fn list_audit(&self, query: AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT id, at, actor, action, target, detail, source FROM console_audit
                 WHERE ($1::BIGINT IS NULL OR id < $1) AND ($2::TEXT IS NULL OR actor = $2)
                   AND ($3::TEXT IS NULL OR action = $3)
                 ORDER BY id DESC LIMIT $4",
                &[
                    &query.before_id,
                    &query.actor,
                    &query.action,
                    &i64::try_from(query.limit).unwrap_or(i64::MAX),
                ],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| AuditEntry {
                id: row.get(0),
                entry: NewAuditEntry {
                    at: row.get(1),
                    actor: row.get(2),
                    action: row.get(3),
                    target: row.get(4),
                    detail: row.get(5),
                    source: row.get(6),
                },
            })
            .collect())
    }

    async fn move_device(
        &self,
        id: &str,
        group: &str,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError> {
        self.execute_audited(
            // Its next report is planned under the group's rules.
            "UPDATE devices SET group_name = $2, planned_at = NULL WHERE id = $1",
            &[&id, &group],
            &audit,
        )
        .await
    }

    async fn restore_device(&self, id: &str, audit: NewAuditEntry) -> Result<bool, StoreError> {
        self.execute_audited(
            "UPDATE devices SET retired_at = NULL, planned_at = NULL WHERE id = $1",
            &[&id],
            &audit,
        )
        .await
    }

    async fn note_alert(
        &self,
        id: i64,
        by: &str,
        note: &str,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError> {
        self.execute_audited(
            "INSERT INTO alert_transitions (alert_id, at, from_severity, to_severity, event, value, summary, actor, note)
             SELECT id, $2, severity, severity, 'note', value, summary, $3, $4 FROM alerts WHERE id = $1",
            &[&id, &audit.at, &by, &note],
            &audit,
        )
        .await
    }

    async fn retry_delivery(&self, id: i64, audit: NewAuditEntry) -> Result<bool, StoreError> {
        self.execute_audited(
            "UPDATE alert_outbox SET state = 'pending', attempts = 0, next_attempt_at = $2, claimed_until = NULL
             WHERE id = $1 AND state = 'failed' AND NOT EXISTS (SELECT 1 FROM alert_outbox later
               WHERE later.alert_id = alert_outbox.alert_id AND later.id > alert_outbox.id)",
            &[&id, &audit.at],
            &audit,
        )
        .await
    }

    async fn delete_device(
        &self,
        id: &str,
        audit: NewAuditEntry,
    ) -> Result<Option<DeletedDevice>, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let deleted = delete_device_in(&*tx, id).await?;
        if let Some(deleted) = &deleted {
            let audit = NewAuditEntry {
                detail: format!("{} ({})", audit.detail, deleted.summary()),
                ..audit
            };
            append_audit_in(&*tx, &audit).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }
}
