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
