-- Issue 12: a webhook disabled by hookrelay says why (a 410 Gone answer, or failing for
-- HOOKRELAY_DISABLE_AFTER), and the administrators are told, and told again when it recovers.
-- The same columns as db/postgres/migrations/0012_webhook_disabled.sql.
--
-- failing_since is the first failed attempt since the webhook's last successful one (NULL
-- when the latest attempt succeeded); alerted_at is when an alert about the webhook was
-- last raised, cleared by the next success, which sends the "recovered" email.
ALTER TABLE webhooks ADD COLUMN disabled_reason TEXT;
ALTER TABLE webhooks ADD COLUMN disabled_at INTEGER;
ALTER TABLE webhooks ADD COLUMN failing_since INTEGER;
ALTER TABLE webhooks ADD COLUMN alerted_at INTEGER;

-- Two alert kinds more, and the sentence that says what happened. SQLite cannot change a
-- CHECK in place, so the three alert tables are rebuilt. The referencing tables go first: the
-- old alerts table is then referenced by nothing, so dropping it cascades to nothing, and
-- renaming alerts_new rewrites the references of the new tables to "alerts".
CREATE TABLE alerts_new (
    id                  INTEGER PRIMARY KEY,
    public_id           TEXT    NOT NULL UNIQUE,
    kind                TEXT    NOT NULL CHECK (kind IN ('immediate', 'digest', 'webhook_disabled', 'recovered')),
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
    updated_at          INTEGER NOT NULL,
    reason              TEXT    NOT NULL DEFAULT ''
);
INSERT INTO alerts_new (id, public_id, kind, webhook_public_id, webhook_url, webhook_description, failing_since,
    window_ends_at, state, next_attempt_at, attempts, last_attempt_at, last_error, sent_at, recipients, created_at, updated_at)
    SELECT id, public_id, kind, webhook_public_id, webhook_url, webhook_description, failing_since,
    window_ends_at, state, next_attempt_at, attempts, last_attempt_at, last_error, sent_at, recipients, created_at, updated_at
    FROM alerts;

CREATE TABLE alert_failures_new (
    id                  INTEGER PRIMARY KEY,
    alert_id            INTEGER REFERENCES alerts_new (id) ON DELETE CASCADE,
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
    prev_failure_at     INTEGER,
    recovered           INTEGER NOT NULL DEFAULT 0 CHECK (recovered IN (0, 1))
);
INSERT INTO alert_failures_new SELECT * FROM alert_failures;

CREATE TABLE alert_streaks_new (
    webhook_id      INTEGER PRIMARY KEY REFERENCES webhooks (id) ON DELETE CASCADE,
    last_failure_at INTEGER NOT NULL,
    recovered_at    INTEGER,
    failing_since   INTEGER,
    window_ends_at  INTEGER NOT NULL DEFAULT 0,
    digest_id       INTEGER REFERENCES alerts_new (id) ON DELETE SET NULL
);
INSERT INTO alert_streaks_new SELECT * FROM alert_streaks;

DROP TABLE alert_failures;
DROP TABLE alert_streaks;
DROP TABLE alerts;
ALTER TABLE alerts_new RENAME TO alerts;
ALTER TABLE alert_failures_new RENAME TO alert_failures;
ALTER TABLE alert_streaks_new RENAME TO alert_streaks;

CREATE INDEX alerts_due ON alerts (next_attempt_at) WHERE state <> 'sent';
CREATE INDEX alerts_state ON alerts (state, id);
CREATE INDEX alert_failures_outbox ON alert_failures (id) WHERE alert_id IS NULL;
CREATE INDEX alert_failures_alert ON alert_failures (alert_id, id);
CREATE INDEX alert_failures_webhook ON alert_failures (webhook_id);
