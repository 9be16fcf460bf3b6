package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/db/sqlite"
)

func TestBackupCopiesALiveDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := make([]byte, db.EncryptionKeySize)
	for i := range key {
		key[i] = byte(i)
	}
	path := filepath.Join(dir, "live.db")
	store, err := sqlite.Open(t.Context(), path, sqlite.Options{EncryptionKey: key})
	require.NoError(t, err)
	defer store.Close()
	wh := dbtest.Webhook(t, store, "https://wh.test/hook")
	for i := range 10 {
		dbtest.Event(t, store, "a.b", i)
	}

	// Ingest goes on while the backup is made: the copy holds a consistent prefix of it.
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	going := make(chan struct{}) // closed once ingest is under way
	ended := make(chan struct{})
	wg.Go(func() {
		defer close(ended)
		for i := 0; ctx.Err() == nil; i++ {
			if i == 20 {
				close(going)
			}
			_, err := store.CreateEvents(ctx, []db.NewEvent{{Type: "a.b", Data: []byte(`{"during":true}`)}})
			if err != nil && ctx.Err() == nil {
				t.Errorf("ingest during the backup: %v", err)
				return
			}
		}
	})
	select {
	case <-going:
	case <-ended:
		t.FailNow()
	}
	to := filepath.Join(dir, "backup.db")
	require.NoError(t, sqlite.Backup(t.Context(), path, to))
	stop()
	wg.Wait()

	// The copy opens with the same key only, and holds the webhook (secret included) and a
	// pending delivery for every event it holds.
	_, err = sqlite.Open(t.Context(), to, sqlite.Options{})
	require.ErrorIs(t, err, db.ErrEncryptionKeyRequired)
	cp, err := sqlite.Open(t.Context(), to, sqlite.Options{EncryptionKey: key})
	require.NoError(t, err)
	defer cp.Close()
	secrets, err := cp.FindWebhookSecrets(t.Context(), wh.ID)
	require.NoError(t, err)
	assert.Equal(t, dbtest.Secret, secrets.Current)
	events, err := cp.CountRowsForTest(t.Context(), "events")
	require.NoError(t, err)
	assert.GreaterOrEqual(t, events, 30)
	q, err := cp.QueueStats(t.Context())
	require.NoError(t, err)
	assert.Equal(t, events, q.Pending, "one pending delivery per event copied: no event without its fan-out")
}

func TestBackupRefusesAnExistingTarget(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "live.db")
	dbtest.Open(t, path)
	to := filepath.Join(dir, "backup.db")
	require.NoError(t, os.WriteFile(to, []byte("an older backup"), 0o600))

	err := sqlite.Backup(t.Context(), path, to)
	require.ErrorIs(t, err, sqlite.ErrBackupExists)
	b, err := os.ReadFile(to)
	require.NoError(t, err)
	assert.Equal(t, "an older backup", string(b), "left as it was")
	assertOnlyFiles(t, dir, "live.db", "live.db-shm", "live.db-wal", "backup.db")
}

func TestBackupRefusesWhatIsNotAHookrelayDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	to := filepath.Join(dir, "backup.db")

	err := sqlite.Backup(t.Context(), filepath.Join(dir, "missing.db"), to)
	require.ErrorIs(t, err, os.ErrNotExist)
	assertOnlyFiles(t, dir) // no database was created where there was none

	text := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(text, []byte("not a database at all, just some text that is long enough"), 0o600))
	err = sqlite.Backup(t.Context(), text, to)
	require.ErrorContains(t, err, "not a hookrelay database")
	assertOnlyFiles(t, dir, "notes.txt")
}

func TestBackupOfAStoppedDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "live.db")
	store, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	require.NoError(t, err)
	dbtest.Webhook(t, store, "https://wh.test/hook")
	require.NoError(t, store.Close()) // checkpoints and removes the -wal and -shm files

	to := filepath.Join(dir, "backup.db")
	require.NoError(t, sqlite.Backup(t.Context(), path, to))
	cp := dbtest.Open(t, to)
	hooks, err := cp.ListWebhooks(t.Context())
	require.NoError(t, err)
	assert.Len(t, hooks, 1)
}

// assertOnlyFiles checks that dir holds exactly the named files: no partial copy is left.
func assertOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	assert.ElementsMatch(t, names, got)
}
