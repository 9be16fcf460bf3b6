package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

// CreateEvents stores events and fans each out to every enabled webhook whose filter
// matches, all in one transaction, and returns once it has committed. An event whose
// idempotency key is already stored creates nothing and reports the original; so does a
// second event with the same key in one call.
//
// Ingest is the busiest write, so it takes two round trips, not one per statement: the
// enabled webhooks are read first (a transaction would see them no differently: each
// statement of a read-committed one sees what has committed before it starts), then one
// statement stores the events and their deliveries, in its own implicit transaction. Other
// instances hear of the work from the announcer, after the commit (see announcer).
func (s *DB) CreateEvents(ctx context.Context, events []db.NewEvent) ([]db.IngestResult, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("create events: %w", db.ErrClosed)
	}
	now := s.Now()
	n := len(events)
	in := ingestRows{ids: make([]string, n), types: make([]string, n), workflows: make([]*string, n),
		occurred: make([]int64, n), bodies: make([][]byte, n), keys: make([]*string, n), fanouts: make([]int32, n)}
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
		in.ids[i], in.types[i], in.workflows[i], in.occurred[i] = w.ID, e.Type, nullString(e.WorkflowID), millis(at)
		in.bodies[i], in.keys[i] = body, nullString(e.IdempotencyKey)
	}
	for try := 1; ; try++ {
		results, due, err := s.ingest(ctx, events, &in, now)
		if err == nil {
			if len(due) > 0 {
				s.notifyDue(due)
				s.announcer.add(due)
			}
			return results, nil
		}
		if !retryable(err) || try == writeTries {
			return nil, fmt.Errorf("create events: %w", s.translate(err))
		}
		pause := time.Duration(rand.Int64N(int64(5*time.Millisecond) << try))
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return nil, fmt.Errorf("create events: %w", s.translate(err))
		}
	}
}

// ingestRows are CreateEvents' events as the insert's array parameters, in call order.
type ingestRows struct {
	ids, types      []string
	workflows, keys []*string
	occurred        []int64
	bodies          [][]byte
	fanouts         []int32
	dIDs, dEvents   []string // deliveries: public id, and its event's public id
	dWebhooks       []int64
}

// ingest runs one try of CreateEvents and returns its results and the webhooks given due
// work. Nothing of a failed try is stored.
func (s *DB) ingest(ctx context.Context, events []db.NewEvent, in *ingestRows, now time.Time) ([]db.IngestResult, []string, error) {
	targets, err := s.enabledWebhooks(ctx, s.pool)
	if err != nil {
		return nil, nil, fmt.Errorf("list webhooks: %w", err)
	}
	in.dIDs, in.dEvents, in.dWebhooks = in.dIDs[:0], in.dEvents[:0], in.dWebhooks[:0]
	var hooks []string // the public id of each delivery's webhook
	for i, e := range events {
		var fanout int32
		for _, w := range targets {
			if db.MatchAny(w.patterns, e.Type) {
				in.dIDs, in.dEvents, in.dWebhooks = append(in.dIDs, db.NewID("dlv")), append(in.dEvents, in.ids[i]), append(in.dWebhooks, w.rowID)
				hooks = append(hooks, w.id)
				fanout++
			}
		}
		in.fanouts[i] = fanout
	}
	// ON CONFLICT DO NOTHING leaves out an event whose key is stored, or committed meanwhile
	// by another instance (the insert waits for it), or taken by an earlier event of this
	// call; the join leaves out its deliveries. The foreign keys of the deliveries are
	// checked at the end of the statement, when the events it inserted are there.
	rows, err := s.pool.Query(ctx, `WITH ev AS (
			INSERT INTO events (public_id, event_type, workflow_id, occurred_at, body, idempotency_key, fanout, created_at)
			SELECT u.public_id, u.event_type, u.workflow_id, u.occurred_at, u.body, u.idempotency_key, u.fanout, $8
			FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bytea[], $6::text[], $7::int[])
			WITH ORDINALITY AS u(public_id, event_type, workflow_id, occurred_at, body, idempotency_key, fanout, n)
			ORDER BY u.n
			ON CONFLICT (idempotency_key) DO NOTHING
			RETURNING public_id, id),
		dl AS (
			INSERT INTO deliveries (public_id, event_id, webhook_id, state, next_attempt_at, created_at, updated_at)
			SELECT d.public_id, ev.id, d.webhook_id, 'pending', $8, $8, $8
			FROM unnest($9::text[], $10::text[], $11::bigint[]) WITH ORDINALITY AS d(public_id, event_public_id, webhook_id, n)
			JOIN ev ON ev.public_id = d.event_public_id
			ORDER BY d.n)
		SELECT public_id FROM ev`,
		in.ids, in.types, in.workflows, in.occurred, in.bodies, in.keys, in.fanouts, millis(now), in.dIDs, in.dEvents, in.dWebhooks)
	if err != nil {
		return nil, nil, fmt.Errorf("insert events: %w", err)
	}
	inserted := make(map[string]bool, len(events))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("insert events: %w", err)
		}
		inserted[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("insert events: %w", err)
	}
	var due []string
	for k, ev := range in.dEvents {
		if inserted[ev] {
			due = append(due, hooks[k])
		}
	}
	results := make([]db.IngestResult, len(events))
	for i, e := range events {
		if inserted[in.ids[i]] {
			results[i] = db.IngestResult{EventID: in.ids[i], Deliveries: int(in.fanouts[i])}
			continue
		}
		// A duplicate: the event it repeats has committed (the insert waited for it).
		var (
			id     string
			fanout int
		)
		if err := s.pool.QueryRow(ctx, `SELECT public_id, fanout FROM events WHERE idempotency_key = $1`, e.IdempotencyKey).
			Scan(&id, &fanout); err != nil {
			return nil, nil, fmt.Errorf("look up idempotency key: %w", err)
		}
		results[i] = db.IngestResult{EventID: id, Deliveries: fanout, Duplicate: true}
	}
	return results, due, nil
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
