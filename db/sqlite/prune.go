package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hookrelay/hookrelay/db"
)

// PruneBatch deletes one batch of each kind of old data r asks for (see db.PruneRequest),
// each kind in a transaction of its own, so that ingest and the engine get the writer
// between them. Call it again while Pruned.More is set.
func (s *DB) PruneBatch(ctx context.Context, r db.PruneRequest) (db.Pruned, error) {
	if r.Batch <= 0 {
		r.Batch = db.DefaultPruneBatch
	}
	out := db.Pruned{Deleted: map[string]int{}}
	for _, step := range []struct {
		what string
		on   bool
		run  func(*tx, db.PruneRequest, *db.Pruned) (bool, error)
	}{
		{"events", !r.Before.IsZero(), (*tx).pruneEvents},
		{"alerts", !r.Before.IsZero(), (*tx).pruneAlerts},
		{"attempt hours", !r.Before.IsZero(), (*tx).rollUpHours},
		{"sessions", !r.SessionsBefore.IsZero(), (*tx).pruneSessions},
		{"idempotency keys", !r.IdempotencyBefore.IsZero(), (*tx).forgetKeys},
	} {
		if !step.on {
			continue
		}
		var got db.Pruned
		err := s.write(ctx, func(t *tx) error {
			got = db.Pruned{Deleted: map[string]int{}} // afresh: a write op may run twice
			var err error
			got.More, err = step.run(t, r, &got)
			return err
		})
		if err != nil {
			return out, fmt.Errorf("prune %s: %w", step.what, s.translate(err))
		}
		out.Add(got)
	}
	return out, nil
}

// pruneEvents deletes up to r.Batch old events whose deliveries are all final, oldest first,
// with their deliveries and attempts. It reports whether it filled the batch.
func (t *tx) pruneEvents(r db.PruneRequest, p *db.Pruned) (bool, error) {
	cut := millis(r.Before)
	rows, err := t.query(`SELECT id FROM events e WHERE created_at < ?1 AND NOT EXISTS (
			SELECT 1 FROM deliveries d WHERE d.event_id = e.id
			AND (d.state IN ('pending', 'delivering') OR d.last_attempt_at >= ?1))
		ORDER BY created_at LIMIT ?2`, cut, r.Batch)
	if err != nil {
		return false, fmt.Errorf("find old events: %w", err)
	}
	ids, err := scanIDs(rows)
	if err != nil || len(ids) == 0 {
		return false, err
	}
	list, _ := json.Marshal(ids)
	for _, d := range []struct{ table, query string }{
		{"attempts", `DELETE FROM attempts WHERE delivery_id IN
			(SELECT id FROM deliveries WHERE event_id IN (SELECT value FROM json_each(?)))`},
		{"deliveries", `DELETE FROM deliveries WHERE event_id IN (SELECT value FROM json_each(?))`},
		{"events", `DELETE FROM events WHERE id IN (SELECT value FROM json_each(?))`},
	} {
		if err := t.deleteCounted(d.table, d.query, p.Deleted, string(list)); err != nil {
			return false, err
		}
	}
	return len(ids) == r.Batch, nil
}

// pruneAlerts deletes up to r.Batch sent alerts created before r.Before, with the failures
// they reported. Unsent alerts stay, however old: their email is still owed.
func (t *tx) pruneAlerts(r db.PruneRequest, p *db.Pruned) (bool, error) {
	rows, err := t.query(`SELECT id FROM alerts WHERE state = 'sent' AND created_at < ? ORDER BY created_at LIMIT ?`,
		millis(r.Before), r.Batch)
	if err != nil {
		return false, fmt.Errorf("find old alerts: %w", err)
	}
	ids, err := scanIDs(rows)
	if err != nil || len(ids) == 0 {
		return false, err
	}
	list, _ := json.Marshal(ids)
	if err := t.deleteCounted("alert_failures", `DELETE FROM alert_failures WHERE alert_id IN (SELECT value FROM json_each(?))`,
		p.Deleted, string(list)); err != nil {
		return false, err
	}
	if err := t.deleteCounted("alerts", `DELETE FROM alerts WHERE id IN (SELECT value FROM json_each(?))`, p.Deleted, string(list)); err != nil {
		return false, err
	}
	return len(ids) == r.Batch, nil
}

// rollUpHours adds up to r.Batch hourly attempt counts of the days before r.Before's day
// into the daily counts and deletes them, oldest first. It reports whether it filled the
// batch. Recording attempts writes only the current hour, so nothing else writes these rows.
func (t *tx) rollUpHours(r db.PruneRequest, p *db.Pruned) (bool, error) {
	const picked = `SELECT webhook_id, hour FROM attempt_hours WHERE hour < ?1 ORDER BY hour, webhook_id LIMIT ?2`
	cut := millis(db.DayStart(r.Before))
	if _, err := t.exec(`INSERT INTO attempt_days (webhook_id, day, succeeded, failed)
		SELECT webhook_id, hour - hour % 86400000, sum(succeeded), sum(failed) FROM attempt_hours
		WHERE (webhook_id, hour) IN (`+picked+`) GROUP BY 1, 2
		ON CONFLICT (webhook_id, day) DO UPDATE
		SET succeeded = succeeded + excluded.succeeded, failed = failed + excluded.failed`, cut, r.Batch); err != nil {
		return false, fmt.Errorf("roll up hourly attempt counts: %w", err)
	}
	res, err := t.exec(`DELETE FROM attempt_hours WHERE (webhook_id, hour) IN (`+picked+`)`, cut, r.Batch)
	if err != nil {
		return false, fmt.Errorf("delete rolled up hourly attempt counts: %w", err)
	}
	n, _ := res.RowsAffected()
	p.HoursRolledUp += int(n)
	return int(n) == r.Batch, nil
}

func (t *tx) pruneSessions(r db.PruneRequest, p *db.Pruned) (bool, error) {
	res, err := t.exec(`DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE last_seen_at < ? LIMIT ?)`,
		millis(r.SessionsBefore), r.Batch)
	if err != nil {
		return false, fmt.Errorf("delete expired sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	p.Deleted["sessions"] += int(n)
	return int(n) == r.Batch, nil
}

// forgetKeys clears the idempotency keys of up to r.Batch events created before
// r.IdempotencyBefore.
func (t *tx) forgetKeys(r db.PruneRequest, p *db.Pruned) (bool, error) {
	res, err := t.exec(`UPDATE events SET idempotency_key = NULL WHERE id IN (
			SELECT id FROM events WHERE idempotency_key IS NOT NULL AND created_at < ? ORDER BY created_at LIMIT ?)`,
		millis(r.IdempotencyBefore), r.Batch)
	if err != nil {
		return false, fmt.Errorf("forget idempotency keys: %w", err)
	}
	n, _ := res.RowsAffected()
	p.KeysForgotten += int(n)
	return int(n) == r.Batch, nil
}

func (t *tx) deleteCounted(table, query string, deleted map[string]int, args ...any) error {
	res, err := t.exec(query, args...)
	if err != nil {
		return fmt.Errorf("delete old %s: %w", table, err)
	}
	n, _ := res.RowsAffected()
	deleted[table] += int(n)
	return nil
}

func scanIDs(rows interface {
	Next() bool
	Scan(...any) error
	Close() error
	Err() error
}) ([]int64, error) {
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
