package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

// CreateEvents stores events and fans each out to every enabled webhook whose filter
// matches, all in one transaction, and returns once it has committed. An event whose
// idempotency key is already stored creates nothing and reports the original; so does a
// second event with the same key in one call.
func (s *DB) CreateEvents(ctx context.Context, events []db.NewEvent) ([]db.IngestResult, error) {
	type prepared struct {
		id   string
		at   time.Time
		body []byte
	}
	now := s.Now()
	pre := make([]prepared, len(events))
	for i, e := range events {
		at := e.OccurredAt
		if at.IsZero() {
			at = now
		}
		at = at.UTC().Truncate(time.Millisecond)
		w := db.WireEvent{ID: db.NewID("evt"), EventType: e.Type, Timestamp: db.FormatTime(at), Data: e.Data}
		if e.WorkflowID != "" {
			w.WorkflowID = &e.WorkflowID
		}
		body, err := json.Marshal(w)
		if err != nil {
			return nil, fmt.Errorf("encode event %d: %w", i, err)
		}
		pre[i] = prepared{id: w.ID, at: at, body: body}
	}
	results := make([]db.IngestResult, len(events))
	err := s.write(ctx, func(t *tx) error {
		targets, err := t.enabledWebhooks()
		if err != nil {
			return fmt.Errorf("list webhooks: %w", err)
		}
		// One INSERT for the whole batch. ON CONFLICT DO NOTHING leaves out an event whose
		// key is stored, or committed meanwhile by another instance (the insert waits for
		// it), or taken by an earlier event of this batch.
		n := len(events)
		ids, types, workflows, occurred, bodies, keys, fanouts := make([]string, n), make([]string, n), make([]*string, n),
			make([]int64, n), make([][]byte, n), make([]*string, n), make([]int32, n)
		matched := make([][]fanoutTarget, n)
		for i, e := range events {
			for _, w := range targets {
				if db.MatchAny(w.patterns, e.Type) {
					matched[i] = append(matched[i], w)
				}
			}
			ids[i], types[i], workflows[i], occurred[i] = pre[i].id, e.Type, nullString(e.WorkflowID), millis(pre[i].at)
			bodies[i], keys[i], fanouts[i] = pre[i].body, nullString(e.IdempotencyKey), int32(len(matched[i]))
		}
		rows, err := t.query(`INSERT INTO events (public_id, event_type, workflow_id, occurred_at, body, idempotency_key, fanout, created_at)
			SELECT u.public_id, u.event_type, u.workflow_id, u.occurred_at, u.body, u.idempotency_key, u.fanout, $8
			FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bytea[], $6::text[], $7::int[])
			WITH ORDINALITY AS u(public_id, event_type, workflow_id, occurred_at, body, idempotency_key, fanout, n)
			ORDER BY u.n
			ON CONFLICT (idempotency_key) DO NOTHING
			RETURNING public_id, id`, ids, types, workflows, occurred, bodies, keys, fanouts, millis(now))
		if err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		inserted := make(map[string]int64, n)
		for rows.Next() {
			var (
				id  string
				row int64
			)
			if err := rows.Scan(&id, &row); err != nil {
				rows.Close()
				return fmt.Errorf("insert events: %w", err)
			}
			inserted[id] = row
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		var dIDs []string
		var dEvents, dWebhooks []int64
		for i, e := range events {
			row, ok := inserted[pre[i].id]
			if !ok {
				var (
					id     string
					fanout int
				)
				if err := t.queryRow(`SELECT public_id, fanout FROM events WHERE idempotency_key = $1`, e.IdempotencyKey).
					Scan(&id, &fanout); err != nil {
					return fmt.Errorf("look up idempotency key: %w", err)
				}
				results[i] = db.IngestResult{EventID: id, Deliveries: fanout, Duplicate: true}
				continue
			}
			for _, w := range matched[i] {
				dIDs, dEvents, dWebhooks = append(dIDs, db.NewID("dlv")), append(dEvents, row), append(dWebhooks, w.rowID)
				t.markDue(w.id)
			}
			results[i] = db.IngestResult{EventID: pre[i].id, Deliveries: len(matched[i])}
		}
		return t.insertDeliveries(dIDs, dEvents, dWebhooks, now)
	})
	if err != nil {
		return nil, fmt.Errorf("create events: %w", s.translate(err))
	}
	return results, nil
}

// insertDeliveries inserts pending deliveries, due now, with one statement.
func (t *tx) insertDeliveries(ids []string, events, webhooks []int64, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := t.exec(`INSERT INTO deliveries (public_id, event_id, webhook_id, state, next_attempt_at, created_at, updated_at)
		SELECT u.public_id, u.event_id, u.webhook_id, 'pending', $4, $4, $4
		FROM unnest($1::text[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS u(public_id, event_id, webhook_id, n)
		ORDER BY u.n`, ids, events, webhooks, millis(now)); err != nil {
		return fmt.Errorf("insert deliveries: %w", err)
	}
	return nil
}

const eventColumns = `public_id, event_type, workflow_id, occurred_at, body, idempotency_key, fanout, created_at`

func scanEvent(sc rowScanner) (db.Event, error) {
	var (
		e                 db.Event
		wf, key           *string
		occurred, created int64
	)
	if err := sc.Scan(&e.ID, &e.Type, &wf, &occurred, &e.Body, &key, &e.Fanout, &created); err != nil {
		return db.Event{}, err
	}
	e.WorkflowID, e.IdempotencyKey = str(wf), str(key)
	e.OccurredAt, e.CreatedAt = fromMillis(occurred), fromMillis(created)
	return e, nil
}

// FindEvent returns the event with the given public id.
func (s *DB) FindEvent(ctx context.Context, id string) (db.Event, error) {
	e, err := scanEvent(s.pool.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE public_id = $1`, id))
	if err != nil {
		return db.Event{}, fmt.Errorf("find event %s: %w", id, s.translate(err))
	}
	return e, nil
}
