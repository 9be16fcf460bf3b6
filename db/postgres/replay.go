package postgres

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
		// FOR KEY SHARE: the pruner may be deleting the event; it then waits for this replay,
		// or this replay waits for it and finds no event, instead of failing on its foreign key.
		if err := t.queryRow(`SELECT id, event_type FROM events WHERE public_id = $1 FOR KEY SHARE`, eventID).Scan(&eventRow, &typ); err != nil {
			return fmt.Errorf("event %s: %w", eventID, s.translate(err))
		}
		var (
			ids           []string
			events, hooks []int64
		)
		if len(webhookIDs) == 0 {
			all, err := t.enabledWebhooks()
			if err != nil {
				return err
			}
			for _, w := range all {
				if db.MatchAny(w.patterns, typ) {
					ids, events, hooks = append(ids, db.NewID("dlv")), append(events, eventRow), append(hooks, w.rowID)
					out = append(out, db.Replayed{DeliveryID: ids[len(ids)-1], WebhookID: w.id})
				}
			}
		}
		for _, id := range webhookIDs {
			var row int64
			if err := t.queryRow(`SELECT id FROM webhooks WHERE public_id = $1`, id).Scan(&row); err != nil {
				return fmt.Errorf("webhook %s: %w", id, s.translate(err))
			}
			ids, events, hooks = append(ids, db.NewID("dlv")), append(events, eventRow), append(hooks, row)
			out = append(out, db.Replayed{DeliveryID: ids[len(ids)-1], WebhookID: id})
		}
		if err := t.insertDeliveries(ids, events, hooks, s.Now()); err != nil {
			return err
		}
		for _, r := range out {
			t.markDue(r.WebhookID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("replay event %s: %w", eventID, s.translate(err))
	}
	return out, nil
}
