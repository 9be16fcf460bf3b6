package sqlite

import "context"

// CountRowsForTest counts the rows of a table; table is a constant of the calling test.
func (s *DB) CountRowsForTest(ctx context.Context, table string) (int, error) {
	var n int
	err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n)
	return n, err
}
