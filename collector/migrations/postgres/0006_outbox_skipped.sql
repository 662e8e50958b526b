-- An outbox row the ticket worker finished without sending anything (no
-- ticket policy matched it) is `delivered` for the outbox's logic, but
-- /metrics counts it apart: forewarn_outbox_rows{state="skipped"}.
ALTER TABLE alert_outbox ADD COLUMN skipped BOOLEAN NOT NULL DEFAULT FALSE;
