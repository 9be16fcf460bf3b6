package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

// AttemptsByHour returns the attempts made per hour from since's hour on, succeeded and
// failed, of one webhook or (webhookID "") of all, oldest first. Hours without attempts are
// absent (db.LastHours fills them in).
func (s *DB) AttemptsByHour(ctx context.Context, webhookID string, since time.Time) ([]db.HourCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT hour, sum(succeeded)::bigint, sum(failed)::bigint FROM attempt_hours
		WHERE hour >= $1 AND ($2 = '' OR webhook_id = (SELECT id FROM webhooks WHERE public_id = $2))
		GROUP BY hour ORDER BY hour`, millis(since.UTC().Truncate(time.Hour)), webhookID)
	if err != nil {
		return nil, fmt.Errorf("attempts by hour: %w", s.translate(err))
	}
	defer rows.Close()
	var out []db.HourCount
	for rows.Next() {
		c := db.HourCount{WebhookID: webhookID}
		var hour int64
		if err := rows.Scan(&hour, &c.Succeeded, &c.Failed); err != nil {
			return nil, fmt.Errorf("attempts by hour: %w", s.translate(err))
		}
		c.Hour = fromMillis(hour)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("attempts by hour: %w", s.translate(err))
	}
	return out, nil
}

// AttemptsByDay returns the attempts made per UTC day from since's day on, succeeded and
// failed, of one webhook or (webhookID "") of all, oldest first: the days the pruner rolled
// up and the hours it has not yet, summed. Days without attempts are absent.
func (s *DB) AttemptsByDay(ctx context.Context, webhookID string, since time.Time) ([]db.DayCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT day, sum(succeeded)::bigint, sum(failed)::bigint FROM (
			SELECT webhook_id, day, succeeded, failed FROM attempt_days WHERE day >= $1
			UNION ALL
			SELECT webhook_id, hour - hour % 86400000, succeeded, failed FROM attempt_hours WHERE hour >= $1) c
		WHERE $2 = '' OR webhook_id = (SELECT id FROM webhooks WHERE public_id = $2)
		GROUP BY day ORDER BY day`, millis(db.DayStart(since)), webhookID)
	if err != nil {
		return nil, fmt.Errorf("attempts by day: %w", s.translate(err))
	}
	defer rows.Close()
	var out []db.DayCount
	for rows.Next() {
		c := db.DayCount{WebhookID: webhookID}
		var day int64
		if err := rows.Scan(&day, &c.Succeeded, &c.Failed); err != nil {
			return nil, fmt.Errorf("attempts by day: %w", s.translate(err))
		}
		c.Day = fromMillis(day)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("attempts by day: %w", s.translate(err))
	}
	return out, nil
}
