-- Failure alerts (see db/alert.go).
--
-- alert_failures is the outbox and, once folded, the content of each alert: one row per
-- delivery that failed for good, written in the same transaction that marks the delivery
-- failed. alert_id is NULL until the alert sender folds the row into an alert. Webhook and
-- event details are copied, so an alert still reads correctly after the webhook is edited or
-- deleted.
CREATE TABLE alerts (
    id                  INTEGER PRIMARY KEY,
    public_id           TEXT    NOT NULL UNIQUE,
    kind                TEXT    NOT NULL CHECK (kind IN ('immediate', 'digest')),
    webhook_public_id   TEXT    NOT NULL,
    webhook_url         TEXT    NOT NULL,
    webhook_description TEXT    NOT NULL DEFAULT '',
    failing_since       INTEGER NOT NULL,
    window_ends_at      INTEGER NOT NULL,
    state               TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed_to_send')),
    next_attempt_at     INTEGER NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    last_attempt_at     INTEGER,
    last_error          TEXT,
    sent_at             INTEGER,
    recipients          TEXT    NOT NULL DEFAULT '',
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
-- The sender's queue: unsent alerts by when they are due.
CREATE INDEX alerts_due ON alerts (next_attempt_at) WHERE state <> 'sent';
CREATE INDEX alerts_state ON alerts (state, id);

CREATE TABLE alert_failures (
    id                  INTEGER PRIMARY KEY,
    alert_id            INTEGER REFERENCES alerts (id) ON DELETE CASCADE,
    webhook_id          INTEGER REFERENCES webhooks (id) ON DELETE SET NULL,
    webhook_public_id   TEXT    NOT NULL,
    webhook_url         TEXT    NOT NULL,
    webhook_description TEXT    NOT NULL DEFAULT '',
    delivery_public_id  TEXT    NOT NULL,
    event_public_id     TEXT    NOT NULL,
    event_type          TEXT    NOT NULL,
    attempts            INTEGER NOT NULL,
    status_code         INTEGER,
    error               TEXT,
    error_message       TEXT,
    first_attempt_at    INTEGER NOT NULL,
    failed_at           INTEGER NOT NULL,
    -- The webhook's previous failure, and whether one of its deliveries succeeded since:
    -- what the no-flood rule needs to tell a new incident from a continuing one.
    prev_failure_at     INTEGER,
    recovered           INTEGER NOT NULL DEFAULT 0 CHECK (recovered IN (0, 1))
);
CREATE INDEX alert_failures_outbox ON alert_failures (id) WHERE alert_id IS NULL;
CREATE INDEX alert_failures_alert ON alert_failures (alert_id, id);
-- For ON DELETE SET NULL when a webhook is deleted.
CREATE INDEX alert_failures_webhook ON alert_failures (webhook_id);

-- One row per webhook that has failed. RecordAttempts keeps last_failure_at and
-- recovered_at (the first success after that failure); the alert sender keeps the rest: the
-- current incident's start and the window whose failures fold into digest_id.
CREATE TABLE alert_streaks (
    webhook_id      INTEGER PRIMARY KEY REFERENCES webhooks (id) ON DELETE CASCADE,
    last_failure_at INTEGER NOT NULL,
    recovered_at    INTEGER,
    failing_since   INTEGER,
    window_ends_at  INTEGER NOT NULL DEFAULT 0,
    digest_id       INTEGER REFERENCES alerts (id) ON DELETE SET NULL
);
