-- The ticket worker's queue in the order it is served: undelivered rows by
-- state and id, with the columns its rounds test. A claim walks the pending
-- rows in id order and stops at its batch size, testing each row's due time
-- from the index alone (rows waiting for a retry are passed over without
-- reading them); the backlog count and the oldest undelivered time are read
-- from the index alone. Before it, each round gathered and sorted every due
-- row, and read every undelivered row for its age: a round cost grew with
-- the backlog, so draining a burst of notifications grew with its square.
CREATE INDEX alert_outbox_queue ON alert_outbox (state, id, next_attempt_at, created_at);
