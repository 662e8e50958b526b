-- Disk samples and day rows keyed by what they are searched by, without a
-- rowid (SQLite's WITHOUT ROWID tables): the rows sit in their primary key's
-- b-tree, so the forecast's range reads by device, mount point and time walk
-- one b-tree instead of an index and then the table for every row, and the
-- key (device id and mount point text) is stored once instead of twice.
CREATE TABLE disk_samples_keyed (
    device_id        TEXT NOT NULL REFERENCES devices (id),
    mount_point      TEXT NOT NULL,
    at               BIGINT NOT NULL,
    total_bytes      BIGINT NOT NULL,
    available_bytes  BIGINT NOT NULL,
    PRIMARY KEY (device_id, mount_point, at)
) WITHOUT ROWID;
INSERT INTO disk_samples_keyed (device_id, mount_point, at, total_bytes, available_bytes)
    SELECT device_id, mount_point, at, total_bytes, available_bytes FROM disk_samples;
DROP TABLE disk_samples;
ALTER TABLE disk_samples_keyed RENAME TO disk_samples;

CREATE TABLE disk_days_keyed (
    device_id        TEXT NOT NULL REFERENCES devices (id),
    mount_point      TEXT NOT NULL,
    day              BIGINT NOT NULL,
    at               BIGINT NOT NULL,
    total_bytes      BIGINT NOT NULL,
    available_bytes  BIGINT NOT NULL,
    PRIMARY KEY (device_id, mount_point, day)
) WITHOUT ROWID;
INSERT INTO disk_days_keyed (device_id, mount_point, day, at, total_bytes, available_bytes)
    SELECT device_id, mount_point, day, at, total_bytes, available_bytes FROM disk_days;
DROP TABLE disk_days;
ALTER TABLE disk_days_keyed RENAME TO disk_days;
