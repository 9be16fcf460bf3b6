-- Issue 12 item 10: attempts per webhook per hour, succeeded and failed, for the charts of
-- the dashboard and the webhook page. Kept by recording attempts (one upsert per webhook and
-- hour of a batch), so a chart reads at most 24 rows per webhook instead of scanning
-- attempts. The same table as db/postgres/migrations/0013_attempt_hours.sql.
CREATE TABLE attempt_hours (
    webhook_id INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    hour       INTEGER NOT NULL, -- unix milliseconds at the start of the hour
    succeeded  INTEGER NOT NULL DEFAULT 0,
    failed     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (webhook_id, hour)
) WITHOUT ROWID;
CREATE INDEX attempt_hours_hour ON attempt_hours (hour);
