package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// State is where a delivery is in its life. The list is mirrored by a CHECK constraint.
type State string

// Delivery states. pending → delivering → succeeded | pending (retry scheduled) | failed.
// A manual retry moves failed or succeeded back to pending.
const (
	// StatePending: waiting for next_attempt_at (new, or a retry is scheduled).
	StatePending State = "pending"
	// StateDelivering: claimed by the engine under a lease; an attempt is in flight.
	StateDelivering State = "delivering"
	// StateSucceeded: a receiver answered 2xx. Final unless retried by hand.
	StateSucceeded State = "succeeded"
	// StateFailed: the retry schedule is used up (or a manual attempt failed). Final unless
	// retried by hand.
	StateFailed State = "failed"
)

// Valid reports whether s is one of the known states.
func (s State) Valid() bool {
	switch s {
	case StatePending, StateDelivering, StateSucceeded, StateFailed:
		return true
	}
	return false
}

// Final reports whether no further attempt will be made without an admin's action.
func (s State) Final() bool { return s == StateSucceeded || s == StateFailed }

// Trigger says why an attempt was made.
type Trigger string

// Attempt triggers.
const (
	TriggerScheduled Trigger = "scheduled"
	TriggerManual    Trigger = "manual"
)

// ErrInFlight is returned when a retry is asked for a delivery that is pending or in flight.
var ErrInFlight = fmt.Errorf("%w: delivery is already pending or in flight", ErrConflict)

// ErrWebhookDisabled is returned when a retry is asked for a delivery of a disabled webhook.
var ErrWebhookDisabled = fmt.Errorf("%w: webhook is disabled", ErrConflict)

// Delivery is one event on its way to one webhook.
type Delivery struct {
	ID             string // dlv_…
	WebhookID      string
	EventID        string
	EventType      string
	State          State
	Attempts       int
	Manual         bool      // the next attempt is a manual retry
	NextAttemptAt  time.Time // zero when no attempt is scheduled
	LastAttemptAt  time.Time
	LastStatusCode int // 0 when the last attempt got no response
	LastError      string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// CanRetry reports whether an admin may retry the delivery now.
func (d Delivery) CanRetry() bool { return d.State.Final() }

// Attempt is one HTTP request made for a delivery and what came back.
type Attempt struct {
	Number            int
	Trigger           Trigger
	AttemptedAt       time.Time
	StatusCode        int // 0 when no response was received
	Duration          time.Duration
	ResponseBody      []byte
	ResponseTruncated bool
	ErrorClass        string // timeout, connection, dns, tls, …; empty when a status code came back
	ErrorMessage      string
	Signature         string // the webhook-signature header sent
}

const deliveryColumns = `d.public_id, w.public_id, e.public_id, e.event_type, d.state, d.attempts, d.manual,
	d.next_attempt_at, d.last_attempt_at, d.last_status_code, d.last_error, d.created_at, d.updated_at`

const deliveryFrom = ` FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id JOIN events e ON e.id = d.event_id`

func scanDelivery(sc interface{ Scan(...any) error }) (Delivery, error) {
	var (
		d                Delivery
		next, last, code sql.NullInt64
		lastErr          sql.NullString
		created, updated int64
	)
	if err := sc.Scan(&d.ID, &d.WebhookID, &d.EventID, &d.EventType, &d.State, &d.Attempts, &d.Manual,
		&next, &last, &code, &lastErr, &created, &updated); err != nil {
		return Delivery{}, translate(err)
	}
	d.NextAttemptAt, d.LastAttemptAt = fromNullMillis(next), fromNullMillis(last)
	d.LastStatusCode, d.LastError = int(code.Int64), lastErr.String
	d.CreatedAt, d.UpdatedAt = fromMillis(created), fromMillis(updated)
	return d, nil
}

// FindDelivery returns the delivery with the given public id.
func (s *DB) FindDelivery(ctx context.Context, id string) (Delivery, error) {
	d, err := scanDelivery(s.reader.QueryRowContext(ctx, `SELECT `+deliveryColumns+deliveryFrom+` WHERE d.public_id = ?`, id))
	if err != nil {
		return Delivery{}, fmt.Errorf("find delivery %s: %w", id, err)
	}
	return d, nil
}

// ListAttempts returns every attempt of a delivery, first to last.
func (s *DB) ListAttempts(ctx context.Context, deliveryID string) ([]Attempt, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT a.number, a.trigger, a.attempted_at, a.status_code, a.duration_ms,
		a.response_body, a.response_truncated, a.error_class, a.error_message, a.signature
		FROM attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.public_id = ? ORDER BY a.number`, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("list attempts of %s: %w", deliveryID, err)
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var (
			a          Attempt
			at, durMS  int64
			code       sql.NullInt64
			class, msg sql.NullString
		)
		if err := rows.Scan(&a.Number, &a.Trigger, &at, &code, &durMS, &a.ResponseBody, &a.ResponseTruncated,
			&class, &msg, &a.Signature); err != nil {
			return nil, fmt.Errorf("list attempts of %s: %w", deliveryID, err)
		}
		a.AttemptedAt, a.Duration = fromMillis(at), time.Duration(durMS)*time.Millisecond
		a.StatusCode, a.ErrorClass, a.ErrorMessage = int(code.Int64), class.String, msg.String
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list attempts of %s: %w", deliveryID, err)
	}
	return out, nil
}

// DeliveryFilter selects deliveries for ListDeliveries. Zero fields do not filter.
type DeliveryFilter struct {
	WebhookID string
	EventID   string
	State     State
	EventType string
	Since     time.Time // created at or after
	Until     time.Time // created before
	Cursor    string    // from a previous page's next cursor
	Limit     int       // default 50, at most 500
}

// ListDeliveries returns deliveries newest first and, when more remain, the cursor of the
// next page. Cursors are opaque to callers and stable while rows are added.
func (s *DB) ListDeliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, string, error) {
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
		return nil, "", fmt.Errorf("list deliveries: %w", err)
	}
	out, next, err := listPage(rows, p, scanDelivery)
	if err != nil {
		return nil, "", fmt.Errorf("list deliveries: %w", err)
	}
	return out, next, nil
}

// RetryDelivery schedules one immediate manual attempt of a failed or succeeded delivery.
// It returns ErrInFlight when the delivery is pending or in flight, and ErrWebhookDisabled
// when its webhook is disabled.
func (s *DB) RetryDelivery(ctx context.Context, id string) (Delivery, error) {
	err := s.write(ctx, func(t *tx) error {
		var (
			row     int64
			state   State
			enabled bool
			webhook string
		)
		err := t.queryRow(`SELECT d.id, d.state, w.enabled, w.public_id FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id
			WHERE d.public_id = ?`, id).Scan(&row, &state, &enabled, &webhook)
		if err != nil {
			return translate(err)
		}
		if !state.Final() {
			return ErrInFlight
		}
		if !enabled {
			return ErrWebhookDisabled
		}
		now := millis(s.now())
		if _, err := t.exec(`UPDATE deliveries SET state = 'pending', manual = 1, next_attempt_at = ?, updated_at = ?
			WHERE id = ?`, now, now, row); err != nil {
			return err
		}
		t.markDue(webhook)
		return nil
	})
	if err != nil {
		return Delivery{}, fmt.Errorf("retry delivery %s: %w", id, err)
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
			return translate(err)
		}
		if !enabled {
			return ErrWebhookDisabled
		}
		now := millis(s.now())
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
