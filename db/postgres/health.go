package postgres

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hookrelay/hookrelay/db"
)

// trackHealth applies what recorded attempts say about their webhooks' runs of failures (see
// db.HealthChanges), once queueRuns has moved the runs: a success of a webhook alerted on
// queues the "recovered" alert; a 410, or a run longer than DisableAfter,
// disables the webhook with its reason, a webhook_disabled alert and an audit record by the
// system. All of it commits with the attempts. Each statement locks one webhook row, in the
// order of webhook ids, and the conditions are re-checked under the lock: two instances
// recording for one webhook raise one alert, not two.
func (t *tx) trackHealth(changes []db.HealthChange, now int64) error {
	for _, c := range changes {
		if c.Succeeded {
			if err := t.noteRecovered(c, now); err != nil {
				return fmt.Errorf("note recovery of %s: %w", c.WebhookID, err)
			}
		}
		if c.MayDisable() {
			if err := t.disableFailing(c, now); err != nil {
				return fmt.Errorf("disable %s: %w", c.WebhookID, err)
			}
		}
	}
	return nil
}

// queueRuns queues on b the changes to the webhooks' runs of failures (failing_since): they
// only write, so they ride with the batch of the other bookkeeping, ahead of trackHealth.
func queueRuns(b *pgx.Batch, changes []db.HealthChange) {
	for _, c := range changes {
		var from *int64
		if !c.FailingFrom.IsZero() {
			from = nullMillis(c.FailingFrom)
		}
		switch {
		case c.Succeeded:
			b.Queue(`UPDATE webhooks SET failing_since = $1 WHERE public_id = $2 AND failing_since IS DISTINCT FROM $1`,
				from, c.WebhookID)
		case from != nil:
			b.Queue(`UPDATE webhooks SET failing_since = $1 WHERE public_id = $2 AND failing_since IS NULL`, from, c.WebhookID)
		}
	}
}

// noteRecovered queues the "recovered" alert of a webhook that was alerted on and has just
// succeeded, once: the alert mark is cleared with it. The alert is failing since the first
// alert of the incident: the success has already ended the run of failures.
func (t *tx) noteRecovered(c db.HealthChange, now int64) error {
	var (
		o     outboxRow
		row   int64
		since int64
	)
	// FOR UPDATE: an instance recording a success of the same webhook waits here, then finds
	// the mark cleared.
	err := t.queryRow(`SELECT id, url, description, alerted_at FROM webhooks
		WHERE public_id = $1 AND alerted_at IS NOT NULL FOR UPDATE`, c.WebhookID).Scan(&row, &o.url, &o.desc, &since)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := t.exec(`UPDATE webhooks SET alerted_at = NULL WHERE id = $1`, row); err != nil {
		return err
	}
	o.webhookRow, o.webhookID = &row, c.WebhookID
	if _, _, err := t.createNotice(o, db.AlertRecovered, c.RecoveredReason(), since, now); err != nil {
		return err
	}
	t.alerted = true
	return nil
}

// disableFailing disables the webhook when the change asks for it (a 410) or its run of
// failures began long enough ago. A webhook disabled already is left as it is.
func (t *tx) disableFailing(c db.HealthChange, now int64) error {
	var cutoff *int64
	if at := c.DisableIfFailingSince(); !at.IsZero() {
		cutoff = nullMillis(at)
	}
	reason := safeText(c.Reason())
	var (
		o     outboxRow
		row   int64
		since *int64
	)
	err := t.queryRow(`UPDATE webhooks SET enabled = false, disabled_reason = $1, disabled_at = $2, alerted_at = $2,
		updated_at = $2, version = version + 1
		WHERE public_id = $3 AND enabled AND ($4::boolean OR failing_since <= $5::bigint)
		RETURNING id, url, description, failing_since`, reason, now, c.WebhookID, c.DisableReason != "", cutoff).
		Scan(&row, &o.url, &o.desc, &since)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	o.webhookRow, o.webhookID = &row, c.WebhookID
	first := now
	if since != nil {
		first = *since
	}
	alertRow, _, err := t.createNotice(o, db.AlertWebhookDisabled, reason, first, now)
	if err != nil {
		return err
	}
	// The attempt that disabled the webhook is the alert's one failure, as it stood.
	r := c.LastFailure
	if _, err := t.exec(`INSERT INTO alert_failures (alert_id, webhook_id, webhook_public_id, webhook_url, webhook_description,
		delivery_public_id, event_public_id, event_type, attempts, status_code, error, error_message, first_attempt_at, failed_at)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
			coalesce((SELECT min(attempted_at) FROM attempts WHERE delivery_id = $13), $14), $14`,
		alertRow, row, c.WebhookID, o.url, o.desc, r.Claim.DeliveryID, r.Claim.EventID, r.Claim.EventType,
		r.Claim.Number(), nullInt(r.StatusCode), nullString(safeText(db.LastError(r))), nullString(safeText(r.ErrorMessage)),
		r.Claim.Row, millis(r.AttemptedAt)); err != nil {
		return fmt.Errorf("note the attempt: %w", err)
	}
	if _, err := t.insertAudit(db.NewAuditRecord{Actor: db.SystemActor, Action: db.AuditWebhookDisable,
		Target: db.AuditTarget{Kind: db.TargetWebhook, ID: c.WebhookID}, Summary: reason}, fromMillis(now)); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	t.alerted = true
	return nil
}

// createNotice queues an alert that is sent at once and folds nothing: a webhook disabled,
// or recovered.
func (t *tx) createNotice(o outboxRow, kind db.AlertKind, reason string, since, now int64) (int64, string, error) {
	id := db.NewID("alr")
	var row int64
	err := t.queryRow(`INSERT INTO alerts (public_id, kind, reason, webhook_public_id, webhook_url, webhook_description,
		failing_since, window_ends_at, state, next_attempt_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $8, $8, $8) RETURNING id`,
		id, string(kind), reason, o.webhookID, o.url, o.desc, since, now).Scan(&row)
	if err != nil {
		return 0, "", fmt.Errorf("create %s alert: %w", kind, err)
	}
	return row, id, nil
}
