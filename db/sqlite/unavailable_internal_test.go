package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/hookrelay/hookrelay/db"
)

func TestUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	rw, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	defer rw.Close()
	_, err = rw.ExecContext(ctx, "CREATE TABLE t (k TEXT PRIMARY KEY)")
	require.NoError(t, err)
	_, err = rw.ExecContext(ctx, "INSERT INTO t VALUES ('a')")
	require.NoError(t, err)

	ro, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	require.NoError(t, err)
	defer ro.Close()
	_, readOnly := ro.ExecContext(ctx, "INSERT INTO t VALUES ('b')")
	require.Error(t, readOnly)
	assert.True(t, unavailable(fmt.Errorf("store: %w", readOnly)), "a read-only database: %v", readOnly)

	_, dup := rw.ExecContext(ctx, "INSERT INTO t VALUES ('a')")
	require.Error(t, dup)
	assert.False(t, unavailable(dup), "a constraint failure is not an outage")

	_, syntax := rw.ExecContext(ctx, "INSERT INTO")
	assert.False(t, unavailable(syntax))
	assert.False(t, unavailable(errors.New("other")))
	assert.False(t, unavailable(nil))

	store, err := Open(ctx, filepath.Join(t.TempDir(), "closed.db"), Options{})
	require.NoError(t, err)
	require.NoError(t, store.Close())
	_, closed := store.CreateEvents(ctx, []db.NewEvent{{Type: "a.b", Data: []byte(`{}`)}})
	assert.True(t, db.Unavailable(closed), "a closed database: %v", closed)
}
