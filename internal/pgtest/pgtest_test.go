package pgtest_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Each test gets a database of its own: migrated from the template, or empty, and gone
// once the test has ended.
func TestEachTestHasItsOwnDatabase(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var migrated string
	t.Run("migrated", func(t *testing.T) {
		migrated = pgtest.URL(t)
		assert.NotEqual(t, migrated, pgtest.URL(t))
		files, err := filepath.Glob("../../db/postgres/migrations/*.sql")
		require.NoError(t, err)
		assert.Equal(t, len(files), query(t, migrated, `SELECT count(*) FROM schema_migrations`), "every migration applied")
	})
	t.Run("empty", func(t *testing.T) {
		empty := pgtest.EmptyURL(t)
		assert.Zero(t, query(t, empty, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`))
	})
	_, err := pgx.Connect(ctx, migrated)
	assert.Error(t, err, "dropped when its test ended")
}

func query(t *testing.T, url, q string) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var n int
	require.NoError(t, conn.QueryRow(t.Context(), q).Scan(&n))
	return n
}
