-- The console: local users, their sessions, API tokens and the audit log.
-- Times are Unix seconds (UTC). Secrets are never stored: passwords as
-- argon2id PHC strings, session ids and API token secrets as SHA-256 hex.
-- `groups` is '*' for all groups, else a comma-separated list of group names
-- (group names never contain a comma).

CREATE TABLE console_users (
    username       TEXT PRIMARY KEY,
    -- viewer, operator, admin
    role           TEXT NOT NULL,
    groups         TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    disabled_at    BIGINT,
    password_set_at BIGINT NOT NULL
);

CREATE TABLE console_sessions (
    id_hash       TEXT PRIMARY KEY,
    username      TEXT NOT NULL REFERENCES console_users (username),
    -- Sent back in X-CSRF-Token on unsafe methods (docs/console.md).
    csrf_token    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    ip            TEXT NOT NULL
);

CREATE INDEX console_sessions_user ON console_sessions (username);

CREATE TABLE console_api_tokens (
    id            TEXT PRIMARY KEY,
    secret_hash   TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    -- The user whose rights also bound the token; NULL for a service token
    -- made with the command line.
    owner         TEXT REFERENCES console_users (username),
    role          TEXT NOT NULL,
    groups        TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);

CREATE TABLE console_audit (
    id        INTEGER PRIMARY KEY,
    at        BIGINT NOT NULL,
    -- user name, "token:<id>", or "cli:<name>"
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    detail    TEXT NOT NULL,
    -- Client address for the web port; "cli" for the command line.
    source    TEXT NOT NULL
);

CREATE INDEX console_audit_at ON console_audit (at, id);
