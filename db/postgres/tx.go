package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hookrelay/hookrelay/db"
)

// Notification channels. A payload starts with the sending store's instance tag, so that a
// listener skips its own store's notifications (it has called its callbacks already).
const (
	// dueChannel carries "<tag> <webhook id>,<webhook id>…", or "<tag> *" for "any webhook
	// may have due work" when the list would not fit in a notification.
	dueChannel = "hookrelay_due"
	// alertChannel carries "<tag>": failures were put in the alert outbox.
	alertChannel = "hookrelay_alert"
	// maxDuePayload keeps a due notification under PostgreSQL's 8000-byte payload limit.
	maxDuePayload = 7000
)

// tx is what a write sees: its transaction, and what to announce once it has committed.
type tx struct {
	pgx.Tx
	ctx     context.Context
	s       *DB
	due     []string // webhooks with due work, one entry per markDue as in db/sqlite
	alerted bool     // failures were put in the alert outbox
}

// writeTries bounds how often write runs a transaction that ran into another one.
const writeTries = 4

// write runs fn in a transaction and commits it. Before the commit it sends one
// notification per channel for what fn marked (see markDue, alerted); after the commit it
// calls this store's callbacks. A transaction that fails with a serialization failure or a
// deadlock is run again, so fn may run more than once and must set its results afresh each
// time.
func (s *DB) write(ctx context.Context, fn func(*tx) error) error {
	if s.closed.Load() {
		return db.ErrClosed
	}
	for try := 1; ; try++ {
		t, err := s.writeOnce(ctx, fn)
		if err == nil {
			if t.due != nil {
				s.notifyDue(t.due)
			}
			if t.alerted {
				s.notifyAlertQueued()
			}
			return nil
		}
		if !retryable(err) || try == writeTries {
			return s.translate(err)
		}
		pause := time.Duration(rand.Int64N(int64(5*time.Millisecond) << try))
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return s.translate(err)
		}
	}
}

func (s *DB) writeOnce(ctx context.Context, fn func(*tx) error) (*tx, error) {
	pgTx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	// Rolling back with a cancelled context would close the connection instead; after a
	// commit this does nothing.
	defer pgTx.Rollback(context.WithoutCancel(ctx))
	t := &tx{Tx: pgTx, ctx: ctx, s: s}
	if err := fn(t); err != nil {
		return nil, err
	}
	if len(t.due) > 0 {
		if _, err := pgTx.Exec(ctx, `SELECT pg_notify($1, $2)`, dueChannel, s.duePayload(t.due)); err != nil {
			return nil, fmt.Errorf("notify due webhooks: %w", err)
		}
	}
	if t.alerted {
		if _, err := pgTx.Exec(ctx, `SELECT pg_notify($1, $2)`, alertChannel, s.instance); err != nil {
			return nil, fmt.Errorf("notify queued alerts: %w", err)
		}
	}
	if err := pgTx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return t, nil
}

// duePayload lists each webhook once, or says "any" when the list is too long.
func (s *DB) duePayload(ids []string) string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	list := strings.Join(ids, ",")
	if len(list) > maxDuePayload {
		list = "*"
	}
	return s.instance + " " + list
}

// markDue records that webhookID has due work once this write commits.
func (t *tx) markDue(webhookID string) { t.due = append(t.due, webhookID) }

func (t *tx) exec(sql string, args ...any) (pgconn.CommandTag, error) {
	return t.Exec(t.ctx, sql, args...)
}

func (t *tx) query(sql string, args ...any) (pgx.Rows, error) {
	return t.Query(t.ctx, sql, args...)
}

func (t *tx) queryRow(sql string, args ...any) pgx.Row {
	return t.QueryRow(t.ctx, sql, args...)
}
