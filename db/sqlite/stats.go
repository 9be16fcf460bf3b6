package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

// CountDeliveries counts deliveries created at or after since by state, for one webhook
// when webhookID is not empty.
func (s *DB) CountDeliveries(ctx context.Context, webhookID string, since time.Time) (db.DeliveryCounts, error) {
	q := `SELECT state, count(*) FROM deliveries WHERE created_at >= ?`
	args := []any{millis(since)}
	if webhookID != "" {
		q += ` AND webhook_id = (SELECT id FROM webhooks WHERE public_id = ?)`
		args = append(args, webhookID)
	}
	rows, err := s.reader.QueryContext(ctx, q+` GROUP BY state`, args...)
	if err != nil {
		return nil, fmt.Errorf("count deliveries: %w", s.translate(err))
	}
	defer rows.Close()
	out := db.DeliveryCounts{}
	for rows.Next() {
		var (
			st db.State
			n  int
		)
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count deliveries: %w", s.translate(err))
		}
		out[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count deliveries: %w", s.translate(err))
	}
	return out, nil
}

// CountFailed counts a webhook's failed deliveries, whatever their age: what "Retry all
// failed" would retry.
func (s *DB) CountFailed(ctx context.Context, webhookID string) (int, error) {
	var n int
	err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM deliveries
		WHERE webhook_id = (SELECT id FROM webhooks WHERE public_id = ?) AND state = 'failed'`, webhookID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count failed deliveries of %s: %w", webhookID, err)
	}
	return n, nil
}

// ListWebhookStats returns, per webhook id, what the webhook list shows: finished
// deliveries created at or after since, and the time of the latest attempt.
func (s *DB) ListWebhookStats(ctx context.Context, since time.Time) (map[string]db.WebhookStats, error) {
	// Deliveries are numbered in creation order, so "created since" is "id from the first one
	// created since": a range of the (webhook_id, id) index rather than all of a webhook's rows.
	rows, err := s.reader.QueryContext(ctx, `WITH first(id) AS (SELECT coalesce(min(id), 1 << 62) FROM deliveries WHERE created_at >= ?1)
		SELECT w.public_id,
		(SELECT count(*) FROM deliveries d WHERE d.webhook_id = w.id AND d.id >= (SELECT id FROM first) AND d.state = 'succeeded'),
		(SELECT count(*) FROM deliveries d WHERE d.webhook_id = w.id AND d.id >= (SELECT id FROM first) AND d.state = 'failed'),
		w.last_attempt_at
		FROM webhooks w`, millis(since))
	if err != nil {
		return nil, fmt.Errorf("webhook stats: %w", s.translate(err))
	}
	defer rows.Close()
	out := map[string]db.WebhookStats{}
	for rows.Next() {
		var (
			id   string
			st   db.WebhookStats
			last sql.NullInt64
		)
		if err := rows.Scan(&id, &st.Succeeded, &st.Failed, &last); err != nil {
			return nil, fmt.Errorf("webhook stats: %w", s.translate(err))
		}
		st.LastAttemptAt = fromNullMillis(last)
		out[id] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("webhook stats: %w", s.translate(err))
	}
	return out, nil
}

// ListFailingWebhooks returns the webhooks whose most recent attempt did not succeed,
// most recent first.
func (s *DB) ListFailingWebhooks(ctx context.Context) ([]db.FailingWebhook, error) {
	cols := strings.ReplaceAll(webhookColumns, ", ", ", w.")
	rows, err := s.reader.QueryContext(ctx, `SELECT w.`+cols+`, w.last_delivery_id, w.last_error, w.last_status_code, w.last_attempt_at
		FROM webhooks w WHERE w.last_error IS NOT NULL ORDER BY w.last_attempt_at DESC`)
	if err != nil {
		return nil, fmt.Errorf("list failing webhooks: %w", s.translate(err))
	}
	defer rows.Close()
	var out []db.FailingWebhook
	for rows.Next() {
		var (
			f    db.FailingWebhook
			code sql.NullInt64
			at   int64
		)
		w, err := s.scanWebhook(multiScanner{rows, []any{&f.DeliveryID, &f.LastError, &code, &at}})
		if err != nil {
			return nil, fmt.Errorf("list failing webhooks: %w", s.translate(err))
		}
		f.Webhook, f.LastStatusCode, f.LastAttemptAt = w, int(code.Int64), fromMillis(at)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list failing webhooks: %w", s.translate(err))
	}
	return out, nil
}

// multiScanner scans the columns its caller asks for, then extra columns after them.
type multiScanner struct {
	rows  *sql.Rows
	extra []any
}

func (m multiScanner) Scan(dest ...any) error { return m.rows.Scan(append(dest, m.extra...)...) }

// ListEvents returns events newest first and, when more remain, the cursor of the next
// page.
func (s *DB) ListEvents(ctx context.Context, f db.EventFilter) ([]db.Event, string, error) {
	p := newPage('e', "id", f.Limit)
	if f.TypePrefix != "" {
		// A range instead of LIKE: event types are ASCII, and the range uses the index.
		p.filter("event_type >= ? AND event_type < ?", f.TypePrefix, f.TypePrefix+"\U0010FFFF")
	}
	if f.WorkflowID != "" {
		p.filter("workflow_id = ?", f.WorkflowID)
	}
	if !f.Since.IsZero() {
		p.filter("created_at >= ?", millis(f.Since))
	}
	if !f.Until.IsZero() {
		p.filter("created_at < ?", millis(f.Until))
	}
	if err := p.after(f.Cursor); err != nil {
		return nil, "", err
	}
	q, args := p.query(`SELECT id, ` + eventColumns + ` FROM events`)
	rows, err := s.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list events: %w", s.translate(err))
	}
	out, next, err := listPage(rows, p, scanEvent)
	if err != nil {
		return nil, "", fmt.Errorf("list events: %w", s.translate(err))
	}
	return out, next, nil
}

// CreateTestEvent stores a hookrelay.test event with one delivery, to the given webhook
// only, whatever its filter says, and returns that delivery. It returns
// ErrWebhookDisabled when the webhook is disabled, since nothing would send it.
func (s *DB) CreateTestEvent(ctx context.Context, webhookID string) (db.Delivery, error) {
	now := s.Now()
	at := now.Truncate(time.Millisecond)
	data, err := json.Marshal(map[string]string{
		"message":   "This is a test event sent from the hookrelay admin UI.",
		"webhookId": webhookID,
	})
	if err != nil {
		return db.Delivery{}, fmt.Errorf("create test event: %w", s.translate(err))
	}
	w := db.WireEvent{ID: db.NewID("evt"), EventType: db.TestEventType, Timestamp: db.FormatTime(at), Data: data}
	body, err := json.Marshal(w)
	if err != nil {
		return db.Delivery{}, fmt.Errorf("create test event: %w", s.translate(err))
	}
	deliveryID := db.NewID("dlv")
	err = s.write(ctx, func(t *tx) error {
		var (
			row     int64
			enabled bool
		)
		if err := t.queryRow(`SELECT id, enabled FROM webhooks WHERE public_id = ?`, webhookID).Scan(&row, &enabled); err != nil {
			return s.translate(err)
		}
		if !enabled {
			return db.ErrWebhookDisabled
		}
		res, err := t.exec(`INSERT INTO events (public_id, event_type, workflow_id, occurred_at, body, idempotency_key, fanout, created_at)
			VALUES (?, ?, NULL, ?, ?, NULL, 1, ?)`, w.ID, db.TestEventType, millis(at), body, millis(now))
		if err != nil {
			return fmt.Errorf("insert event: %w", s.translate(err))
		}
		eventRow, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("insert event: %w", s.translate(err))
		}
		if _, err := t.exec(`INSERT INTO deliveries (public_id, event_id, webhook_id, state, next_attempt_at, created_at, updated_at)
			VALUES (?, ?, ?, 'pending', ?, ?, ?)`, deliveryID, eventRow, row, millis(now), millis(now), millis(now)); err != nil {
			return fmt.Errorf("insert delivery: %w", s.translate(err))
		}
		t.markDue(webhookID)
		return nil
	})
	if err != nil {
		return db.Delivery{}, fmt.Errorf("create test event for %s: %w", webhookID, err)
	}
	return s.FindDelivery(ctx, deliveryID)
}

// QueueStats reads the queue's figures over every webhook (see db.QueueStats) in one
// statement on the reader. Each part is a count or a minimum over a partial index of its
// state, so it costs what the rows in that state weigh in their index, never a scan of the
// table. Deliveries of disabled webhooks are pending but never due: nothing will send them
// until the webhook is enabled again.
func (s *DB) QueueStats(ctx context.Context) (db.QueueStats, error) {
	q := db.QueueStats{At: s.Now()}
	var oldest sql.NullInt64
	err := s.reader.QueryRowContext(ctx, queueStatsQuery, millis(q.At)).Scan(&q.Pending, &q.Delivering, &q.Failed, &q.Due, &oldest)
	if err != nil {
		return db.QueueStats{}, fmt.Errorf("queue stats: %w", translate(err))
	}
	q.OldestDue = fromNullMillis(oldest)
	return q, nil
}

// queueStatsQuery reads, in order: pending (index deliveries_due), delivering
// (deliveries_leased), failed (deliveries_failed), due now and the earliest due time, both
// per enabled webhook on deliveries_due (webhook_id, next_attempt_at).
const queueStatsQuery = `SELECT
	(SELECT count(*) FROM deliveries WHERE state = 'pending'),
	(SELECT count(*) FROM deliveries WHERE state = 'delivering'),
	(SELECT count(*) FROM deliveries WHERE state = 'failed'),
	(SELECT coalesce(sum((SELECT count(*) FROM deliveries d
		WHERE d.webhook_id = w.id AND d.state = 'pending' AND d.next_attempt_at <= ?1)), 0) FROM webhooks w WHERE w.enabled = 1),
	(SELECT min((SELECT min(d.next_attempt_at) FROM deliveries d WHERE d.webhook_id = w.id AND d.state = 'pending'))
		FROM webhooks w WHERE w.enabled = 1)`
