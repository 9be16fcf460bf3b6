-- Admin users of the web UI. Emails compare case-insensitively; only a bcrypt hash of the
-- password is kept.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    public_id     TEXT    NOT NULL UNIQUE,
    email         TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- Signed-in browser sessions. The cookie carries the session id; the row makes sign-out and
-- rotation real (a deleted row is a dead cookie) and holds the idle clock.
CREATE TABLE sessions (
    id           TEXT    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_seen ON sessions (last_seen_at);

-- The admin UI's lists and dashboard: time ranges over deliveries, and each webhook's most
-- recent attempt.
CREATE INDEX deliveries_created ON deliveries (created_at);
CREATE INDEX deliveries_webhook_last ON deliveries (webhook_id, last_attempt_at) WHERE last_attempt_at IS NOT NULL;
