-- Each day row also keeps the newest sample of its day (time, size and
-- available bytes), updated as samples are written and again when retention
-- thins the day: the disk forecast's "newest sample" is then the newest day
-- row's, so planning a device reads its day rows and, in the usual case,
-- nothing else (store/history.rs, `from_day_rows`). NULL: not known, the
-- forecast reads the samples instead.
ALTER TABLE disk_days ADD COLUMN newest_at BIGINT;
ALTER TABLE disk_days ADD COLUMN newest_total_bytes BIGINT;
ALTER TABLE disk_days ADD COLUMN newest_available_bytes BIGINT;
UPDATE disk_days SET (newest_at, newest_total_bytes, newest_available_bytes) = (
    SELECT at, total_bytes, available_bytes FROM disk_samples AS s
    WHERE s.device_id = disk_days.device_id AND s.mount_point = disk_days.mount_point
      AND s.at >= disk_days.day AND s.at < disk_days.day + 86400
    ORDER BY s.at DESC LIMIT 1);
