package sqlite_test

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/sqlite"
)

func autoVacuum(t *testing.T, path string) int {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	defer raw.Close()
	var mode int
	require.NoError(t, raw.QueryRow(`PRAGMA auto_vacuum`).Scan(&mode))
	return mode
}

// A new database is made with incremental vacuum; one made before it is converted at its
// next start, its data intact.
func TestIncrementalVacuumNewAndConverted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fresh := filepath.Join(dir, "fresh.db")
	s, err := sqlite.Open(t.Context(), fresh, sqlite.Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	assert.Equal(t, 2, autoVacuum(t, fresh))

	old := filepath.Join(dir, "old.db")
	raw, err := sql.Open("sqlite", "file:"+old)
	require.NoError(t, err)
	_, err = raw.Exec(`CREATE TABLE kept (v TEXT); INSERT INTO kept VALUES ('still here')`)
	require.NoError(t, err)
	require.NoError(t, raw.Close())
	require.Equal(t, 0, autoVacuum(t, old))
	s, err = sqlite.Open(t.Context(), old, sqlite.Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	assert.Equal(t, 2, autoVacuum(t, old))
	raw, err = sql.Open("sqlite", "file:"+old)
	require.NoError(t, err)
	defer raw.Close()
	var v string
	require.NoError(t, raw.QueryRow(`SELECT v FROM kept`).Scan(&v))
	assert.Equal(t, "still here", v)
}

// After retention deletes most of the data, ReclaimSpace makes the file smaller.
func TestReclaimSpaceShrinksTheFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "hookrelay.db")
	store, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	require.NoError(t, err)
	defer store.Close()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	store.Clock = func() time.Time { return now }
	pad := json.RawMessage(`{"pad":"` + strings.Repeat("x", 4<<10) + `"}`)
	for range 40 {
		ingest(t, store, 50, pad)
	}
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	defer raw.Close()
	size := func() int64 {
		// The WAL holds recent pages until a checkpoint copies them into the file.
		_, err := raw.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
		require.NoError(t, err)
		fi, err := os.Stat(path)
		require.NoError(t, err)
		return fi.Size()
	}
	full := size()
	require.Greater(t, full, int64(8<<20))

	now = now.Add(time.Hour)
	for {
		got, err := store.PruneBatch(t.Context(), db.PruneRequest{Before: now, Batch: 500})
		require.NoError(t, err)
		if !got.More {
			break
		}
	}
	freed, err := store.ReclaimSpace(t.Context())
	require.NoError(t, err)
	assert.Greater(t, freed, 2000, "pages given back")
	assert.Less(t, size(), full/4, "the file shrank")
}
