package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/hookrelay/hookrelay/db"
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
// and that, when one fails and one panics, the group is replayed op by op so that those two
// undo only their own changes.
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
		txs := make([][]*sql.Tx, n) // every transaction each op ran in, in order
		for i := range n {
			wg.Go(func() {
				errs[i] = s.write(context.Background(), func(t *tx) error {
					txs[i] = append(txs[i], t.sql)
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
		}
		// The group ran until its first failure, then each op ran again alone: ops queued
		// after the failing one ran only alone.
		var group *sql.Tx
		inGroup := 0
		for i := range n {
			require.NotEmpty(t, txs[i], "op %d ran", i)
			require.LessOrEqual(t, len(txs[i]), 2, "op %d ran at most twice", i)
			if len(txs[i]) == 2 {
				if group == nil {
					group = txs[i][0]
				}
				assert.Same(t, group, txs[i][0], "op %d shared the group's transaction", i)
				inGroup++
			}
			last := txs[i][len(txs[i])-1]
			for j := range n {
				if j != i && len(txs[j]) > 0 {
					assert.NotSame(t, txs[j][len(txs[j])-1], last, "ops %d and %d were replayed apart", i, j)
				}
			}
		}
		assert.GreaterOrEqual(t, inGroup, 1, "the ops ran as a group first")
		mu.Lock()
		defer mu.Unlock()
		assert.Len(t, due, n-2, "only committed ops announce due work")
		assert.NotContains(t, due, "k07")
		assert.NotContains(t, due, "k13")
	})
}

// TestWriteGroupRunsOnceWhenNothingFails: the replay is only for groups with a failure.
func TestWriteGroupRunsOnceWhenNothingFails(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := openTest(t)
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
		const n = 10
		runs := make([][]*sql.Tx, n)
		for i := range n {
			wg.Go(func() {
				assert.NoError(t, s.write(context.Background(), func(t *tx) error {
					runs[i] = append(runs[i], t.sql)
					_, err := t.exec(`INSERT INTO settings (key, value) VALUES (?, 'v')`, fmt.Sprintf("ok%d", i))
					return err
				}))
			})
		}
		synctest.Wait()
		close(hold)
		wg.Wait()
		for i := range n {
			require.Len(t, runs[i], 1, "op %d ran once", i)
			assert.Same(t, runs[0][0], runs[i][0], "op %d shared the group's transaction", i)
		}
	})
}

// TestWriteSingleOpFailureRollsBack covers the group of one.
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
	assert.ErrorIs(t, s.write(t.Context(), insert), db.ErrConflict)
}

// TestFanOutSeesWebhooksCreatedEarlierInTheSameGroup: fan-out reads the enabled webhooks
// once per group, and a webhook written earlier in the group must not be missed.
func TestFanOutSeesWebhooksCreatedEarlierInTheSameGroup(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := openTest(t)
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
		// Queued in this order behind the held op, so they run as one group: an ingest that
		// loads the (empty) list of webhooks, a new webhook, then a second ingest.
		var first, second []db.IngestResult
		ingest := func(out *[]db.IngestResult) {
			res, err := s.CreateEvents(context.Background(), []db.NewEvent{{Type: "a.b", Data: []byte(`{}`)}})
			assert.NoError(t, err)
			*out = res
		}
		wg.Go(func() { ingest(&first) })
		synctest.Wait()
		wg.Go(func() {
			_, err := s.CreateWebhook(context.Background(), db.NewWebhook{URL: "https://x.test/", EventTypes: []string{"*"},
				Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Enabled: true})
			assert.NoError(t, err)
		})
		synctest.Wait()
		wg.Go(func() { ingest(&second) })
		synctest.Wait()
		close(hold)
		wg.Wait()
		require.Len(t, first, 1)
		require.Len(t, second, 1)
		assert.Equal(t, 0, first[0].Deliveries, "no webhook existed yet")
		assert.Equal(t, 1, second[0].Deliveries, "the webhook created earlier in the group gets the event")
	})
}

