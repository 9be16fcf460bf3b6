package postgres_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db/postgres"
	"github.com/hookrelay/hookrelay/db/storetest"
	"github.com/hookrelay/hookrelay/internal/pgtest"
)

// TestConformance runs the behaviour every store must have (db/storetest) against
// PostgreSQL, each test on a database of its own copied from a migrated template.
func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, harness())
}

func harness() storetest.Harness {
	var urls sync.Map // *postgres.DB → the URL it was opened on
	open := func(t *testing.T, url string, o storetest.Options) (*postgres.DB, error) {
		t.Helper()
		store, err := postgres.Open(t.Context(), url, postgres.Options{EncryptionKey: o.EncryptionKey, MaxConns: 4})
		if err != nil {
			return nil, err
		}
		if o.Clock != nil {
			store.Clock = o.Clock
		}
		urls.Store(store, url)
		t.Cleanup(func() { assert.NoError(t, store.Close(), "close database") })
		return store, nil
	}
	asPostgres := func(t *testing.T, s storetest.Store) *postgres.DB {
		t.Helper()
		store, ok := s.(*postgres.DB)
		require.True(t, ok, "%T is not a store of this harness", s)
		return store
	}
	return storetest.Harness{
		Name: "postgres",
		Open: func(t *testing.T, o storetest.Options) storetest.Store {
			t.Helper()
			store, err := open(t, pgtest.URL(t), o)
			require.NoError(t, err)
			return store
		},
		OpenAgain: func(t *testing.T, s storetest.Store, o storetest.Options) (storetest.Store, error) {
			t.Helper()
			url, ok := urls.Load(asPostgres(t, s))
			require.True(t, ok, "the store was not opened by this harness")
			store, err := open(t, url.(string), o)
			if err != nil {
				return nil, err // not a nil *postgres.DB in a non-nil interface
			}
			return store, nil
		},
		Exec: func(t *testing.T, s storetest.Store, query string, args ...any) {
			t.Helper()
			require.NoError(t, asPostgres(t, s).ExecForTest(t.Context(), query, args...))
		},
		Count: func(t *testing.T, s storetest.Store, table string) int {
			t.Helper()
			n, err := asPostgres(t, s).CountRowsForTest(t.Context(), table)
			require.NoError(t, err)
			return n
		},
	}
}
