package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// This file is an internal test because no public method can make one write of a commit
// group fail after it has changed rows; it calls s.write directly.

func openTest(t *testing.T) *DB {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "hookrelay.db"), Options{})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

func setting(t *testing.T, s *DB, key string) (string, bool) {
	t.Helper()
	var v string
	err := s.reader.QueryRowContext(context.Background(), `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false
	}
	require.NoError(t, err)
	return v, true
}

// TestWriteGroupIsolatesFailures holds the write loop on one op so that every other op
// queues up behind it, then checks that the queued ops ran as one group (one transaction)
// in which a failing op and a panicking op undo only their own changes.
func TestWriteGroupIsolatesFailures(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := openTest(t)
		var (
			mu  sync.Mutex
			due []string
		)
		s.OnDue(func(ids []string) {
			mu.Lock()
			due = append(due, ids...)
			mu.Unlock()
		})

		hold, held := make(chan struct{}), make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			assert.NoError(t, s.write(context.Background(), func(*tx) error {
				close(held)
				<-hold
				return nil
			}))
		})
		<-held

		const n = 20
		errs := make([]error, n)
		txs := make([]*sql.Tx, n)
		for i := range n {
			wg.Go(func() {
				errs[i] = s.write(context.Background(), func(t *tx) error {
					txs[i] = t.sql
					key := fmt.Sprintf("k%02d", i)
					if _, err := t.exec(`INSERT INTO settings (key, value) VALUES (?, ?)`, key, "v"); err != nil {
						return err
					}
					t.markDue(key)
					switch i {
					case 7:
						return errors.New("op 7 fails after writing")
					case 13:
						panic("op 13 panics after writing")
					}
					return nil
				})
			})
		}
		synctest.Wait() // every op is now queued behind the held one
		close(hold)
		wg.Wait()

		for i := range n {
			key := fmt.Sprintf("k%02d", i)
			_, stored := setting(t, s, key)
			switch i {
			case 7:
				assert.EqualError(t, errs[i], "op 7 fails after writing")
				assert.False(t, stored, "a failed op's writes are undone")
			case 13:
				assert.ErrorContains(t, errs[i], "panic in write: op 13 panics after writing")
				assert.False(t, stored, "a panicked op's writes are undone")
			default:
				assert.NoError(t, errs[i], "op %d", i)
				assert.True(t, stored, "op %d committed", i)
			}
			assert.Same(t, txs[0], txs[i], "op %d shared the group's transaction", i)
		}
		mu.Lock()
		defer mu.Unlock()
		assert.Len(t, due, n-2, "only committed ops announce due work")
		assert.NotContains(t, due, "k07")
		assert.NotContains(t, due, "k13")
	})
}

// TestWriteSingleOpFailureRollsBack covers the group of one, which runs without a savepoint.
func TestWriteSingleOpFailureRollsBack(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	err := s.write(t.Context(), func(t *tx) error {
		if _, err := t.exec(`INSERT INTO settings (key, value) VALUES ('alone', 'v')`); err != nil {
			return err
		}
		return errors.New("no")
	})
	assert.EqualError(t, err, "no")
	_, stored := setting(t, s, "alone")
	assert.False(t, stored)

	// The loop is still alive and the statement cache still works.
	for range 3 {
		require.NoError(t, s.write(t.Context(), func(t *tx) error {
			_, err := t.exec(`INSERT INTO settings (key, value) VALUES ('alone', 'v') ON CONFLICT (key) DO UPDATE SET value = value || 'v'`)
			return err
		}))
	}
	v, _ := setting(t, s, "alone")
	assert.Equal(t, "vvv", v)
}

// TestWriteConstraintErrorIsConflict checks the translation of UNIQUE failures.
func TestWriteConstraintErrorIsConflict(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	insert := func(t *tx) error {
		_, err := t.exec(`INSERT INTO settings (key, value) VALUES ('k', 'v')`)
		return translate(err)
	}
	require.NoError(t, s.write(t.Context(), insert))
	assert.ErrorIs(t, s.write(t.Context(), insert), ErrConflict)
}
