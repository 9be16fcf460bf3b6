package sqlite

import (
	"context"
	"fmt"

	"github.com/hookrelay/hookrelay/db"
)

// ReplayEvent creates new deliveries of a stored event, due now: to the listed webhooks,
// whatever their filter, or when none are listed to every enabled webhook whose filter
// matches the event's type now. The event, and so its id and body, is the same: receivers
// de-duplicate on it. A listed webhook that is disabled gets a delivery that waits like its
// others. ErrNotFound names the event or a listed webhook that does not exist.
func (s *DB) ReplayEvent(ctx context.Context, eventID string, webhookIDs []string) ([]db.Replayed, error) {
	var out []db.Replayed
	err := s.write(ctx, func(t *tx) error {
		out = out[:0]
		var (
			eventRow int64
			typ      string
		)
		if err := t.queryRow(`SELECT id, event_type FROM events WHERE public_id = ?`, eventID).Scan(&eventRow, &typ); err != nil {
			return fmt.Errorf("event %s: %w", eventID, s.translate(err))
		}
		type target struct {
			row int64
			id  string
		}
		var targets []target
		if len(webhookIDs) == 0 {
			all, err := t.enabledWebhooks()
			if err != nil {
				return err
			}
			for _, w := range all {
				if db.MatchAny(w.patterns, typ) {
					targets = append(targets, target{w.rowID, w.id})
				}
			}
		}
		for _, id := range webhookIDs {
			var row int64
			if err := t.queryRow(`SELECT id FROM webhooks WHERE public_id = ?`, id).Scan(&row); err != nil {
				return fmt.Errorf("webhook %s: %w", id, s.translate(err))
			}
			targets = append(targets, target{row, id})
		}
		now := millis(s.Now())
		for _, w := range targets {
			r := db.Replayed{DeliveryID: db.NewID("dlv"), WebhookID: w.id}
			if _, err := t.exec(`INSERT INTO deliveries (public_id, event_id, webhook_id, state, next_attempt_at, created_at, updated_at)
				VALUES (?, ?, ?, 'pending', ?, ?, ?)`, r.DeliveryID, eventRow, w.row, now, now, now); err != nil {
				return fmt.Errorf("insert delivery: %w", translate(err))
			}
			t.markDue(w.id)
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("replay event %s: %w", eventID, s.translate(err))
	}
	return out, nil
}
