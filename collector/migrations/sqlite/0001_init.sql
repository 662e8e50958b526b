-- Devices, enrollment tokens, latest status per device and status history.
-- Times are Unix seconds (UTC). Reports are stored as encoded
-- forewarn.v1.StatusReport messages; typed tables for rules come with them.

CREATE TABLE enrollment_tokens (
    id          TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    group_name  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    max_uses    INTEGER,
    uses        INTEGER NOT NULL DEFAULT 0,
    revoked_at  BIGINT
);

CREATE TABLE devices (
    id              TEXT PRIMARY KEY,
    group_name      TEXT NOT NULL,
    hostname        TEXT NOT NULL,
    os              TEXT NOT NULL,
    agent_version   TEXT NOT NULL,
    enrolled_at     BIGINT NOT NULL,
    token_id        TEXT NOT NULL REFERENCES enrollment_tokens (id),
    retired_at      BIGINT,
    cert_serial     TEXT NOT NULL,
    cert_not_after  BIGINT NOT NULL,
    last_seen_at    BIGINT,
    last_seq        BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE device_status (
    device_id     TEXT PRIMARY KEY REFERENCES devices (id),
    seq           BIGINT NOT NULL,
    collected_at  BIGINT NOT NULL,
    received_at   BIGINT NOT NULL,
    report        BLOB NOT NULL
);

CREATE TABLE status_history (
    device_id     TEXT NOT NULL REFERENCES devices (id),
    seq           BIGINT NOT NULL,
    collected_at  BIGINT NOT NULL,
    received_at   BIGINT NOT NULL,
    report        BLOB NOT NULL,
    PRIMARY KEY (device_id, seq)
);
