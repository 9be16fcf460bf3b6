package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/db/sqlite"
)

type migration struct{ Version, AppliedAt int64 }

// readMigrations opens the file directly (the store exposes no schema API) and lists what
// schema_migrations records.
func readMigrations(t *testing.T, path string) []migration {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	require.NoError(t, err)
	defer raw.Close()
	rows, err := raw.QueryContext(t.Context(), `SELECT version, applied_at FROM schema_migrations ORDER BY version`)
	require.NoError(t, err)
	defer rows.Close()
	var out []migration
	for rows.Next() {
		var m migration
		require.NoError(t, rows.Scan(&m.Version, &m.AppliedAt))
		out = append(out, m)
	}
	require.NoError(t, rows.Err())
	return out
}

func tables(t *testing.T, path string) []string {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)")
	require.NoError(t, err)
	defer raw.Close()
	rows, err := raw.QueryContext(t.Context(), `SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		out = append(out, n)
	}
	require.NoError(t, rows.Err())
	return out
}

func TestMigrationsApplyOnceAndReopenIsANoOp(t *testing.T) {
	t.Parallel()
	files, err := os.ReadDir("migrations")
	require.NoError(t, err)
	var want []int64
	for _, f := range files {
		require.True(t, strings.HasSuffix(f.Name(), ".sql"), f.Name())
		// Versions are the file's number. Branches reserve numbers ahead of merging, so a
		// branch may have gaps; the order is what matters.
		v, err := strconv.ParseInt(strings.SplitN(f.Name(), "_", 2)[0], 10, 64)
		require.NoError(t, err, f.Name())
		want = append(want, v)
	}

	path := filepath.Join(t.TempDir(), "hookrelay.db")
	store, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	require.NoError(t, err)
	wh := dbtest.Webhook(t, store, "https://receiver.test/hook")
	res := dbtest.Event(t, store, "a.b", 1)
	require.NoError(t, store.Close())

	first := readMigrations(t, path)
	var got []int64
	for _, m := range first {
		got = append(got, m.Version)
	}
	assert.Equal(t, want, got, "every embedded migration is recorded once")
	assert.Subset(t, tables(t, path), []string{"attempts", "deliveries", "events", "schema_migrations", "settings", "webhooks",
		"alerts", "alert_failures", "alert_streaks"})

	// Reopening applies nothing again and keeps the data.
	store = dbtest.Open(t, path)
	assert.Equal(t, first, readMigrations(t, path))
	found, err := store.FindWebhook(t.Context(), wh.ID)
	require.NoError(t, err)
	assert.Equal(t, wh.URL, found.URL)
	ev, err := store.FindEvent(t.Context(), res.EventID)
	require.NoError(t, err)
	assert.Equal(t, 1, ev.Fanout)
	require.NoError(t, store.Ping(context.Background()))
}

func TestOpenRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		path string
		o    sqlite.Options
	}{
		{"empty path", "", sqlite.Options{}},
		{"unknown sync mode", filepath.Join(t.TempDir(), "x.db"), sqlite.Options{Sync: "sometimes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := sqlite.Open(t.Context(), tc.path, tc.o)
			assert.Error(t, err)
		})
	}
}
