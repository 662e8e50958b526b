-- Tickets opened for alerts, and the collector's own alerts.
--
-- `alerts.device_id` no longer references `devices`: the collector raises
-- alerts about itself ("ticketing is failing") under the device id
-- `collector`, which is no enrolled device. SQLite cannot drop a constraint,
-- so the table is rebuilt (foreign keys are off while migrations run).

CREATE TABLE alerts_rebuilt (
    id                 INTEGER PRIMARY KEY,
    device_id          TEXT NOT NULL,
    rule               TEXT NOT NULL,
    subject            TEXT NOT NULL,
    state              TEXT NOT NULL,
    severity           TEXT,
    notified_severity  TEXT,
    pending_severity   TEXT,
    pending_since      BIGINT,
    clearing_since     BIGINT,
    flapping           INTEGER NOT NULL DEFAULT 0,
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
INSERT INTO alerts_rebuilt SELECT * FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_rebuilt RENAME TO alerts;
CREATE INDEX alerts_state ON alerts (state, severity);

-- Per alert, events are delivered in order: the claim looks for earlier
-- undelivered rows of the same alert.
CREATE INDEX alert_outbox_alert ON alert_outbox (alert_id, id);

-- One ticket in a ticket system (or one notification thread of a notify-only
-- channel). `closed_at` is set when the collector stops tracking it: resolved
-- on recovery, or left open for a technician.
CREATE TABLE tickets (
    id               INTEGER PRIMARY KEY,
    connector        TEXT NOT NULL,
    device_id        TEXT NOT NULL,
    -- Correlation key of the alert that opened it.
    correlation_key  TEXT NOT NULL,
    -- The ticket system's id (RT ticket number, ServiceNow sys_id, Jira key...).
    external_id      TEXT NOT NULL,
    url              TEXT,
    opened_at        BIGINT NOT NULL,
    closed_at        BIGINT,
    -- resolved, left_open (worked by a person, or policy), or NULL while open.
    closed_as        TEXT
);

CREATE INDEX tickets_open_by_device ON tickets (device_id, connector, closed_at);

-- The ticket of an alert's current episode; several alerts may share one
-- ticket (grouping window). `last_event_id` is the last outbox row applied to
-- the ticket, so a row delivered again after a crash is not applied twice.
CREATE TABLE alert_tickets (
    alert_id       BIGINT PRIMARY KEY REFERENCES alerts (id),
    ticket_id      BIGINT NOT NULL REFERENCES tickets (id),
    linked_at      BIGINT NOT NULL,
    last_event_id  BIGINT NOT NULL,
    -- When this alert recovered; the ticket closes when all its alerts have.
    resolved_at    BIGINT
);

CREATE INDEX alert_tickets_ticket ON alert_tickets (ticket_id);
