package sqlite

import "context"

// CountRowsForTest counts the rows of a table; table is a constant of the calling test.
func (s *DB) CountRowsForTest(ctx context.Context, table string) (int, error) {
	var n int
	err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n)
	return n, err
}

// ExecForTest runs a statement of the calling test on the writer, as another program
// changing the file would.
func (s *DB) ExecForTest(ctx context.Context, query string, args ...any) error {
	return s.write(ctx, func(t *tx) error {
		_, err := t.sql.ExecContext(t.ctx, query, args...)
		return err
	})
}

// QueryPlanForTest returns SQLite's plan of a query, one line per step.
func (s *DB) QueryPlanForTest(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.reader.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var (
			id, parent, unused int
			detail             string
		)
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return nil, err
		}
		out = append(out, detail)
	}
	return out, rows.Err()
}

// QueueStatsQuery is the statement behind QueueStats, for its plan.
const QueueStatsQuery = queueStatsQuery

// WriterPragmaForTest reads a pragma's value on the writer connection.
func (s *DB) WriterPragmaForTest(ctx context.Context, name string) (int, error) {
	var n int
	err := s.write(ctx, func(t *tx) error {
		return t.sql.QueryRowContext(t.ctx, `PRAGMA `+name).Scan(&n)
	})
	return n, err
}
