package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

// CreateEvents stores events and fans each out to every enabled webhook whose filter
// matches, all in one transaction, and returns once it has committed. An event whose
// idempotency key is already stored creates nothing and reports the original.
func (s *DB) CreateEvents(ctx context.Context, events []db.NewEvent) ([]db.IngestResult, error) {
	// Build payloads before entering the write loop: the writer is the shared bottleneck.
	now := s.Now()
	results := make([]db.IngestResult, len(events))
	items := make([]ingestItem, len(events))
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
		items[i] = ingestItem{event: e, id: w.ID, at: at, body: body, now: now, result: &results[i]}
	}
	op := &writeOp{fn: func(t *tx) error { return t.createEvents(items) }, ingest: items, done: make(chan struct{})}
	if err := s.submit(ctx, op); err != nil {
		return nil, fmt.Errorf("create events: %w", s.translate(err))
	}
	return results, nil
}

// ingestItem is one event of a CreateEvents call on its way into the writer: its payload,
// built before, the time of the call, and where its result goes.
type ingestItem struct {
	event  db.NewEvent
	id     string
	at     time.Time
	body   []byte
	now    time.Time
	result *db.IngestResult
}

// createEvents stores items in order, as one CreateEvents call or as several consecutive
// calls of one commit group (see runGroup), so that an idempotency key repeated among them is
// a duplicate of its first, exactly as if they had run one after the other. It sets every
// item's result afresh, since a write op may run twice.
func (t *tx) createEvents(items []ingestItem) error {
	if len(items) == 0 {
		return nil
	}
	targets, err := t.enabledWebhooks()
	if err != nil {
		return fmt.Errorf("list webhooks: %w", translate(err))
	}
	// Keys seen earlier among the items: a repeat is a duplicate of that event, which is not
	// stored yet when the repeat is looked at.
	keyed := map[string]int{}
	dupOf := map[int]int{}
	var rows []newEventRow
	earliest := items[0].now
	for i, it := range items {
		e := it.event
		earliest = minTime(earliest, it.now)
		if e.IdempotencyKey != "" {
			if j, ok := keyed[e.IdempotencyKey]; ok {
				dupOf[i] = j
				continue
			}
			var id string
			var fanout int
			err := t.queryRow(`SELECT public_id, fanout FROM events WHERE idempotency_key = ?`, e.IdempotencyKey).Scan(&id, &fanout)
			if err == nil {
				*it.result = db.IngestResult{EventID: id, Deliveries: fanout, Duplicate: true}
				continue
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("look up idempotency key: %w", translate(err))
			}
			keyed[e.IdempotencyKey] = i
		}
		var matched []fanoutTarget
		for _, w := range targets {
			if db.MatchAny(w.patterns, e.Type) {
				matched = append(matched, w)
			}
		}
		rows = append(rows, newEventRow{matched: matched, args: [8]any{it.id, e.Type, nullString(e.WorkflowID),
			millis(it.at), it.body, nullString(e.IdempotencyKey), len(matched), millis(it.now)}})
		*it.result = db.IngestResult{EventID: it.id, Deliveries: len(matched)}
	}
	if err := t.insertEvents(rows); err != nil {
		return err
	}
	var deliveries [][3]any // public id, event row, webhook row
	for _, r := range rows {
		for _, w := range r.matched {
			deliveries = append(deliveries, [3]any{db.NewID("dlv"), r.row, w.rowID})
			t.markDue(w.id)
		}
	}
	for i, j := range dupOf {
		first := items[j].result
		*items[i].result = db.IngestResult{EventID: first.EventID, Deliveries: first.Deliveries, Duplicate: true}
	}
	// Deliveries of calls folded together are due from the earliest call's time, so none
	// waits for the others'.
	return t.insertDeliveries(deliveries, earliest)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// newEventRow is an event to insert: its columns in eventColumns' order, the webhooks it
// fans out to, and, once inserted, its row id.
type newEventRow struct {
	args    [8]any
	matched []fanoutTarget
	row     int64
}

// insertEvents inserts the events of rows with one statement per 256 (padded, like
// insertDeliveries, to a power of two so that a few prepared statements serve every batch
// size) and sets each row's id.
func (t *tx) insertEvents(rows []newEventRow) error {
	for len(rows) > 0 {
		chunk := rows[:min(len(rows), 256)]
		rows = rows[len(chunk):]
		n := paddedRows(len(chunk))
		args := make([]any, 0, 8*n)
		byID := make(map[string]*newEventRow, len(chunk))
		for i := range chunk {
			args = append(args, chunk[i].args[:]...)
			byID[chunk[i].args[0].(string)] = &chunk[i]
		}
		args = padArgs(args, 8, n-len(chunk))
		// Padding rows carry NULLs, which the WHERE leaves out. RETURNING has no order, so
		// ids are matched by public id.
		got, err := t.query(`INSERT INTO events (`+eventColumns+`)
			SELECT column1, column2, column3, column4, column5, column6, column7, column8 FROM (`+valuesList(n, 8)+`)
			WHERE column1 IS NOT NULL RETURNING id, public_id`, args...)
		if err != nil {
			return fmt.Errorf("insert events: %w", translate(err))
		}
		for got.Next() {
			var row int64
			var id string
			if err := got.Scan(&row, &id); err != nil {
				got.Close()
				return fmt.Errorf("insert events: %w", translate(err))
			}
			if r := byID[id]; r != nil {
				r.row = row
			}
		}
		if err := errors.Join(got.Err(), got.Close()); err != nil {
			return fmt.Errorf("insert events: %w", translate(err))
		}
		for _, r := range chunk {
			if r.row == 0 {
				return fmt.Errorf("insert events: no id returned for %s", r.args[0])
			}
		}
	}
	return nil
}

// insertDeliveries inserts pending deliveries, due now, with one statement: a fan-out to ten
// webhooks, or a batch of events, costs one call into SQLite rather than one per row.
func (t *tx) insertDeliveries(rows [][3]any, now time.Time) error {
	for len(rows) > 0 {
		chunk := rows[:min(len(rows), 512)]
		rows = rows[len(chunk):]
		n := paddedRows(len(chunk))
		args := make([]any, 0, 1+3*n)
		args = append(args, millis(now))
		for _, r := range chunk {
			args = append(args, r[0], r[1], r[2])
		}
		args = padArgs(args, 3, n-len(chunk))
		// Padding rows carry NULLs, which the WHERE leaves out.
		if _, err := t.exec(`INSERT INTO deliveries (public_id, event_id, webhook_id, state, next_attempt_at, created_at, updated_at)
			SELECT column1, column2, column3, 'pending', ?1, ?1, ?1 FROM (`+valuesList(n, 3)+`) WHERE column1 IS NOT NULL`,
			args...); err != nil {
			return fmt.Errorf("insert deliveries: %w", translate(err))
		}
	}
	return nil
}

const eventColumns = `public_id, event_type, workflow_id, occurred_at, body, idempotency_key, fanout, created_at`

func scanEvent(sc interface{ Scan(...any) error }) (db.Event, error) {
	var (
		e                 db.Event
		wf, key           sql.NullString
		occurred, created int64
	)
	if err := sc.Scan(&e.ID, &e.Type, &wf, &occurred, &e.Body, &key, &e.Fanout, &created); err != nil {
		return db.Event{}, translate(err)
	}
	e.WorkflowID, e.IdempotencyKey = wf.String, key.String
	e.OccurredAt, e.CreatedAt = fromMillis(occurred), fromMillis(created)
	return e, nil
}

// FindEvent returns the event with the given public id.
func (s *DB) FindEvent(ctx context.Context, id string) (db.Event, error) {
	e, err := scanEvent(s.reader.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events WHERE public_id = ?`, id))
	if err != nil {
		return db.Event{}, fmt.Errorf("find event %s: %w", id, err)
	}
	return e, nil
}
