//! SQL for the console on SQLite: users, sessions, API tokens, audit rows.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::SqliteStore;
use crate::console::authz::{Role, Scope};
use crate::store::StoreError;
use crate::store::console::{
    ApiTokenRecord, AuditEntry, AuditQuery, ConsoleStore, DeletedDevice, NewAuditEntry,
    SessionRecord, UserRecord, UserUpdate,
};

fn role_from(text: String) -> Role {
    // Written only by this module from `Role::as_str`; an unknown value
    // (a newer release's role) reads as the least right.
    Role::parse(&text).unwrap_or(Role::Viewer)
}

const USER_COLUMNS: &str =
    "username, role, groups, password_hash, created_at, disabled_at, password_set_at";

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        username: row.get(0)?,
        role: role_from(row.get(1)?),
        scope: Scope::from_stored(&row.get::<_, String>(2)?),
        password_hash: row.get(3)?,
        created_at: row.get(4)?,
        disabled_at: row.get(5)?,
        password_set_at: row.get(6)?,
    })
}

/// Inserts a user; false if the name is taken.
fn create_user(c: &Connection, user: &UserRecord) -> rusqlite::Result<bool> {
    let changed = c.execute(
        &format!("INSERT INTO console_users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (username) DO NOTHING"),
        params![
            user.username,
            user.role.as_str(),
            user.scope.to_stored(),
            user.password_hash,
            user.created_at,
            user.disabled_at,
            user.password_set_at
        ],
    )?;
    Ok(changed > 0)
}

fn user(c: &Connection, username: &str) -> rusqlite::Result<Option<UserRecord>> {
    c.query_row(
        &format!("SELECT {USER_COLUMNS} FROM console_users WHERE username = ?1"),
        [username],
        user_from_row,
    )
    .optional()
}

fn list_users(c: &Connection) -> rusqlite::Result<Vec<UserRecord>> {
    let mut statement = c.prepare(&format!(
        "SELECT {USER_COLUMNS} FROM console_users ORDER BY username"
    ))?;
    statement.query_map([], user_from_row)?.collect()
}

/// Applies `update`; a disable or a new password also ends the user's
/// sessions. False if no such user.
fn update_user(
    c: &Connection,
    username: &str,
    update: &UserUpdate,
    now: i64,
) -> rusqlite::Result<bool> {
    let changed = c.execute(
        "UPDATE console_users SET
           role = COALESCE(?2, role),
           groups = COALESCE(?3, groups),
           disabled_at = CASE WHEN ?4 THEN ?5 ELSE disabled_at END,
           password_hash = COALESCE(?6, password_hash),
           password_set_at = CASE WHEN ?6 IS NULL THEN password_set_at ELSE ?7 END
         WHERE username = ?1",
        params![
            username,
            update.role.map(Role::as_str),
            update.scope.as_ref().map(Scope::to_stored),
            update.disabled_at.is_some(),
            update.disabled_at.flatten(),
            update.password_hash,
            now
        ],
    )?;
    if changed > 0 && (update.password_hash.is_some() || update.disabled_at.flatten().is_some()) {
        c.execute(
            "DELETE FROM console_sessions WHERE username = ?1",
            [username],
        )?;
    }
    Ok(changed > 0)
}

const SESSION_COLUMNS: &str =
    "id_hash, username, csrf_token, created_at, expires_at, last_seen_at, ip";

fn create_session(c: &Connection, s: &SessionRecord) -> rusqlite::Result<()> {
    // Expired sessions are swept here: a login is rare enough to pay for it.
    c.execute(
        "DELETE FROM console_sessions WHERE expires_at <= ?1",
        [s.created_at],
    )?;
    c.execute(
        &format!(
            "INSERT INTO console_sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        ),
        params![
            s.id_hash,
            s.username,
            s.csrf_token,
            s.created_at,
            s.expires_at,
            s.last_seen_at,
            s.ip
        ],
    )?;
    Ok(())
}

fn session(c: &Connection, id_hash: &str) -> rusqlite::Result<Option<SessionRecord>> {
    c.query_row(
        &format!("SELECT {SESSION_COLUMNS} FROM console_sessions WHERE id_hash = ?1"),
        [id_hash],
        |row| {
            Ok(SessionRecord {
                id_hash: row.get(0)?,
                username: row.get(1)?,
                csrf_token: row.get(2)?,
                created_at: row.get(3)?,
                expires_at: row.get(4)?,
                last_seen_at: row.get(5)?,
                ip: row.get(6)?,
            })
        },
    )
    .optional()
}

fn touch_session(c: &Connection, id_hash: &str, now: i64) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE console_sessions SET last_seen_at = ?2 WHERE id_hash = ?1",
        params![id_hash, now],
    )?;
    Ok(())
}

