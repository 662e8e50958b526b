-- Alerts, their transitions, the notification outbox, disk history for the
-- forecast, and silences. Times are Unix seconds (UTC). Ids are integers the
-- database assigns (PostgreSQL: BIGINT GENERATED ALWAYS AS IDENTITY).

-- One row per (device, rule, subject) that has ever been pending or fired.
CREATE TABLE alerts (
    id                 INTEGER PRIMARY KEY,
    device_id          TEXT NOT NULL REFERENCES devices (id),
    rule               TEXT NOT NULL,
    subject            TEXT NOT NULL,
    -- pending (waiting for `for`), firing, acknowledged, resolved
    state              TEXT NOT NULL,
    severity           TEXT,
    notified_severity  TEXT,
    pending_severity   TEXT,
    pending_since      BIGINT,
    clearing_since     BIGINT,
    flapping           INTEGER NOT NULL DEFAULT 0,
    -- Comma-separated times of recent severity changes (flapping detection).
    recent_changes     TEXT NOT NULL DEFAULT '',
    first_seen         BIGINT NOT NULL,
    last_seen          BIGINT NOT NULL,
    value              DOUBLE PRECISION,
    threshold          DOUBLE PRECISION,
    summary            TEXT NOT NULL,
    acknowledged_by    TEXT,
    acknowledged_at    BIGINT,
    UNIQUE (device_id, rule, subject)
);

CREATE INDEX alerts_state ON alerts (state, severity);

-- Every change of an alert: severity changes, notifications, acknowledgements.
CREATE TABLE alert_transitions (
    id             INTEGER PRIMARY KEY,
    alert_id       BIGINT NOT NULL REFERENCES alerts (id),
    at             BIGINT NOT NULL,
    from_severity  TEXT,
    to_severity    TEXT,
    event          TEXT,
    value          DOUBLE PRECISION,
    summary        TEXT NOT NULL,
    actor          TEXT,
    note           TEXT
);

CREATE INDEX alert_transitions_alert ON alert_transitions (alert_id, id);

-- Notifications to deliver, written in the same transaction as the alert
-- change (see docs/outbox.md).
CREATE TABLE alert_outbox (
    id               INTEGER PRIMARY KEY,
    alert_id         BIGINT NOT NULL REFERENCES alerts (id),
    event            TEXT NOT NULL,
    payload          TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    claimed_until    BIGINT,
    last_error       TEXT
);

CREATE INDEX alert_outbox_due ON alert_outbox (state, next_attempt_at);

-- Free space per device and mount point over time, for the forecast.
CREATE TABLE disk_samples (
    device_id        TEXT NOT NULL REFERENCES devices (id),
    mount_point      TEXT NOT NULL,
    at               BIGINT NOT NULL,
    total_bytes      BIGINT NOT NULL,
    available_bytes  BIGINT NOT NULL,
    PRIMARY KEY (device_id, mount_point, at)
);

-- Silences and maintenance windows. Empty matchers match everything.
-- One-off: starts_at..ends_at. Weekly: from `weekday` (0 = Monday) at
-- `start_minute` (minutes after 00:00 UTC) for `duration_secs`, between
-- starts_at and ends_at (NULL: no end).
CREATE TABLE silences (
    id              TEXT PRIMARY KEY,
    device_id       TEXT NOT NULL DEFAULT '',
    group_name      TEXT NOT NULL DEFAULT '',
    rule            TEXT NOT NULL DEFAULT '',
    subject         TEXT NOT NULL DEFAULT '',
    starts_at       BIGINT NOT NULL,
    ends_at         BIGINT,
    weekday         INTEGER,
    start_minute    INTEGER,
    duration_secs   BIGINT,
    comment         TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expired_at      BIGINT
);
