-- Bounded history (store/history.rs): a report that changes nothing updates
-- the device row and adds a history line without a body; disk samples are
-- written when they move or once an hour; retention thins old samples.
--
-- The device's latest seq, times and content fingerprint live on its row, so
-- an unchanged report does not rewrite the stored report (device_status keeps
-- the body of the last report that changed something).
ALTER TABLE devices ADD COLUMN last_collected_at BIGINT;
-- First 8 bytes of the SHA-256 of the last report without its numbering,
-- time and check durations; NULL: unknown, the next report is stored whole.
ALTER TABLE devices ADD COLUMN status_fingerprint BIGINT;
-- When the device's disks were last sampled (the report's collected_at).
ALTER TABLE devices ADD COLUMN disks_sampled_at BIGINT;
-- Retention's progress: disk samples before these are already thinned to
-- one an hour (hourly) and one a day (daily).
ALTER TABLE devices ADD COLUMN disk_hourly_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN disk_daily_until BIGINT NOT NULL DEFAULT 0;
UPDATE devices SET
    last_collected_at = (SELECT collected_at FROM device_status WHERE device_id = devices.id),
    disks_sampled_at = (SELECT MAX(at) FROM disk_samples WHERE device_id = devices.id);
-- status_history.report: an empty body means "the same as the report before
-- it" (the same device's line received before it); retention moves a body
-- forward before it deletes the line that held it.
