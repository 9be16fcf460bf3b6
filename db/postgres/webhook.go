package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookrelay/hookrelay/db"
)

const webhookColumns = `public_id, url, description, event_types, secret, enabled, created_at, updated_at, disabled_reason, disabled_at, headers, rate_limit`

func (s *DB) scanWebhook(sc rowScanner) (db.Webhook, error) {
	var (
		w                db.Webhook
		types            string
		created, updated int64
		reason           *string
		disabledAt       *int64
		headers          string
		rate             *int64
	)
	if err := sc.Scan(&w.ID, &w.URL, &w.Description, &types, &w.Secret, &w.Enabled, &created, &updated,
		&reason, &disabledAt, &headers, &rate); err != nil {
		return db.Webhook{}, s.translate(err)
	}
	w.DisabledReason, w.DisabledAt = str(reason), fromNullMillis(disabledAt)
	if rate != nil {
		w.RateLimit = int(*rate)
	}
	var err error
	if w.EventTypes, err = s.parsePatterns(types); err != nil {
		return db.Webhook{}, err
	}
	if w.Secret, err = s.box.Open(w.ID, w.Secret); err != nil {
		return db.Webhook{}, err
	}
	if w.Headers, err = s.box.OpenHeaders(w.ID, headers); err != nil {
		return db.Webhook{}, err
	}
	w.CreatedAt, w.UpdatedAt = fromMillis(created), fromMillis(updated)
	return w, nil
}

// parsePatterns decodes a stored event_types list, caching by its text: fan-out reads every
// enabled webhook's patterns on every ingest.
func (s *DB) parsePatterns(raw string) ([]string, error) {
	if v, ok := s.patterns.Load(raw); ok {
		return v.([]string), nil
	}
	var p []string
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return nil, fmt.Errorf("decode event types: %w", err)
	}
	s.patterns.Store(raw, p)
	return p, nil
}

func encodePatterns(p []string) (string, error) {
	if len(p) == 0 {
		return "", errors.New("encode event types: empty list")
	}
	b, err := json.Marshal(p)
	return string(b), err
}

// CreateWebhook stores a new webhook.
func (s *DB) CreateWebhook(ctx context.Context, n db.NewWebhook) (db.Webhook, error) {
	types, err := encodePatterns(n.EventTypes)
	if err != nil {
		return db.Webhook{}, err
	}
	now := s.Now()
	w := db.Webhook{
		ID: db.NewID("whk"), URL: n.URL, Description: n.Description, EventTypes: n.EventTypes,
		Secret: n.Secret, Enabled: n.Enabled, Headers: n.Headers, RateLimit: n.RateLimit,
		CreatedAt: now.Truncate(time.Millisecond),
	}
	w.UpdatedAt = w.CreatedAt
	err = s.write(ctx, func(t *tx) error {
		_, err := t.exec(`INSERT INTO webhooks (`+webhookColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, $9, $10)`,
			w.ID, w.URL, w.Description, types, s.box.Seal(w.ID, w.Secret), w.Enabled, millis(now), millis(now),
			s.box.SealHeaders(w.ID, w.Headers), nullInt(w.RateLimit))
		return err
	})
	if err != nil {
		return db.Webhook{}, fmt.Errorf("create webhook: %w", s.translate(err))
	}
	return w, nil
}

// FindWebhook returns the webhook with the given public id.
func (s *DB) FindWebhook(ctx context.Context, id string) (db.Webhook, error) {
	w, err := s.scanWebhook(s.pool.QueryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE public_id = $1`, id))
	if err != nil {
		return db.Webhook{}, fmt.Errorf("find webhook %s: %w", id, err)
	}
	return w, nil
}

