package sqlite_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db/sqlite"
	"github.com/hookrelay/hookrelay/db/storetest"
)

// TestConformance runs the behaviour every store must have (db/storetest) against SQLite.
// SQLite serves one process per file, so its leases run on the store's clock; with the
// suite's leases of 0 and of a day that is indistinguishable from the database's clock (see
// TestLeasesFollowTheStoreClock for the exact times).
func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, harness(t))
}

// harness opens each test's database as a file of its own in t.TempDir: a copy of one
// migrated once, which saves every test the migrations.
func harness(t *testing.T) storetest.Harness {
	template := filepath.Join(t.TempDir(), "template.db")
	store, err := sqlite.Open(t.Context(), template, sqlite.Options{})
	require.NoError(t, err)
	require.NoError(t, store.Close()) // checkpoints the WAL into the file and removes it
	migrated, err := os.ReadFile(template)
	require.NoError(t, err)

	var paths sync.Map // *sqlite.DB → the file it was opened on
	open := func(t *testing.T, path string, o storetest.Options) (*sqlite.DB, error) {
		t.Helper()
		store, err := sqlite.Open(t.Context(), path, sqlite.Options{EncryptionKey: o.EncryptionKey})
		if err != nil {
			return nil, err
		}
		if o.Clock != nil {
			store.Clock = o.Clock
		}
		paths.Store(store, path)
		t.Cleanup(func() { assert.NoError(t, store.Close(), "close database") })
		return store, nil
	}
	asSQLite := func(t *testing.T, s storetest.Store) *sqlite.DB {
		t.Helper()
		store, ok := s.(*sqlite.DB)
		require.True(t, ok, "%T is not a store of this harness", s)
		return store
	}
	return storetest.Harness{
		Name: "sqlite",
		Open: func(t *testing.T, o storetest.Options) storetest.Store {
			t.Helper()
			path := filepath.Join(t.TempDir(), "hookrelay.db")
			require.NoError(t, os.WriteFile(path, migrated, 0o600))
			store, err := open(t, path, o)
			require.NoError(t, err)
			return store
		},
		OpenAgain: func(t *testing.T, s storetest.Store, o storetest.Options) (storetest.Store, error) {
			t.Helper()
			path, ok := paths.Load(asSQLite(t, s))
			require.True(t, ok, "the store was not opened by this harness")
			store, err := open(t, path.(string), o)
			if err != nil {
				return nil, err // not a nil *sqlite.DB in a non-nil interface
			}
			return store, nil
		},
		Exec: func(t *testing.T, s storetest.Store, query string, args ...any) {
			t.Helper()
			require.NoError(t, asSQLite(t, s).ExecForTest(t.Context(), query, args...))
		},
		Count: func(t *testing.T, s storetest.Store, table string) int {
			t.Helper()
			n, err := asSQLite(t, s).CountRowsForTest(t.Context(), table)
			require.NoError(t, err)
			return n
		},
	}
}
