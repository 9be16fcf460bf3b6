package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"

	"github.com/hookrelay/hookrelay/db"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	pg := func(code string) error { return fmt.Errorf("query: %w", &pgconn.PgError{Code: code}) }
	for _, tc := range []struct {
		name string
		err  error
		want error // nil: none of the store's errors
	}{
		{"no rows", pgx.ErrNoRows, db.ErrNotFound},
		{"unique violation", pg("23505"), db.ErrConflict},
		{"connection failure", pg("08006"), db.ErrUnavailable},
		{"too many connections", pg("53300"), db.ErrUnavailable},
		{"disk full", pg("53100"), db.ErrUnavailable},
		{"admin shutdown", pg("57P01"), db.ErrUnavailable},
		{"crash shutdown", pg("57P02"), db.ErrUnavailable},
		{"cannot connect now", pg("57P03"), db.ErrUnavailable},
		{"deadlock after retries", pg("40P01"), db.ErrUnavailable},
		{"serialization failure after retries", pg("40001"), db.ErrUnavailable},
		{"broken connection", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), db.ErrUnavailable},
		{"deadline", context.DeadlineExceeded, db.ErrUnavailable},
		{"syntax error", pg("42601"), nil},
		{"foreign key", pg("23503"), nil},
		{"cancelled by the caller", context.Canceled, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := classify(tc.err)
			if tc.want != nil {
				assert.ErrorIs(t, got, tc.want)
				assert.Equal(t, got, classify(got), "idempotent")
				return
			}
			for _, e := range []error{db.ErrNotFound, db.ErrConflict, db.ErrUnavailable} {
				assert.NotErrorIs(t, got, e)
			}
			assert.ErrorIs(t, got, tc.err)
		})
	}
	assert.Nil(t, classify(nil))
	nul := classify(&pgconn.PgError{Code: "22021", Message: `invalid byte sequence for encoding "UTF8": 0x00`})
	assert.ErrorContains(t, nul, "NUL character")
}

func TestDuePayload(t *testing.T) {
	t.Parallel()
	s := &DB{instance: "me"}
	assert.Equal(t, "me whk_a,whk_b", s.duePayload([]string{"whk_b", "whk_a", "whk_b"}))
	var many []string
	for i := range 500 {
		many = append(many, fmt.Sprintf("whk_%026d", i))
	}
	assert.Equal(t, "me *", s.duePayload(many), "too long for a notification: anything may be due")
}

func TestDispatchSkipsOwnNotifications(t *testing.T) {
	t.Parallel()
	s := &DB{instance: "me"}
	var (
		due    [][]string
		alerts int
	)
	s.OnDue(func(ids []string) { due = append(due, ids) })
	s.OnAlertQueued(func() { alerts++ })
	s.dispatch(&pgconn.Notification{Channel: dueChannel, Payload: "me whk_a"})
	s.dispatch(&pgconn.Notification{Channel: alertChannel, Payload: "me"})
	assert.Empty(t, due)
	assert.Zero(t, alerts)
	s.dispatch(&pgconn.Notification{Channel: dueChannel, Payload: "other whk_a,whk_b"})
	s.dispatch(&pgconn.Notification{Channel: dueChannel, Payload: "other *"})
	s.dispatch(&pgconn.Notification{Channel: alertChannel, Payload: "other"})
	assert.Equal(t, [][]string{{"whk_a", "whk_b"}, nil}, due)
	assert.Equal(t, 1, alerts)
}

func TestNumberPlaceholders(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "a = $1 AND b < $2 LIMIT $3", numberPlaceholders("a = ? AND b < ? LIMIT ?"))
	assert.Equal(t, "SELECT 1", numberPlaceholders("SELECT 1"))
}

func TestSafeText(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "plain", safeText("plain"))
	assert.Equal(t, "a\uFFFDb\uFFFD", safeText("a\x00b\xff"))
	assert.False(t, strings.ContainsRune(safeText("\x00"), 0))
	assert.True(t, errors.Is(db.ErrClosed, db.ErrUnavailable))
}
