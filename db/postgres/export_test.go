package postgres

import (
	"context"
)

// ExecForTest runs a statement of the calling test, written with ? placeholders, as another
// program changing the database would.
func (s *DB) ExecForTest(ctx context.Context, query string, args ...any) error {
	_, err := s.pool.Exec(ctx, numberPlaceholders(query), args...)
	return err
}

// CountRowsForTest counts the rows of a table; table is a constant of the calling test.
func (s *DB) CountRowsForTest(ctx context.Context, table string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n)
	return n, err
}

// QueryIntForTest returns the one integer a query of the calling test selects.
func (s *DB) QueryIntForTest(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, numberPlaceholders(query), args...).Scan(&n)
	return n, err
}

// ListenerPIDForTest is the server process of the listener's connection.
func (s *DB) ListenerPIDForTest() uint32 { return s.listener.pid.Load() }

// ListenerReconnectsForTest counts the listener's reconnections.
func (s *DB) ListenerReconnectsForTest() int64 { return s.listener.reconnects.Load() }

// Placeholders is numberPlaceholders, for the tests.
var Placeholders = numberPlaceholders

// WriteForTest runs statements of the calling test (with ? placeholders) in one of the
// store's write transactions, retried as every write is.
func (s *DB) WriteForTest(ctx context.Context, fn func(exec func(query string, args ...any) error) error) error {
	return s.write(ctx, func(t *tx) error {
		return fn(func(query string, args ...any) error {
			_, err := t.exec(numberPlaceholders(query), args...)
			return err
		})
	})
}
