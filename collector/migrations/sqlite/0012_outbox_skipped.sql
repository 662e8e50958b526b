-- An outbox row the ticket worker finished without sending anything (no
-- ticket policy matched it) is `delivered` for the outbox's logic, but
-- /metrics counts it apart: forewarn_outbox_rows{state="skipped"}. Only
-- skipped rows are in the index, so the scrape's count walks those alone.
ALTER TABLE alert_outbox ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0;
CREATE INDEX alert_outbox_skipped ON alert_outbox (skipped) WHERE skipped = 1;
