-- Issue 12 items 7 and 8: custom headers sent with every attempt, and a rate limit. The same
-- columns as db/sqlite/migrations/0014_webhook_headers_rate.sql.
--
-- headers is a JSON object of header name to value, sealed like the signing secret when an
-- encryption key is set (the values are credentials); '' when the webhook has none.
-- rate_limit is the most attempts per second (NULL: no limit). rate_tat is the limiter's
-- state, shared by every instance: the theoretical arrival time of the next attempt, in unix
-- microseconds (generic cell rate algorithm, see db.RateAllowance).
ALTER TABLE webhooks
    ADD COLUMN headers    TEXT    NOT NULL DEFAULT '',
    ADD COLUMN rate_limit INTEGER CHECK (rate_limit > 0),
    ADD COLUMN rate_tat   BIGINT  NOT NULL DEFAULT 0;
