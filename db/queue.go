package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// ClaimRequest asks for up to Limit due deliveries of one webhook.
type ClaimRequest struct {
	WebhookID string
	Limit     int
}

// Claim is a delivery leased to the engine for one attempt. Pass it back unchanged in an
// AttemptResult: it carries the lease that proves the attempt is still the current one.
type Claim struct {
	DeliveryID string
	WebhookID  string
	URL        string
	Secrets    []string // signing secrets, current first
	EventID    string
	EventType  string
	Body       []byte
	Attempts   int  // attempts made before this one
	Manual     bool // this attempt is a manual retry
	LeaseUntil time.Time

	row   int64
	lease int64
}

// Trigger returns why this attempt is made.
func (c Claim) Trigger() Trigger {
	if c.Manual {
		return TriggerManual
	}
	return TriggerScheduled
}

// Claimed is what ClaimDue returns.
type Claimed struct {
	Claims []Claim
	// NextDue holds, for each webhook asked about, when its earliest remaining pending
	// delivery is due. A webhook that is absent has nothing pending, is disabled or is gone.
	NextDue map[string]time.Time
}

// ClaimDue leases due deliveries, oldest due first within each webhook, for lease. Leased
// rows are in state delivering until RecordAttempts or the rescuer releases them. Asking
// per webhook keeps one webhook's backlog from standing in front of another's work.
func (s *DB) ClaimDue(ctx context.Context, reqs []ClaimRequest, lease time.Duration) (Claimed, error) {
	out := Claimed{NextDue: make(map[string]time.Time, len(reqs))}
	err := s.write(ctx, func(t *tx) error {
		out.Claims = out.Claims[:0]
		clear(out.NextDue)
		now := s.now()
		until := now.Add(lease)
		bodies := map[int64][]byte{} // events fanned out to several webhooks are read once
		for _, r := range reqs {
			var (
				webhookRow int64
				url        string
				secret     string
				enabled    bool
			)
			err := t.queryRow(`SELECT id, url, secret, enabled FROM webhooks WHERE public_id = ?`, r.WebhookID).
				Scan(&webhookRow, &url, &secret, &enabled)
			if errors.Is(err, sql.ErrNoRows) || err == nil && !enabled {
				continue
			}
			if err != nil {
				return fmt.Errorf("read webhook %s: %w", r.WebhookID, err)
			}
			if r.Limit > 0 {
				claims, err := t.claimWebhook(webhookRow, r, now, until, bodies)
				if err != nil {
					return err
				}
				if len(claims) > 0 {
					secrets, err := t.signingSecrets(r.WebhookID, webhookRow, secret, now)
					if err != nil {
						return err
					}
					for i := range claims {
						claims[i].URL, claims[i].Secrets = url, secrets
					}
				}
				out.Claims = append(out.Claims, claims...)
			}
			var next sql.NullInt64
			if err := t.queryRow(`SELECT min(next_attempt_at) FROM deliveries WHERE webhook_id = ? AND state = 'pending'`,
				webhookRow).Scan(&next); err != nil {
				return fmt.Errorf("next due of %s: %w", r.WebhookID, err)
			}
			if next.Valid {
				out.NextDue[r.WebhookID] = fromMillis(next.Int64)
			}
		}
		return nil
	})
	if err != nil {
		return Claimed{}, fmt.Errorf("claim due deliveries: %w", err)
	}
	return out, nil
}

// signingSecrets returns the secrets to sign a webhook's deliveries with now: the current
// one first, then the old ones still in their grace period, newest first. A receiver that
// has not switched yet finds its signature last.
func (t *tx) signingSecrets(webhookID string, webhookRow int64, stored string, now time.Time) ([]string, error) {
	cur, err := t.db.box.open(webhookID, stored)
	if err != nil {
		return nil, fmt.Errorf("secret of webhook %s: %w", webhookID, err)
	}
	old, err := t.db.oldSecrets(t.ctx, t, webhookID, webhookRow, now)
	if err != nil {
		return nil, fmt.Errorf("old secrets of webhook %s: %w", webhookID, err)
	}
	return WebhookSecrets{Current: cur, Old: old}.All(), nil
}

func (t *tx) claimWebhook(webhookRow int64, r ClaimRequest, now, until time.Time, bodies map[int64][]byte) ([]Claim, error) {
	rows, err := t.query(`SELECT d.id, d.public_id, d.attempts, d.manual, d.event_id, e.public_id, e.event_type
		FROM deliveries d JOIN events e ON e.id = d.event_id
		WHERE d.webhook_id = ? AND d.state = 'pending' AND d.next_attempt_at <= ?
		ORDER BY d.next_attempt_at, d.id LIMIT ?`, webhookRow, millis(now), r.Limit)
	if err != nil {
		return nil, fmt.Errorf("select due deliveries of %s: %w", r.WebhookID, err)
	}
	var (
		claims []Claim
		events []int64
	)
	for rows.Next() {
		c := Claim{WebhookID: r.WebhookID, LeaseUntil: until, lease: rand.Int64()}
		var eventRow int64
		if err := rows.Scan(&c.row, &c.DeliveryID, &c.Attempts, &c.Manual, &eventRow, &c.EventID, &c.EventType); err != nil {
			rows.Close()
			return nil, fmt.Errorf("select due deliveries of %s: %w", r.WebhookID, err)
		}
		claims, events = append(claims, c), append(events, eventRow)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select due deliveries of %s: %w", r.WebhookID, err)
	}
	for i := range claims {
		c := &claims[i]
		if _, err := t.exec(`UPDATE deliveries SET state = 'delivering', locked_until = ?, lease_token = ?, updated_at = ?
			WHERE id = ?`, millis(until), c.lease, millis(now), c.row); err != nil {
			return nil, fmt.Errorf("lease delivery %s: %w", c.DeliveryID, err)
		}
		body, ok := bodies[events[i]]
		if !ok {
			if err := t.queryRow(`SELECT body FROM events WHERE id = ?`, events[i]).Scan(&body); err != nil {
				return nil, fmt.Errorf("read event %s: %w", c.EventID, err)
			}
			bodies[events[i]] = body
		}
		c.Body = body
	}
	return claims, nil
}

