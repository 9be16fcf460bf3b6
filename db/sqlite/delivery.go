package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

const deliveryColumns = `d.public_id, w.public_id, e.public_id, e.event_type, d.state, d.attempts, d.manual,
	d.next_attempt_at, d.last_attempt_at, d.last_status_code, d.last_error, d.created_at, d.updated_at`

const deliveryFrom = ` FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id JOIN events e ON e.id = d.event_id`

func scanDelivery(sc interface{ Scan(...any) error }) (db.Delivery, error) {
	var (
		d                db.Delivery
		next, last, code sql.NullInt64
		lastErr          sql.NullString
		created, updated int64
	)
	if err := sc.Scan(&d.ID, &d.WebhookID, &d.EventID, &d.EventType, &d.State, &d.Attempts, &d.Manual,
		&next, &last, &code, &lastErr, &created, &updated); err != nil {
		return db.Delivery{}, translate(err)
	}
	d.NextAttemptAt, d.LastAttemptAt = fromNullMillis(next), fromNullMillis(last)
	d.LastStatusCode, d.LastError = int(code.Int64), lastErr.String
	d.CreatedAt, d.UpdatedAt = fromMillis(created), fromMillis(updated)
	return d, nil
}

// FindDelivery returns the delivery with the given public id.
func (s *DB) FindDelivery(ctx context.Context, id string) (db.Delivery, error) {
	d, err := scanDelivery(s.reader.QueryRowContext(ctx, `SELECT `+deliveryColumns+deliveryFrom+` WHERE d.public_id = ?`, id))
	if err != nil {
		return db.Delivery{}, fmt.Errorf("find delivery %s: %w", id, err)
	}
	return d, nil
}

// ListAttempts returns every attempt of a delivery, first to last.
func (s *DB) ListAttempts(ctx context.Context, deliveryID string) ([]db.Attempt, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT a.number, a.trigger, a.attempted_at, a.status_code, a.duration_ms,
		a.response_body, a.response_truncated, a.error_class, a.error_message, a.signature, a.retry_after_seconds
		FROM attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.public_id = ? ORDER BY a.number`, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("list attempts of %s: %w", deliveryID, err)
	}
	defer rows.Close()
	var out []db.Attempt
	for rows.Next() {
		var (
			a          db.Attempt
			at, durMS  int64
			code, wait sql.NullInt64
			class, msg sql.NullString
		)
		if err := rows.Scan(&a.Number, &a.Trigger, &at, &code, &durMS, &a.ResponseBody, &a.ResponseTruncated,
			&class, &msg, &a.Signature, &wait); err != nil {
			return nil, fmt.Errorf("list attempts of %s: %w", deliveryID, err)
		}
		a.AttemptedAt, a.Duration = fromMillis(at), time.Duration(durMS)*time.Millisecond
		a.StatusCode, a.ErrorClass, a.ErrorMessage = int(code.Int64), class.String, msg.String
		a.RetryAfter = time.Duration(wait.Int64) * time.Second
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list attempts of %s: %w", deliveryID, err)
	}
	return out, nil
}

// ListDeliveries returns deliveries newest first and, when more remain, the cursor of the
// next page. Cursors are opaque to callers and stable while rows are added.
func (s *DB) ListDeliveries(ctx context.Context, f db.DeliveryFilter) ([]db.Delivery, string, error) {
	p := newPage('d', "d.id", f.Limit)
	if f.WebhookID != "" {
		p.filter("d.webhook_id = (SELECT id FROM webhooks WHERE public_id = ?)", f.WebhookID)
	}
	if f.EventID != "" {
		p.filter("d.event_id = (SELECT id FROM events WHERE public_id = ?)", f.EventID)
	}
	if f.State != "" {
		p.filter("d.state = ?", string(f.State))
	}
	if f.EventType != "" {
		p.filter("e.event_type = ?", f.EventType)
	}
	if f.WorkflowID != "" {
		p.filter("e.workflow_id = ?", f.WorkflowID)
	}
	if f.StatusFrom != 0 {
		p.filter("d.last_status_code BETWEEN ? AND ?", f.StatusFrom, f.StatusTo)
	}
	if f.ErrorClass != "" {
		p.filter("d.last_error = ?", f.ErrorClass)
	}
	if !f.Since.IsZero() {
		p.filter("d.created_at >= ?", millis(f.Since))
	}
	if !f.Until.IsZero() {
		p.filter("d.created_at < ?", millis(f.Until))
	}
	if err := p.after(f.Cursor); err != nil {
		return nil, "", err
	}
	q, args := p.query(`SELECT d.id, ` + deliveryColumns + deliveryFrom)
	rows, err := s.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list deliveries: %w", s.translate(err))
	}
	out, next, err := listPage(rows, p, scanDelivery)
	if err != nil {
		return nil, "", fmt.Errorf("list deliveries: %w", s.translate(err))
	}
	return out, next, nil
}

// RetryDelivery schedules one immediate manual attempt of a failed or succeeded delivery.
// It returns ErrInFlight when the delivery is pending or in flight, and ErrWebhookDisabled
// when its webhook is disabled.
func (s *DB) RetryDelivery(ctx context.Context, id string) (db.Delivery, error) {
	err := s.write(ctx, func(t *tx) error {
		var (
			row     int64
			state   db.State
			enabled bool
			webhook string
		)
		err := t.queryRow(`SELECT d.id, d.state, w.enabled, w.public_id FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id
			WHERE d.public_id = ?`, id).Scan(&row, &state, &enabled, &webhook)
		if err != nil {
			return s.translate(err)
		}
		if !state.Final() {
			return db.ErrInFlight
		}
		if !enabled {
			return db.ErrWebhookDisabled
		}
		now := millis(s.Now())
		if _, err := t.exec(`UPDATE deliveries SET state = 'pending', manual = 1, next_attempt_at = ?, updated_at = ?
			WHERE id = ?`, now, now, row); err != nil {
			return err
		}
		t.markDue(webhook)
		return nil
	})
	if err != nil {
		return db.Delivery{}, fmt.Errorf("retry delivery %s: %w", id, err)
	}
	return s.FindDelivery(ctx, id)
}

// RetryFailed schedules a manual attempt of every failed delivery of a webhook and returns
// how many it scheduled.
func (s *DB) RetryFailed(ctx context.Context, webhookID string) (int, error) {
	var n int64
	err := s.write(ctx, func(t *tx) error {
		var (
			row     int64
			enabled bool
		)
		if err := t.queryRow(`SELECT id, enabled FROM webhooks WHERE public_id = ?`, webhookID).Scan(&row, &enabled); err != nil {
			return s.translate(err)
		}
		if !enabled {
			return db.ErrWebhookDisabled
		}
		now := millis(s.Now())
		res, err := t.exec(`UPDATE deliveries SET state = 'pending', manual = 1, next_attempt_at = ?, updated_at = ?
			WHERE webhook_id = ? AND state = 'failed'`, now, now, row)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		if n > 0 {
			t.markDue(webhookID)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("retry failed deliveries of %s: %w", webhookID, err)
	}
	return int(n), nil
}
