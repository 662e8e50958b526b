-- Firmware identity of each device, so a re-imaged machine (new key, same
-- hardware) enrolls back into its own record (see collector/src/fleet/hardware.rs
-- and docs/deploy.md). Empty: unknown or a placeholder value.
ALTER TABLE devices ADD COLUMN serial_number TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN hardware_uuid TEXT NOT NULL DEFAULT '';
-- The not-before of the certificate issued when the machine last enrolled
-- again; certificates issued up to then, other than that one, are refused.
ALTER TABLE devices ADD COLUMN reenrolled_cert_not_before BIGINT;
-- Plain (not partial) indexes: the lookup compares with bound parameters,
-- which a partial index's WHERE cannot be proven from.
CREATE INDEX devices_by_serial ON devices (serial_number);
CREATE INDEX devices_by_hardware_uuid ON devices (hardware_uuid);
