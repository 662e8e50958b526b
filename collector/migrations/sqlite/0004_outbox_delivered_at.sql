-- When each outbox row was delivered: retention (`[tickets] delivered_retention_days`)
-- counts from it, so work delivered late after an outage is still kept its full time.
ALTER TABLE alert_outbox ADD COLUMN delivered_at BIGINT;
-- Rows delivered before this column existed: the last time they were due is the
-- closest known time to their delivery.
UPDATE alert_outbox SET delivered_at = next_attempt_at WHERE state = 'delivered';
CREATE INDEX alert_outbox_delivered ON alert_outbox (state, delivered_at, id);
