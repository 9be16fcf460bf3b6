package sqlite_test

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/sqlite"
)

// While a long read holds the log, a burst grows it far past its usual size (checkpoints
// cannot finish); once the read ends and a checkpoint lets the log start over, the file is
// cut back to the limit instead of keeping the burst's size for good.
func TestWALIsCutBackToItsLimit(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	path := filepath.Join(t.TempDir(), "hookrelay.db")
	store, err := sqlite.Open(t.Context(), path, sqlite.Options{WALLimit: limit})
	require.NoError(t, err)
	defer store.Close()
	walSize := func() int64 {
		fi, err := os.Stat(path + "-wal")
		require.NoError(t, err)
		return fi.Size()
	}
	write := func(n int, data json.RawMessage) { ingest(t, store, n, data) }

	// A reader of its own, as a backup or a slow report would be, holding its snapshot.
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	defer other.Close()
	read, err := other.BeginTx(t.Context(), &sql.TxOptions{ReadOnly: true})
	require.NoError(t, err)
	var n int
	require.NoError(t, read.QueryRowContext(t.Context(), `SELECT count(*) FROM events`).Scan(&n))

	pad := json.RawMessage(`{"pad":"` + strings.Repeat("x", 8<<10) + `"}`)
	for range 150 { // about 12 MiB, three times what a checkpoint normally lets the log reach
		write(10, pad)
	}
	burst := walSize()
	require.Greater(t, burst, int64(8<<20), "the held snapshot let the log grow")
	require.NoError(t, read.Rollback())

	// The next commits checkpoint the whole log, then start it over, cut back to the limit.
	for range 3 {
		write(1, json.RawMessage(`{}`))
	}
	assert.LessOrEqual(t, walSize(), int64(limit), "the log keeps the burst's size (%d bytes)", burst)
}

// ingest stores n events with data in one call.
func ingest(t *testing.T, store *sqlite.DB, n int, data json.RawMessage) {
	t.Helper()
	batch := make([]db.NewEvent, n)
	for i := range batch {
		batch[i] = db.NewEvent{Type: "a.b", Data: data}
	}
	_, err := store.CreateEvents(t.Context(), batch)
	require.NoError(t, err)
}
