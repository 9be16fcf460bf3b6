package postgres

import (
	"context"
	"fmt"
	"math"

	"github.com/hookrelay/hookrelay/db"
)

// RecoverFailed gives every failed delivery that f selects one manual attempt, due now, as
// RetryFailed does for one webhook, and returns how many. It works in transactions of
// db.RecoverBatch deliveries, in id order, so that no transaction holds many row locks for
// long; the engines then send them under their usual caps, webhook by webhook.
func (s *DB) RecoverFailed(ctx context.Context, f db.RecoverFilter) (int, error) {
	until := int64(math.MaxInt64)
	if !f.Until.IsZero() {
		until = millis(f.Until)
	}
	total, after := 0, int64(0)
	for {
		var n int
		err := s.write(ctx, func(t *tx) error {
			now := millis(s.Now())
			rows, err := t.query(`UPDATE deliveries SET state = 'pending', manual = true, next_attempt_at = $1, updated_at = $1
				WHERE id IN (SELECT d.id FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id
					WHERE d.state = 'failed' AND d.id > $2 AND d.created_at >= $3 AND d.created_at < $4 AND w.enabled
					AND ($5 = '' OR w.public_id = $5)
					AND ($6 = '' OR d.event_id IN (SELECT id FROM events WHERE event_type = $6))
					ORDER BY d.id LIMIT $7 FOR UPDATE OF d SKIP LOCKED)
				AND state = 'failed'
				RETURNING id, (SELECT public_id FROM webhooks WHERE id = webhook_id)`,
				now, after, millis(f.Since), until, f.WebhookID, f.EventType, db.RecoverBatch)
			if err != nil {
				return err
			}
			defer rows.Close()
			n = 0
			seen := map[string]bool{}
			for rows.Next() {
				var (
					id      int64
					webhook string
				)
				if err := rows.Scan(&id, &webhook); err != nil {
					return err
				}
				n++
				after = max(after, id)
				if !seen[webhook] {
					seen[webhook] = true
					t.markDue(webhook)
				}
			}
			return rows.Err()
		})
		if err != nil {
			return total, fmt.Errorf("recover failed deliveries: %w", s.translate(err))
		}
		total += n
		if n < db.RecoverBatch {
			return total, nil
		}
	}
}

// CountRecoverable counts the failed deliveries that RecoverFailed(f) would retry now: what
// the UI asks the admin to confirm.
func (s *DB) CountRecoverable(ctx context.Context, f db.RecoverFilter) (int, error) {
	until := int64(math.MaxInt64)
	if !f.Until.IsZero() {
		until = millis(f.Until)
	}
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id
		WHERE d.state = 'failed' AND d.created_at >= $1 AND d.created_at < $2 AND w.enabled
		AND ($3 = '' OR w.public_id = $3)
		AND ($4 = '' OR d.event_id IN (SELECT id FROM events WHERE event_type = $4))`,
		millis(f.Since), until, f.WebhookID, f.EventType).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count recoverable deliveries: %w", s.translate(err))
	}
	return n, nil
}