// AttemptResult is the outcome of one attempt and what the policy decided next.
type AttemptResult struct {
	Claim             Claim
	AttemptedAt       time.Time
	StatusCode        int // 0 when no response was received
	Duration          time.Duration
	ResponseBody      []byte
	ResponseTruncated bool
	ErrorClass        string
	ErrorMessage      string
	Signature         string
	// Next is the delivery's new state: StatePending (with NextAt), StateSucceeded or
	// StateFailed.
	Next   State
	NextAt time.Time
}

// RecordAttempts appends each attempt to its delivery's history and moves the delivery to
// its next state, all in one transaction. An attempt whose lease was lost (the rescuer
// requeued the delivery meanwhile) is still recorded, since it happened, but does not change
// the delivery's state: the newer claim owns that. Attempts of deleted deliveries are dropped.
// A delivery whose schedule is used up gets its failure alert queued in the same transaction.
func (s *DB) RecordAttempts(ctx context.Context, results []AttemptResult) error {
	alerted := false
	err := s.write(ctx, func(t *tx) error {
		alerted = false
		now := millis(s.now())
		for _, r := range results {
			c := r.Claim
			var (
				attempts int
				lease    sql.NullInt64
			)
			err := t.queryRow(`SELECT attempts, lease_token FROM deliveries WHERE id = ?`, c.row).Scan(&attempts, &lease)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return fmt.Errorf("read delivery %s: %w", c.DeliveryID, err)
			}
			if _, err := t.exec(`INSERT INTO attempts (delivery_id, number, trigger, attempted_at, status_code, duration_ms,
				response_body, response_truncated, error_class, error_message, signature)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				c.row, attempts+1, string(c.Trigger()), millis(r.AttemptedAt), nullInt(r.StatusCode), r.Duration.Milliseconds(),
				nonNil(r.ResponseBody), r.ResponseTruncated, nullString(r.ErrorClass), nullString(r.ErrorMessage), r.Signature); err != nil {
				return fmt.Errorf("insert attempt of %s: %w", c.DeliveryID, err)
			}
			lastErr := r.ErrorClass
			if lastErr == "" && r.StatusCode != 0 && (r.StatusCode < 200 || r.StatusCode > 299) {
				lastErr = fmt.Sprintf("HTTP %d", r.StatusCode)
			}
			if lease.Valid && lease.Int64 == c.lease {
				var next sql.NullInt64
				if r.Next == StatePending {
					next = nullMillis(r.NextAt)
				}
				_, err = t.exec(`UPDATE deliveries SET attempts = attempts + 1, state = ?, next_attempt_at = ?, manual = 0,
					locked_until = NULL, lease_token = NULL, last_attempt_at = ?, last_status_code = ?, last_error = ?, updated_at = ?
					WHERE id = ?`, string(r.Next), next, millis(r.AttemptedAt), nullInt(r.StatusCode), nullString(lastErr), now, c.row)
			} else {
				_, err = t.exec(`UPDATE deliveries SET attempts = attempts + 1, updated_at = ? WHERE id = ?`, now, c.row)
			}
			if err != nil {
				return fmt.Errorf("update delivery %s: %w", c.DeliveryID, err)
			}
			if lease.Valid && lease.Int64 == c.lease {
				queued, err := t.noteForAlerts(r, attempts+1, lastErr, now) // see alert.go
				if err != nil {
					return err
				}
				alerted = alerted || queued
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record attempts: %w", err)
	}
	if alerted {
		s.notifyAlertQueued()
	}
	return nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// RescueExpired returns deliveries whose lease has run out (the process that claimed them
// died mid-attempt, or the attempt outlived its lease) to pending, due at once. This is what
// makes delivery at-least-once across crashes.
func (s *DB) RescueExpired(ctx context.Context) (int, error) {
	var n int
	err := s.write(ctx, func(t *tx) error {
		now := millis(s.now())
		rows, err := t.query(`UPDATE deliveries SET state = 'pending', next_attempt_at = ?, locked_until = NULL,
			lease_token = NULL, updated_at = ?
			WHERE state = 'delivering' AND locked_until <= ?
			RETURNING (SELECT public_id FROM webhooks WHERE id = webhook_id)`, now, now, now)
		if err != nil {
			return err
		}
		defer rows.Close()
		seen := map[string]bool{}
		n = 0
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			n++
			if !seen[id] {
				seen[id] = true
				t.markDue(id)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("rescue expired leases: %w", err)
	}
	return n, nil
}

// DueWebhooks returns, for every enabled webhook with pending deliveries, when the earliest
// of them is due. The engine uses it to (re)build its schedule.
func (s *DB) DueWebhooks(ctx context.Context) (map[string]time.Time, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT w.public_id,
		(SELECT min(d.next_attempt_at) FROM deliveries d WHERE d.webhook_id = w.id AND d.state = 'pending')
		FROM webhooks w WHERE w.enabled = 1`)
	if err != nil {
		return nil, fmt.Errorf("list due webhooks: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var (
			id   string
			next sql.NullInt64
		)
		if err := rows.Scan(&id, &next); err != nil {
			return nil, fmt.Errorf("list due webhooks: %w", err)
		}
		if next.Valid {
			out[id] = fromMillis(next.Int64)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list due webhooks: %w", err)
	}
	return out, nil
}
