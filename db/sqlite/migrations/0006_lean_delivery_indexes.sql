-- Every index on deliveries is paid for on each state change of each delivery, which is the
-- hot path (claim, then record). Keep only indexes that are written when a row is inserted,
-- plus small partial ones for the states that matter.

-- (webhook_id, state, id) moved on every state change; (webhook_id, id) never does. Lists by
-- state use the partial indexes below or read the webhook's rows newest first.
DROP INDEX deliveries_webhook;
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, id);

-- (state, id) moved on every state change. Failed deliveries are the ones looked for (the
-- dashboard, retry all failed); pending and delivering ones have their own partial indexes.
DROP INDEX deliveries_state;
CREATE INDEX deliveries_failed ON deliveries (id) WHERE state = 'failed';
CREATE INDEX deliveries_webhook_failed ON deliveries (webhook_id, id) WHERE state = 'failed';

-- A webhook's latest attempt lived in an index over every delivery, rewritten by every
-- attempt. It is now kept on the webhook, updated once per recorded batch.
DROP INDEX deliveries_webhook_last;
ALTER TABLE webhooks ADD COLUMN last_attempt_at INTEGER;
ALTER TABLE webhooks ADD COLUMN last_delivery_id TEXT;
ALTER TABLE webhooks ADD COLUMN last_status_code INTEGER;
ALTER TABLE webhooks ADD COLUMN last_error TEXT;
UPDATE webhooks SET (last_attempt_at, last_delivery_id, last_status_code, last_error) = (
    SELECT d.last_attempt_at, d.public_id, d.last_status_code, d.last_error FROM deliveries d
    WHERE d.webhook_id = webhooks.id AND d.last_attempt_at IS NOT NULL
    ORDER BY d.last_attempt_at DESC, d.id DESC LIMIT 1);
