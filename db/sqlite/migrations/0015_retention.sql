-- Issue 14: retention. The pruner finds old events, old sent alerts and idempotency keys past
-- their time by creation time, without scanning the tables. The same indexes as
-- db/postgres/migrations/0015_retention.sql.
CREATE INDEX events_created ON events (created_at);
-- Only keyed events, so that forgetting a key takes it out of the index and each round reads
-- only the keys it forgets.
CREATE INDEX events_keyed_created ON events (created_at) WHERE idempotency_key IS NOT NULL;
CREATE INDEX alerts_sent_created ON alerts (created_at) WHERE state = 'sent';
