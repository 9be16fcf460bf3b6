package sqlite_test

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

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
	for _, mode := range []string{sqlite.CheckpointWriter, sqlite.CheckpointBackground} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			testWALIsCutBackToItsLimit(t, mode)
		})
	}
}

func testWALIsCutBackToItsLimit(t *testing.T, mode string) {
	synctest.Test(t, func(t *testing.T) {
		const limit = 1 << 20
		path := filepath.Join(t.TempDir(), "hookrelay.db")
		store, err := sqlite.Open(t.Context(), path, sqlite.Options{WALLimit: limit, Checkpoints: mode})
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

		// The next checkpoint (the writer's, or the checkpointer's pass and the writer's last
		// step) copies the whole log, and the writer starts it over, cut back to the limit.
		for range 3 {
			time.Sleep(time.Second)
			synctest.Wait()
			write(1, json.RawMessage(`{}`))
		}
		assert.LessOrEqual(t, walSize(), int64(limit), "the log keeps the burst's size (%d bytes)", burst)
	})
}

// With background checkpoints the writer never checkpoints (its automatic checkpoint is off,
// so no commit waits for the log to be copied), yet under a steady stream of commits the
// checkpointer copies the log into the file and the writer starts it over, so the log stays
// near its usual size instead of holding everything written.
func TestLogIsCheckpointedOffTheWriter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "hookrelay.db")
		store, err := sqlite.Open(t.Context(), path, sqlite.Options{Checkpoints: sqlite.CheckpointBackground})
		require.NoError(t, err)
		defer store.Close()
		auto, err := store.WriterPragmaForTest(t.Context(), "wal_autocheckpoint")
		require.NoError(t, err)
		assert.Zero(t, auto, "the writer's automatic checkpoint is off")

		size := func(p string) int64 {
			fi, err := os.Stat(p)
			require.NoError(t, err)
			return fi.Size()
		}
		pad := json.RawMessage(`{"pad":"` + strings.Repeat("x", 8<<10) + `"}`)
		var largest int64
		for i := range 400 { // about 35 MiB of log in all, 8 times the size it starts over at
			ingest(t, store, 10, pad)
			largest = max(largest, size(path+"-wal"))
			if i%10 == 9 { // commits keep coming while the checkpointer waits between passes
				time.Sleep(time.Second)
				synctest.Wait()
			}
		}
		assert.Less(t, largest, int64(12<<20), "the log started over")
		assert.Greater(t, size(path), int64(30<<20), "the checkpointer copied the log into the file")
	})
}

func TestUnknownCheckpointModeIsRefused(t *testing.T) {
	t.Parallel()
	_, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "hookrelay.db"), sqlite.Options{Checkpoints: "sometimes"})
	require.ErrorContains(t, err, `unknown checkpoint mode "sometimes"`)
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
