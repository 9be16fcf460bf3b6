-- Issue 12: what a 429 or 503 answer asked for with Retry-After, in seconds, as the receiver
-- sent it (before HOOKRELAY_RETRY_AFTER_MAX caps it); NULL when nothing was asked. The same
-- column as db/postgres/migrations/0011_retry_after.sql.
ALTER TABLE attempts ADD COLUMN retry_after_seconds INTEGER;