// ListWebhooks returns every webhook, oldest first.
func (s *DB) ListWebhooks(ctx context.Context) ([]db.Webhook, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+webhookColumns+` FROM webhooks ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", s.translate(err))
	}
	defer rows.Close()
	var out []db.Webhook
	for rows.Next() {
		w, err := s.scanWebhook(rows)
		if err != nil {
			return nil, fmt.Errorf("list webhooks: %w", err)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list webhooks: %w", s.translate(err))
	}
	return out, nil
}

// UpdateWebhook changes the given fields and returns the webhook as stored. Enabling a
// webhook makes its held deliveries due again. Every change bumps the webhook's version, so
// the next claim of any instance sees it.
func (s *DB) UpdateWebhook(ctx context.Context, id string, u db.WebhookUpdate) (db.Webhook, error) {
	var w db.Webhook
	err := s.write(ctx, func(t *tx) error {
		var err error
		// FOR UPDATE: a concurrent update of another field waits, then reads this one's result.
		w, err = s.scanWebhook(t.queryRow(`SELECT `+webhookColumns+` FROM webhooks WHERE public_id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		wasEnabled := w.Enabled
		if u.URL != nil {
			w.URL = *u.URL
		}
		if u.Description != nil {
			w.Description = *u.Description
		}
		if u.EventTypes != nil {
			w.EventTypes = u.EventTypes
		}
		if u.Enabled != nil {
			w.Enabled = *u.Enabled
		}
		if u.Headers != nil {
			w.Headers = u.Headers
		}
		if u.RateLimit != nil {
			w.RateLimit = *u.RateLimit
		}
		types, err := encodePatterns(w.EventTypes)
		if err != nil {
			return err
		}
		now := s.Now()
		w.UpdatedAt = now.Truncate(time.Millisecond)
		if _, err := t.exec(`UPDATE webhooks SET url = $1, description = $2, event_types = $3, enabled = $4, updated_at = $5,
			headers = $6, rate_limit = $7, version = version + 1 WHERE public_id = $8`,
			w.URL, w.Description, types, w.Enabled, millis(now), s.box.SealHeaders(w.ID, w.Headers), nullInt(w.RateLimit), id); err != nil {
			return err
		}
		switch {
		case w.Enabled && !wasEnabled:
			// Enabled again: why it was disabled no longer holds, and its run of failures
			// starts afresh, or the next failure would disable it again at once.
			w.DisabledReason, w.DisabledAt = "", time.Time{}
			_, err = t.exec(`UPDATE webhooks SET disabled_reason = NULL, disabled_at = NULL, failing_since = NULL
				WHERE public_id = $1`, id)
			t.markDue(w.ID)
		case !w.Enabled && wasEnabled:
			w.DisabledReason, w.DisabledAt = "", w.UpdatedAt
			_, err = t.exec(`UPDATE webhooks SET disabled_reason = NULL, disabled_at = $1 WHERE public_id = $2`, millis(now), id)
		}
		return err
	})
	if err != nil {
		return db.Webhook{}, fmt.Errorf("update webhook %s: %w", id, s.translate(err))
	}
	return w, nil
}

// DeleteWebhook removes a webhook together with its deliveries and their attempts. A long
// history is deleted in batches of db.DefaultPruneBatch deliveries, each a transaction of its
// own: the first disables the webhook (and bumps its version, so every instance stops
// claiming for it), and the last deletes its row. A delete cut short leaves the webhook
// disabled with part of its history; deleting it again finishes the job.
func (s *DB) DeleteWebhook(ctx context.Context, id string) error {
	var row int64
	err := s.write(ctx, func(t *tx) error {
		err := t.queryRow(`UPDATE webhooks SET enabled = false, version = version + 1 WHERE public_id = $1 RETURNING id`, id).Scan(&row)
		if errors.Is(err, pgx.ErrNoRows) {
			return db.ErrNotFound
		}
		return err
	})
	for err == nil {
		var n int
		err = s.write(ctx, func(t *tx) error {
			// SKIP LOCKED: a delivery another instance is recording right now is taken by a
			// later batch.
			ids, err := t.ids(`SELECT id FROM deliveries WHERE webhook_id = $1 LIMIT $2 FOR UPDATE SKIP LOCKED`, row, db.DefaultPruneBatch)
			if n = len(ids); err != nil || n == 0 {
				return err
			}
			if _, err := t.exec(`DELETE FROM attempts WHERE delivery_id = ANY($1)`, ids); err != nil {
				return err
			}
			_, err = t.exec(`DELETE FROM deliveries WHERE id = ANY($1)`, ids)
			return err
		})
		if n < db.DefaultPruneBatch {
			break
		}
	}
	if err == nil {
		err = s.write(ctx, func(t *tx) error {
			_, err := t.exec(`DELETE FROM webhooks WHERE id = $1`, row)
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, s.translate(err))
	}
	return nil
}

// fanoutTarget is what fan-out needs of an enabled webhook.
type fanoutTarget struct {
	rowID    int64
	id       string
	patterns []string
}

// enabledWebhooks lists what fan-out needs of every enabled webhook.
func (t *tx) enabledWebhooks() ([]fanoutTarget, error) {
	return t.s.enabledWebhooks(t.ctx, t)
}

// enabledWebhooks lists what fan-out needs of every enabled webhook, read through q (the
// pool, or a transaction).
func (s *DB) enabledWebhooks(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) ([]fanoutTarget, error) {
	rows, err := q.Query(ctx, `SELECT id, public_id, event_types FROM webhooks WHERE enabled`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []fanoutTarget
	for rows.Next() {
		var (
			f   fanoutTarget
			raw string
		)
		if err := rows.Scan(&f.rowID, &f.id, &raw); err != nil {
			return nil, err
		}
		if f.patterns, err = s.parsePatterns(raw); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}
