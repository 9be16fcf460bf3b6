package sqlite

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/hookrelay/hookrelay/db"
)

// trackHealth applies what recorded attempts say about their webhooks' runs of failures (see
// db.HealthChanges): a success ends the run and, when the webhook was alerted on, queues the
// "recovered" alert; a failure starts the run; a 410, or a run longer than DisableAfter,
// disables the webhook with its reason, a webhook_disabled alert and an audit record by the
// system. All of it commits with the attempts. It reports whether it queued an alert.
func (t *tx) trackHealth(results []db.AttemptResult, owned func(db.AttemptResult) bool, now int64) (alerted bool, err error) {
	for _, c := range db.HealthChanges(results, owned) {
		// The run moves first, as on PostgreSQL (where it rides with the batch): a recovered
		// alert then reads a run that the success has just ended.
		var from sql.NullInt64
		if !c.FailingFrom.IsZero() {
			from = sql.NullInt64{Int64: millis(c.FailingFrom), Valid: true}
		}
		switch {
		case c.Succeeded:
			_, err = t.exec(`UPDATE webhooks SET failing_since = ?1 WHERE public_id = ?2 AND failing_since IS NOT ?1`, from, c.WebhookID)
		case from.Valid:
			_, err = t.exec(`UPDATE webhooks SET failing_since = ? WHERE public_id = ? AND failing_since IS NULL`, from, c.WebhookID)
		}
		if err != nil {
			return false, fmt.Errorf("note failures of %s: %w", c.WebhookID, err)
		}
		if c.Succeeded {
			queued, err := t.noteRecovered(c, now)
			if err != nil {
				return false, fmt.Errorf("note recovery of %s: %w", c.WebhookID, err)
			}
			alerted = alerted || queued
		}
		if c.MayDisable() {
			disabled, err := t.disableFailing(c, now)
			if err != nil {
				return false, fmt.Errorf("disable %s: %w", c.WebhookID, err)
			}
			alerted = alerted || disabled
		}
	}
	return alerted, nil
}

// noteRecovered queues the "recovered" alert of a webhook that was alerted on and has just
// succeeded, once: the alert mark is cleared with it. The alert is failing since the first
// alert of the incident: the success has already ended the run of failures.
func (t *tx) noteRecovered(c db.HealthChange, now int64) (bool, error) {
	var (
		o     outboxRow
		since int64
	)
	err := t.queryRow(`SELECT id, url, description, alerted_at FROM webhooks
		WHERE public_id = ? AND alerted_at IS NOT NULL`, c.WebhookID).Scan(&o.webhookRow, &o.url, &o.desc, &since)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := t.exec(`UPDATE webhooks SET alerted_at = NULL WHERE id = ?`, o.webhookRow.Int64); err != nil {
		return false, err
	}
	o.webhookID = c.WebhookID
	if _, _, err := t.createNotice(o, db.AlertRecovered, c.RecoveredReason(), since, now); err != nil {
		return false, err
	}
	return true, nil
}

// disableFailing disables the webhook when the change asks for it (a 410) or its run of
// failures began long enough ago, and reports whether it did. A webhook disabled already
// is left as it is.
func (t *tx) disableFailing(c db.HealthChange, now int64) (bool, error) {
	gone := c.DisableReason != ""
	var cutoff sql.NullInt64
	if at := c.DisableIfFailingSince(); !at.IsZero() {
		cutoff = sql.NullInt64{Int64: millis(at), Valid: true}
	}
	reason := c.Reason()
	var (
		o     outboxRow
		since sql.NullInt64
	)
	err := t.queryRow(`UPDATE webhooks SET enabled = 0, disabled_reason = ?1, disabled_at = ?2, alerted_at = ?2,
		updated_at = ?2, version = version + 1
		WHERE public_id = ?3 AND enabled = 1 AND (?4 OR failing_since <= ?5)
		RETURNING id, url, description, failing_since`, reason, now, c.WebhookID, gone, cutoff).
		Scan(&o.webhookRow, &o.url, &o.desc, &since)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	t.webhooksChanged()
	o.webhookID = c.WebhookID
	first := now
	if since.Valid {
		first = since.Int64
	}
	alertRow, _, err := t.createNotice(o, db.AlertWebhookDisabled, reason, first, now)
	if err != nil {
		return false, err
	}
	// The attempt that disabled the webhook is the alert's one failure, as it stood.
	r := c.LastFailure
	if _, err := t.exec(`INSERT INTO alert_failures (alert_id, webhook_id, webhook_public_id, webhook_url, webhook_description,
		delivery_public_id, event_public_id, event_type, attempts, status_code, error, error_message, first_attempt_at, failed_at)
		SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, coalesce((SELECT min(attempted_at) FROM attempts WHERE delivery_id = ?), ?), ?`,
		alertRow, o.webhookRow, c.WebhookID, o.url, o.desc, r.Claim.DeliveryID, r.Claim.EventID, r.Claim.EventType,
		r.Claim.Number(), nullInt(r.StatusCode), nullString(db.LastError(r)), nullString(r.ErrorMessage),
		r.Claim.Row, millis(r.AttemptedAt), millis(r.AttemptedAt)); err != nil {
		return false, fmt.Errorf("note the attempt: %w", translate(err))
	}
	if _, err := t.insertAudit(db.NewAuditRecord{Actor: db.SystemActor, Action: db.AuditWebhookDisable,
		Target: db.AuditTarget{Kind: db.TargetWebhook, ID: c.WebhookID}, Summary: reason}, fromMillis(now)); err != nil {
		return false, fmt.Errorf("audit: %w", translate(err))
	}
	return true, nil
}

// createNotice queues an alert that is sent at once and folds nothing: a webhook disabled,
// or recovered.
func (t *tx) createNotice(o outboxRow, kind db.AlertKind, reason string, since, now int64) (int64, string, error) {
	id := db.NewID("alr")
	res, err := t.exec(`INSERT INTO alerts (public_id, kind, reason, webhook_public_id, webhook_url, webhook_description,
		failing_since, window_ends_at, state, next_attempt_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)`,
		id, string(kind), reason, o.webhookID, o.url, o.desc, since, now, now, now, now)
	if err != nil {
		return 0, "", fmt.Errorf("create %s alert: %w", kind, translate(err))
	}
	row, err := res.LastInsertId()
	return row, id, err
}
