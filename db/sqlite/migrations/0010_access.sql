-- Team access (issue 13): roles of users, API keys, and the audit log. Every user before
-- this migration was an admin, and stays one.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'admin' CHECK (role IN ('viewer', 'operator', 'admin'));
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1));
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1));
CREATE INDEX sessions_user ON sessions (user_id);

-- Bearer keys of the API. Only the SHA-256 of each key is kept (the key is 256 random bits,
-- so its hash gives nothing away); a revoked key's row is deleted.
CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    public_id    TEXT    NOT NULL UNIQUE,
    name         TEXT    NOT NULL,
    role         TEXT    NOT NULL CHECK (role IN ('viewer', 'operator', 'admin', 'ingest')),
    key_hash     TEXT    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER
);

-- Who did what: every change and every read of a secret, appended and never changed (the
-- triggers below refuse updates and deletes). Actor and target are copied as text, so a
-- record still reads right after its user, key or webhook is gone.
CREATE TABLE audit_log (
    id             INTEGER PRIMARY KEY,
    public_id      TEXT    NOT NULL UNIQUE,
    at             INTEGER NOT NULL,
    actor_kind     TEXT    NOT NULL CHECK (actor_kind IN ('user', 'key', 'token', 'system', 'command')),
    actor_id       TEXT    NOT NULL DEFAULT '',
    actor_name     TEXT    NOT NULL,
    action         TEXT    NOT NULL,
    target_kind    TEXT    NOT NULL DEFAULT '',
    target_id      TEXT    NOT NULL DEFAULT '',
    client_address TEXT    NOT NULL DEFAULT '',
    summary        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor_id ON audit_log (actor_id);
CREATE INDEX audit_log_actor_name ON audit_log (actor_name COLLATE NOCASE);
CREATE INDEX audit_log_action ON audit_log (action);
CREATE INDEX audit_log_target ON audit_log (target_id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
