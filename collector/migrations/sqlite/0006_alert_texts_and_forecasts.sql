-- Alerts name their subject as people know it (CN and path, mount point, job
-- name) next to the key's subject, and keep what went wrong in the source's
-- words so the resolution can quote it. Rows from before stay empty: their
-- texts fall back to the key's subject.
ALTER TABLE alerts ADD COLUMN subject_name TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN cause TEXT NOT NULL DEFAULT '';

-- The disk-full forecast of each filesystem as of the device's last disk
-- report ("full in ~5 days", "needs 3 more days of history", "no trend"),
-- kept whether or not it raised an alert, for `device show` and a console.
CREATE TABLE disk_forecasts (
    device_id    TEXT NOT NULL REFERENCES devices (id),
    mount_point  TEXT NOT NULL,
    -- full, needs_history, no_trend
    state        TEXT NOT NULL,
    -- Seconds until full (full) or of history still needed (needs_history).
    secs         DOUBLE PRECISION,
    description  TEXT NOT NULL,
    computed_at  BIGINT NOT NULL,
    PRIMARY KEY (device_id, mount_point)
);
