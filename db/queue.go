package db

import (
	"context"
	"database/sql"
	"encoding/json"
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
	return s.RecordAndClaim(ctx, nil, reqs, lease)
}

// RecordAndClaim records attempt results (see RecordAttempts) and then leases due work (see
// ClaimDue), in one transaction. The engine's every cycle is one such call: the slots that
// finished attempts freed are refilled without a second trip through the writer.
func (s *DB) RecordAndClaim(ctx context.Context, results []AttemptResult, reqs []ClaimRequest, lease time.Duration) (Claimed, error) {
	out := Claimed{NextDue: make(map[string]time.Time, len(reqs))}
	alerted := false
	err := s.write(ctx, func(t *tx) error {
		var err error
		if alerted, err = t.recordAttempts(results); err != nil {
			return fmt.Errorf("record attempts: %w", err)
		}
		if err := t.claimDue(reqs, lease, &out); err != nil {
			return fmt.Errorf("claim due deliveries: %w", err)
		}
		return nil
	})
	if err != nil {
		return Claimed{}, err
	}
	if alerted {
		s.notifyAlertQueued()
	}
	return out, nil
}

// claimDue is ClaimDue inside a transaction; it fills out afresh.
func (t *tx) claimDue(reqs []ClaimRequest, lease time.Duration, out *Claimed) error {
	out.Claims = out.Claims[:0]
	clear(out.NextDue)
	now := t.db.now()
	until := now.Add(lease)
	bodies := map[int64]eventBody{} // events fanned out to several webhooks are read once
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

// claimWebhook leases up to r.Limit due deliveries of one webhook with one UPDATE … RETURNING,
// then reads the events they carry in one query.
func (t *tx) claimWebhook(webhookRow int64, r ClaimRequest, now, until time.Time, bodies map[int64]eventBody) ([]Claim, error) {
	lease := rand.Int64()
	rows, err := t.query(`UPDATE deliveries SET state = 'delivering', locked_until = ?, lease_token = ?, updated_at = ?
		WHERE id IN (SELECT id FROM deliveries WHERE webhook_id = ? AND state = 'pending' AND next_attempt_at <= ?
		             ORDER BY next_attempt_at, id LIMIT ?)
		RETURNING id, public_id, attempts, manual, event_id`,
		millis(until), lease, millis(now), webhookRow, millis(now), r.Limit)
	if err != nil {
		return nil, fmt.Errorf("lease due deliveries of %s: %w", r.WebhookID, err)
	}
	var (
		claims  []Claim
		events  []int64
		missing []int64
	)
	for rows.Next() {
		c := Claim{WebhookID: r.WebhookID, LeaseUntil: until, lease: lease}
		var eventRow int64
		if err := rows.Scan(&c.row, &c.DeliveryID, &c.Attempts, &c.Manual, &eventRow); err != nil {
			rows.Close()
			return nil, fmt.Errorf("lease due deliveries of %s: %w", r.WebhookID, err)
		}
		if _, ok := bodies[eventRow]; !ok {
			bodies[eventRow] = eventBody{}
			missing = append(missing, eventRow)
		}
		claims, events = append(claims, c), append(events, eventRow)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lease due deliveries of %s: %w", r.WebhookID, err)
	}
	if err := t.readEventBodies(missing, bodies); err != nil {
		return nil, err
	}
	for i := range claims {
		e := bodies[events[i]]
		claims[i].EventID, claims[i].EventType, claims[i].Body = e.id, e.typ, e.body
	}
	return claims, nil
}

// eventBody is what a claim needs of its event.
type eventBody struct {
	id, typ string
	body    []byte
}

// readEventBodies reads the given events into bodies, all in one query.
func (t *tx) readEventBodies(ids []int64, bodies map[int64]eventBody) error {
	if len(ids) == 0 {
		return nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return fmt.Errorf("encode event ids: %w", err)
	}
	rows, err := t.query(`SELECT id, public_id, event_type, body FROM events WHERE id IN (SELECT value FROM json_each(?))`, string(list))
	if err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			row int64
			e   eventBody
		)
		if err := rows.Scan(&row, &e.id, &e.typ, &e.body); err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		bodies[row] = e
	}
	return rows.Err()
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
	_, err := s.RecordAndClaim(ctx, results, nil, 0)
	return err
}

// recordAttempts is RecordAttempts inside a transaction; it reports whether it queued an alert.
func (t *tx) recordAttempts(results []AttemptResult) (alerted bool, err error) {
	now := millis(t.db.now())
	recovered := map[string]bool{} // webhooks whose recovery this batch has noted already
	for _, r := range results {
		c := r.Claim
		lastErr := r.ErrorClass
		if lastErr == "" && r.StatusCode != 0 && (r.StatusCode < 200 || r.StatusCode > 299) {
			lastErr = fmt.Sprintf("HTTP %d", r.StatusCode)
		}
		var next sql.NullInt64
		if r.Next == StatePending {
			next = nullMillis(r.NextAt)
		}
		// The common case: the lease still holds, and the attempt moves the delivery on.
		var attempts int
		owned := true
		err := t.queryRow(`UPDATE deliveries SET attempts = attempts + 1, state = ?, next_attempt_at = ?, manual = 0,
			locked_until = NULL, lease_token = NULL, last_attempt_at = ?, last_status_code = ?, last_error = ?, updated_at = ?
			WHERE id = ? AND lease_token = ? RETURNING attempts`,
			string(r.Next), next, millis(r.AttemptedAt), nullInt(r.StatusCode), nullString(lastErr), now, c.row, c.lease).Scan(&attempts)
		if errors.Is(err, sql.ErrNoRows) {
			// The lease was lost: count the attempt, leave the state to the newer claim.
			owned = false
			err = t.queryRow(`UPDATE deliveries SET attempts = attempts + 1, updated_at = ? WHERE id = ? RETURNING attempts`,
				now, c.row).Scan(&attempts)
			if errors.Is(err, sql.ErrNoRows) {
				continue // deleted with its webhook
			}
		}
		if err != nil {
			return false, fmt.Errorf("update delivery %s: %w", c.DeliveryID, err)
		}
		if _, err := t.exec(`INSERT INTO attempts (delivery_id, number, trigger, attempted_at, status_code, duration_ms,
			response_body, response_truncated, error_class, error_message, signature)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.row, attempts, string(c.Trigger()), millis(r.AttemptedAt), nullInt(r.StatusCode), r.Duration.Milliseconds(),
			nonNil(r.ResponseBody), r.ResponseTruncated, nullString(r.ErrorClass), nullString(r.ErrorMessage), r.Signature); err != nil {
			return false, fmt.Errorf("insert attempt of %s: %w", c.DeliveryID, err)
		}
		if !owned || r.Next == StateSucceeded && recovered[c.WebhookID] {
			continue
		}
		queued, err := t.noteForAlerts(r, attempts, lastErr, now) // see alert.go
		if err != nil {
			return false, err
		}
		alerted = alerted || queued
		switch r.Next {
		case StateSucceeded:
			recovered[c.WebhookID] = true
		case StateFailed:
			delete(recovered, c.WebhookID)
		}
	}
	return alerted, nil
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
