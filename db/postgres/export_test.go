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

// QueryPlanForTest returns PostgreSQL's plan of a query (EXPLAIN, text format) with
// sequential scans priced out of reach, one line per row: a table still read in full has
// no index the query can use.
func (s *DB) QueryPlanForTest(ctx context.Context, query string, args ...any) ([]string, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, "EXPLAIN "+query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, err
		}
		out = append(out, line)
	}
	return out, rows.Err()
}

// QueueStatsQuery is the statement behind QueueStats, for its plan.
const QueueStatsQuery = queueStatsQuery