fn delete_session(c: &Connection, id_hash: &str) -> rusqlite::Result<bool> {
    Ok(c.execute("DELETE FROM console_sessions WHERE id_hash = ?1", [id_hash])? > 0)
}

const TOKEN_COLUMNS: &str = "id, secret_hash, name, owner, role, groups, created_by, created_at, expires_at, last_used_at, revoked_at";

fn token_from_row(row: &Row<'_>) -> rusqlite::Result<ApiTokenRecord> {
    Ok(ApiTokenRecord {
        id: row.get(0)?,
        secret_hash: row.get(1)?,
        name: row.get(2)?,
        owner: row.get(3)?,
        role: role_from(row.get(4)?),
        scope: Scope::from_stored(&row.get::<_, String>(5)?),
        created_by: row.get(6)?,
        created_at: row.get(7)?,
        expires_at: row.get(8)?,
        last_used_at: row.get(9)?,
        revoked_at: row.get(10)?,
    })
}

fn create_api_token(c: &Connection, t: &ApiTokenRecord) -> rusqlite::Result<()> {
    c.execute(
        &format!("INSERT INTO console_api_tokens ({TOKEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
        params![
            t.id,
            t.secret_hash,
            t.name,
            t.owner,
            t.role.as_str(),
            t.scope.to_stored(),
            t.created_by,
            t.created_at,
            t.expires_at,
            t.last_used_at,
            t.revoked_at
        ],
    )?;
    Ok(())
}

fn api_token_by_hash(
    c: &Connection,
    secret_hash: &str,
) -> rusqlite::Result<Option<ApiTokenRecord>> {
    c.query_row(
        &format!("SELECT {TOKEN_COLUMNS} FROM console_api_tokens WHERE secret_hash = ?1"),
        [secret_hash],
        token_from_row,
    )
    .optional()
}

fn list_api_tokens(c: &Connection) -> rusqlite::Result<Vec<ApiTokenRecord>> {
    let mut statement = c.prepare(&format!(
        "SELECT {TOKEN_COLUMNS} FROM console_api_tokens ORDER BY created_at, id"
    ))?;
    statement.query_map([], token_from_row)?.collect()
}

fn revoke_api_token(c: &Connection, id: &str, now: i64) -> rusqlite::Result<bool> {
    Ok(c.execute(
        "UPDATE console_api_tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
        params![id, now],
    )? > 0)
}

fn touch_api_token(c: &Connection, id: &str, now: i64) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE console_api_tokens SET last_used_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

pub(super) fn append_audit(c: &Connection, e: &NewAuditEntry) -> rusqlite::Result<i64> {
    c.query_row(
        "INSERT INTO console_audit (at, actor, action, target, detail, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        params![e.at, e.actor, e.action, e.target, e.detail, e.source],
        |row| row.get(0),
    )
}

fn list_audit(c: &Connection, q: &AuditQuery) -> rusqlite::Result<Vec<AuditEntry>> {
    let mut statement = c.prepare(
        "SELECT id, at, actor, action, target, detail, source FROM console_audit
         WHERE (?1 IS NULL OR id < ?1) AND (?2 IS NULL OR actor = ?2) AND (?3 IS NULL OR action = ?3)
         ORDER BY id DESC LIMIT ?4",
    )?;
    statement
        .query_map(
            params![
                q.before_id,
                q.actor,
                q.action,
                i64::try_from(q.limit).unwrap_or(i64::MAX)
            ],
            |row| {
                Ok(AuditEntry {
                    id: row.get(0)?,
                    entry: NewAuditEntry {
                        at: row.get(1)?,
                        actor: row.get(2)?,
                        action: row.get(3)?,
                        target: row.get(4)?,
                        detail: row.get(5)?,
                        source: row.get(6)?,
                    },
                })
            },
        )?
        .collect()
}

/// Moves a device to another group; false if no such device. Its next
/// report is planned under the group's rules, whatever it says.
fn move_device(c: &Connection, id: &str, group: &str) -> rusqlite::Result<bool> {
    Ok(c.execute(
        "UPDATE devices SET group_name = ?2, planned_at = NULL WHERE id = ?1",
        params![id, group],
    )? > 0)
}

/// Clears a retirement; false if no such device.
fn restore_device(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    Ok(c.execute(
        "UPDATE devices SET retired_at = NULL, planned_at = NULL WHERE id = ?1",
        [id],
    )? > 0)
}

fn note_alert(c: &Connection, id: i64, by: &str, note: &str, at: i64) -> rusqlite::Result<bool> {
    let added = c.execute(
        "INSERT INTO alert_transitions (alert_id, at, from_severity, to_severity, event, value, summary, actor, note)
         SELECT id, ?2, severity, severity, 'note', value, summary, ?3, ?4 FROM alerts WHERE id = ?1",
        params![id, at, by, note],
    )?;
    Ok(added > 0)
}

fn retry_delivery(c: &Connection, id: i64, now: i64) -> rusqlite::Result<bool> {
    let changed = c.execute(
        "UPDATE alert_outbox SET state = 'pending', attempts = 0, next_attempt_at = ?2, claimed_until = NULL
         WHERE id = ?1 AND state = 'failed' AND NOT EXISTS (SELECT 1 FROM alert_outbox later
           WHERE later.alert_id = alert_outbox.alert_id AND later.id > alert_outbox.id)",
        params![id, now],
    )?;
    Ok(changed > 0)
}

fn delete_device(c: &Connection, id: &str) -> rusqlite::Result<Option<DeletedDevice>> {
    let Some((hostname, group)) = c
        .query_row(
            "SELECT hostname, group_name FROM devices WHERE id = ?1",
            [id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?
    else {
        return Ok(None);
    };
    let delete = |sql: &str| -> rusqlite::Result<u64> { Ok(c.execute(sql, [id])? as u64) };
    delete(
        "DELETE FROM alert_tickets WHERE alert_id IN (SELECT id FROM alerts WHERE device_id = ?1)
            OR ticket_id IN (SELECT id FROM tickets WHERE device_id = ?1)",
    )?;
    for table in ["alert_outbox", "alert_transitions"] {
        delete(&format!(
            "DELETE FROM {table} WHERE alert_id IN (SELECT id FROM alerts WHERE device_id = ?1)"
        ))?;
    }
    let deleted = DeletedDevice {
        hostname,
        group,
        reports: delete("DELETE FROM status_history WHERE device_id = ?1")?,
        disk_samples: delete("DELETE FROM disk_samples WHERE device_id = ?1")?,
        alerts: delete("DELETE FROM alerts WHERE device_id = ?1")?,
        tickets: delete("DELETE FROM tickets WHERE device_id = ?1")?,
        silences: delete("DELETE FROM silences WHERE device_id = ?1")?,
    };
    delete("DELETE FROM disk_days WHERE device_id = ?1")?;
    delete("DELETE FROM disk_forecasts WHERE device_id = ?1")?;
    delete("DELETE FROM device_status WHERE device_id = ?1")?;
    delete("DELETE FROM devices WHERE id = ?1")?;
    Ok(Some(deleted))
}

/// Runs `change` and, when it reports a change, writes `audit`, in one
/// transaction: a change is never stored without its audit row, nor the row
/// without the change.
pub(super) fn audited<T>(
    c: &mut Connection,
    audit: Option<&NewAuditEntry>,
    change: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    changed: impl FnOnce(&T) -> bool,
) -> rusqlite::Result<T> {
    let tx = c.transaction()?;
    let outcome = change(&tx)?;
    if let Some(audit) = audit.filter(|_| changed(&outcome)) {
        append_audit(&tx, audit)?;
    }
    tx.commit()?;
    Ok(outcome)
}

#[async_trait]
impl ConsoleStore for SqliteStore {
    async fn create_user(
        &self,
        user: UserRecord,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError> {
        self.with_connection(move |c| {
            Ok(audited(
                c,
                Some(&audit),
                |tx| create_user(tx, &user),
                |&created| created,
            )?)
        })
        .await
    }

    async fn user(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let username = username.to_owned();
        self.with_connection(move |c| Ok(user(c, &username)?)).await
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.with_connection(|c| Ok(list_users(c)?)).await
    }

    async fn update_user(
        &self,
        username: &str,
        update: UserUpdate,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError> {
        let username = username.to_owned();
        self.with_connection(move |c| {
            Ok(audited(
                c,
                Some(&audit),
                |tx| update_user(tx, &username, &update, audit.at),
                |&updated| updated,
            )?)
        })
        .await
    }

    async fn create_session(
        &self,
        session: SessionRecord,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError> {
        self.with_connection(move |c| {
            Ok(audited(
                c,
                Some(&audit),
                |tx| create_session(tx, &session),
                |()| true,
            )?)
        })
        .await
    }

    async fn session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        let id_hash = id_hash.to_owned();
        self.with_connection(move |c| Ok(session(c, &id_hash)?))
            .await
    }

    async fn touch_session(&self, id_hash: &str, now: i64) -> Result<(), StoreError> {
        let id_hash = id_hash.to_owned();
        self.with_connection(move |c| Ok(touch_session(c, &id_hash, now)?))
            .await
    }

    async fn delete_session(
        &self,
        id_hash: &str,
        audit: Option<NewAuditEntry>,
    ) -> Result<bool, StoreError> {
        let id_hash = id_hash.to_owned();
        self.with_connection(move |c| {
            Ok(audited(
                c,
                audit.as_ref(),
                |tx| delete_session(tx, &id_hash),
                |&ended| ended,
            )?)
        })
        .await
    }

    async fn create_api_token(
        &self,
        token: ApiTokenRecord,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError> {
        self.with_connection(move |c| {
            Ok(audited(
                c,
                Some(&audit),
                |tx| create_api_token(tx, &token),
                |()| true,
            )?)
        })
        .await
    }

    async fn api_token_by_hash(
        &self,
        secret_hash: &str,
    ) -> Result<Option<ApiTokenRecord>, StoreError> {
        let secret_hash = secret_hash.to_owned();
        self.with_connection(move |c| Ok(api_token_by_hash(c, &secret_hash)?))
            .await
    }

    async fn list_api_tokens(&self) -> Result<Vec<ApiTokenRecord>, StoreError> {
        self.with_connection(|c| Ok(list_api_tokens(c)?)).await
    }

    async fn revoke_api_token(&self, id: &str, audit: NewAuditEntry) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.with_connection(move |c| {
            Ok(audited(
                c,
                Some(&audit),
                |tx| revoke_api_token(tx, &id, audit.at),
                |&revoked| revoked,
            )?)
        })
        .await
    }

    async fn touch_api_token(&self, id: &str, now: i64) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.with_connection(move |c| Ok(touch_api_token(c, &id, now)?))
            .await
    }

    async fn append_audit(&self, entry: NewAuditEntry) -> Result<i64, StoreError> {
        self.with_connection(move |c| Ok(append_audit(c, &entry)?))
            .await
    }

    async fn list_audit(&self, query: AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        self.with_connection(move |c| Ok(list_audit(c, &query)?))
            .await
    }

    async fn move_device(
        &self,
        id: &str,
        group: &str,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError> {
        let (id, group) = (id.to_owned(), group.to_owned());
        self.with_connection(move |c| {
            Ok(audited(
                c,
                Some(&audit),
                |tx| move_device(tx, &id, &group),
                |&moved| moved,
            )?)
        })
        .await
    }

    async fn restore_device(&self, id: &str, audit: NewAuditEntry) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.with_connection(move |c| {
            Ok(audited(
                c,
                Some(&audit),
                |tx| restore_device(tx, &id),
                |&restored| restored,
            )?)
        })
        .await
    }

    async fn note_alert(
        &self,
        id: i64,
        by: &str,
        note: &str,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError> {
        let (by, note) = (by.to_owned(), note.to_owned());
        self.with_connection(move |c| {
            Ok(audited(
                c,
                Some(&audit),
                |tx| note_alert(tx, id, &by, &note, audit.at),
                |&added| added,
            )?)
        })
        .await
    }

    async fn retry_delivery(&self, id: i64, audit: NewAuditEntry) -> Result<bool, StoreError> {
        self.with_connection(move |c| {
            Ok(audited(
                c,
                Some(&audit),
                |tx| retry_delivery(tx, id, audit.at),
                |&retried| retried,
            )?)
        })
        .await
    }
    async fn delete_device(
        &self,
        id: &str,
        audit: NewAuditEntry,
    ) -> Result<Option<DeletedDevice>, StoreError> {
        let id = id.to_owned();
        self.with_connection(move |c| {
            let tx = c.transaction()?;
            let deleted = delete_device(&tx, &id)?;
            if let Some(deleted) = &deleted {
                let audit = NewAuditEntry {
                    detail: format!("{} ({})", audit.detail, deleted.summary()),
                    ..audit
                };
                append_audit(&tx, &audit)?;
            }
            tx.commit()?;
            Ok(deleted)
        })
        .await
    }
}
