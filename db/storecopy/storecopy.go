// Package storecopy moves a hookrelay database from SQLite to PostgreSQL, table by table:
// webhooks (with their encrypted secrets and old secrets), events, deliveries, attempts,
// users, sessions, settings, alerts, API keys and the audit log, so that a team that started on SQLite keeps its
// history and its pending work. Both stores keep the same tables and columns (times as unix
// milliseconds), so a row moves as it is; only booleans change representation. It is the
// one place that knows both schemas at once, and it runs SQL of its own: the stores stay
// unaware of each other.
package storecopy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Tables are copied in this order, parents before children. schema_migrations belongs to
// each store, and leader_leases to the running instances: neither is copied.
var Tables = []string{
	"webhooks", "webhook_old_secrets", "events", "deliveries", "attempts", "attempt_hours", "attempt_days",
	"users", "sessions", "settings",
	"alerts", "alert_failures", "alert_streaks",
	"api_keys", "audit_log",
}

// ErrTargetNotEmpty is returned when the target already holds data: a copy into it would mix
// two histories.
var ErrTargetNotEmpty = errors.New("the target database is not empty")

// Counted is how many rows of one table were copied.
type Counted struct {
	Table string
	Rows  int64
}

// Copy copies every table of the SQLite database at sqlitePath into the PostgreSQL database
// at pgURL, which must be migrated to the same version and empty. The source is read in one
// transaction (a consistent snapshot; stop the server first, or writes made after it began
// are not copied) and the target is written in one, so a failed copy leaves it empty.
func Copy(ctx context.Context, sqlitePath, pgURL string) ([]Counted, error) {
	src, err := sql.Open("sqlite", "file:"+sqlitePath+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", sqlitePath, err)
	}
	defer src.Close()
	stx, err := src.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", sqlitePath, err)
	}
	defer stx.Rollback()

	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return nil, fmt.Errorf("connect to the target: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	ttx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin on the target: %w", err)
	}
	defer ttx.Rollback(context.WithoutCancel(ctx))

	if err := sameSchemaVersion(ctx, stx, ttx); err != nil {
		return nil, err
	}
	for _, table := range Tables {
		var n int64
		if err := ttx.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s on the target: %w", table, err)
		}
		if n > 0 {
			return nil, fmt.Errorf("%w: table %s has %d rows", ErrTargetNotEmpty, table, n)
		}
	}
	var out []Counted
	for _, table := range Tables {
		n, err := copyTable(ctx, stx, ttx, table)
		if err != nil {
			return nil, fmt.Errorf("copy %s: %w", table, err)
		}
		out = append(out, Counted{Table: table, Rows: n})
	}
	if err := ttx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit on the target: %w", err)
	}
	return out, nil
}

// sameSchemaVersion refuses to copy between stores at different migration versions: their
// columns would not line up. Both stores number their migrations alike.
func sameSchemaVersion(ctx context.Context, src *sql.Tx, dst pgx.Tx) error {
	var sv, dv int
	if err := src.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&sv); err != nil {
		return fmt.Errorf("read the source's schema version: %w", err)
	}
	if err := dst.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&dv); err != nil {
		return fmt.Errorf("read the target's schema version: %w", err)
	}
	if sv != dv {
		return fmt.Errorf("the source's schema is at version %d and the target's at %d: open both with this hookrelay first", sv, dv)
	}
	return nil
}

// column is one column of a target table, in table order.
type column struct {
	name, dataType string
	identity       bool
	notNull        bool
}

func targetColumns(ctx context.Context, dst pgx.Tx, table string) ([]column, error) {
	rows, err := dst.Query(ctx, `SELECT column_name, data_type, is_identity = 'YES', is_nullable = 'NO' FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.dataType, &c.identity, &c.notNull); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 && rows.Err() == nil {
		return nil, fmt.Errorf("table %s does not exist on the target", table)
	}
	return out, rows.Err()
}

func copyTable(ctx context.Context, src *sql.Tx, dst pgx.Tx, table string) (int64, error) {
	cols, err := targetColumns(ctx, dst, table)
	if err != nil {
		return 0, fmt.Errorf("read the target's columns: %w", err)
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	rows, err := src.QueryContext(ctx, `SELECT `+strings.Join(names, ", ")+` FROM `+table)
	if err != nil {
		return 0, fmt.Errorf("read the source (its columns must be the target's: %s): %w", strings.Join(names, ", "), err)
	}
	defer rows.Close()
	n, err := dst.CopyFrom(ctx, pgx.Identifier{table}, names, &source{rows: rows, cols: cols})
	if err != nil {
		return 0, err
	}
	for _, c := range cols {
		if c.identity {
			// Move the sequence past the copied ids, so the next insert does not collide.
			if _, err := dst.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, $2), coalesce(max(`+c.name+`), 0) + 1, false) FROM `+table,
				table, c.name); err != nil {
				return 0, fmt.Errorf("move the %s sequence: %w", c.name, err)
			}
		}
	}
	return n, nil
}

// source feeds pgx's COPY from the SQLite rows, converting each value to its target column's
// type.
type source struct {
	rows *sql.Rows
	cols []column
	vals []any
	err  error
}

func (s *source) Next() bool {
	if !s.rows.Next() {
		s.err = s.rows.Err()
		return false
	}
	raw := make([]any, len(s.cols))
	ptrs := make([]any, len(s.cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if s.err = s.rows.Scan(ptrs...); s.err != nil {
		return false
	}
	s.vals = make([]any, len(s.cols))
	for i, c := range s.cols {
		if s.vals[i], s.err = convert(raw[i], c); s.err != nil {
			return false
		}
	}
	return true
}

func (s *source) Values() ([]any, error) { return s.vals, s.err }

func (s *source) Err() error { return s.err }

// convert turns a value as SQLite returns it into one for a column of dataType.
func convert(v any, c column) (any, error) {
	if v == nil {
		// The SQLite driver reads an empty BLOB as nil; a NOT NULL column never held NULL.
		switch {
		case !c.notNull:
			return nil, nil
		case c.dataType == "bytea":
			return []byte{}, nil
		case c.dataType == "text":
			return "", nil
		}
		return nil, fmt.Errorf("column %s: NULL in a NOT NULL column", c.name)
	}
	switch c.dataType {
	case "boolean":
		switch x := v.(type) {
		case int64:
			return x != 0, nil
		case bool:
			return x, nil
		}
	case "bigint", "integer", "smallint":
		if x, ok := v.(int64); ok {
			return x, nil
		}
	case "text", "character varying":
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		}
	case "bytea":
		switch x := v.(type) {
		case []byte:
			if x == nil && c.notNull {
				return []byte{}, nil // pgx would send a nil slice as NULL
			}
			return x, nil
		case string:
			return []byte(x), nil
		}
	default:
		return v, nil
	}
	return nil, fmt.Errorf("column %s: cannot store a %T as %s", c.name, v, c.dataType)
}
