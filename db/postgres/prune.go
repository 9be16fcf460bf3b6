package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hookrelay/hookrelay/db"
)

// PruneBatch deletes one batch of each kind of old data r asks for (see db.PruneRequest),
// each kind in a transaction of its own. Call it again while Pruned.More is set.
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
			got = db.Pruned{Deleted: map[string]int{}} // afresh: a write may run again
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

// oldEvents is the test an event must pass to be deleted: created before the cut, and every
// delivery of it final with its newest attempt before the cut.
const oldEvents = `created_at < $1 AND NOT EXISTS (
	SELECT 1 FROM deliveries d WHERE d.event_id = e.id
	AND (d.state IN ('pending', 'delivering') OR d.last_attempt_at >= $1))`

// pruneEvents deletes up to r.Batch old events whose deliveries are all final, oldest first,
// with their deliveries and attempts. Other instances may retry, recover or replay one of
// them meanwhile, so it locks the events (which a replay's new delivery must share-lock) and
// their deliveries (which a retry must update), and then tests them again.
func (t *tx) pruneEvents(r db.PruneRequest, p *db.Pruned) (bool, error) {
	cut := millis(r.Before)
	ids, err := t.ids(`SELECT id FROM events e WHERE `+oldEvents+` ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED`, cut, r.Batch)
	if err != nil || len(ids) == 0 {
		return false, err
	}
	if _, err := t.exec(`SELECT 1 FROM deliveries WHERE event_id = ANY($1) FOR UPDATE`, ids); err != nil {
		return false, fmt.Errorf("lock deliveries of old events: %w", err)
	}
	still, err := t.ids(`SELECT id FROM events e WHERE id = ANY($2) AND `+oldEvents, cut, ids)
	if err != nil {
		return false, err
	}
	for _, d := range []struct{ table, query string }{
		{"attempts", `DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE event_id = ANY($1))`},
		{"deliveries", `DELETE FROM deliveries WHERE event_id = ANY($1)`},
		{"events", `DELETE FROM events WHERE id = ANY($1)`},
	} {
		if err := t.deleteCounted(d.table, d.query, p.Deleted, still); err != nil {
			return false, err
		}
	}
	return len(ids) == r.Batch, nil
}

// pruneAlerts deletes up to r.Batch sent alerts created before r.Before, with the failures
// they reported. Unsent alerts stay, however old: their email is still owed.
func (t *tx) pruneAlerts(r db.PruneRequest, p *db.Pruned) (bool, error) {
	ids, err := t.ids(`SELECT id FROM alerts WHERE state = 'sent' AND created_at < $1 ORDER BY created_at LIMIT $2
		FOR UPDATE SKIP LOCKED`, millis(r.Before), r.Batch)
	if err != nil || len(ids) == 0 {
		return false, err
	}
	if err := t.deleteCounted("alert_failures", `DELETE FROM alert_failures WHERE alert_id = ANY($1)`, p.Deleted, ids); err != nil {
		return false, err
	}
	if err := t.deleteCounted("alerts", `DELETE FROM alerts WHERE id = ANY($1)`, p.Deleted, ids); err != nil {
		return false, err
	}
	return len(ids) == r.Batch, nil
}

// rollUpHours adds up to r.Batch hourly attempt counts of the days before r.Before's day
// into the daily counts and deletes them, oldest first, in one statement: the rows it adds
// are the rows it deleted, whatever a recorder does meanwhile (its upsert of a deleted hour
// waits for this commit, then writes a new row, rolled up in a later round). It reports
// whether it filled the batch.
func (t *tx) rollUpHours(r db.PruneRequest, p *db.Pruned) (bool, error) {
	var n int
	if err := t.queryRow(`WITH gone AS (
			DELETE FROM attempt_hours WHERE (webhook_id, hour) IN
				(SELECT webhook_id, hour FROM attempt_hours WHERE hour < $1 ORDER BY hour, webhook_id LIMIT $2)
			RETURNING webhook_id, hour, succeeded, failed),
		days AS (
			INSERT INTO attempt_days (webhook_id, day, succeeded, failed)
			SELECT webhook_id, hour - hour % 86400000, sum(succeeded), sum(failed) FROM gone GROUP BY 1, 2
			ON CONFLICT (webhook_id, day) DO UPDATE
			SET succeeded = attempt_days.succeeded + excluded.succeeded, failed = attempt_days.failed + excluded.failed)
		SELECT count(*) FROM gone`, millis(db.DayStart(r.Before)), r.Batch).Scan(&n); err != nil {
		return false, fmt.Errorf("roll up hourly attempt counts: %w", err)
	}
	p.HoursRolledUp += n
	return n == r.Batch, nil
}

func (t *tx) pruneSessions(r db.PruneRequest, p *db.Pruned) (bool, error) {
	tag, err := t.exec(`DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE last_seen_at < $1 LIMIT $2
		FOR UPDATE SKIP LOCKED)`, millis(r.SessionsBefore), r.Batch)
	if err != nil {
		return false, fmt.Errorf("delete expired sessions: %w", err)
	}
	p.Deleted["sessions"] += int(tag.RowsAffected())
	return int(tag.RowsAffected()) == r.Batch, nil
}

// forgetKeys clears the idempotency keys of up to r.Batch events created before
// r.IdempotencyBefore.
func (t *tx) forgetKeys(r db.PruneRequest, p *db.Pruned) (bool, error) {
	tag, err := t.exec(`UPDATE events SET idempotency_key = NULL WHERE id IN (
			SELECT id FROM events WHERE idempotency_key IS NOT NULL AND created_at < $1 ORDER BY created_at LIMIT $2
			FOR UPDATE SKIP LOCKED)`, millis(r.IdempotencyBefore), r.Batch)
	if err != nil {
		return false, fmt.Errorf("forget idempotency keys: %w", err)
	}
	p.KeysForgotten += int(tag.RowsAffected())
	return int(tag.RowsAffected()) == r.Batch, nil
}

func (t *tx) deleteCounted(table, query string, deleted map[string]int, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	tag, err := t.exec(query, ids)
	if err != nil {
		return fmt.Errorf("delete old %s: %w", table, err)
	}
	deleted[table] += int(tag.RowsAffected())
	return nil
}

// ids runs a query of one bigint column and returns its values.
func (t *tx) ids(query string, args ...any) ([]int64, error) {
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("read ids: %w", err)
	}
	return ids, nil
}
