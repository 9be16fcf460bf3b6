-- Attempts are always read by delivery, in order: keyed by (delivery_id, number) they are
-- one b-tree instead of a table plus a unique index, so recording one writes one less.
-- (Nothing references attempts, so dropping the old table cascades to nothing.)
CREATE TABLE attempts_new (
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
    PRIMARY KEY (delivery_id, number)
) WITHOUT ROWID;
INSERT INTO attempts_new SELECT delivery_id, number, trigger, attempted_at, status_code, duration_ms, response_body,
    response_truncated, error_class, error_message, signature FROM attempts;
DROP TABLE attempts;
ALTER TABLE attempts_new RENAME TO attempts;