// TestBodyCacheStaysWithinItsBudget: the claim cache of event bodies holds at most its byte
// budget, drops the oldest first, and does not keep bodies too large to be worth it.
func TestBodyCacheStaysWithinItsBudget(t *testing.T) {
	t.Parallel()
	c := newBodyCache(1000)
	body := func(n int) eventBody { return eventBody{body: make([]byte, n)} }
	id := func(n int) string { return fmt.Sprintf("evt_%d", n) }
	for n := 1; n <= 100; n++ {
		c.add(id(n), body(50))
		assert.LessOrEqual(t, c.bytes, 1000)
	}
	_, ok := c.get(id(1))
	assert.False(t, ok, "the oldest went first")
	_, ok = c.get(id(100))
	assert.True(t, ok, "the newest is kept")
	assert.Len(t, c.entries, 20)
	c.add(id(101), body(63))
	_, ok = c.get(id(101))
	assert.False(t, ok, "a body over 1/16 of the budget is not cached")
	assert.Less(t, len(c.order), 60, "the queue is compacted")
}

// Concurrent CreateEvents calls that meet in one group are stored together (one notice of
// due work for all of them) with the outcome of running them one after the other: a key
// repeated across calls is a duplicate of its first. When another op of the group fails
// after them, the group is replayed op by op and each call still gets the same outcome.
func TestIngestsOfOneGroupAreStoredTogether(t *testing.T) {
	t.Parallel()
	for _, failing := range []bool{false, true} {
		t.Run(fmt.Sprintf("failing op after them: %v", failing), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				s := openTest(t)
				ctx := context.Background()
				_, err := s.CreateWebhook(ctx, db.NewWebhook{URL: "https://a.test/", EventTypes: []string{"*"}, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Enabled: true})
				require.NoError(t, err)
				var notices int
				s.OnDue(func([]string) { notices++ })

				hold, held := make(chan struct{}), make(chan struct{})
				var wg sync.WaitGroup
				wg.Go(func() {
					assert.NoError(t, s.write(ctx, func(*tx) error {
						close(held)
						<-hold
						return nil
					}))
				})
				<-held
				calls := [][]db.NewEvent{
					{{Type: "a.b", Data: []byte(`{"n":1}`), IdempotencyKey: "k"}},
					{{Type: "a.b", Data: []byte(`{"n":2}`), IdempotencyKey: "k"}},
					{{Type: "a.b", Data: []byte(`{"n":3}`)}, {Type: "a.b", Data: []byte(`{"n":4}`)}},
				}
				results := make([][]db.IngestResult, len(calls))
				for i, events := range calls { // queued in this order: blocked senders are served first in, first out
					wg.Go(func() {
						var err error
						results[i], err = s.CreateEvents(ctx, events)
						assert.NoError(t, err)
					})
					synctest.Wait()
				}
				var failed error
				if failing {
					wg.Go(func() { failed = s.write(ctx, func(*tx) error { return errors.New("boom") }) })
					synctest.Wait()
				}
				close(hold)
				wg.Wait()

				assert.False(t, results[0][0].Duplicate)
				assert.Equal(t, db.IngestResult{EventID: results[0][0].EventID, Deliveries: 1, Duplicate: true}, results[1][0])
				assert.NotEqual(t, results[2][0].EventID, results[2][1].EventID)
				assert.False(t, results[2][0].Duplicate || results[2][1].Duplicate)
				var events, deliveries int
				require.NoError(t, s.reader.QueryRow(`SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM deliveries)`).Scan(&events, &deliveries))
				assert.Equal(t, []int{3, 3}, []int{events, deliveries})
				if failing {
					assert.EqualError(t, failed, "boom")
					assert.Equal(t, 2, notices, "replayed one op per transaction: a notice per call that stored something")
				} else {
					assert.Equal(t, 1, notices, "stored together: one notice")
				}
			})
		})
	}
}
