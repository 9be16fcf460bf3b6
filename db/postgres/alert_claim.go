package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

// ClaimDueAlerts returns up to limit unsent alerts that are due now, earliest first, and
// makes them due again only after lease: whichever instance's sender claims an alert sends
// it. SKIP LOCKED lets two senders claiming at once take different alerts instead of
// waiting for each other. A sender that dies between the claim and RecordAlertSend leaves
// the alert to be claimed again once the lease has passed.
func (s *DB) ClaimDueAlerts(ctx context.Context, limit int, lease time.Duration) ([]db.Alert, error) {
	var ids []int64
	err := s.write(ctx, func(t *tx) error {
		now := s.Now()
		rows, err := t.query(`UPDATE alerts SET next_attempt_at = $1, updated_at = $2
			WHERE id IN (SELECT id FROM alerts WHERE state <> 'sent' AND next_attempt_at <= $2
			             ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
			RETURNING id`, millis(now.Add(lease)), millis(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		ids = ids[:0]
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim due alerts: %w", s.translate(err))
	}
	if len(ids) == 0 {
		return nil, nil
	}
	out, _, err := s.loadAlerts(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = ANY($1) ORDER BY next_attempt_at, id`, ids)
	if err != nil {
		return nil, fmt.Errorf("claim due alerts: %w", s.translate(err))
	}
	return out, nil
}
