-- The fingerprint of the last report without the filesystems' usage numbers
-- (store/history.rs `Fingerprints::content`): a report whose only change is
-- disk usage gets a history line without a body, its numbers being what the
-- disk samples keep. NULL: unknown, the next report's line has a body.
-- status_fingerprint is computed anew from this version on, so each
-- device's first report after the upgrade is stored as a change.
ALTER TABLE devices ADD COLUMN content_fingerprint BIGINT;
