-- Issue 12: a webhook disabled by hookrelay says why (a 410 Gone answer, or failing for
-- HOOKRELAY_DISABLE_AFTER), and the administrators are told, and told again when it recovers.
-- The same columns as db/sqlite/migrations/0012_webhook_disabled.sql.
--
-- failing_since is the first failed attempt since the webhook's last successful one (NULL
-- when the latest attempt succeeded); alerted_at is when an alert about the webhook was
-- last raised, cleared by the next success, which sends the "recovered" email.
ALTER TABLE webhooks ADD COLUMN disabled_reason TEXT;
ALTER TABLE webhooks ADD COLUMN disabled_at BIGINT;
ALTER TABLE webhooks ADD COLUMN failing_since BIGINT;
ALTER TABLE webhooks ADD COLUMN alerted_at BIGINT;

-- Two alert kinds more, and the sentence that says what happened.
ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_kind_check CHECK (kind IN ('immediate', 'digest', 'webhook_disabled', 'recovered'));
ALTER TABLE alerts ADD COLUMN reason TEXT NOT NULL DEFAULT '';
