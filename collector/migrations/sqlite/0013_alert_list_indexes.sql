-- The console's alert reads. The overview's newest alerts are walked from
-- the newest first_seen down until the page is full, without sorting every
-- raised alert. (PostgreSQL also indexes (rule, state) for the overview's
-- cards; SQLite, planning without statistics, would then take that index
-- for every list, as each names its rules, and look up the rows one by
-- one instead of reading the table through, which measured slower.
-- last_seen is left unindexed on both: it moves with most alert changes,
-- and an index on it would add a write to each.)
CREATE INDEX alerts_first_seen ON alerts (first_seen, id);
