-- The console's alert reads. A card of the overview reads the raised
-- alerts of its domain's rules: (rule, state) finds those rows alone
-- instead of every raised alert. The newest alerts are walked from the
-- newest first_seen down until the page is full, without sorting every
-- raised alert. (last_seen is left unindexed: it moves with most alert
-- changes, and an index on it would add a write to each.)
CREATE INDEX alerts_rule_state ON alerts (rule, state);
CREATE INDEX alerts_first_seen ON alerts (first_seen, id);
