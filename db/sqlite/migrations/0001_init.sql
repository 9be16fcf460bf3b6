-- Webhook subscriptions. event_types is a JSON array of patterns (see eventtype.go).
CREATE TABLE webhooks (
    id          INTEGER PRIMARY KEY,
    public_id   TEXT    NOT NULL UNIQUE,
    url         TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    event_types TEXT    NOT NULL,
    secret      TEXT    NOT NULL,
    enabled     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- Events as received. body is the exact JSON delivered to receivers, built once at ingest so
-- every retry and every endpoint gets the same bytes.
CREATE TABLE events (
    id              INTEGER PRIMARY KEY,
    public_id       TEXT    NOT NULL UNIQUE,
    event_type      TEXT    NOT NULL,
    workflow_id     TEXT,
    occurred_at     INTEGER NOT NULL,
    body            BLOB    NOT NULL,
    idempotency_key TEXT    UNIQUE,
    fanout          INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX events_type ON events (event_type, id);
CREATE INDEX events_workflow ON events (workflow_id, id) WHERE workflow_id IS NOT NULL;

-- One row per event x matching webhook. This table is the delivery queue.
CREATE TABLE deliveries (
    id               INTEGER PRIMARY KEY,
    public_id        TEXT    NOT NULL UNIQUE,
    event_id         INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    webhook_id       INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    state            TEXT    NOT NULL CHECK (state IN ('pending', 'delivering', 'succeeded', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    manual           INTEGER NOT NULL DEFAULT 0 CHECK (manual IN (0, 1)),
    next_attempt_at  INTEGER,
    locked_until     INTEGER,
    lease_token      INTEGER,
    last_attempt_at  INTEGER,
    last_status_code INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
-- The queue: due work per webhook, so one webhook's backlog never sits in front of another's.
CREATE INDEX deliveries_due ON deliveries (webhook_id, next_attempt_at) WHERE state = 'pending';
-- The rescuer's view: leases that may have expired.
CREATE INDEX deliveries_leased ON deliveries (locked_until) WHERE state = 'delivering';
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, state, id);
CREATE INDEX deliveries_event ON deliveries (event_id);
CREATE INDEX deliveries_state ON deliveries (state, id);

-- Every HTTP attempt, including those that never got a status code.
CREATE TABLE attempts (
    id                 INTEGER PRIMARY KEY,
    delivery_id        INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number             INTEGER NOT NULL,
    trigger            TEXT    NOT NULL CHECK (trigger IN ('scheduled', 'manual')),
    attempted_at       INTEGER NOT NULL,
    status_code        INTEGER,
    duration_ms        INTEGER NOT NULL,
    response_body      BLOB    NOT NULL DEFAULT x'',
    response_truncated INTEGER NOT NULL DEFAULT 0 CHECK (response_truncated IN (0, 1)),
    error_class        TEXT,
    error_message      TEXT,
    signature          TEXT    NOT NULL DEFAULT '',
    UNIQUE (delivery_id, number)
);

-- Small key/value store for generated settings (session key and the like).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
