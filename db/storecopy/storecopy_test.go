package storecopy_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db/sqlite"
	"github.com/hookrelay/hookrelay/db/storecopy"
	"github.com/hookrelay/hookrelay/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// notCopied are the tables each store keeps for itself.
var notCopied = []string{"schema_migrations", "leader_leases"}

// Both stores keep the same tables with the same columns, and every table is either copied
// or named as not copied: a migration added to one store only, or a new table the copy
// does not know, fails here rather than in an operator's move.
func TestSchemasMatch(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "hookrelay.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	lite, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	defer lite.Close()
	pg, err := pgx.Connect(ctx, pgtest.URL(t))
	require.NoError(t, err)
	defer pg.Close(context.WithoutCancel(ctx))

	liteTables := strings(t, func() (*sql.Rows, error) {
		return lite.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	})
	rows, err := pg.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`)
	require.NoError(t, err)
	pgTables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, liteTables, pgTables, "the same tables in both stores")
	all := slices.Sorted(slices.Values(append(slices.Clone(storecopy.Tables), notCopied...)))
	assert.Equal(t, all, pgTables, "every table is copied or named as not copied")

	for _, table := range storecopy.Tables {
		liteCols := strings(t, func() (*sql.Rows, error) {
			return lite.QueryContext(ctx, `SELECT name FROM pragma_table_info(?) ORDER BY name`, table)
		})
		rows, err := pg.Query(ctx, `SELECT column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1 ORDER BY column_name`, table)
		require.NoError(t, err)
		pgCols, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		assert.Equal(t, liteCols, pgCols, "the columns of %s", table)
	}
}

func strings(t *testing.T, query func() (*sql.Rows, error)) []string {
	t.Helper()
	rows, err := query()
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}
