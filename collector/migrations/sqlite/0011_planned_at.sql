-- When the alert engine last planned the device (the `now` of that plan).
-- A report that changes nothing, arriving while the plan made at the
-- previous report still holds, leaves the device's alerts as they are
-- without planning again (see alerts::engine::plan_still_current). NULL:
-- the next report is planned.
ALTER TABLE devices ADD COLUMN planned_at BIGINT;
