-- Day rows (store/history.rs): each filesystem's fullest disk sample of each
-- UTC day (the earliest of equals) with the day's largest size, updated as
-- samples are written. The disk forecast reads these for the whole days of
-- its window instead of every sample, so its cost does not grow with the
-- history a device has; retention deletes them with the hourly samples.
CREATE TABLE disk_days (
    device_id        TEXT NOT NULL REFERENCES devices (id),
    mount_point      TEXT NOT NULL,
    day              BIGINT NOT NULL,
    at               BIGINT NOT NULL,
    total_bytes      BIGINT NOT NULL,
    available_bytes  BIGINT NOT NULL,
    PRIMARY KEY (device_id, mount_point, day)
);
INSERT INTO disk_days (device_id, mount_point, day, at, total_bytes, available_bytes)
SELECT device_id, mount_point, day, at, largest, available_bytes FROM (
    SELECT device_id, mount_point, day, at, available_bytes,
           MAX(total_bytes) OVER per_day AS largest,
           ROW_NUMBER() OVER (per_day ORDER BY available_bytes, at) AS fullest
    FROM (SELECT *, at - ((at % 86400) + 86400) % 86400 AS day FROM disk_samples) AS samples
    WINDOW per_day AS (PARTITION BY device_id, mount_point, day)
) AS days WHERE fullest = 1;
