-- Claims cache what they need of a webhook (URL, decrypted secrets) between engine turns.
-- Every change of a webhook bumps version, and a claim compares it, so a change made by
-- any process governs the next claim, whoever caches what.
ALTER TABLE webhooks ADD COLUMN version INTEGER NOT NULL DEFAULT 0;

-- Work that must run on one process at a time (the lease rescuer, the alert sender) is led
-- by whoever holds its lease here; a holder that stops renewing loses it at expires_at.
CREATE TABLE leader_leases (
    name       TEXT    PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
