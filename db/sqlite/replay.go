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
		var targets []fanoutTarget
		if len(webhookIDs) == 0 {
			all, err := t.enabledWebhooks()
			if err != nil {
				return err
			}
			for _, w := range all {
				if db.MatchAny(w.patterns, typ) {
					targets = append(targets, w)
				}
			}
		}
		for _, id := range webhookIDs {
			w := fanoutTarget{id: id}
			if err := t.queryRow(`SELECT id FROM webhooks WHERE public_id = ?`, id).Scan(&w.rowID); err != nil {
				return fmt.Errorf("webhook %s: %w", id, s.translate(err))
			}
			targets = append(targets, w)
		}
		rows := make([][3]any, len(targets))
		for i, w := range targets {
			r := db.Replayed{DeliveryID: db.NewID("dlv"), WebhookID: w.id}
			rows[i] = [3]any{r.DeliveryID, eventRow, w.rowID}
			t.markDue(w.id)
			out = append(out, r)
		}
		return t.insertDeliveries(rows, s.Now())
	})
	if err != nil {
		return nil, fmt.Errorf("replay event %s: %w", eventID, s.translate(err))
	}
	return out, nil
}
