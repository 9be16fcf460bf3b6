-- Issue 14: attempts per webhook per day, succeeded and failed. The pruner rolls the hourly
-- counts (attempt_hours) up into these once they are older than the retention, so that a
-- webhook's success rate over months outlives the events and attempts it counts while the
-- hourly table keeps at most the retention's hours. The same table as
-- db/sqlite/migrations/0016_attempt_days.sql.
CREATE TABLE attempt_days (
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    day        BIGINT NOT NULL, -- unix milliseconds at the start of the day, UTC
    succeeded  BIGINT NOT NULL DEFAULT 0,
    failed     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (webhook_id, day)
);
