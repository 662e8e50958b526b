-- When the alert sweeper must next plan the device, for what time alone
-- changes (offline, `for` durations, dead-man rules, silences lifting): see
-- alerts::engine::next_sweep_at. NULL: only a report can change its alerts.
-- Every device that has reported is due once, so the first sweep after the
-- upgrade computes the time of each.
ALTER TABLE devices ADD COLUMN next_sweep_at BIGINT;
UPDATE devices SET next_sweep_at = 0 WHERE retired_at IS NULL AND last_seen_at IS NOT NULL;
CREATE INDEX devices_next_sweep_at ON devices (next_sweep_at) WHERE next_sweep_at IS NOT NULL;
