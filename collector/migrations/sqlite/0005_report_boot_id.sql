-- The agent boot that sent the device's last stored report (StatusReport.boot_id,
-- stored as its two's-complement i64): a lower seq from another boot is a
-- restarted numbering, not a replay. 0: unknown (agents before boot ids).
ALTER TABLE devices ADD COLUMN last_boot_id BIGINT NOT NULL DEFAULT 0;
-- History keeps every boot's reports: a restarted numbering repeats seqs.
CREATE TABLE status_history_by_boot (
    device_id     TEXT NOT NULL REFERENCES devices (id),
    boot_id       BIGINT NOT NULL DEFAULT 0,
    seq           BIGINT NOT NULL,
    collected_at  BIGINT NOT NULL,
    received_at   BIGINT NOT NULL,
    report        BLOB NOT NULL,
    PRIMARY KEY (device_id, boot_id, seq)
);
INSERT INTO status_history_by_boot (device_id, boot_id, seq, collected_at, received_at, report)
    SELECT device_id, 0, seq, collected_at, received_at, report FROM status_history;
DROP TABLE status_history;
ALTER TABLE status_history_by_boot RENAME TO status_history;
