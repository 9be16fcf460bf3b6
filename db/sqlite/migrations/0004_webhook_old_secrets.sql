-- Signing secrets a webhook had before a rotation. Until expires_at every delivery is signed
-- with the current secret (webhooks.secret) and with these, so receivers can switch secrets
-- without downtime. At most db.MaxOldSecrets rows per webhook are kept. secret is stored like
-- webhooks.secret: "enc:v1:…" (AES-256-GCM) when the server has an encryption key.
CREATE TABLE webhook_old_secrets (
    id         INTEGER PRIMARY KEY,
    webhook_id INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    secret     TEXT    NOT NULL,
    rotated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX webhook_old_secrets_webhook ON webhook_old_secrets (webhook_id, expires_at);
